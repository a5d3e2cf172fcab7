"""What every use case shares: who acted, replay, the input checks, a bulk run's error row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..errors import DomainError, InvalidInput


@dataclass(frozen=True)
class Actor:
    """Who did it: recorded in every event's metadata (never a secret)."""

    role: str
    key_id: str

    def as_metadata(self) -> dict[str, str]:
        return {"role": self.role, "key_id": self.key_id}


SYSTEM = Actor(role="system", key_id="system")


def fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """Apply events in order: the library's projector minus its per-event runtime protocol check
    (half the replay time, measured in docs/performance.md)."""
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a date and time with offset", code="invalid_datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must carry a timezone offset", code="naive_datetime")
    return value


def text(value: Any, name: str, *, max_len: int = 200, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{name} must be a non-empty string", code="invalid_text", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", code="invalid_text", field=name)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise InvalidInput(f"{name} contains control characters", code="invalid_text", field=name)
    return value.strip()


def job_error(job: str, policy_id: UUID, exc: DomainError) -> dict[str, str]:
    """One refused command of a bulk run, as the run reports it."""
    return {"job": job, "policy_id": str(policy_id), "code": exc.code, "detail": exc.message}
