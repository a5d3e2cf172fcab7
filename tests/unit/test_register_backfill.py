"""The member-register backfill in memory: every policy applied before registers existed is
entered once (paged reading of the applications), a second run records nothing, and the overlap
rule then refuses an overlapping application of the same member."""

from __future__ import annotations

from datetime import date

import pytest

from policy_core.aggregates.register import MemberRegister
from policy_core.errors import Conflict
from policy_core.usecases.registers import applied_policy_ids, get_or_none
from tests.integration.test_numbers_and_register import _apply
from tests.integration.test_register_backfill import pre_register_policy
from tests.unit.test_model import make_app


def test_backfill_in_pages_is_idempotent_and_arms_the_overlap_rule() -> None:
    app = make_app()
    old = [pre_register_policy(app, f"OLD-{i}") for i in range(3)]
    new = _apply(app, "NEW-1")
    assert applied_policy_ids(app, page=2) == [*old, new]
    assert app.backfill_member_registers(page=2) == {
        "policies": 4,
        "members": 4,
        "registers_changed": 3,
        "entered": 3,
    }
    for i, pid in enumerate(old):
        register = get_or_none(app, MemberRegister, MemberRegister.id_for("chuokai", f"OLD-{i}"))
        assert register is not None and [e["policy_id"] for e in register.policies] == [pid]
    assert app.backfill_member_registers(page=2)["entered"] == 0
    with pytest.raises(Conflict) as err:
        _apply(app, "OLD-0", application_date=date(2026, 5, 10))
    assert err.value.code == "member_already_insured"
