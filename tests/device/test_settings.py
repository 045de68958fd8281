"""A wrong config exits non-zero with one line that names the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from device.cli import app
from device.settings import DEFAULTS_FILE, Kind, load_settings

REPO = Path(__file__).resolve().parents[2]
BASE = DEFAULTS_FILE.read_text()


def _run_check(tmp_path: Path, text: str) -> tuple[int, str]:
    config = tmp_path / "machine.toml"
    config.write_text(text)
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (
            ('kind = "sales"', 'kind = "laser"'),
            "slots[5].sensor.kind",
            "unknown sensor kind 'laser'",
        ),
        (("motor_pin = 20", "motor_pin = 23"), "slots[5].motor_pin", "GPIO23 is already used"),
        (
            ("retail_price = 1_400_000", "retail_price = -5"),
            "slots[4].retail_price",
            "greater than or equal to 0",
        ),
        (("par = 6", "par = 9"), "slots[5]", "capacity (8) is below par (9)"),
        (
            ("pin = 16", "pin = 17"),
            "slots[4].sensor.pin",
            "GPIO17 is already used by machine.door_pin",
        ),
        (("channel = 1", "channel = 0"), "slots.sensor.channel", "channel 0 is used twice"),
        (('pin_factory = "mock"', 'pin_factory = "rpigpio"'), "pin_factory", "'mock' or 'lgpio'"),
        (('kind = "vending"', 'kind = "drone"'), "kind", "'vending' or 'taxi'"),
        (
            ('device_id = "demo-snack-01"', 'device_id = "demo-snack-01"\nbogus = 1'),
            "bogus",
            "unknown key",
        ),
    ],
)
def test_bad_config_exits_with_one_line_naming_key(
    tmp_path: Path, edit: tuple[str, str], key: str, problem: str
) -> None:
    old, new = edit
    assert old in BASE
    code, output = _run_check(tmp_path, BASE.replace(old, new, 1))
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith(f"config error: {key}: "), lines[0]
    assert problem in lines[0]


def test_missing_file_and_bad_toml_exit_non_zero(tmp_path: Path) -> None:
    code, output = _run_check(tmp_path, BASE + "\n[[[\n")
    assert code == 2
    assert output.startswith("config error: config: ")
    assert len(output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["check", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOBOT_DATABASE", "/tmp/elsewhere.db")
    monkeypatch.setenv("CUSTOBOT_DASHBOARD__PORT", "9123")
    settings = load_settings()
    assert str(settings.database) == "/tmp/elsewhere.db"
    assert settings.dashboard.port == 9123


def test_example_config_is_a_six_slot_pi_machine() -> None:
    settings = load_settings(REPO / "deploy" / "examples" / "snack-machine.toml")
    assert len(settings.slots) == 6
    assert settings.pin_factory == "lgpio"
    assert {s.sensor.kind for s in settings.slots} == {"distance", "analog", "switch", "sales"}
    assert settings.agent.plan_interval_h == 6.0
    assert settings.agent.order_cost == 0


def test_kind_is_vending_by_default_and_taxi_needs_no_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kind picks the machine; only a vending machine has slots to describe."""
    assert load_settings().kind is Kind.VENDING
    monkeypatch.setenv("CUSTOBOT_KIND", "taxi")
    assert load_settings().kind is Kind.TAXI
    monkeypatch.delenv("CUSTOBOT_KIND")
    taxi = tmp_path / "taxi.toml"
    taxi.write_text('device_id = "taxi-01"\nkind = "taxi"\n')
    assert load_settings(taxi).slots == []
    code, output = _run_check(tmp_path, 'device_id = "snack-01"\n')
    assert code == 2
    assert output.strip() == "config error: slots: a vending machine needs at least one slot"
