"""Runs the registered periodic tasks when due, for a worker that calls in now and then."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from app.jobs.registry import registry
from app.jobs.runtime import JobRuntime

logger = logging.getLogger("app.jobs.periodic")


class PeriodicTasks:
    """Each task at most once per its interval, the first time at the first call. A failed
    run is logged and tried again an interval later (housekeeping must not stop the worker)."""

    def __init__(self, runtime: JobRuntime) -> None:
        self.runtime = runtime
        self.next_run: dict[str, float] = {}

    async def run_due(self) -> dict[str, Mapping[str, int]]:
        """The report of each task that ran this time."""
        reports: dict[str, Mapping[str, int]] = {}
        for name, task in registry.periodic.items():
            if time.monotonic() < self.next_run.get(name, 0.0):
                continue
            self.next_run[name] = time.monotonic() + task.interval_s(self.runtime.settings)
            try:
                reports[name] = await task.run(self.runtime)
            except Exception:
                logger.warning(
                    "periodic task failed; retrying next interval",
                    exc_info=True,
                    extra={"task": name},
                )
        return reports
