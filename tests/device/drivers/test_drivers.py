"""Both clocks call the same jobs with ``now``; the simulated one is deterministic."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from device.drivers.realtime import RealTimeDriver
from device.drivers.simulation import SimulationDriver

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_simulation_runs_jobs_and_events_in_time_order() -> None:
    driver = SimulationDriver(START)
    seen: list[tuple[str, datetime]] = []
    driver.every("poll", timedelta(hours=1), lambda now: seen.append(("poll", now)))
    driver.at(START + timedelta(minutes=90), lambda now: seen.append(("customer", now)))
    driver.run_until(START + timedelta(hours=3))
    assert seen == [
        ("poll", START + timedelta(hours=1)),
        ("customer", START + timedelta(minutes=90)),
        ("poll", START + timedelta(hours=2)),
        ("poll", START + timedelta(hours=3)),
    ]
    assert driver.now() == START + timedelta(hours=3)


def test_simulation_event_scheduled_in_the_past_runs_now() -> None:
    driver = SimulationDriver(START)
    driver.run_until(START + timedelta(hours=1))
    seen: list[datetime] = []
    driver.at(START, seen.append)
    driver.run_until(START + timedelta(hours=2))
    assert seen == [START + timedelta(hours=1)]


def test_simulation_rejects_naive_start_and_bad_speed() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulationDriver(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="speed"):
        SimulationDriver(START, speed=0)


def test_realtime_driver_calls_job_with_wall_clock_now_and_survives_failures() -> None:
    scheduler = BackgroundScheduler(timezone=UTC)
    driver = RealTimeDriver(scheduler)
    called = threading.Event()
    seen: list[datetime] = []

    def failing(now: datetime) -> None:
        raise RuntimeError("sensor bus glitch")

    def job(now: datetime) -> None:
        seen.append(now)
        called.set()

    driver.every("failing", timedelta(milliseconds=20), failing)
    driver.every("poll", timedelta(milliseconds=20), job)
    before = datetime.now(UTC)
    scheduler.start()
    try:
        assert called.wait(timeout=10)
    finally:
        scheduler.shutdown(wait=True)
    assert seen[0] >= before
    assert seen[0].tzinfo is not None
