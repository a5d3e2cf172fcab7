"""The hash chain over the event log: sealing exactly once, resuming after a crash, signed
checkpoints, and verification that finds every kind of SQL tampering at the right position."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import uuid
from datetime import date, datetime

import psycopg
import pytest

from policy_core.audit import Signer, load_public_key
from policy_core.audit.cli import verification
from policy_core.bootstrap import build_sealer
from policy_core.calendar import TOKYO
from tests.conftest import BANK

EVENTS = "policy_admin_events"


def _policy(app, member="M-1"):
    pid = app.apply(
        scheme="chuokai",
        member_number=member,
        holder={"name": "Yamada Shoten"},
        industry="printing",
        annual_sales=100_000_000,
        plan="A",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    p = app.get_policy(pid)
    app.activate(pid, 1)
    app.record_debit_success(
        pid, 1, attempt=1, amount=p.current_period.premium, debit_date=p.current_period.debit_date
    )
    return pid


def _claim(app, pid):
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=datetime(2026, 6, 1, tzinfo=TOKYO),
        discovered_at=datetime(2026, 6, 2, tzinfo=TOKYO),
        cause="insider",
        records_affected=100,
        description="customer list taken",
    )
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 2_000_000}])
    return cid


@pytest.fixture
def store(runtime):
    """Three policies (9 events) and a claim (3 events), sealed."""
    app = runtime.app
    pids = [_policy(app, f"M-{i}") for i in range(3)]
    _claim(app, pids[0])
    runtime.audit.catch_up()
    return runtime


def _sql(runtime, statement, params=()):
    with runtime.database.connect() as conn:
        cur = conn.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows


def _nids(runtime):
    return [r[0] for r in _sql(runtime, f"SELECT notification_id FROM {EVENTS} ORDER BY notification_id")]


def _applied(runtime):
    """The positions of the policies' Applied events (the ones with a premium to forge)."""
    return [
        r[0]
        for r in _sql(
            runtime,
            f"SELECT notification_id FROM {EVENTS} WHERE topic = 'policy_admin:Policy.Applied' ORDER BY 1",
        )
    ]


def _chain(runtime):
    return _sql(runtime, "SELECT notification_id, seq FROM audit_chain ORDER BY seq")


def _difference(runtime):
    result = verification(runtime)
    assert not result.ok
    return result.difference


def test_an_untouched_store_is_sealed_once_and_verifies_ok(store):
    nids = _nids(store)
    assert _chain(store) == [(n, i + 1) for i, n in enumerate(nids)]
    assert store.audit.catch_up() == 0  # nothing twice
    result = verification(store)
    assert result.ok and result.difference is None
    assert (result.events_checked, result.sealed_up_to, result.unsealed) == (len(nids), nids[-1], 0)
    assert result.checkpoints_checked == 1  # the first links ever sealed are signed at once
    assert result.latest_checkpoint["statement"]["position"] == nids[-1]
    with psycopg.connect(store.database.dsn, autocommit=True) as conn:
        lag = store.audit.lag(conn)
    assert (lag["position"], lag["head"], lag["events_behind"]) == (nids[-1], nids[-1], 0)


def test_events_not_yet_sealed_are_counted_not_judged(store):
    before = len(_nids(store))
    _policy(store.app, "M-9")
    result = verification(store)
    assert result.ok and result.unsealed == len(_nids(store)) - before > 0


def test_a_changed_state_is_found_at_its_position(store):
    nid = _applied(store)[1]  # the second policy's Applied
    _sql(
        store,
        f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"premium\":40000', '\"premium\":1'), 'UTF8') WHERE notification_id = %s",
        [nid],
    )
    d = _difference(store)
    assert (d.position, d.kind, d.originator_version) == (nid, "changed", 1)
    assert d.detail == "the event's state was changed"


def test_changed_metadata_is_told_apart(store):
    nid = _applied(store)[2]
    _sql(
        store,
        f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        '\'"role":"system"\', \'"role":"auditor"\'), \'UTF8\') WHERE notification_id = %s',
        [nid],
    )
    d = _difference(store)
    assert (d.position, d.kind) == (nid, "metadata_changed")


def test_a_deleted_event_is_found(store):
    nid = _nids(store)[5]
    _sql(store, f"DELETE FROM {EVENTS} WHERE notification_id = %s", [nid])
    d = _difference(store)
    assert (d.position, d.kind) == (nid, "deleted")


def test_an_event_inserted_in_the_middle_is_found(store):
    nids = _nids(store)
    k = nids[6]
    # Make room after k (the attacker renumbers the rest) and insert a forged event there.
    _sql(
        store,
        f"UPDATE {EVENTS} SET notification_id = notification_id + 1000000 WHERE notification_id > %s",
        [k],
    )
    _sql(
        store,
        f"UPDATE {EVENTS} SET notification_id = notification_id - 999999 WHERE notification_id > 1000000",
    )
    row = _sql(store, f"SELECT topic, state FROM {EVENTS} WHERE notification_id = %s", [k])[0]
    _sql(
        store,
        f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, notification_id)"
        " VALUES (%s, 1, %s, %s, %s)",
        [uuid.uuid4(), row[0], row[1], k + 1],
    )
    d = _difference(store)
    assert (d.position, d.kind) == (k + 1, "inserted")


def test_an_event_inserted_into_a_gap_is_found(runtime):
    _policy(runtime.app, "M-1")
    # A write that rolled back leaves a gap in the ids.
    with runtime.database.connect() as conn:
        conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state) VALUES (%s, 1, 't', '')",
            [uuid.uuid4()],
        )
        conn.rollback()
    _policy(runtime.app, "M-2")
    runtime.audit.catch_up()
    nids = _nids(runtime)
    gap = next(n + 1 for n, m in zip(nids, nids[1:], strict=False) if m != n + 1)
    assert verification(runtime).ok  # a gap is not a difference
    _sql(
        runtime,
        f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, notification_id)"
        " VALUES (%s, 1, 'policy_admin:Policy.Applied', '{}', %s)",
        [uuid.uuid4(), gap],
    )
    d = _difference(runtime)
    assert (d.position, d.kind) == (gap, "inserted")


def test_a_truncated_tail_is_found(store):
    nids = _nids(store)
    _sql(store, f"DELETE FROM {EVENTS} WHERE notification_id >= %s", [nids[-2]])
    d = _difference(store)
    assert (d.position, d.kind) == (nids[-2], "deleted")


def test_an_altered_link_is_told_apart_from_an_altered_event(store):
    nid = _nids(store)[2]
    _sql(store, "UPDATE audit_chain SET link = sha256(link) WHERE notification_id = %s", [nid])
    d = _difference(store)
    assert (d.position, d.kind) == (nid, "seal_changed")


def test_rewriting_events_and_seal_together_is_caught_by_the_signed_checkpoint(store):
    nids = _nids(store)
    _sql(
        store,
        f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"premium\":40000', '\"premium\":1'), 'UTF8') WHERE notification_id = %s",
        [_applied(store)[0]],
    )
    # The attacker re-seals the forged log from scratch (everything but the signing key).
    _sql(store, "DELETE FROM audit_chain")
    _sql(store, "UPDATE audit_sealer SET notification_id = 0, seq = 0, head = %s", [bytes(32)])
    store.audit.signer = Signer(data_dir=tempfile.mkdtemp())  # no access to the real key
    store.audit.every_events = 10**9
    store.audit.catch_up()
    result = verification(store, public_key=Signer.from_settings(store.settings).public_key)
    d = result.difference
    assert not result.ok
    assert (d.kind, d.after) == ("rewritten", 0)  # the real checkpoint at the head no longer matches
    assert d.position == nids[-1]


def test_a_forged_checkpoint_signature_is_refused(store):
    _sql(store, "UPDATE audit_checkpoints SET signature = sha512(signature)")
    d = _difference(store)
    assert d.kind == "signature_invalid"


def test_a_crash_mid_batch_resumes_without_gap_or_duplicate(runtime):
    for i in range(4):
        _policy(runtime.app, f"M-{i}")  # 12 events
    calls = {"n": 0}

    def crash(stage, done):
        if stage == "links":
            calls["n"] += 1
            if calls["n"] == 2:  # the second batch dies with half its links written
                raise RuntimeError("killed")

    sealer = build_sealer(runtime.database, runtime.app, runtime.settings, batch_size=5, fault=crash)
    with pytest.raises(RuntimeError):
        sealer.catch_up()
    nids = _nids(runtime)
    assert _chain(runtime) == [(n, i + 1) for i, n in enumerate(nids[:5])]  # the first batch only
    resumed = build_sealer(runtime.database, runtime.app, runtime.settings, batch_size=5)
    assert resumed.catch_up() == len(nids) - 5
    assert _chain(runtime) == [(n, i + 1) for i, n in enumerate(nids)]
    assert verification(runtime).ok


def test_two_sealers_at_once_seal_each_event_once(runtime):
    import threading

    for i in range(4):
        _policy(runtime.app, f"M-{i}")
    sealers = [build_sealer(runtime.database, runtime.app, runtime.settings, batch_size=2) for _ in range(2)]
    threads = [threading.Thread(target=s.catch_up) for s in sealers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    nids = _nids(runtime)
    assert _chain(runtime) == [(n, i + 1) for i, n in enumerate(nids)]


def test_the_sealer_waits_at_a_gap_while_a_writer_holds_the_table(runtime):
    _policy(runtime.app, "M-1")
    with runtime.database.connect() as conn:
        conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state) VALUES (%s, 1, 't', '')",
            [uuid.uuid4()],
        )
        conn.rollback()
    before_gap = len(_nids(runtime))
    _policy(runtime.app, "M-2")
    after_gap = len(_nids(runtime)) - before_gap
    with runtime.database.connect() as writer:
        writer.execute(f"LOCK TABLE {EVENTS} IN ROW EXCLUSIVE MODE")  # a write in progress
        assert runtime.audit.catch_up() == before_gap  # up to the gap
    assert runtime.audit.catch_up() == after_gap  # nobody can fill it: a rolled-back id
    assert verification(runtime).ok


def test_checkpoints_follow_the_interval_and_on_demand(runtime):
    runtime.audit.every_events = 4
    for i in range(3):
        _policy(runtime.app, f"M-{i}")  # 9 events
    runtime.audit.batch_size = 3
    runtime.audit.catch_up()
    total = len(_nids(runtime))
    rows = _sql(runtime, "SELECT seq, reason FROM audit_checkpoints ORDER BY id")
    # The first links at once, then at the end of the first batch 4 or more links later.
    expected, last = [3], 3
    for seq in [*range(6, total + 1, 3), total]:
        if seq - last >= 4:
            expected.append(seq)
            last = seq
    assert rows == [(seq, "interval") for seq in sorted(set(expected))]
    cp = runtime.audit.checkpoint()
    assert cp["reason"] == "on_demand" and cp["statement"]["links"] == total
    assert verification(runtime).checkpoints_checked == len(rows) + 1


def test_the_signing_key_is_generated_once_owner_only(runtime, tmp_path):
    signer = Signer(data_dir=tmp_path)
    fp = signer.fingerprint
    path = tmp_path / "audit-signing-key.pem"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Signer(data_dir=tmp_path).fingerprint == fp
    assert load_public_key(signer.public_pem()).public_bytes_raw() == signer.public_key.public_bytes_raw()


def test_audit_cli_verify_exits_non_zero_on_tampering(store, monkeypatch, capsys, tmp_path):
    from policy_core.cli import main

    monkeypatch.setenv("DATABASE_URL", store.database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", store.database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", str(store.settings.data_dir))
    assert main(["audit", "public-key"]) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    key_file = tmp_path / "auditor.pem"
    key_file.write_text(pem)
    assert main(["audit", "verify", "--public-key", str(key_file)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ok"
    nid = _nids(store)[1]
    _sql(store, f"DELETE FROM {EVENTS} WHERE notification_id = %s", [nid])
    assert main(["audit", "verify"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed" and out["difference"]["position"] == nid


def test_a_rebuild_never_launders_a_forgery(store, monkeypatch, capsys):
    from policy_core.cli import main

    monkeypatch.setenv("DATABASE_URL", store.database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", store.database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", str(store.settings.data_dir))
    assert main(["projections", "rebuild", "portfolio"]) == 0  # an intact chain: runs
    _sql(
        store,
        f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"premium\":40000', '\"premium\":1'), 'UTF8') WHERE notification_id = %s",
        [_applied(store)[0]],
    )
    capsys.readouterr()
    assert main(["projections", "rebuild"]) == 3
    assert "refusing to replay" in capsys.readouterr().err
    assert main(["projections", "verify"]) == 3
    assert main(["projections", "rebuild", "portfolio", "--allow-unverified-chain"]) == 0


def _rewrite(runtime, nid, migration, *, sign=True):
    """What an authorised migration does: rewrite a row's state and record it, then sign."""
    from policy_core.audit.migration import record_rewrite, sign_migration

    with runtime.database.connect() as conn:
        oid, version, topic, state = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {EVENTS}"
            " WHERE notification_id = %s",
            [nid],
        ).fetchone()
        new = bytes(state).replace(b'"command":"apply"', b'"command":"apply","migrated":true')
        assert new != bytes(state)
        conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s", [new, nid])
        with conn.cursor() as cur:
            record_rewrite(
                cur,
                runtime.audit.schema,
                migration,
                notification_id=nid,
                originator_id=oid,
                originator_version=version,
                topic=topic,
                old_state=bytes(state),
                new_state=new,
            )
        conn.commit()
        if sign:
            sign_migration(conn, runtime.audit, migration)
            conn.commit()


def test_an_authorised_signed_migration_is_told_apart_from_tampering(store, tmp_path):
    from policy_core.audit.bundle import make_bundle, verify_bundle

    cp = store.audit.checkpoint("export")
    bundle = make_bundle(cp, json.dumps(cp["statement"], sort_keys=True, separators=(",", ":")).encode())
    first, second = _applied(store)[:2]
    _rewrite(store, first, "personal-data-2026")
    result = verification(store)
    assert result.ok and result.rewritten == 1
    assert result.migrations == [{"id": 1, "name": "personal-data-2026", "valid": True}]
    sealer = store.audit
    offline = verify_bundle(
        store.database.dsn,
        sealer.schema,
        sealer.source.events_table,
        bundle=bundle,
        public_key=sealer.signer.public_key,
        mapper=sealer.source.mapper,
    )
    assert offline.ok and offline.rewritten == 1  # the bundle from before the migration still checks

    _rewrite(store, second, "forged", sign=False)  # an entry without a signed statement
    d = _difference(store)
    assert (d.position, d.kind) == (second, "metadata_changed")  # an unsigned rewrite is tampering
