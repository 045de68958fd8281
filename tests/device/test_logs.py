"""Log lines for people show money, states and order ids as people say them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog
from gpiozero.pins.mock import MockFactory

from contracts.profit_center import OrderStatus
from device.logs import configure_logging
from device.procurement.models import OrderState
from device.vending.hardware.health import CpuHealth

ORDER = "0x" + "4e0ab321" + "ab" * 28


def _event() -> None:
    structlog.get_logger().info(
        "order_state",
        order=ORDER,
        key=f"place:{ORDER}",
        supplier="Acme Wholesale",
        state=OrderState.SETTLED,
        status=OrderStatus.OPEN,
        amount=70_662_360,
        paid=0,
        slot=3,
    )


def test_console_lines_show_usdc_words_and_short_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    _event()
    line = capsys.readouterr().err
    assert "amount='70.66 USDC'" in line
    assert "paid='0.00 USDC'" in line
    assert "state=settled" in line
    assert "status=open" in line
    assert "order=0x4e0ab321 " in line
    assert "key=place:0x4e0ab321 " in line
    assert "supplier='Acme Wholesale'" in line
    assert "slot=3" in line
    assert "70662360" not in line
    assert "<OrderState" not in line
    assert ORDER not in line


def test_json_lines_keep_base_units_and_full_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    _event()
    record = json.loads(capsys.readouterr().err)
    assert record["amount"] == 70_662_360
    assert record["order"] == ORDER
    assert record["event"] == "order_state"
    assert record["slot"] == 3


def test_a_machine_without_a_temperature_sensor_says_so_once_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", json=True)
    factory = MockFactory()
    missing = tmp_path / "thermal_zone0" / "temp"
    for _ in range(3):  # every poller of the process builds one
        CpuHealth(pin_factory=factory, sensor_file=missing).close()
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["event"], r["level"]) for r in records] == [("cpu_temperature_unavailable", "info")]
    assert "error" not in records[0]
    assert "Errno" not in str(records[0])
    factory.close()
