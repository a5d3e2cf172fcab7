"""Structured logs: one JSON object per line, never personal data.

Callers pass identifiers and codes in ``extra``; names and bank account numbers
are never logged (the aggregates' ids stand for them).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class AccessLogWithoutQuery(logging.Filter):
    """The access log keeps the path, never the query string: queries carry search values
    (``?holder_name=…``, ``?member_number=…``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_access_log_filter() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogWithoutQuery) for f in access.filters):
        access.addFilter(AccessLogWithoutQuery())


KEEP = "policy_keep"  # a handler with this attribute set survives configure_logging (the suite's file)


def file_handler(path: Any) -> logging.FileHandler:
    """JSON lines appended to ``path`` (several processes may share the file: one write per line)."""
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging(level: str = "INFO", fmt: str = "json", file: Any = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    kept = [h for h in root.handlers if getattr(h, KEEP, False)]
    handlers: list[logging.Handler] = [handler, *kept]
    if file is not None:
        import os

        path = os.path.abspath(file)
        if not any(getattr(h, "baseFilename", None) == path for h in kept):
            handlers.append(file_handler(path))
    root.handlers[:] = handlers
    install_access_log_filter()
    root.setLevel(level.upper())
    # The embedded PostgreSQL's wrapper narrates every start (initdb's and pg_ctl's command lines
    # and output) at info: a start where nothing is wrong stays quiet; its warnings still show.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, root.level))


def _terminal_handlers() -> list[logging.Handler]:
    """The root's handlers that write to a terminal stream (stderr/stdout), not to a file."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm bar on stderr during which the log lines on the terminal are kept at warning
    level (info lines would bury the bar: one JSON line per batch); the levels come back when the
    bar is closed. A disabled bar (``disable=None`` off a terminal) leaves the logs as they are."""
    from tqdm import tqdm

    class QuietProgress(tqdm):
        def __init__(self, *a: Any, **kw: Any) -> None:
            kw.setdefault("file", sys.stderr)
            super().__init__(*a, **kw)
            self._saved_levels: list[tuple[logging.Handler, int]] = []
            if not self.disable:
                for h in _terminal_handlers():
                    self._saved_levels.append((h, h.level))
                    h.setLevel(max(h.level, logging.WARNING))

        def close(self) -> None:
            try:
                super().close()
            finally:
                for h, level in getattr(self, "_saved_levels", ()):
                    h.setLevel(level)
                self._saved_levels = []

    return QuietProgress(**kwargs)
