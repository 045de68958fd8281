"""Where a policy's profit falls short of the ceiling without foresight, in money.

The ceiling (``device.vending.sim.ceiling``) serves every customer with goods bought at
the lowest floor price, pays only the deliveries the fastest slot needs, and
gives up only the fresh items' expected loss. With ``c``, ``sold``, ``lost``
the customers, sales and lost sales of a slot, ``r`` its retail price and ``f``
its lowest floor price, exactly (base units)::

    ceiling - profit = sum(lost * r)             lost sales, at retail
                     - sum(lost * f)             ... whose goods the policy did not buy
                     + cost of goods sold - sum(sold * f)   price paid above the floor
                     + spoilage + returned goods + delivery fees + gas
                     - the ceiling's own allowance (fresh loss, its deliveries)
                     + residual

The residual is what the policy paid in order totals rounded above their unit
prices (``Ledger.rounding``) plus any sale below retail; it is reported, not hidden.
Capital tied up is not a cost in the profit (nor in the ceiling), so it is shown
beside the sum: the average value of the stock in the machine at the floor price,
and what that capital costs at ``CAPITAL_RATE_PPM`` a year.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from device.vending.sim.ceiling import Ceiling
from device.vending.sim.compare import PolicyResult, money

PPM = 1_000_000
GAP_POLICIES = ("agent", "classic-neg")  # the issue asks for these two against the ceiling
CAPITAL_RATE_PPM = 100_000  # 10% a year: a small business's cost of money, stated, not measured


@dataclass(frozen=True, slots=True)
class Gap:
    """One policy's shortfall against the ceiling, by cause (base units)."""

    policy: str
    ceiling: int
    profit: int
    lost_sales_retail: int
    lost_goods_floor: int  # negative: the goods of the lost sales, not bought
    above_floor: int  # paid above the lowest floor price for the goods sold
    spoilage: int
    returned: int
    delivery_fees: int
    gas: int
    ceiling_allowance: int  # negative: what the ceiling itself gives up
    residual: int  # rounding of order totals, sales below retail
    inventory_value: int  # average stock at the floor price (not in the sum)
    capital_cost: int  # ... at CAPITAL_RATE_PPM a year over the run (not in the sum)

    @property
    def gap(self) -> int:
        return self.ceiling - self.profit

    def parts(self) -> dict[str, int]:
        """The components that sum to ``gap`` (the residual last)."""
        return {
            "lost sales, at retail": self.lost_sales_retail,
            "their goods at the floor, not bought": self.lost_goods_floor,
            "price paid above the floor (goods sold)": self.above_floor,
            "spoilage (cost)": self.spoilage,
            "returned, no room (cost)": self.returned,
            "delivery fees": self.delivery_fees,
            "gas": self.gas,
            "ceiling's own allowance (fresh loss, its deliveries)": self.ceiling_allowance,
            "residual (rounded order totals)": self.residual,
        }


def decompose(result: PolicyResult, bound: Ceiling) -> Gap:
    """``result``'s shortfall against ``bound`` (the same scenario, seed and days)."""
    lost = result.lost_per_slot
    sold = {s: c - lost.get(s, 0) for s, c in bound.customers.items()}
    lost_retail = sum(n * bound.retail[s] for s, n in lost.items())
    lost_floor = sum(n * bound.floors[s] for s, n in lost.items())
    floor_of_sold = sum(n * bound.floors[s] for s, n in sold.items())
    parts = (
        lost_retail
        - lost_floor
        + result.cost_of_goods
        - floor_of_sold
        + result.spoilage_cost
        + result.returned_cost
        + result.delivery_fees
        + result.gas
        - bound.allowance
    )
    gap = bound.profit - result.profit
    samples = result.samples
    inventory = (
        sum(sum(n * bound.floors.get(s, 0) for s, n in sample.stock.items()) for sample in samples)
        // len(samples)
        if samples
        else 0
    )
    capital = round(inventory * CAPITAL_RATE_PPM * result.days / 365 / PPM)
    return Gap(
        policy=result.policy,
        ceiling=bound.profit,
        profit=result.profit,
        lost_sales_retail=lost_retail,
        lost_goods_floor=-lost_floor,
        above_floor=result.cost_of_goods - floor_of_sold,
        spoilage=result.spoilage_cost,
        returned=result.returned_cost,
        delivery_fees=result.delivery_fees,
        gas=result.gas,
        ceiling_allowance=-bound.allowance,
        residual=gap - parts,
        inventory_value=inventory,
        capital_cost=capital,
    )


def gap_json(gap: Gap) -> dict[str, Any]:
    data = asdict(gap)
    data["gap"] = gap.gap
    return data


def gap_rows(gaps: list[Gap], decimals: int) -> list[tuple[str, list[str]]]:
    """Rows of the decomposition (label, one cell per policy), shared by the CLI and the
    README's benchmark."""
    rows = [
        ("ceiling without foresight", [money(g.ceiling, decimals) for g in gaps]),
        ("profit", [money(g.profit, decimals) for g in gaps]),
        ("gap (ceiling - profit)", [money(g.gap, decimals) for g in gaps]),
    ]
    for label in gaps[0].parts():
        rows.append((f"  {label}", [money(g.parts()[label], decimals) for g in gaps]))
    rows.append(
        ("average stock at the floor price", [money(g.inventory_value, decimals) for g in gaps])
    )
    rate = f"{CAPITAL_RATE_PPM / PPM:.0%}"
    rows.append(
        (f"  its capital at {rate} a year", [money(g.capital_cost, decimals) for g in gaps])
    )
    return rows


def gap_table(gaps: list[Gap], title: str, decimals: int = 6) -> Table:
    """The decomposition as a terminal table: one column per policy."""
    table = Table(title=title)
    table.add_column("where the profit goes")
    for g in gaps:
        table.add_column(g.policy, justify="right")
    for label, cells in gap_rows(gaps, decimals):
        table.add_row(label, *cells)
    return table


def gap_markdown(gaps: list[Gap], decimals: int = 6) -> str:
    lines = [
        "| against the ceiling | " + " | ".join(g.policy for g in gaps) + " |",
        "|---" + "|---:" * len(gaps) + "|",
    ]
    for label, cells in gap_rows(gaps, decimals):
        lines.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summed(gaps: list[Gap]) -> Gap:
    """Several seeds' gaps of one policy added up (for the summary over seeds)."""
    first = gaps[0]
    totals = {
        name: sum(getattr(g, name) for g in gaps)
        for name in Gap.__dataclass_fields__
        if name != "policy"
    }
    totals["inventory_value"] //= len(gaps)  # an average stays an average
    return Gap(policy=first.policy, **totals)
