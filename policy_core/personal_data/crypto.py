"""Field envelopes (AES-256-GCM under a data subject's key) and the blind index.

A personal field's value is replaced in the stored event by an envelope::

    {"__pii__": 1, "kid": "<data key id>", "n": "<nonce b64>", "ct": "<ciphertext b64>"}

The plaintext is the field's JSON value; the associated data binds the ciphertext to its key id
and field name, so an envelope moved to another field or key does not decrypt. When the data
key is gone (erased: crypto-shredded), the field reads as :func:`erased_value`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import unicodedata
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The shared contract: personal data in events lives only in these state fields.
PERSONAL_FIELDS: tuple[str, ...] = ("holder", "bank_account", "description")
ENVELOPE_MARK = "__pii__"
ERASED = "[erased]"


def subject_id(scheme: str, member_number: str) -> UUID:
    """A data subject is a member in a scheme: all of its policies and claims share one key."""
    return uuid5(NAMESPACE_URL, f"policy_admin:subject:{scheme}:{member_number}")


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and value.get(ENVELOPE_MARK) == 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _aad(kid: str, field: str) -> bytes:
    return f"policy_admin:pii:v1:{kid}:{field}".encode()


def seal(key: bytes, kid: str, field: str, value: Any, *, deterministic: bool = False) -> dict[str, Any]:
    """Encrypt one field's value. ``deterministic`` derives the nonce from the key and plaintext
    (SIV-like: the same value gives the same envelope), for read-model columns that a rebuild must
    reproduce byte for byte; events use random nonces."""
    plaintext = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    aad = _aad(kid, field)
    if deterministic:
        nonce = hmac.new(key, b"nonce\x00" + aad + b"\x00" + plaintext, hashlib.sha256).digest()[:12]
    else:
        nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, aad)
    return {ENVELOPE_MARK: 1, "kid": kid, "n": _b64(nonce), "ct": _b64(ct)}


def open_envelope(key: bytes, field: str, envelope: dict[str, Any]) -> Any:
    """Decrypt an envelope (raises ``cryptography.exceptions.InvalidTag`` if it was tampered with)."""
    kid = envelope["kid"]
    plaintext = AESGCM(key).decrypt(_unb64(envelope["n"]), _unb64(envelope["ct"]), _aad(kid, field))
    return json.loads(plaintext)


def erased_value(field: str) -> Any:
    """What a field reads as once its key is destroyed: the same shape, every value erased."""
    if field == "holder":
        return {"name": ERASED, "erased": True}
    if field == "bank_account":
        return {"erased": True}
    return ERASED


def normalise_name(name: str) -> str:
    """The blind index's normal form: NFKC (full/half width folded), case-folded, no spaces."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in text if not ch.isspace())


def blind_index(index_key: bytes, name: str) -> str:
    """Keyed HMAC of the normalised name: equality search without the name in the table."""
    return hmac.new(index_key, normalise_name(name).encode(), hashlib.sha256).hexdigest()


def encrypt_blob(key: bytes, purpose: str, data: bytes) -> str:
    nonce = os.urandom(12)
    return _b64(nonce + AESGCM(key).encrypt(nonce, data, purpose.encode()))


def decrypt_blob(key: bytes, purpose: str, text: str) -> bytes:
    raw = _unb64(text)
    return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode())


_RESPONSE_PURPOSE = "policy_admin:idempotency-response:v1"


def seal_response(vault: Any, content: bytes) -> dict[str, str]:
    """A stored API response sealed under the idempotency system key (``api_idempotency``)."""
    from .keys import SYSTEM_IDEMPOTENCY

    return {"sealed": encrypt_blob(vault.system_key(SYSTEM_IDEMPOTENCY), _RESPONSE_PURPOSE, content)}


def unseal_response(vault: Any, stored: Any) -> bytes:
    from .keys import SYSTEM_IDEMPOTENCY

    if isinstance(stored, dict) and isinstance(stored.get("sealed"), str):
        return decrypt_blob(vault.system_key(SYSTEM_IDEMPOTENCY), _RESPONSE_PURPOSE, stored["sealed"])
    return json.dumps(stored).encode()  # a row stored before sealing (``personal-data migrate`` seals them)
