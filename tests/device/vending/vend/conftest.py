"""A vend flow on a real SQLite file and real gpiozero devices on mock pins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.settings import SlotConfig
from device.store.db import Store, open_store
from device.vending.vend import VendFlow
from tests.device.vending.vend.machine import PRICES, MockPinMachine, demo_slots


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "machine.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = open_store(db_path)
    yield store
    store.close()


@pytest.fixture
def slots() -> list[SlotConfig]:
    return demo_slots(PRICES)


@pytest.fixture
def machine(slots: list[SlotConfig]) -> Iterator[MockPinMachine]:
    machine = MockPinMachine(MockFactory(), slots)
    yield machine
    machine.close()


@pytest.fixture
def flow(store: Store, machine: MockPinMachine, slots: list[SlotConfig]) -> VendFlow:
    return VendFlow(store, machine, slots)
