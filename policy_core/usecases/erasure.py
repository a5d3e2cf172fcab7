"""Erasure of a member's personal data (個人情報保護法: 利用停止・消去の請求), by crypto-shredding.

Lawful when the member has no policy applied or in force, no open claim, and the retention
period (``retention_years``, the books' retention) after the end of their last period has
passed. Not lawful yet: the request is recorded as pending with the date from which it would
be (``ErasureRequested``), the caller gets a 409 naming that date, and the scheduler's
``run-due`` carries it out on that date (re-checking: a claim opened meanwhile defers it again).
Carried out: ``PersonalDataErased`` is recorded, then the member's data key is destroyed; every
read shows the personal fields as erased, every business fact stays.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.claim import CLOSED, DENIED, Claim
from ..aggregates.policy import Policy
from ..aggregates.register import MemberRegister
from ..aggregates.subject import ERASED, DataSubject
from ..calendar import TOKYO
from ..errors import Conflict, InvalidInput, NotFound
from .common import Actor, text
from .registers import get_or_none

if TYPE_CHECKING:
    from ..application import PolicyAdministration

log = logging.getLogger("policy_core.erasure")


class ErasureNotYetLawful(Conflict):
    code = "erasure_not_yet_lawful"


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February -> 28 February
        return d.replace(year=d.year + years, day=28)


def _ended_at(policy: Policy) -> datetime:
    ends = [policy.current_period.end]
    ends += [t for t in (policy.cancelled_at, policy.lapsed_at) if t is not None]
    return min(ends)


def assess(app: PolicyAdministration, register: MemberRegister, today: date) -> dict[str, Any]:
    """What stands in the way, and from when erasure would be lawful."""
    policies = [app._get(Policy, e["policy_id"]) for e in register.policies]
    claims = [app._get(Claim, UUID(cid)) for p in policies for period in p.periods for cid in period.claims]
    last_end = max(_ended_at(p) for p in policies)
    lawful_from = _add_years(last_end.astimezone(TOKYO).date(), app.retention_years)
    blocked_by = None
    if any(not p.is_terminated for p in policies):
        blocked_by = "policy_in_force"
    elif any(c.status not in (CLOSED, DENIED) for c in claims):
        blocked_by = "open_claim"
    elif today < lawful_from:
        blocked_by = "retention_period"
    return {
        "policies": [p.id for p in policies],
        "claims": [c.id for c in claims],
        "lawful_from": lawful_from,
        "blocked_by": blocked_by,
    }


_MESSAGES = {
    "policy_in_force": "the member has a policy applied or in force",
    "open_claim": "the member has an open claim",
    "retention_period": "the retention period after the member's last period has not passed",
}


def request_erasure(
    app: PolicyAdministration,
    *,
    scheme: str,
    member_number: str,
    reason: str,
    requested_on: date,
    actor: Actor | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Erase now if lawful (``status: erased``); already erased: ``status: already_erased``, no change;
    else record the pending request and raise :class:`ErasureNotYetLawful` (with ``lawful_from``)."""
    reason = text(reason, "reason", max_len=500)
    if not isinstance(requested_on, date) or isinstance(requested_on, datetime):
        raise InvalidInput("requested_on must be a date", code="invalid_date")
    today = today or app.clock().astimezone(TOKYO).date()

    def command() -> dict[str, Any]:
        register = get_or_none(app, MemberRegister, MemberRegister.id_for(scheme, member_number))
        if register is None or not register.policies:
            raise NotFound(f"no member {member_number} in scheme {scheme}", code="member_not_found")
        subject = get_or_none(app, DataSubject, DataSubject.id_for(scheme, member_number))
        sid = DataSubject.id_for(scheme, member_number)
        if (
            subject is not None
            and subject.status == ERASED
            and app.vault.existing_key_for_subject(sid) is None
        ):
            return {**_body(subject), "status": "already_erased"}
        if subject is None:
            subject = DataSubject(id=sid, scheme=scheme, member_number=member_number)
        found = assess(app, register, today)
        if found["blocked_by"] is not None:
            if subject.request(reason, requested_on, found["lawful_from"], found["blocked_by"]):
                app._save(subject, actor=actor, command="request_erasure")
            raise ErasureNotYetLawful(
                f"erasure is not lawful yet: {_MESSAGES[found['blocked_by']]}; recorded as pending, "
                f"to be carried out from {found['lawful_from'].isoformat()}",
                blocked_by=found["blocked_by"],
                lawful_from=found["lawful_from"].isoformat(),
                erasure_status="pending",
            )
        return _carry_out(app, subject, sid, reason, requested_on, found, actor)

    return app._retrying(command)


def _carry_out(
    app: PolicyAdministration,
    subject: DataSubject,
    sid: UUID,
    reason: str,
    requested_on: date,
    found: dict[str, Any],
    actor: Actor | None,
) -> dict[str, Any]:
    existing = app.vault.existing_key_for_subject(sid)
    keys = [str(existing[0])] if existing else []
    # Recorded first: if destroying the key fails, the record says it is due and run-due destroys it.
    subject.erase(reason, requested_on, app.clock(), found["policies"], found["claims"], keys)
    app._save(subject, actor=actor, command="erase_personal_data")
    app.vault.destroy(sid)
    log.info("personal data erased", extra={"subject_id": str(sid), "policies": len(found["policies"])})
    return {**_body(subject), "status": "erased"}


def _body(subject: DataSubject) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in subject.view().items()}


def run_due_erasures(app: PolicyAdministration, due: list[tuple[str, str]], today: date) -> dict[str, int]:
    """Carry out the pending requests that have come due (each re-checked); and destroy any key
    left behind by an erasure recorded but interrupted."""
    out = {"erased": 0, "deferred": 0}
    for scheme, member_number in due:
        subject = get_or_none(app, DataSubject, DataSubject.id_for(scheme, member_number))
        if subject is None:
            continue
        if subject.status == ERASED:
            if app.vault.destroy(subject.id):
                out["erased"] += 1
            continue
        try:
            request_erasure(
                app,
                scheme=scheme,
                member_number=member_number,
                reason=subject.reason or "scheduled",
                requested_on=subject.requested_on or today,
                today=today,
            )
            out["erased"] += 1
        except ErasureNotYetLawful:
            out["deferred"] += 1
    return out


def subject_status(app: PolicyAdministration, scheme: str, member_number: str) -> dict[str, Any] | None:
    subject = get_or_none(app, DataSubject, DataSubject.id_for(scheme, member_number))
    return None if subject is None else _body(subject)
