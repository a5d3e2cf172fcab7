"""``policy-admin projections run | rebuild [VIEW] | verify [VIEW] | status``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from typing import Any

log = logging.getLogger("policy_core.projections.cli")


def _runtime(settings: Any) -> Any:
    from ..bootstrap import bootstrap

    return bootstrap(settings, initialise=True)


def _progress(desc: str, total: int) -> tuple[Any, Any]:
    """A tqdm bar on stderr; without tqdm installed, a log line per batch instead."""
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover - tqdm is a declared dependency
        done = {"n": 0}

        def log_batch(result: Any) -> None:
            done["n"] += result.read
            log.info(desc, extra={"events": done["n"], "of": total, "position": result.last_id})

        return contextlib.nullcontext(), log_batch

    from ..logs import progress_bar

    bar = progress_bar(total=total, desc=desc, unit="ev", unit_scale=True, dynamic_ncols=True)

    def on_batch(result: Any) -> None:
        bar.update(result.read)

    return bar, on_batch


def cmd_run(settings: Any, args: argparse.Namespace) -> int:
    from ..bootstrap import run_projections

    out = run_projections(
        settings,
        views=list(dict.fromkeys(args.views)) if args.views else None,
        batch_size=args.batch_size,
        poll_interval=args.poll_interval,
        once=args.once,
        seal=not args.no_seal,
    )
    if args.once:
        print(json.dumps({"caught_up": True, **out}))
    return 0


def _chain_refuses(rt: Any, args: argparse.Namespace) -> bool:
    """A rebuild or verify never launders a forgery: over a log whose hash chain does not verify
    it refuses (exit 3) unless ``--allow-unverified-chain`` says so explicitly."""
    from ..audit.cli import verification

    result = verification(rt)
    if result.ok:
        return False
    d = result.difference
    report = {"refused": True, "reason": "the event log's hash chain does not verify", "difference": vars(d)}
    if args.allow_unverified_chain:
        log.warning("running over a log whose hash chain does not verify", extra={"position": d.position})
        return False
    print(json.dumps(report, ensure_ascii=False, default=str), file=sys.stderr)
    print(
        "policy-admin: refusing to replay a log whose hash chain does not verify "
        f"(first difference at position {d.position}: {d.kind}); see `policy-admin audit verify`, "
        "or pass --allow-unverified-chain",
        file=sys.stderr,
    )
    return True


def cmd_rebuild(settings: Any, args: argparse.Namespace) -> int:
    from .engine import EventSource
    from .maintenance import live_schema, rebuild
    from .views import select_views

    rt = _runtime(settings)
    try:
        if _chain_refuses(rt, args):
            return 3
        views = select_views(args.view)
        source = EventSource.from_app(rt.app)
        bar, on_batch = _progress(f"rebuild {args.view or 'all views'}", source.head())
        with bar:
            positions = rebuild(
                rt.database.dsn,
                source,
                live_schema(rt.database.schema),
                views,
                batch_size=args.batch_size,
                on_batch=on_batch,
                workers=max(1, args.workers),
            )
        print(json.dumps({"rebuilt": positions}))
        return 0
    finally:
        rt.close()


def cmd_verify(settings: Any, args: argparse.Namespace) -> int:
    from .engine import EventSource
    from .maintenance import live_schema, verify
    from .views import select_views

    rt = _runtime(settings)
    try:
        if _chain_refuses(rt, args):
            return 3
        views = select_views(args.view)
        source = EventSource.from_app(rt.app)
        bar, on_batch = _progress(f"verify {args.view or 'all views'}", source.head())
        with bar:
            report = verify(
                rt.database.dsn,
                source,
                live_schema(rt.database.schema),
                views,
                batch_size=args.batch_size,
                on_batch=on_batch,
                samples=args.samples,
            )
        print(json.dumps(report.to_dict(), default=str, ensure_ascii=False, indent=2))
        return 0 if report.ok else 1
    finally:
        rt.close()


def cmd_status(settings: Any, args: argparse.Namespace) -> int:
    from .read import ReadModels

    rt = _runtime(settings)
    try:
        with ReadModels(rt.database, mapper=rt.app.mapper) as rm:
            ok, lag = rm.ready(max_seconds_behind=args.max_seconds_behind)
        print(json.dumps({"ready": ok, "views": lag}, default=str))
        return 0 if ok else 1
    finally:
        rt.close()


def _guarded(command: Any) -> Any:
    """Report a failure by type and code location only: an exception message may quote personal data."""

    def run(settings: Any, args: argparse.Namespace) -> int:
        try:
            return int(command(settings, args) or 0)
        except Exception as exc:  # noqa: BLE001 - reported, never re-raised with its message
            from .engine import trace

            log.error(
                "projections command failed",
                extra={
                    "command": args.projections_command,
                    "error": type(exc).__qualname__,
                    "trace": trace(exc),
                },
            )
            return 2

    return run


def _view_list(text: str) -> list[str]:
    from .views import VIEW_NAMES

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VIEW_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown view(s) {', '.join(unknown) or '(none given)'}: "
            f"expected some of {', '.join(VIEW_NAMES)}"
        )
    return names


def register(sub: Any) -> None:
    """Add ``projections`` to the ``policy-admin`` parser (called from build_parser)."""
    from .maintenance import REBUILD_BATCH
    from .views import VIEW_NAMES

    p = sub.add_parser("projections", help="read models: follow live, rebuild, verify, status")
    psub = p.add_subparsers(dest="projections_command", required=True)

    run = psub.add_parser("run", help="follow the event log live (LISTEN/NOTIFY, polling fallback)")
    run.add_argument(
        "--view",
        dest="views",
        action="append",
        choices=VIEW_NAMES,
        help="only this view (repeatable; default: all)",
    )
    run.add_argument(
        "--views",
        dest="views",
        action="extend",
        type=_view_list,
        help="only these views, comma-separated (e.g. limits,policies): views can be split between "
        "several runner processes, each owning its views' tracking rows",
    )
    run.add_argument("--batch-size", type=int, default=2000, help="events read and applied per batch")
    run.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between looks at the log when idle"
    )
    run.add_argument("--once", action="store_true", help="catch up to the head and exit")
    run.add_argument(
        "--no-seal", action="store_true", help="do not run the audit sealer here (it runs elsewhere)"
    )
    run.set_defaults(func=_guarded(cmd_run))

    rb = psub.add_parser("rebuild", help="replay a view (default: all) from event zero and swap it in")
    rb.add_argument("view", nargs="?", choices=VIEW_NAMES, help="one view (default: every view)")
    rb.add_argument("--batch-size", type=int, default=REBUILD_BATCH, help="events replayed per batch")
    rb.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes for the bulk of the replay, views split between them "
        "(default: the cores, at most 2)",
    )
    rb.add_argument(
        "--allow-unverified-chain",
        action="store_true",
        help="run even though the event log's hash chain does not verify (a forgery would become the views)",
    )
    rb.set_defaults(func=_guarded(cmd_rebuild))

    vf = psub.add_parser(
        "verify", help="replay into a scratch schema and report rows differing from the live view"
    )
    vf.add_argument("view", nargs="?", choices=VIEW_NAMES, help="one view (default: every view)")
    vf.add_argument("--batch-size", type=int, default=REBUILD_BATCH, help="events replayed per batch")
    vf.add_argument("--samples", type=int, default=20, help="differing rows shown per table")
    vf.add_argument(
        "--allow-unverified-chain",
        action="store_true",
        help="run even though the event log's hash chain does not verify",
    )
    vf.set_defaults(func=_guarded(cmd_verify))

    st = psub.add_parser("status", help="each view's position and lag (exit 1 when not ready)")
    st.add_argument(
        "--max-seconds-behind",
        type=float,
        default=60.0,
        help="seconds a view may be behind the head and still count as ready (else exit 1)",
    )
    st.set_defaults(func=_guarded(cmd_status))
