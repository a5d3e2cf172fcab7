"""Small aggregates that guard rules across policies and claims of one scheme.

* ``MemberRegister`` (one per scheme and member number): the policies a member has applied for.
  Saved in the same atomic save as a new policy, so two applications of one member racing each
  other cannot both pass the overlap check (the loser's save fails on the register's version and
  re-runs against the winner).
* ``NumberSeries`` (one per scheme, kind and scheme year): hands out the next policy or claim
  number. Saved atomically with the policy or claim it numbers, so a number is never given twice
  and never lost to a failed save (a stale save re-runs and takes the next one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

REGISTER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:policy-admin:member-register")
SERIES_NAMESPACE = uuid5(NAMESPACE_URL, "urn:policy-admin:number-series")

POLICY_NUMBERS, CLAIM_NUMBERS = "policy", "claim"


class MemberRegister(Aggregate):
    TOPIC = "policy_admin:MemberRegister"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:MemberRegister.Created"
        scheme: str
        member_number: str

    class PolicyEntered(Aggregate.Event):
        TOPIC = "policy_admin:MemberRegister.PolicyEntered"
        policy_id: UUID
        cover_start: datetime

    @staticmethod
    def id_for(scheme: str, member_number: str) -> UUID:
        return uuid5(REGISTER_NAMESPACE, f"{scheme}/{member_number}")

    @classmethod
    def open(cls, scheme: str, member_number: str) -> MemberRegister:
        return cls(id=cls.id_for(scheme, member_number), scheme=scheme, member_number=member_number)

    @event(Created)
    def __init__(self, id: UUID, scheme: str, member_number: str) -> None:  # noqa: A002
        self.scheme = scheme
        self.member_number = member_number
        self.policies: list[dict[str, Any]] = []

    def enter(self, policy_id: UUID, cover_start: datetime) -> None:
        self._policy_entered(policy_id=policy_id, cover_start=cover_start)

    @event(PolicyEntered)
    def _policy_entered(self, policy_id: UUID, cover_start: datetime) -> None:
        self.policies.append({"policy_id": policy_id, "cover_start": cover_start})


class NumberSeries(Aggregate):
    """Numbers ``<SCHEME>-<year>-<n>`` (policies) and ``<SCHEME>-<year>-C<n>`` (claims), n from 1."""

    TOPIC = "policy_admin:NumberSeries"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:NumberSeries.Created"
        scheme: str
        kind: str
        year: int

    class NumberIssued(Aggregate.Event):
        TOPIC = "policy_admin:NumberSeries.NumberIssued"
        sequence: int
        number: str
        issued_to: UUID

    @staticmethod
    def id_for(scheme: str, kind: str, year: int) -> UUID:
        return uuid5(SERIES_NAMESPACE, f"{scheme}/{kind}/{year}")

    @classmethod
    def open(cls, scheme: str, kind: str, year: int) -> NumberSeries:
        return cls(id=cls.id_for(scheme, kind, year), scheme=scheme, kind=kind, year=year)

    @event(Created)
    def __init__(self, id: UUID, scheme: str, kind: str, year: int) -> None:  # noqa: A002
        self.scheme = scheme
        self.kind = kind
        self.year = year
        self.last = 0

    def format(self, sequence: int) -> str:
        marker = "C" if self.kind == CLAIM_NUMBERS else ""
        return f"{self.scheme.upper()}-{self.year}-{marker}{sequence:06d}"

    def issue(self, to: UUID) -> str:
        sequence = self.last + 1
        number = self.format(sequence)
        self._number_issued(sequence=sequence, number=number, issued_to=to)
        return number

    @event(NumberIssued)
    def _number_issued(self, sequence: int, number: str, issued_to: UUID) -> None:
        self.last = sequence
