"""CPU temperature for the health report; unknown (None) rather than a crash off the Pi."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from gpiozero import CPUTemperature

PI_SENSOR_FILE = Path("/sys/class/thermal/thermal_zone0/temp")

log = structlog.get_logger()
_told_missing: set[Path] = set()  # a machine without the sensor is said so once, not per poller


class CpuHealth:
    """Reads the SoC temperature file (millidegrees); a mock machine may pass its own file."""

    def __init__(self, *, pin_factory: Any, sensor_file: Path = PI_SENSOR_FILE) -> None:
        self.sensor_file = sensor_file
        self._device: Any = None
        if not sensor_file.exists():  # no sensor (not a Pi): nothing is wrong, say it once
            if sensor_file not in _told_missing:
                _told_missing.add(sensor_file)
                log.info("cpu_temperature_unavailable", reason="no sensor on this machine")
            return
        try:
            self._device = CPUTemperature(sensor_file=str(sensor_file), pin_factory=pin_factory)
        except (OSError, ValueError) as exc:  # gpiozero reads the file once at construction
            log.warning("cpu_temperature_unreadable", file=str(sensor_file), error=str(exc))

    def temperature(self) -> float | None:
        """Degrees Celsius, or None when the sensor is missing or unreadable."""
        if self._device is None:
            return None
        try:
            return float(self._device.temperature)
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
