"""Endorsements (異動): mid-term changes of a policy, each an ``Endorsed`` event with its number,
effective time (16:00 Tokyo on the date given, inside the current period), reason and actor.

Holder details and the direct-debit account change with no premium effect and may be back-dated
freely within the period; every debit requested after a bank-account change goes to the new
account, the first with Zengin 新規コード 2.

Changes of cover terms (plan, liability limit of plan E, network rider, declared sales) are
re-rated with the tariff version the period recorded; the premium delta is the change of annual
premium pro rata by whole months not yet begun at the effective time (the cancellation's month
rule), rounded down to the tariff's unit. An extra premium is debited on the next debit date
after the endorsement is recorded (with its own retries); a return is refunded out of what was
collected. An endorsement effective before cover endorsements already recorded in the period is
applied in effective order, the later ones reversed and re-applied on top (``Policy.endorse``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.claim import Claim
from ..aggregates.policy import Period, Policy
from ..bank import validate_bank_account
from ..bank_directory import check_bank_and_branch
from ..bounds import MAX_ANNUAL_SALES, MAX_LIABILITY_LIMIT, check_int
from ..calendar import TOKYO, add_months, boundary, next_business_day, require_date
from ..errors import InvalidInput
from ..rating import rate
from ..scheme import Scheme
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
    cover = _cover_changes(changes)

    def command() -> dict[str, Any]:
        policy = app._get(Policy, policy_id)
        scheme = app.scheme_of(policy)
        effective_at = boundary(effective_date, scheme.calendar)
        period = policy.current_period
        discovered = (
            {hex_id: app._get(Claim, UUID(hex_id)).discovered_at for hex_id in period.claims} if cover else {}
        )
        paid = {
            hex_id: discovered[hex_id]
            for hex_id, sections in period.claim_paid.items()
            if sum(sections.values()) > 0 and hex_id in discovered
        }
        done = policy.endorse(
            effective_at,
            reason,
            holder=holder or None,
            bank_account=account,
            cover=cover,
            rerate=rerater(scheme, period),
            rounding_unit=scheme.tariff(period.tariff_version).rounding_unit,
            paid_claims_discovered=paid,
            next_charge=lambda: next_debit_date(app, scheme, period, app.clock()),
            claims_discovered=discovered,
        )
        app._save(policy, actor=actor, command="endorse")
        return done

    return app._retrying(command)


def _cover_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The cover terms asked for, each checked as an application checks it."""
    cover: dict[str, Any] = {}
    if changes.get("plan") is not None:
        plan = changes["plan"]
        if not isinstance(plan, str):
            raise InvalidInput("plan must be a string", code="unknown_plan")
        cover["plan"] = plan
    if changes.get("liability_limit") is not None:
        cover["liability_limit"] = check_int(
            changes["liability_limit"],
            "liability_limit",
            low=1,
            high=MAX_LIABILITY_LIMIT,
            code="invalid_liability_limit",
        )
    if changes.get("network_rider") is not None:
        if not isinstance(changes["network_rider"], bool):
            raise InvalidInput("network_rider must be true or false", code="invalid_network_rider")
        cover["network_rider"] = changes["network_rider"]
    if changes.get("annual_sales") is not None:
        cover["annual_sales"] = check_int(
            changes["annual_sales"], "annual_sales", high=MAX_ANNUAL_SALES, code="invalid_amount"
        )
    return cover


def rerater(scheme: Scheme, period: Period) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Re-rating with the tariff version the period recorded (and its participants' discount)."""
    tariff = scheme.tariff(period.tariff_version)

    def rerate(terms: dict[str, Any]) -> dict[str, Any]:
        plan, limit, rider = terms["plan"], terms.get("liability_limit"), terms["network_rider"]
        if plan == "E" and limit is None:
            raise InvalidInput("plan E needs a liability_limit", code="invalid_liability_limit")
        if rider and not scheme.network_rider_available:
            raise InvalidInput(f"scheme {scheme.key} offers no network rider", code="invalid_network_rider")
        scheme.check_plan(plan, limit)
        rating = rate(
            tariff,
            industry=period.basis["industry"],
            annual_sales=terms["annual_sales"],
            plan=plan,
            liability_limit=limit if plan == "E" else None,
            network_rider=rider,
            participants=period.basis.get("participants", 0),
            discount_tiers=scheme.discount_tiers,
        )
        return {
            "plan": plan,
            "liability_limit": limit if plan == "E" else None,
            "network_rider": rider,
            "annual_sales": terms["annual_sales"],
            "annual_premium": rating.annual_premium,
            "limits": scheme.limits_for(plan, limit if plan == "E" else None),
            "tariff_version": tariff.version,
        }

    return rerate


def next_debit_date(
    app: PolicyAdministration, scheme: Scheme, period: Period, now: datetime
) -> tuple[date, date]:
    """An extra premium's first debit: the period's debit day of the month, the first such day
    after the day the endorsement is recorded (Tokyo), moved to the next bank business day."""
    today = now.astimezone(TOKYO).date()
    day = period.nominal_debit_date.day
    nominal = date(today.year, today.month, 1)
    candidate = _on_day(nominal, day)
    if candidate <= today:
        candidate = _on_day(add_months(nominal, 1), day)
    return candidate, next_business_day(candidate, app.is_holiday)


def _on_day(first_of_month: date, day: int) -> date:
    last = (add_months(first_of_month, 1) - timedelta(days=1)).day
    return first_of_month.replace(day=min(day, last))


ENDORSEMENT_EVENTS = (Policy.Endorsed, Policy.EndorsementReversed, Policy.EndorsementReapplied)


def endorsements(app: PolicyAdministration, policy_id: UUID, *, as_of: datetime | None = None) -> list[Any]:
    """The policy's ``Endorsed`` events in order (what changed, when, by whom, why); with
    ``as_of``, those recorded at or before that moment (NotFound if the policy did not exist
    then, as for the policy read)."""
    return [e for e in endorsement_history(app, policy_id, as_of) if isinstance(e, Policy.Endorsed)]


def endorsement_history(
    app: PolicyAdministration, policy_id: UUID, as_of: datetime | None = None
) -> list[Any]:
    """Every endorsement event (recorded, reversed, re-applied) up to ``as_of`` (recorded time;
    NotFound if the policy did not exist then)."""
    if as_of is not None:
        app._read(Policy, policy_id, as_of)  # checks the moment; NotFound before the policy existed
        as_of = aware(as_of, "as_of")
    return [
        e
        for e in app._history(policy_id, cls=Policy)
        if isinstance(e, ENDORSEMENT_EVENTS) and (as_of is None or e.timestamp <= as_of)
    ]
