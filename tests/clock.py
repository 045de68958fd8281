"""Start dates for simulated worlds whose in-process chain starts at the wall clock.

eth-tester's genesis block carries the real time and a chain's clock only moves
forward, so a world's simulated start must lie ahead of it. Computing the start
when the test runs (not when the module is imported) and two midnights ahead
keeps that true across a midnight passing during a long test run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def midnight_ahead(weekday: int | None = None) -> datetime:
    """A UTC midnight at least a day ahead of now; on ``weekday`` (0 = Monday) if given."""
    day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    if weekday is not None:
        day += timedelta(days=(weekday - day.weekday()) % 7)
    return day
