"""Fixtures for the reference supplier: a configured supplier, its key, a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi import FastAPI

from contracts.profit_center import Autonomy, Policy
from supplier.app import create_app
from supplier.keys import Signer
from supplier.protocol import counter_key, counter_lock
from supplier.settings import CatalogEntry, SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

CHAIN_ID = 31337
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
COLA = "05449000000996"
SODA = "05000112637922"
BISCUITS = "07622210449283"
DAY = 86400
USDC = 1_000_000
# The machine's policy in the supplier's chain tests: it orders alone, a day to dispute.
POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=100 * USDC,
    per_order_cap=100 * USDC,
    budget_per_period=1_000 * USDC,
    period_length=7 * DAY,
    operating_reserve=0,
    dispute_window=DAY,
)


def make_config(tmp_path: Path, **overrides: Any) -> SupplierSettings:
    """A three-item supplier on chain 31337; ``overrides`` replace top-level fields."""
    fields: dict[str, Any] = {
        "name": "Test Wholesale",
        "keystore": tmp_path / "key.json",
        "database": tmp_path / "supplier.db",
        "tokens": [{"chain_id": CHAIN_ID, "address": TOKEN, "decimals": 6}],
        "items": [
            CatalogEntry(
                gtin=COLA,
                name="Cola",
                list_price=450_000,
                floor_price=310_000,
                min_quantity=24,
                lead_time_seconds=DAY,
                stock=2400,
                discounts=[{"min_quantity": 96, "discount_bp": 500}],
            ),
            CatalogEntry(
                gtin=SODA,
                name="Soda",
                list_price=600_000,
                floor_price=420_000,
                min_quantity=12,
                lead_time_seconds=DAY,
                stock=100,
            ),
            CatalogEntry(
                gtin=BISCUITS,
                name="Biscuits",
                list_price=380_000,
                floor_price=250_000,
                lead_time_seconds=2 * DAY,
                stock=800,
            ),
        ],
        "strategy": {"kind": "boulware", "beta": 0.2},
        "max_rounds": 6,
    }
    fields.update(overrides)
    return SupplierSettings.model_validate(fields)


class Clock:
    """A settable clock for the app (the desk never reads wall time itself)."""

    def __init__(self) -> None:
        self.now = int(time.time())

    def __call__(self) -> int:
        return self.now


# The buyer's hash-chain secret in these tests: RFQs carry its lock, counters its keys.
SECRET = bytes(range(32))
LOCK = counter_lock(SECRET)


def key(round_: int) -> str:
    """The opener's ``counter_key`` for a counter to offer ``round_`` (of an RFQ with ``LOCK``)."""
    return counter_key(SECRET, round_)


def counter_body(round_: int, price: int, **extra: Any) -> dict[str, Any]:
    """A counter to offer ``round_`` from the RFQ's opener (its key opens ``rfq_body``'s lock)."""
    return {"round": round_, "price": price, "counter_key": counter_key(SECRET, round_), **extra}


def rfq_body(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "protocol": "custobot/2",
        "rfq_id": Account.create().address[2:34],
        "items": [{"gtin": COLA, "quantity": 48}],
        "deliver_by": now + 3 * DAY,
        "answer_by": now + 60,
        "chain_id": CHAIN_ID,
        "buyer": "0x000000000000000000000000000000000000bEEF",
        "token": TOKEN,
        "machine_customer": True,
        "counter_lock": counter_lock(SECRET),
    }
    body.update(overrides)
    return body


@pytest.fixture
def config(tmp_path: Path) -> SupplierSettings:
    return make_config(tmp_path)


@pytest.fixture
def signer() -> Signer:
    return Signer.from_key(Account.create().key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(config: SupplierSettings, signer: Signer, clock: Clock) -> Iterator[FastAPI]:
    store = SupplierStore(config.database)
    yield create_app(config, signer, store, clock=clock)
    store.close()


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url
