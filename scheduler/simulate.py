"""``policy-admin simulate``: schemes run through years of activity on an accelerated clock.

Applications (regular and mid-term), debits through the simulated bank (accounts
starting with 9 fail with a Zengin code), retries and lapses, claims drawn from the
seed causes with interim payments, sales declarations, non-renewals and renewals.
Deterministic for a seed: every draw comes from one ``random.Random(seed)`` and the
clock is the simulation's, starting on a fixed date.
"""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from policy_core.bank_directory import branch_codes
from policy_core.calendar import TOKYO, add_months
from policy_core.errors import Conflict, DomainError
from policy_core.scheme import load_scheme

from .clock import SettableClock
from .gateway import SimulatedBank
from .jobs import Jobs

log = logging.getLogger("scheduler.simulate")

DEFAULT_START = date(2024, 12, 1)
INDUSTRY_WEIGHTS = {
    "retail": 20,
    "restaurant": 12,
    "printing": 8,
    "construction": 10,
    "lodging": 6,
    "real_estate_leasing": 8,
    "clinic": 6,
    "rental_store": 4,
    "car_repair": 6,
    "wholesale": 6,
    "manufacturing": 8,
    "information_services": 4,
    "professional_services": 6,
    "education": 3,
    "finance_insurance": 2,
    "other": 3,
}
PLAN_WEIGHTS = {"A": 45, "B": 35, "C": 12, "D": 6, "E": 2}
CAUSE_WEIGHTS = {
    "lost_media": 18,
    "theft": 14,
    "unauthorized_access": 14,
    "malware": 10,
    "insider": 8,
    "outsourcee": 8,
    "misdelivery": 16,
    "improper_disposal": 6,
    "website": 3,
    "email": 3,
}
FAIL_CODES = "1234891"
_BANKS = ["0001", "0005", "0009", "0010", "0017", "0033", "0036", "0116", "0117"]  # real banks with branches
KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜ"


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _account(rng: random.Random, failing: bool) -> dict[str, str]:
    number = (
        f"9{rng.randrange(10**5):05d}{rng.choice(FAIL_CODES)}"
        if failing
        else f"{rng.randrange(1, 9)}{rng.randrange(10**6):06d}"
    )
    name = (
        "".join(rng.choice(KANA) for _ in range(rng.randint(3, 6)))
        + " "
        + "".join(rng.choice(KANA) for _ in range(rng.randint(2, 5)))
    )
    bank = rng.choice(_BANKS)
    return {
        "bank_code": bank,
        "branch_code": rng.choice(branch_codes(bank)),
        "account_type": rng.choice(["ordinary", "ordinary", "current"]),
        "account_number": number,
        "holder_kana": name,
    }


def _sales(rng: random.Random) -> int:
    return rng.choice([10, 15, 20, 30, 50, 80, 100, 200, 300, 500, 1000, 3000]) * 1_000_000


def _losses(rng: random.Random, cause: str, records: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"category": "incident_response", "risk": "basic", "amount": rng.randrange(100, 3000) * 1000}
    ]
    if rng.random() < 0.5:
        recipients = max(1, min(records, rng.randrange(10, 5000)))
        items.append(
            {
                "category": "condolence",
                "risk": "basic",
                "amount": recipients * rng.choice([300, 500, 1000]),
                "recipients": recipients,
            }
        )
    if rng.random() < 0.4:
        items.append({"category": "advertising", "risk": "basic", "amount": rng.randrange(5, 500) * 10_000})
    if rng.random() < 0.3:
        items.append({"category": "damages", "risk": "basic", "amount": rng.randrange(1, 2000) * 10_000})
    if cause == "outsourcee" and rng.random() < 0.5:
        items.append(
            {"category": "advertising", "risk": "recourse", "amount": rng.randrange(5, 300) * 10_000}
        )
    return items


def simulate(
    runtime: Any, *, policies: int, years: int, seed: int, start: date = DEFAULT_START, progress: bool = False
) -> dict[str, Any]:
    if policies < 0 or years < 1:
        raise ValueError("policies >= 0 and years >= 1")
    rng = random.Random(seed)
    clock = SettableClock(datetime.combine(start, time(0), tzinfo=TOKYO))
    app = runtime.app
    app.clock = clock.now  # the whole simulation runs on its own clock
    jobs = Jobs(app, runtime.read_models, runtime.projections.catch_up, SimulatedBank(), now=clock.now)
    months = years * 12
    # Spread applications over the first year; a few more join later as mid-term members.
    plan_dates: list[date] = sorted(
        add_months(start, rng.randrange(0, 12)).replace(day=rng.randint(1, 28)) for _ in range(policies)
    )
    summary: dict[str, Any] = {
        "applied": 0,
        "refused": 0,
        "claims": 0,
        "claims_denied": 0,
        "payments": 0,
        "paid": 0,
        "non_renewals": 0,
        "declarations": 0,
        "runs": 0,
        "seed": seed,
        "start": start.isoformat(),
        "years": years,
    }
    policy_ids: list[UUID] = []
    bar = None
    if progress:
        from policy_core.logs import progress_bar

        bar = progress_bar(total=months, desc="simulating", unit="month")
    member = 0
    for m in range(months):
        month_start = add_months(start, m)
        month_end = add_months(start, m + 1)
        # Applications made this month.
        while plan_dates and plan_dates[0] < month_end:
            d = plan_dates.pop(0)
            member += 1
            scheme = load_scheme(rng.choice(["jcci", "chuokai"]))
            plan = _pick(rng, PLAN_WEIGHTS)
            clock.set(max(clock.now(), datetime.combine(d, time(10), tzinfo=TOKYO)))
            try:
                pid = app.apply(
                    scheme=scheme.key,
                    member_number=f"{scheme.key.upper()}-{seed}-{member:06d}",
                    holder={"name": f"Member business {member}"},
                    industry=_pick(rng, INDUSTRY_WEIGHTS),
                    annual_sales=_sales(rng),
                    plan=plan,
                    liability_limit=rng.choice([500_000_000, 1_000_000_000]) if plan == "E" else None,
                    network_rider=rng.random() < 0.3,
                    bank_account=_account(rng, rng.random() < 0.04),
                    application_date=d,
                )
            except DomainError:
                summary["refused"] += 1
                continue
            policy_ids.append(pid)
            summary["applied"] += 1
        # Let the scheduler run through the month, a week at a time.
        t = datetime.combine(month_start, time(0), tzinfo=TOKYO)
        end = datetime.combine(month_end, time(0), tzinfo=TOKYO)
        while t < end:
            t = min(end, t + timedelta(days=7))
            clock.set(max(clock.now(), t))
            jobs.run_due(clock.now())
            summary["runs"] += 1
        # Claims, declarations and non-renewals on policies in force this month.
        for pid in policy_ids:
            r = rng.random()
            if r < 0.004:
                summary["claims"] += _claim(app, rng, pid, month_start, summary)
            elif r < 0.006:
                _declare(app, rng, pid, month_start, summary)
            elif r < 0.007:
                try:
                    if app.give_non_renewal_notice(pid, received_on=month_start):
                        summary["non_renewals"] += 1
                except Conflict:
                    pass
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    runtime.projections.catch_up()
    summary["end"] = clock.now().isoformat()
    return summary


def _claim(app: Any, rng: random.Random, pid: UUID, month_start: date, summary: dict[str, Any]) -> int:
    policy = app.get_policy(pid)
    discovered = datetime.combine(month_start + timedelta(days=rng.randrange(0, 27)), time(11), tzinfo=TOKYO)
    if policy.period_at(discovered) is None or discovered > app.clock():
        return 0
    cause = _pick(rng, CAUSE_WEIGHTS)
    records = rng.randrange(1, 20_000)
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=discovered - timedelta(days=rng.randrange(0, 60)),
        discovered_at=discovered,
        cause=cause,
        records_affected=records,
        description=f"simulated {cause} incident",
        record_if_outside_cover=True,
        own_staff_information=rng.random() < 0.02,
    )
    claim = app.get_claim(cid)
    if claim.status == "denied":
        summary["claims_denied"] += 1
        return 1
    app.assess_losses(cid, _losses(rng, cause, records))
    for _ in range(rng.choice([1, 1, 2])):
        try:
            payment = app.pay_claim(cid)
        except Conflict:
            break  # premium not collected yet, or nothing newly payable
        summary["payments"] += 1
        summary["paid"] += payment["total"]
        if rng.random() < 0.5:
            app.assess_losses(
                cid,
                [
                    {
                        "category": "legal_consultation",
                        "risk": "basic",
                        "amount": rng.randrange(10, 300) * 1000,
                    }
                ],
            )
    return 1


def _declare(app: Any, rng: random.Random, pid: UUID, month_start: date, summary: dict[str, Any]) -> None:
    try:
        app.declare_sales(pid, annual_sales=_sales(rng), declared_on=month_start)
        summary["declarations"] += 1
    except Conflict:
        pass
