"""The baselines an operator would run: telemetry, route and the classic (R, s, S) policy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from device.settings import Settings, load_settings
from device.vending.sim.classic import (
    TUNED,
    ClassicNegotiatingPolicy,
    ClassicParams,
    ClassicPolicy,
    levels,
)
from device.vending.sim.compare import run_policy
from device.vending.sim.market import DeliveryOutcome
from device.vending.sim.policies import AgentTuning, RoutePolicy, TelemetryPolicy, World
from device.vending.sim.scenarios import SCENARIOS
from device.vending.sim.tune import agent_knob, tune_agent, tune_classic


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(None)


def test_telemetry_is_not_blocked_by_a_missed_delivery(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing ever arrives: the first order stays open for 48 h past its deadline, yet the
    slots it does not cover still get ordered (per-slot accounting, not a global block)."""
    with World(
        settings, SCENARIOS["office"], database=tmp_path / "sim.db", days=4, seed=1
    ) as world:
        monkeypatch.setattr(world.market, "outcome", lambda name: DeliveryOutcome(24.0, 0.0))
        telemetry = TelemetryPolicy(world)
        telemetry.install()
        world.run(3)
        first = telemetry.history[0]
        released = first.deliver_by + timedelta(hours=48)
        # (all orders go to the incumbent: placed = deliver_by - the same lead time)
        while_open = [p for p in telemetry.history[1:] if p.deliver_by < released]
        assert while_open, "no second order while the first was open"


def test_telemetry_does_not_count_expired_units_as_stock(
    settings: Settings, tmp_path: Path
) -> None:
    with World(settings, SCENARIOS["gym"], database=tmp_path / "sim.db", days=4, seed=1) as world:
        telemetry = TelemetryPolicy(world)  # reviewed by hand below
        salad = next(s for s in world.settings.slots if s.shelf_life_days == 2)
        world.run(2.2)  # the opening salads are past their date, some still in the slot
        assert world.physics.stock(salad.id) > 0
        expires = world.lots[salad.id][0].expires
        assert expires is not None
        assert expires <= world.driver.now()
        telemetry.review(world.driver.now())
        (placed,) = telemetry.history
        salads = [line.quantity for line in placed.order.lines if line.slot_id == salad.id]
        assert salads
        assert salads[0] >= 1


def test_the_route_fills_every_slot_to_capacity(settings: Settings, tmp_path: Path) -> None:
    with World(
        settings, SCENARIOS["office"], database=tmp_path / "sim.db", days=4, seed=1
    ) as world:
        route = RoutePolicy(world)
        world.run(3)
        assert any(world.physics.stock(s.id) < s.par for s in world.settings.slots)
        route.visit(world.driver.now())
        assert all(world.physics.stock(s.id) == s.capacity for s in world.settings.slots)


def test_classic_levels() -> None:
    settings = load_settings(None)
    snacks = settings.slots[0]  # keeps most of a year: the shelf life never binds
    sandwich = next(s for s in settings.slots if s.shelf_life_days == 3)
    p = ClassicParams(review_hours=24, safety=2.0, cover_days=2, window_hours=24)
    # mu = 2/day * 2 days = 4: s = 4 + 2 * 2 = 8; S = min(capacity, 8 + 4).
    assert levels(snacks, 2.0, p) == (8, min(snacks.capacity, 12))
    # A fresh item holds what sells within the window plus its shelf life's share.
    life = sandwich.shelf_life_days
    assert life is not None
    s, top = levels(sandwich, 1.0, p)
    assert top == min(sandwich.capacity, -(-(1 + 0.8 * life) // 1))
    assert s < top
    assert levels(snacks, 0.0, p) == (0, 1)  # a slot that never sold keeps one on the shelf


def test_classic_list_buys_at_list_and_classic_neg_negotiates(settings: Settings) -> None:
    listed = run_policy(settings, "office", "classic-list", days=10, seed=2)
    negotiated = run_policy(settings, "office", "classic-neg", days=10, seed=2)
    assert listed.cost_vs_list == 1.0
    assert negotiated.cost_vs_list < 0.95
    assert listed.orders >= 3
    assert negotiated.orders >= 3
    assert listed.customers == negotiated.customers  # the same people came


def test_the_classic_policies_use_their_committed_tuning(
    settings: Settings, tmp_path: Path
) -> None:
    with World(settings, SCENARIOS["gym"], database=tmp_path / "sim.db", days=1, seed=1) as world:
        assert ClassicPolicy(world).params == TUNED.get("gym", ClassicParams())
        given = ClassicParams(review_hours=6)
        assert ClassicNegotiatingPolicy(world, given).params == given
    assert set(TUNED) <= set(SCENARIOS)


def test_tuning_keeps_the_best_point_and_refuses_evaluation_seeds(settings: Settings) -> None:
    with pytest.raises(ValueError, match="evaluation"):
        tune_classic(settings, "office", seeds=(1, 4), days=1)
    found = tune_classic(
        settings,
        "office",
        policy="classic-list",
        days=2,
        seeds=(1,),
        workers=1,
        grid={"safety": (0.5, 3.0)},
    )
    assert len(found.tried) == 3  # the start and the two grid points
    assert found.profit == max(profit for _, profit in found.tried)
    assert dict(found.tried)[found.best] == found.profit
    assert timedelta(days=found.days) == timedelta(days=2)


def test_the_agent_is_tuned_the_same_way_on_training_seeds_only(settings: Settings) -> None:
    with pytest.raises(ValueError, match="evaluation"):
        tune_agent(settings, "office", seeds=(2, 7), days=1)
    found = tune_agent(
        settings, "office", days=2, seeds=(1,), workers=1, grid={"overflow_risk": (0.1, 0.5)}
    )
    assert len(found.tried) == 3  # the defaults and the two grid points
    assert found.profit == max(profit for _, profit in found.tried)
    risks = {
        (t.planner.overflow_risk, t.fill.overflow_risk if t.fill else None) for t, _ in found.tried
    }
    assert {(0.1, 0.1), (0.5, 0.5)} <= risks  # the knob moves both planner passes


def test_the_credits_knobs_move_both_planner_passes() -> None:
    for knob in ("credit_hours", "credit_fit", "reorder_hours"):
        tuned = agent_knob(AgentTuning(), knob, 0.6)
        assert tuned.fill is not None
        assert getattr(tuned.planner, knob) == getattr(tuned.fill, knob) == 0.6


def test_an_unknown_agent_knob_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown agent knob"):
        agent_knob(AgentTuning(), "courage", 1.0)
