"""PNG plots of a comparison: stock over time per policy, cumulative profit per policy.

matplotlib with the Agg backend: no display is needed (a Pi, CI, a container).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from device.sim.compare import Comparison


def write_plots(comparison: Comparison, directory: Path, decimals: int = 6) -> list[Path]:
    """Write ``profit.png`` and ``stock.png`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    title = f"{comparison.scenario}, seed {comparison.seed}, {comparison.days:g} days"
    unit = 10**decimals

    fig, ax = plt.subplots(figsize=(9, 5))
    for name, result in comparison.results.items():
        days = [s.day for s in result.samples]
        ax.plot(days, [s.profit / unit for s in result.samples], label=name)
    ax.set_xlabel("day")
    ax.set_ylabel("cumulative profit (token units)")
    ax.set_title(f"Profit per policy: {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    profit = directory / "profit.png"
    fig.savefig(profit, dpi=100, bbox_inches="tight")
    plt.close(fig)

    rows = len(comparison.results)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.6 * rows), sharex=True, squeeze=False)
    for ax, (name, result) in zip(axes[:, 0], comparison.results.items(), strict=True):
        days = [s.day for s in result.samples]
        slots = sorted(result.samples[0].stock) if result.samples else []
        for slot in slots:
            ax.step(
                days, [s.stock[slot] for s in result.samples], where="post", label=f"slot {slot}"
            )
        ax.set_ylabel(f"{name}\nitems")
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(f"Stock per slot: {title}")
    axes[0, 0].legend(ncol=6, fontsize="small", loc="upper right")
    axes[-1, 0].set_xlabel("day")
    stock = directory / "stock.png"
    fig.savefig(stock, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [profit, stock]
