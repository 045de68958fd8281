"""The EIP-712 ``Quote`` a supplier signs and the ProfitCenter verifies.

One definition shared by the buyer (device), the reference supplier and the
contract tests, so the typed data can never drift between the three. The
Solidity side must use exactly ``QUOTE_TYPE_STRING`` and ``DOMAIN_NAME`` /
``DOMAIN_VERSION``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

DOMAIN_NAME = "custobot ProfitCenter"
DOMAIN_VERSION = "2"
QUOTE_TYPE_STRING = (
    "Quote(address supplier,address buyer,address token,uint256 amount,"
    "bytes32 itemsHash,uint64 deliverBy,uint64 expiry,uint256 nonce)"
)
QUOTE_FIELDS: list[dict[str, str]] = [
    {"name": "supplier", "type": "address"},
    {"name": "buyer", "type": "address"},
    {"name": "token", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "itemsHash", "type": "bytes32"},
    {"name": "deliverBy", "type": "uint64"},
    {"name": "expiry", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
]
_DOMAIN_FIELDS: list[dict[str, str]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
# secp256k1 group order / 2: signatures with a higher s are malleable copies.
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@dataclass(frozen=True, slots=True)
class ItemLine:
    """One line of a quote: what, how many, at what unit price (token base units)."""

    gtin: str
    quantity: int
    unit_price: int


def items_hash(lines: list[ItemLine] | tuple[ItemLine, ...]) -> bytes:
    """keccak256 of ``abi.encode((uint64 gtin, uint32 quantity, uint256 unitPrice)[])``.

    Lines are hashed in the order given; both sides sort by GTIN before hashing.
    """
    encoded = abi_encode(
        ["(uint64,uint32,uint256)[]"],
        [[(int(line.gtin), line.quantity, line.unit_price) for line in lines]],
    )
    return keccak(encoded)


@dataclass(frozen=True, slots=True)
class Quote:
    """A supplier's binding offer, in the exact shape of the Solidity struct."""

    supplier: str
    buyer: str
    token: str
    amount: int
    items_hash: bytes
    deliver_by: int
    expiry: int
    nonce: int

    def as_message(self) -> dict[str, Any]:
        return {
            "supplier": to_checksum_address(self.supplier),
            "buyer": to_checksum_address(self.buyer),
            "token": to_checksum_address(self.token),
            "amount": self.amount,
            "itemsHash": self.items_hash,
            "deliverBy": self.deliver_by,
            "expiry": self.expiry,
            "nonce": self.nonce,
        }

    def to_json(self) -> dict[str, str | int]:
        """A JSON-safe form (bytes as hex) for storing the quote; ``from_json`` reverses it."""
        return {
            "supplier": self.supplier,
            "buyer": self.buyer,
            "token": self.token,
            "amount": self.amount,
            "items_hash": self.items_hash.hex(),
            "deliver_by": self.deliver_by,
            "expiry": self.expiry,
            "nonce": self.nonce,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Quote:
        return cls(
            supplier=str(data["supplier"]),
            buyer=str(data["buyer"]),
            token=str(data["token"]),
            amount=int(data["amount"]),
            items_hash=bytes.fromhex(str(data["items_hash"]).removeprefix("0x")),
            deliver_by=int(data["deliver_by"]),
            expiry=int(data["expiry"]),
            nonce=int(data["nonce"]),
        )

    def as_tuple(self) -> tuple[str, str, str, int, bytes, int, int, int]:
        """The struct as web3 passes it to ``placeOrder``."""
        return (
            to_checksum_address(self.supplier),
            to_checksum_address(self.buyer),
            to_checksum_address(self.token),
            self.amount,
            self.items_hash,
            self.deliver_by,
            self.expiry,
            self.nonce,
        )


def typed_data(quote: Quote, chain_id: int) -> dict[str, Any]:
    """The full EIP-712 message; the verifying contract is the buyer's ProfitCenter."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Quote": QUOTE_FIELDS},
        "primaryType": "Quote",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(quote.buyer),
        },
        "message": quote.as_message(),
    }


def sign_quote(quote: Quote, chain_id: int, private_key: bytes | str) -> bytes:
    """Sign as the supplier; returns the 65-byte ``r || s || v`` signature."""
    signed = Account.sign_typed_data(private_key, full_message=typed_data(quote, chain_id))
    return bytes(signed.signature)


def recover_signer(quote: Quote, chain_id: int, signature: bytes) -> str:
    """The address that signed ``quote``; rejects malleable (high-s) signatures.

    Raises ``ValueError`` for a signature that is not 65 bytes or has a high s.
    """
    if len(signature) != 65:
        raise ValueError(f"signature must be 65 bytes, got {len(signature)}")
    if int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N:
        raise ValueError("signature has a high s value (malleable)")
    message = encode_typed_data(full_message=typed_data(quote, chain_id))
    return str(Account.recover_message(message, signature=signature))
