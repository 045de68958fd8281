"""A real machine process is SIGKILLed mid-vend; restarts settle the sale exactly once."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from sqlmodel import col, select

from device.store import repo
from device.store.db import open_store
from device.store.models import CreditEntry, CreditKind, RecountSource, Sale, SaleState
from device.vending.vend import VendFlow
from tests.device.vending.vend.crash_vend import RESTART
from tests.device.vending.vend.machine import COLA, PRICES, T0, MockPinMachine, demo_slots

REPO = Path(__file__).resolve().parents[4]
CREDIT = 2_500_000


def machine_process(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.device.vending.vend.crash_vend", *args]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)


def first_line(process: subprocess.Popen[str]) -> str:
    """The process's first stdout line (a guard, not a timing check: fail rather than hang)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=120), "machine process never reported"
    return process.stdout.readline()


@pytest.mark.parametrize(
    ("mode", "count_after", "expected"),
    [
        ("stuck", 5, SaleState.REFUNDED),  # killed before the item fell: still 5
        ("drop", 4, SaleState.COMPLETED),  # the item fell, then the power was cut
    ],
)
def test_sigkill_between_pending_and_completed_is_settled_exactly_once(
    tmp_path: Path, mode: str, count_after: int, expected: SaleState
) -> None:
    db = tmp_path / "machine.db"
    setup = open_store(db)
    with setup.write() as session:
        repo.record_recount(session, COLA, 5, RecountSource.RESTOCK, T0)
    slots = demo_slots(PRICES)
    VendFlow(setup, MockPinMachine(MockFactory(), slots), slots).deposit(CREDIT, T0)
    setup.close()

    vending = machine_process("vend", str(db), str(COLA), mode)
    line = first_line(vending)
    assert line.startswith("PENDING "), line
    sale_id = int(line.split()[1])
    observer = open_store(db)
    with observer.read() as session:  # committed, so visible to another connection
        assert [(s.id, s.state) for s in repo.pending_sales(session)] == [
            (sale_id, SaleState.PENDING)
        ]
    os.kill(vending.pid, signal.SIGKILL)
    assert vending.wait() == -signal.SIGKILL
    assert vending.stdout is not None
    vending.stdout.close()  # the pipe's file object would otherwise be left to the GC

    counts = json.dumps({str(COLA): count_after})
    # two restarted machine processes race to resolve; then this one restarts too
    racers = [machine_process("resolve", str(db), counts) for _ in range(2)]
    outputs = [racer.communicate()[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    settled = [tuple(entry) for output in outputs for entry in json.loads(output)]
    assert settled == [(sale_id, expected.value)]
    late = VendFlow(observer, MockPinMachine(MockFactory(), slots), slots)
    assert late.resolve_pending(RESTART, {COLA: count_after}) == []
    with observer.read() as session:
        [sale] = session.exec(select(Sale))
        entries = list(session.exec(select(CreditEntry).order_by(col(CreditEntry.id))))
        balance = repo.credit_balance(session)
        stock = repo.stock_estimate(session, COLA)
        alerts = [(a.kind, a.slot_id) for a in repo.open_alerts(session)]
    observer.close()
    assert sale.state == expected
    assert alerts == [("vend_interrupted", COLA)]
    kinds = [entry.kind for entry in entries]
    if expected == SaleState.REFUNDED:
        assert kinds == [CreditKind.DEPOSIT, CreditKind.CHARGE, CreditKind.REFUND]
        assert balance == CREDIT
        assert stock == 5
    else:
        assert kinds == [CreditKind.DEPOSIT, CreditKind.CHARGE]
        assert balance == CREDIT - PRICES[COLA]
        assert stock == 4
