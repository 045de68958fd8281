"""Every way a signed quote can differ from what the buyer asked is refused with its reason."""

from __future__ import annotations

import dataclasses
import time

import pytest
from eth_account import Account

from contracts.quote import SECP256K1_HALF_N, ItemLine, Quote, items_hash, sign_quote
from device.negotiation import Need, Reason, check_quote
from tests.device.negotiation.conftest import CHAIN_ID, CHIPS, COLA, make_need

NOW = int(time.time())
KEY = Account.create().key
SUPPLIER = Account.from_key(KEY).address
OTHER = "0x000000000000000000000000000000000000dEaD"


def honest_lines() -> list[ItemLine]:
    return [ItemLine(CHIPS, 24, 500_000), ItemLine(COLA, 48, 400_000)]


def quote_for(need: Need, lines: list[ItemLine], **changes: object) -> Quote:
    quote = Quote(
        supplier=SUPPLIER,
        buyer=need.profit_center,
        token=need.token,
        amount=sum(line.quantity * line.unit_price for line in lines),
        items_hash=items_hash(lines),
        deliver_by=NOW + 86400,
        expiry=NOW + 300,
        nonce=7,
    )
    return dataclasses.replace(quote, **changes)  # type: ignore[arg-type]


def check(
    need: Need,
    quote: Quote,
    lines: list[ItemLine],
    *,
    signature: bytes | None = None,
    chain_id: int = CHAIN_ID,
    sign_chain: int = CHAIN_ID,
    key: bytes = KEY,
) -> Reason | None:
    sig = sign_quote(quote, sign_chain, key) if signature is None else signature
    refusal = check_quote(
        need, SUPPLIER, quote, sig, lines, chain_id=chain_id, now=NOW, min_validity_s=30
    )
    return None if refusal is None else refusal.reason


def test_the_honest_quote_passes() -> None:
    need = make_need()
    assert check(need, quote_for(need, honest_lines()), honest_lines()) is None


def test_signature_of_another_key_is_wrong_signer() -> None:
    need = make_need()
    other_key = Account.create().key
    assert (
        check(need, quote_for(need, honest_lines()), honest_lines(), key=other_key)
        is Reason.WRONG_SIGNER
    )


@pytest.mark.parametrize("mangle", ["short", "high_s", "garbage_v"])
def test_malformed_signature_is_bad_signature(mangle: str) -> None:
    need = make_need()
    quote = quote_for(need, honest_lines())
    sig = sign_quote(quote, CHAIN_ID, KEY)
    if mangle == "short":
        sig = sig[:64]
    elif mangle == "high_s":
        s = int.from_bytes(sig[32:64], "big")
        high = 2 * SECP256K1_HALF_N + 1 - s
        sig = sig[:32] + high.to_bytes(32, "big") + bytes([sig[64] ^ 1])
    else:
        sig = sig[:64] + b"\x05"
    assert check(need, quote, honest_lines(), signature=sig) is Reason.BAD_SIGNATURE


def test_quote_signed_for_another_chain() -> None:
    need = make_need()
    quote = quote_for(need, honest_lines())
    assert check(need, quote, honest_lines(), chain_id=5, sign_chain=5) is Reason.WRONG_CHAIN
    # Claiming our chain while signing for another one recovers to a stranger.
    assert check(need, quote, honest_lines(), sign_chain=5) is Reason.WRONG_SIGNER


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"supplier": OTHER}, Reason.WRONG_SUPPLIER),
        ({"buyer": OTHER}, Reason.WRONG_BUYER),
        ({"token": OTHER}, Reason.WRONG_TOKEN),
        ({"expiry": NOW - 1}, Reason.EXPIRED),
        ({"expiry": NOW + 10}, Reason.EXPIRED),  # valid, but not long enough to place it
        ({"deliver_by": NOW + 30 * 86400}, Reason.DELIVERY_OUTSIDE_WINDOW),
        ({"deliver_by": NOW - 60}, Reason.DELIVERY_OUTSIDE_WINDOW),
        ({"items_hash": b"\x11" * 32}, Reason.ITEMS_HASH_MISMATCH),
        ({"amount": 1}, Reason.AMOUNT_MISMATCH),
    ],
)
def test_a_correctly_signed_quote_for_something_else_is_refused(
    changes: dict[str, object], reason: Reason
) -> None:
    need = make_need()
    quote = quote_for(need, honest_lines(), **changes)
    assert check(need, quote, honest_lines()) is reason


@pytest.mark.parametrize(
    "lines",
    [
        [ItemLine(CHIPS, 24, 500_000)],  # a line missing
        [ItemLine(CHIPS, 24, 500_000), ItemLine(COLA, 47, 400_000)],  # wrong quantity
        [ItemLine(CHIPS, 48, 500_000), ItemLine(COLA, 24, 400_000)],  # quantities swapped
        [ItemLine(CHIPS, 24, 500_000), ItemLine("05449000000002", 48, 400_000)],  # other item
        [*honest_lines(), ItemLine("05449000000002", 1, 1)],  # an extra item
    ],
)
def test_other_items_are_refused_even_when_hash_and_amount_agree(lines: list[ItemLine]) -> None:
    need = make_need()
    assert check(need, quote_for(need, lines), lines) is Reason.ITEMS_MISMATCH
