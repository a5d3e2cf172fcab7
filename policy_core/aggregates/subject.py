"""``DataSubject``: a member in a scheme as a data subject; erasure requests and their execution.

One per (scheme, member number), id = the subject id its data key is filed under. The events
hold no personal data: who asked (the actor in the metadata), when, why (the operator's reason,
a reference, never a name), when erasure becomes lawful, and - once carried out - which
policies and claims it covered and which data keys were destroyed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ..personal_data.crypto import subject_id

PENDING, ERASED = "pending", "erased"


class DataSubject(Aggregate):
    TOPIC = "policy_admin:DataSubject"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:DataSubject.Created"
        scheme: str
        member_number: str

    class ErasureRequested(Aggregate.Event):
        """Not lawful yet: recorded, and carried out by the scheduler from ``lawful_from``."""

        TOPIC = "policy_admin:DataSubject.ErasureRequested"
        reason: str
        requested_on: date
        lawful_from: date
        blocked_by: str

    class PersonalDataErased(Aggregate.Event):
        TOPIC = "policy_admin:DataSubject.PersonalDataErased"
        reason: str
        requested_on: date
        erased_at: datetime
        policies: list[UUID]
        claims: list[UUID]
        keys_destroyed: list[str]

    @staticmethod
    def id_for(scheme: str, member_number: str) -> UUID:
        return subject_id(scheme, member_number)

    @event(Created)
    def __init__(self, id: UUID, scheme: str, member_number: str) -> None:  # noqa: A002
        self.scheme = scheme
        self.member_number = member_number
        self.status: str | None = None
        self.reason: str | None = None
        self.requested_on: date | None = None
        self.lawful_from: date | None = None
        self.blocked_by: str | None = None
        self.erased_at: datetime | None = None
        self.erasures = 0

    def request(self, reason: str, requested_on: date, lawful_from: date, blocked_by: str) -> bool:
        """Record a pending request; False if the same one is already pending (a retry)."""
        if (
            self.status == PENDING
            and self.lawful_from == lawful_from
            and self.blocked_by == blocked_by
            and self.reason == reason
        ):
            return False
        self._requested(
            reason=reason, requested_on=requested_on, lawful_from=lawful_from, blocked_by=blocked_by
        )
        return True

    @event(ErasureRequested)
    def _requested(self, reason: str, requested_on: date, lawful_from: date, blocked_by: str) -> None:
        self.status = PENDING
        self.reason = reason
        self.requested_on = requested_on
        self.lawful_from = lawful_from
        self.blocked_by = blocked_by

    def erase(
        self,
        reason: str,
        requested_on: date,
        erased_at: datetime,
        policies: list[UUID],
        claims: list[UUID],
        keys_destroyed: list[str],
    ) -> None:
        self._erased(
            reason=reason,
            requested_on=requested_on,
            erased_at=erased_at,
            policies=policies,
            claims=claims,
            keys_destroyed=keys_destroyed,
        )

    @event(PersonalDataErased)
    def _erased(
        self,
        reason: str,
        requested_on: date,
        erased_at: datetime,
        policies: list[UUID],
        claims: list[UUID],
        keys_destroyed: list[str],
    ) -> None:
        self.status = ERASED
        self.reason = reason
        self.requested_on = requested_on
        self.erased_at = erased_at
        self.lawful_from = None
        self.blocked_by = None
        self.erasures += 1

    def view(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "member_number": self.member_number,
            "status": self.status,
            "reason": self.reason,
            "requested_on": self.requested_on,
            "lawful_from": self.lawful_from,
            "blocked_by": self.blocked_by,
            "erased_at": self.erased_at,
        }
