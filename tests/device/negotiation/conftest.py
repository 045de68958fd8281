"""Shared pieces of the buyer tests: a need, and reference suppliers served over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from device.negotiation import HttpLimits, Need, NeedItem, SupplierRef
from supplier.app import create_app
from supplier.keys import Signer
from supplier.settings import CatalogEntry, SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

CHAIN_ID = 31337
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PROFIT_CENTER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
COLA = "05449000000996"
CHIPS = "04000000000017"
DAY = 86400


def make_need(**overrides: Any) -> Need:
    """48 colas and 24 bags of chips within three days, at most 30 USDC."""
    fields: dict[str, Any] = {
        "items": [NeedItem(gtin=COLA, quantity=48), NeedItem(gtin=CHIPS, quantity=24)],
        "deliver_by": int(time.time()) + 3 * DAY,
        "reservation": 30_000_000,
        "urgency": 0.3,
        "chain_id": CHAIN_ID,
        "profit_center": PROFIT_CENTER,
        "token": TOKEN,
    }
    fields.update(overrides)
    return Need(**fields)


def supplier_settings(
    tmp_path: Path,
    name: str,
    *,
    strategy: dict[str, Any],
    cola: tuple[int, int] = (450_000, 310_000),
    chips: tuple[int, int] = (600_000, 420_000),
    max_rounds: int = 6,
    chain_id: int = CHAIN_ID,
    token: str = TOKEN,
    **extra: Any,
) -> SupplierSettings:
    """A two-item supplier; ``cola`` and ``chips`` are (list, floor) unit prices; ``extra``
    are further settings."""
    return SupplierSettings.model_validate(
        {
            "name": name,
            "keystore": tmp_path / f"{name}.key.json",
            "database": tmp_path / f"{name}.db",
            "tokens": [{"chain_id": chain_id, "address": token, "decimals": 6}],
            "items": [
                CatalogEntry(
                    gtin=COLA,
                    name="Cola",
                    list_price=cola[0],
                    floor_price=cola[1],
                    lead_time_seconds=DAY,
                    stock=1000,
                ),
                CatalogEntry(
                    gtin=CHIPS,
                    name="Chips",
                    list_price=chips[0],
                    floor_price=chips[1],
                    lead_time_seconds=DAY,
                    stock=1000,
                ),
            ],
            "strategy": strategy,
            "max_rounds": max_rounds,
            **extra,
        }
    )


@contextmanager
def reference_supplier(
    tmp_path: Path, name: str, *, reliability: float = 0.9, **settings: Any
) -> Iterator[SupplierRef]:
    """The real reference supplier service on a free 127.0.0.1 port, with a fresh key."""
    config = supplier_settings(tmp_path, name, **settings)
    signer = Signer.from_key(Account.create().key)
    store = SupplierStore(config.database)
    try:
        with serve_in_thread(create_app(config, signer, store)) as url:
            yield SupplierRef(
                name=name, base_url=url, signing_address=signer.address, reliability=reliability
            )
    finally:
        store.close()


@pytest.fixture
def fast_limits() -> HttpLimits:
    """Short real-time limits so silent and slow suppliers cost about a second."""
    return HttpLimits(connect_timeout_s=1.0, read_timeout_s=1.0, request_timeout_s=1.5)
