"""Money is shown from integer base units exactly; times in UTC."""

from __future__ import annotations

import pytest

from dashboard.charts import bar_chart
from dashboard.formatting import money, short_hex, utc


@pytest.mark.parametrize(
    ("amount", "decimals", "shown"),
    [
        (1_234_567, 6, "1.23"),
        (1_235_000, 6, "1.24"),  # half rounds away from zero
        (-5_000_000, 6, "-5.00"),
        (2_500_000_000, 6, "2,500.00"),
        (0, 6, "0.00"),
        (7, 0, "7"),
        (10**30, 18, "1,000,000,000,000.00"),
    ],
)
def test_money_is_exact(amount: int, decimals: int, shown: str) -> None:
    assert money(amount, decimals) == shown


def test_time_and_hashes_are_short_and_readable() -> None:
    assert utc(0) == "1970-01-01 00:00 UTC"
    assert utc(None) == "—"
    assert short_hex("0x" + "ab" * 32) == "0xababab…ababab"
    assert short_hex(None) == "—"


def test_chart_labels_are_escaped_and_negative_bars_marked() -> None:
    svg = str(
        bar_chart(
            [("<b>", 5), ("x", -3)], title="P&L <script>", fmt=str, y_label="USDC", x_label="day"
        )
    )
    assert "<script>" not in svg
    assert "&lt;b&gt;" in svg
    assert svg.count('class="neg"') == 1
    assert svg.count('class="pos"') == 1
