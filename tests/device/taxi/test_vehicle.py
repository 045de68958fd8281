"""Vehicle I/O on a real python-can virtual bus and a real pseudo-terminal GPS.

Frames are encoded from the shipped DBC by ``VehicleEcu`` (the car's side), sentences
by pynmea2; the poller under test reads them as it would in a car.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import count

import can
import pytest

from device.errors import CustobotError
from device.taxi import errors
from device.taxi.gps import NmeaReader, open_gps, rmc_sentence
from device.taxi.vehicle import (
    BATTERY,
    CABIN,
    ENERGY,
    GPS,
    ODOMETER,
    UPKEEP,
    ChargingState,
    VehicleEcu,
    VehiclePoller,
    VehicleSnapshot,
    VehicleState,
    charge_needed,
    cleaning_needed,
    load_dbc,
    open_bus,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LOW = 200  # buy a charge below 20.0 %
HOME = (52.5200, 13.4050)
_channels = count()

STATE = VehicleState(
    soc_permille=150,
    charging=ChargingState.IDLE,
    energy_charged_wh=1_250_000,
    energy_used_wh=1_180_000,
    odometer_m=84_320,
    doors_open=0b0001,
    seats_occupied=0b0010,
    cabin_dirty=False,
)


@dataclass
class Rig:
    car: VehicleEcu
    car_bus: can.BusABC
    poller: VehiclePoller
    master: int
    slave: int

    def gps(self, text: str) -> None:
        """Write to the GPS side of the pty and wait (bounded) until the reader's side holds it."""
        data = text.encode("ascii", errors="replace")
        os.write(self.master, data)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            held = struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0" * 4))[0]
            if held >= len(data):
                return
            time.sleep(0.001)
        pytest.fail("the pty did not pass the sentence on")

    def fix(self, at: datetime, lat: float = HOME[0], lon: float = HOME[1]) -> None:
        self.gps(rmc_sentence(lat, lon, at) + "\r\n")

    def send(self, state: VehicleState, at: datetime) -> VehicleSnapshot:
        """The car sends every frame and a fix; the poller reads at ``at``."""
        self.car.send(state)
        self.fix(at)
        return self.poller.poll(at)


@pytest.fixture
def rig() -> Iterator[Rig]:
    channel = f"taxi-test-{os.getpid()}-{next(_channels)}"
    master, slave = os.openpty()
    car_bus = open_bus("virtual", channel)
    poller = VehiclePoller(open_bus("virtual", channel), NmeaReader(open_gps(os.ttyname(slave))))
    yield Rig(VehicleEcu(car_bus), car_bus, poller, master, slave)
    poller.close()
    car_bus.shutdown()
    os.close(master)
    os.close(slave)


def kinds(snapshot: VehicleSnapshot) -> dict[str, str]:
    return {f.source: f.kind for f in snapshot.faults}


def test_every_signal_decodes_from_the_shipped_dbc(rig: Rig) -> None:
    snap = rig.send(STATE, T0)
    assert snap.faults == ()
    assert (snap.soc_permille, snap.charging) == (150, ChargingState.IDLE)
    assert (snap.energy_charged_wh, snap.energy_used_wh) == (1_250_000, 1_180_000)
    assert snap.odometer_m == 84_320
    assert (snap.doors_open, snap.seats_occupied, snap.cabin_dirty) == (0b0001, 0b0010, False)
    assert snap.position is not None
    assert snap.position.lat == pytest.approx(HOME[0], abs=1e-6)
    assert snap.position.lon == pytest.approx(HOME[1], abs=1e-6)
    assert charge_needed(snap, LOW)  # 15 % < 20 %, every source fresh: a reason to buy


def test_the_dbc_names_every_source_the_poller_reads() -> None:
    names = {m.name for m in load_dbc().messages}
    assert {BATTERY, ENERGY, ODOMETER, CABIN} <= names


def test_nothing_heard_yet_is_stale_and_buys_nothing(rig: Rig) -> None:
    snap = rig.poller.poll(T0)
    assert kinds(snap) == dict.fromkeys((BATTERY, ENERGY, ODOMETER, CABIN, UPKEEP, GPS), "stale")
    assert not charge_needed(snap, LOW)
    assert not cleaning_needed(snap)


def test_a_silent_bus_goes_stale_and_the_low_battery_buys_nothing(rig: Rig) -> None:
    assert charge_needed(rig.send(STATE, T0), LOW)
    later = T0 + timedelta(seconds=30)
    rig.fix(later)  # the GPS still talks; the car's bus does not
    snap = rig.poller.poll(later)
    assert kinds(snap) == dict.fromkeys((BATTERY, ENERGY, ODOMETER, CABIN, UPKEEP), "stale")
    assert snap.soc_permille == 150  # the last good value is still shown, marked stale
    assert not charge_needed(snap, LOW)


def test_an_energy_counter_going_backwards_is_implausible_until_a_good_frame(rig: Rig) -> None:
    rig.send(STATE, T0)
    back = replace(STATE, energy_charged_wh=STATE.energy_charged_wh - 1_000)
    snap = rig.send(back, T0 + timedelta(seconds=1))
    assert kinds(snap) == {ENERGY: "implausible"}
    assert snap.energy_charged_wh == STATE.energy_charged_wh  # the backwards value was not taken
    assert not charge_needed(snap, LOW)
    ahead = replace(STATE, energy_charged_wh=STATE.energy_charged_wh + 50)
    snap = rig.send(ahead, T0 + timedelta(seconds=2))
    assert snap.faults == ()
    assert snap.energy_charged_wh == STATE.energy_charged_wh + 50
    assert charge_needed(snap, LOW)


def test_an_operator_rebase_accepts_a_replaced_counter(rig: Rig) -> None:
    rig.send(STATE, T0)
    reset = replace(STATE, energy_charged_wh=0, energy_used_wh=0)
    assert kinds(rig.send(reset, T0 + timedelta(seconds=1))) == {ENERGY: "implausible"}
    rig.poller.rebase(ENERGY)
    snap = rig.send(reset, T0 + timedelta(seconds=2))
    assert snap.faults == ()
    assert snap.energy_charged_wh == 0


def test_a_state_of_charge_leap_is_implausible(rig: Rig) -> None:
    rig.send(STATE, T0)
    snap = rig.send(replace(STATE, soc_permille=900), T0 + timedelta(seconds=1))
    assert kinds(snap) == {BATTERY: "implausible"}
    assert snap.soc_permille == 150
    # The same rise over an hour of charging is physics, not a fault.
    snap = rig.send(replace(STATE, soc_permille=900), T0 + timedelta(hours=1))
    assert snap.faults == ()
    assert snap.soc_permille == 900


def test_an_odometer_faster_than_a_car_is_implausible(rig: Rig) -> None:
    rig.send(STATE, T0)
    snap = rig.send(replace(STATE, odometer_m=STATE.odometer_m + 5_000), T0 + timedelta(seconds=2))
    assert kinds(snap) == {ODOMETER: "implausible"}


def test_malformed_frames_are_faults_and_change_nothing(rig: Rig) -> None:
    rig.send(STATE, T0)
    battery = load_dbc().get_message_by_name(BATTERY)
    rig.car_bus.send(
        can.Message(arbitration_id=battery.frame_id, data=b"\x01", is_extended_id=False)
    )
    snap = rig.poller.poll(T0 + timedelta(seconds=1))
    assert kinds(snap) == {BATTERY: "malformed"}
    assert snap.soc_permille == 150
    assert not charge_needed(snap, LOW)
    over = battery.encode(
        {"StateOfCharge": 1500, "ChargingState": 0, "StatusCounter": 0},
        scaling=False,
        strict=False,
    )
    rig.car_bus.send(can.Message(arbitration_id=battery.frame_id, data=over, is_extended_id=False))
    snap = rig.poller.poll(T0 + timedelta(seconds=1))
    assert kinds(snap) == {BATTERY: "malformed"}
    assert "100%" in snap.faults[0].detail


def test_other_ecus_frames_are_ignored(rig: Rig) -> None:
    rig.car_bus.send(can.Message(arbitration_id=0x7FF, data=b"\xff" * 8, is_extended_id=False))
    snap = rig.send(STATE, T0)
    assert snap.faults == ()
    assert rig.poller.frames_ignored == 1


def test_garbage_nmea_is_a_fault_until_a_valid_fix(rig: Rig) -> None:
    rig.send(STATE, T0)
    good = rmc_sentence(*HOME, T0)
    rig.gps("\x00\xff noise \r\n" + good[:-2] + "00\r\n")  # noise, then a wrong checksum
    snap = rig.poller.poll(T0 + timedelta(seconds=1))
    assert kinds(snap) == {GPS: "garbage"}
    assert not charge_needed(snap, LOW)
    assert not cleaning_needed(replace(snap, cabin_dirty=True))
    snap = rig.send(STATE, T0 + timedelta(seconds=2))
    assert snap.faults == ()


def test_a_sentence_split_across_reads_is_joined(rig: Rig) -> None:
    rig.send(STATE, T0)
    sentence = rmc_sentence(HOME[0] + 0.001, HOME[1], T0) + "\r\n"
    rig.gps(sentence[:20])
    assert rig.poller.poll(T0 + timedelta(seconds=1)).faults == ()  # half a line: nothing yet
    rig.gps(sentence[20:])
    snap = rig.poller.poll(T0 + timedelta(seconds=1))
    assert snap.faults == ()
    assert snap.position is not None
    assert snap.position.lat == pytest.approx(HOME[0] + 0.001, abs=1e-6)


def test_no_fix_is_a_fault(rig: Rig) -> None:
    rig.send(STATE, T0)
    rig.gps(rmc_sentence(*HOME, T0, valid=False) + "\r\n")
    snap = rig.poller.poll(T0 + timedelta(seconds=1))
    assert kinds(snap) == {GPS: "no-fix"}
    assert not charge_needed(snap, LOW)


def test_a_position_jump_is_implausible(rig: Rig) -> None:
    rig.send(STATE, T0)
    rig.car.send(STATE)
    rig.fix(T0, HOME[0] + 1.0, HOME[1])  # 111 km in one second
    snap = rig.poller.poll(T0 + timedelta(seconds=1))
    assert kinds(snap) == {GPS: "implausible"}


def test_a_dirty_cabin_asks_for_cleaning_only_when_fresh(rig: Rig) -> None:
    dirty = replace(STATE, cabin_dirty=True)
    assert cleaning_needed(rig.send(dirty, T0))
    rig.fix(T0 + timedelta(minutes=1))
    assert not cleaning_needed(rig.poller.poll(T0 + timedelta(minutes=1)))  # cabin frame stale


def test_charging_is_not_a_reason_to_buy_another_charge(rig: Rig) -> None:
    assert not charge_needed(rig.send(replace(STATE, charging=ChargingState.CHARGING), T0), LOW)


@pytest.mark.parametrize(
    "leaf",
    [
        errors.MalformedFrameError,
        errors.StaleDataError,
        errors.ImplausibleJumpError,
        errors.NoFixError,
        errors.GarbageNmeaError,
    ],
)
def test_every_vehicle_fault_has_one_root(leaf: type[errors.VehicleError]) -> None:
    exc = leaf("gps", "why")
    assert isinstance(exc, errors.VehicleError)
    assert isinstance(exc, CustobotError)
    assert str(exc) == "gps: why"
