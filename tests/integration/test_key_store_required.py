"""No silent in-memory key store (#12): an application over a persistent event store without a
persistent key store is refused (keys lost at restart would leave every sealed field unreadable);
the in-memory one only over the in-memory event store, or where asked for explicitly."""

from __future__ import annotations

import tempfile

import pytest

from policy_core.application import PolicyAdministration
from policy_core.bootstrap import bootstrap, build_application
from policy_core.personal_data.keys import MemoryKeyStore, PersistentKeyStoreRequired, memory_vault
from policy_core.personal_data.store import PostgresKeyStore
from policy_core.settings import Settings


def test_a_persistent_event_store_without_a_key_store_is_refused(database):
    with pytest.raises(PersistentKeyStoreRequired, match="persistent key store"):
        PolicyAdministration(env=database.eventsourcing_env(1))
    with pytest.raises(PersistentKeyStoreRequired, match="open_vault"):
        build_application(database, Settings(POLICY_DATA_DIR=tempfile.mkdtemp()))


def test_in_memory_keys_only_where_asked_for():
    app = PolicyAdministration(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})  # events in memory too
    assert isinstance(app.vault.store, MemoryKeyStore)


def test_explicit_memory_vault_over_postgres_is_allowed(database):
    app = PolicyAdministration(env=database.eventsourcing_env(1), vault=memory_vault())
    try:
        assert isinstance(app.vault.store, MemoryKeyStore)
    finally:
        app.close()


def test_production_composition_uses_the_persistent_key_store(database):
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database)
    try:
        assert isinstance(rt.app.vault.store, PostgresKeyStore)
    finally:
        rt.close()
