"""Scheme presets: plans, settlement terms, calendar, tariffs, as validated data.

The presets are TOML files in ``policy_core/schemes/`` (TOML so that a preset can
state its choices in comments). pydantic validates them at load; the pure rule
modules receive plain dataclasses built from them.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .calendar import CalendarRules
from .errors import InvalidInput, NotFound
from .rating import DiscountTier, Tariff, tariff_by_version, tariff_in_force
from .settlement import SECTIONS, SettlementTerms

PLAN_KEYS = ("A", "B", "C", "D", "E")


class PlanLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    liability: int | None = Field(default=None, gt=0)  # None: chosen at application (plan E)
    expense: int = Field(gt=0)


class Coinsurer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str
    share_bp: int = Field(gt=0, le=10_000)  # basis points: 10000 = 100%


class SchemeContact(BaseModel):
    """Who a member writes to: printed on the documents the scheme sends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme_name: str  # the scheme's name in Japanese, as the documents print it
    office: str
    phone: str | None = None
    note: str | None = None


class Scheme(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str
    association: str
    membership: str
    deductible: int = Field(ge=0)
    expense_basic_coinsurance_percent: int = Field(gt=0, le=100)
    condolence_cap_per_person: int = Field(gt=0)
    network_rider_available: bool = True
    network_rider_inside_liability_limit: bool = True
    lapse_after_failed_debits: int = Field(default=3, ge=1)
    renewal_notice_days: int = Field(default=30, ge=0)
    plan_e_liability_floor: int = Field(gt=0)
    plans: dict[str, PlanLimits]
    calendar: CalendarRules
    discount_tiers: list[DiscountTier] = []
    coinsurers: list[Coinsurer]
    tariffs: list[Tariff]
    contact: SchemeContact | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if tuple(sorted(self.plans)) != PLAN_KEYS:
            raise ValueError(f"plans must be exactly {PLAN_KEYS}, got {sorted(self.plans)}")
        for key in PLAN_KEYS[:-1]:
            if self.plans[key].liability is None:
                raise ValueError(f"plan {key} needs a liability limit")
        if self.plans["E"].liability is not None:
            raise ValueError("plan E's liability limit is chosen at application")
        total = sum(c.share_bp for c in self.coinsurers)
        if total != 10_000:
            raise ValueError(f"co-insurer shares must sum to 100% (10000 bp), got {total} bp")
        if len({c.key for c in self.coinsurers}) != len(self.coinsurers):
            raise ValueError("co-insurer keys must be unique")
        if not self.tariffs:
            raise ValueError("a scheme needs at least one tariff version")
        versions = [t.version for t in self.tariffs]
        if len(set(versions)) != len(versions):
            raise ValueError(f"tariff versions must be unique: {versions}")
        for t in self.tariffs:
            missing = set(PLAN_KEYS) - set(t.plan_factor_permille) | set(PLAN_KEYS) - set(
                t.plan_minimum_premium
            )
            if missing:
                raise ValueError(f"tariff {t.version} lacks plans {sorted(missing)}")
        industries = [set(t.rate_per_million_sales) for t in self.tariffs]
        if any(i != industries[0] for i in industries):
            raise ValueError("every tariff version must rate the same industries")
        tiers = [t.min_participants for t in self.discount_tiers]
        if tiers != sorted(set(tiers)):
            raise ValueError("discount tiers must be in increasing order of participants")
        return self

    # --- reads used when deciding -------------------------------------------------
    @property
    def industries(self) -> list[str]:
        return sorted(self.tariffs[0].rate_per_million_sales)

    def check_plan(self, plan: str, liability_limit: int | None) -> None:
        if plan not in self.plans:
            raise InvalidInput(
                f"unknown plan {plan!r}: expected one of {', '.join(PLAN_KEYS)}", code="unknown_plan"
            )
        if plan == "E":
            if (
                liability_limit is None
                or isinstance(liability_limit, bool)
                or not isinstance(liability_limit, int)
            ):
                raise InvalidInput(
                    f"plan E needs an integer liability_limit above {self.plan_e_liability_floor:,} yen",
                    code="invalid_liability_limit",
                )
            if liability_limit <= self.plan_e_liability_floor:
                raise InvalidInput(
                    f"plan E liability_limit must be above {self.plan_e_liability_floor:,} yen,"
                    f" got {liability_limit:,}",
                    code="invalid_liability_limit",
                )
        elif liability_limit is not None and liability_limit != self.plans[plan].liability:
            raise InvalidInput(
                f"plan {plan} has a fixed liability limit of {self.plans[plan].liability:,} yen;"
                " liability_limit is only chosen for plan E",
                code="invalid_liability_limit",
            )

    def limits_for(self, plan: str, liability_limit: int | None = None) -> dict[str, int]:
        """The four section limits (each per accident and per period)."""
        self.check_plan(plan, liability_limit)
        p = self.plans[plan]
        liability = p.liability if plan != "E" else liability_limit
        assert liability is not None
        return {
            "liability_basic": liability,
            "liability_recourse": liability,
            "expense_basic": p.expense,
            "expense_recourse": p.expense,
        }

    def settlement_terms(
        self, plan: str, liability_limit: int | None, network_rider: bool
    ) -> SettlementTerms:
        return SettlementTerms(
            limits=self.limits_for(plan, liability_limit),
            deductible=self.deductible,
            expense_basic_coinsurance_percent=self.expense_basic_coinsurance_percent,
            condolence_cap_per_person=self.condolence_cap_per_person,
            network_rider=network_rider,
        )

    def tariff_in_force(self, on: date) -> Tariff:
        return tariff_in_force(self.tariffs, on)

    def tariff(self, version: str) -> Tariff:
        return tariff_by_version(self.tariffs, version)


assert SECTIONS == ("liability_basic", "liability_recourse", "expense_basic", "expense_recourse")

SCHEME_KEYS = ("jcci", "chuokai")


def parse_scheme(text: str) -> Scheme:
    return Scheme.model_validate(tomllib.loads(text))


@cache
def load_scheme(key: str) -> Scheme:
    if key not in SCHEME_KEYS:
        raise NotFound(
            f"unknown scheme {key!r}: expected one of {', '.join(SCHEME_KEYS)}", code="unknown_scheme"
        )
    text = resources.files("policy_core.schemes").joinpath(f"{key}.toml").read_text(encoding="utf-8")
    scheme = parse_scheme(text)
    if scheme.key != key:
        raise ValueError(f"preset file {key}.toml declares key {scheme.key!r}")
    return scheme


def get_scheme(key: str) -> Scheme:
    """Like load_scheme, but an unknown key is the caller's bad input (422)."""
    if not isinstance(key, str) or key not in SCHEME_KEYS:
        raise InvalidInput(
            f"unknown scheme {key!r}: expected one of {', '.join(SCHEME_KEYS)}", code="unknown_scheme"
        )
    return load_scheme(key)


def all_schemes() -> list[Scheme]:
    return [load_scheme(k) for k in SCHEME_KEYS]
