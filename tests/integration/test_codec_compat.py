"""The compiled codec against a store written by the library's transcoder (today's main).

A mixed history (applications, debits and failures, lapses, renewals, claims, payments,
snapshots) is written with the library's ``JSONTranscoder``; the application with the new
codec then reads every stored event to the same objects, replays every aggregate to the
same state, re-encodes every event to the stored bytes, and writes new events that the
library's transcoder reads back to the same objects.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder

from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Policy
from policy_core.application import PolicyAdministration
from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO
from policy_core.codec import EventCodec
from policy_core.settings import Settings
from scheduler.simulate import simulate

pytestmark = pytest.mark.postgres


def _rows(db: Any, table: str) -> list[tuple[Any, int, str, bytes]]:
    with psycopg.connect(db.dsn) as conn:
        rows = conn.execute(
            f'SELECT originator_id, originator_version, topic, state FROM "{db.schema}"."{table}"'
            " ORDER BY originator_id, originator_version"
        ).fetchall()
    return [(oid, v, topic, bytes(state)) for oid, v, topic, state in rows]


def _same(a: Any, b: Any, ordered: bool = True) -> None:
    """Equal values of the same types, all the way down (dict key order too, when ``ordered``)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b) if ordered else sorted(a) == sorted(b)
        for k in a:
            _same(a[k], b[k], ordered)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y, ordered)
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _same(vars(a), vars(b), ordered)
    else:
        assert a == b


def _library_transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    PolicyAdministration.register_transcodings(PolicyAdministration.__new__(PolicyAdministration), t)
    return t


def test_a_store_written_by_the_library_transcoder_reads_replays_and_re_encodes_identically(
    database, monkeypatch
):
    settings = Settings(POLICY_DATA_DIR=tempfile.mkdtemp())
    # today's main: the library's JSONTranscoder
    with monkeypatch.context() as m:
        m.setattr(PolicyAdministration, "construct_transcoder", Application.construct_transcoder)
        old_rt = bootstrap(settings, database=database)
        try:
            assert type(old_rt.app.mapper.transcoder) is JSONTranscoder
            simulate(old_rt, policies=8, years=2, seed=3)
            policy_ids = [
                oid
                for oid, v, topic, _ in _rows(database, "policy_admin_events")
                if v == 1 and "Policy." in topic
            ]
            claim_ids = [
                oid
                for oid, v, topic, _ in _rows(database, "policy_admin_events")
                if v == 1 and "Claim." in topic
            ]
            for pid in policy_ids[:3]:
                old_rt.app.take_snapshot(pid)  # snapshots hold Period and DebitAttempt objects
            old_policies = {pid: old_rt.app.get_policy(pid) for pid in policy_ids}
            old_claims = {cid: old_rt.app.get_claim(cid) for cid in claim_ids}
        finally:
            old_rt.close()
    assert len(old_policies) == 8 and old_claims
    stored = _rows(database, "policy_admin_events") + _rows(database, "policy_admin_snapshots")
    topics = {t.rsplit(".", 1)[-1].rsplit(":", 1)[-1] for _, _, t, _ in stored}
    assert {"Applied", "PremiumDebited", "Renewed", "Snapshot", "IncidentReported", "ClaimPaid"} <= topics

    rt = bootstrap(settings, database=database)
    try:
        app = rt.app
        codec = app.mapper.transcoder
        assert isinstance(codec, EventCodec)
        library = _library_transcoder()
        for _, _, _, state in stored:
            _same(codec.decode(state), library.decode(state))
            assert codec.encode(codec.decode(state)) == state
        assert codec.fallbacks == 0  # every stored event took the compiled path

        # replaying with the codec gives the same aggregates (attribute order differs after a snapshot)
        for pid, old in old_policies.items():
            _same(vars(app.get_policy(pid)), vars(old), ordered=False)
        for cid, old in old_claims.items():
            _same(vars(app.get_claim(cid)), vars(old), ordered=False)
        bulk = app.get_policies(list(old_policies))
        for pid, old in old_policies.items():
            _same(vars(bulk[pid]), vars(old), ordered=False)

        # new events written with the codec: the library's transcoder reads them to the same objects
        before = {(oid, v) for oid, v, _, _ in stored}
        pid = app.apply(
            scheme="chuokai",
            member_number="NEW-1",
            holder={"name": "新しい 会員", "address": "東京都千代田区 1-1"},
            industry="printing",
            annual_sales=100_000_000,
            plan="E",
            liability_limit=500_000_000,
            bank_account={
                "bank_code": "0001",
                "branch_code": "001",
                "account_type": "ordinary",
                "account_number": "1234567",
                "holder_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
            },
            application_date=date(2026, 1, 10),
        )
        app.activate(pid, 1)
        cid = app.report_incident(
            policy_id=pid,
            occurred_at=datetime(2026, 6, 1, tzinfo=TOKYO),
            discovered_at=datetime(2026, 6, 2, tzinfo=TOKYO),
            cause="theft",
            records_affected=5,
            description='a "quoted" \\ description\twith a tab, 絵文字 😀 and a line\nbreak',
        )
        app.take_snapshot(pid)
        new_rows = [
            r
            for r in _rows(database, "policy_admin_events") + _rows(database, "policy_admin_snapshots")
            if (r[0], r[1]) not in before or r[2].endswith("Snapshot")
        ]
        assert {r[0] for r in new_rows} >= {pid, cid}
        for _, _, _, state in new_rows:
            _same(library.decode(state), codec.decode(state))
            assert library.encode(library.decode(state)) == state
        assert isinstance(app.get_policy(pid), Policy) and isinstance(app.get_claim(cid), Claim)
    finally:
        rt.close()
