"""The terminal view of a running machine: one rich table of stock and sales."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from device.money import money
from device.vending.agent import MachineState
from device.vending.sim.machine import SimulationTotals


def _bar(stock: int | None, capacity: int, width: int = 12) -> Text:
    if stock is None:
        return Text("?" * width, style="dim")
    filled = round(width * stock / capacity) if capacity else 0
    style = "red" if stock == 0 else "yellow" if stock * 4 <= capacity else "green"
    return Text("█" * filled + "·" * (width - filled), style=style)


def machine_table(
    state: MachineState, totals: SimulationTotals | None = None, decimals: int = 6
) -> Group:
    table = Table(title=f"custobot · {state.at:%a %Y-%m-%d %H:%M} UTC", expand=False)
    for column in ("slot", "item", "stock", "", "sensor", "health", "sold today"):
        table.add_column(column, justify="right" if column in ("stock", "sold today") else "left")
    for slot in state.slots:
        table.add_row(
            str(slot.slot_id),
            slot.name,
            "?" if slot.stock is None else f"{slot.stock}/{slot.capacity}",
            _bar(slot.stock, slot.capacity),
            "-" if slot.sensor_count is None else str(slot.sensor_count),
            slot.fault,
            str(slot.sold_today),
        )
    lines = [
        f"today: {state.sales_today} sales, revenue {money(state.revenue_today, decimals)} USDC, "
        f"{state.refunds_today} refunds" + (" · door OPEN" if state.door_open else "")
    ]
    if totals is not None:
        lines.append(
            f"since start: {totals.sales} sales, revenue {money(totals.revenue, decimals)} USDC, "
            f"{totals.lost_sales} customers found it empty, {totals.restock_visits} restocking visits"
        )
    lines += [f"alert: {alert}" for alert in state.alerts[:5]]
    return Group(table, *(Text(line) for line in lines))
