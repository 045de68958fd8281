"""The negotiation benchmark's quality targets, on a smaller seeded sample (speed is not asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks.negotiation import MARKET, STRATEGIES, TIME_DEPENDENT, main, run
from device.negotiation import BuyerPolicy


@pytest.mark.parametrize("kind", [*sorted(STRATEGIES), MARKET])
def test_buyer_meets_the_targets_against_each_strategy(kind: str) -> None:
    row = run(kind, 200, seed=3, policy=BuyerPolicy())
    assert row.deals_above_reservation == 0
    assert row.deal_zone_cases > 100
    assert row.agreements_in_zone / row.deal_zone_cases >= 0.98
    if kind in TIME_DEPENDENT:
        assert sum(row.shares) / len(row.shares) >= 0.60


def test_json_report_has_one_row_per_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cases", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["strategy"] for row in report["rows"]] == [*STRATEGIES, MARKET]
    assert all(row["cases"] == 20 for row in report["rows"])
    assert all(row["deals_above_reservation"] == 0 for row in report["rows"])
