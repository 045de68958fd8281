"""The reference supplier's errors: leaves of ``CustobotError`` that name what went wrong."""

from __future__ import annotations

from device.errors import CustobotError


class SupplierError(CustobotError):
    """Root of every error the reference supplier raises on purpose."""


class KeystoreError(SupplierError):
    """The keystore file or its passphrase is missing or wrong (the key is never shown)."""


class UnknownRfqError(SupplierError):
    """No negotiation with this RFQ id exists."""

    def __init__(self, rfq_id: str) -> None:
        super().__init__(f"no RFQ with id {rfq_id}")
        self.rfq_id = rfq_id


class NotYourRfqError(SupplierError):
    """A counter whose key does not open the RFQ's lock: not from the machine that opened it."""

    def __init__(self, rfq_id: str) -> None:
        super().__init__(f"RFQ {rfq_id}: counter_key does not open the counter_lock")
        self.rfq_id = rfq_id


class DuplicateRfqError(SupplierError):
    """An RFQ id was reused with a different request."""

    def __init__(self, rfq_id: str) -> None:
        super().__init__(f"RFQ id {rfq_id} is already used by a different request")
        self.rfq_id = rfq_id


class StaleRoundError(SupplierError):
    """A counter answers an offer round other than the latest one."""

    def __init__(self, rfq_id: str, got: int, latest: int) -> None:
        super().__init__(f"RFQ {rfq_id}: counter answers round {got}, the latest offer is {latest}")
        self.rfq_id = rfq_id
        self.got = got
        self.latest = latest


class UnknownOrderError(SupplierError):
    """No observed on-chain order has this id."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"no order {order_id} observed for this supplier")
        self.order_id = order_id


class OrderStateError(SupplierError):
    """The order is not in a state that allows this action."""

    def __init__(self, order_id: int, state: str, action: str) -> None:
        super().__init__(f"order {order_id} is {state}; cannot {action}")
        self.order_id = order_id
        self.state = state
        self.action = action
