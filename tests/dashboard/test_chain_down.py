"""With the chain node unreachable the dashboard still shows what the store knows."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from web3 import Web3

from contracts.profit_center import ProfitCenter
from dashboard.app import create_app, start_in_thread
from dashboard.machine import LiveMachineView
from device.settings import Settings
from device.store.db import Store
from tests.dashboard.conftest import OwnerLogin, login
from tests.dashboard.machine_data import stock_and_sales


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_pages_degrade_to_the_store_when_the_node_is_unreachable(
    settings: Settings, store: Store, owner: OwnerLogin, tmp_path: Path
) -> None:
    stock_and_sales(store, settings)
    w3 = Web3(
        Web3.HTTPProvider(f"http://127.0.0.1:{_closed_port()}", request_kwargs={"timeout": 2})
    )
    pc = ProfitCenter(w3, "0x" + "11" * 20)
    view = LiveMachineView(settings, store, pc)
    app = create_app(settings, view, engine=store.engine, secret_file=tmp_path / "s.key")
    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url) as client:
            login(client, owner)
            page = client.get("/")
            assert page.status_code == 200
            assert "the chain cannot be read" in page.text
            status = client.get("/api/status").json()
            assert status["treasury"] is None
            assert status["revenue_today"] == 3 * settings.slot(1).retail_price
            assert any(a["source"] == "chain" for a in status["alerts"])
            assert client.get("/api/slots").status_code == 200
            assert client.get("/api/orders").status_code == 503
            orders_page = client.get("/orders")
            assert orders_page.status_code == 503
            assert "cannot read the ProfitCenter" in orders_page.text
            assert orders_page.headers["content-type"].startswith("text/html")
            text = client.get("/metrics").text
        samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        assert samples["custobot_chain_up"] == 0
        assert "custobot_treasury_balance_base_units" not in samples
        assert samples["custobot_sales_units_24h"] == 3
    finally:
        running.stop()
