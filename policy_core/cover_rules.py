"""Cover rules that span more than one aggregate, as pure functions of the aggregates read.

* One member, one policy at a time in one scheme: an application whose cover would overlap a
  policy of the same member in the same scheme that is applied or in force is refused
  (``member_already_insured``), unless that policy's cover ends before the new one starts.
* A policy's cover ends at its cancellation, its lapse (from the start of the unpaid period),
  its expiry, or, after a non-renewal notice, at the end of its current period; a policy
  without any of these renews every year, so its cover has no end yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .errors import Conflict


def cover_end(policy: Any) -> datetime | None:
    """When this policy's cover ends (or ended); None while it renews without end."""
    ends = [t for t in (policy.cancelled_at, policy.lapsed_at, policy.expired_at) if t is not None]
    if ends:
        return min(ends)
    if policy.non_renewal_notice_on is not None:
        return policy.current_period.end
    return None


def cover_start(policy: Any) -> datetime:
    return policy.periods[0].start


def overlaps(policy: Any, start: datetime, end: datetime) -> bool:
    """True when ``policy``'s cover and [start, end) share a moment."""
    other_end = cover_end(policy)
    if other_end is not None and other_end <= cover_start(policy):
        return False  # voided or lapsed from inception: it never covered anything
    return (other_end is None or start < other_end) and cover_start(policy) < end


def check_no_overlap(policies: Iterable[Any], *, member_number: str, start: datetime, end: datetime) -> None:
    clashing = [p for p in policies if overlaps(p, start, end)]
    if clashing:
        first = clashing[0]
        label = getattr(first, "number", None) or first.id
        raise Conflict(
            f"member {member_number} already holds policy {label} in this "
            f"scheme, covering from {cover_start(first).isoformat()}"
            + (f" to {their_end.isoformat()}" if (their_end := cover_end(first)) else " and renewing")
            + f"; the new cover from {start.isoformat()} would overlap it",
            code="member_already_insured",
            policy_ids=[str(p.id) for p in clashing],
        )
