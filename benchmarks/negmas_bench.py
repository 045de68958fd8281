"""The buyer inside NegMAS's alternating-offers mechanism, against NegMAS's own sellers.

``python -m benchmarks.negotiation --negmas [--cases 100]`` runs it. NegMAS is a
benchmark-only dependency (``pip install --group negotiation-bench``), never imported
by the device.

Each case is one price issue (integers on a grid of about a thousand steps below the
dearest list price). A seller's utility is ``(p - floor) / (list - floor)`` with reserved
value 0, so it never offers or accepts below its floor; a buyer's is
``(reservation - p) / (reservation - bottom)``. Floors are 50-90% of list and the
reservation is drawn so that about 80% of cases have a deal zone (``literature.draw_case``).

The custobot buyer runs through :class:`BuyerCore`, the logic the HTTP buyer runs: one
:class:`CustobotLane` (a NegMAS ``SAONegotiator``) per seller, each in its own
``SAOMechanism`` (``one_offer_per_step``, seller first, ``2 * deadline`` steps, so each
side makes ``deadline`` offers), and the mechanisms are stepped in lock-step so that the
core sees every seller's offer of a round before it answers any: three sellers at once
use the project's multi-supplier logic (counters capped at the best competing quote,
best-and-final). NegMAS's offers do not bind like signed custobot quotes, so when the core
would place an earlier, cheaper quote of a seller, the lane proposes that price again
(a seller whose aspiration has since fallen accepts it) and accepts any offer at or below
it. When several sellers accept in the same round (SAO agreements bind both sides) the
buyer keeps the cheapest and the others are counted in ``extra_agreements``.

Baselines: NegMAS's ``BoulwareTBNegotiator`` and ``AspirationNegotiator`` as buyers on the
same cases, each against every seller on its own, keeping the cheapest agreement.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import negmas.sao
from negmas import Negotiator, ResponseType, SAOMechanism, make_issue
from negmas.preferences import LinearAdditiveUtilityFunction
from negmas.preferences.value_fun import AffineFun
from negmas.sao import (
    AspirationNegotiator,
    BoulwareTBNegotiator,
    ConcederTBNegotiator,
    LinearTBNegotiator,
    MiCRONegotiator,
    NaiveTitForTatNegotiator,
    SAONegotiator,
    SAOState,
)

from benchmarks.literature import KINDS, LitCase, draw_case
from benchmarks.negotiation import BASELINES, LITERATURE_SETS, VersusRow
from device.negotiation.core import Bid, BuyerCore, Counters, Finished
from device.negotiation.need import Need, NeedItem
from device.negotiation.policy import BuyerPolicy

T0 = 1_800_000_000
QUOTE_TTL_S = 3600
PROFIT_CENTER = "0x00000000000000000000000000000000000000c1"
TOKEN = "0x00000000000000000000000000000000000000a0"
GTIN = "04000000000000"
GRID = 1000
"""Price steps below the dearest list price: NegMAS's time-based sellers enumerate outcomes."""

SELLERS: dict[str, Callable[..., SAONegotiator]] = {
    "boulware": BoulwareTBNegotiator,
    "linear": LinearTBNegotiator,
    "conceder": ConcederTBNegotiator,
    "tit_for_tat": NaiveTitForTatNegotiator,
    "aspiration": AspirationNegotiator,
    "micro": MiCRONegotiator,
}
SETS = LITERATURE_SETS
"""The literature benchmark's seller sets, here with NegMAS's own sellers."""
BASELINE_BUYERS: dict[str, Callable[..., SAONegotiator]] = {
    "boulware": BoulwareTBNegotiator,
    "aspiration": AspirationNegotiator,
}
assert set(SELLERS) == set(KINDS)


def seller_class(kind: str) -> Callable[..., Negotiator]:
    """A named seller kind, or any other negotiator in ``negmas.sao`` by its class name (a seller
    the buyer was not written against, e.g. ``CABNegotiator``)."""
    if kind in SELLERS:
        return SELLERS[kind]
    found = getattr(negmas.sao, kind, None)
    if not (isinstance(found, type) and issubclass(found, Negotiator)):
        raise ValueError(f"{kind} is neither a seller set nor a negotiator in negmas.sao")
    return found


assert set(BASELINE_BUYERS) == set(BASELINES)


@dataclass(frozen=True, slots=True)
class GridCase:
    """A literature case on the price grid: ``unit`` base units per step."""

    case: LitCase
    unit: int

    def g(self, amount: int) -> int:
        return amount // self.unit

    @property
    def reservation(self) -> int:
        """In grid steps (rounded down: the buyer never pays more than its reservation)."""
        return self.g(self.case.reservation)

    @property
    def bottom(self) -> int:
        return self.g(self.case.bottom)

    @property
    def lowest(self) -> int:
        """The lowest floor, in grid steps (rounded up, as the seller's utility is)."""
        return min(-(-floor // self.unit) for _, _, _, floor in self.case.sellers)

    @property
    def deal_zone(self) -> bool:
        return self.reservation >= self.lowest

    def need(self) -> Need:
        return Need(
            items=[NeedItem(gtin=GTIN, quantity=1)],
            deliver_by=T0 + 7 * 86400,
            reservation=self.reservation * self.unit,
            urgency=self.case.urgency,
            chain_id=1,
            profit_center=PROFIT_CENTER,
            token=TOKEN,
        )

    def mechanism(self, index: int) -> tuple[SAOMechanism, Any]:
        """A fresh mechanism with seller ``index`` in it; returns it and the seller's name."""
        name, kind, top, floor = self.case.sellers[index]
        top_g, floor_g = self.g(top), -(-floor // self.unit)
        issue = make_issue((self.bottom, top_g), "price")
        mech = SAOMechanism(
            issues=[issue], n_steps=2 * self.case.rounds, one_offer_per_step=True, name=name
        )
        spread = max(top_g - floor_g, 1)
        ufun = LinearAdditiveUtilityFunction(
            values=[AffineFun(1 / spread, -floor_g / spread)],
            outcome_space=mech.outcome_space,
            reserved_value=0.0,
        )
        mech.add(seller_class(kind)(name=name), ufun=ufun)
        return mech, ufun

    def buyer_ufun(self, mech: SAOMechanism) -> LinearAdditiveUtilityFunction:
        spread = max(self.reservation - self.bottom, 1)
        return LinearAdditiveUtilityFunction(
            values=[AffineFun(-1 / spread, self.reservation / spread)],
            outcome_space=mech.outcome_space,
            reserved_value=0.0,
        )


def draw(rng: random.Random, kinds: list[str], rounds: int) -> GridCase:
    case = draw_case(rng, kinds, rounds)
    dearest = max(top for _, _, top, _ in case.sellers)
    return GridCase(case, max(1, dearest // GRID))


class CustobotLane(SAONegotiator):  # type: ignore[misc]
    """The custobot buyer's side of one seller's mechanism: it does what the coordinator
    (and so :class:`BuyerCore`) decided for this seller in this round."""

    def __init__(self, seller: str, **kwargs: Any) -> None:
        super().__init__(name=f"custobot-{seller}", **kwargs)
        self.seller = seller
        self.accept_at: int | None = None
        """Accept any offer at or below this (a held quote the core chose to place)."""
        self.counter: int | None = None
        self.end = False

    def respond(self, state: SAOState, source: str | None = None) -> ResponseType:
        offer = state.current_offer
        if self.end:
            return ResponseType.END_NEGOTIATION
        if offer is not None and self.accept_at is not None and offer[0] <= self.accept_at:
            return ResponseType.ACCEPT_OFFER
        return ResponseType.REJECT_OFFER

    def propose(self, state: SAOState, dest: str | None = None) -> tuple[int] | None:
        return None if self.counter is None else (self.counter,)


@dataclass(slots=True)
class Outcome:
    price: int | None
    rounds: int
    extra_agreements: int = 0


def run_custobot(case: GridCase, policy: BuyerPolicy) -> Outcome:
    """One negotiation of the custobot buyer with every seller of ``case`` at once."""
    need = case.need()
    unit = case.unit
    mechs: dict[str, SAOMechanism] = {}
    lanes: dict[str, CustobotLane] = {}
    for i, (name, _, _, _) in enumerate(case.case.sellers):
        mech, _ = case.mechanism(i)
        lane = CustobotLane(name)
        mech.add(lane, ufun=case.buyer_ufun(mech))
        mechs[name], lanes[name] = mech, lane
    core: BuyerCore[int] = BuyerCore(need, [(name, 0.95) for name in mechs], policy, started_at=T0)
    offers = dict.fromkeys(mechs, 0)
    sent: dict[str, tuple[int, int]] = {}
    agreements: list[tuple[int, str]] = []
    decided: Finished[int] | None = None
    rounds = 0
    for step in range(case.case.rounds):
        now = T0 + 0.01 * (2 * step)
        for name, mech in mechs.items():  # the sellers' turn
            if not mech.state.running and mech.state.started:
                continue
            mech.step()
            state = mech.state
            if state.agreement is not None:
                agreements.append((state.agreement[0], name))
                continue
            if not state.running:
                if decided is None:
                    core.declined(name, now, "ended")
                continue
            offer = state.current_offer
            if offer is None or decided is not None:
                continue
            k = offers[name]
            offers[name] += 1
            amount = offer[0] * unit
            bid = Bid(amount, need.deliver_by, int(now) + QUOTE_TTL_S, offer[0])
            core.offered(name, bid, now, rounds_left=case.case.rounds - 1 - k)
        if agreements:
            break
        if decided is None:
            answer = core.next_step(now + 0.01)
            if isinstance(answer, Counters):
                rounds += 1
                moves = {m.supplier: m.amount for m in answer.moves}
                for name, lane in lanes.items():
                    if name in moves:
                        lane.counter = _on_grid(moves[name], sent.get(name), case)
                        sent[name] = (moves[name], lane.counter)
                    # a lane the core stopped countering repeats its last counter
            else:
                decided = answer
                for name, lane in lanes.items():
                    if answer.winner == name and answer.bid is not None:
                        lane.accept_at = answer.bid.payload
                        lane.counter = answer.bid.payload
                    else:
                        lane.end = True
                if answer.winner is None:
                    break
        for mech in mechs.values():  # the buyer's turn
            if mech.state.running or not mech.state.started:
                mech.step()
                if mech.state.agreement is not None:
                    agreements.append((mech.state.agreement[0], mech.name))
        if agreements:
            break
    if not agreements:
        return Outcome(None, rounds)
    agreements.sort()
    return Outcome(agreements[0][0], rounds, len(agreements) - 1)


def _on_grid(amount: int, last: tuple[int, int] | None, case: GridCase) -> int:
    """The counter on the price grid (rounded down), but a counter above the last one
    stays a new offer (one step up) while within the reservation: sellers such as MiCRO
    only move when the buyer makes a new offer."""
    step = amount // case.unit
    if last is not None and amount > last[0] and step <= last[1]:
        step = min(last[1] + 1, case.reservation)
    return step


def run_baseline(case: GridCase, kind: str) -> int | None:
    """NegMAS's ``kind`` buyer against each seller on its own; the cheapest agreement."""
    deals: list[int] = []
    for i in range(len(case.case.sellers)):
        mech, _ = case.mechanism(i)
        mech.add(BASELINE_BUYERS[kind](name="buyer"), ufun=case.buyer_ufun(mech))
        state = mech.run()
        if state.agreement is not None:
            deals.append(state.agreement[0])
    return min(deals) if deals else None


class _Stubborn(SAONegotiator):  # type: ignore[misc]
    """Never accepts and always asks for the bottom price: shows how far a seller goes alone."""

    def __init__(self, bottom: int) -> None:
        super().__init__(name="stubborn")
        self.bottom = bottom

    def respond(self, state: SAOState, source: str | None = None) -> ResponseType:
        return ResponseType.REJECT_OFFER

    def propose(self, state: SAOState, dest: str | None = None) -> tuple[int]:
        return (self.bottom,)


def reachable(case: GridCase) -> bool:
    """Some seller's own strategy offers a price within the reservation before its deadline."""
    for i in range(len(case.case.sellers)):
        mech, _ = case.mechanism(i)
        mech.add(_Stubborn(case.bottom), ufun=case.buyer_ufun(mech))
        mech.run()
        seller = mech.negotiators[0].id
        seller_offers = [o[0] for _, who, o in mech.extended_trace if who == seller]
        if seller_offers and min(seller_offers) <= case.reservation:
            return True
    return False


def run_set(name: str, rounds: int, cases: int, seed: int, policy: BuyerPolicy) -> VersusRow:
    """``cases`` negotiations against the seller set ``name``, with the baselines."""
    rng = random.Random(f"negmas:{seed}:{name}:{rounds}")
    row = VersusRow(name, rounds)
    for _ in range(cases):
        case = draw(rng, SETS.get(name, [name]), rounds)
        started = time.process_time()
        outcome = run_custobot(case, policy)
        cpu_s = time.process_time() - started
        row.extra_agreements += outcome.extra_agreements

        def baseline(kind: str, case: GridCase = case) -> int | None:
            return run_baseline(case, kind)

        row.record(
            price=outcome.price,
            rounds_used=outcome.rounds,
            cpu_s=cpu_s,
            reachable=reachable(case),
            reservation=case.reservation,
            lowest=case.lowest,
            baseline=baseline,
        )
    return row
