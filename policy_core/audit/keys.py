"""The checkpoint signing key (Ed25519, from the ``cryptography`` package).

From the setting ``POLICY_AUDIT_SIGNING_KEY`` (a PKCS#8 PEM private key, or the 32-byte seed in
base64) or, without it, generated once into ``POLICY_DATA_DIR/audit-signing-key.pem`` with
owner-only permissions and reused from there. Auditors keep the public key
(``policy-admin audit public-key``) outside the system: a signature it checks cannot have been
made by anyone who only had SQL access.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger("policy_core.audit")

KEY_FILE = "audit-signing-key.pem"


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(data: bytes | str) -> Ed25519PublicKey:
    """A PEM public key (what ``audit public-key`` prints)."""
    if isinstance(data, str):
        data = data.encode()
    key = serialization.load_pem_public_key(data.strip() + b"\n")
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def check_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


def _private_from_setting(value: str) -> Ed25519PrivateKey:
    text = value.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("POLICY_AUDIT_SIGNING_KEY is not an Ed25519 private key")
        return key
    seed = base64.b64decode(text, validate=True)
    if len(seed) != 32:
        raise ValueError("POLICY_AUDIT_SIGNING_KEY must be a PEM key or a base64 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _private_from_file(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            log.info("generated the audit signing key", extra={"key_file": str(path.resolve())})
    os.chmod(path, 0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


class Signer:
    """Loads (or makes) the key on first use: building a runtime never touches the key file."""

    def __init__(self, *, setting: str | None = None, data_dir: Path | None = None) -> None:
        self.setting = setting
        self.path = Path(data_dir or "./var") / KEY_FILE
        self._key: Ed25519PrivateKey | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Signer:
        return cls(setting=getattr(settings, "audit_signing_key", None), data_dir=settings.data_dir)

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = _private_from_setting(self.setting) if self.setting else _private_from_file(self.path)
        return self._key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)
