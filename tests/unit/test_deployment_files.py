"""docker-compose.yml and the Dockerfile deploy as they read (#10). No Docker engine here: the files
are parsed and checked for what a deployment needs (a dedicated user owning the data and outbox
volumes, a health check on readiness, restarts, secrets without defaults)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "api", "projections", "scheduler")
DATA_DIR = "/var/lib/policy-admin"
OUTBOX = f"{DATA_DIR}/zengin/outbox"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _dockerfile() -> list[str]:
    return [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]


def test_the_image_runs_as_a_dedicated_user_owning_the_data_and_the_outbox():
    lines = _dockerfile()
    text = "\n".join(lines)
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER ")]
    assert users == ["policy"], users  # not root, not nobody
    assert re.search(r"useradd [^\n]*\bpolicy\b", text)
    assert f"mkdir -p {OUTBOX}" in text
    assert f"chown -R policy:policy {DATA_DIR}" in text
    assert f"ENV POLICY_DATA_DIR={DATA_DIR}" in text
    # the outbox lies under the data dir, where the Zengin gateway writes (POLICY_DATA_DIR/zengin/outbox)
    assert OUTBOX.startswith(DATA_DIR + "/")


def test_every_app_service_mounts_the_data_and_outbox_volumes_and_restarts():
    compose = _compose()
    services = compose["services"]
    for name in APP_SERVICES:
        svc = services[name]
        mounts = {m.split(":", 1)[1]: m.split(":", 1)[0] for m in svc["volumes"]}
        assert mounts.get(DATA_DIR) == "policydata", name
        assert mounts.get(OUTBOX) == "zenginoutbox", name
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), name
    assert services["postgres"].get("restart") == "unless-stopped"
    assert {"pgdata", "policydata", "zenginoutbox"} <= set(compose["volumes"])


def test_the_api_has_a_health_check_on_readiness():
    check = _compose()["services"]["api"]["healthcheck"]
    test = " ".join(check["test"])
    assert "/api/v1/readyz" in test and "8000" in test
    assert check["retries"] >= 1 and check["interval"]


def test_secrets_have_no_defaults_compose_refuses_without_them():
    raw = (REPO / "docker-compose.yml").read_text()
    assert "change-me" not in raw
    env = _compose()["services"]["api"]["environment"]
    for name in ("POLICY_MASTER_KEY", "POLICY_API_KEYS"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name]), env[name]
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    pg_password = _compose()["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert pg_password.startswith("${POSTGRES_PASSWORD:?")
    # no `${VAR:-default}` for any secret
    for var in ("POLICY_MASTER_KEY", "POLICY_API_KEYS", "POSTGRES_PASSWORD"):
        assert f"${{{var}:-" not in raw and f"${{{var}-" not in raw


def test_every_service_gets_the_same_environment_and_the_api_waits_for_db_init():
    services = _compose()["services"]
    envs = [services[n]["environment"] for n in APP_SERVICES]
    for env in envs:
        assert env["POLICY_MASTER_KEY"] == envs[0]["POLICY_MASTER_KEY"]
        assert env["DATABASE_URL"] == envs[0]["DATABASE_URL"]
    for name in ("api", "projections", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
