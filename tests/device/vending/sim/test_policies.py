"""Restocking policies on the simulated machine: sane, deterministic, comparable."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from device.cli import app
from device.settings import AgentConfig, Settings, load_settings
from device.store import repo
from device.vending.planning.planner import FILL
from device.vending.sim.compare import PolicyResult, compare, result_json, run_policy
from device.vending.sim.policies import POLICIES, REVIEW_EVERY, AgentPolicy, AgentTuning, World
from device.vending.sim.scenarios import SCENARIOS


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(None)


def _measures(result: PolicyResult) -> dict[str, Any]:
    data = asdict(result)
    data.pop("cpu_s")  # how long it took is not a result
    return data


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_runs_sanely_and_repeats_exactly(settings: Settings, policy: str) -> None:
    first = run_policy(settings, "office", policy, days=8, seed=3)
    again = run_policy(settings, "office", policy, days=8, seed=3)
    assert _measures(first) == _measures(again)
    assert first.customers > 50
    assert first.sales + first.lost_sales == first.customers
    assert 0 < first.fill_rate <= 1
    assert first.revenue > 0
    assert first.cost_of_goods > 0
    assert first.profit == (
        first.revenue
        - first.cost_of_goods
        - first.spoilage_cost
        - first.returned_cost
        - first.rounding
        - first.delivery_fees
        - first.gas
    )
    # Every policy that orders pays gas as the agent does but the route (cash on delivery);
    # everyone restocks within eight days.
    assert (first.gas > 0) == (policy != "route")
    assert first.deliveries >= 1
    assert first.delivery_fees > 0
    assert all(isinstance(v, int) for v in (first.profit, first.gas, first.purchases))


def test_the_simulated_agent_plans_as_a_default_machine_does() -> None:
    machine = AgentConfig()
    tuning = AgentTuning()
    assert timedelta(hours=machine.plan_interval_h) == REVIEW_EVERY
    assert tuning.planner.review_hours == machine.plan_interval_h
    assert tuning.fill == FILL


def test_another_seed_is_another_world(settings: Settings) -> None:
    one = run_policy(settings, "office", "route", days=3, seed=1)
    two = run_policy(settings, "office", "route", days=3, seed=2)
    assert one.customers != two.customers or one.revenue != two.revenue


def test_oracle_earns_at_least_what_the_agent_does(settings: Settings) -> None:
    agent = run_policy(settings, "office", "agent", days=12, seed=5)
    oracle = run_policy(settings, "office", "oracle", days=12, seed=5)
    assert oracle.customers == agent.customers  # the same people came
    assert oracle.fill_rate == 1.0
    assert oracle.profit >= agent.profit
    assert oracle.cost_vs_list <= agent.cost_vs_list


def test_agent_never_orders_for_a_faulted_slot(settings: Settings, tmp_path: Path) -> None:
    with World(
        settings, SCENARIOS["office"], database=tmp_path / "sim.db", days=8, seed=2
    ) as world:
        agent = AgentPolicy(world)
        agent.install()
        world.physics.disconnect(1)  # the cola column's ultrasonic sensor is cut
        world.run(8)
        ordered = {line.slot_id for placed in agent.history for line in placed.order.lines}
        assert ordered, "the agent ordered nothing at all"
        assert 1 not in ordered
        assert world.agent.state is not None
        assert world.agent.state.slots[0].fault == "disconnected"
        # The slot still sold while its sensor was down, and ran out: nobody restocks it.
        assert world.physics.stock(1) == 0


def test_agent_pays_only_what_the_sensors_counted(settings: Settings) -> None:
    """The unreliable incumbent delivers short: paid for less than was ordered."""
    result = run_policy(settings, "unreliable", "agent", days=10, seed=4)
    assert result.purchases <= result.list_value
    assert result.cost_vs_list < 1.0  # negotiated below list


def test_compare_json_shape(settings: Settings) -> None:
    comparison = compare(settings, "gym", days=2, seed=1, workers=1)
    data = result_json(comparison)
    json.dumps(data)  # serialisable as is
    assert data["scenario"] == "gym"
    assert data["seed"] == 1
    assert data["days"] == 2
    assert set(data["policies"]) == set(POLICIES)
    for result in data["policies"].values():
        assert {"profit", "fill_rate", "stockout_hours", "spoilage_units", "cost_vs_list"} <= set(
            result
        )
        assert {"orders", "gas", "delivery_fees"} <= set(result)
    assert set(data["targets"]) == {"profit >= 105% of classic-neg", "fill rate >= 97%"}


def test_unknown_names_are_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        compare(settings, "moon", days=1, seed=1)
    with pytest.raises(ValueError, match="unknown policy"):
        compare(settings, "office", days=1, seed=1, policies=("route", "psychic"))


def test_cli_compare_writes_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "--log-level",
            "warning",
            "simulate",
            "--compare",
            "--days",
            "2",
            "--scenario",
            "volatile",
            "--json",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["policies"]) == set(POLICIES)
    assert "fill rate" in result.output
    # The decomposition against the ceiling, in the table and the JSON, adds up.
    assert "where the profit falls short of the ceiling" in result.output
    assert set(data["gap"]) == {"agent", "classic-neg"}
    for name, gap in data["gap"].items():
        assert gap["gap"] == data["ceiling_without_foresight"] - data["policies"][name]["profit"]
        assert gap["residual"] == data["policies"][name]["rounding"]
    for name in ("profit.png", "stock.png"):
        png = (tmp_path / "plots" / name).read_bytes()
        assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "moon"], "unknown scenario"),
        (["--policy", "psychic"], "unknown policy"),
        (["--tune", "route"], "only 'classic' or 'agent' can be tuned"),
    ],
)
def test_cli_refuses_bad_names(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", "--days", "1", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_single_policy(tmp_path: Path) -> None:
    out = tmp_path / "route.json"
    result = CliRunner().invoke(
        app,
        [
            "--log-level",
            "warning",
            "simulate",
            "--days",
            "3",
            "--policy",
            "route",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert list(json.loads(out.read_text())["policies"]) == ["route"]


def test_nobody_buys_an_item_past_its_date(settings: Settings, tmp_path: Path) -> None:
    """Expired sandwiches stay in the slot until a visit, but they do not sell."""
    with World(
        settings, SCENARIOS["office"], database=tmp_path / "sim.db", days=6, seed=4
    ) as world:
        sandwich = next(s for s in world.settings.slots if s.shelf_life_days == 3)
        world.run(6)  # no policy installed: nobody comes after the first fill
        expired_at = world.start + timedelta(days=3)
        with world.store.read() as session:
            sold = [sale.created_at for sale in repo.sales_since(session, world.start, sandwich.id)]
        assert sold, "no sandwich sold before they expired"
        assert max(sold) < expired_at
        assert world.physics.stock(sandwich.id) > 0  # still there, past their date
        assert world.ledger.lost_per_slot.get(sandwich.id, 0) > 0
