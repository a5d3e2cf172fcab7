"""Long commands: while a progress bar is shown, the terminal's log lines are kept at warning
level (#10: bars buried under hundreds of JSON info lines on the same stream)."""

from __future__ import annotations

import logging
import sys

from policy_core.logs import configure_logging, progress_bar


def test_info_lines_are_held_back_while_a_bar_is_shown_and_come_back_after(capsys):
    configure_logging("INFO")
    log = logging.getLogger("policy_core.test_progress")
    log.info("before the bar")
    with progress_bar(total=2, desc="working") as bar:
        log.info("batch done (hidden)")
        log.warning("something to see")
        bar.update(2)
    log.info("after the bar")
    err = capsys.readouterr().err
    assert "before the bar" in err and "after the bar" in err
    assert "something to see" in err  # warnings still show
    assert "hidden" not in err
    assert "working" in err  # the bar itself
    assert logging.getLogger().handlers[0].level == logging.NOTSET  # restored


def test_a_disabled_bar_leaves_the_logs_alone(capsys):
    configure_logging("INFO")
    log = logging.getLogger("policy_core.test_progress")
    with progress_bar(total=1, desc="off", disable=True):
        log.info("still logged")
    assert "still logged" in capsys.readouterr().err
    assert sys.stderr is not None
