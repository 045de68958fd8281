"""How little fresh food any policy can throw away, and what less waste costs.

    .venv/bin/python -m benchmarks.fresh_frontier                  # seeds 4-10, a year each
    .venv/bin/python -m benchmarks.fresh_frontier --seed 1 --scenario office

Issue 20 asks for half the agent's old spoilage. This measures the trade on the
ceiling's own relaxation of each fresh slot (``device.vending.sim.ceiling``):
orders every midnight with no lead time and no fee, a day more shelf life than
the world gives, bought at the lowest floor price, the best policy solved
exactly for the seed's demand distribution. Each row makes every unit thrown
away count ``penalty`` times its cost against the policy (penalty 0 is the
profit-maximising one) and gives what that policy expects: customers served,
units and cost thrown away, and the slot's profit. Slots that keep longer than
``FRESH_DAYS`` are counted as never spoiling, as the ceiling counts them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from benchmarks.simulate import seed_list
from device.settings import load_settings
from device.vending.sim.ceiling import fresh_days, is_fresh, lowest_floor, relaxed_fresh_problem
from device.vending.sim.compare import money
from device.vending.sim.customers import CustomerStream
from device.vending.sim.market import Market
from device.vending.sim.scenarios import SCENARIOS

PENALTIES = (0.0, 0.5, 1.0, 2.0, 4.0)


@dataclass(slots=True)
class Row:
    """One scenario's fresh slots at one waste penalty, summed over seeds (base units)."""

    customers: float = 0.0
    sold: float = 0.0
    spoiled: float = 0.0
    spoiled_cost: float = 0.0
    profit: float = 0.0


def frontier(scenario: str, seeds: list[int], days: int) -> dict[float, Row]:
    settings = load_settings()
    world = SCENARIOS[scenario]
    machine = world.machine(settings)
    rows = {penalty: Row() for penalty in PENALTIES}
    for seed in seeds:
        market = Market(world.suppliers, machine.slots, seed)
        stream = CustomerStream(world.demand, world.site, seed=seed)
        for slot in machine.slots:
            if slot.id not in world.demand or not is_fresh(slot):
                continue
            cost = lowest_floor(market, slot.gtin)
            demand, customers = fresh_days(slot, stream, days)
            problem = relaxed_fresh_problem(slot)
            for penalty, row in rows.items():
                out = problem.outcome(demand, slot.retail_price, cost, waste_penalty=penalty * cost)
                row.customers += customers
                row.sold += out.sold
                row.spoiled += out.spoiled
                row.spoiled_cost += out.spoiled * cost
                row.profit += out.profit
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", default="4-10", help="a seed or a range, e.g. 4-10")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    seeds = seed_list(args.seed)
    lines = [
        f"Fresh slots under the ceiling's relaxation, seeds {args.seed}, {args.days} days each, "
        "summed over seeds (money in USDC)",
        "",
        "| scenario | waste penalty (× unit cost) | fresh customers served | thrown away (units) "
        "| thrown away (cost) | fresh profit | profit given up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in args.scenario or list(SCENARIOS):
        rows = frontier(scenario, seeds, args.days)
        best = rows[0.0].profit
        for penalty, row in rows.items():
            served = row.sold / row.customers if row.customers else 1.0
            lines.append(
                f"| {scenario} | {penalty:g} | {served:.1%} | {row.spoiled:,.0f} "
                f"| {money(round(row.spoiled_cost), 6)} | {money(round(row.profit), 6)} "
                f"| {money(round(best - row.profit), 6)} |"
            )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
