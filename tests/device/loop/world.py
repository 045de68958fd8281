"""The world around the crash and outage tests: one chain, real HTTP suppliers, one config.

The test process owns everything that must outlive the agent's kills: the anvil
node (a DevChain deployed on it), the reference suppliers served over HTTP with
their own SQLite stores. ``LoopConfig`` is what the agent harness
(``agent_proc``) needs to rebuild the machine from durable state after a kill.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_account import Account
from web3 import Web3

from contracts.chain import send
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.settings import Settings, load_settings
from device.vending.demo import USDC
from device.vending.sim.customers import OFFICE, SlotDemand
from device.vending.sim.scenarios import Scenario
from supplier.app import create_app
from supplier.keys import Signer
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

START = datetime(2026, 3, 2, 6, tzinfo=UTC)  # a Monday morning
GENESIS = START - timedelta(days=1)  # anvil's first block: the chain starts before the world
COUNTING_SLOTS = (1, 2, 3, 4)  # distance and analog sensors: the machine counts its stock
# Twice the office machine's demand, so a few simulated days hold many order lifecycles.
SCENARIO = Scenario(
    name="loop",
    description="busy office machine for the crash and outage tests",
    site=OFFICE,
    demand={
        1: SlotDemand(daily_rate=12.0),
        2: SlotDemand(daily_rate=8.0),
        3: SlotDemand(daily_rate=14.0),
        4: SlotDemand(daily_rate=10.0),
    },
)


@dataclass(frozen=True, slots=True)
class LoopSupplier:
    name: str
    url: str
    lead_hours: int


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """Everything the agent harness needs besides its database and world file."""

    profit_center: str
    token: str
    chain_id: int
    agent_key: str
    suppliers: tuple[LoopSupplier, ...]
    seed: int

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> LoopConfig:
        raw = json.loads(path.read_text())
        raw["suppliers"] = tuple(LoopSupplier(**s) for s in raw["suppliers"])
        return cls(**raw)


def loop_settings() -> Settings:
    """The embedded demo machine, its counting slots only, planning every six hours."""
    settings = load_settings(None)
    return settings.model_copy(
        update={
            "slots": [s for s in settings.slots if s.id in COUNTING_SLOTS],
            "agent": settings.agent.model_copy(update={"plan_interval_h": 6.0}),
        }
    )


SUPPLIER_SPECS = (
    ("Acme Wholesale", {"kind": "boulware", "beta": 0.3}, 18, 0.50, 0.32),
    ("Quick Drinks Co", {"kind": "conceder", "beta": 4.0}, 8, 0.62, 0.45),
)


@dataclass(frozen=True, slots=True)
class ChainWorld:
    chain: DevChain
    config: LoopConfig
    suppliers: dict[str, str]  # name -> address
    first_block: int


def chain_time(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


@contextmanager
def chain_world(rpc_url: str, scratch: Path, seed: int) -> Iterator[ChainWorld]:
    """Deploy on ``rpc_url``, fund the treasury and the agent, serve the suppliers over HTTP.

    The suppliers' clock is the chain's time, which the machine's world moves
    forward with simulated time.
    """
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    chain = DevChain(w3, DEMO_POLICY)
    chain.mint(chain.governor.address, 5_000 * USDC)
    send(w3, chain.token.functions.approve(chain.pc.address, 5_000 * USDC), chain.governor)
    chain.pc.deposit_revenue(5_000 * USDC, sender=chain.governor)
    # Card takings settle to the agent's key; it moves them into the treasury daily.
    chain.mint(chain.agent.address, 100_000 * USDC)
    send(w3, chain.token.functions.approve(chain.pc.address, 2**255), chain.agent)
    clock_w3 = Web3(Web3.HTTPProvider(rpc_url))  # read from the supplier servers' threads
    settings = loop_settings()
    first_block = int(w3.eth.block_number) + 1
    suppliers: list[LoopSupplier] = []
    addresses: dict[str, str] = {}
    with ExitStack() as stack:
        for index, (name, strategy, lead, list_share, floor_share) in enumerate(SUPPLIER_SPECS):
            signer = Signer.from_key(Account.create().key)
            config = SupplierSettings(
                name=name,
                keystore=scratch / f"supplier-{index}.key.json",
                database=scratch / f"supplier-{index}.db",
                tokens=[{"chain_id": chain.chain_id, "address": chain.token_address}],
                items=[
                    {
                        "gtin": slot.gtin,
                        "name": slot.name,
                        "list_price": int(slot.retail_price * list_share),
                        "floor_price": int(slot.retail_price * floor_share),
                        "lead_time_seconds": lead * 3600,
                        "stock": 100_000,
                    }
                    for slot in settings.slots
                ],
                strategy=strategy,
                quote_ttl_seconds=86400,  # a quote outlives an outage of the machine
            )
            store = SupplierStore(config.database)
            app = create_app(config, signer, store, clock=lambda: chain_time(clock_w3))
            url = stack.enter_context(serve_in_thread(app))
            chain.allow_supplier(signer.address)
            chain.fund(signer.address)
            chain.mint(signer.address, 1)  # a real supplier already holds the token
            suppliers.append(LoopSupplier(name, url, lead))
            addresses[name] = signer.address
        loop = LoopConfig(
            profit_center=chain.pc.address,
            token=chain.token_address,
            chain_id=chain.chain_id,
            agent_key=bytes(chain.agent.key).hex(),
            suppliers=tuple(suppliers),
            seed=seed,
        )
        yield ChainWorld(chain, loop, addresses, first_block)
