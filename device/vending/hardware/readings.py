"""What every stock sensor reports, and the fault rules that count sensors share."""

from __future__ import annotations

import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Raw sample counts may disagree by this many items within one poll before the
# sensor is called flapping (a real column reads to well under one pitch).
FLAP_SPREAD_ITEMS = 1.5
# A reading may lie this far outside [0, capacity] (in items) before it is out of range.
RANGE_SLACK_ITEMS = 0.5


class FaultState(enum.StrEnum):
    """Why a slot's reading may not be trusted; only ``OK`` may be a reason to buy."""

    OK = "ok"
    STUCK = "stuck"  # reading unchanged while sales happened
    OUT_OF_RANGE = "out_of_range"  # reading beyond the column / calibration
    FLAPPING = "flapping"  # switch toggling too often, or samples jumping up and down
    DISCONNECTED = "disconnected"  # no echo, SPI at a rail, or the read failed


@dataclass(frozen=True, slots=True)
class SensorRead:
    """One sensor's verdict at one poll; ``floor``/``ceiling`` bound the stock when known."""

    count: int | None
    floor: int | None
    ceiling: int | None
    confidence: float
    fault: FaultState
    detail: str


def faulted(fault: FaultState, detail: str, count: int | None = None) -> SensorRead:
    """A reading that must not be used: confidence 0, bounds only if a clamped count is known."""
    return SensorRead(count, count, count, 0.0, fault, detail)


class StuckWatch:
    """Flags a count that stays the same while ``after_sales`` sales were made."""

    def __init__(self, after_sales: int) -> None:
        self.after_sales = after_sales
        self._last: int | None = None
        self._sales = 0

    def observe(self, value: int, sales: int) -> bool:
        if value != self._last:
            self._last = value
            self._sales = 0
            return False
        self._sales += sales
        return self._sales >= self.after_sales

    @property
    def sales_unmatched(self) -> int:
        return self._sales


def count_from_samples(
    raw_counts: Sequence[float], capacity: int, watch: StuckWatch, sales: int, unit: str
) -> SensorRead:
    """Median-filter raw (fractional) counts and apply the flapping, range and stuck rules."""
    middle = statistics.median(raw_counts)
    spread = max(raw_counts) - min(raw_counts)
    count = min(capacity, max(0, round(middle)))
    if spread > FLAP_SPREAD_ITEMS:
        return faulted(
            FaultState.FLAPPING,
            f"{len(raw_counts)} samples spread {spread:.1f} items ({unit})",
        )
    if not -RANGE_SLACK_ITEMS <= middle <= capacity + RANGE_SLACK_ITEMS:
        return faulted(
            FaultState.OUT_OF_RANGE,
            f"reads {middle:.1f} items, outside 0..{capacity} ({unit})",
            count,
        )
    if watch.observe(count, sales):
        return faulted(
            FaultState.STUCK,
            f"still {count} after {watch.sales_unmatched} sales ({unit})",
            count,
        )
    confidence = round(0.95 - 0.2 * spread, 3)
    return SensorRead(
        count, count, count, confidence, FaultState.OK, f"{unit}: median of {len(raw_counts)}"
    )
