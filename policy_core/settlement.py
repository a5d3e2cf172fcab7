"""Claim settlement and coverage denial (domain.md section 4).

Everything here is a pure function of its arguments so that a settlement can be
decided once, recorded in an event (``Settlement.to_dict()``) and replayed from
that record (``Settlement.from_dict``) without ever being recomputed. Amounts are
integer yen and percentages are integer percent: no floats anywhere, so rounding
is explicit (always down to the yen, in the insurer's favour as the seed does).

Network rider: incidents caused by running a website or by e-mail are covered
only when the policy carries the rider (see ``coverage_denial``). When covered
they are paid inside the ordinary section limits, with no extra limit, so
``settle`` treats their losses exactly like any other cause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy_core.bounds import MAX_LOSS_ITEM_YEN, MAX_PEOPLE
from policy_core.errors import InvalidInput

__all__ = [
    "SECTIONS",
    "LIABILITY_CATEGORIES",
    "EXPENSE_CATEGORIES",
    "CATEGORIES",
    "CONDOLENCE",
    "RISKS",
    "CAUSES",
    "NETWORK_CAUSES",
    "LIMITED_BY_PER_ACCIDENT",
    "LIMITED_BY_PERIOD",
    "DISCOVERED_OUTSIDE_COVER",
    "POLICY_NOT_IN_FORCE",
    "EXCLUDED_OWN_STAFF_INFORMATION",
    "EXCLUDED_OUTSIDE_JAPAN",
    "NETWORK_CAUSE_WITHOUT_RIDER",
    "DENIAL_REASONS",
    "section_of",
    "SettlementTerms",
    "LossItem",
    "validate_loss_item",
    "SectionSettlement",
    "Settlement",
    "settle",
    "Denial",
    "coverage_denial",
]

SECTIONS = ("liability_basic", "liability_recourse", "expense_basic", "expense_recourse")
LIABILITY_CATEGORIES = ("damages", "defence_costs")
EXPENSE_CATEGORIES = (
    "advertising",
    "condolence",
    "legal_consultation",
    "consulting",
    "incident_response",
)
CATEGORIES = LIABILITY_CATEGORIES + EXPENSE_CATEGORIES
CONDOLENCE = "condolence"
RISKS = ("basic", "recourse")
CAUSES = (
    "lost_media",
    "theft",
    "unauthorized_access",
    "malware",
    "insider",
    "outsourcee",
    "misdelivery",
    "improper_disposal",
    "website",
    "email",
    "other",
)
NETWORK_CAUSES = frozenset({"website", "email"})

# The only section where condolence is capped per person and coinsurance applies.
_EXPENSE_BASIC = "expense_basic"

LIMITED_BY_PER_ACCIDENT = "per_accident_limit"
LIMITED_BY_PERIOD = "period_aggregate"
_LIMITED_BY = (None, LIMITED_BY_PER_ACCIDENT, LIMITED_BY_PERIOD)

DISCOVERED_OUTSIDE_COVER = "discovered_outside_cover"
POLICY_NOT_IN_FORCE = "policy_not_in_force"
EXCLUDED_OWN_STAFF_INFORMATION = "excluded_own_staff_information"
EXCLUDED_OUTSIDE_JAPAN = "excluded_outside_japan"
NETWORK_CAUSE_WITHOUT_RIDER = "network_cause_without_rider"
DENIAL_REASONS = (
    POLICY_NOT_IN_FORCE,
    DISCOVERED_OUTSIDE_COVER,
    EXCLUDED_OWN_STAFF_INFORMATION,
    EXCLUDED_OUTSIDE_JAPAN,
    NETWORK_CAUSE_WITHOUT_RIDER,
)


def _is_int(value: object) -> bool:
    """bool is an int subclass in Python; a True amount is a bug, not 1 yen."""
    return isinstance(value, int) and not isinstance(value, bool)


def _yen(amount: int) -> str:
    return f"{amount:,} yen"


def section_of(category: str, risk: str) -> str:
    """Map a loss item to the section whose limit it consumes."""
    if risk not in RISKS:
        raise InvalidInput(
            f"unknown risk {risk!r}; expected one of {', '.join(RISKS)}",
            code="unknown_risk",
        )
    if category in LIABILITY_CATEGORIES:
        return f"liability_{risk}"
    if category in EXPENSE_CATEGORIES:
        return f"expense_{risk}"
    raise InvalidInput(
        f"unknown loss category {category!r}; expected one of {', '.join(CATEGORIES)}",
        code="unknown_loss_category",
    )


# --------------------------------------------------------------------------- terms


@dataclass(frozen=True)
class SettlementTerms:
    """Settlement conditions fixed for one policy period and recorded in its events.

    Each limit is both the per-accident limit and the period aggregate of its
    section (the seed's 1事故かつ期間中).
    """

    limits: dict[str, int]
    deductible: int
    expense_basic_coinsurance_percent: int
    condolence_cap_per_person: int
    network_rider: bool

    def __post_init__(self) -> None:
        # Validated here so that a bad configuration fails when the policy is
        # set up, not halfway through paying a claim.
        if not isinstance(self.limits, Mapping) or set(self.limits) != set(SECTIONS):
            raise InvalidInput(
                f"limits must name exactly the sections {', '.join(SECTIONS)}",
                code="invalid_terms",
            )
        # A private copy, so a caller mutating its dict cannot change recorded terms.
        object.__setattr__(self, "limits", {section: self.limits[section] for section in SECTIONS})
        for section in SECTIONS:
            limit = self.limits[section]
            if not _is_int(limit) or limit < 0:
                raise InvalidInput(
                    f"limit for {section} must be a non-negative integer number of yen, got {limit!r}",
                    code="invalid_terms",
                )
        for name in ("deductible", "condolence_cap_per_person"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise InvalidInput(
                    f"{name} must be a non-negative integer number of yen, got {value!r}",
                    code="invalid_terms",
                )
        pct = self.expense_basic_coinsurance_percent
        if not _is_int(pct) or not 0 <= pct <= 100:
            raise InvalidInput(
                f"expense_basic_coinsurance_percent must be an integer from 0 to 100, got {pct!r}",
                code="invalid_terms",
            )
        if not isinstance(self.network_rider, bool):
            raise InvalidInput(
                f"network_rider must be true or false, got {self.network_rider!r}",
                code="invalid_terms",
            )


# --------------------------------------------------------------------------- losses


@dataclass(frozen=True, slots=True)
class LossItem:
    """One assessed loss; validated on construction so no invalid item can reach settle()."""

    category: str
    risk: str
    amount: int
    recipients: int | None = None

    def __post_init__(self) -> None:
        section_of(self.category, self.risk)
        if not _is_int(self.amount):
            raise InvalidInput(
                f"amount must be an integer number of yen, got {self.amount!r}",
                code="invalid_amount",
            )
        if self.amount < 0:
            raise InvalidInput(
                f"amount must not be negative, got {self.amount:,}",
                code="invalid_amount",
            )
        if self.amount > MAX_LOSS_ITEM_YEN:
            raise InvalidInput(
                f"amount must be at most {MAX_LOSS_ITEM_YEN:,} yen per item, got {self.amount:,}",
                code="invalid_amount",
            )
        if self.category == CONDOLENCE:
            if self.recipients is None:
                raise InvalidInput(
                    "condolence items need the number of individuals who received them",
                    code="invalid_recipients",
                )
            if not _is_int(self.recipients) or not 1 <= self.recipients <= MAX_PEOPLE:
                raise InvalidInput(
                    f"recipients must be a whole number from 1 to {MAX_PEOPLE:,}, got {self.recipients!r}",
                    code="invalid_recipients",
                )
        elif self.recipients is not None:
            raise InvalidInput(
                f"recipients only apply to condolence items, not {self.category!r}",
                code="invalid_recipients",
            )

    @property
    def section(self) -> str:
        return section_of(self.category, self.risk)


def validate_loss_item(category: Any, risk: Any, amount: Any, recipients: Any = None) -> LossItem:
    """Build a LossItem from untrusted input, raising InvalidInput with a stable code.

    Codes: unknown_loss_category, unknown_risk, invalid_amount, invalid_recipients.
    Condolence is an expense item and may be recorded under either risk; the
    500-yen-per-person cap is applied in expense_basic only, as domain.md says.
    """
    return LossItem(category=category, risk=risk, amount=amount, recipients=recipients)


# --------------------------------------------------------------------------- results


_SECTION_INT_FIELDS = (
    "gross_loss",
    "condolence_cap_reduction",
    "eligible",
    "deductible",
    "after_deductible",
    "coinsurance_percent",
    "coinsurance_reduction",
    "payable_for_accident",
    "accident_limit",
    "previously_paid_on_claim",
    "accident_limit_remaining",
    "period_limit_remaining",
    "paid",
)


@dataclass(frozen=True)
class SectionSettlement:
    """How one section's payment was reached, kept whole so an auditor can follow it.

    ``steps`` is the explanation as recorded at decision time; replay restores it
    verbatim rather than regenerating it with possibly newer wording.
    """

    section: str
    gross_loss: int
    condolence_cap_reduction: int
    eligible: int
    deductible: int
    after_deductible: int
    coinsurance_percent: int
    coinsurance_reduction: int
    payable_for_accident: int
    accident_limit: int
    previously_paid_on_claim: int
    accident_limit_remaining: int
    period_limit_remaining: int
    paid: int
    limited_by: str | None
    steps: tuple[str, ...] = field(default=())

    @property
    def after_coinsurance(self) -> int:
        return self.after_deductible - self.coinsurance_reduction

    def explain(self) -> list[str]:
        return list(self.steps)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"section": self.section}
        for name in _SECTION_INT_FIELDS:
            data[name] = getattr(self, name)
        data["limited_by"] = self.limited_by
        data["steps"] = list(self.steps)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SectionSettlement:
        try:
            section = data["section"]
            ints = {name: data[name] for name in _SECTION_INT_FIELDS}
            limited_by = data["limited_by"]
            steps = data["steps"]
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"settlement record is missing {exc}", code="invalid_settlement_record"
            ) from None
        if section not in SECTIONS:
            raise InvalidInput(
                f"settlement record names unknown section {section!r}",
                code="invalid_settlement_record",
            )
        for name, value in ints.items():
            if not _is_int(value):
                raise InvalidInput(
                    f"settlement record field {section}.{name} must be an integer, got {value!r}",
                    code="invalid_settlement_record",
                )
        if limited_by not in _LIMITED_BY:
            raise InvalidInput(
                f"settlement record has unknown limited_by {limited_by!r}",
                code="invalid_settlement_record",
            )
        if not isinstance(steps, (list, tuple)) or not all(isinstance(s, str) for s in steps):
            raise InvalidInput(
                f"settlement record steps for {section} must be a list of strings",
                code="invalid_settlement_record",
            )
        return cls(section=section, limited_by=limited_by, steps=tuple(steps), **ints)


@dataclass(frozen=True)
class Settlement:
    """The decision for one payment on one claim: what each section pays now."""

    sections: dict[str, SectionSettlement]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "sections": {key: self.sections[key].to_dict() for key in SECTIONS},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settlement:
        """Rebuild a recorded decision exactly; nothing is recomputed."""
        try:
            total = data["total"]
            raw_sections = data["sections"]
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"settlement record is missing {exc}", code="invalid_settlement_record"
            ) from None
        if not isinstance(raw_sections, Mapping) or set(raw_sections) != set(SECTIONS):
            raise InvalidInput(
                f"settlement record must hold exactly the sections {', '.join(SECTIONS)}",
                code="invalid_settlement_record",
            )
        sections = {key: SectionSettlement.from_dict(raw_sections[key]) for key in SECTIONS}
        for key, sec in sections.items():
            if sec.section != key:
                raise InvalidInput(
                    f"settlement record section {key!r} holds data for {sec.section!r}",
                    code="invalid_settlement_record",
                )
        if not _is_int(total) or total != sum(s.paid for s in sections.values()):
            raise InvalidInput(
                f"settlement record total {total!r} does not equal the sum of section payments",
                code="invalid_settlement_record",
            )
        return cls(sections=sections, total=total)


# --------------------------------------------------------------------------- settle


def _paid_map(name: str, paid: Mapping[str, int]) -> dict[str, int]:
    """Missing sections mean nothing paid yet; anything else odd is a caller bug."""
    unknown = set(paid) - set(SECTIONS)
    if unknown:
        raise InvalidInput(
            f"{name} names unknown sections: {', '.join(sorted(map(str, unknown)))}",
            code="unknown_section",
        )
    result = {}
    for section in SECTIONS:
        value = paid.get(section, 0)
        if not _is_int(value) or value < 0:
            raise InvalidInput(
                f"{name}[{section}] must be a non-negative integer number of yen, got {value!r}",
                code="invalid_amount",
            )
        result[section] = value
    return result


def _settle_section(
    terms: SettlementTerms,
    section: str,
    items: list[LossItem],
    previously_paid: int,
    period_paid: int,
) -> SectionSettlement:
    steps: list[str] = []
    gross = sum(item.amount for item in items)
    steps.append(f"gross loss: {_yen(gross)} from {len(items)} item(s)")

    reduction = 0
    if section == _EXPENSE_BASIC:
        for item in items:
            if item.category == CONDOLENCE:
                assert item.recipients is not None  # guaranteed by LossItem
                allowed = min(item.amount, terms.condolence_cap_per_person * item.recipients)
                reduction += item.amount - allowed
        if reduction or any(item.category == CONDOLENCE for item in items):
            steps.append(
                f"condolence capped at {_yen(terms.condolence_cap_per_person)} per recipient: "
                f"-{_yen(reduction)}"
            )
    eligible = gross - reduction
    steps.append(f"eligible loss: {_yen(eligible)}")

    deductible = min(terms.deductible, eligible) if eligible > 0 else 0
    after_deductible = eligible - deductible
    if eligible > 0:
        steps.append(
            f"deductible (once per accident in this section): -{_yen(deductible)} -> {_yen(after_deductible)}"
        )
    else:
        steps.append("no loss in this section: no deductible")

    pct = terms.expense_basic_coinsurance_percent if section == _EXPENSE_BASIC else 100
    after_coinsurance = after_deductible * pct // 100
    coinsurance_reduction = after_deductible - after_coinsurance
    if pct != 100:
        steps.append(
            f"coinsurance: pay {pct}% rounded down to the yen: -{_yen(coinsurance_reduction)} "
            f"-> {_yen(after_coinsurance)}"
        )

    payable = after_coinsurance
    steps.append(f"payable for this accident so far (all payments): {_yen(payable)}")

    limit = terms.limits[section]
    accident_remaining = max(0, limit - previously_paid)
    cumulative_allowed = min(payable, limit)
    uncapped_due = max(0, payable - previously_paid)
    due = max(0, cumulative_allowed - previously_paid)
    steps.append(
        f"per-accident limit {_yen(limit)}, already paid on this claim "
        f"{_yen(previously_paid)}: {_yen(accident_remaining)} left for this accident"
    )
    if due < uncapped_due:
        steps.append(f"per-accident limit binds: due now {_yen(due)} instead of {_yen(uncapped_due)}")
    else:
        steps.append(f"due now: {_yen(due)}")

    period_remaining = max(0, limit - period_paid)
    paid = min(due, period_remaining)
    steps.append(
        f"period aggregate {_yen(limit)}, already paid in the period {_yen(period_paid)}: "
        f"{_yen(period_remaining)} left"
    )

    if paid < due:
        limited_by: str | None = LIMITED_BY_PERIOD
        steps.append(f"period aggregate limit binds: paid {_yen(paid)} instead of {_yen(due)}")
    elif due < uncapped_due:
        limited_by = LIMITED_BY_PER_ACCIDENT
    else:
        limited_by = None
    if limited_by is None:
        steps.append(f"paid now: {_yen(paid)} (no limit binds)")
    else:
        label = "per-accident limit" if limited_by == LIMITED_BY_PER_ACCIDENT else "period aggregate limit"
        steps.append(f"paid now: {_yen(paid)} (limited by the {label})")

    return SectionSettlement(
        section=section,
        gross_loss=gross,
        condolence_cap_reduction=reduction,
        eligible=eligible,
        deductible=deductible,
        after_deductible=after_deductible,
        coinsurance_percent=pct,
        coinsurance_reduction=coinsurance_reduction,
        payable_for_accident=payable,
        accident_limit=limit,
        previously_paid_on_claim=previously_paid,
        accident_limit_remaining=accident_remaining,
        period_limit_remaining=period_remaining,
        paid=paid,
        limited_by=limited_by,
        steps=tuple(steps),
    )


def settle(
    terms: SettlementTerms,
    losses: Sequence[LossItem],
    paid_on_claim: Mapping[str, int],
    period_paid: Mapping[str, int],
) -> Settlement:
    """Decide what one claim receives now.

    ``losses`` are cumulative (everything assessed on the claim so far), so the
    deductible and coinsurance are applied to the whole accident once, and an
    interim payment pays only the increment over ``paid_on_claim``. The sum of
    all payments on a claim therefore equals one payment of everything, unless
    the period aggregate intervenes. ``period_paid`` must include this claim's
    earlier payments; a section missing from either mapping counts as 0.

    Safety against two payments racing is the caller's job: compute against the
    latest recorded ``period_paid`` and record with an optimistic version check.
    """
    if not isinstance(terms, SettlementTerms):
        raise InvalidInput("terms must be SettlementTerms", code="invalid_terms")
    on_claim = _paid_map("paid_on_claim", paid_on_claim)
    in_period = _paid_map("period_paid", period_paid)
    for section in SECTIONS:
        if on_claim[section] > in_period[section]:
            raise InvalidInput(
                f"paid_on_claim[{section}] ({_yen(on_claim[section])}) exceeds period_paid "
                f"({_yen(in_period[section])}), which must include this claim",
                code="inconsistent_paid",
            )

    by_section: dict[str, list[LossItem]] = {section: [] for section in SECTIONS}
    for item in losses:
        if not isinstance(item, LossItem):
            raise InvalidInput(
                f"losses must be LossItem values, got {type(item).__name__}",
                code="invalid_loss_item",
            )
        by_section[item.section].append(item)

    sections = {
        section: _settle_section(terms, section, by_section[section], on_claim[section], in_period[section])
        for section in SECTIONS
    }
    return Settlement(sections=sections, total=sum(s.paid for s in sections.values()))


# --------------------------------------------------------------------------- denials


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str
    message: str


def coverage_denial(
    *,
    cause: str,
    network_rider: bool,
    discovered_in_cover: bool,
    policy_in_force: bool,
    own_staff_information: bool = False,
    outside_japan: bool = False,
) -> Denial | None:
    """Return why a claim is not covered, or None when it is.

    Checked in a fixed order so the stated reason is stable: the policy's state
    first, then timing, then excluded information, then the network rider.
    Covered network-cause claims need nothing special later: they are paid
    inside the ordinary section limits.
    """
    if cause not in CAUSES:
        raise InvalidInput(
            f"unknown cause {cause!r}; expected one of {', '.join(CAUSES)}",
            code="unknown_cause",
        )
    flags = {
        "network_rider": network_rider,
        "discovered_in_cover": discovered_in_cover,
        "policy_in_force": policy_in_force,
        "own_staff_information": own_staff_information,
        "outside_japan": outside_japan,
    }
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false, got {value!r}", code="invalid_flag")

    if not policy_in_force:
        return Denial(POLICY_NOT_IN_FORCE, "The policy was not in force for this incident.")
    if not discovered_in_cover:
        return Denial(
            DISCOVERED_OUTSIDE_COVER,
            "The incident was discovered outside the coverage period.",
        )
    if own_staff_information:
        return Denial(
            EXCLUDED_OWN_STAFF_INFORMATION,
            "Information about the insured's own officers and employees is not covered.",
        )
    if outside_japan:
        return Denial(
            EXCLUDED_OUTSIDE_JAPAN,
            "Information not located in Japan is not covered.",
        )
    if cause in NETWORK_CAUSES and not network_rider:
        return Denial(
            NETWORK_CAUSE_WITHOUT_RIDER,
            f"Incidents caused by {'a website' if cause == 'website' else 'e-mail'} are covered "
            "only with the network rider, which this policy does not carry.",
        )
    return None
