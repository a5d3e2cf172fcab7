"""Data keys per data subject, wrapped by a master key; the master key and the KMS interface.

* :class:`MasterKey` is the one small interface a deployment implements to use a KMS
  (``key_id``, ``wrap``, ``unwrap``); :class:`LocalMasterKey` is AES-256-GCM key wrapping with a
  32-byte key from ``POLICY_MASTER_KEY`` or from ``POLICY_DATA_DIR/master-key`` (0600).
* A key store keeps wrapped data keys (``pii_data_keys``), the map from aggregate to data subject
  (``pii_subjects``) and a canary wrapped by the master key (``pii_master``), by which start-up
  proves it holds the right master key before reading anything.
* :class:`Vault` hands out unwrapped data keys (cached in memory for a bounded time and number),
  creates them on first use, destroys them on erasure, re-wraps them on master-key rotation.

System keys (the blind-index key, the idempotency-store key, the optional whole-state cipher key)
are data keys of fixed "system subjects": wrapped and rotated like the others, never erased.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("policy_core.personal_data")

MASTER_KEY_FILE = "master-key"
CANARY = b"policy-admin master key canary v1"

SYSTEM_BLIND_INDEX = uuid5(NAMESPACE_URL, "policy_admin:system-key:blind-index")
SYSTEM_IDEMPOTENCY = uuid5(NAMESPACE_URL, "policy_admin:system-key:idempotency")
SYSTEM_STORE_CIPHER = uuid5(NAMESPACE_URL, "policy_admin:system-key:store-cipher")
SYSTEM_SUBJECTS = frozenset({SYSTEM_BLIND_INDEX, SYSTEM_IDEMPOTENCY, SYSTEM_STORE_CIPHER})


class PersistentKeyStoreRequired(RuntimeError):
    """Data keys kept in memory over a persistent event store: refused (lost at restart)."""


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed, or not the one the store was written with."""


class MasterKey(Protocol):
    """What a KMS provides: wrap and unwrap small secrets under a key that never leaves it."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, plaintext: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalMasterKey:
    """AES-256-GCM key wrapping with a locally held 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyError(f"the master key must be 32 bytes (base64 of 32 bytes), got {len(key)}")
        self._aead = AESGCM(key)
        self._id = "local:" + hashlib.sha256(b"policy-admin key id\x00" + key).hexdigest()[:16]

    @classmethod
    def from_base64(cls, text: str) -> LocalMasterKey:
        try:
            raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MasterKeyError("the master key is not valid base64") from None
        return cls(raw)

    @staticmethod
    def generate_base64() -> str:
        return base64.b64encode(os.urandom(32)).decode("ascii")

    @property
    def key_id(self) -> str:
        return self._id

    def wrap(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, b"policy-admin wrapped key")

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], b"policy-admin wrapped key")

    def __repr__(self) -> str:  # never the key
        return f"<LocalMasterKey {self._id}>"


def read_key_file(path: Path) -> LocalMasterKey:
    return LocalMasterKey.from_base64(path.read_text())


def write_key_file(path: Path, key_b64: str) -> None:
    """Create the file owner-only (0600), failing if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key_b64 + "\n")
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class StoredKey:
    key_id: UUID
    subject_id: UUID
    wrapped: bytes
    master_key_id: str


class KeyStore(Protocol):
    def canary(self) -> tuple[str, bytes] | None: ...
    def set_canary(self, master_key_id: str, wrapped: bytes, *, replace: bool = False) -> bool: ...
    def get(self, key_id: UUID) -> StoredKey | None: ...
    def get_many(self, key_ids: list[UUID]) -> dict[UUID, StoredKey]: ...
    def for_subject(self, subject: UUID) -> StoredKey | None: ...
    def for_subjects(self, subjects: list[UUID]) -> dict[UUID, StoredKey]: ...
    def create(self, key: StoredKey, aggregate_id: UUID | None) -> StoredKey: ...
    def remember(self, aggregate_id: UUID, subject: UUID) -> None: ...
    def subject_of(self, aggregate_id: UUID) -> UUID | None: ...
    def delete_subject(self, subject: UUID) -> list[UUID]: ...
    def all_keys(self) -> list[StoredKey]: ...
    def rewrap(
        self, transform: Callable[[StoredKey], StoredKey], master_key_id: str, canary: bytes
    ) -> int: ...


class MemoryKeyStore:
    """The key store of the in-memory event store (unit tests)."""

    def __init__(self) -> None:
        self.keys: dict[UUID, StoredKey] = {}
        self.subjects: dict[UUID, UUID] = {}
        self._canary: tuple[str, bytes] | None = None
        self._lock = threading.Lock()

    def canary(self) -> tuple[str, bytes] | None:
        return self._canary

    def set_canary(self, master_key_id: str, wrapped: bytes, *, replace: bool = False) -> bool:
        if self._canary is not None and not replace:
            return False
        self._canary = (master_key_id, wrapped)
        return True

    def get(self, key_id: UUID) -> StoredKey | None:
        return self.keys.get(key_id)

    def get_many(self, key_ids: list[UUID]) -> dict[UUID, StoredKey]:
        return {k: self.keys[k] for k in key_ids if k in self.keys}

    def for_subject(self, subject: UUID) -> StoredKey | None:
        return next((k for k in self.keys.values() if k.subject_id == subject), None)

    def for_subjects(self, subjects: list[UUID]) -> dict[UUID, StoredKey]:
        wanted = set(subjects)
        return {k.subject_id: k for k in self.keys.values() if k.subject_id in wanted}

    def create(self, key: StoredKey, aggregate_id: UUID | None) -> StoredKey:
        with self._lock:
            existing = self.for_subject(key.subject_id)
            if existing is None:
                self.keys[key.key_id] = existing = key
            if aggregate_id is not None:
                self.subjects.setdefault(aggregate_id, key.subject_id)
            return existing

    def remember(self, aggregate_id: UUID, subject: UUID) -> None:
        self.subjects.setdefault(aggregate_id, subject)

    def subject_of(self, aggregate_id: UUID) -> UUID | None:
        return self.subjects.get(aggregate_id)

    def delete_subject(self, subject: UUID) -> list[UUID]:
        gone = [k for k, v in self.keys.items() if v.subject_id == subject]
        for k in gone:
            del self.keys[k]
        return gone

    def all_keys(self) -> list[StoredKey]:
        return list(self.keys.values())

    def rewrap(self, transform: Callable[[StoredKey], StoredKey], master_key_id: str, canary: bytes) -> int:
        with self._lock:
            self.keys = {kid: transform(k) for kid, k in self.keys.items()}
            self._canary = (master_key_id, canary)
            return len(self.keys)


class NewKeys:
    """The data keys made for new data subjects during one save, which that save's own
    transaction stores (:meth:`Vault.keys_in_save`): the recorder calls :meth:`record` with its
    cursor before it inserts the events, so the key rows commit with the events or not at all,
    and a new member's key costs no commit of its own."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.keys: dict[UUID, tuple[StoredKey, bytes]] = {}  # subject -> (stored, unwrapped)
        self.subjects: dict[UUID, UUID] = {}  # aggregate -> subject, to remember
        self.recorded = False

    def __bool__(self) -> bool:
        return bool(self.keys or self.subjects)

    def record(self, cursor: Any) -> None:
        """Insert the rows on the save's cursor, in its transaction (a subject that has a key
        already makes the insert, so the whole save, fail with an integrity error)."""
        self.recorded = True
        if self:
            record = getattr(self.store, "record_new_keys", None)
            if record is None:
                raise TypeError(f"{type(self.store).__name__} cannot store keys in a save's transaction")
            record(cursor, [stored for stored, _ in self.keys.values()], list(self.subjects.items()))


class Vault:
    """Unwrapped data keys on demand, under one master key.

    The cache holds at most ``cache_size`` unwrapped keys for at most ``cache_seconds`` each: an
    erasure done by another process takes effect here within that time (this process evicts at
    once). Keys are never logged; nothing here logs a subject with a name.
    """

    def __init__(
        self,
        master: MasterKey,
        store: KeyStore,
        *,
        cache_seconds: float = 60.0,
        cache_size: int = 10_000,
    ) -> None:
        self.master = master
        self.store = store
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, tuple[float, bytes | None, UUID]] = OrderedDict()
        self._by_subject: dict[UUID, UUID] = {}
        self._subject_of: dict[UUID, UUID] = {}
        self._lock = threading.RLock()
        self._local = threading.local()  # .new: this thread's NewKeys inside keys_in_save

    # ------------------------------------------------------------------ start-up
    def check(self, *, allow_initialise: bool = True) -> None:
        """Prove the master key is the store's (refuse otherwise); on a store with no canary yet,
        record one (the first start with this key)."""
        found = self.store.canary()
        if found is None:
            if not allow_initialise:
                raise MasterKeyError("the key store has no master-key record: run `policy-admin db init`")
            self.store.set_canary(self.master.key_id, self.master.wrap(CANARY))
            found = self.store.canary()
            assert found is not None
        master_id, wrapped = found
        try:
            ok = self.master.unwrap(wrapped) == CANARY
        except (InvalidTag, ValueError):
            ok = False
        if not ok:
            raise MasterKeyError(
                f"the master key {self.master.key_id} is not the one this store's data keys are wrapped "
                f"with ({master_id}): refusing to start (set POLICY_MASTER_KEY to the store's key)"
            )

    # ------------------------------------------------------------------ keys
    def _cached(self, kid: UUID) -> tuple[bool, bytes | None]:
        entry = self._cache.get(kid)
        if entry is None:
            return False, None
        expires, key, _ = entry
        if expires < time.monotonic():
            self._cache.pop(kid, None)
            return False, None
        self._cache.move_to_end(kid)
        return True, key

    def _put(self, kid: UUID, key: bytes | None, subject: UUID | None) -> None:
        self._cache[kid] = (time.monotonic() + self.cache_seconds, key, subject or kid)
        self._cache.move_to_end(kid)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _unwrap(self, stored: StoredKey) -> bytes:
        try:
            return self.master.unwrap(stored.wrapped)
        except InvalidTag:
            raise MasterKeyError(f"data key {stored.key_id} does not unwrap under the master key") from None

    def key(self, kid: UUID) -> bytes | None:
        """The data key, or None if it was destroyed (the subject's data is erased)."""
        with self._lock:
            hit, key = self._cached(kid)
            if hit:
                return key
            stored = self.store.get(kid)
            key = self._unwrap(stored) if stored is not None else None
            self._put(kid, key, stored.subject_id if stored else None)
            return key

    def preload(self, kids: Iterable[UUID]) -> int:
        """Bring the data keys ``kids`` into the cache with ONE key-store query for those not
        cached yet (a bulk read of a thousand policies, each its own data subject, would otherwise
        make a thousand round trips). Each key is unwrapped once; destroyed keys are cached as
        such. Returns how many were fetched. Never more than the cache holds at once."""
        with self._lock:
            missing = [k for k in dict.fromkeys(kids) if not self._cached(k)[0]][: self.cache_size]
            if not missing:
                return 0
            found = self.store.get_many(missing)
            for kid in missing:
                stored = found.get(kid)
                self._put(
                    kid,
                    self._unwrap(stored) if stored is not None else None,
                    stored.subject_id if stored else None,
                )
            return len(missing)

    def key_for_subject(self, subject: UUID, *, aggregate_id: UUID | None = None) -> tuple[UUID, bytes]:
        """The subject's current data key, created on first use."""
        new: NewKeys | None = getattr(self._local, "new", None)
        if new is not None and new.recorded:
            new = None  # after the save's transaction (a snapshot's mapping): as outside
        with self._lock:
            kid = self._by_subject.get(subject)
            if kid is not None:
                hit, key = self._cached(kid)
                if hit and key is not None:
                    if aggregate_id is not None and aggregate_id not in self._subject_of:
                        if new is not None:
                            new.subjects[aggregate_id] = subject
                        else:
                            self.store.remember(aggregate_id, subject)
                            self._subject_of[aggregate_id] = subject
                    return kid, key
            elif new is not None:
                # A subject this process knows no key of, inside a save that takes new subjects
                # for granted (a first application): the key is made here and stored by the
                # save's own transaction; if the subject has a key after all, that save fails
                # and the command's re-run (outside keys_in_save) reads the key as below.
                made = new.keys.get(subject)
                if made is None:
                    raw = AESGCM.generate_key(bit_length=256)
                    made = (StoredKey(uuid4(), subject, self.master.wrap(raw), self.master.key_id), raw)
                    new.keys[subject] = made
                if aggregate_id is not None:
                    new.subjects[aggregate_id] = subject
                return made[0].key_id, made[1]
            # Create first: one round trip for a new subject (a new member's application), and
            # for a subject that has a key the insert does nothing and the stored key is read
            # (`create` returns whichever key the subject has, and remembers the aggregate).
            raw = AESGCM.generate_key(bit_length=256)
            stored = self.store.create(
                StoredKey(uuid4(), subject, self.master.wrap(raw), self.master.key_id), aggregate_id
            )
            if aggregate_id is not None:
                self._subject_of[aggregate_id] = subject
            key = self._unwrap(stored)
            self._by_subject[subject] = stored.key_id
            self._put(stored.key_id, key, subject)
            return stored.key_id, key

    @contextlib.contextmanager
    def keys_in_save(self) -> Iterator[NewKeys]:
        """Around one save whose recorder stores the yielded :class:`NewKeys` in its transaction
        (``PolicyAdministration.save`` passes them to it): a data subject this process knows no
        key of is taken for new, its key made here without a round trip, and the aggregate's
        subject remembered the same way. Left normally (the save committed), the keys are this
        process's like any other; left by an exception, they are forgotten (the transaction
        that would have stored them rolled back). Only for a save that may assume its subjects
        new, as an application's first attempt does: a subject with a key makes it fail, once."""
        if getattr(self._local, "new", None) is not None:
            raise RuntimeError("keys_in_save does not nest")
        new = NewKeys(self.store)
        self._local.new = new
        try:
            yield new
        finally:
            self._local.new = None
        if new and not new.recorded:
            raise RuntimeError(
                "a save inside keys_in_save did not store its new data keys (no recorder took them): "
                "events sealed under them are unreadable"
            )
        with self._lock:
            for subject, (stored, raw) in new.keys.items():
                self._by_subject[subject] = stored.key_id
                self._put(stored.key_id, raw, subject)
            self._subject_of.update(new.subjects)

    def new_keys(self) -> NewKeys | None:
        """This thread's keys of the save in progress inside :meth:`keys_in_save`, if any."""
        new: NewKeys | None = getattr(self._local, "new", None)
        return new if new is not None and not new.recorded else None

    def existing_key_for_subject(self, subject: UUID) -> tuple[UUID, bytes] | None:
        with self._lock:
            stored = self.store.for_subject(subject)
            if stored is None:
                return None
            return stored.key_id, self._unwrap(stored)

    def existing_keys_for_subjects(self, subjects: Iterable[UUID]) -> dict[UUID, tuple[UUID, bytes] | None]:
        """``existing_key_for_subject`` for many subjects with one key-store query: each subject
        maps to its current key, or to None when it has none (never made, or destroyed)."""
        wanted = list(dict.fromkeys(subjects))
        if not wanted:
            return {}
        with self._lock:
            found = self.store.for_subjects(wanted)
            out: dict[UUID, tuple[UUID, bytes] | None] = dict.fromkeys(wanted)
            for subject, stored in found.items():
                out[subject] = (stored.key_id, self._unwrap(stored))
            return out

    def system_key(self, subject: UUID) -> bytes:
        assert subject in SYSTEM_SUBJECTS
        return self.key_for_subject(subject)[1]

    def subject_of(self, aggregate_id: UUID) -> UUID | None:
        with self._lock:
            found = self._subject_of.get(aggregate_id)
            if found is None:
                found = self.store.subject_of(aggregate_id)
                if found is not None:
                    self._subject_of[aggregate_id] = found
            return found

    def remember(self, aggregate_id: UUID, subject: UUID) -> None:
        with self._lock:
            if self._subject_of.get(aggregate_id) != subject:
                self.store.remember(aggregate_id, subject)
                self._subject_of[aggregate_id] = subject

    # ------------------------------------------------------------------ erasure, rotation
    def destroy(self, subject: UUID) -> list[UUID]:
        """Crypto-shred: delete the subject's data keys; this process forgets them at once."""
        if subject in SYSTEM_SUBJECTS:
            raise ValueError("system keys are not erasable")
        with self._lock:
            gone = self.store.delete_subject(subject)
            self._by_subject.pop(subject, None)
            for kid in [k for k, (_, _, s) in self._cache.items() if s == subject] + gone:
                self._cache.pop(kid, None)
            return gone

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._by_subject.clear()

    def rotate(self, new_master: MasterKey) -> int:
        """Re-wrap every data key (and the canary) under ``new_master``; events are not touched."""
        with self._lock:

            def transform(k: StoredKey) -> StoredKey:
                return StoredKey(k.key_id, k.subject_id, new_master.wrap(self._unwrap(k)), new_master.key_id)

            n = self.store.rewrap(transform, new_master.key_id, new_master.wrap(CANARY))
            self.master = new_master
            return n


def memory_vault() -> Vault:
    """A vault for the in-memory event store: an ephemeral master key, keys in memory."""
    vault = Vault(LocalMasterKey(os.urandom(32)), MemoryKeyStore())
    vault.check()
    return vault
