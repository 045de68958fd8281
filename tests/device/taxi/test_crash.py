"""Acceptance: SIGKILL the taxi agent at moments across rides and upkeep orders; restart
it from what is durable. Anvil and the sellers (real HTTP servers) live in this test
process and survive every kill; the harness (``crash_proc``) runs the real taxi loop on
simulated minutes. Afterwards: no rider's payment used twice and one trip per paid quote,
every fare's transfer on-chain once (riders spent exactly the fares, the agent's wallet
holds them less its deposits), no order placed twice, no payment twice — on-chain and in
the ledger (the vending crash test's checks)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from sqlmodel import Session, select
from web3 import Web3

from contracts.chain import send
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.procurement.ledger import Ledger as Books
from device.store.db import connect, open_store
from device.taxi.demo import serve_sellers
from device.taxi.store import TaxiFare, TaxiTrip
from tests import forked
from tests.device.loop.checks import check_orders, check_transactions, read_ledger
from tests.device.loop.runner import Harness, Kill
from tests.device.taxi import crash_proc
from tests.device.taxi.crash_proc import Seller, TaxiConfig, World

USDC = 1_000_000
KILLS = 16
RIDERS = 110  # one booking every 4 minutes, each rider with one open trip at a time
RIDER_FUNDS = 200 * USDC
STEPS = 600  # simulated minutes: enough upkeep orders for every planned kill
SEED = 19
HOLD_AT = (
    "negotiation_finished",
    "order_negotiated",
    "intent_signed",
    "intent_mined",
    "order_state",
    "taxi_upkeep_need",
    "taxi_upkeep_job",
    "delivery_matched",
    "taxi_trip_booked",
    "taxi_trip_started",
    "taxi_trip_completed",
)
KILL_AFTER = (("taxi_tick", 0.3), ("intent_signed", 0.02), ("negotiation_finished", 0.05))


@dataclass(frozen=True, slots=True)
class TaxiWorld:
    chain: DevChain
    config: TaxiConfig
    suppliers: dict[str, str]  # name -> address
    first_block: int
    riders: tuple[str, ...]  # addresses, each minted RIDER_FUNDS


@contextmanager
def taxi_world(rpc_url: str, scratch: Path) -> Iterator[TaxiWorld]:
    """Deploy on anvil, fund the treasury and the riders, serve the demo's two stations, cleaner and workshop."""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    chain = DevChain(w3, DEMO_POLICY)
    chain.mint(chain.governor.address, 5_000 * USDC)
    send(w3, chain.token.functions.approve(chain.pc.address, 5_000 * USDC), chain.governor)
    chain.pc.deposit_revenue(5_000 * USDC, sender=chain.governor)
    riders = [Account.create() for _ in range(RIDERS)]
    gas_giver = str(list(w3.eth.accounts)[1])  # another prefunded anvil account: 0.1 ETH each
    for rider in riders:
        w3.eth.send_transaction({"from": gas_giver, "to": rider.address, "value": 10**17})  # type: ignore[typeddict-item]
        chain.mint(rider.address, RIDER_FUNDS)
    first_block = int(w3.eth.block_number) + 1
    with serve_sellers(chain, scratch) as providers:
        sellers = tuple(
            Seller(
                p.kind.value, p.site, p.product, p.ref.name, p.ref.base_url, p.ref.signing_address
            )
            for p in providers
        )
        addresses = {p.ref.name: p.ref.signing_address for p in providers}
        config = TaxiConfig(
            profit_center=chain.pc.address,
            token=chain.token_address,
            chain_id=chain.chain_id,
            agent_key=bytes(chain.agent.key).hex(),
            sellers=sellers,
            rider_keys=tuple(bytes(r.key).hex() for r in riders),
            start=datetime.now(UTC).replace(microsecond=0).isoformat(),
        )
        yield TaxiWorld(chain, config, addresses, first_block, tuple(r.address for r in riders))


def kill_plan(rng: random.Random) -> list[Kill]:
    kills: list[Kill] = []
    while len(kills) < KILLS:
        for event in rng.sample(HOLD_AT, len(HOLD_AT)):
            kills.append(Kill(event, rng.randint(1, 2), None))
        event, longest = rng.choice(KILL_AFTER)
        kills.append(Kill(event, rng.randint(1, 5), rng.uniform(0, longest)))
    return kills[:KILLS]


@pytest.mark.slow
@pytest.mark.anvil
def test_sigkills_across_rides_and_upkeep_orders(anvil_binary: Path, tmp_path: Path) -> None:
    from contracts.anvil import run_anvil

    rng = random.Random(SEED)
    database, world_file, car_file, config_file = (
        tmp_path / "taxi.db",
        tmp_path / "world.json",
        tmp_path / "car.json",
        tmp_path / "taxi.json",
    )
    log = tmp_path / "taxi.log"
    context = forked.fork_server(crash_proc.__name__)
    with run_anvil(anvil_binary) as url, taxi_world(url, tmp_path) as world:
        world.config.save(config_file)
        nonce_before = int(world.chain.w3.eth.get_transaction_count(world.chain.agent.address))
        base = [str(config_file), str(database), str(world_file), str(car_file), url]
        lines: list[str] = []
        killed: list[Kill] = []
        for kill in kill_plan(rng):
            hold = [] if kill.delay_s is not None else ["--hold", f"{kill.event}:{kill.occurrence}"]
            run = Harness(
                context, [*base, "--until-step", str(STEPS), *hold], log, crash_proc.forked
            )
            if run.wait_for(kill):
                run.sigkill()
                killed.append(kill)
            else:  # the world ran out before this moment came
                run.process.join()
                assert run.seen[-1] == "DONE"
            lines += run.seen
        final = Harness(context, [*base, "--until-step", str(STEPS)], log, crash_proc.forked)
        final.finish()
        lines += final.seen

        assert World.load(world_file).step == STEPS
        assert len(killed) >= KILLS // 2, [str(k) for k in killed]
        ledger = read_ledger(database)
        check_orders(world, ledger, {})
        check_transactions(world, ledger, nonce_before)
        # Rides: every acknowledged ride has its one fare; no payment used twice, no
        # quote paid twice; on-chain, riders spent exactly the fares booked.
        rides = [line.split() for line in lines if line.startswith("RIDE ")]
        engine = connect(database)
        with Session(engine) as session:
            fares = session.exec(select(TaxiFare)).all()
            trips = session.exec(select(TaxiTrip)).all()
        engine.dispose()
        assert [q for q, n in Counter(f.quote_id for f in fares).items() if n > 1] == []
        assert [t for t, n in Counter(f.payment_tx for f in fares).items() if n > 1] == []
        assert len(trips) == len(fares)
        acknowledged = {(trip, quote, tx) for _, trip, quote, tx in rides}
        by_trip = {f.trip_id: (f.quote_id, f.payment_tx) for f in fares}
        assert all(by_trip.get(trip) == (quote, tx) for trip, quote, tx in acknowledged)
        chain = world.chain
        taken = sum(f.amount for f in fares)
        spent = sum(RIDER_FUNDS - chain.balance(r) for r in world.riders)
        assert spent == taken
        # Riders paid the ProfitCenter directly: the ledger's fares are what it took in.
        store = open_store(database)
        try:
            books = Books(store, [], chain.pc, chain.agent.address, fares=lambda: taken)
            reconciliation = books.reconcile(world.first_block)
        finally:
            store.close()
        assert reconciliation.matches, reconciliation.differences
        assert reconciliation.fares_chain == taken
        assert chain.balance(chain.agent.address) == 0
        # The kills hit live orders and rides: several were placed, paid and driven.
        settled = [o for o in ledger.orders if o.state.value == "settled"]
        assert len({o.need_key.split(":")[0] for o in settled}) >= 2
        assert len(acknowledged) >= 20
