"""The rider API over real HTTP (uvicorn on 127.0.0.1) on a real SQLite file and a real
chain (eth-tester; one test on anvil in test_rides_anvil.py).

Quotes are stored with their breakdown, the same trip at the same time costs every
rider the same, a trip is booked only for a fare paid on-chain by the rider who signs
for it, an accept sent 40 times at once charges once, a rider has one open trip at a
time, quotes nobody took are pruned, and bad input gets a clear error and writes nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlmodel import Session, select
from structlog.testing import capture_logs
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.errors import ContractRevertError
from contracts.profit_center import Autonomy, Policy, ProfitCenter
from device import http_serving
from device.money import parse_money
from device.procurement.ledger import Ledger
from device.store.db import open_store as open_machine_store
from device.taxi.app import create_app, server_config
from device.taxi.errors import RidesBusyError
from device.taxi.fares import MACHINE_NOTICE, Market
from device.taxi.payments import FarePayments, payment_message
from device.taxi.rides import ACCEPT_GRACE_S, CAR_MARGINS, PRUNE_AFTER_S, RideDesk, Serving
from device.taxi.store import (
    TaxiFare,
    TaxiQuote,
    TripState,
    counts,
    daily_revenue,
    fares_taken,
    open_store,
)
from device.taxi.vehicle import BATTERY, ChargingState, Fault, VehicleSnapshot, battery_wh

USDC = 1_000_000
RPC_KEY = "k3y0fth3h0st3drpc"
MIDTOWN = {"lat": 40.7540, "lon": -73.9840}
UPTOWN = {"lat": 40.7800, "lon": -73.9650}
DOWNTOWN = {"lat": 40.7300, "lon": -73.9950}
LONDON = {"lat": 51.5072, "lon": -0.1276}
TIMEOUT = httpx.Timeout(30.0)
POLICY = Policy(Autonomy.AUTONOMOUS, 10 * USDC, 100 * USDC, 300 * USDC, 7 * 86_400, 0, 86_400)


@dataclass
class Chain:
    """A deployed ProfitCenter and MockUSDC; riders pay their fares to the ProfitCenter."""

    w3: Web3
    pc: ProfitCenter
    usdc: Any
    governor: str
    agent: LocalAccount

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def rider(self, usdc: int = 100 * USDC) -> LocalAccount:
        """A new rider with gas and ``usdc`` base units of the token."""
        account: LocalAccount = Account.create()
        fund(self.w3, self.governor, account.address)
        send(self.w3, self.usdc.functions.mint(account.address, usdc), self.governor)
        return account

    def balance(self, who: str) -> int:
        return int(self.usdc.functions.balanceOf(who).call())

    def pay(self, rider: LocalAccount, amount: int, to: str | None = None) -> str:
        """The rider transfers ``amount`` to the ProfitCenter; the transaction hash."""
        call = self.usdc.functions.transfer(to or self.pc.address, amount)
        receipt = send(self.w3, call, rider)
        return "0x" + bytes(receipt["transactionHash"]).hex()


def fund(w3: Web3, funder: str, to: str) -> None:
    tx = w3.eth.send_transaction({"from": funder, "to": to, "value": 10**18})  # type: ignore[typeddict-item]
    w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.02)


def deploy_chain(w3: Web3) -> Chain:
    governor = str(w3.eth.accounts[0])
    agent: LocalAccount = Account.create()
    fund(w3, governor, agent.address)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=POLICY
    )
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    return Chain(w3, ProfitCenter(w3, deployment.profit_center), usdc, governor, agent)


def signed(rider: LocalAccount, quote_id: str, tx: str) -> str:
    message = encode_defunct(text=payment_message(quote_id, tx))
    return "0x" + bytes(rider.sign_message(message).signature).hex()


@dataclass
class Served:
    url: str
    db: Path
    clock: list[int]
    chain: Chain

    def counts(self) -> dict[str, int]:
        with Session(open_store(self.db)) as session:
            return counts(session)

    def quote(self, dropoff: dict[str, float] = UPTOWN) -> dict[str, Any]:
        r = ask(self, {"pickup": MIDTOWN, "dropoff": dropoff})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def accept(self, quote_id: str, tx: str, signature: str) -> httpx.Response:
        body = {"quote_id": quote_id, "payment_tx": tx, "signature": signature}
        return httpx.post(f"{self.url}/trips", json=body, timeout=TIMEOUT)

    def ride(self, rider: LocalAccount, dropoff: dict[str, float] = UPTOWN) -> httpx.Response:
        """Quote, pay the price, accept."""
        q = self.quote(dropoff)
        tx = self.chain.pay(rider, q["price"]["amount"])
        return self.accept(q["id"], tx, signed(rider, q["id"], tx))


def charged(now: int) -> int:
    """A healthy battery: 48 kWh of the 60, for a desk whose tests are not about the battery."""
    return 48_000


def busy_market(zone: str, t: int) -> Market:
    """Demand 1.4x under an owners' cap of 1.25x: the quote carries a demand line."""
    return Market(demand_bp=14_000, cap_bp=12_500)


@pytest.fixture(scope="module")
def module_chain() -> Chain:
    return deploy_chain(Web3(EthereumTesterProvider()))


@contextmanager
def serve(
    db: Path, chain: Chain, *, confirmations: int = 1, **desk_options: Any
) -> Iterator[Served]:
    clock = [chain.now()]
    payments = FarePayments(
        chain.w3, chain.usdc.address, chain.pc.address, confirmations=confirmations
    )
    desk_options.setdefault("battery", charged)
    desk = RideDesk(open_store(db), payments, market=busy_market, **desk_options)
    app = create_app(desk, clock=lambda: clock[0])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with http_serving.serve_in_thread(server_config(app, "127.0.0.1", port), sock):
        yield Served(f"http://127.0.0.1:{port}", db, clock, chain)


@pytest.fixture
def served(tmp_path: Path, module_chain: Chain) -> Iterator[Served]:
    # The quotes live an hour: a payment mined on eth-tester's wall clock is in time.
    with serve(tmp_path / "taxi.sqlite", module_chain, quote_ttl_s=3600) as s:
        yield s


def ask(served: Served, body: Any) -> httpx.Response:
    return httpx.post(f"{served.url}/quotes", json=body, timeout=TIMEOUT)


def test_a_quote_has_price_eta_breakdown_notice_expiry_and_is_stored(served: Served) -> None:
    q = served.quote()
    assert q["price"]["amount"] == sum(line["amount"] for line in q["breakdown"])
    assert q["price"]["display"].endswith(" USDC")
    assert [line["label"] for line in q["breakdown"]] == ["base", "distance", "time", "demand"]
    assert q["factor_bp"] == 12_500  # capped
    assert q["notice"] == MACHINE_NOTICE
    assert q["rules_source"] == "fixed"  # this test's market; on a taxi, the chain's block
    assert q["expires_at"] == served.clock[0] + 3600
    assert (q["pay_to"], q["token_address"]) == (
        served.chain.pc.address,
        served.chain.usdc.address,
    )
    assert q["eta_s"] > 0
    assert q["distance_m"] > 3000
    with Session(open_store(served.db)) as session:
        row = session.get(TaxiQuote, q["id"])
    assert row is not None
    assert row.price == q["price"]["amount"]
    assert row.lines == [(line["label"], line["amount"]) for line in q["breakdown"]]


def test_a_rider_who_pays_the_price_as_shown_gets_the_trip(served: Served) -> None:
    """Fares are priced to the base unit; a display cut to cents asked for less than the
    fare, and the rider who paid it lost the money and got a 402 ("moves 22.23 USDC;
    the fare is 22.23 USDC")."""
    q = served.quote()
    shown = [q["price"], *q["breakdown"]]
    assert [parse_money(a["display"].removesuffix(" USDC")) for a in shown] == [
        a["amount"] for a in shown
    ]
    rider = served.chain.rider()
    tx = served.chain.pay(rider, parse_money(q["price"]["display"].removesuffix(" USDC")))
    booked = served.accept(q["id"], tx, signed(rider, q["id"], tx))
    assert booked.status_code == 201, booked.text


def test_the_same_trip_at_the_same_time_is_quoted_the_same_to_every_rider(served: Served) -> None:
    a = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": "alice"}).json()
    b = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": "bob"}).json()
    assert a["id"] != b["id"]
    for key in ("price", "breakdown", "factor_bp", "eta_s", "expires_at", "notice"):
        assert a[key] == b[key]


def test_an_accept_sent_40_times_at_once_books_and_charges_once(served: Served) -> None:
    chain = served.chain
    rider = chain.rider()
    q = served.quote()
    before = chain.balance(chain.pc.address)
    tx = chain.pay(rider, q["price"]["amount"])
    signature = signed(rider, q["id"], tx)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: served.accept(q["id"], tx, signature), range(40)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 39 + [201], {r.text for r in answers}
    trips = {r.json()["id"] for r in answers}
    assert len(trips) == 1
    replay = served.accept(q["id"], tx, signature)  # and once more, later
    assert replay.status_code == 200
    assert replay.json()["id"] in trips
    assert served.counts() == {"taxi_quote": 1, "taxi_trip": 1, "taxi_fare": 1}
    trip_id = trips.pop()
    assert len(trip_id) == 22
    assert not trip_id.isdigit()  # unguessable, not a counter
    trip = httpx.get(f"{served.url}/trips/{trip_id}", timeout=TIMEOUT).json()
    assert trip["state"] == "booked"
    assert trip["rider"] == rider.address
    assert trip["payment"]["amount"] == q["price"]["amount"]
    assert trip["payment"]["payment_tx"] == tx
    assert chain.balance(chain.pc.address) - before == q["price"]["amount"]  # paid once
    with Session(open_store(served.db)) as session:
        day = datetime.fromtimestamp(served.clock[0], UTC).date()
        assert daily_revenue(session, day) == q["price"]["amount"]
        fare = session.exec(select(TaxiFare)).one()
    assert fare.token == "USDC"


def test_a_rider_has_one_open_trip_at_a_time(served: Served) -> None:
    rider, other = served.chain.rider(), served.chain.rider()
    first = served.ride(rider)
    assert first.status_code == 201, first.text
    q = served.quote(DOWNTOWN)
    tx = served.chain.pay(rider, q["price"]["amount"])
    before = served.counts()
    second = served.accept(q["id"], tx, signed(rider, q["id"], tx))
    assert second.status_code == 409, second.text
    assert second.json()["error"] == "trip_open"
    assert served.counts() == before
    assert served.ride(other).status_code == 201  # another rider is not held up
    desk: RideDesk = _desk(served)
    trip_id = first.json()["id"]
    desk.advance(trip_id, TripState.PICKED_UP, served.clock[0])
    assert served.accept(q["id"], tx, signed(rider, q["id"], tx)).status_code == 409
    desk.advance(trip_id, TripState.COMPLETED, served.clock[0])
    # The payment made while the first trip was open still books its quote now.
    again = served.accept(q["id"], tx, signed(rider, q["id"], tx))
    assert again.status_code == 201, again.text


def _desk(served: Served) -> RideDesk:
    """The served desk over the same file (its writes are the served app's)."""
    payments = FarePayments(served.chain.w3, served.chain.usdc.address, served.chain.pc.address)
    return RideDesk(open_store(served.db), payments, market=busy_market, battery=charged)


def test_a_trip_is_booked_only_for_a_confirmed_transfer_of_the_fare_by_the_signer(
    served: Served,
) -> None:
    chain = served.chain
    rider, thief = chain.rider(), chain.rider()
    q = served.quote()
    price = q["price"]["amount"]
    short = chain.pay(rider, price - 1)
    elsewhere = chain.pay(rider, price, to=chain.governor)
    paid = chain.pay(rider, price)
    never = "0x" + "ab" * 32
    before = served.counts()
    for tx, signer, error in (
        (never, rider, "payment_not_verified"),  # no such transaction
        (short, rider, "payment_not_verified"),  # one base unit short
        (elsewhere, rider, "payment_not_verified"),  # paid, but not to the taxi
        (paid, thief, "payment_not_verified"),  # someone else's payment, the thief's signature
    ):
        r = served.accept(q["id"], tx, signed(signer, q["id"], tx))
        assert (r.status_code, r.json()["error"]) == (402, error), r.text
    said = served.accept(q["id"], short, signed(rider, q["id"], short)).json()["message"]
    assert f"the fare is {q['price']['display']}" in said  # in USDC, never base units
    assert str(price) not in said
    wrong_quote = served.accept(q["id"], paid, signed(rider, "0" * 32, paid))
    assert wrong_quote.status_code == 402  # signed for another quote
    garbage = served.accept(q["id"], paid, "0x" + "00" * 65)
    assert (garbage.status_code, garbage.json()["error"]) == (402, "payment_not_verified")
    assert served.counts() == before
    assert served.accept(q["id"], paid, signed(rider, q["id"], paid)).status_code == 201


def test_an_accepted_quote_shows_its_trip_only_to_its_payer(served: Served) -> None:
    """The payment is public on-chain; replaying the accept with another signature (the
    thief's, or garbage recovering to some address) must not hand out the trip's id."""
    chain = served.chain
    rider, thief = chain.rider(), chain.rider()
    q = served.quote()
    tx = chain.pay(rider, q["price"]["amount"])
    booked = served.accept(q["id"], tx, signed(rider, q["id"], tx))
    assert booked.status_code == 201, booked.text
    for signature in (signed(thief, q["id"], tx), "0x" + "11" * 64 + "1b"):
        replay = served.accept(q["id"], tx, signature)
        assert replay.status_code in (402, 409), replay.text
        assert booked.json()["id"] not in replay.text
    assert served.accept(q["id"], tx, signed(rider, q["id"], tx)).status_code == 200


def test_accepts_that_send_the_taxi_to_the_chain_are_rate_limited(served: Served) -> None:
    """Any well-formed accept costs a chain read (one at a time, on a metered RPC): a
    client inventing payments must be slowed down before it reaches the chain."""
    q = served.quote()
    anyone = Account.create()
    before = served.counts()
    statuses = []
    for n in range(100):
        tx = "0x" + n.to_bytes(32, "big").hex()
        statuses.append(served.accept(q["id"], tx, signed(anyone, q["id"], tx)).status_code)
    assert set(statuses) == {402, 429}, statuses
    assert served.counts() == before


def test_a_thief_with_the_agent_key_cannot_move_the_fares(served: Served) -> None:
    """Fares are paid straight to the ProfitCenter: the agent's wallet never holds them,
    and its key can neither send them on nor pull them out of the contract."""
    chain = served.chain
    thief = Account.create().address
    agent_before, pc_before = chain.balance(chain.agent.address), chain.balance(chain.pc.address)
    t = served.ride(chain.rider())
    assert t.status_code == 201, t.text
    fare = t.json()["payment"]["amount"]
    assert chain.balance(chain.pc.address) - pc_before == fare
    assert chain.balance(chain.agent.address) == agent_before == 0
    for call in (
        chain.usdc.functions.transfer(thief, fare),
        chain.usdc.functions.transferFrom(chain.pc.address, thief, fare),
    ):
        with pytest.raises(ContractRevertError):
            send(chain.w3, call, chain.agent)
    assert chain.balance(thief) == 0
    assert chain.balance(chain.pc.address) - pc_before == fare


def test_a_payment_pays_one_quote(served: Served) -> None:
    chain = served.chain
    rider = chain.rider()
    a, b = served.quote(), served.quote()  # the same trip, the same price
    tx = chain.pay(rider, a["price"]["amount"])
    booked = served.accept(a["id"], tx, signed(rider, a["id"], tx))
    assert booked.status_code == 201
    desk = _desk(served)
    desk.advance(booked.json()["id"], TripState.PICKED_UP, served.clock[0])
    desk.advance(booked.json()["id"], TripState.COMPLETED, served.clock[0])  # no trip open
    before = served.counts()
    reuse = served.accept(b["id"], tx, signed(rider, b["id"], tx))
    assert (reuse.status_code, reuse.json()["error"]) == (409, "payment_used")
    assert served.counts() == before


def test_the_ledger_counts_the_fares_paid_into_the_profit_center(
    served: Served, tmp_path: Path
) -> None:
    """No deposit step: the fares are in the ProfitCenter once paid, and the ledger's
    fares equal the transfers into it to the base unit (a deposit's transfer is not one)."""
    chain = served.chain
    first = int(chain.w3.eth.block_number) + 1
    fares = []
    for dropoff in (UPTOWN, DOWNTOWN):
        t = served.ride(chain.rider(), dropoff)
        assert t.status_code == 201, t.text
        pay = httpx.get(f"{served.url}/trips/{t.json()['id']}/payment", timeout=TIMEOUT).json()
        assert pay["currency"] == "USDC"
        assert parse_money(pay["display"].removesuffix(" USDC")) == pay["amount"]
        fares.append(pay["amount"])
    send(chain.w3, chain.usdc.functions.mint(chain.governor, USDC), chain.governor)
    send(chain.w3, chain.usdc.functions.approve(chain.pc.address, USDC), chain.governor)
    chain.pc.deposit_revenue(USDC, sender=chain.governor)  # into the contract, not a fare

    def recorded() -> int:
        with Session(open_store(served.db)) as session:
            return fares_taken(session)

    store = open_machine_store(tmp_path / "machine.sqlite")
    ledger = Ledger(store, [], chain.pc, chain.agent.address, fares=recorded)
    reconciliation = ledger.reconcile(first)
    assert reconciliation.matches, reconciliation.differences
    assert reconciliation.fares_chain == reconciliation.fares_local == sum(fares)
    short = Ledger(store, [], chain.pc, chain.agent.address, fares=lambda: sum(fares) - 1)
    assert short.reconcile(first).differences == [
        f"fares: {sum(fares) - 1} recorded, {sum(fares)} paid in on-chain"
    ]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"pickup": LONDON, "dropoff": UPTOWN}, 422, "outside_service_area"),
        ({"pickup": MIDTOWN, "dropoff": LONDON}, 422, "outside_service_area"),
        ({"pickup": {"lat": 999, "lon": 0}, "dropoff": UPTOWN}, 422, "invalid_request"),
        ({"pickup": {"lat": "north", "lon": 0}, "dropoff": UPTOWN}, 422, "invalid_request"),
        ({"pickup": MIDTOWN}, 422, "invalid_request"),
        ({"pickup": MIDTOWN, "dropoff": UPTOWN, "price": 1}, 422, "invalid_request"),
        ({"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": "x" * 65}, 422, "invalid_request"),
        ([1, 2], 422, "invalid_request"),
    ],
)
def test_a_bad_request_gets_a_clear_error_and_stores_nothing(
    served: Served, body: Any, status: int, error: str
) -> None:
    before = served.counts()
    r = ask(served, body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert r.json()["message"]
    assert served.counts() == before


def test_garbage_json_and_nan_coordinates_are_refused(served: Served) -> None:
    before = served.counts()
    headers = {"content-type": "application/json"}
    for raw in (
        b"{not json",
        b'{"pickup": {"lat": NaN, "lon": 0}, "dropoff": {"lat": 0, "lon": 0}}',
    ):
        r = httpx.post(f"{served.url}/quotes", content=raw, headers=headers, timeout=TIMEOUT)
        assert r.status_code in (400, 422), r.text
        assert r.json()["error"] in ("invalid_json", "invalid_request")
    assert served.counts() == before


def test_an_unknown_or_expired_quote_is_refused_and_charges_nothing(
    tmp_path: Path, module_chain: Chain
) -> None:
    chain = module_chain
    rider = chain.rider()
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=120) as served:
        q = served.quote()
        tx = chain.pay(rider, q["price"]["amount"])
        before = served.counts()
        unknown = served.accept("0" * 32, tx, signed(rider, "0" * 32, tx))
        assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
        garbage = httpx.post(f"{served.url}/trips", json={"quote_id": "'; drop"}, timeout=TIMEOUT)
        assert garbage.status_code == 422
        served.clock[0] = q["expires_at"] + ACCEPT_GRACE_S  # past accepting, paid or not
        late = served.accept(q["id"], tx, signed(rider, q["id"], tx))
        assert (late.status_code, late.json()["error"]) == (410, "quote_expired")
        missing = httpx.get(f"{served.url}/trips/{'A' * 22}", timeout=TIMEOUT)
        assert missing.status_code == 404
        assert httpx.get(f"{served.url}/trips/1", timeout=TIMEOUT).status_code == 422
        assert served.counts() == before


def test_a_payment_mined_after_the_quote_expired_books_nothing(
    tmp_path: Path, module_chain: Chain
) -> None:
    chain = module_chain
    rider = chain.rider()
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=60) as served:
        q = served.quote()
        provider = chain.w3.provider
        assert isinstance(provider, EthereumTesterProvider)
        tester = provider.ethereum_tester
        assert tester is not None
        tester.time_travel(q["expires_at"] + 5)  # the rider pays too late
        tx = chain.pay(rider, q["price"]["amount"])
        served.clock[0] = q["expires_at"] + 10  # accepted within the grace, though
        before = served.counts()
        late = served.accept(q["id"], tx, signed(rider, q["id"], tx))
        assert (late.status_code, late.json()["error"]) == (410, "quote_expired")
        assert served.counts() == before


def test_a_taxi_clock_behind_the_chain_does_not_call_a_prompt_payment_late(
    tmp_path: Path, module_chain: Chain
) -> None:
    """A Pi without a real-time clock may run minutes behind until NTP answers: a payment
    accepted before the quote expires by the taxi's own clock was mined in time, whatever
    the block's timestamp says (refusing it kept the rider's money and gave no ride)."""
    chain = module_chain
    rider = chain.rider()
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=120) as served:
        served.clock[0] = chain.now() - 600  # the taxi is ten minutes behind the chain
        booked = served.ride(rider)
        assert booked.status_code == 201, booked.text


def test_an_old_transfer_to_the_taxi_pays_no_new_quote(tmp_path: Path, module_chain: Chain) -> None:
    """Whoever once sent the taxi money for something else (a vending purchase, a
    station's refund, a payment refused as late) must not ride on it a day later."""
    chain = module_chain
    rider = chain.rider()
    tx = chain.pay(rider, 50 * USDC)
    provider = chain.w3.provider
    assert isinstance(provider, EthereumTesterProvider)
    assert provider.ethereum_tester is not None
    provider.ethereum_tester.time_travel(chain.now() + 86_400)
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=120) as served:
        q = served.quote()
        before = served.counts()
        old = served.accept(q["id"], tx, signed(rider, q["id"], tx))
        assert (old.status_code, old.json()["error"]) == (402, "payment_not_verified"), old.text
        assert served.counts() == before


def test_quotes_nobody_took_are_pruned_and_live_ones_are_bounded(
    tmp_path: Path, module_chain: Chain
) -> None:
    chain = module_chain
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=120, max_live_quotes=3) as served:
        taken = served.quote()
        rider = chain.rider()
        tx = chain.pay(rider, taken["price"]["amount"])
        assert served.accept(taken["id"], tx, signed(rider, taken["id"], tx)).status_code == 201
        served.quote()
        served.quote()
        full = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN})
        assert (full.status_code, full.json()["error"]) == (503, "busy")
        assert full.headers["retry-after"] == "30"
        assert served.counts()["taxi_quote"] == 3
        served.clock[0] += 120 + PRUNE_AFTER_S + 1  # every quote is long past accepting now
        fresh = served.quote()
        with Session(open_store(served.db)) as session:
            kept = {q.id for q in session.exec(select(TaxiQuote)).all()}
        assert kept == {taken["id"], fresh["id"]}  # the accepted one stays with its trip


def test_an_accept_at_the_end_of_the_grace_finds_its_quote_after_a_prune(
    tmp_path: Path, module_chain: Chain
) -> None:
    """An accept whose time is inside the grace while the chain is read, and a quote
    request a moment later that prunes: the accept must still find its quote (the trip
    refers to it; without it the paid rider got a 500 and no trip)."""
    chain = module_chain
    with serve(tmp_path / "taxi.sqlite", chain, quote_ttl_s=120) as served:
        q = served.quote()
        rider = chain.rider()
        tx = chain.pay(rider, q["price"]["amount"])
        accept_time = q["expires_at"] + ACCEPT_GRACE_S - 1
        served.clock[0] = accept_time + 2  # another rider's quote, while the chain is read
        served.quote()
        served.clock[0] = accept_time
        booked = served.accept(q["id"], tx, signed(rider, q["id"], tx))
        assert booked.status_code == 201, booked.text


def test_a_chain_that_cannot_be_read_refuses_the_accept_for_now(
    tmp_path: Path, module_chain: Chain
) -> None:
    chain = module_chain
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    away = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}/v3/{RPC_KEY}"))
    desk = RideDesk(
        open_store(tmp_path / "taxi.sqlite"),
        FarePayments(away, chain.usdc.address, chain.pc.address),
        market=busy_market,
        battery=charged,
    )
    now = chain.now()
    q = desk.quote((MIDTOWN["lat"], MIDTOWN["lon"]), (UPTOWN["lat"], UPTOWN["lon"]), now, None)
    rider = chain.rider()
    tx = chain.pay(rider, q.price)
    with capture_logs() as logs, pytest.raises(RidesBusyError, match="cannot be read"):
        desk.accept(q.id, tx, signed(rider, q.id, tx), now)
    assert [e["event"] for e in logs] == ["taxi_payment_chain_unreachable"]
    assert RPC_KEY not in repr(logs)  # a hosted RPC URL's path is its API key
    with Session(desk.engine) as session:
        assert counts(session) == {"taxi_quote": 1, "taxi_trip": 0, "taxi_fare": 0}


def test_a_low_battery_refuses_every_rider_alike_in_words_and_stores_nothing(
    tmp_path: Path, module_chain: Chain
) -> None:
    pack = [6_000]  # Wh: the ride and the way back to a station would eat into the reserve
    with serve(tmp_path / "taxi.sqlite", module_chain, battery=lambda now: pack[0]) as served:
        refused = [
            ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": who})
            for who in ("alice", "bob", None)
        ]
        assert [r.status_code for r in refused] == [409, 409, 409]
        assert refused[0].json() == refused[1].json() == refused[2].json()  # whoever asks
        body = refused[0].json()
        assert body["error"] == "cannot_serve"
        assert body["message"] == (
            "this taxi cannot take the ride: the battery is too low to drive this ride "
            "and still reach a charging station"
        )
        assert served.counts() == {"taxi_quote": 0, "taxi_trip": 0, "taxi_fare": 0}
        pack[0] = 48_000  # charged: the same ride is quoted
        served.quote()
        assert served.counts()["taxi_quote"] == 1


def test_a_fare_that_would_not_cover_energy_and_wear_is_refused(
    tmp_path: Path, module_chain: Chain
) -> None:
    worn = Serving(margins=replace(CAR_MARGINS, wear_per_km=50 * USDC))  # the owners' wear
    with serve(tmp_path / "taxi.sqlite", module_chain, serving=worn) as served:
        r = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN})
        assert (r.status_code, r.json()["error"]) == (409, "cannot_serve")
        assert "would not cover the energy and wear" in r.json()["message"]
        assert served.counts()["taxi_quote"] == 0


def snapshot(taken_at: datetime, faults: tuple[Fault, ...] = ()) -> VehicleSnapshot:
    """The loop's reading of a charged car (80 %)."""
    return VehicleSnapshot(
        taken_at=taken_at,
        soc_permille=800,
        charging=ChargingState.IDLE,
        energy_charged_wh=0,
        energy_used_wh=0,
        odometer_m=0,
        doors_open=0,
        seats_occupied=0,
        cabin_dirty=False,
        cabin_cleanings=0,
        service_tasks_done=0,
        position=None,
        faults=faults,
    )


@pytest.mark.parametrize(
    ("age", "faults"),
    [
        (timedelta(minutes=10), ()),  # the loop stopped reading the car
        (timedelta(0), (Fault(BATTERY, "stale", "no frame for 5 s"),)),
        (None, ()),  # no reading yet
    ],
)
def test_an_unknown_battery_promises_no_ride(
    tmp_path: Path, module_chain: Chain, age: timedelta | None, faults: tuple[Fault, ...]
) -> None:
    def battery(now: int) -> int | None:
        taken = datetime.fromtimestamp(now, UTC) - age if age is not None else None
        reading = snapshot(taken, faults) if taken is not None else None
        return battery_wh(reading, CAR_MARGINS.capacity_wh, now)

    with serve(tmp_path / "taxi.sqlite", module_chain, battery=battery) as served:
        r = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN})
        assert (r.status_code, r.json()["error"]) == (503, "cannot_serve")
        assert r.json()["message"].startswith("the taxi has no fresh battery reading")
        assert r.headers["retry-after"] == "30"
        assert served.counts()["taxi_quote"] == 0
    assert battery_wh(snapshot(datetime.fromtimestamp(1000, UTC)), 60_000, 1060) == 48_000
