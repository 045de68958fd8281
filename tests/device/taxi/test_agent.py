"""The taxi's agent loop on simulated time: riders (own keys, mock-token balances) pay
their fares on-chain and book through the real rider API over HTTP, the simulated car drives them and reports on a virtual CAN bus, and the loop buys
its charging, cleaning and maintenance from reference sellers over HTTP, placed and
paid on eth-tester — across a restart of the loop, and never from a stale reading."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import httpx
import sqlalchemy as sa
from eth_account import Account
from sqlmodel import Session, col, select

from contracts.chain import send
from device.procurement.cycle import ChainContext
from device.procurement.ledger import Ledger
from device.procurement.models import OrderState
from device.taxi.agent import JobState, TaxiAgent, UpkeepRules
from device.taxi.app import create_app
from device.taxi.charging import station_settings
from device.taxi.fares import Market as FareMarket
from device.taxi.payments import CONFIRMATIONS, FarePayments
from device.taxi.riders import SimulatedRider
from device.taxi.rides import RideDesk, ServiceArea
from device.taxi.simcar import SimulatedCar, Truth
from device.taxi.store import OPEN_STATES, TaxiFare, TaxiTrip, TripState, fares_taken
from device.taxi.store import open_store as open_rides
from device.taxi.upkeep import UpkeepKind, Window, provider_settings
from device.taxi.vehicle import VehiclePoller, open_bus
from supplier.testing import serve_in_thread
from tests.device.taxi.market import USDC, Market, Seller, market

SITE = "depot-north"
ENERGY, CLEANING, SERVICE = "20000000000011", "20000000000035", "20000000000042"
STEP = timedelta(minutes=1)
RULES = UpkeepRules(
    clean_every_rides=3, service_every_km=40, service_tasks=2, service_reservation=50 * USDC
)


def sellers(folder: Path) -> Callable[[ChainContext, Window], Sequence[Seller]]:
    def of(chain: ChainContext, window: Window) -> Sequence[Seller]:
        common = {"chain_id": chain.chain_id, "token": chain.token, "folder": folder}
        strategy = {"kind": "boulware", "beta": 0.5}
        return [
            *(
                Seller(
                    UpkeepKind.CHARGING,
                    SITE,
                    ENERGY,
                    station_settings(
                        name,
                        site=SITE,
                        product=ENERGY,
                        window=window,
                        price_per_kwh=prices,
                        capacity_wh=500_000,
                        strategy=strategy,
                        **common,  # type: ignore[arg-type]
                    ),
                )
                for name, prices in (("volta", (280_000, 200_000)), ("ampere", (290_000, 210_000)))
            ),
            *(
                Seller(
                    kind,
                    SITE,
                    product,
                    provider_settings(
                        name,
                        item=item,
                        product=product,
                        unit=unit,
                        price=price,
                        stock=100,
                        strategy=strategy,
                        **common,  # type: ignore[arg-type]
                    ),
                )
                for name, kind, product, item, unit, price in (
                    (
                        "sparkle",
                        UpkeepKind.CLEANING,
                        CLEANING,
                        "Cabin cleaning",
                        "cleaning",
                        (15 * USDC, 9 * USDC),
                    ),
                    (
                        "wrench",
                        UpkeepKind.MAINTENANCE,
                        SERVICE,
                        "Service task",
                        "task",
                        (20 * USDC, 12 * USDC),
                    ),
                )
            ),
        ]

    return of


@dataclass
class Taxi:
    m: Market
    rides: RideDesk
    car: SimulatedCar
    channel: str
    now: datetime
    agent: TaxiAgent | None = None

    def start(self) -> TaxiAgent:
        """A (re)started loop: a new poller and agent on the same files and bus."""
        if self.agent is not None:
            self.agent.poller.close()
        self.agent = TaxiAgent(
            self.m.procurement.store,
            self.rides,
            VehiclePoller(open_bus(channel=self.channel), None),
            self.car,
            self.m.upkeep,
            self.m.providers,
            RULES,
        )
        return self.agent

    def clock(self) -> int:
        return int(self.now.timestamp())

    def fares(self) -> int:
        with Session(self.rides.engine) as session:
            return fares_taken(session)


@contextmanager
def taxi(tmp_path: Path, soc: int) -> Iterator[Taxi]:
    with market(tmp_path, sellers(tmp_path)) as m:
        channel = f"agent-{tmp_path.name}"
        car = SimulatedCar(open_bus(channel=channel), path=tmp_path / "car.json")
        car.truth = Truth(soc_permille=soc, odometer_m=1_000_000)
        payments = FarePayments(m.w3, m.chain.token, m.pc.address)  # three confirmations
        desk = RideDesk(
            open_rides(tmp_path / "taxi.db"),
            payments,
            market=lambda zone, t: FareMarket(),
            battery=lambda now: 48_000,  # the rider API's clock is the chain's, not the loop's
        )
        t = Taxi(m, desk, car, channel, datetime.now(UTC))
        t.start()
        yield t
        assert t.agent is not None
        t.agent.poller.close()
        car.bus.shutdown()


def places(rng: random.Random) -> tuple[dict[str, float], dict[str, float]]:
    cells = sorted(ServiceArea().zones)
    a, b = (h3.cell_to_latlng(c) for c in rng.sample(cells, 2))
    return {"lat": a[0], "lon": a[1]}, {"lat": b[0], "lon": b[1]}


def riders(m: Market, n: int) -> list[SimulatedRider]:
    """``n`` riders with gas and 500 USDC each of the mock token."""
    out = []
    for _ in range(n):
        account = Account.create()
        m.w3.eth.wait_for_transaction_receipt(
            m.w3.eth.send_transaction({"from": m.governor, "to": account.address, "value": 10**17})  # type: ignore[typeddict-item]
        )
        send(m.w3, m.usdc.functions.mint(account.address, 500 * USDC), m.governor)  # type: ignore[attr-defined]
        out.append(SimulatedRider(m.w3, m.usdc, account))
    return out


def book(client: httpx.Client, rng: random.Random, rider: SimulatedRider) -> str:
    """Quote, pay the price to ``pay_to`` (waiting for the confirmations), sign, accept."""
    pickup, dropoff = places(rng)
    quote = client.post("/quotes", json={"pickup": pickup, "dropoff": dropoff})
    assert quote.status_code == 201, quote.text
    q = quote.json()
    fare = rider.sign(q["id"], q["price"]["amount"], q["pay_to"])
    rider.pay(fare, CONFIRMATIONS)
    body = {"quote_id": q["id"], "payment_tx": fare.tx, "signature": fare.signature}
    trip = client.post("/trips", json=body)
    assert trip.status_code == 201, trip.text
    return str(trip.json()["id"])


def run(
    t: Taxi, client: httpx.Client, rng: random.Random, pool: list[SimulatedRider], steps: int
) -> None:
    """Simulated minutes: a rider with no open trip books whenever fewer than two wait."""
    for i in range(steps):
        t.now += STEP
        t.car.step(t.now, STEP.total_seconds())
        with Session(t.rides.engine) as session:
            waiting = session.exec(
                select(sa.func.count())
                .select_from(TaxiTrip)
                .where(TaxiTrip.state == TripState.BOOKED)
            ).one()
            busy = set(
                session.exec(
                    select(TaxiTrip.rider).where(col(TaxiTrip.state).in_(OPEN_STATES))
                ).all()
            )
        idle = [r for r in pool if r.address not in busy]
        if waiting < 2 and i % 5 == 0 and idle:
            book(client, rng, rng.choice(idle))
        assert t.agent is not None
        t.agent.tick(t.now)


def test_the_loop_sells_rides_and_buys_its_upkeep_across_a_restart(tmp_path: Path) -> None:
    rng = random.Random(19)
    with taxi(tmp_path, soc=300) as t:
        pool = riders(t.m, 4)
        # The rider API's clock is the chain's (riders' payments are mined on it); the
        # loop's is the simulated minutes.
        app = create_app(t.rides, clock=lambda: int(t.m.w3.eth.get_block("latest")["timestamp"]))
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            run(t, client, rng, pool, 180)
            t.start()  # the process restarts: only the files and the chain remain
            run(t, client, rng, pool, 180)
        assert t.agent is not None
        jobs = t.agent.jobs()
        orders = {o.order_id: o for o in t.m.procurement.orders()}
        kinds = {j.kind for j in jobs if j.state is JobState.CLOSED and j.seen}
        assert kinds >= {UpkeepKind.CHARGING, UpkeepKind.CLEANING, UpkeepKind.MAINTENANCE}
        assert len(orders) == len({j.order_id for j in jobs if j.order_id})  # one job, one order
        for job in jobs:
            if job.seen:
                assert job.order_id is not None
                order = orders[job.order_id]
                assert order.state is OrderState.SETTLED
                assert order.paid == order.amount  # honest sellers: paid in full, once
        assert len(t.m.confirm_intents()) == sum(1 for j in jobs if j.seen)
        ledger = Ledger(t.m.procurement.store, [], t.m.pc, t.m.agent.address, fares=t.fares)
        reconciliation = ledger.reconcile()
        assert reconciliation.matches, reconciliation.differences
        with Session(t.rides.engine) as session:
            trips = session.exec(select(TaxiTrip)).all()
            fares = session.exec(select(TaxiFare)).all()
        assert sum(1 for trip in trips if trip.state is TripState.COMPLETED) >= 4
        assert len(fares) == len(trips) == len({f.quote_id for f in fares})
        assert len({f.payment_tx for f in fares}) == len(fares)  # no payment used twice
        # Every fare went straight to the ProfitCenter, none through the agent's wallet.
        assert (
            reconciliation.fares_chain == reconciliation.fares_local == sum(f.amount for f in fares)
        )
        assert t.m.balance(t.m.agent.address) == 0


def test_a_silent_bus_buys_nothing_however_low_the_battery(tmp_path: Path) -> None:
    with taxi(tmp_path, soc=50) as t:
        assert t.agent is not None
        for _ in range(5):  # the car sends nothing: every source is stale
            t.now += STEP
            snapshot = t.agent.tick(t.now)
        assert not snapshot.healthy("BMS_Status")
        assert t.agent.battery_wh(t.clock()) is None  # the rider desk promises no ride on it
        assert t.agent.jobs() == []
        assert t.m.procurement.orders() == []
