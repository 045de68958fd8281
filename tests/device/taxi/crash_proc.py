"""The taxi harness the crash test kills: the real taxi agent loop on simulated minutes.

    crash_proc CONFIG DB WORLD CAR RPC --until-step N [--hold EVENT:N]  (forked by the test)

It rebuilds the taxi from what is durable — its SQLite file (orders, intents, upkeep
jobs, quotes, trips, fares), the chain, the sellers' stores — plus the world's own
state: the simulated car's truth (CAR, replaced atomically at each physical change)
and WORLD (the step reached, a rider's signed payment not yet acknowledged). Riders
(keys funded by the test) pay the quoted fare on-chain, wait for its confirmations and
accept at the agent's ride desk; a rider cut off by a kill sends the very same signed
transfer again (it is mined once) and accepts again.

The protocol on the pipe (logs go to a file) is the vending harness's
(``tests.device.loop.agent_proc``): ``MARK <event> <n> <key>``, ``HOLD <event>``,
``RIDE <trip id> <quote id> <payment tx>`` once a rider holds a booked trip, ``DONE``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import h3
import structlog
from eth_account import Account
from sqlmodel import Session, col, select
from web3 import Web3

from contracts.artifacts import load_artifact
from contracts.profit_center import ProfitCenter
from device.logs import configure_logging
from device.negotiation import Buyer, HttpLimits, SupplierRef
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.outbox import Outbox
from device.settings import load_settings
from device.store.db import open_store
from device.taxi.agent import TaxiAgent, UpkeepRules
from device.taxi.fares import Market
from device.taxi.payments import CONFIRMATIONS, FarePayments
from device.taxi.riders import SignedFare, SimulatedRider
from device.taxi.rides import RideDesk, ServiceArea
from device.taxi.simcar import SimulatedCar
from device.taxi.store import OPEN_STATES, TaxiTrip
from device.taxi.store import open_store as open_rides
from device.taxi.upkeep import Provider, Upkeep, UpkeepKind
from device.taxi.vehicle import VehiclePoller, open_bus
from tests.device.loop.agent_proc import markers

STEP = timedelta(minutes=1)
RULES = UpkeepRules(clean_every_rides=3, service_every_km=15, service_tasks=2)
MARKED = frozenset(
    {
        "taxi_tick",  # a tick starts: anything may follow
        "negotiation_finished",  # a quote won; no order row yet
        "order_negotiated",  # order row and place intent committed, nothing signed
        "intent_written",
        "intent_signed",  # raw transaction committed, not yet broadcast
        "intent_mined",  # receipt seen, order state not yet reconciled
        "order_state",
        "taxi_upkeep_need",  # job row committed, nothing negotiated
        "taxi_upkeep_job",  # inside the transaction moving a job (count: with the payment)
        "delivery_matched",  # inside the transaction owing a delivery
        "taxi_trip_booked",  # a fare taken, the rider not yet told
        "taxi_trip_started",
        "taxi_trip_completed",
    }
)


@dataclass(frozen=True, slots=True)
class Seller:
    kind: str
    site: str
    product: str
    name: str
    url: str
    address: str


@dataclass(frozen=True, slots=True)
class TaxiConfig:
    profit_center: str
    token: str
    chain_id: int
    agent_key: str
    sellers: tuple[Seller, ...]
    rider_keys: tuple[str, ...]  # funded with gas and the token by the test
    start: str  # the simulated clock's origin (ISO)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> TaxiConfig:
        raw = json.loads(path.read_text())
        raw["sellers"] = tuple(Seller(**s) for s in raw["sellers"])
        raw["rider_keys"] = tuple(raw["rider_keys"])
        return cls(**raw)


@dataclass(slots=True)
class World:
    step: int = 0
    rider: int | None = None  # which rider holds ``pending``
    pending: SignedFare | None = None  # signed (maybe sent), not yet acknowledged

    @classmethod
    def load(cls, path: Path) -> World:
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        pending = raw.pop("pending")
        return cls(**raw, pending=SignedFare(**pending) if pending else None)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)


def run(argv: list[str], say: Callable[[str], None]) -> None:
    parser = argparse.ArgumentParser(prog="crash_proc")
    for name in ("config", "database", "world", "car"):
        parser.add_argument(name, type=Path)
    parser.add_argument("rpc")
    parser.add_argument("--until-step", type=int, required=True)
    parser.add_argument("--hold", help="EVENT:N: hang at the Nth EVENT of this run")
    args = parser.parse_args(argv)
    hold = None
    if args.hold:
        name, _, n = args.hold.partition(":")
        hold = (name, int(n))
    configure_logging("info")
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[markers(hold, say, MARKED), *processors])
    config_path, db_path, world_path, car_path = args.config, args.database, args.world, args.car
    until = args.until_step
    config = TaxiConfig.load(config_path)
    world = World.load(world_path)
    start = datetime.fromisoformat(config.start)

    store = open_store(db_path)
    rides = open_rides(db_path)
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 5}))
    pc = ProfitCenter(w3, config.profit_center)
    chain = ChainContext(config.chain_id, pc.address, config.token)
    buyer = Buyer(limits=HttpLimits(connect_timeout_s=2, read_timeout_s=4, request_timeout_s=5))
    procurement = Procurement(
        load_settings(),
        store,
        Outbox(store, w3, pc, Account.from_key(config.agent_key)),
        pc,
        chain,
        buyer,
    )
    providers = [
        Provider(
            UpkeepKind(s.kind),
            s.site,
            s.product,
            SupplierRef(name=s.name, base_url=s.url, signing_address=s.address),
        )
        for s in config.sellers
    ]
    channel = f"taxi-crash-{os.getpid()}"
    car = SimulatedCar(open_bus(channel=channel), path=car_path, dirty_every=4)
    # The desk's clock is the taxi's (wall) clock, as anvil's blocks are; the loop runs
    # on simulated minutes. Three confirmations, as on a real chain: the riders mine.
    desk = RideDesk(
        rides,
        FarePayments(w3, config.token, pc.address),
        market=lambda z, t: Market(),
        battery=lambda now: 48_000,  # the desk's clock is not the loop's: a full pack
    )
    token = w3.eth.contract(address=config.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    riders = [SimulatedRider(w3, token, Account.from_key(key)) for key in config.rider_keys]
    agent = TaxiAgent(
        store,
        desk,
        VehiclePoller(open_bus(channel=channel), None),
        car,
        Upkeep(procurement, buyer, chain),
        providers,
        RULES,
    )
    cells = sorted(ServiceArea().zones)
    while world.step < until:
        now = start + STEP * world.step
        car.step(now, STEP.total_seconds())
        rng = random.Random(world.step)
        if world.pending is None and world.step % 4 == 0:
            with Session(rides) as session:
                busy = set(
                    session.exec(
                        select(TaxiTrip.rider).where(col(TaxiTrip.state).in_(OPEN_STATES))
                    ).all()
                )
            idle = [i for i, r in enumerate(riders) if r.address not in busy]
            if idle:
                a, b = (h3.cell_to_latlng(c) for c in rng.sample(cells, 2))
                quote = desk.quote(a, b, int(time.time()), None)
                world.rider = rng.choice(idle)
                world.pending = riders[world.rider].sign(
                    quote.id, quote.price, desk.payments.pay_to
                )
                world.save(world_path)
        if world.pending is not None and world.rider is not None:
            fare = world.pending
            riders[world.rider].pay(fare, CONFIRMATIONS)
            booked = desk.accept(fare.quote_id, fare.tx, fare.signature, int(time.time()))
            say(f"RIDE {booked.trip.id} {fare.quote_id} {fare.tx}")
            world.rider, world.pending = None, None
            world.save(world_path)
        structlog.get_logger().info("taxi_tick", step=world.step)
        agent.tick(now)
        world.step += 1
        world.save(world_path)
    agent.poller.close()
    car.bus.shutdown()
    say("DONE")


def forked(argv: list[str], out: Connection, log_file: str) -> None:
    """Entry point in a process forked from the pre-loaded fork server."""
    with open(log_file, "a") as log_stream:
        os.dup2(log_stream.fileno(), 2)
    run(argv, lambda line: out.send_bytes(line.encode()))
