"""A real server process (``policy-admin serve``) on real PostgreSQL, data made through its API,
and Debian's Chromium driven by Playwright (launched from /usr/bin/chromium: never downloaded)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

KEYS = {
    "operator": "op-browser-0123456789abcdef",
    "auditor": "au-browser-0123456789abcdef",
    "dashboard": "da-browser-0123456789abcdef",
}
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

HOLDERS = [
    "山田印刷株式会社",
    "佐藤歯科クリニック",
    "鈴木商店",
    "高橋物流株式会社",
    "田中会計事務所",
    "伊藤不動産",
    "渡辺製作所",
]


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _application(scheme: str, i: int, *, account: str = "1234567", plan: str = "B", **extra) -> dict:
    return {
        "scheme": scheme,
        "member_number": f"B-{scheme}-{i}",
        "holder": {
            "name": HOLDERS[i % len(HOLDERS)] if scheme == "chuokai" else HOLDERS[(i + 4) % len(HOLDERS)]
        },
        "industry": ("printing", "retail", "clinic")[i % 3],
        "annual_sales": 200_000_000,
        "plan": plan,
        "bank_account": {
            "bank_code": "0001",
            "branch_code": "001",
            "account_type": "ordinary",
            "account_number": account,
            "holder_kana": "ﾀﾒｼ ｼｮｳｼﾞ",
        },
        "application_date": "2026-01-10",
        **extra,
    }


def make_portfolio(api: httpx.Client) -> dict:
    """Policies in both schemes, debits that succeed and fail (one lapse per scheme), a cancellation,
    a paid claim that exhausts a section limit, an open claim."""
    op = bearer("operator")
    made: dict = {"policies": {}, "claims": []}
    specs = [
        ("chuokai", 0, "1234567"),
        ("chuokai", 1, "1234568"),
        ("chuokai", 2, "9000001"),
        ("chuokai", 3, "1234569"),
        ("jcci", 0, "1234570"),
        ("jcci", 1, "9000002"),
        ("jcci", 2, "1234571"),
    ]
    for scheme, i, account in specs:
        r = api.post("/api/v1/policies", headers=op, json=_application(scheme, i, account=account))
        assert r.status_code == 201, r.text
        made["policies"][(scheme, i)] = r.json()["id"]
    r = api.post("/api/v1/operations/run-due", headers=op, json={"as_of": "2026-09-30T12:00:00+09:00"})
    assert r.status_code == 200, r.text
    pid = made["policies"][("chuokai", 0)]
    r = api.post(
        "/api/v1/claims",
        headers=op,
        json={
            "policy_id": pid,
            "occurred_at": "2026-06-01T10:00:00+09:00",
            "discovered_at": "2026-06-03T10:00:00+09:00",
            "cause": "insider",
            "records_affected": 3000,
            "description": "an employee sold the customer list",
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    items = [
        {"category": "damages", "risk": "basic", "amount": 37_000_000},
        {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
        {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
        {"category": "advertising", "risk": "basic", "amount": 5_000_000},
    ]
    assert api.post(f"/api/v1/claims/{cid}/losses", headers=op, json={"items": items}).status_code == 200
    assert api.post(f"/api/v1/claims/{cid}/payments", headers=op).status_code == 201
    made["claims"].append(cid)
    r = api.post(
        "/api/v1/claims",
        headers=op,
        json={
            "policy_id": made["policies"][("jcci", 0)],
            "occurred_at": "2026-07-01T10:00:00+09:00",
            "discovered_at": "2026-07-02T10:00:00+09:00",
            "cause": "website",
            "records_affected": 120,
            "description": "web form leaked",
        },
    )
    assert r.status_code == 201, r.text
    made["claims"].append(r.json()["id"])
    r = api.post(
        f"/api/v1/policies/{made['policies'][('chuokai', 3)]}/cancellation",
        headers=op,
        json={"effective_date": "2026-10-01", "reason": "business closed"},
    )
    assert r.status_code == 200, r.text
    return made


def _wait_caught_up(api: httpx.Client, deadline: float) -> None:
    while True:
        body = api.get("/api/v1/readyz").json()
        views = body.get("projections", {})
        if views and all(v["events_behind"] == 0 and v["built"] for v in views.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"projections did not catch up: {body}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(pg_dsn: str) -> Iterator[dict]:
    schema = f"b_{uuid.uuid4().hex[:12]}"
    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="policy-admin-browser-")
    env = {
        **os.environ,
        "DATABASE_URL": pg_dsn,
        "POLICY_DB_SCHEMA": schema,
        "POLICY_DATA_DIR": data_dir,
        "POLICY_API_KEYS": ",".join(f"{r}:{k}" for r, k in KEYS.items()),
        "POLICY_RUN_SCHEDULER": "false",
        "POLICY_LOG_LEVEL": "WARNING",
        "POLICY_DB_POOL_SIZE": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "policy_core.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as api:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
                try:
                    if api.get("/api/v1/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("server did not start")
                time.sleep(0.1)
            made = make_portfolio(api)
            _wait_caught_up(api, time.monotonic() + 60)
            yield {"base": base, "made": made, "api": api, "schema": schema}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_reporting" CASCADE')


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: scripts/test.sh installs Debian's chromium package", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def sign_in(browser, base: str, role: str, **context_args):
    """A new browser context signed in through the sign-in form as ``role``."""
    context = browser.new_context(base_url=base, **context_args)
    page = context.new_page()
    page.goto("/dashboard")
    assert "/dashboard/sign-in" in page.url
    page.fill("#api_key", KEYS[role])
    page.click("form[action='/dashboard/sign-in'] button[type=submit]")
    page.wait_for_url("**/dashboard**")
    assert "/sign-in" not in page.url
    return context, page
