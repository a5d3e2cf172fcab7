"""Issue 10, defect 9: SIGTERM (kill, systemd, docker) stops the embedded PostgreSQL cleanly,
as Ctrl-C does: ``policy-admin serve`` in a subprocess, terminated, leaves no postmaster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_sigterm_stops_serve_and_its_embedded_postgres():
    tmp_path = Path(tempfile.mkdtemp(prefix="policy-admin-sigterm-"))
    tmp_path.chmod(0o755)  # pgserver runs PostgreSQL as its own user when started by root
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "POLICY_API_KEYS", "POLICY_DB_SCHEMA")
    }
    env.update(POLICY_DATA_DIR=str(tmp_path), POLICY_RUN_SCHEDULER="false", POLICY_RUN_PROJECTIONS="false")
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "policy_core.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        pidfile = Path(tmp_path) / "pgdata" / "postmaster.pid"

        def serving() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return proc.poll() is not None

        assert _wait_for(serving, 120) and proc.poll() is None, (tmp_path / "serve.log").read_text()
        postmaster = int(pidfile.read_text().splitlines()[0])
        assert psutil.pid_exists(postmaster)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert _wait_for(lambda: not psutil.pid_exists(postmaster), 30), (tmp_path / "serve.log").read_text()
        assert not pidfile.exists()  # a clean stop (pg_ctl stop), not a kill
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
