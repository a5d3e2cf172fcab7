"""Claim reserves (支払備金): the handler sets the case reserve per section; payments draw it down
and closing or denying releases it (in ``claims``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from ..aggregates.claim import Claim
from .common import Actor, text

if TYPE_CHECKING:
    from ..application import PolicyAdministration


def set_reserve(
    app: PolicyAdministration,
    claim_id: UUID,
    *,
    sections: dict[str, int],
    reason: str,
    actor: Actor | None = None,
) -> bool:
    """Set the case reserve of the named sections; False when it already reads so."""
    reason = text(reason, "reason")

    def command() -> bool:
        claim = app._get(Claim, claim_id)
        if not claim.set_reserve(dict(sections) if isinstance(sections, dict) else sections, reason):
            return False
        app._save(claim, actor=actor, command="set_reserve")
        return True

    return app._retrying(command)
