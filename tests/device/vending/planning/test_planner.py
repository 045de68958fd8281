"""The restock planner: when, how much, from whom, and the most to pay."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.settings import SalesCountConfig, SlotConfig
from device.vending.hardware.poller import SlotReading
from device.vending.hardware.readings import FaultState
from device.vending.planning.errors import PlanInputError
from device.vending.planning.forecast import Forecast
from device.vending.planning.fresh import solvable
from device.vending.planning.planner import (
    FILL,
    Economics,
    PlannerConfig,
    PurchasePlan,
    SlotStock,
    SupplierOption,
    expiring_lots,
    plan,
    plan_restock,
)

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
RETAIL = 2_000_000


def slot(
    slot_id: int,
    *,
    capacity: int = 12,
    par: int = 10,
    shelf_life_days: int | None = None,
    retail: int = RETAIL,
) -> SlotConfig:
    return SlotConfig(
        id=slot_id,
        gtin=f"{slot_id:08d}",
        name=f"item {slot_id}",
        retail_price=retail,
        capacity=capacity,
        par=par,
        shelf_life_days=shelf_life_days,
        motor_pin=slot_id,
        sensor=SalesCountConfig(kind="sales"),
    )


def flat(daily_rate: float, dispersion: float = 1.0, hours: int = 14 * 24) -> Forecast:
    """A known demand: ``daily_rate`` spread evenly over the hours."""
    return Forecast(NOW, "seasonal", daily_rate, np.full(hours, daily_rate / 24), dispersion, 0.0)


def supplier(
    name: str,
    slots: list[SlotConfig],
    lead: float = 24.0,
    price_pct: int = 50,
    reliability: float = 1.0,
    min_quantities: dict[str, int] | None = None,
) -> SupplierOption:
    prices = {s.gtin: s.retail_price * price_pct // 100 for s in slots}
    return SupplierOption(name, lead, prices, reliability, min_quantities or {})


def run(
    slots: list[SlotConfig],
    stock: dict[int, int],
    rates: dict[int, float],
    suppliers: list[SupplierOption],
    economics: Economics | None = None,
) -> PurchasePlan:
    return plan(
        NOW,
        slots,
        {i: SlotStock(i, n) for i, n in stock.items()},
        {i: flat(r) for i, r in rates.items()},
        suppliers,
        economics or Economics(),
    )


def test_no_order_when_stock_is_ample() -> None:
    slots = [slot(1), slot(2)]
    result = run(slots, {1: 12, 2: 11}, {1: 2.0, 2: 1.0}, [supplier("acme", slots)])
    assert result.needs == ()
    assert result.alerts == ()
    assert all(o.decision.startswith("no order") for o in result.outlook)
    assert all(o.days_to_empty > 4 for o in result.outlook)


def test_orders_when_stockout_is_predicted_before_delivery() -> None:
    slots = [slot(1)]
    result = run(slots, {1: 1}, {1: 6.0}, [supplier("acme", slots, lead=24)])
    (need,) = result.needs
    (line,) = need.lines
    assert need.supplier == "acme"
    assert line.triggered
    # Up to capacity 12 from 1, plus what is sold before the delivery (at the overflow
    # risk's quantile) but never more than the 1 on the shelf: an empty slot frees no room.
    sold_first = flat(6.0).quantile(PlannerConfig().overflow_risk, 24)
    assert sold_first > 1
    assert line.quantity == 12 - 1 + 1
    assert need.urgency == 1.0
    assert need.deliver_by == (NOW + timedelta(hours=24)).replace(microsecond=0)
    assert need.items() == [("00000001", line.quantity)]
    assert "1 left" in line.reason
    assert "restock slot 1 from acme" in need.reason


def test_waits_while_the_next_run_can_still_deliver_in_time() -> None:
    """Trigger exactly when the stock would run out before the next run's order arrives."""
    slots = [slot(1, capacity=30, par=20)]
    acme = supplier("acme", slots, lead=24)
    fc = flat(4.0)
    for stock in range(31):
        result = plan(NOW, slots, {1: SlotStock(1, stock)}, {1: fc}, [acme])
        ordered = bool(result.needs)
        q = PlannerConfig().service_level
        assert ordered == (fc.hours_until_stockout(stock, q) <= 24 + 24)
    assert not plan(NOW, slots, {1: SlotStock(1, 20)}, {1: fc}, [acme]).needs
    assert plan(NOW, slots, {1: SlotStock(1, 8)}, {1: fc}, [acme]).needs


def test_an_order_worth_placing_fills_what_the_next_days_will_need() -> None:
    """``plan_restock``: the real review decides whether; the fill horizon sizes the order,
    tops up slots the short horizon would leave, and never decides on its own."""
    slots = [slot(1, capacity=40, par=10), slot(2, capacity=40, par=10)]
    acme = supplier("acme", slots)
    fcs = {1: flat(8.0), 2: flat(3.0)}
    review = PlannerConfig(review_hours=6)
    low = {1: SlotStock(1, 4), 2: SlotStock(2, 12)}
    short = plan(NOW, slots, low, fcs, [acme], Economics(), review)
    filled = plan_restock(NOW, slots, low, fcs, [acme], Economics(), review)
    (short_need,) = short.needs
    (need,) = filled.needs
    assert [line.slot_id for line in short_need.lines] == [1]
    assert {line.slot_id for line in need.lines} == {1, 2}
    assert need.lines[0].quantity > short_need.lines[0].quantity
    assert need.lines[0].quantity <= 40 - 4 + 4  # still what fits on arrival
    ample = {1: SlotStock(1, 30), 2: SlotStock(2, 30)}
    assert plan(NOW, slots, ample, fcs, [acme], Economics(), FILL).needs  # would order...
    assert plan_restock(NOW, slots, ample, fcs, [acme], Economics(), review).needs == ()
    assert plan_restock(NOW, slots, low, fcs, [acme], Economics(), review, None) == short


def test_units_on_order_prevent_a_second_order() -> None:
    slots = [slot(1)]
    acme = supplier("acme", slots)
    stock = {1: SlotStock(1, 1, on_order=10)}
    assert plan(NOW, slots, stock, {1: flat(2.0)}, [acme]).needs == ()
    assert plan(NOW, slots, {1: SlotStock(1, 1)}, {1: flat(2.0)}, [acme]).needs


def test_faulted_slot_never_triggers_an_order_but_is_reported() -> None:
    slots = [slot(1), slot(2)]
    acme = supplier("acme", slots)
    stock = {1: SlotStock(1, 0, fault="stuck"), 2: SlotStock(2, 12)}
    result = plan(NOW, slots, stock, {1: flat(9.0), 2: flat(1.0)}, [acme])
    assert result.needs == ()
    (alert,) = result.alerts
    assert alert.slot_id == 1
    assert "stuck" in alert.reason
    # Nor is it topped up when another slot of the same supplier triggers.
    stock[2] = SlotStock(2, 0)
    result = plan(NOW, slots, stock, {1: flat(9.0), 2: flat(1.0)}, [acme])
    (need,) = result.needs
    assert [line.slot_id for line in need.lines] == [2]
    assert [a.slot_id for a in result.alerts] == [1]


def test_slot_without_reading_or_supplier_is_an_alert_not_an_order() -> None:
    slots = [slot(1), slot(2)]
    only_first = supplier("acme", slots[:1])
    result = plan(NOW, slots, {1: SlotStock(1, 12)}, {1: flat(1.0)}, [only_first])
    assert {a.slot_id for a in result.alerts} == {2}
    result = plan(
        NOW,
        slots,
        {1: SlotStock(1, 12), 2: SlotStock(2, 0)},
        {1: flat(1), 2: flat(5)},
        [only_first],
    )
    assert result.needs == ()
    assert "no supplier" in result.alerts[0].reason


def test_batches_per_supplier_with_top_ups() -> None:
    """One trigger pulls in the supplier's soon-needed slots, not the full ones nor others'."""
    a_slots = [slot(1), slot(2), slot(3)]
    b_slot = slot(4)
    acme = supplier("acme", a_slots, lead=24)
    bolt = supplier("bolt", [b_slot], lead=12)
    stock = {1: 1, 2: 8, 3: 12, 4: 0}
    rates = {1: 5.0, 2: 1.5, 3: 0.2, 4: 3.0}
    result = run([*a_slots, b_slot], stock, rates, [acme, bolt])
    by_supplier = {n.supplier: n for n in result.needs}
    assert set(by_supplier) == {"acme", "bolt"}
    acme_lines = {line.slot_id: line for line in by_supplier["acme"].lines}
    assert set(acme_lines) == {1, 2}
    assert acme_lines[1].triggered
    assert not acme_lines[2].triggered
    assert acme_lines[2].quantity == 2  # 8 -> par 10
    assert acme_lines[2].urgency == 0.0
    assert "topping up slot 2" in by_supplier["acme"].reason
    assert [line.slot_id for line in by_supplier["bolt"].lines] == [4]
    assert by_supplier["acme"].alternatives == ()
    outlook = {o.slot_id: o.decision for o in result.outlook}
    assert outlook[3].startswith("no order")


def test_prefers_the_cheaper_supplier_unless_only_the_faster_is_in_time() -> None:
    slots = [slot(1, capacity=40, par=30)]
    cheap = supplier("cheap", slots, lead=72, price_pct=40)
    fast = supplier("fast", slots, lead=6, price_pct=60)
    # At 6 a day, 29 items last ~76 h at the 98 % level: the 72 h supplier is in time.
    early = run(slots, {1: 29}, {1: 6.0}, [cheap, fast])
    assert [n.supplier for n in early.needs] == ["cheap"]
    assert early.needs[0].alternatives == ("fast",)
    assert early.needs[0].urgency < 1.0
    # 20 items (~48 h): too late for the cheap one, and the fast one can wait a day.
    assert run(slots, {1: 20}, {1: 6.0}, [cheap, fast]).needs == ()
    soon = run(slots, {1: 3}, {1: 6.0}, [cheap, fast])
    assert [n.supplier for n in soon.needs] == ["fast"]
    assert soon.needs[0].alternatives == ("cheap",)


def test_unreliable_supplier_counts_as_slower() -> None:
    slots = [slot(1, capacity=30, par=20)]
    flaky = supplier("flaky", slots, lead=24, reliability=0.5)
    assert flaky.effective_lead_hours == 48
    fc = flat(4.0)
    t = fc.hours_until_stockout(16, PlannerConfig().service_level)
    assert 48 < t <= 72  # a reliable 24 h supplier would wait; this one must order now
    assert plan(NOW, slots, {1: SlotStock(1, 16)}, {1: fc}, [flaky]).needs
    reliable = supplier("ok", slots, lead=24)
    assert not plan(NOW, slots, {1: SlotStock(1, 16)}, {1: fc}, [reliable]).needs


def test_shelf_life_caps_the_quantity() -> None:
    sandwich = slot(1, capacity=8, par=6, shelf_life_days=3)
    fc = flat(2.0)
    result = plan(NOW, [sandwich], {1: SlotStock(1, 0)}, {1: fc}, [supplier("deli", [sandwich])])
    (line,) = result.needs[0].lines
    # Not the 8 that fit, nor all 6 that sell in its 3 days: it can be re-ordered
    # tomorrow, so the best policy buys a couple of days' worth at a time.
    assert 2 <= line.quantity < 6


def test_supplier_minimum_is_met_when_it_fits_and_dropped_when_not() -> None:
    item = slot(1, capacity=12, par=4)
    fc = flat(0.5)

    def order(stock: int, minimum: int) -> PurchasePlan:
        acme = supplier("acme", [item], min_quantities={item.gtin: minimum})
        return plan(NOW, [item], {1: SlotStock(1, stock)}, {1: fc}, [acme])

    assert order(0, 1).needs[0].lines[0].quantity == 4  # empty, slow seller: up to par
    assert order(0, 6).needs[0].lines[0].quantity == 6
    assert order(0, 12).needs[0].lines[0].quantity == 12  # above par, within capacity
    dropped = order(0, 13)
    assert dropped.needs == ()
    assert "minimum of 13" in dropped.outlook[0].decision


def test_reservation_grows_with_urgency_and_never_exceeds_retail() -> None:
    item = slot(1, capacity=30, par=20)
    acme = supplier("acme", [item], lead=24, price_pct=50)
    econ = Economics(target_margin_ppm=300_000)
    limits, urgencies = [], []
    for stock in range(20, -1, -1):
        result = plan(NOW, [item], {1: SlotStock(1, stock)}, {1: flat(5.0)}, [acme], econ)
        if not result.needs:
            continue
        need = result.needs[0]
        (line,) = need.lines
        assert isinstance(need.reservation, int)
        assert isinstance(line.unit_limit, int)
        assert need.reservation == line.quantity * line.unit_limit
        assert line.unit_limit <= RETAIL
        limits.append(line.unit_limit)
        urgencies.append(need.urgency)
    assert urgencies == sorted(urgencies)
    assert limits == sorted(limits)
    # From the target margin (70 % of retail) at low urgency up to retail when it is certain.
    assert urgencies[0] < 0.5
    assert limits[0] < 1_800_000
    assert urgencies[-1] == 1.0
    assert limits[-1] == RETAIL


def test_reservation_at_zero_urgency_keeps_the_target_margin() -> None:
    a, b = slot(1), slot(2)
    acme = supplier("acme", [a, b], price_pct=50)
    econ = Economics(target_margin_ppm=250_000, unit_costs={b.gtin: 1_900_000})
    result = run([a, b], {1: 0, 2: 8}, {1: 6.0, 2: 1.5}, [acme], economics=econ)
    lines = {line.slot_id: line for line in result.needs[0].lines}
    assert lines[2].urgency == 0.0
    assert lines[2].unit_limit == 1_500_000  # retail * (1 - 25 %)
    # Urgent line, lost profit per unit 2.0 - 1.0 (cheapest list price): capped at retail.
    assert lines[1].unit_limit == RETAIL
    assert result.needs[0].list_total == sum(li.quantity * li.list_price for li in lines.values())


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(1, 40),
    par_share=st.floats(0, 1),
    stock_share=st.floats(0, 1.2),
    on_order=st.integers(0, 5),
    rate=st.floats(0.05, 40),
    dispersion=st.floats(1, 4),
    shelf=st.one_of(st.none(), st.integers(1, 30)),
    lead=st.floats(1, 200),
    reliability=st.floats(0.3, 1),
    minimum=st.integers(1, 12),
    margin=st.integers(0, 900_000),
    retail=st.integers(1, 10_000_000),
)
def test_plans_respect_capacity_shelf_life_and_money_rules(
    capacity: int,
    par_share: float,
    stock_share: float,
    on_order: int,
    rate: float,
    dispersion: float,
    shelf: int | None,
    lead: float,
    reliability: float,
    minimum: int,
    margin: int,
    retail: int,
) -> None:
    item = slot(
        1, capacity=capacity, par=int(par_share * capacity), shelf_life_days=shelf, retail=retail
    )
    count = int(stock_share * capacity)
    acme = SupplierOption("acme", lead, {item.gtin: retail // 2}, reliability, {item.gtin: minimum})
    fc = flat(rate, dispersion, hours=30 * 24)  # longer than any lead + review drawn
    econ = Economics(target_margin_ppm=margin)
    result = plan(NOW, [item], {1: SlotStock(1, count, on_order=on_order)}, {1: fc}, [acme], econ)
    position = count + on_order
    cfg = PlannerConfig()
    sold_first = fc.quantile(cfg.overflow_risk, lead)
    for need in result.needs:
        (line,) = need.lines
        assert line.quantity >= minimum
        credited = position + line.quantity - capacity
        if credited > sold_first:
            # Each unit credited beyond the sure room pays for the risk that it does
            # not fit (the rule is monotone: checking the last one checks them all).
            assert credited <= position
            cost = retail // 2
            sells = 1 - fc.cdf(capacity + credited - 1, lead + cfg.credit_hours)
            assert (retail - cost) * sells >= cost * fc.cdf(credited - 1, lead)
            # ... and fits with the required probability.
            assert 1 - fc.cdf(credited - 1, lead) >= cfg.credit_fit
        if shelf is not None and not solvable(capacity, shelf):
            # Newsvendor: the last unit bought sells before it expires with a
            # chance of at least cost / retail (here about one half).
            lead_eff = acme.effective_lead_hours
            worth = min(max(1 - (retail // 2) / retail, 0.01), 0.99)
            sellable = fc.quantile(worth, lead_eff + shelf * 24)
            assert line.quantity <= sellable - math.ceil(fc.expected(lead_eff) - 1e-9)
            assert line.quantity <= sellable - position
            # ... and its sale before a later delivery could bring a fresher one
            # outweighs its cost if it expires unsold.
            ahead = max(position, math.ceil(fc.expected(lead_eff) - 1e-9)) + line.quantity - 1
            sells = 1 - fc.cdf(ahead, lead_eff + cfg.reorder_hours)
            assert (retail - retail // 2) * sells >= (retail // 2) * fc.cdf(
                ahead, lead_eff + shelf * 24
            )
        base = retail * (1_000_000 - margin) // 1_000_000
        assert base <= line.unit_limit <= retail
        assert isinstance(need.reservation, int)
        assert 0 < need.reservation <= line.quantity * retail
        assert need.deliver_by >= NOW + timedelta(hours=lead) - timedelta(seconds=1)
        assert 0.0 <= need.urgency <= 1.0
    assert len(result.outlook) == 1


def test_a_fast_slot_counts_on_its_sales_before_the_delivery_a_slow_one_does_not() -> None:
    # 10 a day into a 12-item column with a 24 h lead: what sells before the delivery
    # frees room, and the column would run dry again the day after, so units beyond the
    # sure room (98% likely sold first) are worth their risk of not fitting.
    fast, slow = slot(1), slot(2)
    acme = supplier("acme", [fast, slow])
    result = run([fast, slow], {1: 10, 2: 10}, {1: 10.0, 2: 1.0}, [acme])
    lines = {line.slot_id: line for line in result.needs[0].lines}
    sure = flat(10.0).quantile(PlannerConfig().overflow_risk, 24.0)
    assert lines[1].quantity > 12 + sure - 10
    # One a day: the slot lasts past the next delivery anyway; nothing beyond what fits.
    assert 2 not in lines or lines[2].quantity <= 12 + flat(1.0).quantile(0.02, 24.0) - 10
    off = plan(
        NOW,
        [fast, slow],
        {1: SlotStock(1, 10), 2: SlotStock(2, 10)},
        {1: flat(10.0), 2: flat(1.0)},
        [acme],
        config=PlannerConfig(credit_hours=0.0),
    )
    assert off.needs[0].lines[0].quantity == 12 + sure - 10


def test_a_perishable_is_bought_for_its_sales_before_a_later_delivery_only() -> None:
    # 4 a day, 6 days of shelf life (the newsvendor's case: too many ages to solve
    # exactly), a 24 h lead. Alone the newsvendor buys what sells within the lead and
    # the shelf life (28 at even odds, less the 4 sold before it comes).
    shake = slot(1, capacity=30, par=30, shelf_life_days=6)
    assert not solvable(30, 6)

    def quantity(item: SlotConfig, reorder_hours: float) -> int:
        config = PlannerConfig(reorder_hours=reorder_hours)
        stock, forecast = {item.id: SlotStock(item.id, 0)}, {item.id: flat(4.0)}
        result = plan(NOW, [item], stock, forecast, [supplier("acme", [item])], config=config)
        (line,) = result.needs[0].lines
        return line.quantity

    alone = quantity(shake, 0.0)
    assert alone == flat(4.0).quantile(0.5, 24 + 6 * 24) - 4
    # A later delivery can bring a fresher unit: one now is worth only the sales
    # before that one could come; the sooner it can, the fewer now.
    assert quantity(shake, 24.0) < quantity(shake, 48.0) < quantity(shake, 96.0) <= alone
    assert quantity(shake, 48.0) < 20
    # An item that keeps a year never expires before that later delivery: unchanged.
    water = slot(2, capacity=30, par=30, shelf_life_days=365)
    assert quantity(water, 48.0) == quantity(water, 0.0) == 30


def test_an_empty_fresh_slot_not_worth_stocking_gets_one_unit_to_learn_from() -> None:
    # At 90% of retail and 0.3 a day, a 2-day salad is not worth stocking; but an empty
    # slot shows no demand, so the estimate could never rise again: one unit probes it.
    salad = slot(1, capacity=8, par=0, shelf_life_days=2)
    acme = supplier("acme", [salad], price_pct=90)
    empty = run([salad], {1: 0}, {1: 0.3}, [acme])
    assert [line.quantity for need in empty.needs for line in need.lines] == [1]
    # With a unit on the shelf the programme decides alone (and here orders nothing).
    held = plan(NOW, [salad], {1: SlotStock(1, 1)}, {1: flat(0.3)}, [acme])
    assert not held.needs


def test_bad_input_is_refused() -> None:
    item = slot(1)
    acme = supplier("acme", [item])
    with pytest.raises(PlanInputError, match="now"):
        plan(NOW.replace(tzinfo=None), [item], {1: SlotStock(1, 3)}, {1: flat(1)}, [acme])
    with pytest.raises(PlanInputError, match="no forecast"):
        plan(NOW, [item], {1: SlotStock(1, 3)}, {}, [acme])
    slow = supplier("slow", [item], lead=30 * 24)
    with pytest.raises(PlanInputError, match="horizon"):
        plan(NOW, [item], {1: SlotStock(1, 12)}, {1: flat(0.2)}, [slow])
    with pytest.raises(PlanInputError, match="share a name"):
        plan(NOW, [item], {1: SlotStock(1, 3)}, {1: flat(1)}, [acme, acme])
    with pytest.raises(PlanInputError, match="int"):
        SupplierOption("x", 24, {item.gtin: 1.5})  # type: ignore[dict-item]
    with pytest.raises(PlanInputError, match="reliability"):
        SupplierOption("x", 24, {}, reliability=0)
    with pytest.raises(PlanInputError, match="lead_time"):
        SupplierOption("x", 0, {})
    with pytest.raises(PlanInputError):
        SlotStock(1, -1)
    with pytest.raises(PlanInputError):
        Economics(target_margin_ppm=1_000_000)
    with pytest.raises(PlanInputError):
        PlannerConfig(service_level=1.0)
    with pytest.raises(PlanInputError, match="reorder_hours"):
        PlannerConfig(reorder_hours=-1.0)


def reading(
    count: int | None, floor: int | None, ceiling: int | None, fault: FaultState
) -> SlotReading:
    confidence = 0.0 if fault is not FaultState.OK else 1.0
    return SlotReading(1, count, floor, ceiling, confidence, fault, "test reading")


def test_stock_from_hardware_readings() -> None:
    assert SlotStock.from_reading(reading(5, 5, 5, FaultState.OK), on_order=2) == SlotStock(
        1, 5, None, 2
    )
    stuck = SlotStock.from_reading(reading(4, 4, 4, FaultState.STUCK))
    assert stuck.fault == "stuck: test reading"
    above = reading(None, 3, 12, FaultState.OK)  # a low-stock switch not tripped
    assert SlotStock.from_reading(above, estimate=7).count == 7
    assert SlotStock.from_reading(above, estimate=1).count == 3
    assert SlotStock.from_reading(above).count == 3
    below = reading(None, 0, 2, FaultState.OK)
    assert SlotStock.from_reading(below, estimate=5).count == 2
    item = slot(1)
    result = plan(NOW, [item], {1: stuck}, {1: flat(5.0)}, [supplier("acme", [item])])
    assert result.needs == ()
    assert "stuck" in result.alerts[0].reason


def test_a_delivery_waits_when_waiting_loses_less_than_it_costs() -> None:
    item = slot(1, capacity=30, par=20)
    acme = supplier("acme", [item], lead=24)
    fc = flat(4.0)
    # 14 items at 4 a day: a stockout before the next run's delivery is possible, not likely.
    assert fc.hours_until_stockout(14, PlannerConfig().service_level) <= 48
    # Ordering now rather than at the next run saves the sales between the two
    # arrivals, each worth its margin plus the goodwill of the customer.
    econ = Economics()
    per_sale = RETAIL - RETAIL // 2 + econ.goodwill(RETAIL)
    saved = fc.expected_shortfall(14, 48) - fc.expected_shortfall(14, 24)
    at_risk = int(saved * per_sale)
    assert 0 < at_risk < 1_000_000

    def needs(stock: int, order_cost: int) -> PurchasePlan:
        econ = Economics(order_cost=order_cost)
        return plan(NOW, [item], {1: SlotStock(1, stock)}, {1: fc}, [acme], econ)

    assert needs(14, at_risk).needs
    waiting = needs(14, at_risk + 1)
    assert waiting.needs == ()
    assert waiting.outlook[0].decision.startswith("wait")
    # Nearly empty, waiting a day loses far more than a delivery costs.
    assert needs(2, 1_000_000).needs


def test_a_new_empty_slot_is_filled_to_par_even_when_perishable() -> None:
    """No sales history means no forecast: an empty slot must still get stock to learn from."""
    sandwich = slot(1, capacity=8, par=6, shelf_life_days=3)
    fresh_start = flat(0.0)
    result = plan(
        NOW, [sandwich], {1: SlotStock(1, 0)}, {1: fresh_start}, [supplier("deli", [sandwich])]
    )
    (line,) = result.needs[0].lines
    assert line.quantity == 6


def test_items_about_to_expire_do_not_count_as_stock() -> None:
    """Six sandwiches that expire in two hours will mostly be thrown away: buy fresh ones."""
    sandwich = slot(1, capacity=8, par=6, shelf_life_days=3)
    deli = supplier("deli", [sandwich])
    fc = flat(2.0)
    fresh = SlotStock(1, 6, expiring=((60.0, 6),))
    stale = SlotStock(1, 6, expiring=((2.0, 6),))
    assert fresh.expected_waste(fc) == 1  # 2 a day sell 5 of them in 60 h
    assert stale.expected_waste(fc) == 5
    assert stale.expected_waste(flat(0.0)) == 0  # a new slot: no demand known to judge by

    def ordered(stock: SlotStock) -> int:
        (need,) = plan(NOW, [sandwich], {1: stock}, {1: fc}, [deli]).needs
        return need.lines[0].quantity

    assert ordered(stale) > ordered(fresh)
    assert ordered(stale) == ordered(SlotStock(1, 1))  # as if only the one fresh item were there


@pytest.mark.parametrize("life", [3, 6])
def test_shelf_life_buys_less_of_a_costly_perishable(life: int) -> None:
    """A unit is bought while what it is expected to earn before it expires covers its
    cost: exactly by stock age for 3 days, by the newsvendor for 6 (too many ages; here
    alone, without the bound of a later delivery)."""
    sandwich = slot(1, capacity=30, par=30, shelf_life_days=life)
    fc = flat(2.0)
    alone = PlannerConfig(reorder_hours=0.0)

    def quantity(price_pct: int) -> int:
        deli = supplier("deli", [sandwich], price_pct=price_pct)
        stock = {1: SlotStock(1, 0)}
        (need,) = plan(NOW, [sandwich], stock, {1: fc}, [deli], config=alone).needs
        return need.lines[0].quantity

    cheap, costly = quantity(20), quantity(80)
    assert cheap > quantity(50) > costly
    if not solvable(30, life):
        # 2 a day over the day's lead and 6 days of shelf life: 14 expected, 2 sold
        # before arrival; the median unit is worth buying only when it costs half.
        assert costly < 14 - 2 < cheap


def test_the_items_left_are_the_newest_arrivals() -> None:
    """First in, first out: what is left came last; older items expire first."""
    life = 3
    arrivals = [(NOW - timedelta(hours=50), 4), (NOW - timedelta(hours=10), 3)]
    since = NOW - timedelta(days=life)
    assert expiring_lots(arrivals, 5, life, NOW, since) == ((22.0, 2), (62.0, 3))
    assert expiring_lots(arrivals, 2, life, NOW, since) == ((62.0, 2),)
    # Two items older than any arrival known: they came before ``since``, expired by now.
    assert expiring_lots(arrivals, 9, life, NOW, since) == ((0.0, 2), (22.0, 4), (62.0, 3))
    # A long shelf life looked back on for a week only: the older items expire by
    # ``since`` plus the shelf life, not now.
    week = NOW - timedelta(days=7)
    assert expiring_lots([], 1, 30, NOW, week) == ((23 * 24.0, 1),)


@pytest.mark.parametrize("life", [3, 6])
def test_a_price_on_waste_buys_fewer_perishables(life: int) -> None:
    """The owners' waste penalty counts each unit thrown away against the plan on top of
    its cost: exactly by stock age for 3 days, by the newsvendor for 6; with none the
    plan is the profit-maximising one."""
    sandwich = slot(1, capacity=30, par=30, shelf_life_days=life)
    fc = flat(2.0)
    deli = supplier("deli", [sandwich], price_pct=50)

    def quantity(waste_penalty: float) -> int:
        config = PlannerConfig(waste_penalty=waste_penalty)
        stock = {1: SlotStock(1, 0)}
        (need,) = plan(NOW, [sandwich], stock, {1: fc}, [deli], config=config).needs
        return need.lines[0].quantity

    assert quantity(0.0) > quantity(2.0) > quantity(8.0) > 0
    with pytest.raises(PlanInputError, match="waste_penalty"):
        PlannerConfig(waste_penalty=-1.0)
