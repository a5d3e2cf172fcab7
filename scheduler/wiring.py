"""Building the scheduler's pieces from a runtime (see policy_core.bootstrap)."""

from __future__ import annotations

from typing import Any

from .attempts import AttemptLedger
from .gateway import CollectionGateway, SimulatedBank
from .jobs import Jobs
from .leader import Leadership, RunLock
from .service import SchedulerService


def build_gateway(runtime: Any) -> CollectionGateway:
    if runtime.settings.collection_gateway == "zengin":
        from .zengin_gateway import ZenginGateway, collector_from_settings

        return ZenginGateway(
            runtime.database,
            runtime.settings.data_dir / "zengin" / "outbox",
            collector_from_settings(runtime.settings),
        )
    return SimulatedBank()


def build_jobs(runtime: Any, gateway: CollectionGateway | None = None) -> Jobs:
    # sync, not catch_up: a projection runner (this process's, or its own process) applies the
    # run's events while the scheduler goes on; the scheduler only catches up when none does.
    return Jobs(
        runtime.app,
        runtime.read_models,
        runtime.projections.sync,
        gateway or build_gateway(runtime),
        now=runtime.clock.now,
        run_lock=RunLock(runtime.database),
        ledger=AttemptLedger(runtime.database),
    )


def build_service(
    runtime: Any, gateway: CollectionGateway | None = None, *, interval_seconds: float = 30.0
) -> SchedulerService:
    return SchedulerService(
        build_jobs(runtime, gateway),
        Leadership(runtime.database),
        runtime.clock,
        interval_seconds=interval_seconds,
    )
