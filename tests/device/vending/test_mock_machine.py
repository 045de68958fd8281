"""On mock pins ``custobot run`` and ``custobot sensors`` read the same machine: all OK."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from device.settings import DEFAULTS_FILE
from tests.device.test_cli import CUSTOBOT, _env


def test_run_and_sensors_agree_on_mock_pins(tmp_path: Path) -> None:
    config = tmp_path / "machine.toml"
    config.write_text(
        DEFAULTS_FILE.read_text().replace(
            'database = "custobot-demo.db"', f'database = "{tmp_path / "machine.db"}"'
        )
        + "\n[agent]\npoll_interval_s = 5\n"
    )
    sensors = subprocess.run(
        [*CUSTOBOT, "sensors", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert sensors.returncode == 0, sensors.stdout  # every slot OK
    proc = subprocess.Popen(
        [*CUSTOBOT, "--log-json", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("agent_started" in s for s in seen):
            seen.append(proc.stderr.readline())
        assert any("agent_started" in s for s in seen), "".join(seen)
        time.sleep(6)  # one more poll at 5 s
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    logs = "".join(seen) + err
    assert proc.returncode == 0, logs
    assert "slot_fault" not in logs
