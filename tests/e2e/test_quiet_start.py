"""`serve` started twice on the same data directory (#10): the second start says nothing but its
own lines (no pgserver narration of initdb / pg_ctl, no warnings), PostgreSQL logs no error (the
library's `CREATE TYPE` of every start: `type "stored_event_uuid" already exists`), and the access
log names the path of a search without its query (a holder's name in `?holder_name=`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.test_processes import CLI, _free_port, _stop, _wait

pytestmark = pytest.mark.postgres

SEARCHED = "静寂起動テスト商会"


def _serve_once(data_dir: Path, search: bool) -> str:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_") and k != "DATABASE_URL"}
    env["POLICY_LOG_FILE"] = os.environ["POLICY_LOG_FILE"]  # the run's log (tests/logscan.py)
    env.update(
        POLICY_DATA_DIR=str(data_dir),
        POLICY_SCHEDULER_INTERVAL="3600",
        POLICY_LOG_LEVEL="INFO",
        POLICY_MASTER_KEY=os.environ["POLICY_MASTER_KEY"],
    )
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 120, "the API", proc)
        if search:
            key = json.loads((data_dir / "api-keys.json").read_text())["operator"]
            got = httpx.get(
                f"{base}/policies",
                params={"holder_name": SEARCHED},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert got.status_code == 200, got.text
    finally:
        code = _stop(proc, timeout=60)
    out = proc.communicate()[0].decode()
    assert code in (0, 143), out[-2000:]  # 143: ended by SIGTERM, as a signalled process reports
    return out


def test_a_second_start_is_quiet_and_the_access_log_has_no_query(tmp_path):
    first = _serve_once(tmp_path, search=True)
    assert "GET /api/v1/policies HTTP" in first  # the access line, path only
    assert SEARCHED not in first and quote(SEARCHED) not in first and "holder_name" not in first
    second = _serve_once(tmp_path, search=False)
    lines = second.splitlines()
    assert lines, "the server said nothing at all"
    for line in lines:
        assert line.startswith("{") or line.startswith("INFO:"), line  # JSON log lines (uvicorn's own)
        if line.startswith("{"):
            record = json.loads(line)
            assert record["level"] in ("info", "debug"), line  # nothing went wrong
            assert record["logger"] != "pgserver", line
    assert "initdb" not in second and "pg_ctl" not in second and "Warning" not in second
    pg_log = (tmp_path / "pgdata" / "log").read_text()
    assert "already exists" not in pg_log
    assert "ERROR" not in pg_log, [line for line in pg_log.splitlines() if "ERROR" in line]
