"""The run-log scan (tests/logscan.py) finds what it should: a leak of a test's personal value
fails the run; ids, timestamps and masked values do not."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tests.conftest import RUN_LOG
from tests.logscan import leaks, personal_values

TESTS = Path(__file__).resolve().parents[1]


def test_the_values_come_from_the_tests_fixtures():
    values = personal_values(TESTS)
    assert "ﾔﾏﾀﾞ ﾀﾛｳ" in values  # conftest.BANK's holder kana
    assert "1234567" in values  # its account number
    assert any("@" in v for v in values)  # e-mail addresses
    assert "[erased]" not in values and "m0" not in values  # not distinctive


def test_a_leak_is_found_and_near_misses_are_not():
    values = {"ﾔﾏﾀﾞ ﾀﾛｳ", "1234567"}
    line = json.dumps({"msg": "debit failed", "holder": "ﾔﾏﾀﾞ ﾀﾛｳ"}, ensure_ascii=False)
    assert leaks(line, values) == {"ﾔﾏﾀﾞ ﾀﾛｳ": 1}
    assert leaks('{"account": "***4567", "ref": "0000012345670001"}', values) == {}
    assert leaks('{"account": "1234567"}', values) == {"1234567": 1}


def test_this_process_logs_into_the_run_log():
    logging.getLogger("policy_core.test_logscan").info("run-log probe")
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.flush()
    assert "run-log probe" in RUN_LOG.read_text(encoding="utf-8")
