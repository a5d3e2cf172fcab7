"""What every use case shares: who acted, replay, the input checks, a bulk run's error row."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..bounds import MAX_TEXT, clean_text
from ..errors import DomainError, InvalidInput

if TYPE_CHECKING:
    from ..application import PolicyAdministration


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


def text(value: Any, name: str, *, max_len: int = MAX_TEXT, required: bool = True) -> str:
    """The one text check (``bounds.clean_text``); longer fields are multi-line free text."""
    return clean_text(value, name, max_len=max_len, required=required, multiline=max_len > MAX_TEXT)


def change_one(
    app: PolicyAdministration,
    cls: type,
    aggregate_id: UUID,
    decide: Callable[[Any], Any],
    *,
    actor: Actor | None,
    command: str,
) -> bool:
    """The shape of every command on one aggregate: load it, let ``decide`` guard and record on it,
    save what it recorded with the actor, and re-run the whole on a stale save (optimistic
    concurrency). ``decide`` returning ``False`` means the fact is already recorded (an idempotent
    repeat): nothing is saved and the command answers False."""

    def run() -> bool:
        aggregate: Any = app._get(cls, aggregate_id)
        if decide(aggregate) is False:
            return False
        app._save(aggregate, actor=actor, command=command)
        return True

    return app._retrying(run)


def job_error(job: str, policy_id: UUID, exc: DomainError) -> dict[str, str]:
    """One refused command of a bulk run, as the run reports it."""
    return {"job": job, "policy_id": str(policy_id), "code": exc.code, "detail": exc.message}
