"""How the buyer bargains: its concession curve, its limits and its utility.

All pure functions of their arguments; the concession pace follows urgency
(patient buyers concede late, urgent ones early).
"""

from __future__ import annotations

from dataclasses import dataclass

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class BuyerPolicy:
    """Tunable knobs of the buyer; the defaults are what the benchmark measures.

    ``opening_ppm`` is the first counter as a share of the anchor (the lower of
    the reservation and the best first offer). The concession exponent goes from
    ``patient_exponent`` at urgency 0 (Boulware: hold, then concede late) to
    ``urgent_exponent`` at urgency 1 (Conceder: give ground early).
    ``max_rounds`` is only a safety cap on the counters to one supplier: the
    concession is paced by each supplier's own advertised round limit (at most
    16 in ``custobot/2``, longer for in-process counterparts); ``time_budget_s`` caps the whole
    negotiation; an offer must stay valid ``min_validity_s`` more seconds to
    be taken. The weights score offers within the reservation (see :func:`utility`).
    ``reciprocal_exponent`` paces the concessions to a supplier that reciprocates
    (tit-for-tat): even steps (1.0), as each is answered in kind, so neither rounds nor
    ground are wasted; ``None`` means ``urgent_exponent`` (measured in the README). Against
    a supplier that answers each concession with a bigger one (response ratio ``k > 1``)
    that pace is divided by ``k``, never below ``patient_exponent``: hold firm, then
    concede in bigger steps.
    """

    max_rounds: int = 100
    time_budget_s: float = 60.0
    opening_ppm: int = 250_000
    patient_exponent: float = 0.3
    urgent_exponent: float = 2.0
    reciprocal_exponent: float | None = 1.0
    min_validity_s: int = 30
    weight_price: float = 1.0
    weight_delivery: float = 0.1
    weight_reliability: float = 0.5

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        if self.time_budget_s <= 0:
            raise ValueError("time_budget_s must be positive")
        if not 0 < self.opening_ppm <= PPM:
            raise ValueError("opening_ppm must be in (0, 1_000_000]")
        if not 0 < self.patient_exponent <= self.urgent_exponent:
            raise ValueError("need 0 < patient_exponent <= urgent_exponent")
        if self.reciprocal_exponent is not None and self.reciprocal_exponent <= 0:
            raise ValueError("reciprocal_exponent must be positive")


def concession_exponent(policy: BuyerPolicy, urgency: float) -> float:
    """Geometric blend from patient (urgency 0) to urgent (urgency 1)."""
    ratio = policy.urgent_exponent / policy.patient_exponent
    return float(policy.patient_exponent * ratio**urgency)


def target_price(opening: int, limit: int, progress: float, exponent: float) -> int:
    """The counter at ``progress`` in [0, 1]: ``opening`` at 0, ``limit`` at 1.

    The curve fraction is rounded to parts per million so the money stays integer.
    """
    if limit <= opening:
        return limit
    clipped = min(max(progress, 0.0), 1.0)
    fraction_ppm = round(float(clipped ** (1.0 / exponent)) * PPM)
    return opening + (limit - opening) * fraction_ppm // PPM


def utility(
    policy: BuyerPolicy,
    *,
    amount: int,
    reservation: int,
    deliver_by: int,
    deadline: int,
    now: float,
    reliability: float,
    urgency: float,
) -> float:
    """Score of an acceptable offer: cheaper, sooner and more reliable is better.

    Price counts as the share of the reservation saved; delivery as the share of
    the remaining window left unused (weighted more when urgent); reliability as
    the supplier's past on-time rate. A 10-point reliability gap is worth 5% of
    the reservation by default.
    """
    price_score = (reservation - amount) / reservation
    window = max(deadline - now, 1.0)
    delivery_score = min(max((deadline - deliver_by) / window, 0.0), 1.0)
    return (
        policy.weight_price * price_score
        + policy.weight_delivery * (0.5 + urgency) * delivery_score
        + policy.weight_reliability * reliability
    )
