"""The checks every offer passes before the buyer may accept it.

A quote the ProfitCenter would also reject costs gas and a failed order; a quote
it would accept but that is not what we asked for (other items, another buyer,
later delivery) costs money. Both are refused here, with a reason code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.quote import ItemLine, Quote, items_hash, recover_signer
from device.negotiation.need import Need
from device.negotiation.transcript import Reason


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one offer was refused; ``detail`` is short and safe to log."""

    reason: Reason
    detail: str


def check_quote(
    need: Need,
    signing_address: str,
    quote: Quote,
    signature: bytes,
    lines: Sequence[ItemLine],
    *,
    chain_id: int,
    now: int,
    min_validity_s: int,
) -> Refusal | None:
    """``None`` if the signed quote is exactly what ``need`` asked for; else the first problem.

    ``chain_id`` is the chain the offer says it is for (the signature only
    recovers to the right key on that chain's domain, so a mismatch is named
    before the signature is tried). ``signing_address`` is the supplier's
    advertised key (checksummed); ``now``
    is unix seconds from the caller's clock; the quote must stay valid for
    ``min_validity_s`` more seconds, the time it takes to place it on-chain.
    The amount is *not* compared with the reservation here: an offer above it
    is a normal move in a negotiation, not a fault.
    """
    if chain_id != need.chain_id:
        return Refusal(Reason.WRONG_CHAIN, f"offer is for chain {chain_id}, not {need.chain_id}")
    try:
        signer = recover_signer(quote, need.chain_id, signature)
    except ValueError as exc:
        return Refusal(Reason.BAD_SIGNATURE, str(exc))
    except Exception as exc:  # eth-keys raises its own types for invalid points
        return Refusal(Reason.BAD_SIGNATURE, type(exc).__name__)
    if signer != signing_address:
        return Refusal(Reason.WRONG_SIGNER, f"signed by {signer}, expected {signing_address}")
    if quote.supplier.lower() != signing_address.lower():
        return Refusal(Reason.WRONG_SUPPLIER, f"quote pays {quote.supplier}")
    if quote.buyer.lower() != need.profit_center.lower():
        return Refusal(Reason.WRONG_BUYER, f"quote is for {quote.buyer}")
    if quote.token.lower() != need.token.lower():
        return Refusal(Reason.WRONG_TOKEN, f"quote is in {quote.token}")
    offered = sorted((int(line.gtin), line.quantity) for line in lines)
    if offered != need.wanted():
        return Refusal(Reason.ITEMS_MISMATCH, f"offered {offered}, asked {need.wanted()}")
    if items_hash(list(lines)) != quote.items_hash:
        return Refusal(Reason.ITEMS_HASH_MISMATCH, "itemsHash does not match the lines")
    total = sum(line.quantity * line.unit_price for line in lines)
    if total != quote.amount:
        return Refusal(Reason.AMOUNT_MISMATCH, f"lines sum to {total}, quote says {quote.amount}")
    if quote.expiry < now + min_validity_s:
        return Refusal(Reason.EXPIRED, f"expires at {quote.expiry}, now {now}")
    if not now < quote.deliver_by <= need.deliver_by:
        return Refusal(
            Reason.DELIVERY_OUTSIDE_WINDOW,
            f"delivers by {quote.deliver_by}, window ({now}, {need.deliver_by}]",
        )
    return None
