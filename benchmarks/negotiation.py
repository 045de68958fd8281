"""The buyer against each reference supplier strategy, in-process, over many seeded cases.

    .venv/bin/python -m benchmarks.negotiation            # markdown table
    .venv/bin/python -m benchmarks.negotiation --json     # machine-readable
    .venv/bin/python -m benchmarks.negotiation --check    # exit 1 if a target is missed
    .venv/bin/python -m benchmarks.negotiation --literature [--cases 300]  # literature sellers
    .venv/bin/python -m benchmarks.negotiation --negmas [--cases 100]  # NegMAS's own sellers

Each case draws a random order (1-3 lines), list and floor prices, a buyer
reservation (below the floor in some cases, above list in others), urgency and
the supplier's round limit. The buyer never sees the floor; it bargains with
:func:`device.negotiation.inprocess.negotiate_in_process`, the same core the
HTTP buyer runs, against the supplier's own strategy classes and pricing
(``supplier.pricing``). Reported per strategy, and for a ``market`` of all four
at once: agreement rate where a deal zone exists (reservation >= the lowest
price a supplier would ever take: its floor, or its list price for the
fixed-price supplier), the buyer's share of that surplus
``(reservation - price) / (reservation - lowest)`` (trivially 100% against the
fixed-price supplier), mean rounds, deals above the reservation (must be 0) and
negotiations per second.

``--literature`` runs the buyer instead against sellers from the automated-negotiation
literature (``benchmarks/literature.py``: NegMAS's time-based, aspiration, naive
tit-for-tat and MiCRO strategies), one at a time and three at once, with 10, 20 and
50-round deadlines and about 80% of cases with a deal zone; on the same cases, NegMAS's
plain Boulware and Aspiration buyers are the baselines.

``--negmas`` does the same inside the real NegMAS library (``benchmarks/negmas_bench.py``,
``pip install --group negotiation-bench``): the buyer as a NegMAS ``SAONegotiator`` against
NegMAS's own sellers, with NegMAS's ``BoulwareTBNegotiator`` and ``AspirationNegotiator``
buyers as baselines on the same cases.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.literature import KINDS, LitCase, draw_case, plain_buyer
from device.negotiation.inprocess import negotiate_in_process
from device.negotiation.need import Need, NeedItem
from device.negotiation.policy import BuyerPolicy
from supplier.inprocess import InProcessDesk, StepClock
from supplier.pricing import (
    FixedPrice,
    PriceBook,
    PricedOrder,
    Strategy,
    TimeDependent,
    TitForTat,
)
from supplier.protocol import RfqLine
from supplier.settings import CatalogEntry, VolumeDiscount

T0 = 1_800_000_000
PROFIT_CENTER = "0x00000000000000000000000000000000000000c1"
TOKEN = "0x00000000000000000000000000000000000000a0"
GTINS = [f"0400000000{n:04d}" for n in range(40)]

STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "fixed": FixedPrice,
    "boulware": lambda: TimeDependent(0.2, "boulware"),
    "conceder": lambda: TimeDependent(4.0, "conceder"),
    "tit_for_tat": lambda: TitForTat(1.0, 200),
}
TIME_DEPENDENT = ("boulware", "conceder")
MARKET = "market"
"""All four strategies at once, each with its own prices: the buyer's usual situation."""
TARGET_AGREEMENT = 0.98
TARGET_SURPLUS_SHARE = 0.60
TARGET_RATE = 200.0


@dataclass(frozen=True, slots=True)
class Case:
    """One need and, per supplier strategy, its price book's answer to it."""

    need: Need
    orders: dict[str, PricedOrder]
    max_rounds: int

    @property
    def lowest(self) -> int:
        """The lowest price any of the suppliers would ever agree to."""
        return min(
            order.list_total if kind == "fixed" else order.floor_total
            for kind, order in self.orders.items()
        )

    @property
    def deal_zone(self) -> bool:
        return self.need.reservation >= self.lowest


def _price_book(rng: random.Random, gtins: list[str]) -> PriceBook:
    entries = []
    for gtin in gtins:
        list_price = rng.randint(300_000, 4_000_000)
        floor = list_price * rng.randint(50, 92) // 100
        discounts = (
            [VolumeDiscount(min_quantity=24, discount_bp=rng.randint(200, 800))]
            if rng.random() < 0.5
            else []
        )
        entries.append(
            CatalogEntry(
                gtin=gtin,
                name=f"item {gtin}",
                list_price=list_price,
                floor_price=floor,
                stock=1000,
                lead_time_seconds=3600,
                discounts=discounts,
            )
        )
    return PriceBook(entries)


def make_case(rng: random.Random, kinds: list[str]) -> Case:
    """One random order, a price book per supplier, a reservation and an urgency.

    The reservation is drawn around the cheapest supplier's lowest acceptable
    price: from 40% of its spread below it (no deal zone) to 130% above.
    """
    gtins = rng.sample(GTINS, rng.randint(1, 3))
    items = [RfqLine(gtin=g, quantity=rng.randint(1, 48)) for g in gtins]
    deliver_by = T0 + 7 * 86400
    orders: dict[str, PricedOrder] = {}
    for kind in kinds:
        priced = _price_book(rng, gtins).price(items, deliver_by=deliver_by, now=T0)
        assert isinstance(priced, PricedOrder)
        orders[kind] = priced
    cheapest = min(
        orders.items(),
        key=lambda ko: ko[1].list_total if ko[0] == "fixed" else ko[1].floor_total,
    )
    kind, priced = cheapest
    low = priced.list_total if kind == "fixed" else priced.floor_total
    spread = max(priced.list_total - priced.floor_total, priced.list_total // 10)
    reservation = max(1, low + int(spread * rng.uniform(-0.4, 1.3)))
    need = Need(
        items=[NeedItem(gtin=i.gtin, quantity=i.quantity) for i in items],
        deliver_by=deliver_by,
        reservation=reservation,
        urgency=rng.random(),
        chain_id=1,
        profit_center=PROFIT_CENTER,
        token=TOKEN,
    )
    return Case(need, orders, rng.choice([4, 6, 8, 8, 12, 16]))


@dataclass(slots=True)
class Row:
    strategy: str
    cases: int = 0
    deal_zone_cases: int = 0
    agreements_in_zone: int = 0
    deals: int = 0
    deals_above_reservation: int = 0
    shares: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        agreement = self.agreements_in_zone / self.deal_zone_cases if self.deal_zone_cases else None
        share = sum(self.shares) / len(self.shares) if self.shares else None
        rate = self.cases / self.seconds if self.seconds > 0 else None
        met = (
            (agreement is None or agreement >= TARGET_AGREEMENT)
            and self.deals_above_reservation == 0
            and (
                self.strategy not in TIME_DEPENDENT
                or (share is not None and share >= TARGET_SURPLUS_SHARE)
            )
            and (rate is None or rate >= TARGET_RATE)
        )
        return {
            "strategy": self.strategy,
            "cases": self.cases,
            "deal_zone_cases": self.deal_zone_cases,
            "agreement_rate": agreement,
            "buyer_surplus_share": share,
            "mean_rounds": sum(self.rounds) / len(self.rounds) if self.rounds else None,
            "deals": self.deals,
            "deals_above_reservation": self.deals_above_reservation,
            "negotiations_per_s": rate,
            "targets_met": met,
        }


def run(kind: str, cases: int, seed: int, policy: BuyerPolicy) -> Row:
    """``cases`` negotiations against one strategy (or, for ``market``, all at once).

    The timing covers the negotiations only, not drawing the cases.
    """
    rng = random.Random(f"{seed}:{kind}")
    kinds = list(STRATEGIES) if kind == MARKET else [kind]
    row = Row(kind)
    for _ in range(cases):
        case = make_case(rng, kinds)
        clock = StepClock(T0)
        suppliers = [
            InProcessDesk(
                name,
                STRATEGIES[name](),
                order,
                max_rounds=case.max_rounds,
                deliver_by=case.need.deliver_by,
                opened_at=T0,
            )
            for name, order in case.orders.items()
        ]
        started = time.perf_counter()
        finished = negotiate_in_process(case.need, suppliers, policy, clock=clock)
        row.seconds += time.perf_counter() - started
        row.cases += 1
        row.rounds.append(finished.transcript.rounds)
        price = None if finished.bid is None else finished.bid.amount
        if price is not None:
            row.deals += 1
            row.deals_above_reservation += price > case.need.reservation
        if case.deal_zone:
            row.deal_zone_cases += 1
            if price is not None:
                row.agreements_in_zone += 1
                if case.need.reservation > case.lowest:
                    row.shares.append(
                        (case.need.reservation - price) / (case.need.reservation - case.lowest)
                    )
    return row


LITERATURE_SETS: dict[str, list[str]] = {
    **{kind: [kind] for kind in KINDS},
    "3 boulware": ["boulware"] * 3,
    "boulware+linear+conceder": ["boulware", "linear", "conceder"],
    "tit_for_tat+aspiration+micro": ["tit_for_tat", "aspiration", "micro"],
}
DEADLINES = (10, 20, 50)
BASELINES = ("boulware", "aspiration")


@dataclass(slots=True)
class VersusRow:
    """One seller set at one deadline: the buyer and, on the same cases, the baseline buyers
    (the literature sellers' and NegMAS's benchmarks both fill it)."""

    sellers: str
    rounds: int
    cases: int = 0
    zone: int = 0
    reachable: int = 0
    agreed_in_zone: int = 0
    agreed_reachable: int = 0
    above_reservation: int = 0
    extra_agreements: int = 0
    shares: list[float] = field(default_factory=list)
    rounds_used: list[int] = field(default_factory=list)
    cpu_s: float = 0.0
    base_agreed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BASELINES, 0))
    base_shares: dict[str, list[float]] = field(default_factory=lambda: {b: [] for b in BASELINES})
    base_above: int = 0
    paired: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {b: [] for b in BASELINES}
    )
    """Per baseline, (ours, theirs) surplus kept on the cases where both agreed."""

    def record(
        self,
        *,
        price: int | None,
        rounds_used: int,
        cpu_s: float,
        reachable: bool,
        reservation: int,
        lowest: int,
        baseline: Callable[[str], int | None],
    ) -> None:
        """One case: the buyer's deal (``None``: none) and, if the case has a deal zone
        (reservation >= ``lowest``, the lowest floor), each baseline's deal from ``baseline``.
        Surplus kept is ``(reservation - price) / (reservation - lowest)``, capped at 100%
        (a seller may agree below its own floor)."""
        self.cases += 1
        self.cpu_s += cpu_s
        self.rounds_used.append(rounds_used)
        self.above_reservation += price is not None and price > reservation
        self.reachable += reachable
        self.agreed_reachable += reachable and price is not None
        if reservation < lowest:
            return
        self.zone += 1
        surplus = reservation - lowest

        def kept(deal: int) -> float:
            return min((reservation - deal) / surplus, 1.0) if surplus > 0 else 1.0

        ours = None if price is None else kept(price)
        if ours is not None:
            self.agreed_in_zone += 1
            self.shares.append(ours)
        for kind in BASELINES:
            deal = baseline(kind)
            if deal is None:
                continue
            self.base_above += deal > reservation
            self.base_agreed[kind] += 1
            self.base_shares[kind].append(kept(deal))
            if ours is not None:
                self.paired[kind].append((ours, kept(deal)))

    def summary(self) -> dict[str, object]:
        def rate(n: int, d: int) -> float | None:
            return n / d if d else None

        def mean(xs: list[float]) -> float | None:
            return sum(xs) / len(xs) if xs else None

        def per_zone_case(xs: list[float]) -> float | None:
            return sum(xs) / self.zone if self.zone else None

        return {
            "sellers": self.sellers,
            "deadline_rounds": self.rounds,
            "cases": self.cases,
            "deal_zone_cases": self.zone,
            "reachable_cases": self.reachable,
            "agreement_in_zone": rate(self.agreed_in_zone, self.zone),
            "agreement_where_seller_reaches_zone": rate(self.agreed_reachable, self.reachable),
            "surplus_kept": mean(self.shares),
            "surplus_per_zone_case": per_zone_case(self.shares),
            "mean_rounds": mean([float(r) for r in self.rounds_used]),
            "cpu_ms_per_negotiation": 1000 * self.cpu_s / self.cases if self.cases else None,
            "deals_above_reservation": self.above_reservation,
            "extra_agreements": self.extra_agreements,
            "baseline_deals_above_reservation": self.base_above,
            **{
                f"{b}_buyer_agreement_in_zone": rate(self.base_agreed[b], self.zone)
                for b in BASELINES
            },
            **{f"{b}_buyer_surplus_kept": mean(self.base_shares[b]) for b in BASELINES},
            **{
                f"{b}_buyer_surplus_per_zone_case": per_zone_case(self.base_shares[b])
                for b in BASELINES
            },
            **{
                f"paired_with_{b}_buyer": (
                    mean([p[0] for p in self.paired[b]]),
                    mean([p[1] for p in self.paired[b]]),
                )
                for b in BASELINES
            },
        }


def versus_table(rows: list[dict[str, object]], sellers_label: str) -> str:
    """Markdown: ours, then each baseline as agreement / surplus kept per deal / per zone case,
    and the surplus kept where both the buyer and the Boulware baseline agreed."""

    def pct(value: object) -> str:
        return "-" if value is None else format(value, ".0%")

    def paired(value: object) -> str:
        if not isinstance(value, (tuple, list)) or value[0] is None:
            return "-"
        return f"{pct(value[0])} vs {pct(value[1])}"

    lines = [
        f"| {sellers_label} | deadline | agreement in zone (where the seller reaches it) "
        "| surplus kept per deal / per zone case | rounds | CPU ms/negotiation "
        "| Boulware buyer | Aspiration buyer | surplus kept where both agree (vs Boulware) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sellers']} | {r['deadline_rounds']} | {pct(r['agreement_in_zone'])} "
            f"({pct(r['agreement_where_seller_reaches_zone'])}) "
            f"| {pct(r['surplus_kept'])} / {pct(r['surplus_per_zone_case'])} "
            f"| {format(r['mean_rounds'], '.1f')} "
            f"| {format(r['cpu_ms_per_negotiation'], '.2f')} "
            + "".join(
                f"| {pct(r[f'{b}_buyer_agreement_in_zone'])} / "
                f"{pct(r[f'{b}_buyer_surplus_kept'])} / "
                f"{pct(r[f'{b}_buyer_surplus_per_zone_case'])} "
                for b in BASELINES
            )
            + f"| {paired(r['paired_with_boulware_buyer'])} |"
        )
    return "\n".join(lines) + "\n"


def _lit_need(case: LitCase) -> Need:
    return Need(
        items=[NeedItem(gtin=GTINS[0], quantity=1)],
        deliver_by=T0 + 7 * 86400,
        reservation=case.reservation,
        urgency=case.urgency,
        chain_id=1,
        profit_center=PROFIT_CENTER,
        token=TOKEN,
    )


def run_literature(name: str, rounds: int, cases: int, seed: int, policy: BuyerPolicy) -> VersusRow:
    """``cases`` negotiations of the buyer against the seller set ``name`` (all at once)."""
    rng = random.Random(f"{seed}:{name}:{rounds}")
    row = VersusRow(name, rounds)
    deliver_by = T0 + 86400
    for _ in range(cases):
        case = draw_case(rng, LITERATURE_SETS[name], rounds)
        sellers = case.build(deliver_by)
        started = time.process_time()
        finished = negotiate_in_process(_lit_need(case), sellers, policy, clock=StepClock(T0, 0.01))
        cpu_s = time.process_time() - started

        def baseline(curve: str, case: LitCase = case) -> int | None:
            return plain_buyer(case.build(deliver_by), case.reservation, case.bottom, curve)

        row.record(
            price=None if finished.bid is None else finished.bid.amount,
            rounds_used=finished.transcript.rounds,
            cpu_s=cpu_s,
            reachable=case.reachable(deliver_by),
            reservation=case.reservation,
            lowest=min(floor for _, _, _, floor in case.sellers),
            baseline=baseline,
        )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", type=int, default=None, help="negotiations per strategy (2000; --negmas: 50)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument(
        "--literature", action="store_true", help="sellers from the literature, with baselines"
    )
    parser.add_argument(
        "--negmas", action="store_true", help="NegMAS's own sellers and baseline buyers"
    )
    parser.add_argument(
        "--sets",
        default="",
        help="with --negmas: comma-separated seller sets or NegMAS SAO negotiator class names"
        " (default: every set)",
    )
    args = parser.parse_args(argv)
    policy = BuyerPolicy()
    if args.negmas:
        return _negmas(args.cases or 50, args.seed, args.sets, args.json, policy)
    args.cases = args.cases or 2000
    if args.literature:
        lit = [
            run_literature(name, rounds, args.cases, args.seed, policy).summary()
            for name in LITERATURE_SETS
            for rounds in DEADLINES
        ]
        if args.json:
            sys.stdout.write(json.dumps({"benchmark": "literature", "rows": lit}, indent=2) + "\n")
        else:
            sys.stdout.write(versus_table(lit, "sellers"))
        return 1 if any(r["deals_above_reservation"] for r in lit) else 0
    rows = [run(kind, args.cases, args.seed, policy).summary() for kind in [*STRATEGIES, MARKET]]
    report = {
        "benchmark": "negotiation",
        "seed": args.seed,
        "cases_per_strategy": args.cases,
        "targets": {
            "agreement_rate_in_deal_zone": TARGET_AGREEMENT,
            "buyer_surplus_share_time_dependent": TARGET_SURPLUS_SHARE,
            "deals_above_reservation": 0,
            "negotiations_per_s": TARGET_RATE,
        },
        "rows": rows,
        "all_targets_met": all(row["targets_met"] for row in rows),
    }
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(_table(rows))
    return 1 if args.check and not report["all_targets_met"] else 0


def _negmas(cases: int, seed: int, sets: str, as_json: bool, policy: BuyerPolicy) -> int:
    """The NegMAS rows; NegMAS is imported only here (a benchmark-only dependency)."""
    from benchmarks import negmas_bench

    names = [n.strip() for n in sets.split(",") if n.strip()] or list(negmas_bench.SETS)
    rows = [
        negmas_bench.run_set(name, rounds, cases, seed, policy).summary()
        for name in names
        for rounds in DEADLINES
    ]
    if as_json:
        sys.stdout.write(json.dumps({"benchmark": "negmas", "rows": rows}, indent=2) + "\n")
    else:
        sys.stdout.write(versus_table(rows, "NegMAS sellers"))
    return 1 if any(r["deals_above_reservation"] for r in rows) else 0


def _table(rows: list[dict[str, object]]) -> str:
    def fmt(value: object, pattern: str) -> str:
        return "-" if value is None else format(value, pattern)

    lines = [
        "| strategy | cases | deal zone | agreement | buyer surplus share | mean rounds "
        "| above reservation | negotiations/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['strategy']} | {row['cases']} | {row['deal_zone_cases']} "
            f"| {fmt(row['agreement_rate'], '.1%')} | {fmt(row['buyer_surplus_share'], '.1%')} "
            f"| {fmt(row['mean_rounds'], '.2f')} | {row['deals_above_reservation']} "
            f"| {fmt(row['negotiations_per_s'], '.0f')} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
