"""Discrete-event driver: runs the agent core on simulated time.

Events sit in a heap ordered by (time, insertion order), so a run is fully
deterministic for a given seed. With ``speed`` set the driver paces itself
against the wall clock (``speed`` simulated seconds per real second) for the
demo; without it a simulated year runs as fast as the core allows.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from device.drivers import Action


@dataclass(order=True)
class _Event:
    when: datetime
    seq: int
    action: Action = field(compare=False)


class SimulationDriver:
    """A simulated clock plus an event queue; satisfies ``device.drivers.Driver``."""

    def __init__(self, start: datetime, *, speed: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("simulation start must be timezone-aware")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._now = start
        self._speed = speed
        self._queue: list[_Event] = []
        self._seq = itertools.count()
        self.events_run = 0

    def now(self) -> datetime:
        return self._now

    def at(self, when: datetime, action: Action) -> None:
        heapq.heappush(self._queue, _Event(max(when, self._now), next(self._seq), action))

    def every(self, name: str, interval: timedelta, action: Action) -> None:
        if interval <= timedelta(0):
            raise ValueError(f"job {name}: interval must be positive")

        def repeat(now: datetime) -> None:
            action(now)
            self.at(now + interval, repeat)

        self.at(self._now + interval, repeat)

    def run_until(
        self, end: datetime, on_advance: Callable[[datetime], None] | None = None
    ) -> None:
        """Run every event up to and including ``end``; leave the clock at ``end``."""
        wall_start, sim_start = time.monotonic(), self._now
        while self._queue and self._queue[0].when <= end:
            event = heapq.heappop(self._queue)
            if self._speed is not None:
                due = wall_start + (event.when - sim_start).total_seconds() / self._speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self._now = event.when
            event.action(event.when)
            self.events_run += 1
            if on_advance is not None:
                on_advance(self._now)
        self._now = end
