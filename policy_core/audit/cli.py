"""``policy-admin audit seal | checkpoint | public-key | verify | export``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("policy_core.audit.cli")


def _runtime(settings: Any, *, initialise: bool = True) -> Any:
    from ..bootstrap import bootstrap

    return bootstrap(settings, initialise=initialise, read_models=False)


def verification(rt: Any, *, public_key: Any = None, on_progress: Any = None) -> Any:
    """Verify the runtime's log against its seal with ``public_key`` (default: the signing key's)."""
    from .verify import verify_chain

    sealer = rt.audit
    return verify_chain(
        rt.database.dsn,
        sealer.schema,
        sealer.source.events_table,
        mapper=sealer.source.mapper,
        public_key=public_key if public_key is not None else sealer.signer.public_key,
        on_progress=on_progress,
    )


def cmd_seal(settings: Any, args: argparse.Namespace) -> int:
    rt = _runtime(settings)
    try:
        if args.once:
            print(json.dumps({"sealed": rt.audit.catch_up()}))
            return 0
        signal.signal(signal.SIGINT, lambda *_: rt.audit.stop(timeout=0))
        signal.signal(signal.SIGTERM, lambda *_: rt.audit.stop(timeout=0))
        thread = rt.audit.start()
        while thread.is_alive():
            thread.join(0.5)
        return 0
    finally:
        rt.close()


def cmd_checkpoint(settings: Any, args: argparse.Namespace) -> int:
    rt = _runtime(settings)
    try:
        print(json.dumps(rt.audit.checkpoint("on_demand"), ensure_ascii=False))
        return 0
    finally:
        rt.close()


def cmd_public_key(settings: Any, args: argparse.Namespace) -> int:
    from .keys import Signer

    signer = Signer.from_settings(settings)
    sys.stdout.write(signer.public_pem())
    print(f"fingerprint {signer.fingerprint}", file=sys.stderr)
    return 0


def _bar(total: int) -> Any:
    from ..logs import progress_bar

    return progress_bar(total=total, desc="verify", unit="ev", unit_scale=True, dynamic_ncols=True)


def cmd_verify(settings: Any, args: argparse.Namespace) -> int:
    from .keys import load_public_key

    public_key = load_public_key(Path(args.public_key).read_bytes()) if args.public_key else None
    if args.bundle and public_key is None:
        print("--bundle needs --public-key FILE (the key kept outside the system)", file=sys.stderr)
        return 2
    rt = _runtime(settings, initialise=not args.bundle)
    try:
        if args.bundle:
            from .bundle import verify_bundle

            assert public_key is not None  # refused above without one
            result = verify_bundle(
                rt.database.dsn,
                rt.audit.schema,
                rt.audit.source.events_table,
                bundle=json.loads(Path(args.bundle).read_text()),
                public_key=public_key,
                mapper=rt.audit.source.mapper,
            )
        else:
            with _bar(rt.audit.source.head()) as bar:
                result = verification(rt, public_key=public_key, on_progress=bar.update)
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
        return 0 if result.ok else 1
    finally:
        rt.close()


def cmd_export(settings: Any, args: argparse.Namespace) -> int:
    from .bundle import make_bundle

    rt = _runtime(settings)
    try:
        cp = rt.audit.checkpoint("export")
        statement = json.dumps(cp["statement"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        bundle = make_bundle(cp, statement.encode())
        text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
        if args.output and args.output != "-":
            Path(args.output).write_text(text)
            print(json.dumps({"written": args.output, "position": bundle["position"]}))
        else:
            sys.stdout.write(text)
        return 0
    finally:
        rt.close()


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="tamper evidence: seal, checkpoints, verification, offline bundles")
    asub = p.add_subparsers(dest="audit_command", required=True)
    seal = asub.add_parser("seal", help="extend the hash chain over the log (follow live, or --once)")
    seal.add_argument("--once", action="store_true", help="seal up to the head and exit")
    seal.set_defaults(func=cmd_seal)
    asub.add_parser("checkpoint", help="seal up to the head and sign a checkpoint now").set_defaults(
        func=cmd_checkpoint
    )
    asub.add_parser("public-key", help="print the checkpoint public key (PEM) for auditors").set_defaults(
        func=cmd_public_key
    )
    vf = asub.add_parser(
        "verify", help="recompute the chain and check every checkpoint (exit 1 on a difference)"
    )
    vf.add_argument("--bundle", help="check against an exported bundle, trusting nothing in the database")
    vf.add_argument("--public-key", help="PEM public key file (default: this system's signing key)")
    vf.set_defaults(func=cmd_verify)
    ex = asub.add_parser("export", help="sign a checkpoint at the head and write it as an offline bundle")
    ex.add_argument("--output", "-o", help="file to write (default: standard output)")
    ex.set_defaults(func=cmd_export)
