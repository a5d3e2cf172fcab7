"""API keys and roles.

Keys come from ``POLICY_API_KEYS`` as ``role:key`` pairs. On the embedded default with no
keys configured, the server makes one key per role once, stores them under
``POLICY_DATA_DIR`` with owner-only permissions and says where they are (never the keys).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from policy_core.application import Actor

log = logging.getLogger("api.auth")

ROLES = ("operator", "auditor", "dashboard")
KEYS_FILE = "api-keys.json"


@dataclass(frozen=True)
class ApiKey:
    role: str
    key: str

    @property
    def key_id(self) -> str:
        """A stable, non-secret id for logs and event metadata."""
        return "key_" + hashlib.sha256(self.key.encode()).hexdigest()[:12]

    def actor(self) -> Actor:
        return Actor(role=self.role, key_id=self.key_id)


def parse_keys(spec: str) -> dict[str, ApiKey]:
    keys: dict[str, ApiKey] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        role, sep, key = part.partition(":")
        if not sep or role not in ROLES or len(key) < 8:
            raise ValueError(
                f"POLICY_API_KEYS entries are role:key with role in {ROLES} and keys of 8+ characters"
            )
        keys[key] = ApiKey(role=role, key=key)
    return keys


def load_or_create_keys(data_dir: Path) -> tuple[dict[str, ApiKey], Path]:
    path = Path(data_dir) / KEYS_FILE
    if path.exists():
        data = json.loads(path.read_text())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {role: secrets.token_urlsafe(24) for role in ROLES}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        print(f"policy-admin: created API keys (one per role) in {path.resolve()} (mode 0600)", flush=True)
    os.chmod(path, 0o600)
    return {key: ApiKey(role=role, key=key) for role, key in data.items()}, path
