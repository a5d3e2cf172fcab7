"""The lean save path: the library's PostgreSQL recorder with the rows sent as four arrays.

``PostgresApplicationRecorder.insert_events`` is kept as it is: one transaction in a
pipeline, ``SET LOCAL lock_timeout`` and ``LOCK TABLE ... IN EXCLUSIVE MODE`` (inserts
serialised, so notification ids are issued in commit order and readers never pass a gap
that fills later), one ``NOTIFY`` per transaction, every row of the save in ONE
``INSERT ... SELECT FROM unnest(...) RETURNING notification_id``, a duplicate
``(originator_id, originator_version)`` failing the whole transaction with the library's
``IntegrityError`` (the optimistic-concurrency guarantee: a conflict on any row fails the
batch and nothing of it is recorded), and the library's retries on connection errors.

What changes is how the rows travel. The library builds one composite value per event and
psycopg dumps the array of composites in Python, as text, escaping every state's bytes with
a regular expression (the largest part of a bulk save's client time in the profile of the
debit run). Here:

* a small save (fewer than ``COPY_FROM`` events: the API's commands) sends four arrays (ids,
  versions, topics, states) in PostgreSQL's binary format, in the library's pipeline;
* a bulk save (a scheduler run's batch of hundreds of policies) is one ``COPY ... FROM STDIN
  (FORMAT BINARY)`` (rows formatted by psycopg's C code), in one transaction with the same
  lock and NOTIFY; its notification ids are read back as the ids above the previous maximum,
  which under the exclusive lock are exactly this transaction's rows, in insertion order.

The stored rows are the same either way.

The application's mapper still makes every stored event (``EventStore.put`` calls it), so a
custom mapper (per-subject encryption) stays in the path.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

COPY_FROM = 64  # events in one save from which COPY is used


class LeanApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        id_type = "uuid" if self.datastore.originator_id_type == "uuid" else "text"
        self.insert_arrays_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::{id_type}[], %b::int8[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=SQL(id_type),
        )
        self.copy_types = [id_type, "int8", "text", "bytea"]
        self.copy_statement = SQL(
            "COPY {schema}.{table} (originator_id, originator_version, topic, state)"
            " FROM STDIN (FORMAT BINARY)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        self.ids_after_statement = SQL(
            "SELECT notification_id FROM {schema}.{table} WHERE notification_id > %s ORDER BY notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    @property
    def stores_new_keys(self) -> bool:
        """Does every save pass through :meth:`_insert_events` (not with the library's database
        functions, which insert without it)?"""
        return not self.datastore.enable_db_functions

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's hook at the start of a save's transaction (before the lock and the
        rows): new data subjects' keys made during this save (``new_keys``: a
        ``personal_data.keys.NewKeys``, ``Vault.keys_in_save``) are inserted here, so that they
        commit with the events sealed under them, or roll back with them."""
        new_keys = kwargs.get("new_keys")
        if new_keys is not None:
            new_keys.record(curs)
        super()._insert_events(curs, stored_events, **kwargs)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if len(stored_events) < COPY_FROM or self.datastore.enable_db_functions:
            return super().insert_events(stored_events, **kwargs)
        return self._copy_events(stored_events, **kwargs)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _copy_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)  # the library's hook (tracking rows)
            self._lock_table(curs)
            self._notify_channel(curs)
            curs.execute(self.max_notification_id_statement)
            row = curs.fetchone()
            before = (row["max"] if row else None) or 0
            with curs.copy(self.copy_statement) as copy:
                copy.set_types(self.copy_types)
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            curs.execute(self.ids_after_statement, [before])
            ids = [r["notification_id"] for r in curs.fetchall()]
        if len(ids) != len(stored_events):
            msg = f"Couldn't get all notification IDs (got {len(ids)}, expected {len(stored_events)})"
            raise ProgrammingError(msg)
        return ids

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_arrays_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )


def lean_recorder(recorder: Any) -> Any:
    """The lean recorder over the same datastore and table, for the library's PostgreSQL
    application recorder; any other recorder (the in-memory one in unit tests) as it is."""
    if type(recorder) is PostgresApplicationRecorder:
        return LeanApplicationRecorder(recorder.datastore, events_table_name=recorder.events_table_name)
    return recorder


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for one chunk of a bulk run.

    Decoding and folding a thousand policies' histories makes tens of thousands of containers,
    and every 700 new ones the collector walks the young generation, often the older ones too:
    30% of the scheduler's CPU in a debit run of 5,000 policies (0.64 s against 0.45 s with it
    off). Nothing of a chunk needs cycles collected before the chunk ends; afterwards the
    collector runs as usual (nested uses leave it as the outermost found it)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


__all__ = ["LeanApplicationRecorder", "collector_paused", "lean_recorder"]
