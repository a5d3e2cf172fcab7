"""A server for #5, started as its own process: ``python -m bench.http_server MODE PORT``.

Environment: ``BENCH_DSN``, ``BENCH_SCHEMA``, ``BENCH_KEYS`` (``role:key,...``), ``BENCH_DATA_DIR``
(the bench runtime's data directory: the master key of the schema's data keys).

MODE ``product``: the product's ``create_app`` on a runtime for the bench schema (no
scheduler, no projection runner: the bench process keeps the read models current).
MODE ``bare``: a bare FastAPI endpoint doing one primary-key SELECT on ``rm_policies``
through a psycopg pool configured like ``ReadModels``'.

MODE ``product2``: the product app in two uvicorn worker processes (what ``serve --workers 2``
runs for the API).

All run under uvicorn with the same settings: 127.0.0.1, no access log; one worker except
``product2``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any
from uuid import UUID


def build(mode: str) -> Any:
    dsn, schema = os.environ["BENCH_DSN"], os.environ["BENCH_SCHEMA"]
    if mode == "bare":
        from fastapi import FastAPI
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=True,
            name="bare",
        )
        app = FastAPI()
        query = f'SELECT * FROM "{schema}"."rm_policies" WHERE policy_id = %s'

        @app.get("/bare/{policy_id}")
        def bare(policy_id: UUID) -> dict[str, Any]:
            with pool.connection() as conn:
                found = conn.execute(query, [policy_id]).fetchone()
            return {"policy": found}

        return app

    from api.auth import parse_keys
    from api.main import create_app
    from policy_core.bootstrap import bootstrap
    from policy_core.database import Database
    from policy_core.settings import Settings

    from .datagen import BENCH_MASTER_KEY

    settings = Settings(
        DATABASE_URL=dsn,
        POLICY_DB_SCHEMA=schema,
        # the bench runtime's directory: its master key and key-id secret (as `serve` shares them)
        POLICY_DATA_DIR=os.environ.get("BENCH_DATA_DIR") or tempfile.mkdtemp(),
        POLICY_MASTER_KEY=BENCH_MASTER_KEY,  # as every bench runtime (bench.common.make_runtime)
        POLICY_RUN_PROJECTIONS="false",
        POLICY_RUN_SCHEDULER="false",
    )
    runtime = bootstrap(settings, database=Database(dsn=dsn, schema=schema), initialise=False)
    app = create_app(settings, runtime=runtime, api_keys=parse_keys(os.environ["BENCH_KEYS"]))
    return app


def product_app() -> Any:
    """The product app, built in each worker process (``workers2``: uvicorn's factory form)."""
    return build("product")


def main() -> None:
    import uvicorn

    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "product2":  # two worker processes, as ``serve --workers 2`` runs them
        from policy_core.bootstrap import run_api_workers

        run_api_workers(
            "bench.http_server:product_app",
            host="127.0.0.1",
            port=port,
            workers=2,
            log_level="warning",
            access_log=False,
        )
        return
    uvicorn.run(build(mode), host="127.0.0.1", port=port, log_level="warning", access_log=False, workers=1)


if __name__ == "__main__":
    main()
