"""The fallback for a slot without a sensor: last recount minus sales since."""

from __future__ import annotations

from device.vending.hardware.readings import FaultState, SensorRead, faulted

_START_CONFIDENCE = 0.7  # a recount is a count, but nobody checks it between visits
_CONFIDENCE_PER_SALE = 0.02  # every sale is a chance for a miscount (jam, double drop)
_MIN_CONFIDENCE = 0.3


class SalesCount:
    """Tracks stock by bookkeeping; also serves switch slots as their count estimate."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.recounted: int | None = None
        self.sales_since = 0

    def recount(self, count: int) -> None:
        self.recounted = count
        self.sales_since = 0

    def add_sales(self, sales: int) -> None:
        self.sales_since += sales

    @property
    def estimate(self) -> int | None:
        if self.recounted is None:
            return None
        return max(0, self.recounted - self.sales_since)

    def read(self) -> SensorRead:
        if self.recounted is None:
            return SensorRead(None, None, None, 0.0, FaultState.OK, "no recount yet")
        if self.sales_since > self.recounted:
            return faulted(
                FaultState.OUT_OF_RANGE,
                f"{self.sales_since} sales since a recount of {self.recounted}",
                0,
            )
        count = self.recounted - self.sales_since
        confidence = max(
            _MIN_CONFIDENCE, _START_CONFIDENCE - _CONFIDENCE_PER_SALE * self.sales_since
        )
        return SensorRead(
            count,
            count,
            count,
            round(confidence, 3),
            FaultState.OK,
            f"recount {self.recounted} minus {self.sales_since} sales",
        )
