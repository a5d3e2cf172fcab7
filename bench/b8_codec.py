"""#8 the event codec alone: decode (and encode) of 100,000 stored ``Applied`` events.

The states are real: ``Applied`` events made by the product (``policies_template``: the
application's own commands over varied policies), read back as the stored bytes, repeated up
to the count. Timed in one process, interleaved per run, CPU time (``process_time``: the
machine is shared), the garbage collector left as it is in production:

* the product's codec (``policy_core.codec``, what the application's mapper holds);
* the library's ``JSONTranscoder`` with the same transcodings (today's main before the codec);
* raw ``json.loads`` of the same bytes (no object conversion: the floor for a Python parse);
* the two compiled parsers alone, ``msgspec.json.decode`` and ``orjson.loads`` (the choice);
* encoding the decoded states back: the codec vs the library's encoder.
"""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec
import orjson
from eventsourcing.persistence import JSONTranscoder

from policy_core.codec import make_transcoder, register_project_transcodings

from .common import Config, Measure, row
from .datagen import policies_template


def _timed(fn: Any, items: list[Any]) -> float:
    t = time.process_time()
    for x in items:
        fn(x)
    return time.process_time() - t


def run(cfg: Config) -> list[Measure]:
    n = cfg.size(100_000, 2_000)
    tpl = policies_template(cfg, policies=cfg.size(200, 20), stage="due")
    applied = [r.state for r in tpl.rows if r.topic.endswith("Policy.Applied")]
    states = (applied * (n // len(applied) + 1))[:n]
    size = sum(len(s) for s in applied) / len(applied)
    library = JSONTranscoder()
    register_project_transcodings(library)
    codec = make_transcoder()
    for s in applied:  # both read the same objects, and the codec re-encodes the stored bytes
        assert codec.decode(s) == library.decode(s) and codec.encode(codec.decode(s)) == s
    objs = [library.decode(s) for s in applied]
    objs = (objs * (n // len(objs) + 1))[:n]
    series: dict[str, list[float]] = {
        k: [] for k in ("ours", "library", "json", "msgspec", "orjson", "enc_ours", "enc_library")
    }
    decode_msgspec = msgspec.json.Decoder().decode
    for r in range(cfg.runs):
        series["ours"].append(n / _timed(codec.decode, states))
        series["library"].append(n / _timed(library.decode, states))
        series["json"].append(n / _timed(json.loads, states))
        series["msgspec"].append(n / _timed(decode_msgspec, states))
        series["orjson"].append(n / _timed(orjson.loads, states))
        series["enc_ours"].append(n / _timed(codec.encode, objs))
        series["enc_library"].append(n / _timed(library.encode, objs))
        cfg.say(f"  #8 run {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in series.items()))
    notes = (
        f"{n:,} Applied states ({len(applied)} distinct, made by the product, {size:.0f} B each), "
        f"CPU seconds (process_time) per series, interleaved; codec fallbacks {codec.fallbacks}"
    )
    return [
        row(
            8,
            "codec_decode",
            "decode stored Applied events, the product's codec (events/s)",
            series["ours"],
            "ev/s",
            baseline="the library's JSONTranscoder, same transcodings",
            baseline_runs=series["library"],
            notes=notes,
        ),
        row(
            8,
            "codec_decode_vs_json",
            "decode stored Applied events, the product's codec (events/s)",
            series["ours"],
            "ev/s",
            baseline="raw json.loads of the same bytes (no object conversion)",
            baseline_runs=series["json"],
            notes=notes,
        ),
        row(
            8,
            "codec_parse_msgspec",
            "parse only, msgspec.json.decode (events/s)",
            series["msgspec"],
            "ev/s",
            baseline="orjson.loads of the same bytes",
            baseline_runs=series["orjson"],
            notes=notes,
        ),
        row(
            8,
            "codec_encode",
            "encode Applied states, the product's codec (events/s)",
            series["enc_ours"],
            "ev/s",
            baseline="the library's JSONTranscoder.encode (same bytes)",
            baseline_runs=series["enc_library"],
            notes=notes,
        ),
    ]
