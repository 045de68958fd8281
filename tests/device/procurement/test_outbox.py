"""The chain outbox: intent first, one transaction per intent, survives restarts and outages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.middleware import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from contracts.chain import send
from contracts.profit_center import OrderStatus, ProfitCenter
from contracts.quote import Quote, sign_quote
from device.devchain import DevChain
from device.procurement.models import IntentState
from device.procurement.outbox import Outbox
from device.store.db import Store, open_store

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
USDC = 1_000_000


@pytest.fixture
def chain() -> DevChain:
    chain = DevChain.in_process()
    chain.mint(chain.governor.address, 1_000 * USDC)
    send(chain.w3, chain.token.functions.approve(chain.pc.address, 1_000 * USDC), chain.governor)
    chain.pc.deposit_revenue(1_000 * USDC, sender=chain.governor)
    return chain


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "machine.db")


def _place_payload(chain: DevChain, nonce: int = 1, amount: int = 20 * USDC) -> dict[str, object]:
    supplier = Account.from_key(b"\x07" * 32)
    chain.allow_supplier(supplier.address)
    quote = Quote(
        supplier=supplier.address,
        buyer=chain.pc.address,
        token=chain.token_address,
        amount=amount,
        items_hash=b"\x11" * 32,
        deliver_by=chain.now() + 86_400,
        expiry=chain.now() + 3_600,
        nonce=nonce,
    )
    signature = sign_quote(quote, chain.chain_id, supplier.key)
    return {
        "order_id": "0x" + chain.pc.order_id(supplier.address, nonce).hex(),
        "quote": quote.to_json(),
        "signature": signature.hex(),
    }


def _agent_nonce(chain: DevChain) -> int:
    return int(chain.w3.eth.get_transaction_count(chain.agent.address))


def test_intent_is_written_once_and_mined_once(chain: DevChain, store: Store) -> None:
    outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
    payload = _place_payload(chain)
    first = outbox.enqueue("place:1", "place_order", payload, NOW)
    again = outbox.enqueue("place:1", "place_order", payload, NOW)
    assert first.id == again.id
    before = _agent_nonce(chain)
    result = outbox.drain(NOW)
    assert (result.mined, result.failed, result.waiting) == (1, 0, 0)
    intent = outbox.get("place:1")
    assert intent is not None
    assert intent.state is IntentState.MINED
    assert intent.gas_used is not None
    assert intent.gas_used > 21_000
    order_id = bytes.fromhex(str(payload["order_id"])[2:])
    assert chain.pc.order(order_id).status is OrderStatus.AWAITING_APPROVAL  # default policy: bound
    assert outbox.drain(NOW + timedelta(minutes=1)).mined == 0
    assert _agent_nonce(chain) == before + 1  # exactly one transaction


def test_signed_but_unsent_transaction_is_resent_not_duplicated(
    chain: DevChain, store: Store
) -> None:
    """A crash between committing the signed transaction and broadcasting it."""
    outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
    payload = _place_payload(chain)
    outbox.enqueue("place:1", "place_order", payload, NOW)
    intent = outbox.get("place:1")
    assert intent is not None
    call = chain.pc.contract.functions.placeOrder(
        (
            payload["quote"]["supplier"],  # type: ignore[index]
            payload["quote"]["buyer"],  # type: ignore[index]
            payload["quote"]["token"],  # type: ignore[index]
            payload["quote"]["amount"],  # type: ignore[index]
            bytes.fromhex(payload["quote"]["items_hash"]),  # type: ignore[index]
            payload["quote"]["deliver_by"],  # type: ignore[index]
            payload["quote"]["expiry"],  # type: ignore[index]
            payload["quote"]["nonce"],  # type: ignore[index]
        ),
        bytes.fromhex(str(payload["signature"])),
    )
    nonce = _agent_nonce(chain)
    tx: Any = call.build_transaction(
        {"from": chain.agent.address, "nonce": nonce, "chainId": chain.chain_id}  # type: ignore[arg-type]
    )
    signed = chain.agent.sign_transaction(tx)
    outbox._update(  # what _sign_and_send commits just before it broadcasts
        intent.id,
        state=IntentState.SIGNED,
        nonce=nonce,
        tx_hash="0x" + bytes(signed.hash).hex(),
        raw_tx=bytes(signed.raw_transaction).hex(),
    )
    restarted = Outbox(store, chain.w3, chain.pc, chain.agent)
    assert restarted.drain(NOW).mined == 1
    assert _agent_nonce(chain) == nonce + 1
    mined = restarted.get("place:1")
    assert mined is not None
    assert mined.tx_hash == "0x" + bytes(signed.hash).hex()
    receipt = chain.w3.eth.get_transaction_receipt(mined.tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1


def test_effect_already_on_chain_is_not_sent_again(
    chain: DevChain, store: Store, tmp_path: Path
) -> None:
    payload = _place_payload(chain)
    Outbox(store, chain.w3, chain.pc, chain.agent).enqueue("place:1", "place_order", payload, NOW)
    # Someone (a previous install, another tool) already placed it.
    other_store = open_store(tmp_path / "other-install.db")
    other = Outbox(other_store, chain.w3, chain.pc, chain.agent)
    other.enqueue("place:1", "place_order", payload, NOW)
    assert other.drain(NOW).mined == 1
    before = _agent_nonce(chain)
    outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
    outbox.drain(NOW)
    intent = outbox.get("place:1")
    assert intent is not None
    assert intent.state is IntentState.DONE_ELSEWHERE
    assert _agent_nonce(chain) == before


def test_revert_at_preflight_fails_the_intent_without_spending_a_nonce(
    chain: DevChain, store: Store
) -> None:
    outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
    too_big = _place_payload(chain, amount=10_000 * USDC)  # above the per-order cap
    outbox.enqueue("place:big", "place_order", too_big, NOW)
    before = _agent_nonce(chain)
    assert outbox.drain(NOW).failed == 1
    intent = outbox.get("place:big")
    assert intent is not None
    assert intent.state is IntentState.FAILED
    assert intent.last_error is not None
    assert "Cap" in intent.last_error
    assert _agent_nonce(chain) == before


def test_unreachable_node_leaves_intent_waiting_then_drains(chain: DevChain, store: Store) -> None:
    down = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    offline = Outbox(store, down, ProfitCenter(down, chain.pc.address), chain.agent)
    payload = _place_payload(chain)
    offline.enqueue("place:1", "place_order", payload, NOW)
    result = offline.drain(NOW)
    assert result.unreachable
    assert result.waiting == 1
    intent = offline.get("place:1")
    assert intent is not None
    assert intent.state is IntentState.PENDING
    assert intent.next_attempt_at > NOW  # backs off
    assert intent.last_error is not None
    assert "unreachable" in intent.last_error
    online = Outbox(store, chain.w3, chain.pc, chain.agent)
    assert online.drain(NOW).mined == 0  # not due yet: backoff respected
    assert online.drain(NOW + timedelta(minutes=15)).mined == 1


class ReceiptsLag(Web3Middleware):
    """The node answers "no receipt" while ``lagging`` is set: a block's state is served
    before its receipts, as anvil does between committing a block and storing it."""

    lagging = threading.Event()

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def lag(method: RPCEndpoint, params: Any) -> RPCResponse:
            if method == "eth_getTransactionReceipt" and self.lagging.is_set():
                return {"jsonrpc": "2.0", "id": 0, "result": None}
            return make_request(method, params)

        return lag


class CutOffSends(Web3Middleware):
    """A broadcast never reaches the node (the run was cut off just before it)."""

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def cut(method: RPCEndpoint, params: Any) -> RPCResponse:
            if method == "eth_sendRawTransaction":
                raise ConnectionError("cut off before the broadcast")
            return make_request(method, params)

        return cut


@contextmanager
def anvil_chain(anvil_binary: Path) -> Iterator[tuple[DevChain, str]]:
    """A funded treasury on a real anvil node, and the node's URL."""
    from contracts.anvil import run_anvil

    with run_anvil(anvil_binary) as url:
        chain = DevChain(Web3(Web3.HTTPProvider(url)))
        chain.mint(chain.governor.address, 1_000 * USDC)
        send(
            chain.w3, chain.token.functions.approve(chain.pc.address, 1_000 * USDC), chain.governor
        )
        chain.pc.deposit_revenue(1_000 * USDC, sender=chain.governor)
        yield chain, url


def outbox_through(
    url: str, middleware: type[Web3Middleware], chain: DevChain, store: Store
) -> Outbox:
    w3 = Web3(Web3.HTTPProvider(url))
    w3.middleware_onion.add(middleware)
    return Outbox(store, w3, ProfitCenter(w3, chain.pc.address), chain.agent)


@pytest.mark.anvil
def test_own_transaction_mined_before_its_receipt_is_served_is_not_signed_again(
    anvil_binary: Path, store: Store
) -> None:
    """A re-broadcast told "nonce too low" while its receipt is not served yet: the nonce
    went to our own transaction, so the intent waits for that receipt instead of taking
    the nonce as lost and signing a second transaction (found by the taxi crash test)."""
    with anvil_chain(anvil_binary) as (chain, url):
        outbox = outbox_through(url, ReceiptsLag, chain, store)
        outbox.enqueue("place:1", "place_order", _place_payload(chain), NOW)
        before = _agent_nonce(chain)
        ReceiptsLag.lagging.set()
        try:
            assert outbox.drain(NOW).mined == 0  # signed and sent; no receipt served
            signed = outbox.get("place:1")
            assert signed is not None
            assert signed.tx_hash is not None
            chain.w3.eth.wait_for_transaction_receipt(signed.tx_hash)  # type: ignore[arg-type]
            outbox.drain(NOW + timedelta(minutes=1))  # re-broadcast: "nonce too low"
        finally:
            ReceiptsLag.lagging.clear()
        outbox.drain(NOW + timedelta(minutes=2))
        intent = outbox.get("place:1")
        assert intent is not None
        assert (intent.state, intent.tx_hash) == (IntentState.MINED, signed.tx_hash)
        assert _agent_nonce(chain) == before + 1


@pytest.mark.anvil
def test_nonce_taken_by_another_transaction_is_signed_again(
    anvil_binary: Path, store: Store
) -> None:
    """Our signed transaction never reached the node and another one of the agent key
    used its nonce: the intent is signed again at the next nonce, and mined once."""
    with anvil_chain(anvil_binary) as (chain, url):
        cut_off = outbox_through(url, CutOffSends, chain, store)
        cut_off.enqueue("place:1", "place_order", _place_payload(chain), NOW)
        assert cut_off.drain(NOW).unreachable
        lost = cut_off.get("place:1")
        assert lost is not None
        assert lost.state is IntentState.SIGNED
        other: Any = {"to": chain.agent.address, "value": 0, "gas": 21_000, "nonce": lost.nonce}
        other |= {"gasPrice": chain.w3.eth.gas_price * 2, "chainId": chain.chain_id}
        chain.w3.eth.send_raw_transaction(chain.agent.sign_transaction(other).raw_transaction)
        outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
        assert outbox.drain(NOW + timedelta(minutes=15)).mined == 1
        intent = outbox.get("place:1")
        assert intent is not None
        assert intent.state is IntentState.MINED
        assert intent.nonce == (lost.nonce or 0) + 1
        assert intent.tx_hash != lost.tx_hash
        assert _agent_nonce(chain) == intent.nonce + 1
