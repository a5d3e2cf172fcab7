"""The Zengin gateway's collector (委託者) comes from settings, never from illustrative defaults:
start-up refuses the gateway without them, in one line (#10)."""

from __future__ import annotations

import pytest

from policy_core.cli import main
from policy_core.settings import Settings, SettingsError
from scheduler.zengin_gateway import collector_from_settings
from tests.conftest import ZENGIN_COLLECTOR


def test_every_missing_setting_is_named() -> None:
    with pytest.raises(SettingsError) as err:
        collector_from_settings(Settings(POLICY_COLLECTION_GATEWAY="zengin"))
    message = str(err.value)
    for name in (
        "POLICY_ZENGIN_COLLECTOR_CODE",
        "POLICY_ZENGIN_COLLECTOR_NAME",
        "POLICY_ZENGIN_COLLECTOR_ACCOUNT",
    ):
        assert f"{name} is not set" in message


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("POLICY_ZENGIN_COLLECTOR_CODE", "12345", "must be 10 digits"),
        ("POLICY_ZENGIN_COLLECTOR_CODE", "１２３４５６７８９０", "must be 10 digits"),
        ("POLICY_ZENGIN_COLLECTOR_NAME", "個人情報保険", "outside the Zengin set"),
        ("POLICY_ZENGIN_COLLECTOR_NAME", "ｱ" * 41, "the field holds 40"),
        ("POLICY_ZENGIN_COLLECTOR_ACCOUNT", "0001-001-1234567", "bank-branch-type-number"),
        ("POLICY_ZENGIN_COLLECTOR_ACCOUNT", "9999-001-ordinary-1234567", "not a Japanese bank code"),
        ("POLICY_ZENGIN_COLLECTOR_ACCOUNT", "0001-999-ordinary-1234567", "not a branch of 0001"),
        ("POLICY_ZENGIN_COLLECTOR_ACCOUNT", "0001-001-savings-1234567", "ordinary or current"),
        ("POLICY_ZENGIN_COLLECTOR_ACCOUNT", "0001-001-ordinary-123", "7 digits"),
    ],
)
def test_invalid_values_are_refused(setting: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError, match=said):
        collector_from_settings(Settings(**{**ZENGIN_COLLECTOR, setting: value}))


def test_the_collector_from_settings_with_the_directory_names() -> None:
    c = collector_from_settings(Settings(**{**ZENGIN_COLLECTOR, "POLICY_ZENGIN_COLLECTOR_NAME": "ｺｼﾞﾝ ｼﾞﾖｳﾎｳ"}))
    assert (c.collector_code, c.collector_name_kana) == ("1234567890", "ｺｼﾞﾝ ｼﾞﾖｳﾎｳ")
    assert (c.bank_code, c.bank_name_kana, c.branch_code, c.branch_name_kana) == (
        "0001",
        "ﾐｽﾞﾎ",
        "001",
        "ﾄｳｷﾖｳ",
    )
    assert (c.account_type, c.account_number) == ("ordinary", "1234567")


def test_start_up_refuses_the_zengin_gateway_without_its_collector(monkeypatch, capsys) -> None:
    # refused before the database is opened (an unreachable one here: nothing is tried)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("POLICY_COLLECTION_GATEWAY", "zengin")
    for name in ZENGIN_COLLECTOR:
        monkeypatch.delenv(name, raising=False)
    assert main(["run-due", "--as-of", "now"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert len(err) == 1 and err[0].startswith("policy-admin: the Zengin gateway needs its collector")
    monkeypatch.setenv("POLICY_COLLECTION_GATEWAY", "simulated")  # the simulated bank needs none
    from policy_core.bootstrap import bootstrap

    with pytest.raises(SettingsError):
        bootstrap(Settings(POLICY_COLLECTION_GATEWAY="zengin"))
