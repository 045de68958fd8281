"""CLI tables show money as USDC with cents, never as token base units."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from device.cli import app
from device.demo_shell import orders_table
from device.procurement.models import OrderState, PurchaseOrder
from device.settings import DEFAULTS_FILE
from device.store.db import open_store

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
BASE_UNITS = re.compile(r"\b\d{6,}\b")  # 1.00 USDC is 1000000 base units


def _order() -> PurchaseOrder:
    line = {"gtin": "05449000000996", "slot_id": 1, "quantity": 6, "unit_price": 1_012_500}
    return PurchaseOrder(
        need_key="need-1",
        order_id="0x" + "4e" * 32,
        supplier_name="Acme Wholesale",
        supplier_address="0x" + "11" * 20,
        amount=6_075_000,
        reservation_price=9_300_000,
        lines=json.dumps([line]),
        quote="{}",
        signature="0x",
        transcript="{}",
        state=OrderState.SETTLED,
        deliver_by=AT,
        paid=6_075_000,
        created_at=AT,
        updated_at=AT,
    )


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "machine.toml"
    database = tmp_path / "machine.db"
    config.write_text(
        DEFAULTS_FILE.read_text().replace(
            'database = "custobot-demo.db"', f'database = "{database}"'
        )
    )
    return config


def test_check_status_and_orders_show_usdc(tmp_path: Path) -> None:
    config = _config(tmp_path)
    store = open_store(tmp_path / "machine.db")
    with store.write() as session:
        session.add(_order())
    store.close()
    runner = CliRunner()
    outputs = []
    for args in (["check"], ["status"], ["orders", "list"]):
        result = runner.invoke(app, [*args, "--config", str(config)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    check, status, orders = outputs
    assert "price (USDC)" in check
    assert "2.00" in check  # the cola's retail price
    assert "revenue today: 0.00 USDC" in status
    assert "purchase orders (money in USDC)" in orders
    assert "6.07" in orders
    for text in outputs:
        assert not BASE_UNITS.search(text), text


def test_the_demo_orders_table_shows_usdc() -> None:
    console = Console(width=160, record=True)
    console.print(orders_table([_order()]))
    text = console.export_text()
    assert "price (USDC)" in text
    assert "6.07" in text
    assert "9.30" in text
    assert not BASE_UNITS.search(text)
