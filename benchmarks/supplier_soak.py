"""Soak the supplier service: slow clients and an RFQ flood, while a real buyer keeps asking.

    .venv/bin/python -m benchmarks.supplier_soak                    # 60 s, table
    .venv/bin/python -m benchmarks.supplier_soak --duration 20 --json

The reference supplier runs on 127.0.0.1 with ``device.http_serving``'s bounded
set-up (the dashboard's ``serve`` uses the same one). Against it, in one client
event loop: ``--slow`` connections that trickle their request head or body one
byte at a time and reconnect whenever the server closes them; ``--flooders``
client addresses (127.0.0.10...) sending RFQs at ``--flood-rate`` per second in
all; and one legitimate client (127.0.0.2) asking for the catalog ten times a
second and opening an RFQ every two seconds. The supplier's clock runs
``--accel`` times faster than wall time, so the RFQ retention (2 days here)
passes within the run and the database must stop growing. Latency counts from
each legitimate request's scheduled time. The run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from device.http_serving import ServerLimits
from device.logs import configure_logging
from supplier.app import create_app
from supplier.keys import Signer
from supplier.protocol import counter_lock
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

COLA = "05449000000996"
CHAIN_ID = 31337
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BUYER = "0x000000000000000000000000000000000000bEEF"
LOCK = counter_lock(bytes(32))


@dataclass(frozen=True, slots=True)
class SoakResult:
    duration_s: float
    slow_clients: int
    slow_closed_by_server: int
    legit_requests: int
    legit_errors: int
    legit_p50_ms: float
    legit_p99_ms: float
    legit_max_ms: float
    flood_sent: int
    flood_stored: int
    flood_rate_limited: int
    rfqs_mid: int
    rfqs_end: int
    db_bytes_mid: int
    db_bytes_end: int
    wal_bytes_end: int
    rss_mb_mid: float
    rss_mb_end: float


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _db_bytes(path: Path) -> int:
    """The database file itself; its WAL is capped by SQLite's checkpoints (about 4 MB)."""
    return path.stat().st_size


def _wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


class _Clock:
    """The supplier's clock: wall time, ``accel`` times faster from the start."""

    def __init__(self, accel: float) -> None:
        self.start = time.time()
        self.accel = accel

    def __call__(self) -> int:
        return int(self.start + (time.time() - self.start) * self.accel)


def _rfq(clock: _Clock, n: int, tag: str) -> bytes:
    now = clock()
    return json.dumps(
        {
            "protocol": "custobot/2",
            "rfq_id": f"{tag.replace('.', '_')}-{n:012d}",
            "items": [{"gtin": COLA, "quantity": 24}],
            "deliver_by": now + 3 * 86400,
            "answer_by": now + 600,
            "chain_id": CHAIN_ID,
            "buyer": BUYER,
            "token": TOKEN,
            "machine_customer": True,
            "counter_lock": LOCK,
        }
    ).encode()


def _config(scratch: Path) -> SupplierSettings:
    return SupplierSettings.model_validate(
        {
            "name": "Soak Wholesale",
            "keystore": scratch / "key.json",
            "database": scratch / "supplier.db",
            "tokens": [{"chain_id": CHAIN_ID, "address": TOKEN}],
            "items": [
                {
                    "gtin": COLA,
                    "name": "Cola",
                    "list_price": 450_000,
                    "floor_price": 310_000,
                    "stock": 1_000_000,
                }
            ],
            "rfq_retention_days": 2,
            "prune_every_seconds": 600,
        }
    )


async def _slow_client(host: str, port: int, body: bool, stop: float, closed: list[int]) -> None:
    """Trickle a head (or a body) one byte every 0.5 s; reconnect when the server closes it."""
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            if body:
                writer.write(
                    b"POST /rfq HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\n"
                    b"content-length: 1000\r\n\r\n{"
                )
            else:
                writer.write(b"POST /rfq HTTP/1.1\r\nhost: soak\r\n")
            while time.monotonic() < stop:
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), 0.5)
                except TimeoutError:
                    writer.write(b"x")
                    continue
                if not data or reader.at_eof():
                    closed[0] += 1
                    break
        except OSError:
            closed[0] += 1
        finally:
            writer.close()


async def _flooder(
    url: str, source: str, rate: float, stop: float, clock: _Clock, counts: dict[str, int]
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=5) as client:
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < stop:
            n += 1
            counts["sent"] += 1
            try:
                response = await client.post(
                    "/rfq", content=_rfq(clock, n, source), headers=headers
                )
                key = "stored" if response.status_code == 200 else str(response.status_code)
                counts[key] = counts.get(key, 0) + 1
            except httpx.HTTPError:
                counts["failed"] = counts.get("failed", 0) + 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _legit(
    url: str, stop: float, clock: _Clock, latencies: list[float], errors: list[int]
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=10) as client:
        n = 0
        scheduled = time.monotonic()
        while scheduled < stop:
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            n += 1
            try:
                if n % 20 == 0:
                    response = await client.post(
                        "/rfq", content=_rfq(clock, n, "legit"), headers=headers
                    )
                else:
                    response = await client.get("/catalog")
                if response.status_code != 200:
                    errors[0] += 1
            except httpx.HTTPError:
                errors[0] += 1
            latencies.append(time.monotonic() - scheduled)
            scheduled += 0.1


def soak(
    duration_s: float = 60.0,
    *,
    slow: int = 300,
    flooders: int = 5,
    flood_rate: float = 200.0,
    accel: float = 86400.0,
    limits: ServerLimits | None = None,
    scratch: Path | None = None,
) -> SoakResult:
    """Run the soak for ``duration_s`` and return its figures (it stops by itself)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = scratch or Path(tmp)
        config = _config(folder)
        store = SupplierStore(config.database)
        clock = _Clock(accel)
        app = create_app(config, Signer.from_key(Account.create().key), store, clock=clock)
        latencies: list[float] = []
        errors = [0]
        closed = [0]
        counts: dict[str, int] = {"sent": 0}
        mid: dict[str, float] = {}
        try:
            with serve_in_thread(app, limits=limits) as url:
                host, port = url.removeprefix("http://").split(":")
                stop = time.monotonic() + duration_s

                def sample() -> None:
                    time.sleep(duration_s / 2)
                    mid.update(rfqs=store.rfq_count(), db=_db_bytes(config.database), rss=_rss_mb())

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()

                async def run() -> None:
                    tasks = [
                        _slow_client(host, int(port), i % 2 == 1, stop, closed) for i in range(slow)
                    ]
                    tasks += [
                        _flooder(
                            url, f"127.0.0.{10 + i}", flood_rate / flooders, stop, clock, counts
                        )
                        for i in range(flooders)
                    ]
                    tasks.append(_legit(url, stop, clock, latencies, errors))
                    await asyncio.gather(*tasks)

                asyncio.run(run())
                sampler.join()
                end = {
                    "rfqs": store.rfq_count(),
                    "db": _db_bytes(config.database),
                    "wal": _wal_bytes(config.database),
                    "rss": _rss_mb(),
                }
        finally:
            store.close()
    ordered = sorted(latencies)
    return SoakResult(
        duration_s=duration_s,
        slow_clients=slow,
        slow_closed_by_server=closed[0],
        legit_requests=len(ordered),
        legit_errors=errors[0],
        legit_p50_ms=round(statistics.median(ordered) * 1000, 1),
        legit_p99_ms=round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
        legit_max_ms=round(ordered[-1] * 1000, 1),
        flood_sent=counts["sent"],
        flood_stored=counts.get("stored", 0),
        flood_rate_limited=counts.get("429", 0),
        rfqs_mid=int(mid["rfqs"]),
        rfqs_end=int(end["rfqs"]),
        db_bytes_mid=int(mid["db"]),
        db_bytes_end=int(end["db"]),
        wal_bytes_end=int(end["wal"]),
        rss_mb_mid=round(mid["rss"], 1),
        rss_mb_end=round(end["rss"], 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--flooders", type=int, default=5)
    parser.add_argument("--flood-rate", type=float, default=200.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("warning")
    result = soak(args.duration, slow=args.slow, flooders=args.flooders, flood_rate=args.flood_rate)
    data: dict[str, Any] = asdict(result)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:24} {value}")
    return 0 if result.legit_errors == 0 and result.legit_p99_ms < 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
