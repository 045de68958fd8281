"""The taxi buys its own charging through the market, on the vending machine's core.

A charging station is a ``custobot/2`` supplier: the reference supplier app,
configured (not forked) with one energy product for its site and time window,
sold in Wh. The taxi forms a need when its battery is low (kWh to the target
charge, the site's product, the window, a reservation price from time-of-use
prices), negotiates with the stations over HTTP with the same :class:`Buyer`,
places the won signed quote through the same :class:`Procurement` outbox, and
pays for what its own CAN energy counter saw: all of it, pro rata, or nothing
(a station that claims a charge it never gave is disputed by the same
reconcile that disputes a vending supplier).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from device.errors import CustobotError
from device.negotiation.buyer import Buyer, NegotiationResult
from device.negotiation.need import Need, NeedItem, SupplierRef
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.delivery import DeliveryMatch
from device.procurement.models import PurchaseOrder
from device.taxi.vehicle import VehicleSnapshot, charge_needed
from supplier.settings import CatalogEntry, SupplierSettings

log = structlog.get_logger()
ENERGY_SLOT = 0
"""The taxi has one "slot" for energy: the battery."""


class WrongChargeQuoteError(CustobotError):
    """A station's quote is not for the site or the window the taxi asked for."""


@dataclass(frozen=True, slots=True)
class Window:
    """When the taxi can be plugged in at the site (unix seconds, end exclusive)."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Station:
    """A charging station as the taxi knows it: its site, the product id of that
    site's energy, and where its ``custobot/2`` desk answers."""

    site: str
    product: str
    ref: SupplierRef


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Public time-of-use energy prices: base units per kWh for each hour of the day (UTC)."""

    per_kwh: tuple[int, ...]

    def reservation(self, wh: int, window: Window) -> int:
        """The most the taxi pays: the dearest hour of the window, for all of the energy."""
        hours = {
            (t // 3600) % 24 for t in range(window.start, max(window.end, window.start + 1), 3600)
        }
        return max(self.per_kwh[h % len(self.per_kwh)] for h in hours) * wh // 1000


@dataclass(frozen=True, slots=True)
class ChargeNeed:
    """What to buy: ``wh`` of the site's ``product`` within ``window``, for at most ``reservation``."""

    site: str
    product: str
    wh: int
    window: Window
    reservation: int

    @property
    def key(self) -> str:
        return f"charge:{self.site}:{self.window.start}"


def charge_need(
    snapshot: VehicleSnapshot,
    *,
    below_permille: int,
    target_permille: int,
    capacity_wh: int,
    station: Station,
    window: Window,
    tariff: TimeOfUse,
) -> ChargeNeed | None:
    """A need when the battery is low (never on a faulty reading), else ``None``."""
    if not charge_needed(snapshot, below_permille) or snapshot.soc_permille is None:
        return None
    wh = capacity_wh * (target_permille - snapshot.soc_permille) // 1000
    if wh <= 0:
        return None
    return ChargeNeed(station.site, station.product, wh, window, tariff.reservation(wh, window))


def station_settings(
    name: str,
    *,
    site: str,
    product: str,
    window: Window,
    price_per_kwh: tuple[int, int],
    capacity_wh: int,
    chain_id: int,
    token: str,
    folder: Path,
    strategy: Mapping[str, Any],
    max_rounds: int = 6,
) -> SupplierSettings:
    """The reference supplier configured as a charging station: one energy product
    (unit Wh; ``price_per_kwh`` is (list, floor)) for one site and window."""
    return SupplierSettings.model_validate(
        {
            "name": name,
            "keystore": folder / f"{name}.key.json",
            "database": folder / f"{name}.db",
            "tokens": [{"chain_id": chain_id, "address": token, "decimals": 6}],
            "items": [
                CatalogEntry(
                    gtin=product,
                    name=f"Energy at {site}, {window.start}-{window.end}",
                    unit="Wh",
                    list_price=max(price_per_kwh[0] // 1000, 1),
                    floor_price=max(price_per_kwh[1] // 1000, 1),
                    lead_time_seconds=0,
                    stock=capacity_wh,
                )
            ],
            "strategy": dict(strategy),
            "max_rounds": max_rounds,
        }
    )


class Charging:
    """The taxi's energy buyer: negotiation, placing and paying all go through the core."""

    def __init__(self, procurement: Procurement, buyer: Buyer, chain: ChainContext) -> None:
        self.procurement = procurement
        self.buyer = buyer
        self.chain = chain

    def negotiate(self, need: ChargeNeed, stations: Sequence[Station]) -> NegotiationResult:
        """RFQs to every station of the need's site at once, as the vending buyer does."""
        wanted = Need(
            items=[NeedItem(gtin=need.product, quantity=need.wh)],
            deliver_by=need.window.end,
            reservation=need.reservation,
            urgency=0.5,
            chain_id=self.chain.chain_id,
            profit_center=self.chain.profit_center,
            token=self.chain.token,
            token_decimals=self.chain.token_decimals,
        )
        refs = [s.ref for s in stations if s.site == need.site]
        return asyncio.run(self.buyer.negotiate(wanted, refs, used=self.procurement.quote_used))

    def place(
        self, now: datetime, need: ChargeNeed, result: NegotiationResult
    ) -> PurchaseOrder | None:
        """The won quote on-chain via the outbox; a quote for another site or window is
        refused before anything is written."""
        if result.offer is None or result.supplier is None:
            log.info("charge_no_deal", need=need.key)
            return None
        check_charge_quote(need, result)
        return self.procurement.place_quote(
            now, need.key, need.reservation, result, {need.product: ENERGY_SLOT}
        )

    def confirm(
        self, now: datetime, order: PurchaseOrder, counter_before: int, counter_after: int
    ) -> DeliveryMatch | None:
        """Pay for what the CAN energy counter saw between plug-in and unplug: in full,
        pro rata, or nothing (the reconcile then disputes a claimed delivery)."""
        product = next(iter(_products(order)))
        seen = max(counter_after - counter_before, 0)
        with self.procurement.store.write() as session:
            matches = self.procurement.record_items(session, now, {product: seen}, [order.order_id])
        log.info("charge_counted", order=order.order_id, wh=seen)
        return matches[0] if matches else None


def check_charge_quote(need: ChargeNeed, result: NegotiationResult) -> None:
    """Refuse a won quote that sells another site's energy or another window."""
    assert result.offer is not None
    products = {line.gtin for line in result.offer.lines}
    if products != {need.product}:
        raise WrongChargeQuoteError(
            f"quote from {result.supplier.name if result.supplier else '?'} sells "
            f"{sorted(products)}, not site {need.site}'s energy ({need.product})"
        )
    if result.offer.deliver_by != need.window.end:
        raise WrongChargeQuoteError(
            f"quote delivers by {result.offer.deliver_by}, not the window "
            f"[{need.window.start}, {need.window.end}) at {need.site}"
        )


def _products(order: PurchaseOrder) -> list[str]:
    return [str(line["gtin"]) for line in json.loads(order.lines)]
