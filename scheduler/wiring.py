"""Building the scheduler's pieces from a runtime (see policy_core.bootstrap)."""

from __future__ import annotations

from typing import Any

from .gateway import CollectionGateway, SimulatedBank
from .jobs import Jobs
from .leader import Leadership
from .service import SchedulerService


def build_jobs(runtime: Any, gateway: CollectionGateway | None = None) -> Jobs:
    return Jobs(runtime.app, runtime.read_models, runtime.projections.catch_up, gateway or SimulatedBank(),
                now=runtime.clock.now)


def build_service(runtime: Any, gateway: CollectionGateway | None = None, *,
                  interval_seconds: float = 30.0) -> SchedulerService:
    return SchedulerService(build_jobs(runtime, gateway), Leadership(runtime.database), runtime.clock,
                            interval_seconds=interval_seconds)
