"""The supplier watcher harness: the real Watcher polling a real node from a real SQLite file.

    CUSTOBOT_TEST_SUPPLIER_KEY=0x... python -m tests.supplier.watcher_proc DB RPC PC [--hold EVENT]

It rebuilds the watcher from what is durable (the SupplierStore file and the
chain) and calls ``Watcher.poll_once`` every ``POLL_S`` with the chain's time as
``now``, until SIGTERM. An exception ends the process with a traceback: the
crash test must see a watcher that dies of its own, not one that hides it.

stdout (or the pipe of ``forked``) carries the protocol the crash test reads (logs
go to stderr): ``MARK <event> <order>`` when a log event the test may kill after
happens, ``HOLD <event>`` before hanging at the first ``--hold`` event of this run
(the test then kills), ``DONE`` after a SIGTERM.

Test-only hook, nothing in production code: the ProfitCenter handed to the watcher
logs ``claim_sending`` before the real ``claimPayment`` transaction and
``claim_mined`` once its receipt is in, so the test can kill in the window
between the payment being made on chain and the watcher saving that it claimed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, MutableMapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.chain import Sender
from contracts.profit_center import ProfitCenter, TxResult
from device.logs import configure_logging
from supplier.store import SupplierStore
from supplier.watcher import Watcher

log = structlog.get_logger()
KEY_ENV = "CUSTOBOT_TEST_SUPPLIER_KEY"
POLL_S = 0.05
RPC_TIMEOUT_S = 10.0
# Log events the crash test may kill at or right after (each one a step of an order's life).
MARKED = frozenset(
    {
        "watcher_started",  # store opened, nothing polled yet in this run
        "order_placed",  # a new order row committed; the cursor not yet moved past it
        "order_updated",  # an order row moved (delivered, settled)
        "claim_sending",  # a due order found; claimPayment about to be signed and sent
        "claim_mined",  # claimPayment mined (the supplier is paid); claimed_tx not saved
        "payment_claimed",  # claimed_tx and the settlement saved
        "claim_failed",  # a claim reverted or the node refused it
    }
)


class WatchedProfitCenter(ProfitCenter):
    """The real ProfitCenter, announcing the two edges of a claim (the test's kill points)."""

    def __init__(self, w3: Web3, address: str, store: SupplierStore, chain_id: int) -> None:
        super().__init__(w3, address)
        self.store = store
        self.chain_id = chain_id

    def claim_payment(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        local = self._local_id(order_id_)
        log.info("claim_sending", order=local)
        tx = super().claim_payment(order_id_, sender=sender)
        log.info("claim_mined", order=local, tx="0x" + tx.tx_hash.hex())
        return tx

    def _local_id(self, order_id_: bytes) -> int | None:
        row = self.store.order_by_chain_id(self.chain_id, self.address, "0x" + order_id_.hex())
        return None if row is None else row.id


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _markers(hold: str | None, say: Callable[[str], None]) -> Any:
    """A structlog processor: report marked events; hang at the first ``hold`` event."""

    def marker(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        name = str(event.get("event"))
        if name in MARKED:
            say(f"MARK {name} {event.get('order', '')}")
            if name == hold:
                say(f"HOLD {name}")
                threading.Event().wait()  # the power is cut here
        return event

    return marker


def run(
    database: Path,
    rpc_url: str,
    profit_center: str,
    account: LocalAccount,
    hold: str | None,
    say: Callable[[str], None],
) -> None:
    configure_logging("info")
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[_markers(hold, say), *processors])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    store = SupplierStore(database)
    watcher = Watcher(w3, store, account, [profit_center])
    center = WatchedProfitCenter(w3, profit_center, store, watcher.chain_id)
    watcher.centers = {center.address: center}
    log.info("watcher_started", supplier=watcher.supplier)
    while not stop.is_set():
        now = int(w3.eth.get_block("latest")["timestamp"])
        watcher.poll_once(now)
        stop.wait(POLL_S)
    store.close()
    say("DONE")


def main(argv: list[str], key: str, say: Callable[[str], None] = _say) -> None:
    parser = argparse.ArgumentParser(prog="watcher_proc")
    parser.add_argument("database", type=Path)
    parser.add_argument("rpc")
    parser.add_argument("profit_center")
    parser.add_argument("--hold", help="EVENT: hang at the first EVENT of this run")
    args = parser.parse_args(argv)
    account: LocalAccount = Account.from_key(key)
    run(args.database, args.rpc, args.profit_center, account, args.hold, say)


def forked(argv: list[str], key: str, out: Connection, log_file: str) -> None:
    """Entry point in a process forked from a pre-loaded fork server (the crash test's way
    to restart fast): protocol lines go over ``out``, logs to ``log_file``."""
    with open(log_file, "a") as log_stream:
        os.dup2(log_stream.fileno(), 2)
    main(argv, key, lambda line: out.send_bytes(line.encode()))


if __name__ == "__main__":
    main(sys.argv[1:], os.environ[KEY_ENV])
