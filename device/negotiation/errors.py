"""Errors of the buyer side of the market; every one is a ``CustobotError``."""

from __future__ import annotations

from device.errors import CustobotError
from device.negotiation.transcript import Reason


class NegotiationError(CustobotError):
    """Root of the negotiation package's errors."""


class SupplierError(NegotiationError):
    """One supplier broke the protocol or could not be reached; the others go on.

    ``reason`` is the refusal code that goes into the transcript.
    """

    def __init__(self, supplier: str, reason: Reason, detail: str) -> None:
        super().__init__(f"{supplier}: {reason.value}: {detail}")
        self.supplier = supplier
        self.reason = reason
        self.detail = detail
