"""Fares paid in the settlement token, checked on-chain before a trip is booked.

The rider transfers the quoted fare straight to the ProfitCenter (``pay_to``), never to
the taxi's own key: a thief with the agent key finds no takings in its wallet, and the
contract's ``distribute()`` counts tokens sent to it directly into the treasury
(``SurplusRecognized``). The rider accepts the quote with the transaction's hash and an
EIP-191 signature of ``payment_message(quote, tx)`` by the paying address; the taxi
checks the token's Transfer from that signer to ``pay_to``. The signature binds that
payment to that quote, so nobody who sees the transfer on-chain can spend it on a quote
of their own; a payment pays one quote at most (the taxi store's unique ``payment_tx``).
The taxi's ledger counts the fares against those transfers on-chain
(``device.procurement.ledger.Ledger.reconcile``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import event_signature_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from contracts.errors import ChainError
from device.money import money
from device.procurement.outbox import node_unreachable
from device.taxi.errors import PaymentError, RidesBusyError

log = structlog.get_logger()
CONFIRMATIONS = 3
"""Blocks a payment must have (its own and two on top) before it books: a one- or
two-block reorg cannot take a booked fare back. With one, the newest block sufficed."""
TRANSFER_TOPIC = bytes(event_signature_to_log_topic("Transfer(address,address,uint256)"))


def payment_message(quote_id: str, payment_tx: str) -> str:
    """What the paying address signs (EIP-191 personal message) to pay ``quote_id``."""
    return f"custobot ride: quote {quote_id} paid by transaction {payment_tx.lower()}"


def payer_of(quote_id: str, payment_tx: str, signature: str) -> str:
    """The address that signed the payment message (checked without the chain)."""
    try:
        signer = Account.recover_message(
            encode_defunct(text=payment_message(quote_id, payment_tx)),
            signature=HexBytes(signature),
        )
    except Exception as exc:  # eth-account raises several types for a malformed signature
        raise PaymentError(f"the signature does not verify ({type(exc).__name__})") from None
    return to_checksum_address(signer)


@dataclass(frozen=True, slots=True)
class Paid:
    """A confirmed transfer of ``amount`` base units from ``payer`` to ``pay_to``."""

    tx: str
    payer: str
    amount: int
    block: int
    mined_at: int


class FarePayments:
    """Checks transfers of the settlement ``token`` (its symbol and decimals for people) to
    ``pay_to`` (the ProfitCenter) on ``w3``."""

    def __init__(
        self,
        w3: Web3,
        token: str,
        pay_to: str,
        *,
        confirmations: int = CONFIRMATIONS,
        symbol: str = "USDC",
        decimals: int = 6,
    ) -> None:
        self.w3 = w3
        self.token = to_checksum_address(token)
        self.symbol = symbol
        self.decimals = decimals
        self.pay_to = to_checksum_address(pay_to)
        self.confirmations = confirmations
        self._lock = threading.Lock()  # one chain read at a time (eth-tester is not thread-safe)

    def verify(self, payment_tx: str, payer: str, fare: int) -> Paid:
        """The transfer of at least ``fare`` from ``payer`` to ``pay_to`` in ``payment_tx``."""
        try:
            with self._lock:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(payment_tx))
                head = self.w3.eth.block_number
                block = self.w3.eth.get_block(receipt["blockNumber"])
        except TransactionNotFound:
            raise PaymentError(f"transaction {payment_tx} is not on the chain (yet)") from None
        except Exception as exc:
            if isinstance(exc, ChainError | OSError) or node_unreachable(exc):
                log.error("taxi_payment_chain_unreachable", tx=payment_tx, error=type(exc).__name__)
                raise RidesBusyError("the chain cannot be read now: accept again") from None
            raise
        if int(receipt["status"]) != 1:
            raise PaymentError(f"transaction {payment_tx} failed on-chain")
        seen = head - int(receipt["blockNumber"]) + 1
        if seen < self.confirmations:
            raise PaymentError(
                f"transaction {payment_tx} has {seen} of {self.confirmations} confirmations"
            )
        amount = sum(self._transfers(receipt["logs"], payer))
        if amount < fare:
            raise PaymentError(
                f"transaction {payment_tx} moves {self._show(amount)} from {payer} to "
                f"{self.pay_to}; the fare is {self._show(fare)}"
            )
        return Paid(
            tx=payment_tx.lower(),
            payer=payer,
            amount=amount,
            block=int(receipt["blockNumber"]),
            mined_at=int(block["timestamp"]),
        )

    def _show(self, amount: int) -> str:
        return f"{money(amount, self.decimals, exact=True)} {self.symbol}"

    def _transfers(self, logs: Sequence[Any], payer: str) -> list[int]:
        """Values of the token's Transfer events from ``payer`` to ``pay_to``."""
        found = []
        for entry in logs:
            record = dict(entry)
            topics = [bytes(topic) for topic in record["topics"]]
            if (
                to_checksum_address(record["address"]) != self.token
                or len(topics) != 3
                or topics[0] != TRANSFER_TOPIC
            ):
                continue
            source = to_checksum_address(topics[1][-20:])
            target = to_checksum_address(topics[2][-20:])
            if source == payer and target == self.pay_to:
                found.append(int.from_bytes(bytes(record["data"]), "big"))
        return found
