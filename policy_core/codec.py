"""The event codec: one factory for every reader and writer of stored events.

The application, the projections' reads, the rebuild workers and anything else that
reads stored events (sealer, verification, dossier) take their transcoder from
:func:`make_transcoder` (the application's mapper holds one), never build their own.

Wire format: exactly the library's ``JSONTranscoder`` bytes (compact separators,
``ensure_ascii=False``, insertion order, non-JSON values as
``{"_type_": name, "_data_": ...}``), so every event stored before this codec decodes
identically and every event it writes is byte-for-byte what the library's transcoder
would have written (the old transcoder can still read it: a rollback is safe and the
audit chain over stored bytes is unaffected).

What is faster, and which library does what (both compiled, both measured on our events:
``python -m bench --only 8`` and docs/performance.md):

* **parsing: msgspec** (``msgspec.json.Decoder``). As fast as orjson on our events, and it
  reads integers beyond 64 bits exactly, where orjson silently turns them into floats.
* **writing: orjson** (``orjson.dumps`` with ``OPT_PASSTHROUGH_DATETIME`` and
  ``OPT_PASSTHROUGH_DATACLASS``). Its passthrough options hand dates, datetimes and our
  dataclasses to one small tagging function; msgspec writes them natively (untagged)
  with no way to intercept, which would need a Python copy of every state first.
* The project's own types (``date``, ``datetime``, ``UUID``, ``Decimal``, :class:`Period`,
  :class:`DebitAttempt`) are converted by one tight loop over the parsed containers
  instead of the library's object hook on every dict and its ``Transcoding`` dispatch.

Anything the compiled path cannot reproduce exactly (a float, an integer beyond 64 bits,
a non-string key, a subclass of a JSON type, a type registered by another module, a
literal the JSON standard does not have) is handed to the library's own encoder or
decoder for that event, so the bytes and the objects stay the library's (counted in
``EventCodec.fallbacks``).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from .aggregates.policy import DebitAttempt, Period


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class PeriodAsDict(Transcoding):
    """Policy snapshots hold Period dataclasses: encoded as their fields."""

    type = Period
    name = "policy_period"

    def encode(self, obj: Period) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(Period)}

    def decode(self, data: dict[str, Any]) -> Period:
        return Period(**data)


class DebitAttemptAsDict(Transcoding):
    type = DebitAttempt
    name = "policy_debit_attempt"

    def encode(self, obj: DebitAttempt) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(DebitAttempt)}

    def decode(self, data: dict[str, Any]) -> DebitAttempt:
        return DebitAttempt(**data)


_PERIOD_FIELDS = tuple(f.name for f in fields(Period))
_ATTEMPT_FIELDS = tuple(f.name for f in fields(DebitAttempt))


def _period(data: dict[str, Any]) -> Period:
    return Period(**data)


def _attempt(data: dict[str, Any]) -> DebitAttempt:
    return DebitAttempt(**data)


# name -> decoder of the (already converted) ``_data_`` value
_FAST_DECODE: dict[str, Any] = {
    "datetime_iso": datetime.fromisoformat,
    "date_iso": date.fromisoformat,
    "uuid_hex": UUID,
    "decimal_str": Decimal,
    "policy_period": _period,
    "policy_debit_attempt": _attempt,
}
# the transcodings the fast path stands in for (the application registers these)
_FAST_TRANSCODINGS = {
    "datetime_iso": DatetimeAsISO,
    "date_iso": DateAsISO,
    "uuid_hex": UUIDAsHex,
    "decimal_str": DecimalAsStr,
    "policy_period": PeriodAsDict,
    "policy_debit_attempt": DebitAttemptAsDict,
}


class _Fallback(Exception):
    """The fast path met something it does not reproduce exactly: use the library's path."""


class EventCodec(JSONTranscoder):
    """A drop-in ``JSONTranscoder`` (same bytes, same objects) with a compiled fast path.

    ``register`` still works as the library's: a transcoding registered for a type the fast
    path does not handle is used through the library's encoder and decoder (whole event).
    Registering a different transcoding under one of the fast names turns the fast path off
    for that name.
    """

    def __init__(self) -> None:
        super().__init__()
        self._decoders: dict[str, Any] = {}
        self._fast_types: set[type] = set()
        self._foreign = False  # a type registered that the fast path does not stand in for
        # tag count -> plans (places of the tagged values), most recently used first
        self._plans: dict[int, list[tuple[tuple[tuple[Any, ...], Any], ...]]] = {}
        self.fallbacks = 0  # events handled by the library's path (for tests and benchmarks)

    def register(self, transcoding: Any) -> None:
        super().register(transcoding)
        name = transcoding.name
        if name in _FAST_DECODE and isinstance(transcoding, _FAST_TRANSCODINGS[name]):
            self._decoders[name] = _FAST_DECODE[name]
            self._fast_types.add(transcoding.type)
        else:
            self._decoders.pop(name, None)
            self._fast_types.discard(transcoding.type)
            self._foreign = True

    # ------------------------------------------------------------------ decode
    def decode(self, data: bytes) -> Any:
        """Parse (msgspec), then turn the tagged values into objects.

        Events of one kind have their tagged values at the same places, so the places found
        by a full walk are kept as a *plan*, keyed by how many times ``"_type_"`` occurs in
        the bytes. A later state with that count is converted by the first plan whose every
        place holds a tagged value: as many tagged values as occurrences, so none is left
        (an occurrence inside a string only raises the count, which fails the plans and
        walks in full). Places are kept inner first, as the library's object hook converts.
        """
        try:
            obj = _parse(data)
        except msgspec.DecodeError:
            # NaN/Infinity literals, numbers beyond a double, escaped lone surrogates:
            # the library's parser accepts them
            self.fallbacks += 1
            return super().decode(data)
        c = obj.__class__
        if c is dict:
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return self._tagged(obj)
            count = data.count(b'"_type_"')
            if not count:
                return obj
            plans = self._plans.get(count)
            if plans:
                for i, plan in enumerate(plans):
                    targets = _resolve(obj, plan)
                    if targets is not None:
                        convert = self._convert
                        for parent, key, v in targets:
                            parent[key] = convert(v)
                        if i:
                            plans.insert(0, plans.pop(i))
                        return obj
            places: list[tuple[tuple[Any, ...], Any]] = []
            self._dict_learn(obj, (), places)
            if len(places) == count:
                found = self._plans.setdefault(count, [])
                found.insert(0, tuple(places))
                del found[_PLANS_PER_COUNT:]
            return obj
        if c is list:
            return self._list(obj)
        return obj

    def _dict(self, d: dict[str, Any]) -> Any:
        for k, v in d.items():
            c = v.__class__
            if c is dict:
                if len(v) == 2 and "_type_" in v and "_data_" in v:
                    d[k] = self._tagged(v)
                else:
                    self._dict(v)
            elif c is list:
                self._list(v)
        return d

    def _list(self, items: list[Any]) -> list[Any]:
        for i, v in enumerate(items):
            c = v.__class__
            if c is dict:
                if len(v) == 2 and "_type_" in v and "_data_" in v:
                    items[i] = self._tagged(v)
                else:
                    self._dict(v)
            elif c is list:
                self._list(v)
        return items

    def _dict_learn(self, d: Any, at: tuple[Any, ...], places: list[Any]) -> None:
        """``_dict``/``_list`` that also notes where each tagged value was (inner first)."""
        for k, v in d.items() if d.__class__ is dict else enumerate(d):
            c = v.__class__
            if c is dict:
                if len(v) == 2 and "_type_" in v and "_data_" in v:
                    data = v["_data_"]
                    if data.__class__ is dict or data.__class__ is list:
                        self._dict_learn(data, (*at, k, "_data_"), places)
                    d[k] = self._convert(v)
                    places.append((at, k))
                else:
                    self._dict_learn(v, (*at, k), places)
            elif c is list:
                self._dict_learn(v, (*at, k), places)

    def _tagged(self, v: dict[str, Any]) -> Any:
        """``{"_type_": name, "_data_": data}``: inner values first, as the library's object hook."""
        data = v["_data_"]
        c = data.__class__
        if c is dict:
            self._dict(data)
        elif c is list:
            self._list(data)
        return self._convert(v)

    def _convert(self, v: dict[str, Any]) -> Any:
        """A tagged value whose data is already converted."""
        name = v["_type_"]
        try:
            decoder = self._decoders[name]
        except (KeyError, TypeError):
            try:
                transcoding = self.names[name]
            except (KeyError, TypeError) as e:
                msg = (
                    f"Data serialized with name '{name}' is not "
                    "deserializable. Please register a "
                    "custom transcoding for this type."
                )
                raise TranscodingNotRegisteredError(msg) from e
            return transcoding.decode(v["_data_"])
        return decoder(v["_data_"])

    # ------------------------------------------------------------------ encode
    def encode(self, obj: Any) -> bytes:
        """orjson's bytes when they are provably the library's, else the exact path.

        orjson writes the same compact, insertion-ordered, unescaped-UTF-8 JSON as the
        library's encoder for strings, integers, booleans, null, lists and dicts; dates,
        datetimes, decimals and the project's dataclasses reach :meth:`_default`
        (passthrough), which tags them as the library does. What orjson would write
        differently is ruled out by :func:`_plain` on the input first (a float, a ``UUID``,
        a subclass or other object) or refused by orjson itself (a non-string key, an
        integer beyond 64 bits); those states go through :meth:`_exact`.
        """
        if self._foreign:
            return super().encode(obj)
        if _plain(obj):
            try:
                return orjson.dumps(obj, default=self._default, option=_PASSTHROUGH)
            except orjson.JSONEncodeError:  # a non-string key, an integer beyond 64 bits
                pass
        return self._exact(obj)

    def _default(self, o: Any) -> Any:
        c = o.__class__
        if c in self._fast_types:
            if c is datetime:
                return {"_type_": "datetime_iso", "_data_": o.isoformat()}
            if c is date:
                return {"_type_": "date_iso", "_data_": o.isoformat()}
            if c is Period:
                return {"_type_": "policy_period", "_data_": {n: getattr(o, n) for n in _PERIOD_FIELDS}}
            if c is DebitAttempt:
                return {
                    "_type_": "policy_debit_attempt",
                    "_data_": {n: getattr(o, n) for n in _ATTEMPT_FIELDS},
                }
            if c is Decimal:
                return {"_type_": "decimal_str", "_data_": str(o)}
        raise TypeError  # orjson raises JSONEncodeError: the exact path decides

    def _exact(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._enc(obj))
        except (_Fallback, orjson.JSONEncodeError):
            self.fallbacks += 1
            return super().encode(obj)

    def _enc(self, o: Any) -> Any:
        """A copy of ``o`` in JSON types with the library's tags; _Fallback if not exactly reproducible."""
        c = o.__class__
        if c is str or c is int or c is bool or o is None:
            if c is int and not -(2**63) <= o < 2**64:
                raise _Fallback
            return o
        if c is dict:
            out = {}
            for k, v in o.items():
                if k.__class__ is not str:
                    raise _Fallback  # the library turns int/float/bool/None keys into strings
                vc = v.__class__
                if vc is str or vc is bool or v is None:
                    out[k] = v
                else:
                    out[k] = self._enc(v)
            return out
        if c is list or c is tuple:
            return [self._enc(v) for v in o]
        if c in self._fast_types:
            if c is UUID:
                return {"_type_": "uuid_hex", "_data_": o.hex}
            tagged = self._default(o)
            tagged["_data_"] = self._enc(tagged["_data_"])
            return tagged
        # floats (repr differs), subclasses of JSON types, other registered types: the library's way
        raise _Fallback


_parse = msgspec.json.Decoder().decode
_PLANS_PER_COUNT = 8


def _resolve(obj: Any, plan: Any) -> list[tuple[Any, Any, dict[str, Any]]] | None:
    """Every place of the plan holds a tagged value in ``obj``: (container, key, value), else None."""
    out = []
    for at, key in plan:
        parent = obj
        try:
            for k in at:
                parent = parent[k]
            v = parent[key]
        except (KeyError, IndexError, TypeError):
            return None
        if v.__class__ is not dict or len(v) != 2 or "_type_" not in v or "_data_" not in v:
            return None
        if parent.__class__ is not dict and parent.__class__ is not list:
            return None
        out.append((parent, key, v))
    return out


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


_SCALARS = frozenset({str, int, bool, type(None), datetime, date, Decimal})
_CONTAINERS = frozenset({dict, list, tuple, Period, DebitAttempt})


def _plain(o: Any) -> bool:
    """Only what orjson writes exactly as the library does: JSON types of the exact classes, and
    the types :meth:`EventCodec._default` tags. Not: a float (``1e-07`` vs ``1e-7``; NaN and
    infinities would become ``null``), a ``UUID`` (orjson writes it natively, hyphenated), a
    subclass or any other object (orjson writes enums natively, the library refuses them)."""
    c = o.__class__
    if c is dict:
        values: Any = o.values()
    elif c is list or c is tuple:
        values = o
    elif c is Period or c is DebitAttempt:
        values = vars(o).values()
    else:
        return c in _SCALARS
    for v in values:
        vc = v.__class__
        if vc in _SCALARS:
            continue
        if vc not in _CONTAINERS or not _plain(v):
            return False
    return True


def make_transcoder(register: Any = None) -> EventCodec:
    """The project's transcoder with the project's transcodings registered.

    ``register`` (a callable taking the transcoder) adds more, e.g. the application's
    ``register_transcodings``; without it the project's standard set is registered.
    """
    codec = EventCodec()
    if register is not None:
        register(codec)
    else:
        register_project_transcodings(codec)
    return codec


def register_project_transcodings(transcoder: JSONTranscoder) -> None:
    """The library's defaults plus the project's own types (the application's set)."""
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    transcoder.register(DateAsISO())
    transcoder.register(PeriodAsDict())
    transcoder.register(DebitAttemptAsDict())


__all__ = [
    "DateAsISO",
    "DebitAttemptAsDict",
    "EventCodec",
    "PeriodAsDict",
    "make_transcoder",
    "register_project_transcodings",
]
