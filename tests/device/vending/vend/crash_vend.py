"""A machine process for the crash test: ``python -m tests.device.vending.vend.crash_vend MODE DB ...``.

``vend DB SLOT drop|stuck``: start a vend; once the PENDING sale is committed and the
motor is turning (after the item fell, for ``drop``), write ``PENDING <id>`` and hang
until killed. ``resolve DB COUNTS_JSON``: restart, resolve pending sales, write them as
JSON ``[[id, state], ...]``.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import timedelta

from gpiozero.pins.mock import MockFactory

from device.logs import configure_logging
from device.store.db import open_store
from device.vending.vend import VendFlow
from tests.device.vending.vend.machine import PRICES, T0, MockPinMachine, demo_slots

RESTART = T0 + timedelta(minutes=10)


def _vend(db: str, slot_id: int, drop: bool) -> None:
    slots = demo_slots(PRICES)
    store = open_store(db)
    flow: VendFlow

    def motor_turning(machine: MockPinMachine, slot: int) -> None:
        if drop:
            machine.item_falls(slot)
        assert flow.in_progress is not None
        sys.stdout.write(f"PENDING {flow.in_progress.id}\n")
        sys.stdout.flush()
        threading.Event().wait()  # the power is cut here

    flow = VendFlow(store, MockPinMachine(MockFactory(), slots, motor_turning), slots)
    flow.vend(slot_id, T0)


def _resolve(db: str, counts_json: str) -> None:
    slots = demo_slots(PRICES)
    counts = {int(slot): count for slot, count in json.loads(counts_json).items()}
    flow = VendFlow(open_store(db), MockPinMachine(MockFactory(), slots), slots)
    settled = flow.resolve_pending(RESTART, counts)
    sys.stdout.write(json.dumps([[sale.id, sale.state.value] for sale in settled]) + "\n")


if __name__ == "__main__":
    configure_logging("warning")  # logs to stderr; stdout carries the protocol lines
    match sys.argv[1:]:
        case ["vend", db, slot, ("drop" | "stuck") as mode]:
            _vend(db, int(slot), mode == "drop")
        case ["resolve", db, counts_json]:
            _resolve(db, counts_json)
        case _:
            sys.exit(__doc__)
