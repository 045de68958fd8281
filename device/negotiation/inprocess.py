"""Drive :class:`BuyerCore` against suppliers that live in the same process.

No HTTP and no signatures: the benchmark and the simulation use it to run
thousands of negotiations with exactly the concession and acceptance logic the
HTTP buyer uses. A counterpart answers with a :class:`Quoted` price or ``None``
(a decline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from device.negotiation.core import Bid, BuyerCore, Counters, Finished
from device.negotiation.need import Need
from device.negotiation.policy import BuyerPolicy
from device.negotiation.transcript import EventKind


@dataclass(frozen=True, slots=True)
class Quoted:
    """An in-process supplier's offer: what a signed quote would say, minus the signature."""

    amount: int
    deliver_by: int
    expiry: int
    final: bool


class Counterpart(Protocol):
    """A supplier the buyer can talk to directly; ``max_rounds`` as its discovery says."""

    @property
    def name(self) -> str: ...

    @property
    def reliability(self) -> float: ...

    @property
    def max_rounds(self) -> int: ...

    def open(self, now: float) -> Quoted | None:
        """Answer the RFQ: the first offer, or ``None`` to decline."""
        ...

    def counter(self, price: int, final: bool, now: float) -> Quoted | None:
        """Answer the buyer's counter: the next offer, or ``None`` to decline."""
        ...


def negotiate_in_process(
    need: Need,
    counterparts: Sequence[Counterpart],
    policy: BuyerPolicy,
    *,
    clock: Callable[[], float],
) -> Finished[Quoted]:
    """One negotiation, round by round, exactly as the HTTP buyer runs it."""
    core: BuyerCore[Quoted] = BuyerCore(
        need, [(c.name, c.reliability) for c in counterparts], policy, started_at=clock()
    )
    by_name = {c.name: c for c in counterparts}
    offers = dict.fromkeys(by_name, 0)

    def take(counterpart: Counterpart, answer: Quoted | None) -> None:
        now = clock()
        if answer is None:
            core.declined(counterpart.name, now, "declined")
            return
        rounds_left = counterpart.max_rounds - 1 - offers[counterpart.name]
        offers[counterpart.name] += 1
        bid = Bid(answer.amount, answer.deliver_by, answer.expiry, answer, final=answer.final)
        core.offered(counterpart.name, bid, now, rounds_left=rounds_left)

    for counterpart in counterparts:
        now = clock()
        core.note(EventKind.RFQ, counterpart.name, now)
        take(counterpart, counterpart.open(now))
    while True:
        step = core.next_step(clock())
        if not isinstance(step, Counters):
            return step
        for move in step.moves:
            counterpart = by_name[move.supplier]
            take(counterpart, counterpart.counter(move.amount, move.final, clock()))
