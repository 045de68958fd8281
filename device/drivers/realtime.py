"""Real-time driver: APScheduler calls the agent core on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.base import BaseScheduler

from device.drivers import Action

log = structlog.get_logger()


class RealTimeDriver:
    """Wraps an APScheduler scheduler; satisfies ``device.drivers.Driver``.

    Jobs never overlap themselves (``max_instances=1``) and missed runs after a
    pause (e.g. a power cut) are coalesced into one, so a restart does not
    replay a backlog of polls.
    """

    def __init__(self, scheduler: BaseScheduler) -> None:
        self.scheduler = scheduler

    def now(self) -> datetime:
        return datetime.now(UTC)

    def _call(self, name: str, action: Action) -> None:
        try:
            action(self.now())
        except Exception:  # one failing job must not stop the machine
            log.exception("job_failed", job=name)

    def every(self, name: str, interval: timedelta, action: Action) -> None:
        self.scheduler.add_job(
            self._call,
            "interval",
            args=(name, action),
            seconds=interval.total_seconds(),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )

    def at(self, when: datetime, action: Action) -> None:
        self.scheduler.add_job(self._call, "date", args=("once", action), run_date=when)
