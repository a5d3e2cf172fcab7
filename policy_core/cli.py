"""``policy-admin``: the command-line entry point."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any
from uuid import UUID

from .audit.cli import register as register_audit
from .logs import configure_logging
from .personal_data.cli import register as register_personal_data
from .projections.cli import register as register_projections
from .settings import Settings, SettingsError

log = logging.getLogger("policy_core.cli")


class UserError(Exception):
    """A mistake in the command line: one line on stderr, exit status 2, no traceback."""


def _event_row(e: Any) -> dict[str, Any]:
    """One event for the auditor's replay, personal fields masked (names, contacts, the account
    number and claim descriptions never go to a terminal or a file in plain text)."""
    from .personal_data.masking import mask_personal

    data = mask_personal(
        {k: v for k, v in vars(e).items() if k not in ("originator_id", "originator_version", "timestamp")}
    )
    return {
        "version": e.originator_version,
        "type": type(e).__name__,
        "recorded_at": e.timestamp.isoformat(),
        "data": data,
    }


def cmd_db_init(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import bootstrap

    rt = bootstrap(settings, initialise=True)
    print(
        json.dumps(
            {
                "initialised": True,
                "embedded": rt.database.embedded is not None,
                "schema": rt.database.schema or "public",
            }
        )
    )
    rt.close()
    return 0


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import bootstrap

    try:
        aggregate_id = UUID(args.aggregate_id)
    except ValueError:
        raise UserError(f"{args.aggregate_id!r} is not an id (a UUID such as 0b9f…-…)") from None
    rt = bootstrap(settings, initialise=True)
    try:
        for e in rt.app.history(aggregate_id):
            print(json.dumps(_event_row(e), default=str, ensure_ascii=False))
    finally:
        rt.close()
    return 0


def cmd_registers_backfill(settings: Settings, args: argparse.Namespace) -> int:
    """Enter every policy applied before member registers existed in its member's register."""
    from .bootstrap import bootstrap
    from .usecases.common import Actor

    rt = bootstrap(settings, initialise=True)
    try:
        done = rt.app.backfill_member_registers(actor=Actor(role="system", key_id="registers-backfill"))
        print(json.dumps(done))
    finally:
        rt.close()
    return 0


def cmd_schemes(settings: Settings, args: argparse.Namespace) -> int:
    from .scheme import all_schemes

    for s in all_schemes():
        print(
            json.dumps(
                {
                    "key": s.key,
                    "name": s.name,
                    "plans": {k: v.model_dump() for k, v in s.plans.items()},
                    "tariffs": [t.version for t in s.tariffs],
                },
                ensure_ascii=False,
            )
        )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import serve

    if args.workers < 1:
        print("policy-admin serve: --workers must be 1 or more", file=sys.stderr)
        return 2
    serve(settings, host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_run_due(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime

    from .bootstrap import bootstrap

    rt = bootstrap(settings)
    try:
        if args.as_of == "now":
            as_of = rt.clock.now()
        else:
            try:
                as_of = datetime.fromisoformat(args.as_of)
            except ValueError:
                raise UserError(
                    f"--as-of {args.as_of!r} is not an ISO 8601 date and time, nor 'now'"
                ) from None
            if as_of.tzinfo is None:
                raise UserError("--as-of needs a timezone offset, e.g. 2026-04-01T09:00:00+09:00 (or 'now')")
        report = rt.jobs.run_due(as_of, wait=args.wait)
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    finally:
        rt.close()
    return 0


def cmd_scheduler_run(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import run_scheduler

    run_scheduler(settings, interval=args.interval)
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from scheduler.simulate import simulate

    from .bootstrap import bootstrap

    rt = bootstrap(settings, clock=None)
    try:
        held = rt.app.recorder.max_notification_id() or 0
        if held and not args.into_existing_store:
            raise UserError(
                f"simulate writes only into an empty store, and this one holds events (position {held}):"
                " point DATABASE_URL or POLICY_DB_SCHEMA at a scratch store, or pass --into-existing-store"
            )
        summary = simulate(rt, policies=args.policies, years=args.years, seed=args.seed, progress=True)
        print(json.dumps(summary, ensure_ascii=False, default=str))
    finally:
        rt.close()
    return 0


def cmd_zengin_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from scheduler.zengin_gateway import ZenginGateway

    from .bootstrap import bootstrap

    rt = bootstrap(settings)
    try:
        gateway = ZenginGateway(rt.database, settings.data_dir / "zengin" / "outbox")
        result = Path(args.file)
        if not result.is_file():
            raise UserError(f"no such file: {result}")
        counts = gateway.ingest_result_file(result.read_bytes(), rt.app)
        # The result file holds account numbers too: owner-only from here, purged with its requests.
        result.chmod(0o600)
        counts["purged_request_files"] = gateway.purge(settings.zengin_purge_days)
        print(json.dumps(counts))
    finally:
        rt.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policy-admin", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser

    def add_parser(*a: Any, **kw: Any) -> argparse.ArgumentParser:  # every option shows its default
        kw.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        return _add_parser(*a, **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    serve = sub.add_parser("serve", help="run the server (embedded PostgreSQL unless DATABASE_URL is set)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes (default 1: everything in one process); with N > 1 this process runs "
        "the projection runner, the sealer and the scheduler, N worker processes the API",
    )
    serve.set_defaults(func=cmd_serve)
    db = sub.add_parser("db", help="database tasks")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("init", help="create the event store tables").set_defaults(func=cmd_db_init)
    hist = sub.add_parser("history", help="print an aggregate's events as JSON lines (auditor replay)")
    hist.add_argument("aggregate_id", help="a policy or claim id (UUID)")
    hist.set_defaults(func=cmd_history)
    sub.add_parser("schemes", help="list the scheme presets").set_defaults(func=cmd_schemes)
    regs = sub.add_parser("registers", help="member registers (the overlap rule's guard)")
    regsub = regs.add_subparsers(dest="registers_command", required=True)
    regsub.add_parser(
        "backfill",
        help="enter the policies applied before member registers existed in their members' registers "
        "(idempotent: a second run records nothing)",
    ).set_defaults(func=cmd_registers_backfill)
    due = sub.add_parser(
        "run-due", help="run every scheduled job due up to a moment (as POST /operations/run-due)"
    )
    due.add_argument(
        "--as-of", required=True, help="'now', or ISO 8601 with offset (not in the future, not before 2000)"
    )
    due.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for a run-due already going on elsewhere"
    )
    due.set_defaults(func=cmd_run_due)
    sched = sub.add_parser("scheduler", help="the scheduler process")
    schedsub = sched.add_subparsers(dest="scheduler_command", required=True)
    srun = schedsub.add_parser("run", help="tick run-due while holding leadership")
    srun.add_argument("--interval", type=float, default=30.0, help="seconds between ticks")
    srun.set_defaults(func=cmd_scheduler_run)
    zg = sub.add_parser("zengin", help="Zengin direct-debit files")
    zgsub = zg.add_subparsers(dest="zengin_command", required=True)
    ingest = zgsub.add_parser(
        "ingest", help="record the bank's result file (PremiumDebited / PremiumDebitFailed)"
    )
    ingest.add_argument("file", help="the bank's Zengin result file")
    ingest.set_defaults(func=cmd_zengin_ingest)
    sim = sub.add_parser("simulate", help="run schemes through years of activity on an accelerated clock")
    sim.add_argument("--policies", type=int, default=200, help="policies to apply for")
    sim.add_argument("--years", type=int, default=2, help="years to simulate")
    sim.add_argument("--seed", type=int, default=1, help="random seed (the same seed, the same run)")
    sim.add_argument(
        "--into-existing-store",
        action="store_true",
        help="write into a store that already holds events (refused otherwise: simulated policies would "
        "mix with real ones)",
    )
    sim.set_defaults(func=cmd_simulate)
    register_projections(sub)
    register_personal_data(sub)
    register_audit(sub)
    _show_defaults(parser)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every command's help shows each option's default (the nested commands' parsers too)."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _show_defaults(child)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, settings.log_file)
    import signal

    from .errors import DomainError

    # SIGTERM (kill, systemd, docker) ends a command as Ctrl-C does: its finally blocks close the
    # runtime, which stops an embedded PostgreSQL. serve (uvicorn) and the long-running services
    # install their own handlers with the same effect.
    signal.signal(signal.SIGTERM, _terminate)

    try:
        return int(args.func(settings, args) or 0)
    except (UserError, SettingsError) as exc:
        print(f"policy-admin: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:  # refused by the rules: what and why, in one line
        print(f"policy-admin: {exc.message} ({exc.code})", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
