"""Where the event store lives: a PostgreSQL DSN, or an embedded server.

With no DATABASE_URL the program starts PostgreSQL from the pgserver package,
with its data under ``POLICY_DATA_DIR/pgdata`` kept across restarts, so the
main job needs no set-up.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger("policy_core.database")

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Database:
    dsn: str
    schema: str | None = None
    embedded: Any = None  # the pgserver handle, kept alive while in use
    # Seconds to connect, or to wait for a pooled connection, before giving up: with the
    # database away a request fails fast (the API answers 503 with Retry-After, see api/errors.py).
    timeout: int = 2

    def params(self) -> dict[str, str]:
        info = conninfo_to_dict(self.dsn)
        return {k: str(v) for k, v in info.items() if v is not None}

    def eventsourcing_env(self, pool_size: int = 5) -> dict[str, str]:
        """Infrastructure settings for the eventsourcing library's postgres module."""
        p = self.params()
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": p.get("dbname", "postgres"),
            "POSTGRES_HOST": p.get("host", "127.0.0.1"),
            "POSTGRES_PORT": p.get("port", "5432"),
            "POSTGRES_USER": p.get("user", "postgres"),
            "POSTGRES_PASSWORD": p.get("password", ""),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
            # also the pool's wait for a connection (eventsourcing uses it for both)
            "POSTGRES_CONNECT_TIMEOUT": str(self.timeout),
            "POSTGRES_PRE_PING": "y",  # a connection that died with the server is replaced
            # Tables are created by an explicit start-up step (initialise()), never implicitly.
            "CREATE_TABLE": "n",
            # Left off on purpose: in 9.5.6 it can write one application's events into another's table.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        kwargs.setdefault("connect_timeout", self.timeout)
        conn = psycopg.connect(self.dsn, **kwargs)
        if self.schema:
            conn.execute(f'SET search_path TO "{self.schema}", public')
            if not kwargs.get("autocommit"):
                conn.commit()
        return conn

    def ensure_schema(self) -> None:
        if not self.schema:
            return
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def drop_schema(self) -> None:
        if not self.schema:
            return
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            # and the deployment's reporting views (policy_core.reporting), made beside it
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}_reporting" CASCADE')


def check_schema_name(schema: str | None) -> str | None:
    if schema is not None and not _SCHEMA_RE.match(schema):
        raise ValueError(f"invalid PostgreSQL schema name {schema!r}")
    return schema


def start_embedded(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) the embedded PostgreSQL whose data lives under ``data_dir``."""
    import warnings

    pgdata = (Path(data_dir) / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL", extra={"pgdata": str(pgdata)})
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, cron): pgserver's own concern
        warnings.filterwarnings("ignore", module="platformdirs")
        import pgserver  # imported here: only the embedded mode needs it

        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri(), server


def open_database(
    database_url: str | None, data_dir: Path, schema: str | None = None, timeout: int = 2
) -> Database:
    schema = check_schema_name(schema)
    if database_url:
        db = Database(dsn=database_url, schema=schema, timeout=timeout)
    else:
        dsn, server = start_embedded(data_dir)
        db = Database(dsn=dsn, schema=schema, embedded=server, timeout=timeout)
    db.ensure_schema()
    return db
