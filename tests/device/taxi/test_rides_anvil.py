"""The paid ride on anvil (a real JSON-RPC node): the accept waits for the confirmations
the taxi asks for, then books the trip once, and the fare is in the taxi's wallet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from contracts.anvil import run_anvil
from tests.device.taxi.test_rides_api import TIMEOUT, deploy_chain, serve, signed


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
    assert chain.balance(chain.agent.address) == q["price"]["amount"]
    assert served.counts() == {"taxi_quote": 1, "taxi_trip": 1, "taxi_fare": 1}
