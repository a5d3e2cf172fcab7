"""Personal data on PostgreSQL: start-up key checks, migration of an older store, rotation,
history masking, Zengin files."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from datetime import UTC, date, datetime

import psycopg
import pytest
from eventsourcing.persistence import Mapper

from policy_core.application import PolicyAdministration
from policy_core.bootstrap import bootstrap, initialise_store
from policy_core.personal_data.keys import LocalMasterKey, MasterKeyError
from policy_core.personal_data.migrate import migrate
from policy_core.settings import Settings
from tests.conftest import BANK

NAME = "旧店舗QVWX商事"
ACCOUNT = "6029384"
DESCRIPTION = "旧記録ZKQW様の名簿"


class TodaysMainAdministration(PolicyAdministration):
    """What main wrote before issue 12: the library's plain mapper."""

    name = "policy_admin"

    def construct_mapper(self):  # type: ignore[override]
        return Mapper(transcoder=self.construct_transcoder())


def _settings(**kw):
    return Settings(POLICY_DATA_DIR=tempfile.mkdtemp(), **kw)


def _raw(database) -> str:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            f'SELECT t::text FROM "{database.schema}".policy_admin_events t UNION ALL '
            f'SELECT t::text FROM "{database.schema}".policy_admin_snapshots t'
        ).fetchall()
    return "\n".join(r[0] for r in rows)


def _plain_in(text: str, *values: str) -> list[str]:
    return [v for v in values if v.encode().hex() in text or v.encode("unicode_escape").hex() in text]


def test_a_store_written_by_todays_main_is_read_then_migrated_idempotently(database):
    old = TodaysMainAdministration(
        env=database.eventsourcing_env(2), clock=lambda: datetime(2026, 6, 1, tzinfo=UTC)
    )
    initialise_store(old)
    pid = old.apply(
        scheme="chuokai",
        member_number="OLD-1",
        holder={"name": NAME},
        industry="retail",
        annual_sales=20_000_000,
        plan="A",
        bank_account=dict(BANK, account_number=ACCOUNT),
        application_date=date(2026, 1, 10),
    )
    at = datetime(2026, 4, 20, tzinfo=UTC)
    cid = old.report_incident(
        policy_id=pid, occurred_at=at, discovered_at=at, cause="lost_media", records_affected=2,
        description=DESCRIPTION,
    )  # fmt: skip
    old.take_snapshot(pid)
    old.close()
    assert _plain_in(_raw(database), NAME, ACCOUNT, DESCRIPTION) == [NAME, ACCOUNT, DESCRIPTION]

    rt = bootstrap(_settings(), database=database)
    try:
        # the compat path: plain events read as they are
        assert rt.app.get_policy(pid).holder["name"] == NAME
        first = migrate(rt.app, rt.database, batch_size=2)
        assert first["events_rewritten"] == 2 and first["snapshots_rewritten"] == 1
        assert _plain_in(_raw(database), NAME, ACCOUNT, DESCRIPTION) == []
        assert rt.app.get_policy(pid).bank_account["account_number"] == ACCOUNT
        assert rt.app.get_claim(cid).description == DESCRIPTION
        assert rt.app.repository.get(pid).holder["name"] == NAME  # through the snapshot
        again = migrate(rt.app, rt.database)
        assert again["events_rewritten"] == 0 and again["snapshots_rewritten"] == 0
        with database.connect() as conn:
            recorded = conn.execute(
                "SELECT table_name, old_state_sha256 <> new_state_sha256 FROM pii_migrated_rows ORDER BY 1"
            ).fetchall()
            runs = conn.execute(
                "SELECT count(*) FROM pii_migrations WHERE finished_at IS NOT NULL"
            ).fetchone()
        assert recorded == [("events", True), ("events", True), ("snapshots", True)] and runs[0] == 2
    finally:
        rt.close()


def test_start_up_refuses_a_wrong_or_missing_master_key(database, monkeypatch):
    rt = bootstrap(_settings(), database=database)
    rt.close()
    wrong = LocalMasterKey.generate_base64()
    with pytest.raises(MasterKeyError, match="refusing to start"):
        bootstrap(_settings(POLICY_MASTER_KEY=wrong), database=database)
    monkeypatch.delenv("POLICY_MASTER_KEY")
    with pytest.raises(MasterKeyError, match="never generated over an existing store"):
        bootstrap(_settings(), database=database)
    with pytest.raises(MasterKeyError, match="base64"):
        bootstrap(_settings(POLICY_MASTER_KEY="not-base64!"), database=database)


def test_generated_key_file_is_owner_only_and_rotation_rewraps_without_touching_events(database, monkeypatch):
    from policy_core.cli import main

    monkeypatch.delenv("POLICY_MASTER_KEY")
    data_dir = tempfile.mkdtemp()
    settings = Settings(POLICY_DATA_DIR=data_dir)
    rt = bootstrap(settings, database=database)
    pid = rt.app.apply(
        scheme="jcci",
        member_number="ROT-1",
        holder={"name": NAME},
        industry="retail",
        annual_sales=20_000_000,
        plan="A",
        bank_account=dict(BANK, account_number=ACCOUNT),
        application_date=date(2026, 1, 10),
    )
    rt.close()
    key_path = os.path.join(data_dir, "master-key")
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    old_key = open(key_path).read()
    before = _raw(database)
    monkeypatch.setenv("POLICY_DATA_DIR", data_dir)
    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    assert main(["keys", "rotate-master"]) == 0
    assert open(key_path).read() != old_key and _raw(database) == before  # events untouched
    rt = bootstrap(Settings(POLICY_DATA_DIR=data_dir), database=database)
    try:
        assert rt.app.get_policy(pid).holder["name"] == NAME
    finally:
        rt.close()
    with pytest.raises(MasterKeyError):
        bootstrap(_settings(POLICY_MASTER_KEY=old_key.strip()), database=database)


def test_history_masks_personal_fields(database, monkeypatch, capsys):
    from policy_core.cli import main

    rt = bootstrap(_settings(), database=database)
    pid = rt.app.apply(
        scheme="jcci",
        member_number="HIS-1",
        holder={"name": NAME, "email": "his@example.jp"},
        industry="retail",
        annual_sales=20_000_000,
        plan="A",
        bank_account=dict(BANK, account_number=ACCOUNT),
        application_date=date(2026, 1, 10),
    )
    rt.close()
    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", tempfile.mkdtemp())
    assert main(["history", str(pid)]) == 0
    out = capsys.readouterr().out
    assert NAME not in out and ACCOUNT not in out and "his@example.jp" not in out
    first = json.loads(out.splitlines()[0])
    assert first["data"]["holder"]["name"] == "***" and first["data"]["member_number"] == "HIS-1"
    assert first["data"]["bank_account"]["account_number_masked"].endswith(ACCOUNT[-3:])


def test_the_audit_chain_tells_the_recorded_migration_from_tampering(database):
    from policy_core.audit.cli import verification

    old = TodaysMainAdministration(
        env=database.eventsourcing_env(2), clock=lambda: datetime(2026, 6, 1, tzinfo=UTC)
    )
    initialise_store(old)
    for member in ("AUD-1", "AUD-2"):
        old.apply(
            scheme="jcci",
            member_number=member,
            holder={"name": NAME},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=dict(BANK, account_number=ACCOUNT),
            application_date=date(2026, 1, 10),
        )
    old.close()
    rt = bootstrap(_settings(), database=database)
    try:
        rt.audit.catch_up()  # the plain rows are sealed as they were
        assert verification(rt).ok
        assert migrate(rt.app, rt.database)["events_rewritten"] == 2
        rt.audit.catch_up()  # the migration's own record is sealed after it
        result = verification(rt)
        assert result.ok and result.migrated == 2, result.difference
        # a row record altered afterwards no longer matches the run's record in the log: tampering
        with database.connect() as conn:
            conn.execute(
                "UPDATE pii_migrated_rows SET new_state_sha256 = repeat('0', 64) WHERE table_name='events'"
            )
            conn.commit()
        failed = verification(rt)
        assert not failed.ok and failed.difference.kind == "changed"
    finally:
        rt.close()


def test_the_optional_whole_state_cipher_encrypts_business_facts_too(database):
    rt = bootstrap(_settings(POLICY_STORE_CIPHER=True), database=database)
    try:
        assert rt.app.mapper.cipher is not None
        pid = rt.app.apply(
            scheme="jcci",
            member_number="CIPHER-77",
            holder={"name": NAME},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=dict(BANK, account_number=ACCOUNT),
            application_date=date(2026, 1, 10),
        )
        raw = _raw(database)
        assert _plain_in(raw, "CIPHER-77", "retail", "__pii__", NAME, ACCOUNT) == []
        assert (
            rt.app.get_policy(pid).holder["name"] == NAME
            and rt.app.get_policy(pid).member_number == "CIPHER-77"
        )
        rt.projections.catch_up()
        assert (
            rt.read_models.list_policies({"holder_name": NAME}, reveal_personal=True)[0]["holder_name"]
            == NAME
        )
    finally:
        rt.close()
