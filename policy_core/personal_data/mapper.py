"""The persistence boundary: a Mapper that stores personal fields only as envelopes.

It wraps whatever transcoder (and optional whole-state cipher and compressor) the application
constructs: the fields named by the shared contract (``holder``, ``bank_account``,
``description``; also inside a snapshot's state) are sealed before the transcoder sees the event
and opened after it decoded it. The aggregates never see ciphertext; stored bytes never hold a
plain personal value.

Whose key seals a field (the data subject, a member in a scheme):

1. the event's own ``subject_id`` if it records one;
2. else its ``scheme`` and ``member_number`` (``Policy.Applied``, a policy snapshot) - the
   aggregate is then remembered as that subject's (``pii_subjects``);
3. else the subject remembered for its originator (a later policy event, e.g. an endorsement's
   new holder);
4. else the subject remembered for its ``policy_id`` (``Claim.IncidentReported``'s description).

No subject found: the save fails (:class:`PersonalDataError`) - never a plain value stored.

Old events (written before this mapper) hold plain values: they read as they are (the compat
path) until ``policy-admin personal-data migrate`` rewrites them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder

from .crypto import PERSONAL_FIELDS, erased_value, is_envelope, open_envelope, seal, subject_id
from .keys import Vault

_FIELDS = frozenset(PERSONAL_FIELDS)
# The key id of an envelope as the codec writes it (``seal``: mark, then kid), found in stored
# bytes without decoding them.
_KID_RE = re.compile(rb'"__pii__":1,"kid":"([0-9a-f-]{36})"')


class PersonalDataError(RuntimeError):
    """Personal data that cannot be sealed (no data subject found for it)."""


def is_erased_marker(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("erased") is True) or value == erased_value("description")


class PersonalDataMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        *,
        vault: Vault,
    ) -> None:
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)
        self.vault = vault

    # ------------------------------------------------------------------ writing
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = vars(domain_event)
        sealed: dict[str, Any] | None = None
        if _FIELDS & state.keys():
            sealed = self.seal_state(domain_event.originator_id, state)
        elif isinstance(domain_event, Snapshot) and _FIELDS & state["state"].keys():
            sealed = dict(state)
            sealed["state"] = self.seal_state(domain_event.originator_id, state["state"])
        if sealed is None:
            return super().to_stored_event(domain_event)
        proxy = object.__new__(type(domain_event))
        object.__setattr__(proxy, "__dict__", sealed)
        return super().to_stored_event(proxy)

    def subject_for(self, aggregate_id: UUID, state: dict[str, Any]) -> UUID:
        sid = state.get("subject_id")
        if isinstance(sid, UUID):
            return sid
        if isinstance(sid, str):
            return UUID(sid)
        scheme, member = state.get("scheme"), state.get("member_number")
        if isinstance(scheme, str) and isinstance(member, str):
            return subject_id(scheme, member)
        found = self.vault.subject_of(aggregate_id)
        if found is None and isinstance(state.get("policy_id"), UUID):
            found = self.vault.subject_of(state["policy_id"])
        if found is None:
            raise PersonalDataError(
                f"no data subject known for the personal fields of aggregate {aggregate_id}"
            )
        return found

    def seal_state(self, aggregate_id: UUID, state: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``state`` with every plain personal field sealed (envelopes and erased
        markers are left as they are; an erased subject gets no new key)."""
        todo = [
            f
            for f in PERSONAL_FIELDS
            if state.get(f) is not None and not is_envelope(state[f]) and not is_erased_marker(state[f])
        ]
        if not todo:
            return state
        subject = self.subject_for(aggregate_id, state)
        kid, key = self.vault.key_for_subject(subject, aggregate_id=aggregate_id)
        out = dict(state)
        for f in todo:
            out[f] = seal(key, str(kid), f, state[f])
        return out

    # ------------------------------------------------------------------ reading
    def preload_keys(self, states: Iterable[bytes]) -> int:
        """Before decoding many stored events (a bulk read, a projection batch): the data keys
        their envelopes name, fetched with one key-store query instead of one per data subject.
        States under the whole-state cipher show no key ids and are left to the per-event path."""
        kids: set[bytes] = set()
        for state in states:
            if b'"__pii__"' in state:
                kids.update(_KID_RE.findall(state))
        return self.vault.preload(UUID(k.decode()) for k in kids) if kids else 0

    def to_domain_event(self, stored_event: StoredEvent, *, fields: tuple[str, ...] = PERSONAL_FIELDS) -> Any:
        """The domain event with its envelopes opened. ``fields``: which personal fields to open
        (a bulk run that needs only the bank accounts leaves the holders sealed: an envelope is
        stored again as it is if it ever reaches a new event)."""
        event = super().to_domain_event(stored_event)
        state = event.__dict__
        if _FIELDS & state.keys():
            self.open_state(state, fields)
        elif isinstance(event, Snapshot) and isinstance(state.get("state"), dict):
            if _FIELDS & state["state"].keys():
                self.open_state(state["state"], fields)
        return event

    def open_state(self, state: dict[str, Any], fields: tuple[str, ...] = PERSONAL_FIELDS) -> None:
        """Open the envelopes in place; a destroyed key reads as erased."""
        for f in fields:
            value = state.get(f)
            if isinstance(value, dict) and is_envelope(value):
                key = self.vault.key(UUID(value["kid"]))
                state[f] = erased_value(f) if key is None else open_envelope(key, f, value)
