"""The hash chain's arithmetic: what is hashed, and the digests kept beside each link.

A link is ``SHA-256(previous link || SHA-256(event bytes))``, the first link's previous being
32 zero bytes: SHA-256 over the previous link and the event's stored bytes (through their
digest, so that an authorised rewrite of a row — see migration.py — can name the row as it was
sealed by its digest alone, and the chain is still recomputed across it). The event bytes are
the stored row exactly as the event store holds it (the ``eventsourcing`` 9.5.6 PostgreSQL
recorder stores ``notification_id``, ``originator_id``, ``originator_version``, ``topic`` and
``state``; the event's metadata — actor and command — is
inside ``state``), framed with lengths so that no two rows give the same bytes:

    notification_id   8 bytes, big-endian signed
    originator_id     2-byte length, then its text form (UTF-8)
    originator_version 8 bytes, big-endian signed
    topic             4-byte length, then UTF-8
    state             8-byte length, then the stored bytes as they are

Beside each link the sealer keeps three digests so that verification can say *how* a row
differs, not only where: the row digest (``SHA-256(event bytes)``), the metadata digest and
the body digest (topic and state without metadata), the last two over a canonical JSON form of
the event decoded through the application's mapper (its transcoder, cipher and compressor).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

GENESIS = bytes(32)


def event_bytes(
    notification_id: int, originator_id: Any, originator_version: int, topic: str, state: bytes
) -> bytes:
    oid = str(originator_id).encode()
    t = topic.encode()
    return b"".join(
        (
            struct.pack(">qH", notification_id, len(oid)),
            oid,
            struct.pack(">qI", originator_version, len(t)),
            t,
            struct.pack(">Q", len(state)),
            state,
        )
    )


def row_digest(row_bytes: bytes) -> bytes:
    return hashlib.sha256(row_bytes).digest()


def link_from_digest(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()


def next_link(previous: bytes, row_bytes: bytes) -> bytes:
    return link_from_digest(previous, row_digest(row_bytes))


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if is_dataclass(obj) and not isinstance(obj, type):
        return vars(obj)
    return repr(obj)


def canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode()


class ContentDigests:
    """Metadata and body digests of a stored event, decoded through the application's mapper."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper

    def decode(self, state: bytes) -> Any:
        m = self.mapper
        if getattr(m, "cipher", None):
            state = m.cipher.decrypt(state)
        if getattr(m, "compressor", None):
            state = m.compressor.decompress(state)
        return m.transcoder.decode(state)

    def __call__(self, topic: str, state: bytes) -> tuple[bytes | None, bytes | None]:
        """(metadata digest, body digest); ``(None, None)`` when the state cannot be decoded."""
        try:
            data = self.decode(state)
        except Exception:  # noqa: BLE001 - a tampered state may not decode at all
            return None, None
        metadata = None
        if isinstance(data, dict):
            data = dict(data)
            metadata = data.pop("metadata", None)
        body = hashlib.sha256(topic.encode() + b"\x00" + canonical(data)).digest()
        return hashlib.sha256(canonical(metadata)).digest(), body

    def metadata(self, state: bytes) -> Any:
        """The decoded metadata (actor, command) of a stored state, or None."""
        try:
            data = self.decode(state)
        except Exception:  # noqa: BLE001
            return None
        return data.get("metadata") if isinstance(data, dict) else None
