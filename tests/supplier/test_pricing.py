"""Prices and strategies: volume discounts, refusals, never below floor, concession pace."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from supplier.pricing import (
    FixedPrice,
    NegotiationState,
    PriceBook,
    PricedLine,
    PricedOrder,
    Refusal,
    Strategy,
    TimeDependent,
    TitForTat,
    is_final,
    make_strategy,
    next_total,
    split_total,
)
from supplier.protocol import DeclineReason, RfqLine
from supplier.settings import BoulwareStrategyConfig, ConcederStrategyConfig
from tests.supplier.conftest import BISCUITS, COLA, DAY, SODA, make_config

NOW = 1_800_000_000


def book(tmp_path: Path) -> PriceBook:
    return PriceBook(make_config(tmp_path).items)


def state(
    round_: int, *, offers: tuple[int, ...] = (), counters: tuple[int, ...] = ()
) -> NegotiationState:
    return NegotiationState(
        round=round_,
        max_rounds=6,
        elapsed=0.0,
        list_total=10_000_000,
        floor_total=6_000_000,
        offers=offers,
        counters=counters,
        target_price=None,
    )


def test_volume_discount_lowers_list_price_but_not_below_floor(tmp_path: Path) -> None:
    prices = book(tmp_path)
    small = prices.price([RfqLine(gtin=COLA, quantity=48)], deliver_by=NOW + 2 * DAY, now=NOW)
    large = prices.price([RfqLine(gtin=COLA, quantity=96)], deliver_by=NOW + 2 * DAY, now=NOW)
    assert isinstance(small, PricedOrder)
    assert isinstance(large, PricedOrder)
    assert small.lines[0].list_unit == 450_000
    assert large.lines[0].list_unit == 450_000 * 95 // 100
    assert large.floor_total == 96 * 310_000


def test_priced_lines_follow_gtin_value_order(tmp_path: Path) -> None:
    priced = book(tmp_path).price(
        [
            RfqLine(gtin=BISCUITS, quantity=5),
            RfqLine(gtin=COLA, quantity=24),
            RfqLine(gtin=SODA, quantity=12),
        ],
        deliver_by=NOW + 3 * DAY,
        now=NOW,
    )
    assert isinstance(priced, PricedOrder)
    assert [line.gtin for line in priced.lines] == [SODA, COLA, BISCUITS]


def refusal(
    tmp_path: Path,
    line: RfqLine,
    deliver_by: int = NOW + 3 * DAY,
    committed: dict[int, int] | None = None,
) -> Refusal:
    result = book(tmp_path).price([line], deliver_by=deliver_by, now=NOW, committed=committed)
    assert isinstance(result, Refusal)
    return result


def test_refusals_name_the_reason_and_the_item(tmp_path: Path) -> None:
    assert (
        refusal(tmp_path, RfqLine(gtin="12345678", quantity=1)).reason == DeclineReason.UNKNOWN_ITEM
    )
    below = refusal(tmp_path, RfqLine(gtin=COLA, quantity=23))
    assert (below.reason, below.gtin) == (DeclineReason.BELOW_MIN_QUANTITY, COLA)
    assert refusal(tmp_path, RfqLine(gtin=SODA, quantity=101)).reason == DeclineReason.OUT_OF_STOCK
    late = refusal(tmp_path, RfqLine(gtin=BISCUITS, quantity=1), deliver_by=NOW + DAY)
    assert late.reason == DeclineReason.LEAD_TIME


def test_stock_already_committed_on_chain_is_not_sold_twice(tmp_path: Path) -> None:
    sold = {int(SODA): 90}
    result = refusal(tmp_path, RfqLine(gtin=SODA, quantity=12), committed=sold)
    assert result.reason == DeclineReason.OUT_OF_STOCK
    assert "10 available" in result.message


orders = st.lists(
    st.tuples(st.integers(1, 10_000), st.integers(0, 10**9), st.integers(0, 10**9)),
    min_size=1,
    max_size=8,
).map(
    lambda rows: PricedOrder(
        tuple(
            PricedLine(
                gtin=str(10_000_000 + i), quantity=q, list_unit=max(a, b), floor_unit=min(a, b)
            )
            for i, (q, a, b) in enumerate(rows)
        )
    )
)


@given(orders, st.integers(-(10**18), 10**20))
def test_split_total_stays_between_floor_and_target(order: PricedOrder, total: int) -> None:
    lines = split_total(order, total)
    amount = sum(line.quantity * line.unit_price for line in lines)
    for line, priced in zip(lines, order.lines, strict=True):
        assert priced.floor_unit <= line.unit_price <= priced.list_unit
    assert order.floor_total <= amount <= max(order.floor_total, min(total, order.list_total))


STRATEGIES: list[Strategy] = [
    FixedPrice(),
    TimeDependent(0.2, "boulware"),
    TimeDependent(4.0, "conceder"),
    TitForTat(1.0, 200),
]


@given(
    st.sampled_from(STRATEGIES),
    st.lists(st.integers(0, 20_000_000), max_size=5),
    st.integers(0, 10**6),
    st.floats(0, 1),
)
def test_no_strategy_offers_below_floor_or_above_its_last_offer(
    strategy: Strategy, counters: list[int], target: int, elapsed: float
) -> None:
    offers: list[int] = []
    seen: list[int] = []
    for round_, counter in enumerate([None, *counters]):
        s = NegotiationState(
            round=round_,
            max_rounds=6,
            elapsed=elapsed,
            list_total=10_000_000,
            floor_total=6_000_000,
            offers=tuple(offers),
            counters=tuple(seen),
            target_price=target,
        )
        total = next_total(strategy, s, counter)
        assert 6_000_000 <= total <= (offers[-1] if offers else 10_000_000)
        offers.append(total)
        if counter is not None:
            seen.append(counter)


def test_fixed_price_never_moves() -> None:
    fixed = FixedPrice()
    assert {next_total(fixed, state(r, offers=(10_000_000,) * r), 7_000_000) for r in range(6)} == {
        10_000_000
    }
    assert not fixed.concedes()


def test_time_dependent_starts_at_list_and_ends_at_floor() -> None:
    for beta in (0.2, 1.0, 4.0):
        td = TimeDependent(beta, "td")
        assert td.propose(state(0)) == 10_000_000
        assert td.propose(state(5)) == 6_000_000


def test_boulware_holds_while_conceder_gives_way() -> None:
    boulware = make_strategy(BoulwareStrategyConfig(kind="boulware", beta=0.2))
    conceder = make_strategy(ConcederStrategyConfig(kind="conceder", beta=4.0))
    margin = 4_000_000
    for round_ in (1, 2, 3, 4):
        b = boulware.propose(state(round_)) - 6_000_000
        c = conceder.propose(state(round_)) - 6_000_000
        assert b > c
    # at the midpoint Boulware keeps most of its margin and Conceder little of it
    assert boulware.propose(state(2)) - 6_000_000 > 0.9 * margin
    assert conceder.propose(state(2)) - 6_000_000 < 0.3 * margin


def test_time_counts_elapsed_session_time_too() -> None:
    boulware = TimeDependent(0.2, "boulware")
    late = NegotiationState(
        round=1,
        max_rounds=6,
        elapsed=1.0,
        list_total=10_000_000,
        floor_total=6_000_000,
        offers=(10_000_000,),
        counters=(5_000_000,),
        target_price=None,
    )
    assert boulware.propose(late) == 6_000_000


def test_tit_for_tat_mirrors_the_buyers_concession() -> None:
    tft = TitForTat(1.0, 200)
    s = state(2, offers=(10_000_000, 9_900_000), counters=(6_500_000, 7_000_000))
    assert tft.propose(s) == 9_900_000 - 500_000  # buyer moved up 500k, so do we (down)
    half = TitForTat(0.5, 200)
    assert half.propose(s) == 9_900_000 - 250_000
    stubborn = state(2, offers=(10_000_000, 9_900_000), counters=(7_000_000, 6_000_000))
    assert tft.propose(stubborn) == 9_900_000  # a buyer who backs off gets nothing


def test_tit_for_tat_opens_with_a_small_step_and_then_uses_the_target() -> None:
    tft = TitForTat(1.0, 200)
    assert tft.propose(state(0)) == 10_000_000
    assert tft.propose(state(1, offers=(10_000_000,), counters=(6_500_000,))) == 10_000_000 - 80_000
    targeted = NegotiationState(
        round=1,
        max_rounds=6,
        elapsed=0.0,
        list_total=10_000_000,
        floor_total=6_000_000,
        offers=(10_000_000,),
        counters=(6_600_000,),
        target_price=6_000_000,
    )
    assert tft.propose(targeted) == 10_000_000 - 600_000


def test_a_counter_at_or_above_the_wish_is_taken_as_is() -> None:
    boulware = TimeDependent(0.2, "boulware")
    s = state(1, offers=(10_000_000,), counters=())
    assert next_total(boulware, s, 9_999_000) == 9_999_000
    assert next_total(boulware, s, 12_000_000) == 10_000_000  # never above the last offer


def test_an_offer_is_final_at_the_floor_the_last_round_or_the_buyers_price() -> None:
    boulware = TimeDependent(0.2, "boulware")
    assert not is_final(boulware, state(1), 9_000_000, 7_000_000)
    assert is_final(boulware, state(5), 9_000_000, 7_000_000)  # last of 6 rounds
    assert is_final(boulware, state(1), 6_000_000, 5_000_000)  # at the floor
    assert is_final(boulware, state(1), 8_000_000, 8_000_000)  # meets the counter
    assert is_final(boulware, state(1), 9_000_000, 7_000_000, buyer_final=True)
    assert is_final(FixedPrice(), state(0), 10_000_000, None)
