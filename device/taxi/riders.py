"""Simulated riders (the demo, the tests): each holds its own key on a dev chain, pays
the quoted fare in the token to the quote's ``pay_to`` and signs that payment for the
quote (``device.taxi.payments.payment_message``), as a rider's wallet would.

Paying is split in two so a harness that may be killed can store the signed transfer
first and send the very same transaction again after a restart: a fare is paid once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from contracts.chain import build_transaction
from device.taxi.payments import payment_message


@dataclass(frozen=True, slots=True)
class SignedFare:
    """A rider's transfer for one quote, signed but maybe not yet sent, and the
    signature that binds it to the quote."""

    quote_id: str
    tx: str
    raw: str
    signature: str


class SimulatedRider:
    """A rider's wallet on ``w3`` holding the settlement ``token`` (a web3 contract)."""

    def __init__(self, w3: Web3, token: Any, account: LocalAccount) -> None:
        self.w3 = w3
        self.token = token
        self.account = account

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign(self, quote_id: str, price: int, pay_to: str) -> SignedFare:
        """The transfer of ``price`` to ``pay_to`` at the next nonce, and its signature."""
        tx = build_transaction(
            self.token.functions.transfer(to_checksum_address(pay_to), price),
            {
                "from": self.address,
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                "chainId": self.w3.eth.chain_id,
            },
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        message = encode_defunct(text=payment_message(quote_id, tx_hash))
        signature = "0x" + bytes(self.account.sign_message(message).signature).hex()
        return SignedFare(quote_id, tx_hash, "0x" + bytes(signed.raw_transaction).hex(), signature)

    def pay(self, fare: SignedFare, confirmations: int = 1) -> None:
        """Send the transfer (unless it is on-chain already) and wait until it has
        ``confirmations``; on a dev chain that mines only on demand, the wait mines
        empty blocks (``evm_mine``) as other traffic would."""
        try:
            self.w3.eth.get_transaction_receipt(HexBytes(fare.tx))
        except TransactionNotFound:
            self.w3.eth.send_raw_transaction(HexBytes(fare.raw))
        receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(fare.tx), poll_latency=0.02)
        while self.w3.eth.block_number - int(receipt["blockNumber"]) + 1 < confirmations:
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
