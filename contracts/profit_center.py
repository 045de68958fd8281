"""Typed Python wrapper over one deployed ProfitCenter (web3 8).

Reads return dataclasses; writes send a transaction from a given ``Sender`` and
return a ``TxResult`` with the decoded events; every revert is a
``contracts.errors.ContractRevert`` naming the Solidity error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

from eth_abi import encode as abi_encode
from eth_typing import ABIEvent
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from web3 import Web3

from contracts.artifacts import load_artifact
from contracts.chain import Sender, iter_chunks, mined_receipt, reverts_normalised, send
from contracts.quote import Quote

LOG_QUERY_BLOCKS = 2_000


class Autonomy(IntEnum):
    """How much the agent may decide alone (mirrors the Solidity enum)."""

    BOUND = 0
    ADAPTABLE = 1
    AUTONOMOUS = 2


class OrderStatus(IntEnum):
    """Life cycle of an order (mirrors the Solidity enum)."""

    NONE = 0
    AWAITING_APPROVAL = 1
    OPEN = 2
    DELIVERED = 3
    DISPUTED = 4
    SETTLED = 5
    REJECTED = 6
    RELEASED = 7
    NONCE_CANCELLED = 8
    CANCELLED = 9
    WITHDRAWN = 10


@dataclass(frozen=True, slots=True)
class Policy:
    """What the governor allows; amounts in token base units, times in seconds."""

    autonomy: Autonomy
    auto_approval_threshold: int
    per_order_cap: int
    budget_per_period: int
    period_length: int
    operating_reserve: int
    dispute_window: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int]:
        return (
            int(self.autonomy),
            self.auto_approval_threshold,
            self.per_order_cap,
            self.budget_per_period,
            self.period_length,
            self.operating_reserve,
            self.dispute_window,
        )

    @classmethod
    def from_tuple(cls, value: Any) -> Policy:
        return cls(Autonomy(value[0]), *(int(field) for field in value[1:]))


@dataclass(frozen=True, slots=True)
class Order:
    """One order as stored. ``time`` is the deliver-by deadline while open, the time
    the supplier marked delivery while delivered/disputed, the settlement time once
    settled; ``amount`` is the reserved amount, and once settled the amount paid."""

    supplier: str
    amount: int
    time: int
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class Books:
    """The contract's accounting: treasury, reservations, and the budget bucket (what the
    agent may still commit; it refills continuously to ``budget_per_period`` over a period,
    last at ``refilled_at``)."""

    treasury: int
    reserved: int
    budget_available: int
    budget_per_period: int
    refilled_at: int


@dataclass(frozen=True, slots=True)
class FareRules:
    """A taxi's fare rules the governor sets: the demand-factor cap (basis points of the
    published tariff, 10,000 = 1.0x) and an emergency that holds fares to the tariff."""

    cap_bp: int
    emergency: bool


@dataclass(frozen=True, slots=True)
class EventMeta:
    """Where an event was emitted."""

    block_number: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True, slots=True)
class AgentChanged:
    meta: EventMeta
    previous_agent: str
    new_agent: str
    valid_until: int


@dataclass(frozen=True, slots=True)
class OwnershipTransferStarted:
    """The governor proposed ``new_owner`` as governor; it takes over when it accepts."""

    meta: EventMeta
    previous_owner: str
    new_owner: str


@dataclass(frozen=True, slots=True)
class OwnershipTransferred:
    """The governor changed (``previous_owner`` is zero at deployment)."""

    meta: EventMeta
    previous_owner: str
    new_owner: str


@dataclass(frozen=True, slots=True)
class PolicyChanged:
    meta: EventMeta
    policy: Policy


@dataclass(frozen=True, slots=True)
class SupplierAllowed:
    meta: EventMeta
    supplier: str
    allowed: bool


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """The agent placed ``supplier``'s quote ``nonce``; suppliers and monitors watch for this."""

    meta: EventMeta
    order_id: bytes
    supplier: str
    token: str
    nonce: int
    amount: int
    items_hash: bytes
    deliver_by: int
    awaiting_approval: bool


@dataclass(frozen=True, slots=True)
class OrderApproved:
    meta: EventMeta
    order_id: bytes


@dataclass(frozen=True, slots=True)
class OrderRejected:
    meta: EventMeta
    order_id: bytes
    released: int


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    meta: EventMeta
    order_id: bytes
    released: int


@dataclass(frozen=True, slots=True)
class OrderWithdrawn:
    meta: EventMeta
    order_id: bytes
    released: int


@dataclass(frozen=True, slots=True)
class OrderDelivered:
    meta: EventMeta
    order_id: bytes
    dispute_until: int


@dataclass(frozen=True, slots=True)
class OrderDisputed:
    meta: EventMeta
    order_id: bytes
    resolve_by: int


@dataclass(frozen=True, slots=True)
class OrderSettled:
    meta: EventMeta
    order_id: bytes
    supplier: str
    paid: int
    released: int


@dataclass(frozen=True, slots=True)
class OrderReleased:
    meta: EventMeta
    order_id: bytes
    released: int


@dataclass(frozen=True, slots=True)
class NonceCancelled:
    meta: EventMeta
    supplier: str
    nonce: int


@dataclass(frozen=True, slots=True)
class RevenueDeposited:
    meta: EventMeta
    sender: str
    amount: int


@dataclass(frozen=True, slots=True)
class SurplusRecognized:
    meta: EventMeta
    amount: int


@dataclass(frozen=True, slots=True)
class MembersChanged:
    meta: EventMeta
    members: tuple[str, ...]
    shares: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Distributed:
    meta: EventMeta
    amount: int


@dataclass(frozen=True, slots=True)
class Claimed:
    meta: EventMeta
    member: str
    amount: int


@dataclass(frozen=True, slots=True)
class FareCapChanged:
    meta: EventMeta
    cap_bp: int


@dataclass(frozen=True, slots=True)
class EmergencyChanged:
    meta: EventMeta
    active: bool


@dataclass(frozen=True, slots=True)
class Paused:
    meta: EventMeta
    account: str


@dataclass(frozen=True, slots=True)
class Unpaused:
    meta: EventMeta
    account: str


ProfitCenterEvent = (
    AgentChanged
    | OwnershipTransferStarted
    | OwnershipTransferred
    | PolicyChanged
    | SupplierAllowed
    | OrderPlaced
    | OrderApproved
    | OrderRejected
    | OrderCancelled
    | OrderWithdrawn
    | OrderDelivered
    | OrderDisputed
    | OrderSettled
    | OrderReleased
    | NonceCancelled
    | RevenueDeposited
    | SurplusRecognized
    | MembersChanged
    | Distributed
    | Claimed
    | FareCapChanged
    | EmergencyChanged
    | Paused
    | Unpaused
)
_EVENT_CLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        AgentChanged,
        OwnershipTransferStarted,
        OwnershipTransferred,
        PolicyChanged,
        SupplierAllowed,
        OrderPlaced,
        OrderApproved,
        OrderRejected,
        OrderCancelled,
        OrderWithdrawn,
        OrderDelivered,
        OrderDisputed,
        OrderSettled,
        OrderReleased,
        NonceCancelled,
        RevenueDeposited,
        SurplusRecognized,
        MembersChanged,
        Distributed,
        Claimed,
        FareCapChanged,
        EmergencyChanged,
        Paused,
        Unpaused,
    )
}


@dataclass(frozen=True, slots=True)
class TxResult:
    """A mined, successful transaction and the ProfitCenter events it emitted."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    events: tuple[ProfitCenterEvent, ...]


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The result of ``place_order``: the order id and the transaction."""

    order_id: bytes
    awaiting_approval: bool
    tx: TxResult


def order_id(supplier: str, nonce: int) -> bytes:
    """keccak256(abi.encode(supplier, nonce)): the on-chain key of a quote's order."""
    return keccak(abi_encode(["address", "uint256"], [to_checksum_address(supplier), nonce]))


def _plain(value: Any) -> Any:
    """Web3 values to plain Python: checksum str, bytes, tuples."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):  # a struct, decoded as AttributeDict in events
        return tuple(_plain(item) for item in value.values())
    if isinstance(value, list | tuple):
        return tuple(_plain(item) for item in value)
    return value


class ProfitCenter:
    """One deployed ProfitCenter at ``address``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        abi = load_artifact("ProfitCenter").abi
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self._events_by_topic = {
            bytes(event_abi_to_log_topic(cast(ABIEvent, item))): item["name"]
            for item in abi
            if item["type"] == "event"
        }

    # ------------------------------------------------------------------ views

    def _view(self, name: str, *args: Any) -> Any:
        function = self.contract.functions[name](*args)
        return reverts_normalised(function.call)

    def policy(self) -> Policy:
        return Policy.from_tuple(self._view("policy"))

    def fare_rules(self) -> FareRules:
        cap_bp, emergency = self._view("fareRules")
        return FareRules(int(cap_bp), bool(emergency))

    def order(self, order_id_: bytes) -> Order:
        supplier, amount, time, status = self._view("orderInfo", order_id_)
        return Order(to_checksum_address(supplier), amount, time, OrderStatus(status))

    def books(self) -> Books:
        """Current books, with a finished budget period already rolled over."""
        return Books(*(int(value) for value in self._view("currentBooks")))

    def treasury(self) -> int:
        """Money the machine owns in the contract (reserved orders included)."""
        return self.books().treasury

    def reserved(self) -> int:
        """Money held for open orders."""
        return self.books().reserved

    def budget_left(self) -> int:
        return int(self._view("budgetLeft"))

    def effective_deadline(self, deadline: int) -> int:
        """When a deadline stored on an order really falls, paused time not counted."""
        return int(self._view("effectiveDeadline", deadline))

    def agent(self) -> str:
        return to_checksum_address(self._view("agent"))

    def agent_valid_until(self) -> int:
        """Until when the agent key may place orders (unix seconds)."""
        return int(self._view("agentValidUntil"))

    def governor(self) -> str:
        return to_checksum_address(self._view("governor"))

    def pending_governor(self) -> str:
        """The governor proposed by ``transfer_governance`` that has not accepted yet (or zero)."""
        return to_checksum_address(self._view("pendingOwner"))

    def token(self) -> str:
        return to_checksum_address(self._view("token"))

    def paused(self) -> bool:
        return bool(self._view("paused"))

    def is_supplier_allowed(self, supplier: str) -> bool:
        return bool(self._view("isSupplierAllowed", to_checksum_address(supplier)))

    def members(self) -> dict[str, int]:
        """Member address -> share."""
        addresses, shares = self._view("members")
        return {to_checksum_address(a): int(s) for a, s in zip(addresses, shares, strict=True)}

    def claimable(self, member: str) -> int:
        return int(self._view("claimable", to_checksum_address(member)))

    def total_claimable(self) -> int:
        return int(self._view("totalClaimable"))

    def token_balance(self) -> int:
        """What the contract really holds in the settlement token (treasury + unclaimed + surplus)."""
        token = self.w3.eth.contract(
            address=to_checksum_address(self.token()), abi=load_artifact("MockUSDC").abi
        )
        return int(reverts_normalised(token.functions.balanceOf(self.address).call))

    def domain_separator(self) -> bytes:
        return bytes(self._view("domainSeparator"))

    def order_id(self, supplier: str, nonce: int) -> bytes:
        """Same as the module-level ``order_id`` (the contract's key does not depend on it)."""
        return order_id(supplier, nonce)

    # ------------------------------------------------------------ transactions

    def _send(self, sender: Sender, name: str, *args: Any, nonce: int | None = None) -> TxResult:
        receipt = send(self.w3, self.contract.functions[name](*args), sender, nonce=nonce)
        return self._result(receipt)

    def tx_result(self, tx_hash: bytes) -> TxResult | None:
        """What a transaction sent earlier did: None while unmined, ContractRevertError if it reverted."""
        receipt = mined_receipt(self.w3, tx_hash)
        return None if receipt is None else self._result(receipt)

    def _result(self, receipt: Any) -> TxResult:
        return TxResult(
            tx_hash=bytes(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=tuple(self.decode_logs(receipt["logs"])),
        )

    def place_order(
        self, quote: Quote, signature: bytes, *, sender: Sender, nonce: int | None = None
    ) -> PlacedOrder:
        """Agent: place ``quote``; the amount is reserved (and may await approval)."""
        tx = self._send(sender, "placeOrder", quote.as_tuple(), signature, nonce=nonce)
        placed = next(event for event in tx.events if isinstance(event, OrderPlaced))
        return PlacedOrder(placed.order_id, placed.awaiting_approval, tx)

    def approve_order(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        return self._send(sender, "approveOrder", order_id_)

    def reject_order(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        return self._send(sender, "rejectOrder", order_id_)

    def cancel_order(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        """Governor: cancel an open order; nothing is paid, the reservation is released."""
        return self._send(sender, "cancelOrder", order_id_)

    def withdraw_order(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        """Supplier: withdraw its quote from an order still awaiting approval."""
        return self._send(sender, "withdrawOrder", order_id_)

    def confirm_delivery(
        self, order_id_: bytes, amount_delivered: int, *, sender: Sender, nonce: int | None = None
    ) -> TxResult:
        """Agent: pay ``amount_delivered`` (all or part of the order) and release the rest."""
        return self._send(sender, "confirmDelivery", order_id_, amount_delivered, nonce=nonce)

    def mark_delivered(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        return self._send(sender, "markDelivered", order_id_)

    def claim_payment(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        return self._send(sender, "claimPayment", order_id_)

    def dispute(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        return self._send(sender, "dispute", order_id_)

    def resolve_dispute(
        self, order_id_: bytes, amount_to_supplier: int, *, sender: Sender
    ) -> TxResult:
        return self._send(sender, "resolveDispute", order_id_, amount_to_supplier)

    def release_expired(self, order_id_: bytes, *, sender: Sender) -> TxResult:
        return self._send(sender, "releaseExpired", order_id_)

    def cancel_nonce(self, nonce: int, *, sender: Sender) -> TxResult:
        """Supplier: make its quote ``nonce`` unusable."""
        return self._send(sender, "cancelNonce", nonce)

    def deposit_revenue(self, amount: int, *, sender: Sender) -> TxResult:
        """Move ``amount`` from ``sender`` (which approved this contract) into the treasury."""
        return self._send(sender, "depositRevenue", amount)

    def distribute(self, *, sender: Sender) -> TxResult:
        return self._send(sender, "distribute")

    def claim(self, *, sender: Sender) -> TxResult:
        return self._send(sender, "claim")

    def set_policy(self, policy: Policy, *, sender: Sender) -> TxResult:
        return self._send(sender, "setPolicy", policy.as_tuple())

    def set_fare_cap(self, cap_bp: int, *, sender: Sender) -> TxResult:
        """Governor: cap a taxi's demand factor at ``cap_bp`` (10,000 = 1.0x, no surge)."""
        return self._send(sender, "setFareCap", cap_bp)

    def set_emergency(self, active: bool, *, sender: Sender) -> TxResult:
        """Governor: declare an emergency (fares at the plain tariff) or end it."""
        return self._send(sender, "setEmergency", active)

    def set_supplier(self, supplier: str, allowed: bool, *, sender: Sender) -> TxResult:
        return self._send(sender, "setSupplier", to_checksum_address(supplier), allowed)

    def set_members(self, shares: dict[str, int], *, sender: Sender) -> TxResult:
        """Replace all members: address -> share."""
        members = [to_checksum_address(member) for member in shares]
        return self._send(sender, "setMembers", members, list(shares.values()))

    def set_agent(self, agent: str, valid_until: int, *, sender: Sender) -> TxResult:
        """Governor: rotate or renew the agent key, valid for placing orders until ``valid_until``."""
        return self._send(sender, "setAgent", to_checksum_address(agent), valid_until)

    def transfer_governance(self, governor: str, *, sender: Sender) -> TxResult:
        """Governor: propose ``governor``; it takes over once it calls ``accept_governance``."""
        return self._send(sender, "transferOwnership", to_checksum_address(governor))

    def accept_governance(self, *, sender: Sender) -> TxResult:
        """The proposed governor takes over (proving it can send transactions)."""
        return self._send(sender, "acceptOwnership")

    def pause(self, *, sender: Sender) -> TxResult:
        return self._send(sender, "pause")

    def unpause(self, *, sender: Sender) -> TxResult:
        return self._send(sender, "unpause")

    def encode_call(self, name: str, *args: Any) -> bytes:
        """Calldata for a call, e.g. for a governance proposal targeting this contract."""
        return bytes.fromhex(self.contract.encode_abi(name, args)[2:])

    # ------------------------------------------------------------------ events

    def decode_logs(self, logs: list[Any]) -> list[ProfitCenterEvent]:
        """The ProfitCenter events among ``logs`` (other contracts' logs are skipped)."""
        events: list[ProfitCenterEvent] = []
        for log in logs:
            if to_checksum_address(log["address"]) != self.address or not log["topics"]:
                continue
            name = self._events_by_topic.get(bytes(log["topics"][0]))
            if name is None:
                continue
            decoded = self.contract.events[name]().process_log(log)
            meta = EventMeta(
                block_number=int(decoded["blockNumber"]),
                tx_hash=bytes(decoded["transactionHash"]),
                log_index=int(decoded["logIndex"]),
            )
            values = [_plain(value) for value in decoded["args"].values()]
            if name == "PolicyChanged":
                values = [Policy.from_tuple(values[0])]
            events.append(_EVENT_CLASSES[name](meta, *values))
        return events

    def events(self, from_block: int, to_block: int | None = None) -> list[ProfitCenterEvent]:
        """Every ProfitCenter event in the inclusive block range, oldest first."""
        last = self.w3.eth.block_number if to_block is None else to_block
        events: list[ProfitCenterEvent] = []
        for start, end in iter_chunks(from_block, last, LOG_QUERY_BLOCKS):
            logs = self.w3.eth.get_logs(
                {"address": self.address, "fromBlock": start, "toBlock": end}
            )
            events.extend(self.decode_logs(list(logs)))
        return events
