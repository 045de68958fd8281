"""The concession curve: from the opening to the limit, faster when urgent, integer money."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.negotiation.policy import BuyerPolicy, concession_exponent, target_price


@given(
    opening=st.integers(0, 10**12),
    span=st.integers(0, 10**12),
    progress=st.floats(0.0, 1.0),
    urgency=st.floats(0.0, 1.0),
)
def test_target_stays_between_opening_and_limit(
    opening: int, span: int, progress: float, urgency: float
) -> None:
    exponent = concession_exponent(BuyerPolicy(), urgency)
    price = target_price(opening, opening + span, progress, exponent)
    assert isinstance(price, int)
    assert opening <= price <= opening + span


def test_curve_starts_at_opening_and_ends_at_limit() -> None:
    assert target_price(1000, 5000, 0.0, 0.3) == 1000
    assert target_price(1000, 5000, 1.0, 0.3) == 5000
    assert target_price(6000, 5000, 0.5, 0.3) == 5000  # an opening above the limit is capped


def test_urgent_buyer_concedes_faster_than_patient_one() -> None:
    policy = BuyerPolicy()
    patient = concession_exponent(policy, 0.0)
    urgent = concession_exponent(policy, 1.0)
    for progress in (0.2, 0.5, 0.8):
        assert target_price(0, 10**6, progress, urgent) > target_price(0, 10**6, progress, patient)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_rounds": 0},
        {"time_budget_s": 0.0},
        {"opening_ppm": 0},
        {"opening_ppm": 1_000_001},
        {"patient_exponent": 3.0, "urgent_exponent": 2.0},
    ],
)
def test_nonsense_policy_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message names the knob; any is fine)
        BuyerPolicy(**bad)  # type: ignore[arg-type]
