"""The application: one eventsourcing ``Application`` (one store, one name) and its plumbing.

The use cases live in ``policy_core.usecases``, one module per family, one function per use
case taking this application as its first argument. This module holds what they share: the
store and its transcodings, saving with the actor's metadata, re-running a command that lost an
optimistic-concurrency race (``IntegrityError``: another writer got there first), snapshots,
reads by recorded time, the scheme catalogue, the clock and the holiday calendar. The class
body ends with the routing table that names each use case once, so that callers write
``app.apply(...)`` (see docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoder,
)

from . import requests
from .aggregates.policy import Policy
from .aggregates.register import NumberSeries
from .bounds import check_moment
from .codec import DateAsISO, DebitAttemptAsDict, PeriodAsDict, make_transcoder
from .ddl import EVENT_STORE, table_provider
from .errors import NotFound
from .holidays import is_bank_holiday
from .personal_data.keys import PersistentKeyStoreRequired, Vault, memory_vault
from .personal_data.mapper import PersonalDataMapper
from .personal_data.migrate import StoreMigrated  # noqa: F401 - its topic is read back from the log
from .scheme import Scheme, get_scheme, load_scheme
from .store import LeanApplicationRecorder, lean_recorder
from .usecases import (
    bulk,
    claims,
    collections,
    corrections,
    documents,
    endorsements,
    erasure,
    lifecycle,
    quotes,
    reads,
    registers,
    reserves,
    risk_assessments,
)
from .usecases.collections import DebitOutcome
from .usecases.common import SYSTEM, Actor, aware, fold

log = logging.getLogger("policy_core.application")

APPLICATION_NAME = "policy_admin"
MAX_RETRIES = 20
SNAPSHOT_INTERVAL = 100

T = TypeVar("T")


class PolicyAdministration(Application[UUID]):
    name = APPLICATION_NAME
    env: ClassVar[dict[str, str]] = {"COMPRESSOR_TOPIC": ""}
    # A policy snapshot every 100 events: current and as-of reads start from the nearest one.
    # A number series takes one event per number issued: snapshots keep its reads short too.
    snapshotting_intervals: ClassVar[dict[type, int]] = {
        Policy: SNAPSHOT_INTERVAL,
        NumberSeries: SNAPSHOT_INTERVAL,
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        is_holiday: Callable[[date], bool] = is_bank_holiday,
        participants: Callable[[str], int] | None = None,
        vault: Vault | None = None,
    ) -> None:
        # Personal fields are sealed per data subject at the persistence boundary (the mapper).
        # With no vault given the keys live in memory: allowed only over the in-memory event store
        # (unit tests, samples), where they vanish together with the events. Over a persistent store
        # keys lost at a restart would leave every sealed field unreadable: a persistent key store is
        # required (bootstrap's open_vault), or an explicit ``vault=memory_vault()`` where wanted.
        self.vault = vault or memory_vault()
        super().__init__(env)
        if vault is None and not type(self.recorder).__module__.startswith("eventsourcing.popo"):
            self.close()
            raise PersistentKeyStoreRequired(
                "PolicyAdministration over a persistent event store needs a persistent key store "
                "(vault=open_vault(database, settings), as policy_core.bootstrap composes it): "
                "keys kept in memory are lost at restart and the personal data with them"
            )
        self.clock = clock or (lambda: datetime.now(UTC))
        self.is_holiday = is_holiday
        # How many policies the scheme has in force: feeds the group discount.
        # The portfolio read model provides it; with none, no discount.
        self.participants = participants or (lambda scheme: 0)
        self.conflicts_retried = 0
        # Days after a cancellation was recorded within which it can be undone (reinstatement).
        self.reinstatement_window_days = corrections.DEFAULT_REINSTATEMENT_WINDOW_DAYS

    # ------------------------------------------------------------------ use cases (routing)
    # One line per use case; the code is in policy_core/usecases/<family>.py.
    quote = quotes.quote

    apply = lifecycle.apply
    activate = lifecycle.activate
    renew = lifecycle.renew
    expire = lifecycle.expire
    lapse = lifecycle.lapse
    issue_renewal_notice = lifecycle.issue_renewal_notice
    give_non_renewal_notice = lifecycle.give_non_renewal_notice
    cancel = lifecycle.cancel
    declare_sales = lifecycle.declare_sales

    record_debit_success = collections.record_debit_success
    record_debit_failure = collections.record_debit_failure

    report_incident = claims.report_incident
    assess_losses = claims.assess_losses
    pay_claim = claims.pay_claim
    settlement_preview = claims.settlement_preview
    deny_claim = claims.deny_claim
    close_claim = claims.close_claim
    terms_of = staticmethod(claims.terms_of)

    endorse = endorsements.endorse
    endorsement_history = endorsements.endorsement_history
    endorsements = endorsements.endorsements

    set_reserve = reserves.set_reserve

    reverse_payment = corrections.reverse_payment
    correct_loss = corrections.correct_loss
    withdraw_loss = corrections.withdraw_loss
    reopen_claim = corrections.reopen_claim
    reinstate = corrections.reinstate

    renew_many = bulk.renew_many
    record_debit_results = bulk.record_debit_results

    backfill_member_registers = registers.backfill_member_registers

    get_policy = reads.get_policy
    get_claim = reads.get_claim
    get_policies = reads.get_policies
    limits_from_events = reads.limits_from_events
    history = reads.history

    assess_risk = risk_assessments.assess_risk
    get_risk_assessment = risk_assessments.get_risk_assessment
    list_risk_assessments = risk_assessments.list_risk_assessments
    risk_questionnaire = risk_assessments.current_questionnaire
    scheme_risk_average = risk_assessments.scheme_average_for

    certificate_of_cover = documents.certificate_of_cover
    payment_advice = documents.payment_advice

    request_erasure = erasure.request_erasure
    run_due_erasures = erasure.run_due_erasures
    subject_status = erasure.subject_status
    # Years after a member's last period before erasure is lawful (POLICY_RETENTION_YEARS).
    retention_years: int = 10

    def construct_mapper(self) -> PersonalDataMapper:
        """The library's mapper (transcoder, optional cipher and compressor) wrapped so that
        personal fields are stored only as per-subject envelopes (docs/personal-data.md)."""
        return PersonalDataMapper(
            transcoder=self.construct_transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
            vault=self.vault,
        )

    # ------------------------------------------------------------------ store
    def construct_transcoder(self) -> Transcoder:
        """The project's codec (policy_core/codec.py): the library's bytes, compiled."""
        return make_transcoder(self.register_transcodings)

    def construct_recorder(self) -> ApplicationRecorder:
        """The library's recorder, on PostgreSQL with the lean insert (policy_core/store.py)."""
        return lean_recorder(super().construct_recorder())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save without its runtime ``Protocol`` checks per object.

        ``ProcessingEvent.collect_events`` asks ``isinstance(obj, DomainEventProtocol)`` and
        ``isinstance(obj, CollectEventsProtocol)`` of every object, runtime-checkable Protocols
        that inspect attributes each time; an aggregate (a ``BaseAggregate``: every one this
        application saves) is known by its class instead. Anything else goes the library's way.
        Then as the library: record, snapshots, notify.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        if (new_keys := self.vault.new_keys()) is not None:
            processing_event.saved_kwargs["new_keys"] = new_keys  # stored in the save's transaction
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, as it calls it
        return recordings

    def keys_in_save(self) -> contextlib.AbstractContextManager[Any]:
        """Around a save that takes its data subjects for new (an application's first attempt):
        their keys are stored by the save's own transaction (``Vault.keys_in_save``), where the
        recorder can (the lean PostgreSQL recorder, the key store in the events' schema);
        elsewhere (the in-memory store of unit tests) keys are made as always."""
        recorder, store = self.recorder, self.vault.store
        db = getattr(store, "db", None)
        if (
            isinstance(recorder, LeanApplicationRecorder)
            and recorder.stores_new_keys
            and hasattr(store, "record_new_keys")
            and db is not None
            and (db.schema or "public") == (recorder.datastore.schema or "public")
        ):
            return self.vault.keys_in_save()
        return contextlib.nullcontext()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(PeriodAsDict())
        transcoder.register(DebitAttemptAsDict())

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot when a save crosses a multiple of the interval (the library only checks
        whether it ends on one, so a multi-event save would skip it)."""
        if not self.snapshots:
            return
        # Counted once per save: a bulk save holds a thousand aggregates and twice as many events.
        new_events = Counter(e.originator_id for e in processing_event.events)
        for aggregate in processing_event.aggregates.values():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if not interval:
                continue
            new = new_events[aggregate.id]
            if aggregate.version // interval > (aggregate.version - new) // interval:
                version = aggregate.version // interval * interval
                if type(aggregate) is NumberSeries and version == aggregate.version:
                    # The series just saved is the state at that version (its four fields are
                    # set by its own events only): snapshot it as it is, without reading back
                    # the hundred events the library's take_snapshot would replay.
                    self.snapshots.put([NumberSeries.Snapshot.take(aggregate)])
                else:
                    self.take_snapshot(aggregate.id, version=version)

    # ------------------------------------------------------------------ commands
    def _retrying(self, command: Callable[[], T]) -> T:
        """Re-run a command that lost an optimistic-concurrency race."""
        for attempt in range(1, MAX_RETRIES + 1):
            try:
                return command()
            except IntegrityError:
                if attempt == MAX_RETRIES:
                    raise
                self.conflicts_retried += 1
                log.info("concurrency conflict, retrying", extra={"attempt": attempt})
        raise AssertionError("unreachable")

    def _save(self, *aggregates: Any, actor: Actor | None, command: str) -> None:
        """Save atomically, every new event carrying who did it and which command."""
        metadata: dict[str, Any] = {"actor": (actor or SYSTEM).as_metadata(), "command": command}
        if (ctx := requests.current()) is not None:
            metadata["request_id"] = ctx.id
        for agg in aggregates:
            for e in agg.pending_events:
                object.__setattr__(e, "metadata", metadata)
        self.save(*aggregates)

    def recorded_by_request(self, aggregate_id: UUID) -> list[Any]:
        """On a retried request: the events of ``aggregate_id`` its earlier attempt recorded.

        Empty outside a request, on a first attempt, or when the earlier attempt recorded
        nothing there; what lets a retry answer from what was recorded instead of deciding
        again (see policy_core.requests)."""
        ctx = requests.current()
        if ctx is None or not ctx.retry or not isinstance(aggregate_id, UUID):
            return []
        return [
            e
            for e in self.events.get(aggregate_id)
            if (getattr(e, "metadata", None) or {}).get("request_id") == ctx.id
        ]

    def _get(self, cls: type[T], aggregate_id: UUID) -> T:
        """The current state of one aggregate of class ``cls``, or NotFound."""
        name = cls.__name__.lower()
        if not isinstance(aggregate_id, UUID):
            raise NotFound(f"{name} {aggregate_id!r} not found", code=f"{name}_not_found")
        try:
            agg = self.repository.get(aggregate_id, projector_func=fold)
        except AggregateNotFoundError:
            raise NotFound(f"{name} {aggregate_id} not found", code=f"{name}_not_found") from None
        if not isinstance(agg, cls):
            raise NotFound(f"{name} {aggregate_id} not found", code=f"{name}_not_found")
        return agg

    # ------------------------------------------------------------------ scheme catalogue
    def scheme(self, key: str) -> Scheme:
        """A scheme by key for a new decision (an unknown key is bad input)."""
        return get_scheme(key)

    def scheme_of(self, policy: Policy) -> Scheme:
        return load_scheme(policy.scheme)

    # ------------------------------------------------------------------ reads by recorded time
    def _read(self, cls: type[T], aggregate_id: UUID, as_of: datetime | None) -> T:
        if as_of is None:
            return self._get(cls, aggregate_id)
        as_of = check_moment(aware(as_of, "as_of"), "as_of", now=self.clock())
        start = self._snapshot_before(aggregate_id, as_of) if cls is Policy else None
        if start is not None:
            later: Iterable[Any] = self.events.get(aggregate_id, gt=start.originator_version)
            return fold(fold(None, [start]), (e for e in later if e.timestamp <= as_of))
        events = [e for e in self._history(aggregate_id, cls=cls) if e.timestamp <= as_of]
        if not events:
            raise NotFound(
                f"{cls.__name__.lower()} {aggregate_id} did not exist at {as_of.isoformat()}",
                code=f"{cls.__name__.lower()}_not_found",
            )
        return fold(None, events)

    def _snapshot_before(self, aggregate_id: UUID, as_of: datetime) -> Any:
        """The latest snapshot of a state last changed at or before ``as_of``.

        An aggregate's recorded timestamps rise with its version (each save follows a read of
        the previous state), so a binary search over the snapshot versions finds it, decoding
        one small event per probe."""
        if self.snapshots is None:
            return None
        latest: list[Any] = list(self.snapshots.get(aggregate_id, desc=True, limit=1))
        if not latest:
            return None
        if latest[0].state["_modified_on"] <= as_of:
            return latest[0]
        versions = list(range(SNAPSHOT_INTERVAL, latest[0].originator_version, SNAPSHOT_INTERVAL))
        lo, hi, best = 0, len(versions) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            probe = self.events.get(aggregate_id, gt=versions[mid] - 1, lte=versions[mid])
            event: Any = next(iter(probe))
            if event.timestamp <= as_of:
                best, lo = versions[mid], mid + 1
            else:
                hi = mid - 1
        if best is None:
            return None
        found = list(self.snapshots.get(aggregate_id, gt=best - 1, lte=best))
        return found[0] if found else None

    def _history(self, aggregate_id: UUID, *, cls: type | None = None) -> list[Any]:
        if not isinstance(aggregate_id, UUID):
            raise NotFound(f"{aggregate_id!r} not found", code="not_found")
        events = list(self.events.get(aggregate_id))
        topic = getattr(events[0], "originator_topic", None) if events else None
        if not events or (cls is not None and topic != getattr(cls, "TOPIC", None)):
            name = cls.__name__.lower() if cls else "aggregate"
            raise NotFound(f"{name} {aggregate_id} not found", code=f"{name}_not_found")
        return events


@table_provider(
    "event store",
    tables=(f"{APPLICATION_NAME}_events", f"{APPLICATION_NAME}_snapshots"),
    order=EVENT_STORE,
)
def create_event_store(runtime: Any) -> None:
    """The event store's tables (the library's recorders make them: ``CREATE_TABLE=n`` keeps
    them from doing it implicitly)."""
    app = runtime.app
    _create_recorder_table(app.recorder)
    if app.snapshots is not None:
        _create_recorder_table(app.snapshots.recorder)


def _create_recorder_table(recorder: Any) -> None:
    """The recorder's ``create_table``, without its ``CREATE TYPE`` when the type exists already.

    The library's PostgreSQL recorders run ``CREATE TYPE`` on every start-up (PostgreSQL has no
    ``IF NOT EXISTS`` for types) and swallow the error, which PostgreSQL still writes to its log
    (``ERROR: type "stored_event_uuid" already exists`` on every start, twice): a start-up where
    nothing is wrong stays quiet."""
    statements = getattr(recorder, "sql_create_statements", None)
    name = getattr(recorder, "stored_event_type_name", None)
    datastore = getattr(recorder, "datastore", None)
    if statements is None or name is None or datastore is None:  # not PostgreSQL: as it is
        recorder.create_table()
        return
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = %s AND t.typname = %s",
            [datastore.schema or "public", name],
        )
        exists = curs.fetchone() is not None
    if exists:
        recorder.sql_create_statements = [s for s in statements if "CREATE TYPE" not in s.as_string()]
    try:
        recorder.create_table()
    finally:
        recorder.sql_create_statements = statements


__all__ = [
    "APPLICATION_NAME",
    "SYSTEM",
    "Actor",
    "DateAsISO",
    "DebitAttemptAsDict",
    "DebitOutcome",
    "PeriodAsDict",
    "PolicyAdministration",
    "fold",
]
