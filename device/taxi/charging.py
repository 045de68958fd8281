"""What the taxi buys to stay on the road, and how its own signals confirm it: energy
(charging), a cabin cleaning, maintenance tasks. The buying itself is one path for all
three, :class:`device.taxi.upkeep.Upkeep`.

* Charging: when the CAN battery reading is low, the Wh to the target charge at a
  station's site, for at most the window's dearest time-of-use price; delivered is what
  the ``EnergyChargedWh`` counter rose by between plug-in and unplug.
* Cleaning: after ``every_rides`` rides or when the cabin-dirty flag says so; delivered
  when the ``CabinCleanings`` counter rose and the cabin-dirty flag is clear.
* Maintenance: every ``every_km`` on the odometer, a service of ``tasks`` tasks;
  delivered pro rata by how far the ``ServiceTasksDone`` counter rose.

None of them is ever formed from a stale or faulty reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.taxi.upkeep import Provider, UpkeepKind, UpkeepNeed, Window, provider_settings
from device.taxi.vehicle import (
    CABIN,
    ENERGY,
    ODOMETER,
    UPKEEP,
    VehicleSnapshot,
    charge_needed,
    cleaning_needed,
)
from supplier.settings import SupplierSettings


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Public time-of-use energy prices: base units per kWh for each hour of the day (UTC)."""

    per_kwh: tuple[int, ...]

    def reservation(self, wh: int, window: Window) -> int:
        """The most the taxi pays: the dearest hour of the window, for all of the energy."""
        hours = {
            (t // 3600) % 24 for t in range(window.start, max(window.end, window.start + 1), 3600)
        }
        return max(self.per_kwh[h % len(self.per_kwh)] for h in hours) * wh // 1000


def charge_need(
    snapshot: VehicleSnapshot,
    *,
    below_permille: int,
    target_permille: int,
    capacity_wh: int,
    station: Provider,
    window: Window,
    tariff: TimeOfUse,
) -> UpkeepNeed | None:
    """Wh to buy when the battery is low (never on a faulty reading), else ``None``."""
    if not charge_needed(snapshot, below_permille) or snapshot.soc_permille is None:
        return None
    wh = capacity_wh * (target_permille - snapshot.soc_permille) // 1000
    if wh <= 0:
        return None
    return UpkeepNeed(
        UpkeepKind.CHARGING,
        station.site,
        station.product,
        wh,
        window,
        tariff.reservation(wh, window),
    )


def cleaning_need(
    snapshot: VehicleSnapshot,
    *,
    rides_since_cleaning: int,
    every_rides: int,
    cleaner: Provider,
    window: Window,
    reservation: int,
) -> UpkeepNeed | None:
    """One cleaning after ``every_rides`` rides or when the cabin flag says dirty (never
    on a stale cabin reading), else ``None``."""
    due = rides_since_cleaning >= every_rides and snapshot.healthy(CABIN, UPKEEP)
    if not (due or cleaning_needed(snapshot)):
        return None
    return UpkeepNeed(UpkeepKind.CLEANING, cleaner.site, cleaner.product, 1, window, reservation)


def maintenance_need(
    snapshot: VehicleSnapshot,
    *,
    last_service_m: int,
    every_km: int,
    tasks: int,
    workshop: Provider,
    window: Window,
    reservation: int,
) -> UpkeepNeed | None:
    """A service of ``tasks`` tasks once the odometer is ``every_km`` past the last one
    (never on a stale odometer), else ``None``."""
    odometer = snapshot.odometer_m
    if odometer is None or not snapshot.healthy(ODOMETER, UPKEEP):
        return None
    if odometer - last_service_m < every_km * 1000:
        return None
    return UpkeepNeed(
        UpkeepKind.MAINTENANCE, workshop.site, workshop.product, tasks, window, reservation
    )


def counter(kind: UpkeepKind, snapshot: VehicleSnapshot) -> int | None:
    """The vehicle's lifetime counter that confirms ``kind``; ``None`` when its reading
    is not to be trusted (the baseline or the count then waits for a healthy one)."""
    if kind is UpkeepKind.CHARGING:
        return snapshot.energy_charged_wh if snapshot.healthy(ENERGY) else None
    if not snapshot.healthy(CABIN, UPKEEP):
        return None
    if kind is UpkeepKind.CLEANING:
        return snapshot.cabin_cleanings
    return snapshot.service_tasks_done


def delivered(kind: UpkeepKind, baseline: int, snapshot: VehicleSnapshot) -> int | None:
    """Units the vehicle saw delivered since ``baseline`` (its counter at the start):
    Wh charged, tasks signed off, or one cleaning if the cabin check counted one and
    the cabin is not dirty; ``None`` when the reading is not to be trusted."""
    now = counter(kind, snapshot)
    if now is None:
        return None
    if kind is UpkeepKind.CLEANING:
        return 1 if now > baseline and snapshot.cabin_dirty is False else 0
    return max(now - baseline, 0)


def station_settings(
    name: str,
    *,
    site: str,
    product: str,
    window: Window,
    price_per_kwh: tuple[int, int],
    capacity_wh: int,
    chain_id: int,
    token: str,
    folder: Path,
    strategy: Mapping[str, Any],
    max_rounds: int = 6,
) -> SupplierSettings:
    """The reference supplier as a charging station: energy in Wh for one site and
    window; ``price_per_kwh`` is (list, floor)."""
    return provider_settings(
        name,
        item=f"Energy at {site}, {window.start}-{window.end}",
        product=product,
        unit="Wh",
        price=(max(price_per_kwh[0] // 1000, 1), max(price_per_kwh[1] // 1000, 1)),
        stock=capacity_wh,
        chain_id=chain_id,
        token=token,
        folder=folder,
        strategy=strategy,
        max_rounds=max_rounds,
    )
