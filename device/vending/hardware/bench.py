"""Measure one poll on mock pins: ``python -m device.vending.hardware.bench [POLLS]``.

The simulated driver polls after every simulated day and restocking visit, so
the cost of a poll bounds how fast a simulated year can run. Measured on both SPI
paths: gpiozero's software SPI (plain ``MockFactory``) and the Pi's hardware SPI
controller (``PiMockFactory``, what the simulator uses).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gpiozero.pins.mock import MockFactory

from device.settings import Settings, load_settings
from device.vending.hardware.poller import HardwarePoller
from device.vending.sim.physics import PiMockFactory, SensorPhysics


@dataclass(frozen=True, slots=True)
class PollCost:
    samples: int
    polls: int
    mean_ms: float
    p95_ms: float
    cpu_ms: float  # mean CPU time (what to compare on a loaded machine)
    faulted_polls: int  # a faulted sensor (e.g. a 0.1 s echo timeout) would skew the figure


def measure_poll_cost(
    settings: Settings, polls: int, samples: int, factory: type[MockFactory] = MockFactory
) -> PollCost:
    """Sell one item per slot between polls (so every reading moves) and time each poll."""
    pins = factory()
    physics = SensorPhysics(settings, pins)
    durations: list[float] = []
    cpu = 0.0
    faulted = 0
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with HardwarePoller(settings, pin_factory=pins, samples=samples) as poller:
            for i in range(polls):
                sold: dict[int, int] = {}
                for slot in settings.slots:
                    if physics.stock(slot.id) == 0:
                        physics.set_stock(slot.id, slot.capacity)
                        poller.recount(slot.id, slot.capacity)
                    poller.motors[slot.id].run(0)
                    sold[slot.id] = 1
                began, began_cpu = time.perf_counter(), time.process_time()
                snapshot = poller.poll(start + timedelta(hours=i), sold)
                durations.append(time.perf_counter() - began)
                cpu += time.process_time() - began_cpu
                faulted += bool(snapshot.alerts)
    finally:
        physics.close()
        pins.reset()
    durations.sort()
    return PollCost(
        samples=samples,
        polls=polls,
        mean_ms=statistics.fmean(durations) * 1000,
        p95_ms=durations[int(0.95 * (len(durations) - 1))] * 1000,
        cpu_ms=cpu / polls * 1000,
        faulted_polls=faulted,
    )


def main(argv: list[str]) -> None:
    polls = int(argv[0]) if argv else 1000
    settings = load_settings()
    paths = {"software SPI": MockFactory, "hardware SPI": PiMockFactory}
    for path, factory in paths.items():
        for samples in (1, 3, 5):
            cost = measure_poll_cost(settings, polls, samples, factory)
            sys.stdout.write(
                f"{path}, {len(settings.slots)} slots, median of {cost.samples}: "
                f"{cost.polls} polls, mean {cost.mean_ms:.2f} ms ({cost.cpu_ms:.2f} ms CPU), "
                f"p95 {cost.p95_ms:.2f} ms, {cost.faulted_polls} with a fault\n"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
