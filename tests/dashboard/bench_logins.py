"""Logins under parallel attackers and a busy database: the README's "under load" figures.

    .venv/bin/python -m tests.dashboard.bench_logins

A real uvicorn dashboard on 127.0.0.1 (MachineView on an eth-tester ProfitCenter, a
tmp SQLite file) while three writers each hold the write lock 20 ms of every 25 ms.
Reports: 40 wrong passwords at once for one owner from 40 addresses, 150 at once for
an unknown name, 8 logins one after another (latency), 8 at once with one TOTP code.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pyotp

from dashboard.app import create_app, start_in_thread
from dashboard.auth import add_owner
from dashboard.machine import LiveMachineView
from device.logs import configure_logging
from device.settings import load_settings
from device.store.db import Store, open_store
from tests.dashboard.chain import deploy_chain
from tests.dashboard.test_concurrency import all_at_once, browser, close_all, post_login, ready

PASSWORD = "correct horse battery"


def _totp(uri: str) -> pyotp.TOTP:
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp


def _writers(store: Store, stop: threading.Event, count: int = 3) -> list[threading.Thread]:
    with store.transaction() as db:
        db.execute("CREATE TABLE IF NOT EXISTS hammer (n INTEGER)")

    def write() -> None:
        while not stop.is_set():
            with store.transaction() as db:
                db.execute("INSERT INTO hammer VALUES (1)")
                stop.wait(0.02)
            stop.wait(0.005)

    threads = [threading.Thread(target=write, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _burst(url: str, prefix: str, n: int, name: str, password: str, code: str) -> str:
    started = time.perf_counter()
    attempts = [ready(browser(url, f"{prefix}.{10 + i % 200}")) for i in range(n)]
    try:
        answers = all_at_once(attempts, lambda a: post_login(a, name, password, code))
    finally:
        close_all(attempts)
    codes = dict(sorted(Counter(r.status_code for r in answers).items()))
    return f"{codes} in {time.perf_counter() - started:.1f} s"


def main() -> None:
    configure_logging("error")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        store = open_store(tmp / "machine.db")
        settings = load_settings()
        view = LiveMachineView(settings, store, deploy_chain().pc)
        server = start_in_thread(
            create_app(settings, view, engine=store.engine, secret_file=tmp / "session.key")
        )
        stop = threading.Event()
        writers = _writers(store, stop)
        out = sys.stdout
        try:
            add_owner(store.engine, "alice", PASSWORD)
            out.write(
                f"40 wrong at once, 40 addresses: {_burst(server.url, '127.0.0', 40, 'alice', 'guess', '000000')}\n"
            )
            out.write(
                f"150 wrong at once, unknown name: {_burst(server.url, '127.0.1', 150, 'bob', 'guess', '000000')}\n"
            )
            latencies = []
            for i in range(8):
                created = add_owner(store.engine, f"o{i}", PASSWORD)
                totp = _totp(created.provisioning_uri)
                attempt = ready(browser(server.url, f"127.0.2.{10 + i}"))
                started = time.perf_counter()
                answer = post_login(attempt, f"o{i}", PASSWORD, totp.now())
                latencies.append((time.perf_counter() - started) * 1000)
                attempt.client.close()
                assert answer.status_code == 303, answer.status_code
            latencies.sort()
            out.write(
                f"8 logins under 3 writers: 8/8 ok, median {latencies[4]:.0f} ms, "
                f"max {latencies[-1]:.0f} ms\n"
            )
            created = add_owner(store.engine, "carol", PASSWORD)
            code = _totp(created.provisioning_uri).now()
            out.write(
                f"8 at once, one code: {_burst(server.url, '127.0.3', 8, 'carol', PASSWORD, code)}\n"
            )
        finally:
            stop.set()
            for writer in writers:
                writer.join(timeout=10)
            server.stop()
            store.close()


if __name__ == "__main__":
    main()
