from __future__ import annotations

import stat

import pytest

from api.auth import load_or_create_keys, parse_keys


def test_keys_are_made_once_with_owner_only_permissions(tmp_path, capsys):
    keys, path = load_or_create_keys(tmp_path)
    assert sorted(k.role for k in keys.values()) == ["auditor", "dashboard", "operator"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert str(path) in out and not any(k in out for k in keys)  # says where, never the keys
    again, _ = load_or_create_keys(tmp_path)
    assert again.keys() == keys.keys()


def test_parse_keys_and_key_ids():
    keys = parse_keys("operator:abcdefgh12,auditor:zyxwvuts98")
    assert {k.role for k in keys.values()} == {"operator", "auditor"}
    key = keys["abcdefgh12"]
    assert key.key_id.startswith("key_") and "abcdefgh12" not in key.key_id
    for bad in ("boss:abcdefgh12", "operator:short", "operatorabcdefgh12"):
        with pytest.raises(ValueError):
            parse_keys(bad)
