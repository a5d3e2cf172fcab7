"""The whole suite's logs, scanned for the personal values the tests use (#12: logs never contain
personal values, tested by grepping a full test run's logs).

`tests/conftest.py` points ``POLICY_LOG_FILE`` at one file per run before anything logs: every
logger of the pytest process (a file handler on the root, kept by ``configure_logging``) and of
every process the tests start (``serve``, ``projections run``, the CLI: they inherit the variable
and append to the same file) writes its structured JSON lines there. At the end of the session
the file is searched for every distinctive personal value found in the tests' sources (the values
of ``name``, ``kana``, ``holder_kana``, ``representative``, ``address``, ``phone``, ``email``,
``account_number``, ``description`` keys and of constants named like ``NAME``); any hit fails the run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PERSONAL_KEYS = frozenset(
    {
        "name",
        "kana",
        "holder_kana",
        "name_kana",
        "representative",
        "address",
        "phone",
        "email",
        "account_number",
        "description",
        "holder_name",
    }
)
PERSONAL_CONSTANT = re.compile(
    r"^(?:[A-Z_]*_)?(NAME|KANA|ADDRESS|PHONE|EMAIL|ACCOUNT|ACCOUNT_NUMBER|DESCRIPTION)$"
)


def _distinctive(value: str) -> bool:
    """Long enough not to occur in a log line by chance (a timestamp, an id, an English word)."""
    v = value.strip()
    if not v or v.startswith(("[", "*")):  # "[erased]", masks
        return False
    if v.isascii():
        if v.isdigit():
            return len(v) >= 7  # account numbers
        # e-mail addresses and romanised names; English phrases (descriptions) could be log words
        return "@" in v or re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", v) is not None
    return len(v) >= 3


def personal_values(tests_root: Path) -> set[str]:
    values: set[str] = set()
    for path in tests_root.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value in PERSONAL_KEYS
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        values.add(value.value)
            elif isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in PERSONAL_KEYS and isinstance(kw.value, ast.Constant):
                        if isinstance(kw.value.value, str):
                            values.add(kw.value.value)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                if isinstance(node.value.value, str):
                    for target in node.targets:
                        if isinstance(target, ast.Name) and PERSONAL_CONSTANT.match(target.id):
                            values.add(node.value.value)
    return {v.strip() for v in values if _distinctive(v)}


def leaks(log_text: str, values: set[str]) -> dict[str, int]:
    """Each value found in the log text, with the number of lines it appears on. Digits-only
    values count only as whole numbers (not inside a longer run of digits)."""
    found: dict[str, int] = {}
    lines = log_text.splitlines()
    for value in sorted(values):
        if value.isdigit():
            pattern = re.compile(rf"(?<!\d){re.escape(value)}(?!\d)")
            n = sum(1 for line in lines if pattern.search(line))
        else:
            n = sum(1 for line in lines if value in line)
        if n:
            found[value] = n
    return found
