"""Measure one poll on mock pins: ``python -m device.hardware.bench [POLLS]``.

The simulated driver polls after every simulated day and restocking visit, so
the cost of a poll bounds how fast a simulated year can run.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gpiozero.pins.mock import MockFactory

from device.hardware.poller import HardwarePoller
from device.settings import Settings, load_settings
from device.sim.physics import SensorPhysics


@dataclass(frozen=True, slots=True)
class PollCost:
    samples: int
    polls: int
    mean_ms: float
    p95_ms: float
    faulted_polls: int  # a faulted sensor (e.g. a 0.1 s echo timeout) would skew the figure


def measure_poll_cost(settings: Settings, polls: int, samples: int) -> PollCost:
    """Sell one item per slot between polls (so every reading moves) and time each poll."""
    factory = MockFactory()
    physics = SensorPhysics(settings, factory)
    durations: list[float] = []
    faulted = 0
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with HardwarePoller(settings, pin_factory=factory, samples=samples) as poller:
            for i in range(polls):
                sold: dict[int, int] = {}
                for slot in settings.slots:
                    if physics.stock(slot.id) == 0:
                        physics.set_stock(slot.id, slot.capacity)
                        poller.recount(slot.id, slot.capacity)
                    poller.motors[slot.id].run(0)
                    sold[slot.id] = 1
                began = time.perf_counter()
                snapshot = poller.poll(start + timedelta(hours=i), sold)
                durations.append(time.perf_counter() - began)
                faulted += bool(snapshot.alerts)
    finally:
        physics.close()
        factory.reset()
    durations.sort()
    return PollCost(
        samples=samples,
        polls=polls,
        mean_ms=statistics.fmean(durations) * 1000,
        p95_ms=durations[int(0.95 * (len(durations) - 1))] * 1000,
        faulted_polls=faulted,
    )


def main(argv: list[str]) -> None:
    polls = int(argv[0]) if argv else 1000
    settings = load_settings()
    for samples in (1, 3, 5):
        cost = measure_poll_cost(settings, polls, samples)
        sys.stdout.write(
            f"{len(settings.slots)} slots, median of {cost.samples}: {cost.polls} polls, "
            f"mean {cost.mean_ms:.2f} ms, p95 {cost.p95_ms:.2f} ms, "
            f"{cost.faulted_polls} with a fault\n"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
