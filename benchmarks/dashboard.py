"""Bounded load on the owners' dashboard: the overview page and /api/status at a fixed rate.

    .venv/bin/python benchmarks/dashboard.py                 # table
    .venv/bin/python benchmarks/dashboard.py --json          # machine-readable
    .venv/bin/python benchmarks/dashboard.py --rate 50 --duration 20

The dashboard runs on 127.0.0.1 in one process with the demo machine
(``device.vending.demo.DemoWorld``: the real agent selling on simulated sensors, three
HTTP suppliers, negotiations, orders paid on a ProfitCenter on anvil, a real
JSON-RPC node), as ``custobot run`` would hold them; the world runs at ``--speed``
simulated seconds per real second (default 60: an agent sixty times busier than
a real machine; a block every 15 simulated minutes), and the dashboard reads the
same store and chain. The world's simulation threads compete with the dashboard
for the GIL: ``--speed 600`` shows the tail that costs, ``--gil-switch-ms 0.5``
how much of it a shorter switch interval wins back.
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
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.profit_center import ProfitCenter
from dashboard.app import SESSION_COOKIE, create_app, start_in_thread
from dashboard.auth import add_owner
from dashboard.machine import LiveMachineView
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.logs import configure_logging
from device.settings import load_settings
from device.vending.demo import DemoWorld
from device.vending.sim.scenarios import OFFICE_SNACKS

PATHS = ("/", "/api/status")
TARGET_P99_MS = 100.0
PASSWORD = "benchmark-owner-password"


# -- the server process -----------------------------------------------------------------


def _serve(
    conn: Connection, rpc_url: str, tmp: str, speed: float, days: float, switch_ms: float | None
) -> None:
    """Child process: the demo world (agent, suppliers, chain on anvil) and its dashboard.

    The world runs on its own thread at ``speed`` simulated seconds per real second;
    the dashboard reads the same store and chain, on simulated time, with the
    governor key, the hardware poller's snapshot and the outbox depth connected.
    """
    configure_logging("warning")
    if switch_ms is not None:
        sys.setswitchinterval(switch_ms / 1000)
    scratch = Path(tmp)
    settings = load_settings()
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    chain = DevChain(Web3(Web3.HTTPProvider(rpc_url)), DEMO_POLICY)
    with DemoWorld(
        settings, OFFICE_SNACKS, scratch=scratch, start=start, speed=speed, chain=chain
    ) as world:
        machine = world.machine
        procurement = machine.agent.procurement
        assert procurement is not None
        # The dashboard's own connection to the node, as a separate process would have.
        pc = ProfitCenter(Web3(Web3.HTTPProvider(rpc_url)), chain.pc.address)
        view = LiveMachineView(
            settings,
            machine.store,
            pc,
            governor=chain.governor,
            stock_snapshot=lambda: machine.agent.poller.last,
            outbox_depth=procurement.outbox.depth,
            clock=world.driver.now,
        )
        created = add_owner(machine.store.engine, "bench", PASSWORD)
        totp = pyotp.parse_uri(created.provisioning_uri)
        assert isinstance(totp, pyotp.TOTP)
        app = create_app(
            settings, view, engine=machine.store.engine, secret_file=scratch / "session.key"
        )
        server = start_in_thread(app)
        with httpx.Client(base_url=server.url) as client:
            page = client.get("/login").text
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            form = {"name": "bench", "password": PASSWORD, "code": totp.now(), "csrf_token": token}
            response = client.post("/login", data=form)
            assert response.status_code == 303, response.text
            cookie = client.cookies[SESSION_COOKIE]
        agent = threading.Thread(target=world.run, args=(days,), name="demo-world", daemon=True)
        agent.start()
        conn.send((server.url, f"{SESSION_COOKIE}={cookie}"))
        conn.recv()  # "stop"
        server.stop()
        orders = len(procurement.orders())
        conn.send({"simulated_days": round(days, 2), "orders_placed": orders})
        agent.join(timeout=60)


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


def measure(
    rate: float, duration: float, speed: float, switch_ms: float | None = None
) -> dict[str, Any]:
    """Start anvil and the demo + dashboard process, run the load, stop everything."""
    context = multiprocessing.get_context("spawn")
    days = (duration + 5) * speed / 86_400  # the world runs a little past the load
    with run_anvil() as rpc_url, tempfile.TemporaryDirectory(prefix="custobot-bench-") as tmp:
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, rpc_url, tmp, speed, days, switch_ms), daemon=True
        )
        process.start()
        try:
            if not parent.poll(300):
                raise TimeoutError("the dashboard process did not come up in 300 s")
            url, cookie = parent.recv()
            report = run_load(url, cookie, rate, duration)
            parent.send("stop")
            report["demo"] = parent.recv() if parent.poll(120) else None
        finally:
            process.join(timeout=90)
            if process.is_alive():
                process.terminate()
    report["chain"] = "anvil (JSON-RPC)"
    report["demo_speed"] = speed
    report["gil_switch_interval_ms"] = switch_ms if switch_ms is not None else 5.0
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="demo: simulated seconds per real second"
    )
    parser.add_argument(
        "--gil-switch-ms",
        type=float,
        default=None,
        help="server process: sys.setswitchinterval in ms (Python's default is 5)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000 or not 0 < args.duration <= 600 or not 1 <= args.speed <= 3600:
        parser.error("need --rate in (0, 1000], --duration in (0, 600], --speed in [1, 3600]")
    if args.gil_switch_ms is not None and not 0.1 <= args.gil_switch_ms <= 100:
        parser.error("--gil-switch-ms must be in [0.1, 100]")
    report = measure(args.rate, args.duration, args.speed, args.gil_switch_ms)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        lines = [
            f"dashboard load: {report['target_rate_rps']} req/s for {report['duration_s']} s, "
            f"achieved {report['achieved_rps']} req/s; the demo ran at {report['demo_speed']:.0f}x "
            f"alongside ({report['demo']})",
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
