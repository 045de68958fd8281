"""Restock planner: when to buy, how much, from whom, and the most to pay.

Inputs are per-slot stock (from the stock snapshot), slot config, forecasts,
supplier options and economics; the output is a ``PurchasePlan`` of needs (one
per supplier batch) plus alert-only entries for slots whose sensor is in fault.

Rules (``L`` = effective lead time = ``lead_time_hours / reliability``, the
expected wait including re-orders after a failed delivery; ``R`` =
``review_hours``, the time to the next planning run; ``q`` = service level;
``t_q`` = hours until the stock *position* sells out with probability ``1 - q``;
the position is the count plus units on order, less the units of a perishable
slot expected to expire before they sell, first in, first out):

* WHEN: a slot triggers when ``t_q <= L + R``: waiting for the next run would
  let the stock run out before that run's order could arrive. Its supplier is
  the cheapest that lists the GTIN; if that one cannot deliver before ``t_q``,
  the cheapest that can, else the fastest.
* BATCH: once a supplier has a triggered slot, every other healthy slot it lists
  joins as a top-up if ``t_q <= L + R + topup_hours``: one delivery, several slots.
* HOW MUCH: order up to ``max(par, Q_q(D(L + R)))`` but no more than fits on
  arrival but with probability ``overflow_risk``: ``position + quantity <=
  capacity + Q_risk(D(lead_time_hours))`` (what is sold before the earliest
  delivery frees room), and one unit more while it pays for its risk of not fitting:
  ``(retail - unit_cost) * P(D(lead + credit_hours) > capacity + credit) >=
  unit_cost * P(D(lead) <= credit)`` and ``P(D(lead) > credit) >= credit_fit``
  (it sells if the slot would otherwise run dry before the next delivery; if it does
  not fit it is paid and written off, so it must fit with high probability). When
  the item keeps a few days (``device.vending.planning.fresh``: up to ``FRESH_DAYS`` and a
  small enough slot), at most what the best policy
  orders for the stock by days left it will hold on arrival (expired lots gone,
  ``E[D(L)]`` sold from the oldest, units on order the newest), solved exactly
  over the forecast's days with an order possible every day (but one unit when the
  slot is empty with nothing on order: an empty slot shows no demand, so an estimate
  too low to stock for would never be corrected); with a longer shelf
  life ``SL``, at most ``Q_w(D(L+SL)) - max(position, ceil(E[D(L)]))`` units with
  ``w = 1 - unit_cost / retail`` (newsvendor: a unit is worth buying while the
  chance that it sells before it expires covers its cost), and only while
  ``(retail - unit_cost) * P(D(L + reorder_hours) > n) >= unit_cost * P(D(L+SL) <= n)``
  for the ``n`` units ahead of it (what it sells before a later delivery could bring
  a fresher unit must outweigh its cost if it expires unsold). The owners' waste
  penalty (``waste_penalty`` times the unit cost) is added to the cost of every unit
  thrown away in all three (exact programme, newsvendor, later delivery). A slot that never
  sold anything has no forecast to bound it and is filled to par. The quantity is
  raised to the supplier's minimum when that still fits both bounds, else dropped.
* URGENCY of a line: ``u = clamp((L + R - t_q) / R, 0, 1)``: 1 when the stock runs
  out (at the service level) before the earliest delivery, 0 when it lasts past
  the next run's delivery. A need's urgency is its lines' maximum.
* RESERVATION (max total to pay, base units): sum over lines of
  ``quantity * min(retail, base + floor(u * lost))`` with
  ``base = floor(retail * (1 - target_margin))`` and ``lost = max(0, retail -
  unit_cost)`` the profit lost per unit not sold (``unit_cost``: the estimate from
  ``Economics.unit_costs``, else the cheapest list price). At ``u = 0`` the machine
  only buys at its target margin; as a stockout nears it pays up to what the lost
  sale would have earned, never more than retail.
* DEADLINE: ``now + max(lead_time_hours, min t_q of the triggered lines)``.
* WORTH IT: with ``Economics.order_cost`` set, a batch waits for the next run
  when what waiting loses, sum over triggered lines of ``(E[(D(L + R) -
  position)+] - E[(D(L) - position)+]) * (lost + goodwill)`` (the sales between
  this order's arrival and the next run's; what sells out before either is lost
  anyway), is below the cost of one delivery.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from device.settings import SlotConfig
from device.vending.planning.errors import PlanInputError
from device.vending.planning.forecast import Forecast, build_cdf_rows, hours_until_stockouts
from device.vending.planning.fresh import fresh_problem, solvable

PPM = 1_000_000


class StockReading(Protocol):
    """The fields of ``device.vending.hardware.poller.SlotReading`` the planner reads."""

    @property
    def slot_id(self) -> int: ...
    @property
    def count(self) -> int | None: ...
    @property
    def floor(self) -> int | None: ...
    @property
    def ceiling(self) -> int | None: ...
    @property
    def usable(self) -> bool: ...
    @property
    def fault(self) -> str: ...
    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SlotStock:
    """What the stock snapshot says about one slot, plus units already on order.

    ``count`` is the best estimate of the items in the slot; ``fault`` names a
    sensor fault: then the count is not trusted and the slot only raises an alert.
    ``expiring`` lists the items of a perishable slot as ``(hours until they
    expire, units)``, oldest first (from the delivery dates and the shelf life).
    """

    slot_id: int
    count: int
    fault: str | None = None
    on_order: int = 0
    expiring: tuple[tuple[float, int], ...] = ()

    def __post_init__(self) -> None:
        if self.count < 0 or self.on_order < 0:
            raise PlanInputError(f"slot {self.slot_id}", "count and on_order must be >= 0")
        if any(units < 0 for _, units in self.expiring):
            raise PlanInputError(f"slot {self.slot_id}", "expiring units must be >= 0")

    def expected_waste(self, forecast: Forecast) -> int:
        """Units expected to expire before they sell, first in, first out (none while
        the slot has no demand to judge by: a new slot is not emptied on paper)."""
        if forecast.daily_rate <= 0:
            return 0
        wasted = 0.0
        older = 0
        for hours, units in self.expiring:
            older += units
            wasted += max(0.0, older - wasted - forecast.expected(max(hours, 0.0)))
        return min(self.count, math.floor(wasted + 1e-9))

    def by_days_left(self, life: int, hours: float, forecast: Forecast) -> tuple[int, ...]:
        """Units by whole days left (``1 .. life - 1``) ``hours`` from now: what has
        expired by then is gone, the expected sales before then are taken from the
        oldest first, units on order count as fresh (the newest age)."""
        if life <= 1:
            return ()  # nothing kept overnight: no ages to track
        ages = [0] * (life - 1)
        for left_hours, units in self.expiring or ((life * 24.0, self.count),):
            days = math.ceil((left_hours - hours) / 24 - 1e-9)
            if days >= 1:
                ages[min(days, life - 1) - 1] += units
        ages[-1] += self.on_order
        sold = round(forecast.expected(hours))
        for age, units in enumerate(ages):
            take = min(units, sold)
            ages[age] -= take
            sold -= take
        return tuple(ages)

    @classmethod
    def from_reading(
        cls, reading: StockReading, on_order: int = 0, estimate: int | None = None
    ) -> SlotStock:
        """From a hardware reading: a count as is; a bound (switch) as ``estimate``
        (e.g. last recount minus sales) clamped into it, else its floor; an unusable
        reading as a fault."""
        if not reading.usable:
            why = reading.fault if reading.fault != "ok" else "no usable reading"
            return cls(reading.slot_id, 0, f"{why}: {reading.detail}", on_order)
        if reading.count is not None:
            return cls(reading.slot_id, reading.count, None, on_order)
        low = reading.floor or 0
        if estimate is None:
            return cls(reading.slot_id, low, None, on_order)
        high = reading.ceiling if reading.ceiling is not None else max(low, estimate)
        return cls(reading.slot_id, min(max(estimate, low), high), None, on_order)


def expiring_lots(
    arrivals: Sequence[tuple[datetime, int]],
    count: int,
    shelf_life_days: int,
    now: datetime,
    since: datetime,
) -> tuple[tuple[float, int], ...]:
    """``SlotStock.expiring`` from the slot's arrivals since ``since`` (oldest first):
    sold first in, first out, the ``count`` items left are the newest; any older
    than the arrivals known came before ``since`` and expire by ``since + life``."""
    life = timedelta(days=shelf_life_days)
    lots: list[tuple[float, int]] = []
    left = count
    for when, units in reversed(arrivals):
        if left <= 0:
            break
        take = min(units, left)
        lots.append(((when + life - now).total_seconds() / 3600, take))
        left -= take
    if left > 0:
        lots.append((max((since + life - now).total_seconds() / 3600, 0.0), left))
    return tuple(reversed(lots))


@dataclass(frozen=True, slots=True)
class SupplierOption:
    """One supplier as the planner sees it: list prices (base units per unit) by GTIN."""

    name: str
    lead_time_hours: float
    prices: Mapping[str, int]
    reliability: float = 1.0
    min_quantities: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"supplier {self.name}"
        if not self.lead_time_hours > 0:
            raise PlanInputError(where, "lead_time_hours must be positive")
        if not 0 < self.reliability <= 1:
            raise PlanInputError(where, "reliability must be in (0, 1]")
        for gtin, price in self.prices.items():
            if not isinstance(price, int) or price < 0:
                raise PlanInputError(where, f"price of {gtin} must be an int >= 0 (base units)")
        for gtin, minimum in self.min_quantities.items():
            if not isinstance(minimum, int) or minimum < 1:
                raise PlanInputError(where, f"minimum quantity of {gtin} must be an int >= 1")

    @property
    def effective_lead_hours(self) -> float:
        """Expected wait for a delivery when a failed one is re-ordered: ``lead / reliability``."""
        return self.lead_time_hours / self.reliability


@dataclass(frozen=True, slots=True)
class Economics:
    """Money side of the decision, in base units except the margin (parts per million).

    ``unit_costs``: estimated cost per GTIN (default: the cheapest list price);
    ``order_cost``: fixed cost of one delivery (fee + gas), weighed against the
    profit that waiting for the next run would lose; ``goodwill_ppm``: what a
    customer who finds the slot empty costs beyond the lost margin (share of the
    retail price): they may not come back.
    """

    target_margin_ppm: int = 300_000
    unit_costs: Mapping[str, int] = field(default_factory=dict)
    order_cost: int = 0
    goodwill_ppm: int = 500_000

    def goodwill(self, retail_price: int) -> int:
        return retail_price * self.goodwill_ppm // PPM

    def __post_init__(self) -> None:
        if not 0 <= self.target_margin_ppm < PPM:
            raise PlanInputError("economics.target_margin_ppm", "must be in [0, 1_000_000)")
        if not isinstance(self.order_cost, int) or self.order_cost < 0:
            raise PlanInputError("economics.order_cost", "must be an int >= 0 (base units)")
        if any(not isinstance(c, int) or c < 0 for c in self.unit_costs.values()):
            raise PlanInputError("economics.unit_costs", "must be ints >= 0 (base units)")
        if not 0 <= self.goodwill_ppm <= PPM:
            raise PlanInputError("economics.goodwill_ppm", "must be in [0, 1_000_000]")


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """Service level and timing; the defaults are what the simulation benchmark uses."""

    service_level: float = 0.98
    review_hours: float = 24.0
    topup_hours: float = 72.0
    # Tuned on the simulation's training seeds (``custobot simulate --tune agent``):
    # a unit that does not fit on arrival is paid and written off, so an order counts
    # as room only what is sold before the delivery with probability 98%.
    overflow_risk: float = 0.02
    # Beyond that sure room, one unit more is credited while the sale it may bring
    # outweighs its cost when it does not fit: it fits if more than the credit sells
    # before the delivery, and sells if the slot would otherwise run dry within
    # ``credit_hours`` of the delivery (about the time to the next one; 0: off).
    credit_hours: float = 24.0
    # ... and only while it fits with at least this probability (0: no bound beyond
    # that test). Where the forecast's level is unsure (trending, intermittent demand)
    # the sale and the cost are both far in the tails and the test alone credits units
    # that are returned; tuned on the training seeds (``AGENT_GRID``).
    credit_fit: float = 0.9
    # The owners' price on food waste: each unit of a perishable thrown away counts
    # this many times its cost against the plan on top of the cost itself (0: waste
    # costs only what was paid for it, the profit-maximising plan).
    waste_penalty: float = 0.0
    # A perishable unit ordered now is needed only for the sales before a later delivery
    # could bring a fresher one, about this many hours after this one (0: off, the
    # newsvendor alone). Tuned on the training seeds (``AGENT_GRID``).
    reorder_hours: float = 48.0

    def __post_init__(self) -> None:
        if not 0 < self.service_level < 1:
            raise PlanInputError("planner.service_level", "must be in (0, 1)")
        if not 0 < self.overflow_risk < 1:
            raise PlanInputError("planner.overflow_risk", "must be in (0, 1)")
        if self.credit_hours < 0:
            raise PlanInputError("planner.credit_hours", "must be >= 0")
        if not 0 <= self.credit_fit < 1:
            raise PlanInputError("planner.credit_fit", "must be in [0, 1)")
        if self.waste_penalty < 0:
            raise PlanInputError("planner.waste_penalty", "must be >= 0")
        if self.reorder_hours < 0:
            raise PlanInputError("planner.reorder_hours", "must be >= 0")
        if not self.review_hours > 0 or self.topup_hours < 0:
            raise PlanInputError("planner", "review_hours must be > 0 and topup_hours >= 0")


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One slot's part of a need; ``unit_limit`` is the most it is worth per unit."""

    slot_id: int
    gtin: str
    quantity: int
    unit_limit: int
    list_price: int
    urgency: float
    triggered: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RestockNeed:
    """One supplier batch: what to buy, by when, and the most to pay for all of it."""

    supplier: str
    alternatives: tuple[str, ...]
    lines: tuple[PlanLine, ...]
    deliver_by: datetime
    reservation: int
    list_total: int
    urgency: float
    reason: str

    def items(self) -> list[tuple[str, int]]:
        """(GTIN, quantity) pairs, the shape of the negotiation's need items."""
        return [(line.gtin, line.quantity) for line in self.lines]


@dataclass(frozen=True, slots=True)
class SlotAlert:
    """A slot that needs a person, not a purchase (sensor fault, nobody sells it)."""

    slot_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SlotOutlook:
    """Per healthy slot, for the dashboard: how long it lasts and what was decided."""

    slot_id: int
    position: int
    days_to_empty: float
    stockout_hours: float
    decision: str


@dataclass(frozen=True, slots=True)
class PurchasePlan:
    now: datetime
    needs: tuple[RestockNeed, ...]
    alerts: tuple[SlotAlert, ...]
    outlook: tuple[SlotOutlook, ...]


@dataclass(slots=True)
class _Slot:
    config: SlotConfig
    forecast: Forecast
    stock: SlotStock
    position: int
    stockout: float
    carriers: list[SupplierOption]
    supplier: SupplierOption
    triggered: bool
    decision: str = ""


def _fmt_hours(hours: float) -> str:
    if math.isinf(hours):
        return "beyond the forecast horizon"
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _choose_supplier(carriers: list[SupplierOption], gtin: str, stockout: float) -> SupplierOption:
    by_price = sorted(carriers, key=lambda s: (s.prices[gtin], s.effective_lead_hours, s.name))
    in_time = [s for s in by_price if s.effective_lead_hours <= stockout]
    if in_time:
        return in_time[0]
    return min(carriers, key=lambda s: (s.effective_lead_hours, s.prices[gtin], s.name))


def _urgency(slot: _Slot, supplier: SupplierOption, review: float) -> float:
    slack = supplier.effective_lead_hours + review - slot.stockout
    return min(max(slack / review, 0.0), 1.0)


def _credit_horizons(supplier: SupplierOption, cfg: PlannerConfig) -> tuple[float, float]:
    """The hours the credit loop asks about: until the delivery comes, and until a unit
    credited for making room must have sold (``credit_hours`` later)."""
    return supplier.lead_time_hours, supplier.lead_time_hours + cfg.credit_hours


def _shortfall_horizons(supplier: SupplierOption, cfg: PlannerConfig) -> tuple[float, float]:
    """Until a delivery ordered at the next run would come, and until this one comes: the
    sales lost in between are what ordering now saves."""
    lead = supplier.effective_lead_hours
    return lead + cfg.review_hours, lead


def _newsvendor(slot: _Slot) -> bool:
    """A perishable with demand, sized by the newsvendor rule: its exact fresh-goods
    problem is too large to solve at every run."""
    life = slot.config.shelf_life_days
    return (
        life is not None
        and slot.forecast.daily_rate > 0
        and not solvable(slot.config.capacity, life)
    )


def _reorder_horizons(
    supplier: SupplierOption, cfg: PlannerConfig, life: int
) -> tuple[float, float]:
    """Until a unit bought at the next chance could come (``reorder_hours`` after this
    delivery), and until this delivery's units expire."""
    lead = supplier.effective_lead_hours
    return lead + cfg.reorder_hours, lead + life * 24


def _rows_read(
    slot: _Slot, supplier: SupplierOption, cfg: PlannerConfig
) -> list[tuple[int, float]]:
    """``(n, hours)``: the CDF rows ``_quantity``'s credit and reorder loops and ``_need``'s
    shortfalls read for ``slot``, and how far (the credit stays below the position)."""
    if slot.position <= 0:
        return []  # no unit to credit, no stock to fall short of
    rows = []
    if slot.triggered:
        rows += [(slot.position - 1, h) for h in _shortfall_horizons(supplier, cfg)]
    if cfg.credit_hours > 0:
        rows += [
            (slot.config.capacity + slot.position - 1, h) for h in _credit_horizons(supplier, cfg)
        ]
    life = slot.config.shelf_life_days
    if cfg.reorder_hours > 0 and life is not None and _newsvendor(slot):
        # The reorder loop's rows: as far as it usually reaches (a short row is extended).
        far = slot.config.capacity + slot.position
        rows += [(far, h) for h in _reorder_horizons(supplier, cfg, life)]
    return rows


def _quantity(
    slot: _Slot, supplier: SupplierOption, cfg: PlannerConfig, unit_cost: int
) -> tuple[int, str]:
    """Units to order for ``slot`` from ``supplier`` and, when zero, why not."""
    sc, fc, lead = slot.config, slot.forecast, supplier.effective_lead_hours
    protect = fc.quantile(cfg.service_level, lead + cfg.review_hours)
    # Units almost surely sold before the earliest arrival make room for the delivery.
    # (Only what is on the shelf can be sold before then: an empty slot frees no room.)
    credit = min(slot.position, fc.quantile(cfg.overflow_risk, supplier.lead_time_hours))
    if cfg.credit_hours > 0:
        margin = max(sc.retail_price - unit_cost, 0)
        arrives, sells_by = _credit_horizons(supplier, cfg)
        while credit < slot.position:
            missed, kept = fc.cdfs(((credit, arrives), (sc.capacity + credit, sells_by)))
            sells = 1.0 - kept
            if margin * sells < unit_cost * missed or 1.0 - missed < cfg.credit_fit:
                break
            credit += 1
    fits = sc.capacity + credit - slot.position
    room = min(fits, max(sc.par, protect) - slot.position)
    shelf_cap: int | None = None
    life = sc.shelf_life_days
    if life is not None and fc.daily_rate > 0:
        if not _newsvendor(slot):
            # Goods that keep a few days: what the best policy orders for the stock by
            # age it will hold on arrival, solved exactly over the forecast's days.
            days = max(life, int((fc.horizon_hours - lead) // 24))
            on_arrival = slot.stock.by_days_left(life, lead, fc)
            shelf_cap = fc.best_fresh_order(
                fresh_problem(sc.capacity, life),
                lead,
                days,
                (sc.retail_price, unit_cost),
                on_arrival,
                cfg.waste_penalty * unit_cost,
            )
            if shelf_cap == 0 and slot.position <= 0 and slot.stock.on_order == 0:
                # An empty slot shows no demand: without a unit to sell, an estimate
                # too low to stock for is never corrected. One unit probes it.
                shelf_cap = 1
        else:
            # Newsvendor: one more unit is worth buying while the chance that it sells
            # before it expires (first in, first out) is at least cost / retail, or
            # (cost + w) / (retail + w) when each unit thrown away also costs the waste
            # penalty w. (Goodwill is left out here: an expired item at the front also
            # turns customers away.)
            waste = cfg.waste_penalty * unit_cost
            worth = (
                1.0 - min((unit_cost + waste) / (sc.retail_price + waste), 1.0)
                if sc.retail_price
                else 0.0
            )
            first = max(slot.position, math.ceil(fc.expected(lead) - 1e-9))
            sells_by, hours = _reorder_horizons(supplier, cfg, life)
            share = min(max(worth, 0.01), 0.99)
            shelf_cap = fc.quantile(share, hours, at_most=first + max(room, 0) + 1) - first
            if cfg.reorder_hours > 0:
                # Not this delivery's or never: a later delivery can bring a fresher unit.
                # One more now while the sale it brings before that one could arrive
                # outweighs its cost (and the waste penalty) when it expires unsold.
                margin = max(sc.retail_price - unit_cost, 0)
                keep = 0
                while keep < shelf_cap:
                    unsold, expires = fc.cdfs(((first + keep, sells_by), (first + keep, hours)))
                    if margin * (1.0 - unsold) < (unit_cost + waste) * expires:
                        break
                    keep += 1
                shelf_cap = min(shelf_cap, keep)
    limit = room if shelf_cap is None else min(room, shelf_cap)
    minimum = supplier.min_quantities.get(sc.gtin, 1)
    if limit >= minimum:
        return limit, ""
    if limit <= 0 and room <= 0:
        return 0, "stock is already at its target"
    if minimum <= fits and (shelf_cap is None or minimum <= shelf_cap):
        return minimum, ""
    if shelf_cap is not None and shelf_cap < minimum:
        return 0, "shelf life: more would expire unsold"
    return 0, f"{supplier.name}'s minimum of {minimum} does not fit"


def _unit_limit(retail: int, urgency: float, lost: int, margin_ppm: int) -> int:
    base = retail * (PPM - margin_ppm) // PPM
    return min(retail, base + lost * round(urgency * PPM) // PPM)


def plan(
    now: datetime,
    slots: Sequence[SlotConfig],
    stock: Mapping[int, SlotStock],
    forecasts: Mapping[int, Forecast],
    suppliers: Sequence[SupplierOption],
    economics: Economics = Economics(),
    config: PlannerConfig = PlannerConfig(),
) -> PurchasePlan:
    """Decide what to buy now; see the module docstring for the rules."""
    if now.tzinfo is None:
        raise PlanInputError("now", "must be timezone-aware")
    names = [s.name for s in suppliers]
    if len(set(names)) != len(names):
        raise PlanInputError("suppliers", "two suppliers share a name")
    alerts: list[SlotAlert] = []
    usable: list[tuple[SlotConfig, Forecast, SlotStock, int, list[SupplierOption]]] = []
    healthy: list[_Slot] = []
    q = config.service_level
    for sc in slots:
        reading = stock.get(sc.id)
        if reading is None:
            alerts.append(SlotAlert(sc.id, f"{sc.name}: no stock reading; not ordering"))
            continue
        if reading.fault is not None:
            alerts.append(
                SlotAlert(sc.id, f"{sc.name}: sensor fault ({reading.fault}); not ordering on it")
            )
            continue
        fc = forecasts.get(sc.id)
        if fc is None:
            raise PlanInputError(f"slot {sc.id}", "no forecast")
        carriers = [s for s in suppliers if sc.gtin in s.prices]
        if not carriers:
            alerts.append(SlotAlert(sc.id, f"{sc.name}: no supplier lists GTIN {sc.gtin}"))
            continue
        position = reading.count - reading.expected_waste(fc) + reading.on_order
        usable.append((sc, fc, reading, position, carriers))
    # Every slot's stockout at once: their exact CDF windows in one array computation.
    stockouts = hours_until_stockouts([(fc, position, q) for _, fc, _, position, _ in usable])
    for (sc, fc, reading, position, carriers), stockout in zip(usable, stockouts, strict=True):
        supplier = _choose_supplier(carriers, sc.gtin, stockout)
        needed = supplier.effective_lead_hours + config.review_hours
        if math.isinf(stockout) and fc.horizon_hours < needed:
            raise PlanInputError(
                f"slot {sc.id}",
                f"forecast horizon {fc.horizon_hours} h is shorter than lead + review {needed:.0f} h",
            )
        triggered = stockout <= needed
        healthy.append(_Slot(sc, fc, reading, position, stockout, carriers, supplier, triggered))

    batches: dict[str, list[tuple[_Slot, SupplierOption]]] = {}
    for slot in healthy:
        if slot.triggered:
            batches.setdefault(slot.supplier.name, []).append((slot, slot.supplier))
    for slot in healthy:
        if slot.triggered:
            continue
        joinable = [
            s
            for s in slot.carriers
            if s.name in batches
            and slot.stockout <= s.effective_lead_hours + config.review_hours + config.topup_hours
        ]
        if joinable:
            chosen = min(joinable, key=lambda s: (s.prices[slot.config.gtin], s.name))
            batches[chosen.name].append((slot, chosen))
        else:
            slot.decision = f"no order: lasts {_fmt_hours(slot.stockout)} at {q:.0%} service"

    needs = [
        need
        for name in sorted(batches)
        if (need := _need(now, batches[name], suppliers, economics, config)) is not None
    ]
    outlook = tuple(
        SlotOutlook(
            s.config.id, s.position, s.forecast.days_to_empty(s.position), s.stockout, s.decision
        )
        for s in healthy
    )
    return PurchasePlan(now, tuple(needs), tuple(alerts), outlook)


# Sizing once a delivery is worth it: with no holding cost, a delivery that comes
# anyway fills every slot as far as it fits and keeps (fewer, fuller deliveries).
FILL = PlannerConfig(review_hours=96.0, topup_hours=96.0, overflow_risk=0.02)


def plan_restock(
    now: datetime,
    slots: Sequence[SlotConfig],
    stock: Mapping[int, SlotStock],
    forecasts: Mapping[int, Forecast],
    suppliers: Sequence[SupplierOption],
    economics: Economics = Economics(),
    config: PlannerConfig = PlannerConfig(),
    fill: PlannerConfig | None = FILL,
) -> PurchasePlan:
    """What the machine buys: ``plan`` with ``config`` (the real time to the next run)
    decides *whether* to order now; once it does, the order is sized by ``plan`` with
    ``fill`` (None: as ``config`` says)."""
    decided = plan(now, slots, stock, forecasts, suppliers, economics, config)
    if not decided.needs or fill is None:
        return decided
    filled = plan(now, slots, stock, forecasts, suppliers, economics, fill)
    return filled if filled.needs else decided


def _need(
    now: datetime,
    members: list[tuple[_Slot, SupplierOption]],
    suppliers: Sequence[SupplierOption],
    economics: Economics,
    cfg: PlannerConfig,
) -> RestockNeed | None:
    supplier = members[0][1]
    # The CDF rows every member's sizing and shortfalls read, built at once instead of a
    # short row or two at a time (numpy's per-call overhead is most of a row's cost).
    build_cdf_rows(
        (slot.forecast, n, hours)
        for slot, _ in members
        for n, hours in _rows_read(slot, supplier, cfg)
    )
    lines: list[PlanLine] = []
    at_risk = 0  # profit lost if this batch waits for the next run (base units)
    for slot, _ in members:
        sc = slot.config
        unit_cost = economics.unit_costs.get(sc.gtin, min(s.prices[sc.gtin] for s in slot.carriers))
        quantity, why_not = _quantity(slot, supplier, cfg, unit_cost)
        if quantity == 0:
            slot.decision = f"no order: {why_not}"
            continue
        urgency = _urgency(slot, supplier, cfg.review_hours)
        list_price = supplier.prices[sc.gtin]
        lost = max(0, sc.retail_price - unit_cost)
        unit_limit = _unit_limit(sc.retail_price, urgency, lost, economics.target_margin_ppm)
        if slot.triggered:
            # Ordering now saves the sales lost between this order's arrival and the
            # next run's; what sells out before either could arrive is lost anyway.
            next_run, arrival = slot.forecast.expected_shortfalls(
                slot.position, _shortfall_horizons(supplier, cfg)
            )
            saved = next_run - arrival
            at_risk += math.floor(saved * (lost + economics.goodwill(sc.retail_price)))
        when = f"runs out in {_fmt_hours(slot.stockout)} at {cfg.service_level:.0%} service"
        if slot.triggered:
            reason = f"{sc.name}: {slot.position} left, {when}; delivery takes {_fmt_hours(supplier.effective_lead_hours)}"
        else:
            reason = f"{sc.name}: top-up with the same delivery ({slot.position} left, {when})"
        slot.decision = f"order {quantity} from {supplier.name}"
        lines.append(
            PlanLine(
                sc.id, sc.gtin, quantity, unit_limit, list_price, urgency, slot.triggered, reason
            )
        )
    if not any(line.triggered for line in lines):
        for slot, _ in members:
            if not slot.triggered:
                slot.decision = "no order: nothing urgent to deliver it with"
        return None
    if at_risk < economics.order_cost:
        for slot, _ in members:
            slot.decision = (
                f"wait: the next run loses ~{at_risk} in profit, "
                f"less than a delivery costs ({economics.order_cost})"
            )
        return None
    reservation = sum(line.quantity * line.unit_limit for line in lines)
    if reservation <= 0:
        return None
    first_out = min(slot.stockout for slot, _ in members if slot.triggered)
    deliver_in = max(supplier.lead_time_hours, first_out)
    gtins = {line.gtin for line in lines}
    alternatives = tuple(
        sorted(s.name for s in suppliers if s.name != supplier.name and gtins <= s.prices.keys())
    )
    urgency = max(line.urgency for line in lines)
    triggers = ", ".join(f"slot {line.slot_id}" for line in lines if line.triggered)
    topups = [f"slot {line.slot_id}" for line in lines if not line.triggered]
    reason = f"restock {triggers} from {supplier.name} (urgency {urgency:.2f})"
    if topups:
        reason += f"; topping up {', '.join(topups)} on the same delivery"
    return RestockNeed(
        supplier=supplier.name,
        alternatives=alternatives,
        lines=tuple(lines),
        deliver_by=(now + timedelta(hours=deliver_in)).replace(microsecond=0),
        reservation=reservation,
        list_total=sum(line.quantity * line.list_price for line in lines),
        urgency=urgency,
        reason=reason,
    )
