"""The scheduler process: APScheduler 3.11 ticking ``run_due(now)`` while this instance leads.

One tick runs every job due up to now, in order, so a tick that comes late (or after
days of downtime) catches up everything it missed: misfires are therefore run, not
dropped (``misfire_grace_time=None``), and several missed ticks coalesce into one.
Leadership is a PostgreSQL advisory lock (leader.py); a standby ticks too but does
nothing until it holds the lock, so it takes over within one interval.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from .clock import Clock
from .jobs import Jobs, RunReport
from .leader import Leadership, RunInProgress

log = logging.getLogger("scheduler.service")


class SchedulerService:
    def __init__(
        self, jobs: Jobs, leadership: Leadership, clock: Clock, *, interval_seconds: float = 30.0
    ) -> None:
        self.jobs = jobs
        self.leadership = leadership
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.last_report: RunReport | None = None
        self.ticks = 0
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone="UTC")

    def tick(self) -> RunReport | None:
        with self._lock:  # never two runs in one process
            self.ticks += 1
            if not self.leadership.try_acquire():
                return None
            try:
                self.last_report = self.jobs.run_due(self.clock.now())
            except RunInProgress:
                log.info("run-due is running elsewhere (API or CLI); this tick skips it")
                return None
            except Exception:
                log.exception("run-due failed; the next tick retries")
                return None
            return self.last_report

    def start(self) -> None:
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.interval_seconds,
            id="run-due",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),  # APScheduler ticks in real time; run_due uses self.clock
            replace_existing=True,
        )
        self._scheduler.start()
        log.info("scheduler started", extra={"interval_seconds": self.interval_seconds})

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self.leadership.release()

    def status(self) -> dict[str, Any]:
        return {
            "leader": self.leadership.is_leader,
            "ticks": self.ticks,
            "last_run": self.last_report.to_dict() if self.last_report else None,
        }
