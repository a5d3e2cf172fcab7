"""Start-up: the master key from the setting or the data directory, the key store, the vault.

Refuses (``MasterKeyError``, a clear message) rather than run with data it cannot read:

* ``POLICY_MASTER_KEY`` set but malformed, or not the key the store's canary was wrapped with;
* no setting and no key file, over a store that already has a master-key record: a new key is
  never generated over an existing store (it could read none of its personal data).

With no setting and a store that has no record yet (a fresh store, or one written before
per-subject encryption), a key is generated once into ``POLICY_DATA_DIR/master-key`` (0600).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..database import Database
from ..settings import Settings
from .keys import (
    MASTER_KEY_FILE,
    LocalMasterKey,
    MasterKey,
    MasterKeyError,
    Vault,
    read_key_file,
    write_key_file,
)
from .store import PostgresKeyStore, ensure_tables, tables_exist

log = logging.getLogger("policy_core.personal_data")


def key_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / MASTER_KEY_FILE


def resolve_master_key(settings: Settings, store: PostgresKeyStore) -> MasterKey:
    if settings.master_key is not None:
        return LocalMasterKey.from_base64(settings.master_key.get_secret_value())
    path = key_file(settings)
    pending = path.with_name(path.name + ".new")
    if path.exists():
        key = read_key_file(path)
        canary = store.canary()
        if canary is not None and canary[0] != key.key_id and pending.exists():
            # A rotation committed its re-wrap but stopped before replacing the key file: finish it.
            new = read_key_file(pending)
            if new.key_id == canary[0]:
                pending.replace(path)
                log.warning("completed an interrupted master-key rotation", extra={"key_file": str(path)})
                return new
        return key
    if store.canary() is not None:
        raise MasterKeyError(
            "this store's data keys are wrapped by a master key, but POLICY_MASTER_KEY is not set and "
            f"there is no key file at {path}: refusing to start (a new key is never generated over an "
            "existing store)"
        )
    write_key_file(path, LocalMasterKey.generate_base64())
    print(f"policy-admin: created the master key in {path.resolve()} (mode 0600); back it up", flush=True)
    return read_key_file(path)


def open_vault(database: Database, settings: Settings, *, initialise: bool = True) -> Vault:
    """The vault, its master key proven against the store (refusing to start otherwise).

    Without ``initialise`` over a database whose tables do not exist yet, the proof waits for the
    first key used (after ``db init``): nothing can be read or written before that anyway."""
    if initialise:
        ensure_tables(database)
    store = PostgresKeyStore(database)
    if not initialise and not tables_exist(database):
        return Vault(_DeferredMaster(settings, store), store, cache_seconds=settings.key_cache_seconds)
    vault = Vault(resolve_master_key(settings, store), store, cache_seconds=settings.key_cache_seconds)
    vault.check()
    return vault


class _DeferredMaster:
    """The master key of a store not initialised yet: resolved and proven on first use."""

    def __init__(self, settings: Settings, store: PostgresKeyStore) -> None:
        self.settings, self.store = settings, store
        self._key: MasterKey | None = None

    def _master(self) -> MasterKey:
        if self._key is None:
            if not tables_exist(self.store.db):
                raise MasterKeyError("the key store tables do not exist: run `policy-admin db init` first")
            key = resolve_master_key(self.settings, self.store)
            Vault(key, self.store).check()
            self._key = key
        return self._key

    @property
    def key_id(self) -> str:
        return self._master().key_id

    def wrap(self, plaintext: bytes) -> bytes:
        return self._master().wrap(plaintext)

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._master().unwrap(wrapped)


def store_cipher_env(vault: Vault) -> dict[str, str]:
    """The library's whole-state cipher (AES-256-GCM over each event's stored bytes), keyed by a
    system data key (wrapped by the master key like the others, so rotation leaves events alone)."""
    import base64

    from .keys import SYSTEM_STORE_CIPHER

    return {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": base64.b64encode(vault.system_key(SYSTEM_STORE_CIPHER)).decode("ascii"),
    }


def check_store_cipher(app: Any, enabled: bool) -> None:
    """Refuse to start when ``POLICY_STORE_CIPHER`` does not match how the store was written (the
    first stored event does not decode): it would run with data it cannot read."""
    from eventsourcing.persistence import ProgrammingError

    try:
        first = app.recorder.select_notifications(start=1, limit=1)
    except ProgrammingError:  # no tables yet (bootstrap without initialising)
        return
    if not first:
        return
    try:
        app.mapper.to_domain_event(first[0])
    except Exception:  # noqa: BLE001 - any failure to decode means the same: refuse
        raise MasterKeyError(
            f"the event store was not written with POLICY_STORE_CIPHER={'true' if enabled else 'false'}: "
            "refusing to start (the setting is chosen when the store is created)"
        ) from None
