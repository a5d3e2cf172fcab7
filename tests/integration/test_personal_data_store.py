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
from policy_core.audit.bundle import make_bundle, verify_bundle
from policy_core.audit.chain import canonical
from policy_core.audit.cli import verification
from policy_core.bootstrap import bootstrap, initialise_store
from policy_core.personal_data.keys import LocalMasterKey, MasterKeyError, memory_vault
from policy_core.personal_data.migrate import migrate
from policy_core.settings import Settings
from tests.conftest import BANK

NAME = "旧店舗QVWX商事"
ACCOUNT = "6029384"
EVENTS = "policy_admin_events"
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


def _old_store(database, members=("OLD-1",), *, claim=False, snapshot=False):
    """A store written by main before issue 12 (the plain mapper): a policy per member, with a
    claim on the first and a snapshot of it when asked. Returns (policy ids, claim id)."""
    old = TodaysMainAdministration(
        env=database.eventsourcing_env(2),
        clock=lambda: datetime(2026, 6, 1, tzinfo=UTC),
        vault=memory_vault(),  # the plain mapper of before issue 12 seals nothing: no keys to keep
    )
    initialise_store(old)
    try:
        pids = [
            old.apply(
                scheme="chuokai",
                member_number=member,
                holder={"name": NAME},
                industry="retail",
                annual_sales=20_000_000,
                plan="A",
                bank_account=dict(BANK, account_number=ACCOUNT),
                application_date=date(2026, 1, 10),
            )
            for member in members
        ]
        cid = None
        if claim:
            at = datetime(2026, 4, 20, tzinfo=UTC)
            cid = old.report_incident(
                policy_id=pids[0], occurred_at=at, discovered_at=at, cause="lost_media",
                records_affected=2, description=DESCRIPTION,
            )  # fmt: skip
        if snapshot:
            old.take_snapshot(pids[0])
    finally:
        old.close()
    return pids, cid


def _sql(database, statement, params=()):
    with psycopg.connect(database.dsn) as conn:
        conn.execute(f'SET search_path TO "{database.schema}"')
        cur = conn.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows


def test_a_store_written_by_todays_main_is_read_then_migrated_idempotently(database):
    (pid,), cid = _old_store(database, claim=True, snapshot=True)
    assert _plain_in(_raw(database), NAME, ACCOUNT, DESCRIPTION) == [NAME, ACCOUNT, DESCRIPTION]

    rt = bootstrap(_settings(), database=database)
    try:
        # the compat path: plain events read as they are
        assert rt.app.get_policy(pid).holder["name"] == NAME
        cp = rt.audit.checkpoint("export")  # the plain rows sealed as they were, and a bundle
        bundle = make_bundle(cp, canonical(cp["statement"]))
        first = migrate(rt.app, rt.database, sealer=rt.audit, batch_size=2)
        assert first["events_rewritten"] == 2 and first["snapshots_rewritten"] == 1
        assert first["migration"] == f"personal-data/{first['run_id']}" and first["rows_signed"] == 2
        assert _plain_in(_raw(database), NAME, ACCOUNT, DESCRIPTION) == []
        assert rt.app.get_policy(pid).bank_account["account_number"] == ACCOUNT
        assert rt.app.get_claim(cid).description == DESCRIPTION
        assert rt.app.repository.get(pid).holder["name"] == NAME  # through the snapshot
        again = migrate(rt.app, rt.database, sealer=rt.audit)
        assert again["events_rewritten"] == 0 and again["snapshots_rewritten"] == 0
        assert again["migration"] is None  # nothing rewritten: nothing to sign
        # every rewritten event row is an entry of the ONE signed migration; nothing unsigned
        assert _sql(database, "SELECT migration, count(*) FROM audit_migration_rows GROUP BY 1") == [
            (first["migration"], 2)
        ]
        assert _sql(database, "SELECT name FROM audit_migrations") == [(first["migration"],)]
        assert _sql(database, "SELECT to_regclass('pii_migrated_rows')") == [(None,)]
        assert _sql(database, "SELECT count(*) FROM pii_migrations WHERE finished_at IS NOT NULL") == [(2,)]
        rt.audit.catch_up()  # the run's record in the log is sealed after it
        result = verification(rt)
        assert result.ok and result.rewritten == 2, result.difference
        assert result.migrations == [{"id": 1, "name": first["migration"], "valid": True}]
        offline = verify_bundle(  # the bundle from before the migration checks with the public key
            rt.database.dsn,
            rt.audit.schema,
            rt.audit.source.events_table,
            bundle=bundle,
            public_key=rt.audit.signer.public_key,
            mapper=rt.app.mapper,
        )
        assert offline.ok and offline.rewritten == 2, offline.difference
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


@pytest.fixture
def migrated(database):
    """Two plain policies sealed as written, then migrated (signed): (runtime, migration name,
    the policies' Applied positions)."""
    _old_store(database, ("AUD-1", "AUD-2"))
    rt = bootstrap(_settings(), database=database)
    try:
        rt.audit.catch_up()  # the plain rows are sealed as they were
        assert verification(rt).ok
        out = migrate(rt.app, rt.database, sealer=rt.audit)
        assert out["events_rewritten"] == 2
        rt.audit.catch_up()
        # the rows it rewrote: the two policies' Applied events
        applied = [
            r[0] for r in _sql(database, "SELECT notification_id FROM audit_migration_rows ORDER BY 1")
        ]
        assert len(applied) == 2
        yield rt, out["migration"], applied
    finally:
        rt.close()


def _forge(database, nid):
    """Change a sealed event's business fact in SQL: (old row digest, new row digest)."""
    from policy_core.audit.chain import event_bytes, row_digest

    oid, version, topic, state = _sql(
        database,
        f"SELECT originator_id, originator_version, topic, state FROM {EVENTS} WHERE notification_id=%s",
        [nid],
    )[0]
    forged = bytes(state).replace(b'"plan":"A"', b'"plan":"C"')
    assert forged != bytes(state), bytes(state).decode()
    _sql(database, f"UPDATE {EVENTS} SET state=%s WHERE notification_id=%s", [forged, nid])
    old = _sql(database, "SELECT row_digest FROM audit_chain WHERE notification_id=%s", [nid])[0][0]
    return bytes(old), row_digest(event_bytes(nid, oid, version, topic, forged))


def test_the_signed_migration_verifies_and_an_unsigned_record_covering_a_forgery_is_tampering(migrated):
    rt, name, (first, second) = migrated
    result = verification(rt)
    assert result.ok and result.rewritten == 2, result.difference
    old, new = _forge(rt.database, second)
    # someone with SQL access covers the forgery: an entry under a name of their own, a statement
    # with a made-up signature, and an entry slipped into the signed migration itself
    _sql(
        rt.database,
        "INSERT INTO audit_migration_rows VALUES (%s, %s, %s, %s)",
        ["personal-data/forged", second, old, new],
    )
    _sql(
        rt.database,
        "INSERT INTO audit_migrations (name, recorded_at, key_fingerprint, statement, signature)"
        " VALUES (%s, now(), %s, %s, %s)",
        [
            "personal-data/forged",
            rt.audit.signer.fingerprint,
            json.dumps({"name": "personal-data/forged", "rows": 1}).encode(),
            bytes(64),
        ],
    )
    failed = verification(rt)
    assert not failed.ok and (failed.difference.position, failed.difference.kind) == (second, "changed")
    assert (
        "personal-data/forged" in failed.difference.detail
        and "authorises nothing" in failed.difference.detail
    )
    assert {m["name"]: m["valid"] for m in failed.migrations} == {name: True, "personal-data/forged": False}


@pytest.mark.parametrize(
    "tamper",
    [
        # an entry of the signed migration altered: the statement no longer matches its entries
        "UPDATE audit_migration_rows SET new_row_digest = '\\x00'::bytea WHERE notification_id = %(second)s",
        # an entry added to it
        "INSERT INTO audit_migration_rows SELECT migration, 999999, old_row_digest, new_row_digest"
        " FROM audit_migration_rows WHERE notification_id = %(second)s",
        # the signed statement altered
        "UPDATE audit_migrations SET statement = convert_to(replace(convert_from(statement, 'UTF8'),"
        " '\"rows\":2', '\"rows\":3'), 'UTF8')",
        # the signature replaced
        "UPDATE audit_migrations SET signature = decode(repeat('00', 64), 'hex')",
    ],
    ids=["entry_changed", "entry_added", "statement_changed", "signature_changed"],
)
def test_a_tampered_signed_migration_record_authorises_nothing(migrated, tamper):
    rt, name, (first, second) = migrated
    _sql(rt.database, tamper, {"second": second})
    failed = verification(rt)
    # the first row the migration rewrote is no longer authorised: reported where it lies
    assert not failed.ok and (failed.difference.position, failed.difference.kind) == (first, "changed")
    assert name in failed.difference.detail
    assert failed.migrations == [{"id": 1, "name": name, "valid": False}]


def test_rows_in_the_old_unsigned_table_grant_nothing(migrated):
    """The unsigned row records of earlier builds (``pii_migrated_rows``, and the run's event in
    the log) are inert: a forgery recorded there is tampering."""
    import hashlib

    from policy_core.personal_data.migrate import LEGACY_ROWS

    rt, _, (_, second) = migrated
    old, _new = _forge(rt.database, second)
    oid, version, state = _sql(
        rt.database,
        f"SELECT originator_id, originator_version, state FROM {EVENTS} WHERE notification_id=%s",
        [second],
    )[0]
    _sql(
        rt.database,
        f"CREATE TABLE {LEGACY_ROWS} (table_name text, originator_id uuid, originator_version integer,"
        " notification_id bigint, old_row_digest text, old_state_sha256 text, new_state_sha256 text,"
        " run_id uuid, migrated_at timestamptz DEFAULT now())",
    )
    _sql(
        rt.database,
        f"INSERT INTO {LEGACY_ROWS} VALUES ('events', %s, %s, %s, %s, %s, %s, gen_random_uuid())",
        [oid, version, second, old.hex(), "0" * 64, hashlib.sha256(bytes(state)).hexdigest()],
    )
    failed = verification(rt)
    assert not failed.ok and (failed.difference.position, failed.difference.kind) == (second, "changed")


def test_a_migration_stopped_before_it_signed_resumes_and_signs(database):
    _old_store(database, ("RES-1", "RES-2"))
    rt = bootstrap(_settings(), database=database)
    try:
        rt.audit.catch_up()

        class Stopped(Exception):
            pass

        def stop(_n):
            raise Stopped

        with pytest.raises(Stopped):
            migrate(rt.app, rt.database, sealer=rt.audit, batch_size=1, progress=stop)
        assert _sql(database, "SELECT count(*) FROM audit_migration_rows") == [(1,)]
        first = _sql(database, "SELECT notification_id FROM audit_migration_rows")[0][0]
        assert _sql(database, "SELECT count(*) FROM audit_migrations") == [(0,)]
        stopped = verification(rt)  # rewritten but not yet signed: it reads as a change, honestly
        assert not stopped.ok and stopped.difference.position == first
        done = migrate(rt.app, rt.database, sealer=rt.audit, batch_size=1)
        assert done["events_rewritten"] == 1 and done["rows_signed"] == 2  # the same run, resumed
        assert _sql(database, "SELECT count(DISTINCT migration) FROM audit_migration_rows") == [(1,)]
        rt.audit.catch_up()
        result = verification(rt)
        assert result.ok and result.rewritten == 2, result.difference
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
