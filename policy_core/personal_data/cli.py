"""``policy-admin personal-data migrate`` and ``policy-admin keys rotate-master``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .keys import LocalMasterKey, MasterKeyError, read_key_file, write_key_file


def cmd_migrate(settings: Any, args: argparse.Namespace) -> int:
    from ..bootstrap import bootstrap
    from ..logs import progress_bar
    from .migrate import migrate

    rt = bootstrap(settings, initialise=True)
    try:
        total = rt.app.recorder.max_notification_id() or 0
        with progress_bar(total=total, desc="personal-data migrate", unit="event", disable=None) as bar:
            out = migrate(
                rt.app, rt.database, sealer=rt.audit, batch_size=args.batch_size, progress=bar.update
            )
        print(json.dumps(out))
    finally:
        rt.close()
    return 0


def cmd_rotate_master(settings: Any, args: argparse.Namespace) -> int:
    """Re-wrap every data key under a new master key; events are not touched."""
    from ..bootstrap import bootstrap
    from .setup import key_file

    rt = bootstrap(settings, initialise=True, read_models=False)
    try:
        vault = rt.app.vault
        old_id = vault.master.key_id
        new_b64 = os.environ.get("POLICY_NEW_MASTER_KEY")
        if settings.master_key is not None:
            if not new_b64:
                raise MasterKeyError(
                    "POLICY_MASTER_KEY is set: give the new key as POLICY_NEW_MASTER_KEY "
                    "(base64 of 32 bytes), "
                    "then deploy it as POLICY_MASTER_KEY"
                )
            new = LocalMasterKey.from_base64(new_b64)
            pending = None
        else:
            path = key_file(settings)
            pending = path.with_name(path.name + ".new")
            if pending.exists():
                pending.unlink()  # a rotation that stopped before re-wrapping: start again
            write_key_file(pending, new_b64 or LocalMasterKey.generate_base64())
            new = read_key_file(pending)
        n = vault.rotate(new)
        if pending is not None:
            pending.replace(key_file(settings))
        print(
            json.dumps(
                {
                    "rotated": True,
                    "data_keys": n,
                    "old_master_key_id": old_id,
                    "new_master_key_id": new.key_id,
                }
            )
        )
    finally:
        rt.close()
    return 0


def register(sub: Any) -> None:
    pd = sub.add_parser("personal-data", help="personal data (docs/personal-data.md)")
    pdsub = pd.add_subparsers(dest="personal_data_command", required=True)
    mig = pdsub.add_parser(
        "migrate", help="seal the plain personal fields of an older store (idempotent, resumable)"
    )
    mig.add_argument("--batch-size", type=int, default=500, help="events rewritten per transaction")
    mig.set_defaults(func=cmd_migrate)
    keys = sub.add_parser("keys", help="key management")
    keysub = keys.add_subparsers(dest="keys_command", required=True)
    keysub.add_parser(
        "rotate-master", help="re-wrap every data key under a new master key (events untouched)"
    ).set_defaults(func=cmd_rotate_master)
