"""Prices and negotiation strategies of the reference supplier.

The price book turns an RFQ into a *priced order*: per line, the list unit
price after volume discounts and the private floor unit price. A strategy then
picks the total to offer in each round, between the floor total and the list
total, and :func:`split_total` spreads that total over the lines without ever
going below a line's floor. All money is integer base units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from supplier.protocol import Catalog, CatalogItem, DeclineReason, OfferLine, RfqLine, gtin_key
from supplier.settings import (
    BoulwareStrategyConfig,
    CatalogEntry,
    ConcederStrategyConfig,
    FixedStrategyConfig,
    StrategyConfig,
    TitForTatStrategyConfig,
)

BP = 10_000


@dataclass(frozen=True, slots=True)
class PricedLine:
    gtin: str
    quantity: int
    list_unit: int
    floor_unit: int


@dataclass(frozen=True, slots=True)
class PricedOrder:
    """An RFQ the supplier can serve, ordered by GTIN value as offers are."""

    lines: tuple[PricedLine, ...]

    @property
    def list_total(self) -> int:
        return sum(line.list_unit * line.quantity for line in self.lines)

    @property
    def floor_total(self) -> int:
        return sum(line.floor_unit * line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an RFQ cannot be served at all (before any price is discussed)."""

    reason: DeclineReason
    message: str
    gtin: str | None = None


class PriceBook:
    """The catalog with prices, stock and lead times, keyed by GTIN value."""

    def __init__(self, entries: Sequence[CatalogEntry]) -> None:
        self._entries = {gtin_key(e.gtin): e for e in entries}

    def catalog(self, supplier: str) -> Catalog:
        items = [
            CatalogItem(
                gtin=e.gtin,
                name=e.name,
                unit=e.unit,
                list_price=e.list_price,
                min_quantity=e.min_quantity,
                lead_time_seconds=e.lead_time_seconds,
            )
            for e in sorted(self._entries.values(), key=lambda e: gtin_key(e.gtin))
        ]
        return Catalog(supplier=supplier, items=items)

    def price(
        self,
        items: Sequence[RfqLine],
        *,
        deliver_by: int,
        now: int,
        committed: dict[int, int] | None = None,
    ) -> PricedOrder | Refusal:
        """Price ``items`` or say why not; ``committed`` is stock already sold per GTIN value."""
        committed = committed or {}
        lines: list[PricedLine] = []
        for item in sorted(items, key=lambda i: gtin_key(i.gtin)):
            entry = self._entries.get(gtin_key(item.gtin))
            if entry is None:
                return Refusal(DeclineReason.UNKNOWN_ITEM, "not in our catalog", item.gtin)
            if item.quantity < entry.min_quantity:
                return Refusal(
                    DeclineReason.BELOW_MIN_QUANTITY,
                    f"minimum quantity is {entry.min_quantity}",
                    item.gtin,
                )
            available = entry.stock - committed.get(gtin_key(entry.gtin), 0)
            if item.quantity > available:
                return Refusal(
                    DeclineReason.OUT_OF_STOCK, f"only {max(available, 0)} available", item.gtin
                )
            if now + entry.lead_time_seconds > deliver_by:
                return Refusal(
                    DeclineReason.LEAD_TIME,
                    f"lead time is {entry.lead_time_seconds} s; earliest delivery "
                    f"{now + entry.lead_time_seconds}",
                    item.gtin,
                )
            lines.append(
                PricedLine(
                    gtin=item.gtin,
                    quantity=item.quantity,
                    list_unit=_discounted(entry, item.quantity),
                    floor_unit=entry.floor_price,
                )
            )
        return PricedOrder(tuple(lines))


def _discounted(entry: CatalogEntry, quantity: int) -> int:
    tiers = [d for d in entry.discounts if d.min_quantity <= quantity]
    if not tiers:
        return entry.list_price
    bp = max(tiers, key=lambda d: d.min_quantity).discount_bp
    return max(entry.floor_price, entry.list_price * (BP - bp) // BP)


def split_total(order: PricedOrder, total: int) -> list[OfferLine]:
    """Unit prices whose sum is as close to ``total`` as integers allow, never above it
    (``split_units``), as the offer's lines."""
    return offer_lines(order, split_units(order, total))


def split_units(order: PricedOrder, total: int) -> list[int]:
    """Each line's unit price for ``total``: as close to it as integers allow, never above.

    Every line gets its floor plus the same fraction of its list-to-floor margin,
    then the remainder is spread greedily; no line leaves ``[floor, list]``, and
    ``total`` outside ``[floor_total, list_total]`` is clamped into it.
    """
    floor, top = order.floor_total, order.list_total
    total = min(max(total, floor), top)
    margin = top - floor
    units = [
        line.floor_unit
        + (0 if margin == 0 else (line.list_unit - line.floor_unit) * (total - floor) // margin)
        for line in order.lines
    ]
    remainder = total - sum(u * line.quantity for u, line in zip(units, order.lines, strict=True))
    for i, line in enumerate(order.lines):
        extra = min(remainder // line.quantity, line.list_unit - units[i])
        units[i] += extra
        remainder -= extra * line.quantity
    return units


def offer_lines(order: PricedOrder, units: Sequence[int]) -> list[OfferLine]:
    """``order``'s lines at ``units`` (from ``split_units``)."""
    # Built without validation: the gtins and quantities come from an order already
    # parsed, and split_units keeps every price within the line's [floor, list].
    return [
        OfferLine.model_construct(gtin=line.gtin, quantity=line.quantity, unit_price=unit)
        for line, unit in zip(order.lines, units, strict=True)
    ]


# -- strategies ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NegotiationState:
    """What a strategy may look at when choosing the next offer.

    ``offers`` are the supplier's earlier totals, ``counters`` the buyer's
    (``counters[i]`` answered ``offers[i]``); ``round`` is the round of the offer
    being made, ``elapsed`` the fraction of the session's time already used.
    """

    round: int
    max_rounds: int
    elapsed: float
    list_total: int
    floor_total: int
    offers: tuple[int, ...]
    counters: tuple[int, ...]
    target_price: int | None

    @property
    def time(self) -> float:
        """Negotiation time in [0, 1]: the later of the round fraction and elapsed time."""
        by_round = 1.0 if self.max_rounds <= 1 else self.round / (self.max_rounds - 1)
        return min(1.0, max(by_round, self.elapsed))


class Strategy(Protocol):
    """Chooses the supplier's next total; the caller clamps it to [floor, previous offer]."""

    name: str

    def propose(self, state: NegotiationState) -> int: ...

    def concedes(self) -> bool:
        """False when the first offer is already the last (take it or leave it)."""
        ...


class FixedPrice:
    """Always list price (after volume discounts)."""

    name = "fixed"

    def propose(self, state: NegotiationState) -> int:
        return state.list_total

    def concedes(self) -> bool:
        return False


class TimeDependent:
    """``floor + (list - floor) * (1 - t**(1/beta))``: Boulware for beta < 1, Conceder for > 1."""

    def __init__(self, beta: float, name: str) -> None:
        self.beta = beta
        self.name = name

    def propose(self, state: NegotiationState) -> int:
        keep = 1.0 - state.time ** (1.0 / self.beta)
        margin = state.list_total - state.floor_total
        return state.floor_total + int(margin * keep)

    def concedes(self) -> bool:
        return True


class TitForTat:
    """Concedes what the buyer conceded last round, times ``mirror``.

    Before the buyer has moved twice, the buyer's opening target (if any) is
    taken as its previous position; without one, it concedes
    ``opening_concession_bp`` of the margin.
    """

    name = "tit_for_tat"

    def __init__(self, mirror: float, opening_concession_bp: int) -> None:
        self.mirror = mirror
        self.opening_concession_bp = opening_concession_bp

    def propose(self, state: NegotiationState) -> int:
        if not state.offers:
            return state.list_total
        previous = state.offers[-1]
        counters = state.counters
        if len(counters) >= 2:
            buyer_move = counters[-1] - counters[-2]
        elif counters and state.target_price is not None:
            buyer_move = counters[-1] - state.target_price
        else:
            margin = state.list_total - state.floor_total
            buyer_move = margin * self.opening_concession_bp // BP
        return previous - int(max(buyer_move, 0) * self.mirror)

    def concedes(self) -> bool:
        return True


def make_strategy(config: StrategyConfig) -> Strategy:
    match config:
        case FixedStrategyConfig():
            return FixedPrice()
        case BoulwareStrategyConfig(beta=beta) | ConcederStrategyConfig(beta=beta):
            return TimeDependent(beta, config.kind)
        case TitForTatStrategyConfig(mirror=mirror, opening_concession_bp=opening):
            return TitForTat(mirror, opening)


def next_total(strategy: Strategy, state: NegotiationState, counter: int | None) -> int:
    """The total to offer this round: the strategy's wish, never below the floor, never
    above the previous offer, and the buyer's counter itself once the wish reaches it."""
    cap = state.offers[-1] if state.offers else state.list_total
    wish = min(strategy.propose(state), cap)
    if counter is not None and counter >= wish:
        wish = min(counter, cap)
    return max(state.floor_total, wish)


def is_final(
    strategy: Strategy,
    state: NegotiationState,
    amount: int,
    counter: int | None,
    *,
    buyer_final: bool = False,
) -> bool:
    """Whether the offer of ``amount`` this round is the supplier's last word: the buyer
    said it will not move, the strategy never concedes, it is the last round, the
    floor is reached, or the offer meets the buyer's counter."""
    return (
        buyer_final
        or not strategy.concedes()
        or state.round >= state.max_rounds - 1
        or amount <= state.floor_total
        or (counter is not None and amount <= counter)
    )
