"""Bounded load on the owners' dashboard: the overview page and /api/status at a fixed rate.

    .venv/bin/python benchmarks/dashboard.py                 # table
    .venv/bin/python benchmarks/dashboard.py --json          # machine-readable
    .venv/bin/python benchmarks/dashboard.py --rate 50 --duration 20

The dashboard runs in its own process on 127.0.0.1 over a real machine: a migrated
SQLite file with 30 days of sales, a ProfitCenter on anvil (a real JSON-RPC node)
with revenue and open orders, and a logged-in owner. While the load runs, an
agent-like writer in the server process records a sale every 0.5 s and deposits
revenue on-chain every 5 s (each new block makes the dashboard re-read the chain).
Requests alternate between ``/`` and ``/api/status`` and are sent open-loop at their
scheduled times; latency counts from the scheduled time, so a server that falls
behind shows up as latency rather than as a quietly lower rate. The run stops by
itself after ``--duration`` seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" or __name__ == "__mp_main__":
    # Run as a file, this folder comes first on sys.path and this file would shadow the
    # ``dashboard`` package; put the repository root there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import httpx
import pyotp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, Policy, ProfitCenter
from contracts.quote import ItemLine, Quote, items_hash, sign_quote
from dashboard.app import SESSION_COOKIE, create_app, start_in_thread
from dashboard.auth import add_owner
from dashboard.machine import LiveMachineView
from device.logs import configure_logging
from device.settings import Settings, load_settings
from device.store import repo
from device.store.db import Store, open_store
from device.store.models import PaymentMethod, RecountSource

USDC = 1_000_000
PATHS = ("/", "/api/status")
TARGET_P99_MS = 100.0
PASSWORD = "benchmark-owner-password"
POLICY = Policy(
    autonomy=Autonomy.BOUND,
    auto_approval_threshold=0,
    per_order_cap=1_000 * USDC,
    budget_per_period=10_000 * USDC,
    period_length=7 * 86_400,
    operating_reserve=50 * USDC,
    dispute_window=86_400,
)


# -- the server process -----------------------------------------------------------------


@dataclass
class _Machine:
    w3: Any
    pc: ProfitCenter
    usdc: Any
    agent: LocalAccount
    store: Store
    settings: Settings


def _sell(machine: _Machine, slot_id: int, at: datetime) -> None:
    slot = machine.settings.slot(slot_id)
    with machine.store.write() as session:
        sale = repo.record_sale(
            session,
            slot_id=slot_id,
            gtin=slot.gtin,
            price=slot.retail_price,
            payment=PaymentMethod.CASHLESS,
            now=at,
        )
        assert sale.id is not None
        repo.complete_sale(session, sale.id, at)


def _deposit(machine: _Machine, amount: int) -> None:
    send(machine.w3, machine.usdc.functions.mint(machine.agent.address, amount), machine.agent)
    send(machine.w3, machine.usdc.functions.approve(machine.pc.address, amount), machine.agent)
    machine.pc.deposit_revenue(amount, sender=machine.agent)


def _build_machine(rpc_url: str, tmp: Path) -> _Machine:
    """30 days of sales in the store; revenue and five orders awaiting approval on-chain."""
    settings = load_settings()
    store = open_store(tmp / "machine.db")
    now = datetime.now(UTC)
    with store.write() as session:
        for slot in settings.slots:
            repo.record_recount(
                session, slot.id, slot.capacity, RecountSource.RESTOCK, now - timedelta(days=31)
            )
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    funder = str(w3.eth.accounts[0])
    agent, supplier = Account.create(), Account.create()
    for account in (agent, supplier):
        w3.eth.send_transaction({"from": funder, "to": account.address, "value": 10**20})  # type: ignore[typeddict-item]
    deployment = deploy_profit_center(
        w3, deployer=funder, governor=funder, agent=agent.address, policy=POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(
        address=to_checksum_address(deployment.token), abi=load_artifact("MockUSDC").abi
    )
    machine = _Machine(w3, pc, usdc, agent, store, settings)
    pc.set_supplier(supplier.address, True, sender=funder)
    _deposit(machine, 500 * USDC)
    for nonce in range(1, 6):
        quote = Quote(
            supplier=supplier.address,
            buyer=pc.address,
            token=usdc.address,
            amount=20 * USDC,
            items_hash=items_hash([ItemLine("05449000000996", 20, USDC)]),
            deliver_by=int(time.time()) + 7 * 86_400,
            expiry=int(time.time()) + 86_400,
            nonce=nonce,
        )
        pc.place_order(quote, sign_quote(quote, w3.eth.chain_id, supplier.key), sender=agent)
    for i in range(30 * 96):  # 96 sales a day for 30 days
        _sell(machine, settings.slots[i % len(settings.slots)].id, now - timedelta(minutes=15 * i))
    return machine


def _agent_writer(machine: _Machine, stop: threading.Event) -> None:
    """Like the agent: a sale every 0.5 s, a revenue deposit on-chain every 5 s."""
    tick = 0
    while not stop.wait(0.5):
        tick += 1
        _sell(
            machine,
            machine.settings.slots[tick % len(machine.settings.slots)].id,
            datetime.now(UTC),
        )
        if tick % 10 == 0:
            _deposit(machine, USDC)


def _serve(conn: Connection, rpc_url: str, tmp: str) -> None:
    """Child process: build the machine, serve the dashboard, log in, report, wait for stop."""
    configure_logging("warning")
    machine = _build_machine(rpc_url, Path(tmp))
    created = add_owner(machine.store.engine, "bench", PASSWORD)
    totp = pyotp.parse_uri(created.provisioning_uri)
    assert isinstance(totp, pyotp.TOTP)
    view = LiveMachineView(machine.settings, machine.store, machine.pc)
    app = create_app(
        machine.settings, view, engine=machine.store.engine, secret_file=Path(tmp) / "session.key"
    )
    server = start_in_thread(app)
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = client.post(
            "/login",
            data={"name": "bench", "password": PASSWORD, "code": totp.now(), "csrf_token": token},
        )
        assert response.status_code == 303, response.text
        cookie = client.cookies[SESSION_COOKIE]
    stop = threading.Event()
    writer = threading.Thread(target=_agent_writer, args=(machine, stop), daemon=True)
    writer.start()
    conn.send((server.url, f"{SESSION_COOKIE}={cookie}"))
    conn.recv()  # "stop"
    stop.set()
    writer.join(timeout=10)
    server.stop()
    machine.store.close()


# -- the load generator -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sample:
    path: str
    latency_ms: float
    ok: bool
    done_at: float


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _stats(samples: list[_Sample]) -> dict[str, Any]:
    latencies = [s.latency_ms for s in samples]
    return {
        "requests": len(samples),
        "errors": sum(1 for s in samples if not s.ok),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies, default=float("nan")), 1),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else float("nan"),
    }


def run_load(url: str, cookie: str, rate: float, duration: float) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``duration`` s (open loop) and summarise."""
    total = int(rate * duration)
    samples: list[_Sample] = []
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(
        base_url=url, headers={"Cookie": cookie}, limits=limits, timeout=30
    ) as client:
        for path in PATHS:  # warm up: templates compiled, first chain snapshot read
            client.get(path)

        def one(path: str, scheduled: float) -> None:
            try:
                ok = client.get(path).status_code == 200
            except httpx.HTTPError:
                ok = False
            done = time.perf_counter()
            with lock:
                samples.append(_Sample(path, (done - scheduled) * 1000, ok, done))

        start = time.perf_counter() + 0.2
        with ThreadPoolExecutor(max_workers=48) as pool:
            for i in range(total):
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(one, PATHS[i % len(PATHS)], scheduled)
    elapsed = max(s.done_at for s in samples) - start
    overall = _stats(samples)
    return {
        "target_rate_rps": rate,
        "duration_s": duration,
        "achieved_rps": round(len(samples) / elapsed, 1),
        "overall": overall,
        "by_path": {p: _stats([s for s in samples if s.path == p]) for p in PATHS},
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": overall["p99_ms"] <= TARGET_P99_MS
        and overall["errors"] == 0
        and len(samples) / elapsed >= 0.95 * rate,
    }


def measure(rate: float, duration: float) -> dict[str, Any]:
    """Start anvil and the dashboard process, run the load, stop everything."""
    context = multiprocessing.get_context("spawn")
    with run_anvil() as rpc_url, tempfile.TemporaryDirectory(prefix="custobot-bench-") as tmp:
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, rpc_url, tmp), daemon=True)
        process.start()
        try:
            if not parent.poll(180):
                raise TimeoutError("the dashboard process did not come up in 180 s")
            url, cookie = parent.recv()
            report = run_load(url, cookie, rate, duration)
        finally:
            if process.is_alive():
                parent.send("stop")
                process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    report["chain"] = "anvil (JSON-RPC)"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000 or not 0 < args.duration <= 600:
        parser.error("--rate must be in (0, 1000] and --duration in (0, 600]")
    report = measure(args.rate, args.duration)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        lines = [
            f"dashboard load: {report['target_rate_rps']} req/s for {report['duration_s']} s, "
            f"achieved {report['achieved_rps']} req/s",
            f"{'path':<14}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}",
        ]
        for path, s in [*report["by_path"].items(), ("all", report["overall"])]:
            lines.append(
                f"{path:<14}{s['requests']:>9}{s['errors']:>8}{s['p50_ms']:>9}{s['p99_ms']:>9}{s['max_ms']:>9}"
            )
        verdict = "meets" if report["meets_target"] else "MISSES"
        lines.append(f"{verdict} the target p99 <= {TARGET_P99_MS:.0f} ms at the requested rate")
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
