"""Sending transactions and making calls, with one shape for reverts on every backend.

A sender is either the address of an account the node unlocks (eth-tester and anvil
development accounts) or an eth-account ``LocalAccount`` whose key signs locally
(the device's agent key, a supplier's key).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from contracts.artifacts import artifact_names, load_artifact
from contracts.errors import ContractRevertError

Sender = str | LocalAccount
T = TypeVar("T")

RECEIPT_POLL_SECONDS = 0.02
RECEIPT_TIMEOUT_SECONDS = 120.0
_ETH_TESTER_REVERT = re.compile(r"execution reverted: (b(['\"]).*\2)$", re.DOTALL)
_PANIC = bytes.fromhex("4e487b71")
_ERROR_STRING = bytes.fromhex("08c379a0")


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One Solidity custom error: its name and ABI argument types."""

    name: str
    types: tuple[str, ...]


def _abi_type(item: dict[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(component) for component in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@cache
def known_errors() -> dict[bytes, ErrorSpec]:
    """Selector -> error, over every committed artifact (our errors and OpenZeppelin's)."""
    found: dict[bytes, ErrorSpec] = {}
    for name in artifact_names():
        for item in load_artifact(name).abi:
            if item["type"] != "error":
                continue
            types = tuple(_abi_type(arg) for arg in item["inputs"])
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            found[selector] = ErrorSpec(item["name"], types)
    return found


def decode_revert(data: bytes) -> ContractRevertError:
    """Turn raw revert data into a ``ContractRevertError`` naming the error."""
    selector, payload = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            return ContractRevertError("Error", tuple(abi_decode(["string"], payload)), data)
        if selector == _PANIC:
            return ContractRevertError("Panic", tuple(abi_decode(["uint256"], payload)), data)
        spec = known_errors().get(selector)
        if spec is not None:
            values = tuple(_normalise(value) for value in abi_decode(list(spec.types), payload))
            return ContractRevertError(spec.name, values, data)
    except Exception:  # noqa: S110 - undecodable data is reported as Unknown below
        pass
    return ContractRevertError("Unknown", (), data)


def _normalise(value: Any) -> Any:
    """Checksum addresses, plain bytes and tuples, so errors compare equal across backends."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return tuple(_normalise(item) for item in value)
    return value


def _revert_data(error: BaseException) -> bytes | None:
    """The revert data hidden in a backend's exception, or None if it is not a revert."""
    if isinstance(error, ContractLogicError):
        data = error.data
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        return b""
    if isinstance(error, Web3RPCError):
        message = str(error)
        return b"" if "revert" in message.lower() else None
    if isinstance(error, TransactionFailed):
        # web3's eth-tester provider re-raises the backend's TransactionFailed with a
        # message; the original (with the raw bytes) is its __context__.
        for failure in (error.__context__, error):
            raw = failure.args[0] if failure is not None and failure.args else None
            if isinstance(raw, Exception) and raw.args:
                raw = raw.args[0]
            if isinstance(raw, bytes):
                return raw
        raw = error.args[0] if error.args else ""
        found = _ETH_TESTER_REVERT.match(str(raw))
        if found:
            literal = ast.literal_eval(found.group(1))
            return literal if isinstance(literal, bytes) else literal.encode()
        return str(raw).encode()
    return None


def reverts_normalised(action: Callable[[], T]) -> T:
    """Run ``action``; re-raise any backend's revert as ``ContractRevertError``."""
    try:
        return action()
    except (ContractLogicError, Web3RPCError, TransactionFailed) as error:
        data = _revert_data(error)
        if data is None:
            raise
        raise decode_revert(data) from error


def sender_address(sender: Sender) -> ChecksumAddress:
    """The checksum address of a sender."""
    if isinstance(sender, str):
        return to_checksum_address(sender)
    return to_checksum_address(sender.address)


def with_gas(call: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with a gas limit: the estimate and a quarter more, unless one is set.

    The estimate runs against the latest block; the transaction is mined in a later one,
    where a different timestamp can take a slightly dearer path (the budget refill), so
    an exact estimate could run out of gas. A revert found while estimating raises
    ``ContractRevertError`` and costs nothing.
    """
    if "gas" in params:
        return params
    estimate = int(reverts_normalised(lambda: call.estimate_gas(params)))
    return {**params, "gas": estimate + estimate // 4}


def build_transaction(call: Any, params: dict[str, Any]) -> Any:
    """``call`` as an unsigned transaction with ``params`` and a safe gas limit."""
    return reverts_normalised(lambda: call.build_transaction(with_gas(call, params)))


def send(
    w3: Web3,
    call: Any,
    sender: Sender,
    *,
    nonce: int | None = None,
    gas: int | None = None,
) -> Any:
    """Send a prepared contract call (or constructor) as a transaction and wait for its receipt.

    A revert (found while estimating gas, or in a mined receipt with status 0) raises
    ``ContractRevertError``. Returns the web3 receipt.
    """
    address = sender_address(sender)
    params: dict[str, Any] = {"from": address}
    if gas is not None:
        params["gas"] = gas
    if isinstance(sender, str):
        if nonce is not None:
            params["nonce"] = nonce
        tx_hash = reverts_normalised(lambda: call.transact(with_gas(call, params)))
    else:
        params["nonce"] = (
            nonce if nonce is not None else w3.eth.get_transaction_count(address, "pending")
        )
        tx = build_transaction(call, params)
        signed = sender.sign_transaction(tx)
        tx_hash = reverts_normalised(lambda: w3.eth.send_raw_transaction(signed.raw_transaction))
    receipt = w3.eth.wait_for_transaction_receipt(
        tx_hash, timeout=RECEIPT_TIMEOUT_SECONDS, poll_latency=RECEIPT_POLL_SECONDS
    )
    return check_receipt(w3, receipt)


def mined_receipt(w3: Web3, tx_hash: bytes) -> Any | None:
    """The receipt of a mined, successful transaction; None while it is not mined.

    A mined transaction that reverted raises ``ContractRevertError``. Lets an outbox
    reconcile what it sent before a restart.
    """
    try:
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None
    return check_receipt(w3, receipt)


def check_receipt(w3: Web3, receipt: Any) -> Any:
    """Return ``receipt`` if the transaction succeeded, else raise why it reverted."""
    if receipt["status"] != 1:
        _raise_mined_revert(w3, receipt["transactionHash"], receipt)
    return receipt


def _raise_mined_revert(w3: Web3, tx_hash: Any, receipt: Any) -> None:
    """Replay a reverted, mined transaction as a call to learn why it reverted."""
    tx = w3.eth.get_transaction(tx_hash)
    replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
    block = receipt["blockNumber"] - 1
    reverts_normalised(lambda: w3.eth.call(replay, block))  # type: ignore[arg-type]
    raise ContractRevertError("Unknown", (), b"")


def iter_chunks(first: int, last: int, size: int) -> Iterator[tuple[int, int]]:
    """Inclusive block ranges of at most ``size`` blocks, for log queries."""
    start = first
    while start <= last:
        end = min(last, start + size - 1)
        yield start, end
        start = end + 1
