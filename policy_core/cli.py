"""``policy-admin``: the command-line entry point."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any
from uuid import UUID

from .logs import configure_logging
from .settings import Settings

log = logging.getLogger("policy_core.cli")


def _event_row(e: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(e).items() if k not in ("originator_id", "originator_version", "timestamp")}
    return {"version": e.originator_version, "type": type(e).__name__, "recorded_at": e.timestamp.isoformat(),
            "data": data}


def cmd_db_init(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import bootstrap

    rt = bootstrap(settings, initialise=True)
    print(json.dumps({"initialised": True, "embedded": rt.database.embedded is not None,
                      "schema": rt.database.schema or "public"}))
    rt.close()
    return 0


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import bootstrap

    rt = bootstrap(settings, initialise=True)
    try:
        for e in rt.app.history(UUID(args.aggregate_id)):
            print(json.dumps(_event_row(e), default=str, ensure_ascii=False))
    finally:
        rt.close()
    return 0


def cmd_schemes(settings: Settings, args: argparse.Namespace) -> int:
    from .scheme import all_schemes

    for s in all_schemes():
        print(json.dumps({"key": s.key, "name": s.name, "plans": {k: v.model_dump() for k, v in s.plans.items()},
                          "tariffs": [t.version for t in s.tariffs]}, ensure_ascii=False))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policy-admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (embedded PostgreSQL unless DATABASE_URL is set)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)
    db = sub.add_parser("db", help="database tasks")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("init", help="create the event store tables").set_defaults(func=cmd_db_init)
    hist = sub.add_parser("history", help="print an aggregate's events as JSON lines (auditor replay)")
    hist.add_argument("aggregate_id")
    hist.set_defaults(func=cmd_history)
    sub.add_parser("schemes", help="list the scheme presets").set_defaults(func=cmd_schemes)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return int(args.func(settings, args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
