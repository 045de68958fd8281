"""``custobot demo --kind taxi``: the robotaxi in one process, on accelerated time.

The taxi's agent loop (:mod:`device.taxi.agent`) reads a simulated car on a python-can
virtual bus and an NMEA GPS on a pseudo-terminal; two charging stations, a cleaner and
a workshop are reference suppliers over real HTTP on 127.0.0.1; simulated riders, each
with its own key and mock-token balance, ask for trips through the rider API over HTTP,
pay the quoted fare on-chain and sign for it; the chain is the in-process dev chain
(:class:`device.devchain.DevChain`), its clock following simulated time. Everything
that decides is the real code; only the car, the riders and the sellers' hands are
simulated.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import h3
import httpx
import structlog
from eth_account import Account
from rich.console import Group
from rich.table import Table
from sqlmodel import Session, col, select

from contracts.chain import send
from dashboard.machine import LiveMachineView
from dashboard.view import ItemLabel
from device.demo_shell import DemoDashboard, orders_table, serve_owner_dashboard
from device.devchain import DevChain
from device.http_serving import Clock, wall_clock
from device.money import money
from device.negotiation import Buyer, SupplierRef
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.outbox import Outbox
from device.settings import Kind, load_settings
from device.store.db import open_store
from device.taxi.agent import TaxiAgent, UpkeepRules
from device.taxi.app import create_app as create_rider_app
from device.taxi.charging import station_settings
from device.taxi.fares import ChainFareRules, OwnersMarket
from device.taxi.gps import NmeaReader, open_gps
from device.taxi.payments import FarePayments
from device.taxi.riders import SimulatedRider
from device.taxi.rides import RideDesk, ServiceArea
from device.taxi.rides_view import rides_view
from device.taxi.simcar import SimulatedCar, Truth
from device.taxi.store import OPEN_STATES, TaxiTrip
from device.taxi.store import open_store as open_rides
from device.taxi.upkeep import Provider, Upkeep, UpkeepKind, Window, provider_settings
from device.taxi.vehicle import VehiclePoller, open_bus
from supplier.app import create_app as create_supplier_app
from supplier.keys import Signer
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

log = structlog.get_logger()
USDC = 1_000_000
SITE = "depot-north"
ENERGY, CLEANING, SERVICE = "20000000000011", "20000000000035", "20000000000042"
STEP = timedelta(minutes=1)
DEMO_RULES = UpkeepRules(clean_every_rides=8, service_every_km=150, service_tasks=3)
DEV_CONFIRMATIONS = 1
"""The dev chain is one node that mines each transaction into its own block at once and
cannot reorg: a payment's own block is final there. Waiting for the default three would
stall every accept until the demo itself mined empty blocks, which proves nothing."""
RIDERS = 6
RIDER_FUNDS = 1_000 * USDC


@dataclass(frozen=True, slots=True)
class SellerSpec:
    """A seller of the demo: what it sells at ``SITE`` and its prices per unit
    (list, floor; base units per kWh for energy)."""

    name: str
    kind: UpkeepKind
    product: str
    price: tuple[int, int]


DEMO_SELLERS = (
    SellerSpec("Volta Charging", UpkeepKind.CHARGING, ENERGY, (280_000, 200_000)),
    SellerSpec("Ampere Point", UpkeepKind.CHARGING, ENERGY, (290_000, 210_000)),
    SellerSpec("Sparkle Cabins", UpkeepKind.CLEANING, CLEANING, (15 * USDC, 9 * USDC)),
    SellerSpec("Wrench Works", UpkeepKind.MAINTENANCE, SERVICE, (20 * USDC, 12 * USDC)),
)
ITEMS = {
    UpkeepKind.CLEANING: ("Cabin cleaning", "cleaning"),
    UpkeepKind.MAINTENANCE: ("Service task", "task"),
}
ITEM_LABELS = {
    ENERGY: ItemLabel(name="charging", unit="kWh", per_unit=1000),  # sold by the Wh
    CLEANING: ItemLabel(name=ITEMS[UpkeepKind.CLEANING][0]),
    SERVICE: ItemLabel(name=ITEMS[UpkeepKind.MAINTENANCE][0]),
}
"""How the owners' pages name what the taxi buys (no slot names it)."""


@contextmanager
def serve_sellers(
    chain: DevChain,
    scratch: Path,
    sellers: tuple[SellerSpec, ...] = DEMO_SELLERS,
    clock: Clock = wall_clock,
) -> Iterator[list[Provider]]:
    """Every seller as the reference supplier over HTTP on 127.0.0.1, allowed, funded
    and holding the token on ``chain``; ``clock`` (unix seconds) is theirs."""
    strategy = {"kind": "boulware", "beta": 0.5}
    providers: list[Provider] = []
    with ExitStack() as stack:
        for index, spec in enumerate(sellers):
            name = f"seller-{index}"
            if spec.kind is UpkeepKind.CHARGING:
                settings = station_settings(
                    name,
                    site=SITE,
                    product=spec.product,
                    window=Window(0, 0),
                    price_per_kwh=spec.price,
                    capacity_wh=10_000_000,
                    chain_id=chain.chain_id,
                    token=chain.token_address,
                    folder=scratch,
                    strategy=strategy,
                )
            else:
                item, unit = ITEMS[spec.kind]
                settings = provider_settings(
                    name,
                    item=item,
                    product=spec.product,
                    unit=unit,
                    price=spec.price,
                    stock=10_000,
                    chain_id=chain.chain_id,
                    token=chain.token_address,
                    folder=scratch,
                    strategy=strategy,
                )
            settings = settings.model_copy(update={"name": spec.name})
            signer = Signer.from_key(Account.create().key)
            store = SupplierStore(settings.database)
            stack.callback(store.close)
            app = create_supplier_app(settings, signer, store, clock=clock)
            url = stack.enter_context(serve_in_thread(app))
            chain.allow_supplier(signer.address)
            chain.fund(signer.address)
            chain.mint(signer.address, 1)  # a real seller already holds the token
            ref = SupplierRef(name=spec.name, base_url=url, signing_address=signer.address)
            providers.append(Provider(spec.kind, SITE, spec.product, ref))
            log.info("demo_seller_started", seller=spec.name, kind=spec.kind.value, url=url)
        yield providers


class TaxiDemo:
    """The taxi, its sellers, riders and chain; ``tick()`` advances one simulated minute."""

    def __init__(self, scratch: Path, start: datetime, chain: DevChain, seed: int = 1) -> None:
        self._stack = ExitStack()
        self.now = start
        self.chain = chain
        self.rng = random.Random(seed)
        chain.set_time(self.clock())
        chain.mint(chain.governor.address, 500 * USDC)
        send(chain.w3, chain.token.functions.approve(chain.pc.address, 500 * USDC), chain.governor)
        chain.pc.deposit_revenue(500 * USDC, sender=chain.governor)
        self.riders = [self._new_rider() for _ in range(RIDERS)]
        self.providers = self._stack.enter_context(serve_sellers(chain, scratch, clock=self.clock))
        database = scratch / "taxi.db"
        self.store = open_store(database)
        self.rides = open_rides(database)
        buyer = Buyer(clock=lambda: float(self.clock()))
        context = ChainContext(chain.chain_id, chain.pc.address, chain.token_address)
        self.settings = load_settings().model_copy(
            update={"kind": Kind.TAXI, "device_id": "demo-taxi-01", "slots": []}
        )
        self.procurement = Procurement(
            self.settings,
            self.store,
            Outbox(self.store, chain.w3, chain.pc, chain.agent),
            chain.pc,
            context,
            buyer,
        )
        master, slave = os.openpty()
        self._stack.callback(os.close, master)
        self._stack.callback(os.close, slave)
        channel = f"custobot-taxi-demo-{os.getpid()}"
        self.car = SimulatedCar(
            open_bus(channel=channel), gps=lambda data: os.write(master, data), dirty_every=7
        )
        self.car.truth = Truth(soc_permille=420, odometer_m=14_900_000)
        self._stack.callback(self.car.bus.shutdown)
        poller = VehiclePoller(open_bus(channel=channel), NmeaReader(open_gps(os.ttyname(slave))))
        self._stack.callback(poller.close)
        self.desk = RideDesk(
            self.rides,
            FarePayments(
                chain.w3, chain.token_address, chain.pc.address, confirmations=DEV_CONFIRMATIONS
            ),  # riders pay the ProfitCenter: no takings ever sit in the agent's wallet
            market=OwnersMarket(ChainFareRules(chain.pc)),
            battery=lambda now: self.agent.battery_wh(now),  # the loop's last reading
        )
        self.agent = TaxiAgent(
            self.store,
            self.desk,
            poller,
            self.car,
            Upkeep(self.procurement, buyer, context),
            self.providers,
            DEMO_RULES,
        )
        self.rider_url = self._stack.enter_context(
            serve_in_thread(create_rider_app(self.desk, clock=self.clock))
        )
        self.rider_api = self._stack.enter_context(
            httpx.Client(base_url=self.rider_url, timeout=10)
        )
        self.rides_view = rides_view(self.rides, self.store, lambda: self.agent.snapshot)
        self._cells = sorted(ServiceArea().zones)

    def clock(self) -> int:
        return int(self.now.timestamp())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()
        self.store.close()

    def tick(self) -> None:
        """One simulated minute: the car moves, maybe a rider books, the agent decides."""
        self.now += STEP
        self.chain.set_time(self.clock())
        self.car.step(self.now, STEP.total_seconds())
        if self.rng.random() < 0.04:
            self._rider()
        self.agent.tick(self.now)

    def _new_rider(self) -> SimulatedRider:
        account = Account.create()
        self.chain.fund(account.address)
        self.chain.mint(account.address, RIDER_FUNDS)
        return SimulatedRider(self.chain.w3, self.chain.token, account)

    def _rider(self) -> None:
        """A rider with no trip open asks, pays the quoted price and accepts."""
        with Session(self.rides) as session:
            busy = set(
                session.exec(
                    select(TaxiTrip.rider).where(col(TaxiTrip.state).in_(OPEN_STATES))
                ).all()
            )
        idle = [r for r in self.riders if r.address not in busy]
        if not idle:
            return
        rider = self.rng.choice(idle)
        a, b = (h3.cell_to_latlng(c) for c in self.rng.sample(self._cells, 2))
        body = {"pickup": {"lat": a[0], "lon": a[1]}, "dropoff": {"lat": b[0], "lon": b[1]}}
        quote = self.rider_api.post("/quotes", json=body)
        if quote.status_code != 201:
            log.info("taxi_demo_ride_refused", reason=quote.json().get("message"))
            return
        q = quote.json()
        fare = rider.sign(q["id"], q["price"]["amount"], q["pay_to"])
        rider.pay(fare, DEV_CONFIRMATIONS)
        accept = {"quote_id": q["id"], "payment_tx": fare.tx, "signature": fare.signature}
        self.rider_api.post("/trips", json=accept)

    # -- what the owners see ----------------------------------------------------------

    def serve_dashboard(self, scratch: Path) -> DemoDashboard:
        """The owners' dashboard: the rides page, the upkeep orders with their
        negotiations, the policy, on 127.0.0.1 with a throwaway demo login."""
        chain = self.chain
        view = LiveMachineView(
            self.settings,
            self.store,
            chain.pc,
            governor=chain.governor,
            outbox_depth=self.procurement.outbox.depth,
            clock=lambda: self.now,
            supplier_names={p.ref.signing_address: p.ref.name for p in self.providers},
            rides=self.rides_view,
            items=ITEM_LABELS,
        )
        return serve_owner_dashboard(self.settings, view, self.store, scratch, self._stack)


def taxi_view(demo: TaxiDemo, decimals: int = 6) -> Group:
    """The owners' view in the terminal: rides with each quote's breakdown, the
    battery, upkeep orders with their negotiated price, and profit and loss."""
    snapshot = demo.agent.snapshot
    seen = demo.rides_view()
    rides = Table(title=f"custobot robotaxi · {demo.now:%a %Y-%m-%d %H:%M} UTC")
    for column in ("trip", "state", "km", "fare (USDC)", "breakdown"):
        rides.add_column(column, justify="right" if column in ("km", "fare (USDC)") else "left")
    for ride in seen.rides[:6]:
        rides.add_row(
            str(ride.trip_id),
            ride.state.replace("_", " "),
            f"{ride.distance_m / 1000:.1f}",
            money(ride.price, decimals),
            ", ".join(f"{label} {money(amount, decimals)}" for label, amount in ride.lines),
        )
    battery = "unknown"
    if snapshot is not None and snapshot.soc_permille is not None:
        stale = "" if snapshot.healthy("BMS_Status") else " (stale reading)"
        battery = f"{snapshot.soc_permille / 10:.1f}%{stale}"
    return Group(
        rides,
        orders_table(
            demo.procurement.orders(), decimals, "upkeep orders (negotiated, paid on-chain)"
        ),
        f"battery {battery} · {seen.trips} rides · fares taken {money(seen.fares, decimals)} "
        f"USDC · upkeep paid {money(seen.upkeep_paid, decimals)} USDC · profit "
        f"{money(seen.profit, decimals)} USDC",
        f"rider API: {demo.rider_url}",
    )
