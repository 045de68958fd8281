"""The agent harness: the real agent core, procurement and outbox on simulated time.

    python -m tests.device.loop.agent_proc CONFIG DB WORLD RPC --until ISO [--hold EVENT:N]

It rebuilds the machine from what is durable — its SQLite database, the chain,
the suppliers' stores — plus the *world's* own state (true shelf stock,
simulated time, customers already served, the van at the door), which it keeps
in WORLD, a JSON file replaced atomically at the moment each physical fact
happens (a customer arrives, an item drops, a van unloads). The machine never
reads that file: its truth is only its database and the chain.

stdout (or the pipe of ``forked``) carries the protocol the crash test reads (logs go
to stderr):
``MARK <event> <n> <key>`` when a log event the test may kill after happens,
``HOLD <event>`` before hanging at the ``--hold`` event (the test then kills),
``SALE <id>`` after a COMPLETED sale is committed (the customer has the item),
``DONE`` when ``--until`` is reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog
from eth_account import Account
from gpiozero.pins.mock import MockFactory
from web3 import Web3

from contracts.profit_center import OrderStatus, ProfitCenter
from device.logs import configure_logging
from device.negotiation.buyer import Buyer
from device.procurement.cycle import ChainContext
from device.procurement.outbox import Outbox
from device.store.db import open_store
from device.store.models import PaymentMethod, SaleState
from device.vending.agent import Agent
from device.vending.hardware.poller import HardwarePoller
from device.vending.restock import Restocking, meet_supplier
from device.vending.sim.customers import CustomerStream
from device.vending.sim.physics import SensorPhysics
from device.vending.vend import VendError
from tests.device.loop.world import SCENARIO, START, LoopConfig, loop_settings

log = structlog.get_logger()
STEP = timedelta(minutes=30)
RPC_TIMEOUT_S = 5.0
# Log events the crash test may kill right after (each one a step of an order's life).
MARKED = frozenset(
    {
        "loop_plan",  # the harness is about to plan: negotiation follows
        "negotiation_finished",  # a quote won; no order row yet
        "intent_written",  # order row and/or intent committed
        "order_negotiated",  # place intent committed, nothing signed
        "intent_signed",  # raw transaction committed, not yet broadcast
        "intent_mined",  # receipt seen, order state not yet reconciled
        "order_state",  # an order moved (open, settled, ...)
        "loop_visit",  # the van unloaded; the door closes next
        "restock_recorded",  # recount committed; delivery not yet matched to orders
        "delivery_matched",  # confirm intent committed, not yet signed
        "loop_item_dropped",  # a sale is PENDING and its item fell
        "intent_already_done",
        "vend_resolved",
    }
)


@dataclass(slots=True)
class WorldState:
    """The simulated world (not the machine): written atomically after each physical fact."""

    clock: datetime
    stock: dict[int, int]
    next_plan: datetime
    customers_done: int = 0
    visit: str | None = None  # an order whose van unloaded; the machine may not know yet
    seen_open: dict[str, datetime] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)  # order -> units unloaded

    @classmethod
    def initial(cls) -> WorldState:
        settings = loop_settings()
        return cls(
            clock=START,
            stock={s.id: max(2, s.par // 2) for s in settings.slots},
            next_plan=START + timedelta(hours=1),
        )

    @classmethod
    def load(cls, path: Path) -> WorldState:
        if not path.exists():
            return cls.initial()
        raw = json.loads(path.read_text())
        return cls(
            clock=datetime.fromisoformat(raw["clock"]),
            stock={int(k): v for k, v in raw["stock"].items()},
            next_plan=datetime.fromisoformat(raw["next_plan"]),
            customers_done=raw["customers_done"],
            visit=raw["visit"],
            seen_open={k: datetime.fromisoformat(v) for k, v in raw["seen_open"].items()},
            delivered=dict(raw["delivered"]),
        )

    def save(self, path: Path) -> None:
        raw = {
            "clock": self.clock.isoformat(),
            "stock": self.stock,
            "next_plan": self.next_plan.isoformat(),
            "customers_done": self.customers_done,
            "visit": self.visit,
            "seen_open": {k: v.isoformat() for k, v in self.seen_open.items()},
            "delivered": self.delivered,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw))
        os.replace(tmp, path)  # a SIGKILL leaves the old or the new file, never half of one


def _chain_time(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


class LoopMachine:
    """One machine (real agent core) and its simulated world, resumable after any kill.

    ``rpc_url`` is how the machine reaches the chain (through a relay in the outage
    test); ``world_rpc_url`` is how the world moves chain time and watches orders.
    """

    def __init__(
        self,
        config: LoopConfig,
        database: Path,
        world_file: Path,
        rpc_url: str,
        world_rpc_url: str | None = None,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        settings = loop_settings()
        self.settings = settings.model_copy(
            update={"machine": settings.machine.model_copy(update={"motor_pulse_s": 0.0})}
        )
        self.config = config
        self.world_file = world_file
        self.world = WorldState.load(world_file)
        self.report = report
        self.now = self.world.clock
        self.lead = {s.name: timedelta(hours=s.lead_hours) for s in config.suppliers}
        self.factory = MockFactory()
        self.physics = SensorPhysics(self.settings, self.factory)
        for slot_id, count in self.world.stock.items():
            self.physics.set_stock(slot_id, count)
        self._watch_drops()
        self.poller = HardwarePoller(self.settings, pin_factory=self.factory)
        self.store = open_store(database)
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
        self.world_w3 = Web3(Web3.HTTPProvider(world_rpc_url or rpc_url))
        self.world_pc = ProfitCenter(self.world_w3, config.profit_center)
        pc = ProfitCenter(w3, config.profit_center)
        buyer = Buyer(clock=lambda: float(self.now.timestamp()))
        known = [asyncio.run(meet_supplier(buyer, s.name, s.url, 0.95)) for s in config.suppliers]
        self.procurement = Restocking(
            self.settings,
            self.store,
            Outbox(self.store, w3, pc, Account.from_key(config.agent_key)),
            pc,
            ChainContext(config.chain_id, pc.address, config.token),
            buyer,
            known,
        )
        self.agent = Agent(self.settings, self.store, self.poller, self.procurement)
        until_far = START + timedelta(days=120)
        self.arrivals = list(
            CustomerStream(SCENARIO.demand, SCENARIO.site, seed=config.seed).arrivals(
                START, until_far
            )
        )

    def close(self) -> None:
        self.poller.close()
        self.physics.close()
        self.store.close()

    def _save(self) -> None:
        self.world.clock = self.now
        self.world.save(self.world_file)

    def _watch_drops(self) -> None:
        """Record the world's stock the moment a vend motor drops an item."""
        for slot in self.settings.slots:
            pin: Any = self.factory.pin(slot.motor_pin)
            drop = pin.on_start

            def dropped(slot_id: int = slot.id, drop: Callable[[], None] = drop) -> None:
                drop()
                if self.physics.stock(slot_id) != self.world.stock[slot_id]:
                    self.world.stock[slot_id] = self.physics.stock(slot_id)
                    self._save()
                    log.info("loop_item_dropped", slot=slot_id)

            pin.on_start = dropped

    # -- running --------------------------------------------------------------------

    def resume(self) -> None:
        """Start-up after a (re)start: settle interrupted vends, finish a van's visit, drain."""
        self._set_chain_time(self.now)
        self.agent.start(self.now)
        if self.world.visit is not None:  # the van was at the door when the power went
            self._door_cycle(self.world.visit)
        self.agent.poll(self.now)

    def run(self, until: datetime) -> None:
        while self.now < until:
            self.step()

    def step(self) -> None:
        end = self.now + STEP
        self._customers(end)
        self.now = end
        self._set_chain_time(end)
        self._vans()
        self.agent.poll(end)
        if end >= self.world.next_plan:
            log.info("loop_plan", at=end.isoformat())
            self.agent.plan(end)
            self.world.next_plan = end + timedelta(hours=self.settings.agent.plan_interval_h)
        self._save()

    def _customers(self, end: datetime) -> None:
        for arrival in self.arrivals[self.world.customers_done :]:
            if arrival.when >= end:
                return
            self.now = arrival.when
            self.world.customers_done += 1
            self._save()  # this customer came; after a crash they do not come back
            if self.physics.stock(arrival.slot_id) == 0:
                continue
            try:
                sale = self.agent.sell(arrival.when, arrival.slot_id, PaymentMethod.CASHLESS)
            except VendError:
                continue
            if sale.state == SaleState.COMPLETED:
                self.report(f"SALE {sale.id}")

    def _set_chain_time(self, when: datetime) -> None:
        """The chain follows simulated time (anvil: set the next block's time, mine it)."""
        timestamp = int(when.timestamp())
        if timestamp > _chain_time(self.world_w3):
            provider: Any = self.world_w3.provider
            provider.make_request("evm_setNextBlockTimestamp", [timestamp])
            provider.make_request("evm_mine", [])

    def _vans(self) -> None:
        """Suppliers see their orders open on-chain and deliver after their lead time."""
        for order in self.procurement.orders():
            oid = order.order_id
            if oid in self.world.delivered:
                continue
            status = self.world_pc.order(bytes.fromhex(oid[2:])).status
            if status is not OrderStatus.OPEN:
                continue
            seen = self.world.seen_open.setdefault(oid, self.now)
            if self.now >= seen + self.lead[order.supplier_name]:
                unloaded = 0
                for line in json.loads(order.lines):  # what fits goes in; the rest goes back
                    slot_id = int(line["slot_id"])
                    capacity = self.settings.slot(slot_id).capacity
                    now_in = self.world.stock[slot_id]
                    self.world.stock[slot_id] = min(capacity, now_in + int(line["quantity"]))
                    unloaded += self.world.stock[slot_id] - now_in
                self.world.visit = oid
                self.world.delivered[oid] = unloaded
                self._save()  # the van unloaded: the goods are in the machine
                log.info("loop_visit", order=oid)
                self._door_cycle(oid)
            else:
                self._save()

    def _door_cycle(self, order_id: str) -> None:
        """The driver names the order, opens the door, fills the slots, closes the door."""
        self.agent.announce_delivery(order_id)
        self.physics.open_door()
        for slot_id, count in self.world.stock.items():
            self.physics.set_stock(slot_id, count)
        self.physics.close_door()
        self.agent.poll(self.now)  # the door switch wakes the agent: recount, pay
        self.world.visit = None
        self._save()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def markers(
    hold: tuple[str, int] | None, say: Callable[[str], None], marked: frozenset[str] = MARKED
) -> Any:
    """A structlog processor saying MARK for each ``marked`` event, hanging at ``hold``."""
    seen: Counter[str] = Counter()

    def marker(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        name = str(event.get("event"))
        if name in marked:
            seen[name] += 1
            say(f"MARK {name} {seen[name]} {event.get('key', event.get('order', ''))}")
            if hold == (name, seen[name]):
                say(f"HOLD {name}")
                threading.Event().wait()  # the power is cut here
        return event

    return marker


def main(argv: list[str], say: Callable[[str], None] = _say) -> None:
    parser = argparse.ArgumentParser(prog="agent_proc")
    parser.add_argument("config", type=Path)
    parser.add_argument("database", type=Path)
    parser.add_argument("world", type=Path)
    parser.add_argument("rpc")
    parser.add_argument("--until", type=datetime.fromisoformat, required=True)
    parser.add_argument("--hold", help="EVENT:N: hang at the Nth EVENT of this run")
    args = parser.parse_args(argv)
    hold = None
    if args.hold:
        name, _, n = args.hold.partition(":")
        hold = (name, int(n))
    configure_logging("info")
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[markers(hold, say), *processors])
    config = LoopConfig.load(args.config)
    machine = LoopMachine(config, args.database, args.world, args.rpc, report=say)
    machine.resume()
    machine.run(args.until)
    machine.close()
    say("DONE")


def forked(argv: list[str], out: Connection, log_file: str) -> None:
    """Entry point in a process forked from a pre-loaded fork server (the crash test's way
    to restart fast): protocol lines go over ``out``, logs to ``log_file``."""
    with open(log_file, "a") as log_stream:
        os.dup2(log_stream.fileno(), 2)
    main(argv, lambda line: out.send_bytes(line.encode()))


if __name__ == "__main__":
    main(sys.argv[1:])
