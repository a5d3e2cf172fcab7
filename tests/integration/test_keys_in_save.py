"""A new member's data key is stored by the apply's own transaction (PostgreSQL): no commit of
its own, gone with the save if the save fails, and a member who has a key already (made by
another process) keeps it: the first attempt fails and the re-run seals under that key."""

from __future__ import annotations

import re
import tempfile
from datetime import date
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from policy_core.bootstrap import bootstrap
from policy_core.personal_data.crypto import subject_id
from policy_core.settings import Settings
from tests.conftest import BANK, FIXED_NOW

pytestmark = pytest.mark.postgres

NAME = "鍵試験QZXV商会"
SCHEME = "chuokai"
RAISE_UNIQUE_VIOLATION = "DO $$ BEGIN RAISE unique_violation USING MESSAGE = 'a racing writer'; END $$"


def _apply(app, member: str) -> UUID:
    return app.apply(
        scheme=SCHEME,
        member_number=member,
        holder={"name": NAME},
        industry="printing",
        annual_sales=200_000_000,
        plan="A",
        bank_account=dict(BANK),
        application_date=date(2026, 5, 10),
    )


def _keys_of(database, subject: UUID) -> list[UUID]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            f'SELECT key_id FROM "{database.schema}".pii_data_keys WHERE subject_id = %s', [subject]
        ).fetchall()
    return [r[0] for r in rows]


def _subject_row(database, aggregate_id: UUID) -> UUID | None:
    with psycopg.connect(database.dsn) as conn:
        row = conn.execute(
            f'SELECT subject_id FROM "{database.schema}".pii_subjects WHERE aggregate_id = %s', [aggregate_id]
        ).fetchone()
    return row[0] if row else None


def _kids_in_events(database, aggregate_id: UUID) -> set[str]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            f'SELECT state FROM "{database.schema}".policy_admin_events WHERE originator_id = %s',
            [aggregate_id],
        ).fetchall()
    return {m.decode() for r in rows for m in re.findall(rb'"kid":"([0-9a-f-]{36})"', bytes(r[0]))}


def _fresh(database):
    """Another process: its own vault, nothing cached."""
    return bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW)


def test_a_new_members_key_is_stored_by_the_apply_itself(runtime, database, monkeypatch):
    app = runtime.app

    def no_own_transaction(*a, **k):
        raise AssertionError("the key store made a key in a transaction of its own")

    monkeypatch.setattr(app.vault.store, "create", no_own_transaction)
    monkeypatch.setattr(app.vault.store, "remember", no_own_transaction)
    pid = _apply(app, "K-1")
    subject = subject_id(SCHEME, "K-1")
    keys = _keys_of(database, subject)
    assert len(keys) == 1 and app.conflicts_retried == 0
    assert _kids_in_events(database, pid) == {str(keys[0])}  # the events are sealed under it
    assert _subject_row(database, pid) == subject  # and the policy is remembered as its
    other = _fresh(database)
    try:
        assert other.app.get_policy(pid).holder == {"name": NAME}  # readable by another process
    finally:
        other.close()


def test_a_failed_save_takes_its_key_with_it_and_the_rerun_stores_one(runtime, database, monkeypatch):
    app = runtime.app
    recorder = app.recorder
    original = recorder._insert_stored_events
    calls: list[int] = []

    def fail_first(curs, stored_events, **kwargs):
        original(curs, stored_events, **kwargs)  # the key row and the events are sent ...
        calls.append(1)
        if len(calls) == 1:  # ... and the server refuses the transaction, as on a duplicate row
            curs.execute(RAISE_UNIQUE_VIOLATION)

    monkeypatch.setattr(recorder, "_insert_stored_events", fail_first)
    pid = _apply(app, "K-2")
    assert app.conflicts_retried == 1 and len(calls) == 2
    keys = _keys_of(database, subject_id(SCHEME, "K-2"))
    assert len(keys) == 1  # the first attempt's key went with its transaction
    assert _kids_in_events(database, pid) == {str(keys[0])}
    other = _fresh(database)
    try:
        assert other.app.get_policy(pid).holder == {"name": NAME}
    finally:
        other.close()


def test_a_failed_save_leaves_no_key_and_nothing_cached(runtime, database, monkeypatch):
    app = runtime.app

    def refuse(curs, stored_events, **kwargs):
        curs.execute(RAISE_UNIQUE_VIOLATION)

    monkeypatch.setattr(app.recorder, "_insert_stored_events", refuse)
    monkeypatch.setattr("policy_core.application.MAX_RETRIES", 1)
    with pytest.raises(IntegrityError):
        _apply(app, "K-3")
    subject = subject_id(SCHEME, "K-3")
    assert _keys_of(database, subject) == []
    assert subject not in app.vault._by_subject


def test_a_member_with_a_key_from_another_process_keeps_it(runtime, database):
    subject = subject_id(SCHEME, "K-4")
    other = _fresh(database)
    try:
        existing, _ = other.app.vault.key_for_subject(subject)  # e.g. an earlier application elsewhere
    finally:
        other.close()
    app = runtime.app
    pid = _apply(app, "K-4")
    assert app.conflicts_retried == 1  # the first attempt took the member for new: refused
    assert _keys_of(database, subject) == [existing]
    assert _kids_in_events(database, pid) == {str(existing)}
    app.vault.forget_cache()
    assert app.get_policy(pid).holder == {"name": NAME}


def test_erasure_after_an_apply_destroys_the_key_stored_with_it(runtime, database):
    app = runtime.app
    pid = _apply(app, "K-5")
    subject = subject_id(SCHEME, "K-5")
    assert len(_keys_of(database, subject)) == 1
    app.vault.destroy(subject)
    assert _keys_of(database, subject) == []
    other = _fresh(database)
    try:
        assert other.app.get_policy(pid).holder != {"name": NAME}
        assert NAME not in repr(other.app.get_policy(pid).holder)
    finally:
        other.close()


def test_record_new_keys_inserts_any_number_of_rows_in_the_callers_transaction(runtime, database):
    from uuid import uuid4

    from policy_core.personal_data.keys import StoredKey

    store = runtime.app.vault.store
    keys = [StoredKey(uuid4(), uuid4(), b"\x00wrapped\xff" + bytes([i]), "local:test") for i in range(2)]
    aggregates = [(uuid4(), keys[0].subject_id), (uuid4(), keys[1].subject_id), (uuid4(), keys[1].subject_id)]
    with psycopg.connect(database.dsn) as conn:
        with conn.cursor() as cur:
            store.record_new_keys(cur, keys, aggregates)
        conn.rollback()  # the save failed: nothing stays
    assert [_keys_of(database, k.subject_id) for k in keys] == [[], []]
    with psycopg.connect(database.dsn) as conn:
        with conn.cursor() as cur:
            store.record_new_keys(cur, keys, aggregates)
            store.record_new_keys(cur, [], [(aggregates[0][0], keys[0].subject_id)])  # known: ignored
            store.record_new_keys(cur, [], [])
        conn.commit()
    assert [_keys_of(database, k.subject_id) for k in keys] == [[keys[0].key_id], [keys[1].key_id]]
    assert [_subject_row(database, a) for a, _ in aggregates] == [s for _, s in aggregates]
    assert store.get(keys[0].key_id) == keys[0]  # the wrapped bytes as given
    again = StoredKey(uuid4(), keys[0].subject_id, b"other", "local:test")
    with psycopg.connect(database.dsn) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg.errors.UniqueViolation):  # a subject with a key: the transaction fails
            store.record_new_keys(cur, [again], [])
    assert _keys_of(database, keys[0].subject_id) == [keys[0].key_id]
