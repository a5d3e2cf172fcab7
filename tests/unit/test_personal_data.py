"""Per-subject envelopes, the vault, the mapper at the persistence boundary (in-memory store)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from cryptography.exceptions import InvalidTag

from policy_core.application import PolicyAdministration
from policy_core.personal_data import crypto
from policy_core.personal_data.keys import (
    SYSTEM_BLIND_INDEX,
    LocalMasterKey,
    MasterKeyError,
    MemoryKeyStore,
    Vault,
)
from policy_core.personal_data.mapper import PersonalDataError
from tests.unit.test_model import apply_kwargs, make_app

NAME = "電子太郎商会"


def test_envelope_round_trip_and_binding():
    key = bytes(range(32))
    env = crypto.seal(key, "kid-1", "holder", {"name": NAME})
    assert crypto.is_envelope(env)
    assert NAME not in str(env)
    assert crypto.open_envelope(key, "holder", env) == {"name": NAME}
    with pytest.raises(InvalidTag):  # moved to another field: does not open
        crypto.open_envelope(key, "description", env)
    tampered = dict(env, kid="kid-2")
    with pytest.raises(InvalidTag):
        crypto.open_envelope(key, "holder", tampered)
    # random nonces for events, the same envelope for the same value when deterministic
    assert crypto.seal(key, "k", "f", "x") != crypto.seal(key, "k", "f", "x")
    assert crypto.seal(key, "k", "f", "x", deterministic=True) == crypto.seal(
        key, "k", "f", "x", deterministic=True
    )
    assert crypto.seal(key, "k", "f", "x", deterministic=True) != crypto.seal(
        key, "k", "f", "y", deterministic=True
    )


def test_blind_index_normalises_width_case_and_spaces():
    key = b"k" * 32
    assert crypto.blind_index(key, "ＡＢＣ 商会") == crypto.blind_index(key, "abc商会")
    assert crypto.blind_index(key, "abc商会") != crypto.blind_index(b"j" * 32, "abc商会")
    assert crypto.blind_index(key, "abc商会") != crypto.blind_index(key, "abd商会")


def test_subject_id_is_stable_per_member_in_scheme():
    assert crypto.subject_id("jcci", "M-1") == crypto.subject_id("jcci", "M-1")
    assert crypto.subject_id("jcci", "M-1") != crypto.subject_id("chuokai", "M-1")


def test_master_key_validation():
    with pytest.raises(MasterKeyError, match="base64"):
        LocalMasterKey.from_base64("not base64!!")
    with pytest.raises(MasterKeyError, match="32 bytes"):
        LocalMasterKey.from_base64(base64.b64encode(b"short").decode())
    key = LocalMasterKey.from_base64(LocalMasterKey.generate_base64())
    assert "local:" in repr(key) and key.unwrap(key.wrap(b"secret")) == b"secret"


def test_vault_refuses_a_different_master_key():
    store = MemoryKeyStore()
    Vault(LocalMasterKey(b"a" * 32), store).check()
    with pytest.raises(MasterKeyError, match="refusing to start"):
        Vault(LocalMasterKey(b"b" * 32), store).check()


def test_vault_keys_destroy_and_rotate():
    store = MemoryKeyStore()
    vault = Vault(LocalMasterKey(b"a" * 32), store)
    vault.check()
    subject = crypto.subject_id("jcci", "M-9")
    kid, key = vault.key_for_subject(subject)
    assert vault.key_for_subject(subject) == (kid, key)
    assert vault.key(kid) == key
    index_key = vault.system_key(SYSTEM_BLIND_INDEX)
    assert vault.rotate(LocalMasterKey(b"c" * 32)) == 2
    # after rotation: a fresh vault with the new master reads the same keys, the old master is refused
    fresh = Vault(LocalMasterKey(b"c" * 32), store)
    fresh.check()
    assert fresh.key(kid) == key and fresh.system_key(SYSTEM_BLIND_INDEX) == index_key
    with pytest.raises(MasterKeyError):
        Vault(LocalMasterKey(b"a" * 32), store).check()
    assert fresh.destroy(subject) == [kid]
    assert fresh.key(kid) is None
    with pytest.raises(ValueError):
        fresh.destroy(SYSTEM_BLIND_INDEX)


def _stored_states(app: PolicyAdministration) -> list[bytes]:
    return [n.state for n in app.recorder.select_notifications(start=1, limit=1000)]


def test_stored_events_hold_no_plain_personal_values_and_read_back():
    app = make_app()
    kwargs = apply_kwargs(holder={"name": NAME, "email": "taro@example.jp", "phone": "03-9999-0001"})
    kwargs["bank_account"] = dict(kwargs["bank_account"], account_number="7654321", holder_kana="ﾃﾞﾝｼ ﾀﾛｳ")
    pid = app.apply(**kwargs)
    stored = b"".join(_stored_states(app))
    for value in (NAME, "taro@example.jp", "03-9999-0001", "7654321", "ﾃﾞﾝｼ ﾀﾛｳ"):
        assert value.encode() not in stored
        assert value.encode("unicode_escape") not in stored
    assert b"__pii__" in stored and b"M-0001" in stored  # business facts stay readable
    policy = app.get_policy(pid)
    assert policy.holder["name"] == NAME and policy.bank_account["account_number"] == "7654321"
    assert app.history(pid)[0].holder["email"] == "taro@example.jp"


def test_claim_description_sealed_under_the_members_key_and_erased_with_it():
    app = make_app()
    pid = app.apply(**apply_kwargs())
    at = datetime(2028, 6, 1, 3, tzinfo=UTC)
    cid = app.report_incident(
        policy_id=pid, occurred_at=at, discovered_at=at, cause="lost_media", records_affected=3,
        description="佐藤花子さんの名簿を紛失", record_if_outside_cover=True,
    )  # fmt: skip
    assert "佐藤花子".encode("unicode_escape") not in b"".join(_stored_states(app))
    assert app.get_claim(cid).description == "佐藤花子さんの名簿を紛失"
    subject = crypto.subject_id("chuokai", "M-0001")
    app.vault.destroy(subject)
    assert app.get_claim(cid).description == crypto.ERASED
    policy = app.get_policy(pid)
    assert policy.holder == {"name": crypto.ERASED, "erased": True}
    assert policy.bank_account == {"erased": True}
    assert policy.current_period.premium > 0  # business facts unchanged


def test_personal_fields_without_a_known_subject_are_refused():
    app = make_app()
    from policy_core.aggregates.claim import Claim

    at = datetime(2028, 6, 1, tzinfo=UTC)
    claim = Claim(
        id=uuid4(), policy_id=uuid4(), period_number=None, occurred_at=at, discovered_at=at,
        cause="lost_media",
        records_affected=1, description="someone", own_staff_information=False, outside_japan=False,
    )  # fmt: skip
    with pytest.raises(PersonalDataError):
        app.save(claim)
    assert _stored_states(app) == []


def test_access_log_keeps_the_path_without_the_query():
    import logging

    from policy_core.logs import AccessLogWithoutQuery

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/policies?holder_name=%E5%B1%B1%E7%94%B0", "1.1", 200), None,
    )  # fmt: skip
    assert AccessLogWithoutQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/v1/policies HTTP/1.1" 200'


def test_masking_for_cli_output():
    from policy_core.personal_data.masking import mask_personal

    out = mask_personal(
        {
            "holder": {"name": NAME, "email": "a@b.jp"},
            "bank_account": {
                "bank_code": "0001", "branch_code": "001", "account_type": "ordinary",
                "account_number": "7654321", "holder_kana": "ﾃﾞﾝｼ",
            },
            "description": "佐藤花子",
            "member_number": "M-1",
        }
    )  # fmt: skip
    assert (
        NAME not in str(out)
        and "7654321" not in str(out)
        and "佐藤" not in str(out)
        and "ﾃﾞﾝｼ" not in str(out)
    )
    assert out["member_number"] == "M-1" and out["bank_account"]["account_number_masked"].endswith("321")


def test_vault_preload_fetches_many_keys_in_one_store_query_and_unwraps_each_once():
    store = MemoryKeyStore()
    vault = Vault(LocalMasterKey(b"a" * 32), store)
    vault.check()
    kids = [vault.key_for_subject(crypto.subject_id("jcci", f"M-{i}"))[0] for i in range(5)]
    gone = vault.key_for_subject(crypto.subject_id("jcci", "M-gone"))[0]
    vault.destroy(crypto.subject_id("jcci", "M-gone"))
    fresh = Vault(LocalMasterKey(b"a" * 32), store)
    calls: list[object] = []
    get, get_many = store.get, store.get_many
    store.get = lambda k: (calls.append(("get", k)), get(k))[1]  # type: ignore[method-assign]
    store.get_many = lambda ks: (calls.append(("get_many", list(ks))), get_many(ks))[1]  # type: ignore[method-assign]
    assert fresh.preload([*kids, gone, kids[0]]) == 6
    assert calls == [("get_many", [*kids, gone])]  # one query, each key once
    assert fresh.preload(kids) == 0  # cached: no query at all
    assert [fresh.key(k) for k in kids] == [vault.key(k) for k in kids]
    assert fresh.key(gone) is None  # a destroyed key reads as erased without another query
    assert len(calls) == 1


def test_the_mapper_opens_only_the_fields_asked_and_a_sealed_field_is_stored_again_as_it_is():
    app = make_app()
    pid = app.apply(**apply_kwargs(holder={"name": NAME}))
    stored = app.recorder.select_notifications(start=1, limit=10)[0]
    partial_event = app.mapper.to_domain_event(stored, fields=("bank_account",))
    assert crypto.is_envelope(partial_event.holder)
    assert partial_event.bank_account["account_number"] == app.get_policy(pid).bank_account["account_number"]
    again = app.mapper.to_stored_event(partial_event)  # the envelope is kept, not sealed twice
    assert NAME.encode() not in again.state
    assert app.mapper.to_domain_event(again).holder["name"] == NAME


class _RecordingStore(MemoryKeyStore):
    """A memory key store that takes a save's new keys as a transaction would: kept if the
    save commits (``commit``), dropped otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[list, list]] = []

    def record_new_keys(self, cursor, keys, subjects):
        self.sent.append((keys, subjects))

    def commit(self) -> None:
        for keys, subjects in self.sent:
            for k in keys:
                assert self.for_subject(k.subject_id) is None
                self.keys[k.key_id] = k
            for aggregate, subject in subjects:
                self.subjects.setdefault(aggregate, subject)
        self.sent.clear()


def test_keys_in_save_makes_a_new_subjects_key_without_the_store_and_caches_it_once_saved():
    store = _RecordingStore()
    vault = Vault(LocalMasterKey(b"a" * 32), store)
    subject, aggregate = crypto.subject_id("jcci", "M-10"), uuid4()
    with vault.keys_in_save() as new:
        assert vault.new_keys() is new
        kid, key = vault.key_for_subject(subject, aggregate_id=aggregate)
        assert vault.key_for_subject(subject, aggregate_id=aggregate) == (kid, key)  # one key per save
        assert store.keys == {} and store.subjects == {}  # nothing stored outside the save
        new.record(cursor=None)  # the recorder, in the save's transaction
        assert vault.new_keys() is None
        store.commit()
    assert [k.key_id for k in store.keys.values()] == [kid] and store.subjects == {aggregate: subject}
    assert vault.key_for_subject(subject) == (kid, key) and vault.subject_of(aggregate) == subject
    assert vault.key(kid) == key


def test_keys_in_save_forgets_the_keys_of_a_save_that_failed():
    store = _RecordingStore()
    vault = Vault(LocalMasterKey(b"a" * 32), store)
    subject = crypto.subject_id("jcci", "M-11")
    with pytest.raises(RuntimeError, match="rolled back"):
        with vault.keys_in_save() as new:
            failed, _ = vault.key_for_subject(subject)
            new.record(cursor=None)
            store.sent.clear()  # the transaction rolled back
            raise RuntimeError("rolled back")
    assert vault.new_keys() is None and store.keys == {}
    kid, _ = vault.key_for_subject(subject)  # outside: made and stored as always
    assert kid != failed and [k.key_id for k in store.keys.values()] == [kid]


def test_keys_in_save_refuses_a_save_that_did_not_store_its_keys():
    vault = Vault(LocalMasterKey(b"a" * 32), MemoryKeyStore())
    with pytest.raises(RuntimeError, match="did not store"):
        with vault.keys_in_save():
            vault.key_for_subject(crypto.subject_id("jcci", "M-12"))
    with pytest.raises(TypeError):  # a key store that cannot take them in a transaction says so
        with vault.keys_in_save() as new:
            vault.key_for_subject(crypto.subject_id("jcci", "M-13"))
            new.record(cursor=None)


def test_keys_in_save_uses_a_known_subjects_key_and_remembers_new_aggregates_in_the_save():
    store = _RecordingStore()
    vault = Vault(LocalMasterKey(b"a" * 32), store)
    subject, aggregate = crypto.subject_id("jcci", "M-14"), uuid4()
    kid, key = vault.key_for_subject(subject)
    with vault.keys_in_save() as new:
        assert vault.key_for_subject(subject, aggregate_id=aggregate) == (kid, key)
        assert new.keys == {} and new.subjects == {aggregate: subject} and store.subjects == {}
        new.record(cursor=None)
        store.commit()
    assert store.subjects == {aggregate: subject} and vault.subject_of(aggregate) == subject


def test_the_in_memory_application_makes_keys_as_always():
    app = make_app()
    pid = app.apply(**apply_kwargs(member_number="M-15"))
    assert app.get_policy(pid).holder == {"name": "山田印刷株式会社"}
    assert app.vault.new_keys() is None


def test_vault_finds_many_subjects_current_keys_in_one_store_query():
    store = MemoryKeyStore()
    vault = Vault(LocalMasterKey(b"a" * 32), store)
    vault.check()
    subjects = [crypto.subject_id("jcci", f"M-{i}") for i in range(3)]
    keys = [vault.key_for_subject(s) for s in subjects]
    vault.destroy(subjects[2])
    never = crypto.subject_id("jcci", "M-never")
    calls: list[object] = []
    for_subjects = store.for_subjects
    store.for_subjects = lambda ss: (calls.append(list(ss)), for_subjects(ss))[1]  # type: ignore[method-assign]
    found = vault.existing_keys_for_subjects([*subjects, never, subjects[0]])
    assert calls == [[*subjects, never]]  # one query, each subject once
    assert found == {subjects[0]: keys[0], subjects[1]: keys[1], subjects[2]: None, never: None}
    assert all(found[s] == vault.existing_key_for_subject(s) for s in found)
    assert vault.existing_keys_for_subjects([]) == {} and len(calls) == 1
