"""Several processes: ``serve --workers 2`` (two API processes beside one projection runner and
one scheduler, on an embedded PostgreSQL started once) and two projection runners splitting the
views between them (``projections run --views``), as real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from policy_core.bootstrap import bootstrap
from policy_core.database import Database
from policy_core.settings import Settings
from tests.e2e.test_api_core import APPLICATION
from tests.integration.test_projections import onboard

pytestmark = pytest.mark.postgres

CLI = [sys.executable, "-m", "policy_core.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(c) for c in text)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
        return ""


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}")
        try:
            value = predicate()
        except (httpx.HTTPError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def test_serve_with_two_workers_on_the_embedded_database(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_") and k != "DATABASE_URL"}
    env["POLICY_LOG_FILE"] = os.environ["POLICY_LOG_FILE"]  # the run's log (tests/logscan.py)
    env.update(
        POLICY_DATA_DIR=str(tmp_path),
        POLICY_SCHEDULER_INTERVAL="3600",
        POLICY_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [*CLI, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 120, "the API", proc)
        # two API workers, and one embedded PostgreSQL (started by the parent, data under the data dir)
        workers = [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]
        assert len(workers) == 2
        postmasters = [p for p in _all_pids() if "postgres" in _cmdline(p) and str(tmp_path) in _cmdline(p)]
        assert len(postmasters) == 1
        # one keys file, made once by the parent: both workers accept its key
        keys = json.loads((tmp_path / "api-keys.json").read_text())
        headers = {"Authorization": f"Bearer {keys['operator']}"}

        # one request retried on many connections (any worker may get each): one policy, one answer
        idem = dict(headers, **{"Idempotency-Key": f"workers-{uuid.uuid4().hex}"})

        def post(_: int) -> tuple[int, str]:
            with httpx.Client(timeout=30) as c:  # a new connection each time
                r = c.post(f"{base}/policies", headers=idem, json=APPLICATION)
                return r.status_code, r.text

        with ThreadPoolExecutor(8) as pool:
            racing = list(pool.map(post, range(16)))
        # concurrent repeats: one runs, the others are told it is still running (whichever worker)
        assert {code for code, _ in racing} <= {201, 409}
        assert all("request_in_progress" in text for code, text in racing if code == 409), racing
        assert len({text for code, text in racing if code == 201}) == 1
        # repeats after it finished, on new connections: the first answer, nothing recorded again
        answers = [post(i) for i in range(8)]
        assert {code for code, _ in answers} == {201}
        first = next(json.loads(text) for code, text in racing if code == 201)
        assert all(json.loads(text) == first for _, text in answers)
        pid = first["id"]
        # the projection runner of the parent (one for all workers) projects it
        _wait(
            lambda: httpx.get(f"{base}/policies/{pid}/limits", headers=headers, timeout=5).status_code == 200,
            60,
            "the limits view",
            proc,
        )
        ready = httpx.get(f"{base}/readyz", headers=headers, timeout=10)
        assert ready.status_code == 200, ready.text
        for _ in range(6):  # reads on new connections, whichever worker answers
            with httpx.Client(timeout=10) as c:
                got = c.get(f"{base}/policies/{pid}", headers=headers)
            assert got.status_code == 200 and got.json()["id"] == pid
    finally:
        code = _stop(proc, timeout=60)
    out, err = proc.communicate()
    assert code == 0, err.decode()[-2000:]
    assert not [p for p in _all_pids() if str(tmp_path) in _cmdline(p)]  # workers and PostgreSQL gone


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def test_two_projection_runners_split_the_views_each_moving_only_its_own(pg_dsn):
    schema = f"t_{uuid.uuid4().hex[:16]}"
    db = Database(dsn=pg_dsn, schema=schema)
    db.ensure_schema()
    env = dict(os.environ, DATABASE_URL=pg_dsn, POLICY_DB_SCHEMA=schema, POLICY_LOG_LEVEL="WARNING")
    env["POLICY_DATA_DIR"] = tempfile.mkdtemp()
    rt = bootstrap(Settings(POLICY_DATA_DIR=env["POLICY_DATA_DIR"]), database=db)
    a = b = None
    mine_a = ("limits", "policies")
    # runner B owns every other view, whatever views the product has
    mine_b = tuple(name for name in rt.read_models.lag() if name not in mine_a)
    try:
        a = subprocess.Popen(
            [*CLI, "projections", "run", "--views", ",".join(mine_a), "--poll-interval", "0.2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        b = subprocess.Popen(
            [*CLI, "projections", "run", "--views", ",".join(mine_b), "--no-seal"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        app = rt.app
        onboard(app, "SPLIT-1")
        head = app.recorder.max_notification_id()

        def positions() -> dict[str, int]:
            return {name: v["position"] for name, v in rt.read_models.lag().items()}

        _wait(lambda: min(positions().values()) >= head, 60, "both runners at the head", a)

        # runner A stops: its views stay where they are, runner B's keep following
        assert _stop(a) == 0
        onboard(app, "SPLIT-2")
        head2 = app.recorder.max_notification_id()
        _wait(lambda: all(positions()[n] >= head2 for n in mine_b), 60, "runner B at the new head", b)
        time.sleep(0.5)
        assert positions()["limits"] == positions()["policies"] < head2
        assert _stop(b) == 0
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        rt.close()
        db.drop_schema()
