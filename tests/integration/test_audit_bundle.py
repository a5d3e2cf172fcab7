"""The offline proof: a bundle exported from the live database checks a pg_dump/restore copy
with only the public key, trusting nothing stored in the copy; tampering in the copy fails."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.integration.test_audit_chain import EVENTS, _claim, _nids, _policy


def _major(binary: str) -> int:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(\d+)(?:\.\d+)?", out.split(")")[-1]).group(1))


def _client_tools(dsn: str) -> tuple[str, str]:
    """pg_dump and psql at least as new as the server: the system's (CI's 15) or pgserver's own (16)."""
    with psycopg.connect(dsn) as conn:
        server = conn.info.server_version // 10000
    import pgserver

    candidates = [Path(pgserver.__file__).parent / "pginstall" / "bin"]
    if shutil.which("pg_dump"):
        candidates.append(Path(shutil.which("pg_dump")).parent)  # type: ignore[arg-type]
    for bindir in candidates:
        dump, psql = bindir / "pg_dump", bindir / "psql"
        if dump.exists() and psql.exists() and _major(str(dump)) >= server:
            return str(dump), str(psql)
    pytest.fail(f"no pg_dump/psql for PostgreSQL {server} (looked in {candidates})", pytrace=False)


@pytest.fixture
def restored(runtime, tmp_path):
    """The live store sealed, a bundle exported, then a pg_dump of the schema restored into a new database."""
    app = runtime.app
    pids = [_policy(app, f"M-{i}") for i in range(2)]
    _claim(app, pids[0])
    dump, psql = _client_tools(runtime.database.dsn)
    yield runtime, dump, psql, tmp_path


def _cli(monkeypatch, dsn, schema, data_dir):
    from policy_core.cli import main

    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", schema)
    monkeypatch.setenv("POLICY_DATA_DIR", str(data_dir))
    return main


def test_the_bundle_checks_a_restored_backup_and_catches_tampering_in_it(restored, monkeypatch, capsys):
    runtime, dump, psql, tmp = restored
    db = runtime.database
    main = _cli(monkeypatch, db.dsn, db.schema, runtime.settings.data_dir)
    assert main(["audit", "export", "--output", str(tmp / "bundle.json")]) == 0
    assert main(["audit", "public-key"]) == 0
    (tmp / "auditor.pem").write_text(capsys.readouterr().out)
    bundle = json.loads((tmp / "bundle.json").read_text())
    with db.connect() as conn:
        head = conn.execute(f"SELECT max(notification_id) FROM {EVENTS}").fetchone()[0]
    assert bundle["position"] == head and bundle["links"] == len(_nids(runtime))
    assert set(bundle) >= {"position", "head", "signature", "public_key_fingerprint", "statement"}

    subprocess.run([dump, "--no-owner", "-n", db.schema, "-f", str(tmp / "dump.sql"), db.dsn], check=True)
    name = f"audit_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    copy = make_conninfo(db.dsn, dbname=name)
    try:
        subprocess.run(
            [psql, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(tmp / "dump.sql"), copy],
            check=True,
            capture_output=True,
        )
        # Nothing in the copy is trusted: drop its seal and its checkpoints altogether.
        with psycopg.connect(copy, autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{db.schema}".audit_chain, "{db.schema}".audit_checkpoints')
        main = _cli(monkeypatch, copy, db.schema, tmp / "elsewhere")  # no signing key there either
        args = [
            "audit",
            "verify",
            "--bundle",
            str(tmp / "bundle.json"),
            "--public-key",
            str(tmp / "auditor.pem"),
        ]
        capsys.readouterr()
        assert main(args) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "ok" and out["sealed_up_to"] == bundle["position"]
        assert not (tmp / "elsewhere" / "audit-signing-key.pem").exists()

        with psycopg.connect(copy, autocommit=True) as conn:
            conn.execute(
                f"UPDATE \"{db.schema}\".{EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                ' \'"role":"system"\', \'"role":"auditor"\'), \'UTF8\')'
                " WHERE notification_id = (SELECT min(notification_id) FROM "
                f'"{db.schema}".{EVENTS})'
            )
        assert main(args) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "failed" and out["difference"]["kind"] == "changed"
        assert out["difference"]["position"] == bundle["position"]  # no seal in the copy to locate it

        with psycopg.connect(copy, autocommit=True) as conn:  # a truncated tail in the copy
            conn.execute(
                f'DELETE FROM "{db.schema}".{EVENTS} WHERE notification_id > %s', [bundle["position"] - 2]
            )
        assert main(args) == 1
        assert json.loads(capsys.readouterr().out)["difference"]["kind"] == "deleted"

        other = tmp / "other.pem"  # a bundle checked with some other key is refused
        from policy_core.audit import Signer

        other.write_text(Signer(data_dir=tmp / "other").public_pem())
        args[-1] = str(other)
        assert main(args) == 1
        assert json.loads(capsys.readouterr().out)["difference"]["kind"] == "unknown_key"
    finally:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
