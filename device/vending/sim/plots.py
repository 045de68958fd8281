"""PNG plots of a comparison: stock over time per policy, cumulative profit per policy.

matplotlib with the Agg backend: no display is needed (a Pi, CI, a container).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from device.vending.sim.compare import Comparison


def _title(comparison: Comparison) -> str:
    return f"{comparison.scenario}, seed {comparison.seed}, {comparison.days:g} days"


def profit_figure(comparison: Comparison, decimals: int = 6, currency: str = "USDC") -> Figure:
    """Cumulative profit per policy, in the token (not its base units)."""
    unit = 10**decimals
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, result in comparison.results.items():
        days = [s.day for s in result.samples]
        ax.plot(days, [s.profit / unit for s in result.samples], label=name)
    ax.set_xlabel("day")
    ax.set_ylabel(f"cumulative profit ({currency})")
    ax.set_title(f"Profit per policy: {_title(comparison)}")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def stock_figure(comparison: Comparison, items: Mapping[int, str] | None = None) -> Figure:
    """Items in stock per policy, a line per item named from ``items`` (slot id -> name)."""
    names = dict(items or {})
    rows = len(comparison.results)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.6 * rows), sharex=True, squeeze=False)
    for ax, (name, result) in zip(axes[:, 0], comparison.results.items(), strict=True):
        days = [s.day for s in result.samples]
        slots = sorted(result.samples[0].stock) if result.samples else []
        for slot in slots:
            ax.step(
                days,
                [s.stock[slot] for s in result.samples],
                where="post",
                label=names.get(slot, f"slot {slot}"),
            )
        ax.set_ylabel(f"{name}\nitems")
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(f"Stock per item: {_title(comparison)}")
    axes[0, 0].legend(ncol=3, fontsize="small", loc="upper right")
    axes[-1, 0].set_xlabel("day")
    return fig


def write_plots(
    comparison: Comparison,
    directory: Path,
    decimals: int = 6,
    *,
    items: Mapping[int, str] | None = None,
    currency: str = "USDC",
) -> list[Path]:
    """Write ``profit.png`` and ``stock.png`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fig, name in (
        (profit_figure(comparison, decimals, currency), "profit.png"),
        (stock_figure(comparison, items), "stock.png"),
    ):
        path = directory / name
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written
