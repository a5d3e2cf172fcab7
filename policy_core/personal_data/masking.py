"""Masking for command-line output and exports: no personal value leaves in plain text."""

from __future__ import annotations

from typing import Any

from .crypto import ERASED


def mask_holder(holder: Any) -> Any:
    if not isinstance(holder, dict) or holder.get("erased") is True:
        return holder
    return {k: ("***" if isinstance(v, str) and v else v) for k, v in holder.items()}


def mask_account(account: Any) -> Any:
    if not isinstance(account, dict) or account.get("erased") is True:
        return account
    from ..bank import BankAccount

    try:
        return BankAccount.from_dict(account).masked()
    except Exception:  # noqa: BLE001 - an odd old shape: show nothing of it
        return {"masked": True}


def mask_description(text: Any) -> Any:
    if not isinstance(text, str) or text == ERASED:
        return text
    return f"[{len(text)} characters, personal: not shown]"


def mask_personal(data: dict[str, Any]) -> dict[str, Any]:
    """An event's (or snapshot state's) fields with ``holder``, ``bank_account`` and
    ``description`` masked."""
    out = dict(data)
    if "holder" in out:
        out["holder"] = mask_holder(out["holder"])
    if "bank_account" in out:
        out["bank_account"] = mask_account(out["bank_account"])
    if "description" in out:
        out["description"] = mask_description(out["description"])
    if isinstance(out.get("state"), dict):
        out["state"] = mask_personal(out["state"])
    return out
