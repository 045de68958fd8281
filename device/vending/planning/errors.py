"""Errors of the forecasting and planning package; every one is a ``CustobotError``."""

from __future__ import annotations

from device.errors import CustobotError


class PlanningError(CustobotError):
    """Root of the planning package's errors."""


class SalesHistoryError(PlanningError):
    """Sales data handed to a forecaster is unusable (naive time, gap, out of window)."""

    def __init__(self, problem: str, slot_id: int | None = None) -> None:
        where = f"slot {slot_id}: " if slot_id is not None else ""
        super().__init__(f"{where}{problem}")
        self.slot_id = slot_id
        self.problem = problem


class PlanInputError(PlanningError):
    """The planner was given inconsistent input (missing forecast, bad supplier data)."""

    def __init__(self, subject: str, problem: str) -> None:
        super().__init__(f"{subject}: {problem}")
        self.subject = subject
        self.problem = problem
