"""The chain outbox: every transaction is an intent row first, then signed, then sent.

    intent (PENDING) ─► preflight + sign, raw tx stored (SIGNED) ─► broadcast
         ▲                                                          │
         └── nonce lost to another tx and effect absent ◄── receipt? ─► MINED / FAILED

* Idempotent: an intent has a unique ``key``; before signing, the chain is asked
  whether the effect already exists (an order with that id, a settled order).
* Restart-safe: the signed raw transaction is committed *before* it is broadcast,
  so after a crash the very same transaction (same nonce, same hash) is re-sent.
* One nonce manager: the next nonce is the larger of the node's pending count and
  one past the highest nonce this outbox still has in flight.
* Outage-tolerant: a node that cannot be reached leaves the intent where it is,
  with exponential backoff; selling never waits for the chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from sqlmodel import Session, col, select
from web3 import Web3

from contracts.chain import build_transaction
from contracts.errors import ChainError, ContractRevertError
from contracts.profit_center import OrderStatus, ProfitCenter
from contracts.quote import Quote
from device.procurement.models import ChainIntent, IntentState
from device.store.db import Store

log = structlog.get_logger()

MAX_BACKOFF = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(seconds=5)


def _unreachable(exc: BaseException) -> bool:
    """Errors that mean "the node is not there right now", never "the call is wrong"."""
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    name = type(exc).__name__
    return name in {"ConnectionError", "ReadTimeout", "ConnectTimeout", "TimeExhausted"} or (
        "Connection" in name or "Timeout" in name
    )


def node_unreachable(exc: BaseException) -> bool:
    """``exc`` (or the error a ``ChainError`` wraps) means the node is not there right now."""
    if isinstance(exc, ChainError) and isinstance(exc.__cause__, BaseException):
        return _unreachable(exc.__cause__)
    return _unreachable(exc)


@dataclass(frozen=True, slots=True)
class IntentKind:
    """How to turn a payload into a contract call, and how to see it already happened."""

    build: Callable[[ProfitCenter, dict[str, Any]], Any]
    done: Callable[[ProfitCenter, dict[str, Any]], bool]


def _order_id(payload: dict[str, Any]) -> bytes:
    return bytes.fromhex(payload["order_id"].removeprefix("0x"))


def _status(pc: ProfitCenter, payload: dict[str, Any]) -> OrderStatus:
    return pc.order(_order_id(payload)).status


KINDS: dict[str, IntentKind] = {
    "place_order": IntentKind(
        build=lambda pc, p: pc.contract.functions.placeOrder(
            Quote.from_json(p["quote"]).as_tuple(), bytes.fromhex(p["signature"])
        ),
        done=lambda pc, p: _status(pc, p) is not OrderStatus.NONE,
    ),
    "confirm_delivery": IntentKind(
        build=lambda pc, p: pc.contract.functions.confirmDelivery(_order_id(p), int(p["amount"])),
        done=lambda pc, p: (
            _status(pc, p) in (OrderStatus.SETTLED, OrderStatus.RELEASED, OrderStatus.REJECTED)
        ),
    ),
    "dispute": IntentKind(
        build=lambda pc, p: pc.contract.functions.dispute(_order_id(p)),
        done=lambda pc, p: (
            _status(pc, p) in (OrderStatus.DISPUTED, OrderStatus.SETTLED, OrderStatus.RELEASED)
        ),
    ),
    "release_expired": IntentKind(
        build=lambda pc, p: pc.contract.functions.releaseExpired(_order_id(p)),
        done=lambda pc, p: _status(pc, p) in (OrderStatus.RELEASED, OrderStatus.SETTLED),
    ),
    "distribute": IntentKind(
        build=lambda pc, p: pc.contract.functions.distribute(),
        done=lambda pc, p: False,  # guarded by the stored raw transaction alone
    ),
    "deposit_revenue": IntentKind(
        build=lambda pc, p: pc.contract.functions.depositRevenue(int(p["amount"])),
        done=lambda pc, p: False,  # guarded by the stored raw transaction alone
    ),
}


@dataclass(frozen=True, slots=True)
class DrainResult:
    mined: int
    failed: int
    waiting: int
    unreachable: bool


def outbox_depth(store: Store) -> int:
    """Intents not yet settled; readable without the agent key (the dashboard's own process)."""
    with store.read() as session:
        return len(
            session.exec(
                select(ChainIntent.id).where(
                    col(ChainIntent.state).in_((IntentState.PENDING, IntentState.SIGNED))
                )
            ).all()
        )


class Outbox:
    """The machine's one way to send transactions (agent key)."""

    def __init__(
        self, store: Store, w3: Web3, profit_center: ProfitCenter, account: LocalAccount
    ) -> None:
        self.store = store
        self.w3 = w3
        self.pc = profit_center
        self.account = account

    # -- writing intents ------------------------------------------------------------

    def enqueue(
        self,
        key: str,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        session: Session | None = None,
    ) -> ChainIntent:
        """Write the intent (once per ``key``; a repeat returns the existing row).

        With ``session`` the intent joins the caller's transaction, so it is durable
        exactly when what caused it is.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown intent kind {kind!r}")
        if session is None:
            with self.store.write() as own:
                return self.enqueue(key, kind, payload, now, own)
        existing = session.exec(select(ChainIntent).where(ChainIntent.key == key)).first()
        if existing is not None:
            return existing
        intent = ChainIntent(
            key=key,
            kind=kind,
            payload=json.dumps(payload, sort_keys=True),
            state=IntentState.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(intent)
        session.flush()
        log.info("intent_written", key=key, kind=kind)
        return intent

    def get(self, key: str) -> ChainIntent | None:
        with self.store.read() as session:
            return session.exec(select(ChainIntent).where(ChainIntent.key == key)).first()

    def depth(self) -> int:
        """Intents not yet settled (the dashboard's "outbox depth")."""
        return outbox_depth(self.store)

    # -- draining -------------------------------------------------------------------

    def drain(self, now: datetime) -> DrainResult:
        """Advance every due intent as far as the chain allows; never raises for an outage."""
        with self.store.read() as session:
            due: Sequence[ChainIntent] = session.exec(
                select(ChainIntent)
                .where(col(ChainIntent.state).in_((IntentState.PENDING, IntentState.SIGNED)))
                .where(col(ChainIntent.next_attempt_at) <= now)
                .order_by(col(ChainIntent.id))
            ).all()
        mined = failed = 0
        for intent in due:
            try:
                state = self._advance(intent, now)
            except Exception as exc:
                if node_unreachable(exc):
                    return self._back_off(intent, now, exc, mined, failed)
                raise
            mined += state in (IntentState.MINED, IntentState.DONE_ELSEWHERE)
            failed += state is IntentState.FAILED
        return DrainResult(mined, failed, self.depth(), unreachable=False)

    def _back_off(
        self, intent: ChainIntent, now: datetime, exc: BaseException, mined: int, failed: int
    ) -> DrainResult:
        attempts = intent.attempts + 1
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(attempts - 1, 10))
        self._update(
            intent.id,
            attempts=attempts,
            next_attempt_at=now + delay,
            last_error=f"node unreachable: {type(exc).__name__}"[:300],
        )
        log.warning("chain_unreachable", key=intent.key, attempts=attempts, retry_in=str(delay))
        return DrainResult(mined, failed, self.depth(), unreachable=True)

    def _advance(self, intent: ChainIntent, now: datetime) -> IntentState:
        if intent.state is IntentState.SIGNED:
            return self._follow(intent, now)
        return self._sign_and_send(intent, now)

    def _sign_and_send(self, intent: ChainIntent, now: datetime) -> IntentState:
        kind = KINDS[intent.kind]
        payload = json.loads(intent.payload)
        if kind.done(self.pc, payload):
            self._update(intent.id, state=IntentState.DONE_ELSEWHERE, settled_at=now)
            log.info("intent_already_done", key=intent.key)
            return IntentState.DONE_ELSEWHERE
        call = kind.build(self.pc, payload)
        params = {
            "from": self.account.address,
            "nonce": self._next_nonce(),
            "chainId": self.w3.eth.chain_id,
        }
        try:  # build_transaction estimates gas: a revert here costs nothing
            tx = build_transaction(call, params)
        except ContractRevertError as exc:
            self._update(
                intent.id, state=IntentState.FAILED, last_error=str(exc)[:300], settled_at=now
            )
            log.warning("intent_failed", key=intent.key, error=exc.name, stage="preflight")
            return IntentState.FAILED
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        self._update(
            intent.id,
            state=IntentState.SIGNED,
            nonce=params["nonce"],
            tx_hash=tx_hash,
            raw_tx=bytes(signed.raw_transaction).hex(),
            attempts=intent.attempts + 1,
        )
        log.info("intent_signed", key=intent.key, nonce=params["nonce"], tx=tx_hash)
        with self.store.read() as session:
            stored = session.get(ChainIntent, intent.id)
        assert stored is not None
        return self._follow(stored, now)

    def _follow(self, intent: ChainIntent, now: datetime) -> IntentState:
        """Find the receipt of a signed intent, (re)broadcasting its raw transaction."""
        assert intent.tx_hash is not None
        assert intent.raw_tx is not None
        receipt = self._receipt(intent.tx_hash)
        if receipt is None:
            nonce_used = False
            try:
                self.w3.eth.send_raw_transaction(bytes.fromhex(intent.raw_tx))
            except Exception as exc:
                if _unreachable(exc):
                    raise
                message = str(exc).lower()
                nonce_used = "nonce too low" in message or ("nonce" in message and "low" in message)
                if not nonce_used and "already" not in message and "known" not in message:
                    raise
            # "nonce too low" may be our own transaction, mined by a send whose answer was
            # lost (web3 retries eth_sendRawTransaction) or by the run a kill cut short,
            # its receipt not served yet (anvil commits a block's state before it stores
            # the block's receipts): only a nonce taken by a transaction the node does not
            # know as ours means re-signing; re-signing ours would send it twice.
            receipt = self._receipt(intent.tx_hash)
            if receipt is None and nonce_used and not self._known(intent.tx_hash):
                return self._nonce_taken(intent, now)
            if receipt is None:  # in the mempool, or mined: look again at the next drain
                return IntentState.SIGNED
        if receipt["status"] != 1:
            self._update(
                intent.id,
                state=IntentState.FAILED,
                last_error="reverted when mined",
                block_number=int(receipt["blockNumber"]),
                gas_used=int(receipt["gasUsed"]),
                gas_cost=int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0)),
                settled_at=now,
            )
            log.warning("intent_failed", key=intent.key, stage="mined", tx=intent.tx_hash)
            return IntentState.FAILED
        self._update(
            intent.id,
            state=IntentState.MINED,
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            gas_cost=int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0)),
            settled_at=now,
        )
        log.info("intent_mined", key=intent.key, tx=intent.tx_hash, gas=int(receipt["gasUsed"]))
        return IntentState.MINED

    def _nonce_taken(self, intent: ChainIntent, now: datetime) -> IntentState:
        """Our nonce was used by another transaction: sign again unless the effect exists."""
        log.warning("intent_nonce_taken", key=intent.key, nonce=intent.nonce)
        self._update(intent.id, state=IntentState.PENDING, nonce=None, tx_hash=None, raw_tx=None)
        with self.store.read() as session:
            fresh = session.get(ChainIntent, intent.id)
        assert fresh is not None
        return self._sign_and_send(fresh, now)

    def _receipt(self, tx_hash: str) -> Any:
        return self._lookup(lambda: self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]

    def _known(self, tx_hash: str) -> bool:
        """The node has this transaction, pending or mined."""
        return self._lookup(lambda: self.w3.eth.get_transaction(tx_hash)) is not None  # type: ignore[arg-type]

    def _lookup(self, fetch: Callable[[], Any]) -> Any:
        """What ``fetch`` reads of a transaction; ``None`` when the node does not know it."""
        try:
            return fetch()
        except Exception as exc:
            if _unreachable(exc):
                raise
            if "not found" in str(exc).lower() or type(exc).__name__ == "TransactionNotFound":
                return None
            raise

    def _next_nonce(self) -> int:
        chain = self.w3.eth.get_transaction_count(self.account.address, "pending")
        with self.store.read() as session:
            in_flight = session.exec(
                select(ChainIntent.nonce).where(
                    ChainIntent.state == IntentState.SIGNED, col(ChainIntent.nonce).is_not(None)
                )
            ).all()
        return max([chain, *((n or 0) + 1 for n in in_flight)])

    def _update(self, intent_id: int | None, **changes: Any) -> None:
        with self.store.write() as session:
            row = session.get(ChainIntent, intent_id)
            assert row is not None
            for name, value in changes.items():
                setattr(row, name, value)
            session.add(row)
