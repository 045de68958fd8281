"""Position from a serial GPS speaking NMEA 0183 (RMC and GGA sentences), parsed by pynmea2.

The reader never blocks: it takes what bytes the port has, splits them into lines and
returns one outcome per sentence it cares about — a fix, or the error that says why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pynmea2

from device.taxi.errors import GarbageNmeaError, NoFixError, VehicleError

SOURCE = "gps"
MAX_LINE = 256  # NMEA says 82 characters; anything much longer is noise
EARTH_RADIUS_M = 6_371_000.0


class BytePort(Protocol):
    """What the reader needs of a serial port (``serial.Serial`` with ``timeout=0``)."""

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Fix:
    """A position the GPS vouches for, stamped with the poll's ``now``."""

    lat: float
    lon: float
    at: datetime


def distance_m(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance (haversine): how far apart two fixes are."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def open_gps(port: str, baudrate: int = 9600) -> BytePort:
    """Open a serial GPS (or a pseudo-terminal) for non-blocking reads."""
    import serial

    port_obj: BytePort = serial.Serial(port, baudrate=baudrate, timeout=0)
    return port_obj


def _coordinate(
    value: float, hemisphere_pos: str, hemisphere_neg: str, width: int
) -> tuple[str, str]:
    degrees = int(abs(value))
    minutes = (abs(value) - degrees) * 60
    return f"{degrees:0{width}d}{minutes:07.4f}", hemisphere_pos if value >= 0 else hemisphere_neg


def rmc_sentence(lat: float, lon: float, when: datetime, *, valid: bool = True) -> str:
    """An RMC sentence with its checksum, as a GPS sends it (for the simulated GPS)."""
    lat_s, ns = _coordinate(lat, "N", "S", 2)
    lon_s, ew = _coordinate(lon, "E", "W", 3)
    fields = (
        when.strftime("%H%M%S"),
        "A" if valid else "V",
        lat_s,
        ns,
        lon_s,
        ew,
        "0.0",
        "0.0",
        when.strftime("%d%m%y"),
        "",
        "",
    )
    return str(pynmea2.RMC("GP", "RMC", fields))


class NmeaReader:
    """Owns the GPS port: turns its byte stream into fixes and explicit errors."""

    def __init__(self, port: BytePort) -> None:
        self._port = port
        self._pending = b""

    def read(self, now: datetime) -> list[Fix | VehicleError]:
        """Every RMC/GGA sentence that arrived since the last read, as a fix or an error."""
        data = self._port.read(4096)
        out: list[Fix | VehicleError] = []
        while data:
            self._pending += data
            data = self._port.read(4096)
        *lines, self._pending = self._pending.split(b"\n")
        if len(self._pending) > MAX_LINE:
            out.append(GarbageNmeaError(SOURCE, f"{len(self._pending)} bytes without a line end"))
            self._pending = b""
        for raw in lines:
            outcome = parse_line(raw, now)
            if outcome is not None:
                out.append(outcome)
        return out

    def close(self) -> None:
        self._port.close()


def parse_line(raw: bytes, now: datetime) -> Fix | VehicleError | None:
    """One line: a fix, the error it is, or None for a valid sentence that carries no position."""
    line = raw.strip()
    if not line:
        return None
    if len(line) > MAX_LINE:
        return GarbageNmeaError(SOURCE, f"a {len(line)}-byte line")
    try:
        text = line.decode("ascii")
        sentence = pynmea2.parse(text, check=True)
    except (UnicodeDecodeError, pynmea2.ParseError) as exc:
        return GarbageNmeaError(SOURCE, f"{line[:40]!r}: {exc}")
    if isinstance(sentence, pynmea2.RMC):
        if sentence.status != "A":
            return NoFixError(SOURCE, "RMC status V (receiver warning)")
    elif isinstance(sentence, pynmea2.GGA):
        if not sentence.gps_qual:
            return NoFixError(SOURCE, "GGA fix quality 0")
    else:
        return None
    try:
        lat, lon = float(sentence.latitude), float(sentence.longitude)
    except (TypeError, ValueError) as exc:
        return GarbageNmeaError(SOURCE, f"{text[:40]!r}: unreadable position ({exc})")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return GarbageNmeaError(SOURCE, f"position {lat}, {lon} off the globe")
    return Fix(lat=lat, lon=lon, at=now)
