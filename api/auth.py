"""API keys and roles.

Keys come from ``POLICY_API_KEYS`` as ``role:key`` pairs (keys of at least 24 characters). On
the embedded default with no keys configured, the server makes one key per role once (32
random bytes each), stores them under ``POLICY_DATA_DIR`` with owner-only permissions and says
where they are (never the keys).

A key's id (in event metadata, logs and the idempotency scope) is an HMAC-SHA256 of the key
under a server secret: ``POLICY_KEY_ID_SECRET``, else the file ``key-id-secret`` beside the
keys (made once, mode 0600). Without the secret an id cannot be turned back into a key, however
short the key. Presented keys are compared in constant time with every configured key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from policy_core.application import Actor

log = logging.getLogger("api.auth")

ROLES = ("operator", "auditor", "dashboard")
KEYS_FILE = "api-keys.json"
SECRET_FILE = "key-id-secret"
MIN_KEY_LENGTH = 24
GENERATED_KEY_BYTES = 32
# Used only when no secret is given (unit tests): ids are then stable within one process.
_PROCESS_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True)
class ApiKey:
    role: str
    key: str = field(repr=False)
    id_secret: bytes = field(default=_PROCESS_SECRET, repr=False, compare=False)

    @property
    def key_id(self) -> str:
        """A stable, non-secret id for logs and event metadata (keyed: not guessable offline)."""
        return "key_" + hmac.new(self.id_secret, self.key.encode(), hashlib.sha256).hexdigest()[:16]

    def actor(self) -> Actor:
        return Actor(role=self.role, key_id=self.key_id)


def find_key(keys: Mapping[str, ApiKey], presented: str) -> ApiKey | None:
    """The configured key equal to ``presented``, compared in constant time with every key
    (no early exit, no dict lookup whose timing depends on the key)."""
    given = hashlib.sha256(presented.encode()).digest()
    found = None
    for candidate in keys.values():
        if hmac.compare_digest(given, hashlib.sha256(candidate.key.encode()).digest()):
            found = candidate
    return found


def caller(keys: Mapping[str, ApiKey], authorization: str | None) -> ApiKey | None:
    """The key an ``Authorization`` header presents (scheme case-insensitive), or None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return find_key(keys, credentials.strip())


def load_or_create_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The key-id secret: configured, else a file beside the keys (made once, 0600)."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        # Written whole under another name, then linked into place: a process racing this one
        # (API workers starting together) sees no file or the whole secret, never half of it.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    os.chmod(path, 0o600)
    return path.read_text().strip().encode()


def parse_keys(spec: str, secret: bytes | None = None) -> dict[str, ApiKey]:
    keys: dict[str, ApiKey] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        role, sep, key = part.partition(":")
        if not sep or role not in ROLES or len(key) < MIN_KEY_LENGTH or key.strip() != key:
            raise ValueError(
                f"POLICY_API_KEYS entries are role:key with role in {ROLES} and keys of "
                f"{MIN_KEY_LENGTH}+ characters"
            )
        keys[key] = ApiKey(role=role, key=key, id_secret=secret or _PROCESS_SECRET)
    return keys


def load_or_create_keys(data_dir: Path, secret: bytes | None = None) -> tuple[dict[str, ApiKey], Path]:
    path = Path(data_dir) / KEYS_FILE
    if path.exists():
        data = json.loads(path.read_text())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {role: secrets.token_urlsafe(GENERATED_KEY_BYTES) for role in ROLES}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        print(f"policy-admin: created API keys (one per role) in {path.resolve()} (mode 0600)", flush=True)
    os.chmod(path, 0o600)
    secret = secret or load_or_create_secret(data_dir)
    return {key: ApiKey(role=role, key=key, id_secret=secret) for role, key in data.items()}, path
