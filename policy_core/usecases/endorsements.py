"""Endorsements (異動): mid-term changes of a policy, each an ``Endorsed`` event with its number,
effective time (16:00 Tokyo on the date given, inside the current period), reason and actor.

Holder details and the direct-debit account change with no premium effect and may be back-dated
freely within the period; every debit requested after a bank-account change goes to the new
account, the first with Zengin 新規コード 2. Changes of cover terms (plan, liability limit,
network rider, declared sales) are not accepted yet (422 ``endorsement_change_not_supported``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.policy import Policy
from ..bank import validate_bank_account
from ..bank_directory import check_bank_and_branch
from ..calendar import boundary, require_date
from ..errors import InvalidInput
from .common import Actor, aware, text

if TYPE_CHECKING:
    from ..application import PolicyAdministration

HOLDER_FIELDS = ("name", "name_kana", "representative", "address", "phone", "email")
COVER_CHANGES = ("plan", "liability_limit", "network_rider", "annual_sales")


def endorse(
    app: PolicyAdministration,
    policy_id: UUID,
    *,
    effective_date: date,
    changes: dict[str, Any],
    reason: str,
    actor: Actor | None = None,
) -> dict[str, Any]:
    require_date(effective_date, "effective_date")
    reason = text(reason, "reason")
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput("changes must name at least one change", code="nothing_to_endorse")
    unsupported = sorted(k for k in changes if k in COVER_CHANGES and changes[k] is not None)
    if unsupported:
        raise InvalidInput(
            f"changes of cover terms ({', '.join(unsupported)}) are not accepted by endorsement yet",
            code="endorsement_change_not_supported",
            fields=unsupported,
        )
    unknown = sorted(set(changes) - {"holder", "bank_account", *COVER_CHANGES})
    if unknown:
        raise InvalidInput(f"unknown changes {unknown}", code="unknown_change")
    holder = changes.get("holder")
    if holder is not None:
        if not isinstance(holder, dict):
            raise InvalidInput("holder must be an object", code="invalid_holder")
        holder = {k: v for k, v in holder.items() if v is not None}
        for k, v in holder.items():
            if k not in HOLDER_FIELDS:
                raise InvalidInput(f"unknown holder field {k!r}", code="invalid_holder")
            holder[k] = text(v, f"holder.{k}")
    account = changes.get("bank_account")
    if account is not None:
        if not isinstance(account, dict):
            raise InvalidInput("bank_account must be an object", code="invalid_bank_account")
        checked = validate_bank_account(
            account.get("bank_code"),
            account.get("branch_code"),
            account.get("account_type"),
            account.get("account_number"),
            account.get("holder_kana"),
        )
        check_bank_and_branch(checked.bank_code, checked.branch_code)
        account = checked.to_dict()

    def command() -> dict[str, Any]:
        policy = app._get(Policy, policy_id)
        effective_at = boundary(effective_date, app.scheme_of(policy).calendar)
        done = policy.endorse(effective_at, reason, holder=holder or None, bank_account=account)
        app._save(policy, actor=actor, command="endorse")
        return done

    return app._retrying(command)


def endorsements(app: PolicyAdministration, policy_id: UUID, *, as_of: datetime | None = None) -> list[Any]:
    """The policy's ``Endorsed`` events in order (what changed, when, by whom, why); with
    ``as_of``, those recorded at or before that moment (NotFound if the policy did not exist
    then, as for the policy read)."""
    if as_of is None:
        return [e for e in app._history(policy_id, cls=Policy) if isinstance(e, Policy.Endorsed)]
    app._read(Policy, policy_id, as_of)  # checks the moment; NotFound before the policy existed
    moment = aware(as_of, "as_of")
    return [
        e
        for e in app._history(policy_id, cls=Policy)
        if isinstance(e, Policy.Endorsed) and e.timestamp <= moment
    ]
