"""The taxi buys its upkeep (charging, cleaning, maintenance) through the market, on the
vending machine's core: one purchase path for all three.

A seller is the reference supplier app configured (not forked) with one product for its
site and time window: energy in Wh, a cabin cleaning, maintenance tasks. The taxi forms a
need from its own CAN signals, negotiates with every seller of the site at once with the
vending :class:`Buyer` inside the budget and per-order cap the contract allows, places
the won signed quote through the same :class:`Procurement` outbox (one order per need
key, so a restart never places a second), and pays for what its own signals saw happen:
all of it, pro rata, or nothing, which the core's reconcile then disputes on-chain when
the seller claims delivery. Autonomy and approvals are the contract's, as for vending.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from sqlmodel import Session

from device.errors import CustobotError
from device.negotiation.buyer import Buyer, NegotiationResult
from device.negotiation.need import Need, NeedItem, SupplierRef
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.delivery import DeliveryMatch
from device.procurement.models import PurchaseOrder
from supplier.settings import CatalogEntry, SupplierSettings

log = structlog.get_logger()
UPKEEP_SLOT = 0
"""Upkeep goes into the vehicle, not a slot; the order lines need one, so it is 0."""


class UpkeepKind(StrEnum):
    CHARGING = "charging"
    CLEANING = "cleaning"
    MAINTENANCE = "maintenance"


class WrongUpkeepQuoteError(CustobotError):
    """A seller's quote is not for the site, product or window the taxi asked for."""


@dataclass(frozen=True, slots=True)
class Window:
    """When the taxi can be at the site (unix seconds, end exclusive)."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Provider:
    """A seller as the taxi knows it: what it sells (``kind``, the site's ``product``
    id) and where its ``custobot/2`` desk answers."""

    kind: UpkeepKind
    site: str
    product: str
    ref: SupplierRef


@dataclass(frozen=True, slots=True)
class UpkeepNeed:
    """What to buy: ``quantity`` of the site's ``product`` within ``window``, for at most
    ``reservation`` base units in all."""

    kind: UpkeepKind
    site: str
    product: str
    quantity: int
    window: Window
    reservation: int

    @property
    def key(self) -> str:
        """The same need (kind, site, window) always has this key: one order for it."""
        return f"{self.kind.value}:{self.site}:{self.window.start}"


def provider_settings(
    name: str,
    *,
    item: str,
    product: str,
    unit: str,
    price: tuple[int, int],
    stock: int,
    chain_id: int,
    token: str,
    folder: Path,
    strategy: Mapping[str, Any],
    max_rounds: int = 6,
) -> SupplierSettings:
    """The reference supplier configured as an upkeep seller: one product (``price`` is
    (list, floor) per ``unit``, in base units)."""
    return SupplierSettings.model_validate(
        {
            "name": name,
            "keystore": folder / f"{name}.key.json",
            "database": folder / f"{name}.db",
            "tokens": [{"chain_id": chain_id, "address": token, "decimals": 6}],
            "items": [
                CatalogEntry(
                    gtin=product,
                    name=item,
                    unit=unit,
                    list_price=price[0],
                    floor_price=price[1],
                    lead_time_seconds=0,
                    stock=stock,
                )
            ],
            "strategy": dict(strategy),
            "max_rounds": max_rounds,
        }
    )


class Upkeep:
    """The taxi's upkeep buyer: negotiation, placing and paying all go through the core."""

    def __init__(self, procurement: Procurement, buyer: Buyer, chain: ChainContext) -> None:
        self.procurement = procurement
        self.buyer = buyer
        self.chain = chain

    def buy(
        self, now: datetime, need: UpkeepNeed, providers: Sequence[Provider]
    ) -> PurchaseOrder | None:
        """The order for ``need``: the one already placed, else a new one if a seller
        makes a deal within the budget, else ``None``."""
        if (placed := self.procurement.ordered(need.key)) is not None:
            return placed
        return self.place(now, need, self.negotiate(now, need, providers))

    def negotiate(
        self, now: datetime, need: UpkeepNeed, providers: Sequence[Provider]
    ) -> NegotiationResult | None:
        """RFQs to every seller of the need's kind and site at once, as the vending
        buyer does, never for more than the contract would let it pay (``None``: no
        seller there, or no budget left)."""
        refs = [p.ref for p in providers if p.kind is need.kind and p.site == need.site]
        limit = self.procurement.spend_limit(now, need.reservation, f"{need.kind} at {need.site}")
        if limit <= 0 or not refs:
            log.info("upkeep_not_asked", need=need.key, sellers=len(refs), limit=limit)
            return None
        wanted = Need(
            items=[NeedItem(gtin=need.product, quantity=need.quantity)],
            deliver_by=need.window.end,
            reservation=limit,
            urgency=0.5,
            chain_id=self.chain.chain_id,
            profit_center=self.chain.profit_center,
            token=self.chain.token,
            token_decimals=self.chain.token_decimals,
        )
        return asyncio.run(self.buyer.negotiate(wanted, refs, used=self.procurement.quote_used))

    def place(
        self, now: datetime, need: UpkeepNeed, result: NegotiationResult | None
    ) -> PurchaseOrder | None:
        """The won quote on-chain via the outbox; a quote for another site, product or
        window is refused before anything is written."""
        if result is None or result.offer is None or result.supplier is None:
            log.info("upkeep_no_deal", need=need.key)
            return None
        check_quote(need, result)
        return self.procurement.place_quote(
            now, need.key, need.reservation, result, {need.product: UPKEEP_SLOT}
        )

    def confirm(
        self, now: datetime, order: PurchaseOrder, seen: int, session: Session | None = None
    ) -> DeliveryMatch | None:
        """Pay for the ``seen`` units the vehicle's own signals counted: in full, pro
        rata, or nothing (the reconcile then disputes a claimed delivery). A repeat
        pays nothing more (one confirm intent per order). With ``session`` the payment
        joins the caller's transaction."""
        if session is None:
            with self.procurement.store.write() as own:
                return self.confirm(now, order, seen, own)
        product = str(json.loads(order.lines)[0]["gtin"])
        matches = self.procurement.record_items(
            session, now, {product: max(seen, 0)}, [order.order_id]
        )
        log.info("upkeep_counted", order=order.order_id, need=order.need_key, units=seen)
        return matches[0] if matches else None


def check_quote(need: UpkeepNeed, result: NegotiationResult) -> None:
    """Refuse a won quote that sells another site's product or another window."""
    assert result.offer is not None
    products = {line.gtin for line in result.offer.lines}
    if products != {need.product}:
        raise WrongUpkeepQuoteError(
            f"quote from {result.supplier.name if result.supplier else '?'} sells "
            f"{sorted(products)}, not site {need.site}'s {need.kind} ({need.product})"
        )
    if result.offer.deliver_by != need.window.end:
        raise WrongUpkeepQuoteError(
            f"quote delivers by {result.offer.deliver_by}, not the window "
            f"[{need.window.start}, {need.window.end}) at {need.site}"
        )
