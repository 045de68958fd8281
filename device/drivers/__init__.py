"""The two clocks that drive the one agent core: real time and simulated time.

Both satisfy ``Driver``: the core registers periodic jobs with ``every`` and
one-off events with ``at``; each job is called with ``now`` and never reads the
wall clock itself. That is what lets ``custobot simulate`` say something about
the real agent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

Action = Callable[[datetime], object]


class Driver(Protocol):
    def every(self, name: str, interval: timedelta, action: Action) -> None:
        """Call ``action(now)`` every ``interval``, first one interval from now."""

    def at(self, when: datetime, action: Action) -> None:
        """Call ``action(now)`` once at ``when`` (or as soon as possible after it)."""

    def now(self) -> datetime:
        """The driver's current time (wall clock or simulated)."""
