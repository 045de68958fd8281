"""A negotiation told in plain words: what the machine asked, what it was offered, why
the winner won. The transcript's numbers (utility, urgency) stay in the page's details."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dashboard.formatting import duration, money_label, utc
from dashboard.view import OrderLine
from device.negotiation.transcript import EventKind, Reason, SupplierStatus, Transcript

# Why an offer was refused or a supplier stopped, in an owner's words.
REASONS: dict[Reason, str] = {
    Reason.BAD_SIGNATURE: "its signature did not check out",
    Reason.WRONG_SIGNER: "it was signed by an unknown key",
    Reason.WRONG_SUPPLIER: "it would pay someone else",
    Reason.WRONG_BUYER: "it was made out to another machine",
    Reason.WRONG_CHAIN: "it was for another blockchain",
    Reason.WRONG_TOKEN: "it asked for another currency",
    Reason.ITEMS_MISMATCH: "it offered other items than asked",
    Reason.ITEMS_HASH_MISMATCH: "its item list did not match its signature",
    Reason.AMOUNT_MISMATCH: "its total did not add up",
    Reason.EXPIRED: "it had expired",
    Reason.DELIVERY_OUTSIDE_WINDOW: "it could not deliver in time",
    Reason.OVER_RESERVATION: "it was above the most we would pay",
    Reason.PRICE_RAISED: "it raised its price",
    Reason.SIGNER_CHANGED: "it changed its signing key",
    Reason.MALFORMED: "its answer could not be read",
    Reason.TOO_LARGE: "its answer was too large",
    Reason.TIMEOUT: "it did not answer in time",
    Reason.UNREACHABLE: "it could not be reached",
    Reason.HTTP_ERROR: "its server answered with an error",
    Reason.REPLAYED_QUOTE: "it repeated an old offer",
    Reason.WRONG_RFQ: "it answered another request",
    Reason.FAULT: "its answer caused an error",
}
_STATUS: dict[SupplierStatus, str] = {
    SupplierStatus.WON: "won",
    SupplierStatus.OUTBID: "asked more",
    SupplierStatus.OVER_RESERVATION: "asked more than we would pay",
    SupplierStatus.DECLINED: "declined",
    SupplierStatus.REFUSED: "was refused",
    SupplierStatus.NO_OFFER: "made no offer",
}


@dataclass(frozen=True, slots=True)
class Story:
    asked: str
    steps: list[str]
    why: str
    others: list[str]


def reason_words(reason: Reason | None) -> str:
    return REASONS.get(reason, reason.value.replace("_", " ")) if reason else ""


def story(t: Transcript, lines: Sequence[OrderLine], decimals: int) -> Story:
    """The transcript as sentences; money with its currency, times as dates and hours."""

    def cash(amount: int | None) -> str:
        return money_label(amount, decimals) if amount is not None else "no price"

    suppliers = sorted({e.supplier for e in t.events if e.kind is EventKind.RFQ})
    items = ", ".join(x.bought for x in lines) or "the items the machine needs"
    asked = (
        f"We asked {len(suppliers) or 'the'} supplier{'s' if len(suppliers) != 1 else ''} "
        f"for {items}, delivered by {utc(t.deliver_by)}, paying at most {cash(t.reservation)}."
    )
    steps = []
    for e in t.events:
        when = f" for delivery by {utc(e.deliver_by)}" if e.deliver_by else ""
        if e.kind is EventKind.OFFER:
            steps.append(f"{e.supplier} offered {cash(e.amount)}{when}.")
        elif e.kind is EventKind.COUNTER:
            steps.append(f"We asked {e.supplier} to come down to {cash(e.amount)}.")
        elif e.kind is EventKind.ACCEPT:
            steps.append(f"We accepted {e.supplier}'s offer of {cash(e.amount)}.")
        elif e.kind is EventKind.DECLINE:
            steps.append(f"{e.supplier} declined{_because(e.reason)}.")
        elif e.kind is EventKind.REJECTION:
            steps.append(f"We turned down {e.supplier}'s offer{_because(e.reason)}.")
    d = t.decision
    if d.winner is None or d.amount is None:
        why = (
            f"No supplier offered a deal at or below {cash(t.reservation)}, so nothing was bought."
        )
    else:
        saved = t.reservation - d.amount
        why = (
            f"{d.winner} won with {cash(d.amount)}"
            + (f", {cash(saved)} under the most we would pay" if saved > 0 else "")
            + (f", delivering by {utc(d.deliver_by)}" if d.deliver_by else "")
            + ": the best mix of price, delivery time and reliability on offer."
        )
    others = [
        f"{s.supplier} {_STATUS[s.status]}"
        + (f" ({cash(s.amount)})" if s.amount is not None else "")
        + (f": {reason_words(s.reason)}" if s.reason else "")
        for s in d.standings
        if s.supplier != d.winner
    ]
    return Story(asked=asked, steps=steps, why=why, others=others)


def _because(reason: Reason | None) -> str:
    return f": {reason_words(reason)}" if reason else ""


_SECONDS = re.compile(r"\b(\d+) ?s\b")
_MONEY = re.compile(
    r"\b(beat|raised from|reservation|limit|sum to|says|price|amount|paid|budget left|below the)"
    r" (\d{4,})(?![.,\d])"
)
_UNIX = re.compile(r"\b(1[6-9]\d{8})\b")


def plain_detail(text: str, decimals: int) -> str:
    """A transcript's note (or an alert from the buying loop) with its numbers as people
    read them: seconds as hours or days, base units as money with the currency, unix
    times as dates."""
    text = _SECONDS.sub(lambda m: duration(int(m.group(1))), text)
    text = _MONEY.sub(lambda m: f"{m.group(1)} {money_label(int(m.group(2)), decimals)}", text)
    return _UNIX.sub(lambda m: utc(int(m.group(1))), text)
