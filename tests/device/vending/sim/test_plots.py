"""``custobot simulate``'s plots: written by default where it says, items by name, USDC."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from typer.testing import CliRunner

import device.cli
from device.cli import app
from device.settings import load_settings
from device.vending.sim.compare import compare
from device.vending.sim.plots import profit_figure, stock_figure


def test_stock_lines_carry_item_names_and_profit_is_in_usdc() -> None:
    settings = load_settings()
    comparison = compare(settings, "office", days=1, seed=1, policies=("route",))
    items = {slot.id: slot.name for slot in settings.slots}
    stock = stock_figure(comparison, items)
    legend = stock.axes[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [items[i] for i in sorted(items)]
    profit = profit_figure(comparison)
    assert profit.axes[0].get_ylabel() == "cumulative profit (USDC)"
    plt.close(stock)
    plt.close(profit)


def test_simulate_writes_its_plots_by_default_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "custobot-plots"
    monkeypatch.setattr(device.cli, "DEFAULT_PLOTS", default)
    result = CliRunner().invoke(
        app, ["--log-level", "warning", "simulate", "--days", "1", "--policy", "route"]
    )
    assert result.exit_code == 0, result.output
    assert f"plots in {default}: profit.png, stock.png" in result.output.replace("\n", "")
    for name in ("profit.png", "stock.png"):
        assert (default / name).read_bytes().startswith(b"\x89PNG")
