"""The wire models refuse what does not fit custobot/2 and carry a verifiable quote."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account import Account
from pydantic import ValidationError

from contracts.quote import recover_signer
from supplier.protocol import (
    MAX_BODY_BYTES,
    MAX_ITEMS,
    MAX_QUANTITY,
    MAX_ROUNDS,
    Counter,
    Decline,
    Offer,
    Rfq,
    counter_key,
    counter_lock,
    key_opens,
    offer_lines,
    parse_answer,
    sign_offer,
)
from tests.supplier.conftest import COLA, SODA, TOKEN, key, rfq_body

BUYER = "0x000000000000000000000000000000000000bEEF"


def signed(**overrides: Any) -> Offer:
    fields: dict[str, Any] = {
        "private_key": Account.create().key,
        "rfq_id": "r" * 16,
        "round": 0,
        "final": False,
        "chain_id": 31337,
        "buyer": BUYER,
        "token": TOKEN,
        "lines": offer_lines([(SODA, 12, 500_000), (COLA, 24, 400_000)]),
        "deliver_by": 2_000_000_000,
        "expiry": 1_900_000_000,
        "nonce": 7,
    }
    fields.update(overrides)
    return sign_offer(**fields)


def test_valid_rfq_parses_and_checksums_lowercase_addresses() -> None:
    rfq = Rfq.model_validate(rfq_body(buyer=BUYER.lower(), token=TOKEN.lower()))
    assert rfq.buyer == BUYER
    assert rfq.token == TOKEN
    assert rfq.machine_customer is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("machine_customer", False),
        ("machine_customer", 1),
        ("machine_customer", "true"),
        ("buyer", "0x000000000000000000000000000000000000BEEF"),  # wrong checksum
        ("buyer", "0x1234"),
        ("token", "not an address"),
        ("chain_id", 0),
        ("rfq_id", "short"),
        ("rfq_id", "x" * 65),
        ("rfq_id", "../../etc/passwd-xxxxx"),
        ("items", []),
        ("items", [{"gtin": COLA, "quantity": i + 1} for i in range(MAX_ITEMS + 1)]),
        ("items", [{"gtin": "1234567", "quantity": 1}]),
        ("items", [{"gtin": "123456789012345", "quantity": 1}]),
        ("items", [{"gtin": "1234567a", "quantity": 1}]),
        ("items", [{"gtin": COLA, "quantity": 0}]),
        ("items", [{"gtin": COLA, "quantity": MAX_QUANTITY + 1}]),
        ("items", [{"gtin": COLA, "quantity": 1}, {"gtin": COLA, "quantity": 2}]),
        # the same GTIN zero-padded is the same item (the quote hashes its value)
        ("items", [{"gtin": "12345678", "quantity": 1}, {"gtin": "0012345678", "quantity": 1}]),
        ("items", [{"gtin": COLA, "quantity": 1.5}]),
        ("items", [{"gtin": COLA, "quantity": "24"}]),
        ("items", [{"gtin": COLA, "quantity": True}]),
        ("deliver_by", -1),
        ("deliver_by", 2**32),
        ("target_price", -5),
        ("target_price", 10**28),
        ("protocol", "custobot/1"),
        ("counter_lock", "0x1234"),
        ("surprise", 1),
    ],
)
def test_rfq_out_of_protocol_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Rfq.model_validate(rfq_body(**{field: value}))


def test_rfq_without_machine_customer_is_refused() -> None:
    body = rfq_body()
    del body["machine_customer"]
    with pytest.raises(ValidationError):
        Rfq.model_validate(body)


def test_money_is_serialized_as_json_integers() -> None:
    big = 10**28 - 1
    rfq = Rfq.model_validate(rfq_body(target_price=big))
    assert f'"target_price":{big}' in rfq.model_dump_json()
    with pytest.raises(ValidationError):
        Rfq.model_validate(rfq_body(target_price=str(big)))


@pytest.mark.parametrize("round_", [-1, MAX_ROUNDS])
def test_counter_round_is_bounded(round_: int) -> None:
    with pytest.raises(ValidationError):
        Counter(round=round_, price=1, counter_key=key(0))


def test_signed_offer_round_trips_and_recovers_to_its_signer() -> None:
    account = Account.create()
    offer = signed(private_key=account.key)
    parsed = parse_answer(offer.model_dump_json())
    assert parsed == offer
    assert isinstance(parsed, Offer)
    assert parsed.signer() == account.address
    assert recover_signer(parsed.to_quote(), 31337, parsed.signature_bytes()) == account.address
    assert parsed.amount == 12 * 500_000 + 24 * 400_000
    assert [line.gtin for line in parsed.lines] == [SODA, COLA]  # by GTIN value


def test_signature_does_not_recover_on_another_chain() -> None:
    account = Account.create()
    offer = signed(private_key=account.key)
    assert recover_signer(offer.to_quote(), 1, offer.signature_bytes()) != account.address


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 1),  # not the sum of the lines
        ("items_hash", "0x" + "00" * 32),  # not the hash of the lines
        ("lines", [{"gtin": COLA, "quantity": 24, "unit_price": 1}]),  # lines swapped under hash
        ("signature", "0x1234"),
        ("round", MAX_ROUNDS),
        ("kind", "offerx"),
    ],
)
def test_inconsistent_offer_is_refused(field: str, value: object) -> None:
    body = signed().model_dump(mode="json")
    body[field] = value
    with pytest.raises(ValidationError):
        parse_answer(json.dumps(body))


def test_unordered_offer_lines_are_refused() -> None:
    body = signed().model_dump(mode="json")
    body["lines"] = list(reversed(body["lines"]))
    with pytest.raises(ValidationError, match="ordered by GTIN"):
        Offer.model_validate(body)


def test_decline_parses_with_its_reason() -> None:
    decline = Decline(rfq_id="r" * 16, reason="out_of_stock", message="none left", gtin=COLA)
    parsed = parse_answer(decline.model_dump_json())
    assert isinstance(parsed, Decline)
    assert parsed.reason == "out_of_stock"


def test_oversized_answer_is_refused_unread() -> None:
    with pytest.raises(ValueError, match="larger than"):
        parse_answer(b" " * (MAX_BODY_BYTES + 1))


def test_a_counter_key_opens_its_own_round_only() -> None:
    """The hash chain: round r's key opens round r; seen on the wire, it forges no later round."""
    secret = bytes(range(32))
    lock = counter_lock(secret)
    for round_ in range(MAX_ROUNDS):
        sent = counter_key(secret, round_)
        assert key_opens(lock, sent, round_)
        assert not any(key_opens(lock, sent, other) for other in range(round_ + 1, MAX_ROUNDS))
    assert not key_opens(lock, counter_key(bytes(32), 0), 0)  # another buyer's secret
    assert not key_opens(lock, counter_key(secret, 0), MAX_ROUNDS)
