"""The paid ride on anvil (a real JSON-RPC node): the accept waits for the confirmations
the taxi asks for, then books the trip once, and the fare is in the taxi's wallet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session
from web3 import Web3

from contracts.anvil import run_anvil
from device.taxi.errors import PaymentError
from device.taxi.payments import FarePayments
from device.taxi.rides import RideDesk
from device.taxi.store import counts, open_store
from tests.device.taxi.test_rides_api import (
    MIDTOWN,
    TIMEOUT,
    UPTOWN,
    busy_market,
    charged,
    deploy_chain,
    serve,
    signed,
)


@pytest.fixture
def anvil_url(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


@pytest.mark.anvil
def test_a_fare_paid_on_anvil_books_the_trip_after_its_confirmations(
    anvil_url: str, tmp_path: Path
) -> None:
    chain = deploy_chain(Web3(Web3.HTTPProvider(anvil_url)))
    rider = chain.rider()
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=3600, confirmations=2) as served:
        q = served.quote()
        tx = chain.pay(rider, q["price"]["amount"])
        signature = signed(rider, q["id"], tx)
        early = served.accept(q["id"], tx, signature)
        assert (early.status_code, early.json()["error"]) == (402, "payment_not_verified")
        assert "1 of 2 confirmations" in early.json()["message"]
        assert served.counts()["taxi_trip"] == 0
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        booked = served.accept(q["id"], tx, signature)
        assert booked.status_code == 201, booked.text
        assert served.accept(q["id"], tx, signature).json()["id"] == booked.json()["id"]
        trip = httpx.get(f"{served.url}/trips/{booked.json()['id']}", timeout=TIMEOUT).json()
    assert trip["payment"]["amount"] == q["price"]["amount"]
    assert chain.balance(chain.pc.address) == q["price"]["amount"]  # paid in directly
    assert chain.balance(chain.agent.address) == 0
    assert served.counts() == {"taxi_quote": 1, "taxi_trip": 1, "taxi_fare": 1}


@pytest.mark.anvil
def test_a_payment_a_shallow_reorg_can_take_back_books_nothing(
    anvil_url: str, tmp_path: Path
) -> None:
    """The README's wiring (FarePayments' default confirmations): a payment in the newest
    block is not booked, and once that block is reorged out (evm_revert) it is gone."""
    chain = deploy_chain(Web3(Web3.HTTPProvider(anvil_url)))
    rider = chain.rider()
    payments = FarePayments(chain.w3, chain.usdc.address, chain.pc.address)
    desk = RideDesk(
        open_store(tmp_path / "taxi.sqlite"), payments, market=busy_market, battery=charged
    )
    now = chain.now()
    q = desk.quote((MIDTOWN["lat"], MIDTOWN["lon"]), (UPTOWN["lat"], UPTOWN["lon"]), now, None)
    fork = chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    tx = chain.pay(rider, q.price)
    with pytest.raises(PaymentError, match="confirmations"):
        desk.accept(q.id, tx, signed(rider, q.id, tx), now)
    chain.w3.provider.make_request("evm_revert", [fork])  # type: ignore[arg-type]
    with pytest.raises(PaymentError, match="not on the chain"):
        desk.accept(q.id, tx, signed(rider, q.id, tx), now)
    with Session(desk.engine) as session:
        assert counts(session) == {"taxi_quote": 1, "taxi_trip": 0, "taxi_fare": 0}
