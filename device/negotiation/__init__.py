"""The buyer side of the market: negotiate a need with many suppliers, keep a transcript.

``Buyer`` talks ``custobot/2`` over HTTP; ``BuyerCore`` is the same bargaining
logic without I/O (the benchmark and the simulation drive it in-process).
"""

from device.negotiation.buyer import Buyer, HttpLimits, NegotiationResult, UsedQuote
from device.negotiation.checks import Refusal, check_quote
from device.negotiation.core import Bid, BuyerCore, CounterMove, Counters, Finished
from device.negotiation.errors import NegotiationError, SupplierError
from device.negotiation.inprocess import Counterpart, Quoted, negotiate_in_process
from device.negotiation.need import Need, NeedItem, SupplierRef
from device.negotiation.policy import BuyerPolicy
from device.negotiation.transcript import (
    Decision,
    Event,
    EventKind,
    Reason,
    Standing,
    SupplierStatus,
    Transcript,
)

__all__ = [
    "Bid",
    "Buyer",
    "BuyerCore",
    "BuyerPolicy",
    "CounterMove",
    "Counterpart",
    "Counters",
    "Decision",
    "Event",
    "EventKind",
    "Finished",
    "HttpLimits",
    "Need",
    "NeedItem",
    "NegotiationError",
    "NegotiationResult",
    "Quoted",
    "Reason",
    "Refusal",
    "Standing",
    "SupplierError",
    "SupplierRef",
    "SupplierStatus",
    "Transcript",
    "UsedQuote",
    "check_quote",
    "negotiate_in_process",
]
