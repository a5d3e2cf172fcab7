"""The member-register backfill on real PostgreSQL: a store written by a build from before member
registers has policies no register knows, so the overlap rule (``member_already_insured``) could
not see them; ``policy-admin registers backfill`` enters them (``MemberRegister.PolicyEntered``
events), idempotently, and the rule then refuses an overlapping application (recording nothing)."""

from __future__ import annotations

import json
import tempfile
from datetime import date

import pytest

from policy_core.aggregates.policy import Policy
from policy_core.aggregates.register import MemberRegister
from policy_core.errors import Conflict
from policy_core.usecases.registers import applied_policy_ids, get_or_none
from tests.conftest import BANK
from tests.integration.test_numbers_and_register import _apply

pytestmark = pytest.mark.postgres


def pre_register_policy(app, member: str, application_date: date = date(2026, 1, 10)):
    """A policy as a build before member registers and numbers wrote it: the ``Applied`` event
    alone (no number), no register, no number series."""
    decision = app.quote(
        scheme="chuokai",
        industry="printing",
        annual_sales=200_000_000,
        plan="A",
        liability_limit=None,
        network_rider=False,
        application_date=application_date,
        enrollment=None,
    )
    policy = Policy(
        id=Policy.id_for("chuokai", member, decision.term.start),
        scheme="chuokai",
        member_number=member,
        holder={"name": "旧システム株式会社"},
        industry="printing",
        annual_sales=200_000_000,
        plan="A",
        liability_limit=None,
        network_rider=False,
        bank_account=dict(BANK),
        application_date=application_date,
        enrollment=decision.term.enrollment,
        period=decision.facts(),
    )
    app._save(policy, actor=None, command="apply")
    return policy.id


def register_of(app, member: str):
    return get_or_none(app, MemberRegister, MemberRegister.id_for("chuokai", member))


def test_backfill_lets_the_overlap_rule_see_pre_register_policies(runtime, database, monkeypatch, capsys):
    app = runtime.app
    old = pre_register_policy(app, "OLD-1")
    older = pre_register_policy(app, "OLD-2")
    assert app.get_policy(old).number is None and register_of(app, "OLD-1") is None
    current = _apply(app, "NEW-1")  # applied by this build: its register exists already
    assert [e["policy_id"] for e in register_of(app, "NEW-1").policies] == [current]

    from policy_core.cli import main

    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", tempfile.mkdtemp())
    assert main(["registers", "backfill"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done == {"policies": 3, "members": 3, "registers_changed": 2, "entered": 2}
    register = register_of(app, "OLD-1")
    start = app.get_policy(old).periods[0].start
    assert register.policies == [{"policy_id": old, "cover_start": start}]
    assert [e["policy_id"] for e in register_of(app, "OLD-2").policies] == [older]
    entered = [e for e in app.history(register.id) if isinstance(e, MemberRegister.PolicyEntered)]
    assert len(entered) == 1 and entered[0].metadata["command"] == "backfill_member_registers"
    assert entered[0].metadata["actor"]["role"] == "system"
    assert len(register_of(app, "NEW-1").policies) == 1  # left alone

    # Idempotent: a second run records nothing.
    versions = {m: register_of(app, m).version for m in ("OLD-1", "OLD-2", "NEW-1")}
    assert app.backfill_member_registers() == {
        "policies": 3,
        "members": 3,
        "registers_changed": 0,
        "entered": 0,
    }
    assert {m: register_of(app, m).version for m in versions} == versions

    # The overlap rule now sees the old policy: an application overlapping it is refused, nothing
    # recorded (no policy, the register unchanged).
    with pytest.raises(Conflict) as err:
        _apply(app, "OLD-1", application_date=date(2026, 5, 10))
    assert err.value.code == "member_already_insured"
    assert register_of(app, "OLD-1").version == versions["OLD-1"]
    assert len(applied_policy_ids(app)) == 3
