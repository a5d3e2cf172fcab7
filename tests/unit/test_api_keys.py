from __future__ import annotations

import base64
import hashlib
import inspect
import stat

import pytest

from api import auth
from api.auth import caller, find_key, load_or_create_keys, load_or_create_secret, parse_keys

OP = "operator:" + "a" * 24
AU = "auditor:" + "z" * 30


def test_keys_are_made_once_with_owner_only_permissions(tmp_path, capsys):
    keys, path = load_or_create_keys(tmp_path)
    assert sorted(k.role for k in keys.values()) == ["auditor", "dashboard", "operator"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert str(path) in out and not any(k in out for k in keys)  # says where, never the keys
    again, _ = load_or_create_keys(tmp_path)
    assert again.keys() == keys.keys()
    # 32 random bytes each (urlsafe base64 without padding)
    assert all(len(base64.urlsafe_b64decode(k + "=")) == 32 for k in keys)
    # the key-id secret lives beside the keys, owner-only, and the ids are stable across loads
    secret_file = tmp_path / auth.SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert [k.key_id for k in again.values()] == [k.key_id for k in keys.values()]


def test_parse_keys_and_key_ids():
    keys = parse_keys(f"{OP},{AU}", b"s" * 32)
    assert {k.role for k in keys.values()} == {"operator", "auditor"}
    key = keys["a" * 24]
    assert key.key_id.startswith("key_") and "a" * 24 not in key.key_id
    for bad in ("boss:" + "a" * 24, "operator:short", "operator:" + "b" * 23, "operator" + "a" * 30):
        with pytest.raises(ValueError):
            parse_keys(bad)


def test_key_ids_are_keyed_hashes_not_guessable_offline(tmp_path):
    """Defect 8: the id was sha256(key)[:12], unsalted: a short key could be found from it."""
    key = parse_keys(OP, b"server-secret" * 3)["a" * 24]
    assert key.key_id != "key_" + hashlib.sha256(key.key.encode()).hexdigest()[:12]
    assert key.key_id[4:] not in hashlib.sha256(key.key.encode()).hexdigest()
    other_server = parse_keys(OP, b"another-secret" * 3)["a" * 24]
    assert other_server.key_id != key.key_id  # depends on the server's secret
    assert load_or_create_secret(tmp_path, "x" * 32) == b"x" * 32


def test_keys_are_found_in_constant_time_and_the_scheme_is_case_insensitive():
    keys = parse_keys(f"{OP},{AU}")
    assert find_key(keys, "a" * 24).role == "operator"
    assert find_key(keys, "a" * 23) is None and find_key(keys, "") is None
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert caller(keys, f"{scheme} {'z' * 30}").role == "auditor"
    assert caller(keys, "Basic " + "z" * 30) is None
    source = inspect.getsource(find_key)
    assert "compare_digest" in source and ".get(" not in source
