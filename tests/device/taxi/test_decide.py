"""The one accept rule the simulated agent and the live rider desk share."""

from __future__ import annotations

from device.taxi.decide import Margins, RideCost, refusal, ride_margin

MARGINS = Margins(capacity_wh=60_000, wear_per_km=80_000, reserve_permille=80, min_profit=0)
RIDE = RideCost(price=9_000_000, metres=10_000, energy_wh=1_700, to_station_wh=500)


def test_the_battery_must_keep_the_reserve_after_reaching_a_station() -> None:
    reserve = 60_000 * 80 // 1000
    enough = reserve + RIDE.energy_wh + RIDE.to_station_wh
    assert refusal(RIDE, enough, MARGINS) is None
    assert refusal(RIDE, enough - 1, MARGINS) == (
        "the battery is too low to drive this ride and still reach a charging station"
    )


def test_the_fare_must_cover_energy_and_wear_by_the_least_profit() -> None:
    # 1.7 kWh at 0.38 USDC and 10 km at 0.08 USDC: 0.646 + 0.8 USDC.
    assert ride_margin(RIDE, MARGINS) == 9_000_000 - 646_000 - 800_000
    at_cost = RideCost(1_446_000, RIDE.metres, RIDE.energy_wh, RIDE.to_station_wh)
    assert refusal(at_cost, 60_000, MARGINS) is None
    below = RideCost(1_445_999, RIDE.metres, RIDE.energy_wh, RIDE.to_station_wh)
    assert refusal(below, 60_000, MARGINS) == (
        "the fare would not cover the energy and wear of the drive"
    )
