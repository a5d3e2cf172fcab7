"""Large event stores without running millions of commands.

A *template* is a real event history: it is made by the product itself (the
application's commands, or ``scheduler.simulate``) in a scratch schema, then read
back as stored rows (``originator_id, originator_version, topic, state``) exactly as
the real mapper wrote them. Copies of it are COPYed into a ``policy_admin_events``
table (the real table, created by the real recorder) with new aggregate ids:

* every aggregate id of the template is replaced, per copy, by a fresh UUID, both as
  the row's ``originator_id`` and wherever it appears inside a state (claim ids in
  policy events, policy ids in claim events: they are encoded as hex);
* member numbers get a per-copy suffix, so that ``(scheme, member_number)`` stays
  unique across copies;
* personal fields (envelopes sealed under the template's data keys) are sealed again per copy
  under a data key of the copy's own data subject (one key per member, as in production), and
  those keys are stored wrapped by the bench's master key (``pii_data_keys``, ``pii_subjects``),
  so that every copy reads back its holder and bank account;
* rows are written interleaved across a chunk of copies in template order (event k
  of every copy, then event k+1), which keeps each copy's causal order and spreads
  aggregates over the log like real time does (a rebuild batch touches many
  aggregates, as it would in production).

For the growth benchmark (10,000,000 rows) the copies are made inside PostgreSQL
(``INSERT ... SELECT`` from a template table cross ``generate_series``) with ids
derived from ``md5``: the states are not rewritten (nothing reads across aggregates
there), which keeps setup to a few minutes.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from uuid import UUID

import psycopg

from policy_core.database import Database
from policy_core.personal_data.crypto import subject_id

from .common import EVENTS, Config, fresh_schema, make_runtime, qualified

HEX_RE = re.compile(rb"[0-9a-f]{32}")
# A sealed personal field as the codec writes it (policy_core.personal_data.crypto.seal).
ENVELOPE_RE = re.compile(
    rb'"(holder|bank_account|description)":\{"__pii__":1,"kid":"([0-9a-f-]{36})",'
    rb'"n":"([A-Za-z0-9+/=]+)","ct":"([A-Za-z0-9+/=]+)"\}'
)


@dataclass
class TplRow:
    originator_id: UUID
    version: int
    topic: str
    state: bytes
    ids: tuple[bytes, ...] = ()  # template aggregate ids (hex) found in the state
    member: bool = False  # the state holds a member number to make unique
    # sealed fields: (start, end, field, template key id, plaintext), in order of position
    sealed: tuple[tuple[int, int, str, str, bytes], ...] = ()


@dataclass
class Template:
    rows: list[TplRow]
    aggregate_ids: list[UUID]
    member_marker: bytes | None = None  # substring of member numbers to suffix per copy
    info: dict[str, Any] = field(default_factory=dict)
    # the template's data keys: key id -> (subject, raw key), and (scheme, member) per key id
    keys: dict[str, tuple[UUID, bytes]] = field(default_factory=dict)
    members: dict[str, tuple[str, str]] = field(default_factory=dict)
    subjects: dict[UUID, UUID] = field(default_factory=dict)  # template aggregate -> subject

    @property
    def events(self) -> int:
        return len(self.rows)

    def avg_state_bytes(self) -> float:
        return sum(len(r.state) for r in self.rows) / max(1, len(self.rows))


def read_template(db: Database, member_marker: bytes | None = None) -> Template:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from policy_core.personal_data.keys import LocalMasterKey

    with psycopg.connect(db.dsn) as conn:
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {qualified(db)} ORDER BY "
            "notification_id"
        ).fetchall()
        wrapped = conn.execute(
            f'SELECT key_id, subject_id, wrapped FROM "{db.schema}".pii_data_keys'
        ).fetchall()
        subjects = dict(
            conn.execute(f'SELECT aggregate_id, subject_id FROM "{db.schema}".pii_subjects').fetchall()
        )
    master = LocalMasterKey.from_base64(BENCH_MASTER_KEY)
    keys = {str(k): (s, master.unwrap(bytes(w))) for k, s, w in wrapped}
    ids = {r[0] for r in rows}
    hexes = {u.hex.encode() for u in ids}
    out = []
    members: dict[str, tuple[str, str]] = {}
    for oid, version, topic, state in rows:
        state = bytes(state)
        found = tuple(sorted({m for m in HEX_RE.findall(state) if m in hexes}))
        sealed = []
        for m in ENVELOPE_RE.finditer(state):
            name, kid = m.group(1).decode(), m.group(2).decode()
            aad = f"policy_admin:pii:v1:{kid}:{name}".encode()
            plain = AESGCM(keys[kid][1]).decrypt(
                base64.b64decode(m.group(3)), base64.b64decode(m.group(4)), aad
            )
            sealed.append((m.start(), m.end(), name, kid, plain))
        if sealed and b'"member_number"' in state:
            doc = json.loads(state)
            scheme, member = doc.get("scheme"), doc.get("member_number")
            if isinstance(scheme, str) and isinstance(member, str):
                for *_, kid, _ in sealed:
                    members.setdefault(kid, (scheme, member))
        out.append(
            TplRow(
                oid,
                version,
                topic,
                state,
                found,
                bool(member_marker and member_marker in state),
                tuple(sealed),
            )
        )
    return Template(out, sorted(ids, key=str), member_marker, keys=keys, members=members, subjects=subjects)


BENCH_MASTER_KEY = "cG9saWN5LWFkbWluIGJlbmNoIGRhdGFnZW4ga2V5IDE="  # the bench's runtimes share it


class _CopyKeys:
    """One copy's data keys: a new key (and subject) per template key, sealed fields re-sealed."""

    def __init__(self, template: Template, suffix: bytes, marker: bytes | None) -> None:
        self.template = template
        self.keys: dict[str, tuple[str, bytes, UUID]] = {}
        for kid, (tpl_subject, _) in template.keys.items():
            found = template.members.get(kid)
            if found is not None and marker:
                scheme, member = found
                subject = subject_id(scheme, member.replace(marker.decode(), suffix.decode(), 1))
            else:
                subject = uuid.uuid5(tpl_subject, suffix.decode() or "copy")
            self.keys[kid] = (str(uuid.uuid4()), os.urandom(32), subject)

    def reseal(self, r: TplRow) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        parts, at = [], 0
        for start, end, name, kid, plain in r.sealed:
            new_kid, key, _ = self.keys[kid]
            nonce = os.urandom(12)
            ct = AESGCM(key).encrypt(nonce, plain, f"policy_admin:pii:v1:{new_kid}:{name}".encode())
            parts.append(r.state[at:start])
            parts.append(
                b'"%s":{"__pii__":1,"kid":"%s","n":"%s","ct":"%s"}'
                % (name.encode(), new_kid.encode(), base64.b64encode(nonce), base64.b64encode(ct))
            )
            at = end
        parts.append(r.state[at:])
        return b"".join(parts)


def _write_keys(
    conn: psycopg.Connection[Any], db: Database, copies: list[tuple[_CopyKeys, dict[UUID, UUID]]]
) -> None:
    """The copies' data keys (wrapped by the bench master key) and which aggregate is whose."""
    from policy_core.personal_data.keys import LocalMasterKey

    master = LocalMasterKey.from_base64(BENCH_MASTER_KEY)
    with conn.cursor() as cur:
        with cur.copy(
            f'COPY "{db.schema}".pii_data_keys (key_id, subject_id, wrapped, master_key_id) '
            "FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["uuid", "uuid", "bytea", "text"])
            for keys, _ in copies:
                for new_kid, key, subject in keys.keys.values():
                    cp.write_row((UUID(new_kid), subject, master.wrap(key), master.key_id))
        with cur.copy(
            f'COPY "{db.schema}".pii_subjects (aggregate_id, subject_id) FROM STDIN (FORMAT BINARY)'
        ) as cp:
            cp.set_types(["uuid", "uuid"])
            for keys, new in copies:
                by_subject = {s: keys.keys[k][2] for k, (s, _) in keys.template.keys.items()}
                for agg, tpl_subject in keys.template.subjects.items():
                    if agg in new and tpl_subject in by_subject:
                        cp.write_row((new[agg], by_subject[tpl_subject]))


def _copy_rows(template: Template, copy_no: int) -> tuple[dict[UUID, UUID], dict[bytes, bytes]]:
    new = {u: uuid.uuid4() for u in template.aggregate_ids}
    hexmap = {u.hex.encode(): n.hex.encode() for u, n in new.items()}
    return new, hexmap


def copy_template(
    db: Database,
    template: Template,
    copies: int,
    *,
    first_copy: int = 0,
    chunk: int = 64,
    progress: Any = None,
) -> int:
    """COPY ``copies`` remapped copies of the template into the events table. Returns rows written."""
    written = 0
    stmt = (
        f"COPY {qualified(db)} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
    )
    marker = template.member_marker
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        for start in range(first_copy, first_copy + copies, chunk):
            n = min(chunk, first_copy + copies - start)
            maps = [_copy_rows(template, start + i) for i in range(n)]
            suffixes = [marker + b"c%d-" % (start + i) if marker else b"" for i in range(n)]
            keys = [_CopyKeys(template, suffixes[i] or b"c%d-" % (start + i), marker) for i in range(n)]
            _write_keys(conn, db, [(keys[i], maps[i][0]) for i in range(n)])
            with conn.cursor() as cur, cur.copy(stmt) as cp:
                cp.set_types(["uuid", "int8", "text", "bytea"])
                for r in template.rows:
                    for i in range(n):
                        new, hexmap = maps[i]
                        state = keys[i].reseal(r) if r.sealed else r.state
                        for h in r.ids:
                            state = state.replace(h, hexmap[h])
                        if r.member:
                            state = state.replace(marker, suffixes[i], 1)
                        cp.write_row((new[r.originator_id], r.version, r.topic, state))
            conn.commit()
            written += n * len(template.rows)
            if progress is not None:
                progress(written)
    return written


def copy_in_database(
    db: Database,
    template: Template,
    copies: int,
    *,
    first_copy: int = 0,
    per_statement: int = 1_000_000,
    progress: Any = None,
) -> int:
    """Copies made by PostgreSQL itself (ids from md5 of copy number and template id; states as they are)."""
    tpl = f'"{db.schema}"."bench_template"'
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {tpl} (ord int PRIMARY KEY, originator_id uuid, "
            "originator_version bigint, topic text, state bytea)"
        )
        if conn.execute(f"SELECT count(*) FROM {tpl}").fetchone()[0] != len(template.rows):
            conn.execute(f"TRUNCATE {tpl}")
            with conn.cursor() as cur, cur.copy(f"COPY {tpl} FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int4", "uuid", "int8", "text", "bytea"])
                for i, r in enumerate(template.rows):
                    cp.write_row((i, r.originator_id, r.version, r.topic, r.state))
        conn.execute("SET synchronous_commit = off")
        _install_template_keys(conn, db, template)
        per = max(1, per_statement // len(template.rows))
        done = 0
        for a in range(first_copy, first_copy + copies, per):
            b = min(first_copy + copies, a + per) - 1
            conn.execute(
                f"INSERT INTO {qualified(db)} (originator_id, originator_version, topic, state) "
                "SELECT md5(g::text || ':' || t.originator_id::text)::uuid, t.originator_version, "
                "t.topic, t.state "
                f"FROM generate_series(%s::int, %s::int) AS g CROSS JOIN {tpl} AS t ORDER BY g, t.ord",
                [a, b],
            )
            done += (b - a + 1) * len(template.rows)
            if progress is not None:
                progress(done)
    return done


def _install_template_keys(conn: psycopg.Connection[Any], db: Database, template: Template) -> None:
    """The template's own data keys (copies made in the database keep its envelopes as they are)."""
    from policy_core.personal_data.keys import LocalMasterKey

    master = LocalMasterKey.from_base64(BENCH_MASTER_KEY)
    for kid, (subject, key) in template.keys.items():
        conn.execute(
            f'INSERT INTO "{db.schema}".pii_data_keys (key_id, subject_id, wrapped, master_key_id) '
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [UUID(kid), subject, master.wrap(key), master.key_id],
        )


def copied_id(copy_no: int, template_id: UUID) -> UUID:
    """The id ``copy_in_database`` gives to ``template_id`` in copy ``copy_no``."""
    import hashlib

    return UUID(hashlib.md5(f"{copy_no}:{template_id}".encode()).hexdigest())


# ---------------------------------------------------------------------------- templates


BANK_OK = {
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾔﾏﾀﾞ ｼｮｳﾃﾝ",
}
INDUSTRIES = [
    "retail",
    "restaurant",
    "printing",
    "construction",
    "wholesale",
    "manufacturing",
    "clinic",
    "other",
]
PLANS = ["A", "A", "A", "B", "B", "C", "D", "E"]


def simulated_template(cfg: Config, *, policies: int, years: int, seed: int = 7) -> Template:
    """A realistic mixed history made by ``scheduler.simulate`` (debits, failures, lapses, claims,
    renewals)."""
    key = ("sim", policies, years, seed)
    if key in cfg.scratch:
        return cfg.scratch[key]
    from policy_core.calendar import TOKYO
    from scheduler.clock import SettableClock
    from scheduler.simulate import DEFAULT_START, simulate

    t = time.perf_counter()
    with fresh_schema(cfg, "tpl") as db:
        clock = SettableClock(datetime.combine(DEFAULT_START, dtime(0), tzinfo=TOKYO))
        rt = make_runtime(db, clock=clock)
        try:
            summary = simulate(rt, policies=policies, years=years, seed=seed)
        finally:
            rt.close()
        tpl = read_template(db, member_marker=b"-%d-" % seed)
    tpl.info = {
        "kind": "simulate",
        "policies": policies,
        "years": years,
        "seed": seed,
        "seconds": round(time.perf_counter() - t, 1),
        "summary": summary,
    }
    cfg.say(
        f"template: simulate({policies} policies, {years} years) -> {tpl.events} events, "
        f"{len(tpl.aggregate_ids)} aggregates, {tpl.avg_state_bytes():.0f} B/state, "
        f"{tpl.info['seconds']} s"
    )
    cfg.scratch[key] = tpl
    return tpl


def policies_template(
    cfg: Config,
    *,
    policies: int,
    stage: str,
    application_date: date = date(2026, 1, 10),
    failing_share: float = 0.04,
    seed: int = 11,
) -> Template:
    """``policies`` varied policies through the real application, up to ``stage``:

    * ``"due"``: Applied, Activated (the first premium is due: what a debit run collects);
    * ``"notified"``: also PremiumDebited and RenewalNoticeIssued (what a renewal run renews).
    """
    key = ("pol", policies, stage, application_date, failing_share, seed)
    if key in cfg.scratch:
        return cfg.scratch[key]
    from policy_core.calendar import TOKYO
    from scheduler.clock import SettableClock

    rng = random.Random(seed)
    clock = SettableClock(datetime.combine(application_date, dtime(10), tzinfo=TOKYO))
    marker = b"-TPL-"
    with fresh_schema(cfg, "tpl") as db:
        rt = make_runtime(db, clock=clock)
        app = rt.app
        try:
            ids = []
            for i in range(policies):
                failing = rng.random() < failing_share
                account = dict(
                    BANK_OK,
                    account_number=f"9{rng.randrange(10**5):05d}1"
                    if failing
                    else f"{rng.randrange(1, 9)}{rng.randrange(10**6):06d}",
                )
                plan = rng.choice(PLANS)
                ids.append(
                    app.apply(
                        scheme=rng.choice(["jcci", "chuokai"]),
                        member_number=f"M-TPL-{i:05d}",
                        holder={"name": f"Bench member {i}"},
                        industry=rng.choice(INDUSTRIES),
                        annual_sales=rng.choice([10, 30, 50, 100, 300, 1000]) * 1_000_000,
                        plan=plan,
                        liability_limit=1_000_000_000 if plan == "E" else None,
                        network_rider=rng.random() < 0.3,
                        bank_account=account,
                        application_date=application_date,
                    )
                )
            for pid in ids:
                app.activate(pid, 1)
            if stage == "notified":
                for pid in ids:
                    p = app.get_policy(pid).current_period
                    clock.set(datetime.combine(p.debit_date, dtime(9), tzinfo=TOKYO))
                    app.record_debit_success(pid, 1, attempt=1, amount=p.premium, debit_date=p.debit_date)
                for pid in ids:
                    p = app.get_policy(pid).current_period
                    clock.set(max(clock.now(), p.end - timedelta(days=30)))
                    app.issue_renewal_notice(
                        pid, 1, issued_on=(p.end - timedelta(days=30)).astimezone(TOKYO).date()
                    )
        finally:
            rt.close()
        tpl = read_template(db, member_marker=marker)
    tpl.info = {"kind": "policies", "policies": policies, "stage": stage}
    cfg.scratch[key] = tpl
    return tpl


__all__ = [
    "EVENTS",
    "Template",
    "TplRow",
    "copy_in_database",
    "copy_template",
    "copied_id",
    "policies_template",
    "read_template",
    "simulated_template",
]
