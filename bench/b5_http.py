"""#5 ``GET /policies/{id}/limits`` and ``POST /claims/{id}/payments`` under load over loopback (wrk).

Servers (``bench.http_server``, each its own process, uvicorn, one worker, same
settings): the product app (limits served from the limits view's pre-rendered JSON, one
primary-key lookup, sent as it is); a bare FastAPI endpoint doing one primary-key SELECT
(the baseline).

Data: policies applied, activated and debited through the application; claims
reported and assessed (one payable loss each) spread over them; read models caught
up. wrk (``-t1 -c16``, ``--latency``) runs each endpoint for ``duration`` seconds
after a warm-up; GETs pick a random policy per request; POSTs take each claim once
(a claim paid twice answers 409 and would not be the same work).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from policy_core.calendar import TOKYO

from .b1_apply import apply_kwargs
from .common import Config, Measure, fresh_schema, interleaved, make_runtime, row

KEYS = {"operator": "bench-operator-key-0123456789", "auditor": "bench-auditor-key-0123456789"}
TARGET_RATIO = 0.7
TARGET_WORKERS_RATIO = 1.6  # limits rps with 2 API workers over 1 worker

LIST_LUA = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local i = 0
wrk.method = "%(method)s"
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  local id
  if "%(pick)s" == "random" then id = ids[math.random(#ids)]
  else i = i + 1; id = ids[((i - 1) %% #ids) + 1] end
  return wrk.format(nil, "%(prefix)s" .. id .. "%(suffix)s")
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(port: int, path: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180.0) -> None:
    """Until the server answers (a loaded two-core machine starts four Python processes here)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server on {port} exited ({proc.returncode}): {err}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start in {timeout:.0f} s")


def parse_wrk(text: str) -> dict[str, Any]:
    def ms(v: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", v)
        if not m:
            return float("nan")
        x = float(m.group(1))
        return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x

    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else 0.0
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", text, re.M)
        out[f"p{p}_ms"] = ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    out["ok_rps"] = out["rps"] * (1 - out["non_2xx"] / out["requests"]) if out["requests"] else 0.0
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1) if m else ""
    return out


def wrk(port: int, lua: str, duration: float, connections: int = 16, threads: int = 1) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        proc = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{int(duration)}s",
                "--latency",
                "-s",
                f.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    finally:
        os.unlink(f.name)
    res = parse_wrk(proc.stdout)
    res["raw"] = proc.stdout[-2000:]
    return res


def _lua(ids_file: str, method: str, prefix: str, suffix: str, pick: str) -> str:
    return LIST_LUA % {
        "ids": ids_file,
        "method": method,
        "key": KEYS["operator"],
        "prefix": prefix,
        "suffix": suffix,
        "pick": pick,
    }


def run(cfg: Config) -> list[Measure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    duration = cfg.size(10.0, 2.0)
    policies_n = cfg.size(200, 20)
    claims_per_run = cfg.size(2500, 300)
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    results: dict[str, list[dict[str, Any]]] = {}
    with fresh_schema(cfg, "b5") as db:
        rt = make_runtime(db)
        app = rt.app
        app.clock = lambda: datetime(2026, 9, 1, 12, tzinfo=TOKYO)
        try:
            pids = []
            for i in range(policies_n):
                pid = app.apply(**apply_kwargs(i, "b5"))
                p = app.get_policy(pid).current_period
                app.activate(pid, 1)
                app.record_debit_success(pid, 1, attempt=1, amount=p.premium, debit_date=p.debit_date)
                pids.append((pid, p))
            rng = random.Random(5)
            claims: list[str] = []
            for i in range(claims_per_run * cfg.runs + 200):
                pid, p = pids[i % len(pids)]
                when = p.start + timedelta(days=30 + i % 60)
                cid = app.report_incident(
                    policy_id=pid,
                    occurred_at=when,
                    discovered_at=when,
                    cause="theft",
                    records_affected=10,
                    description="bench",
                )
                app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 150_000}])
                claims.append(str(cid))
            rng.shuffle(claims)
            rt.projections.catch_up()
            (tmp / "policies.txt").write_text("\n".join(str(p) for p, _ in pids) + "\n")
            env = dict(
                os.environ,
                BENCH_DSN=db.dsn,
                BENCH_SCHEMA=db.schema,
                BENCH_DATA_DIR=str(rt.settings.data_dir),
                BENCH_KEYS=",".join(f"{r}:{k}" for r, k in KEYS.items()),
                PYTHONPATH=os.pathsep.join(
                    [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
                ),
            )
            servers = {}
            procs = []
            try:
                for mode in ("product", "bare", "product2"):
                    port = _free_port()
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "bench.http_server", mode, str(port)],
                            env=env,
                            stdout=subprocess.DEVNULL,
                            # a file, not a pipe: a pipe nobody reads would stall a server that logs
                            stderr=(tmp / f"{mode}.stderr").open("wb"),
                        )
                    )
                    servers[mode] = port
                for (mode, port), proc in zip(servers.items(), procs, strict=True):
                    _wait_up(
                        port,
                        "/bare/00000000-0000-0000-0000-000000000000" if mode == "bare" else "/api/v1/healthz",
                        proc,
                        tmp / f"{mode}.stderr",
                    )
                pol = str(tmp / "policies.txt")
                get_limits = _lua(pol, "GET", "/api/v1/policies/", "/limits", "random")
                get_bare = _lua(pol, "GET", "/bare/", "", "random")
                # warm-up
                wrk(servers["bare"], get_bare, 2)
                wrk(servers["product"], get_limits, 2)
                wrk(servers["product2"], get_limits, 2, connections=32)
                warm = tmp / "claims-warm.txt"
                warm.write_text("\n".join(claims[-200:]) + "\n")
                wrk(
                    servers["product"],
                    _lua(str(warm), "POST", "/api/v1/claims/", "/payments", "seq"),
                    1,
                    connections=4,
                )
                run_no = iter(range(cfg.runs))

                def payments() -> dict[str, Any]:
                    r = next(run_no)  # each run pays its own claims, each claim once
                    f = tmp / f"claims-{r}.txt"
                    f.write_text("\n".join(claims[r * claims_per_run : (r + 1) * claims_per_run]) + "\n")
                    lua = _lua(str(f), "POST", "/api/v1/claims/", "/payments", "seq")
                    return wrk(servers["product"], lua, duration)

                def report(r: int, results: dict[str, list[dict[str, Any]]]) -> None:
                    cfg.say(
                        f"  #5 run {r + 1}: "
                        + ", ".join(
                            f"{k} {v[-1]['rps']:.0f} rps p50 {v[-1]['p50_ms']} p99 {v[-1]['p99_ms']} ms"
                            f" non-2xx {v[-1]['non_2xx']}"
                            for k, v in results.items()
                        )
                    )

                # 1 vs 2 API workers under the same load generator: one wrk thread (C, epoll: far
                # from its limit here) so that wrk takes as little as it can of the two cores the
                # workers and PostgreSQL need; not pinned (pinning wrk to a core would take that
                # core from a worker); 32 connections, enough to keep both workers busy.
                two = {"connections": 32, "threads": 1}
                results = interleaved(
                    {
                        "bare": lambda: wrk(servers["bare"], get_bare, duration),
                        "limits": lambda: wrk(servers["product"], get_limits, duration),
                        "limits_1w": lambda: wrk(servers["product"], get_limits, duration, **two),
                        "limits_2w": lambda: wrk(servers["product2"], get_limits, duration, **two),
                        "payments": payments,
                    },
                    cfg.runs,
                    after_run=report,
                )
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
        finally:
            rt.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def series(k: str, f: str) -> list[float]:
        return [x[f] for x in results[k] if x.get(f) is not None]

    errs = {k: sum(x["non_2xx"] for x in v) for k, v in results.items()}
    common = (
        f"non-2xx per series {errs} (rps counts 2xx only); wrk -t1 -c16 -d{duration:.0f}s over "
        f"127.0.0.1; uvicorn 1 worker (h11, asyncio); {policies_n} policies"
    )
    pay_err = sum(x["non_2xx"] for x in results["payments"])
    pay_req = sum(x["requests"] for x in results["payments"])
    out = [
        row(
            5,
            "limits_rps",
            "GET /policies/{id}/limits (rps)",
            series("limits", "ok_rps"),
            "req/s",
            baseline="bare FastAPI endpoint, one primary-key SELECT",
            baseline_runs=series("bare", "ok_rps"),
            target=f">= {TARGET_RATIO} x bare rps",
            met=lambda v, r: r is not None and r >= TARGET_RATIO,
            notes=common,
        ),
        row(
            5,
            "limits_rps_2_workers",
            "GET /policies/{id}/limits (rps), 2 API worker processes",
            series("limits_2w", "ok_rps"),
            "req/s",
            baseline="the same endpoint, 1 worker process (same wrk: -t1 -c32)",
            baseline_runs=series("limits_1w", "ok_rps"),
            target=f">= {TARGET_WORKERS_RATIO} x one worker",
            met=lambda v, r: r is not None and r >= TARGET_WORKERS_RATIO,
            notes=f"wrk -t1 -c32 -d{duration:.0f}s for both (keep-alive; worker connections TCP_NODELAY; "
            "each worker its own SO_REUSEPORT socket); "
            f"{policies_n} policies; "
            f"on {os.cpu_count()} cores shared by wrk, PostgreSQL and the workers",
        ),
        row(
            5,
            "limits_p50_ms",
            "GET limits latency p50",
            series("limits", "p50_ms"),
            "ms",
            baseline="bare endpoint p50",
            baseline_runs=series("bare", "p50_ms"),
        ),
        row(
            5,
            "limits_p99_ms",
            "GET limits latency p99",
            series("limits", "p99_ms"),
            "ms",
            baseline="bare endpoint p99",
            baseline_runs=series("bare", "p99_ms"),
        ),
        row(
            5,
            "payments_rps",
            "POST /claims/{id}/payments (rps)",
            series("payments", "ok_rps"),
            "req/s",
            baseline="bare FastAPI endpoint, one primary-key SELECT",
            baseline_runs=series("bare", "ok_rps"),
            notes=f"{common}; each claim paid once; non-2xx {pay_err} of {pay_req}",
        ),
        row(5, "payments_p50_ms", "POST payments latency p50", series("payments", "p50_ms"), "ms"),
        row(5, "payments_p99_ms", "POST payments latency p99", series("payments", "p99_ms"), "ms"),
    ]
    out[0].extra = {
        "wrk": {k: [{kk: vv for kk, vv in x.items() if kk != "raw"} for x in v] for k, v in results.items()}
    }
    return out
