"""``deploy/install.sh`` into a throwaway prefix: the installed tree, its modes, and re-runs.

The venv reuses this venv's site-packages (``--reuse-site-packages``) so the test
does not download the world; custobot itself is built and installed from the
source tree exactly as on a Pi.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from eth_account import Account

from device.keys import keystore_address
from device.settings import load_settings
from supplier.keys import load_signer
from supplier.settings import load_supplier_settings
from tests.deploy.conftest import INSTALL, REPO, UNITS, Installed, run_install, run_install_args


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_installed_tree_has_the_right_files_and_modes(installed: Installed) -> None:
    prefix, etc = installed.prefix, installed.etc
    assert _mode(etc) == 0o750
    assert _mode(etc / "custobot.toml") == 0o640
    assert _mode(etc / "keystore.pass") == 0o600
    assert _mode(etc / "agent-keystore.json") == 0o600
    data = prefix / "var" / "lib" / "custobot"
    assert _mode(data) == 0o750
    assert _mode(data / "custobot.db") == 0o640
    for unit in UNITS:
        assert _mode(prefix / "etc" / "systemd" / "system" / unit) == 0o644
    assert (prefix / "opt" / "custobot" / "share" / "README.md").is_file()

    version = subprocess.run(
        [str(installed.custobot), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "custobot 0.1.0"
    # The installed copy runs, not this checkout.
    where = subprocess.run(
        [
            str(installed.custobot.with_name("python")),
            "-c",
            "import device; print(device.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=prefix,
    )
    assert where.stdout.startswith(str(prefix / "opt" / "custobot" / "venv"))


@pytest.mark.slow
def test_config_points_inside_the_prefix_and_holds_no_secret(installed: Installed) -> None:
    settings = load_settings(installed.etc / "custobot.toml")
    assert settings.database == installed.prefix / "var" / "lib" / "custobot" / "custobot.db"
    assert settings.chain.keystore == installed.etc / "agent-keystore.json"

    passphrase = (installed.etc / "keystore.pass").read_text().strip()
    assert len(passphrase) >= 32
    key = bytes(
        Account.decrypt(json.loads((installed.etc / "agent-keystore.json").read_text()), passphrase)
    )
    address = Account.from_key(key).address
    assert address in installed.output  # the operator sees which address to fund
    for secret in (passphrase, key.hex()):
        assert secret not in (installed.etc / "custobot.toml").read_text()
        assert secret not in installed.output
        for unit in UNITS:
            assert secret not in (installed.prefix / "etc/systemd/system" / unit).read_text()


@pytest.mark.slow
def test_supplier_gets_its_own_config_key_and_data_dir(installed: Installed) -> None:
    etc = installed.prefix / "etc" / "custobot-supplier"
    assert _mode(etc) == 0o750
    assert _mode(etc / "supplier.toml") == 0o640
    assert _mode(etc / "keystore.pass") == 0o600
    assert _mode(etc / "supplier-keystore.json") == 0o600
    assert _mode(installed.prefix / "var" / "lib" / "custobot-supplier") == 0o750

    settings = load_supplier_settings(etc / "supplier.toml")
    assert settings.keystore == etc / "supplier-keystore.json"
    assert settings.database == installed.prefix / "var/lib/custobot-supplier/supplier.db"
    # The service reads the passphrase from its credential, which the unit loads from
    # keystore.pass; here the file itself unlocks the supplier's key.
    assert settings.passphrase_file == Path(
        "/run/credentials/custobot-supplier.service/keystore-passphrase"
    )
    unit = (installed.prefix / "etc/systemd/system/custobot-supplier.service").read_text()
    assert f"LoadCredential=keystore-passphrase:{etc / 'keystore.pass'}" in unit
    signer = load_signer(settings.keystore, (etc / "keystore.pass").read_text().strip())
    assert signer.address in installed.output
    assert signer.address != keystore_address(installed.etc / "agent-keystore.json")


@pytest.mark.slow
def test_second_run_upgrades_without_touching_config_keys_or_data(installed: Installed) -> None:
    prefix, first = installed.prefix, installed
    config = first.etc / "custobot.toml"
    config.write_text(
        config.read_text().replace('device_id = "office-3f-snack"', 'device_id = "lobby"')
    )
    kept = {
        name: (first.etc / name).read_bytes() for name in ("keystore.pass", "agent-keystore.json")
    }
    database = prefix / "var" / "lib" / "custobot" / "custobot.db"
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.execute(
            "INSERT INTO sale (slot_id, gtin, price, payment, state, created_at) "
            "VALUES (1, '05449000000996', 2000000, 'coin', 'completed', '2026-01-01 00:00:00')"
        )

    second = run_install(prefix, "--supplier")

    assert "keeping existing" in second.output
    assert load_settings(config).device_id == "lobby"
    for name, content in kept.items():
        assert (first.etc / name).read_bytes() == content
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT count(*) FROM sale").fetchone() == (1,)
    assert "database migrations" in second.output


@pytest.mark.slow
def test_systemd_analyze_verifies_every_installed_unit(
    installed: Installed, systemd_analyze: Path
) -> None:
    units = [installed.prefix / "etc" / "systemd" / "system" / unit for unit in UNITS]
    for unit in units:
        if unit.suffix == ".service":
            assert str(installed.custobot) in unit.read_text()  # rendered for the prefix
    verify = subprocess.run(
        [str(systemd_analyze), "verify", *map(str, units)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Any finding (unknown key, bad value, missing executable) is printed: there must be none.
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == "", verify.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("unit", "threshold"),
    [
        ("custobot.service", 20),
        ("custobot-dashboard.service", 20),
        ("custobot-supplier.service", 20),
        ("custobot-backup.service", 10),
    ],
)
def test_systemd_rates_the_services_exposure_low(
    installed: Installed, systemd_analyze: Path, unit: str, threshold: int
) -> None:
    """systemd's own hardening score (0 = locked down, 100 = exposed), read offline."""
    path = installed.prefix / "etc" / "systemd" / "system" / unit
    result = subprocess.run(
        [str(systemd_analyze), "security", "--offline=true", f"--threshold={threshold}", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Overall exposure level" in result.stdout


@pytest.mark.slow
def test_the_backup_units_command_line_makes_a_verified_backup(installed: Installed) -> None:
    unit = (installed.prefix / "etc/systemd/system/custobot-backup.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    done = subprocess.run(
        shlex.split(exec_start.removeprefix("ExecStart=")),
        capture_output=True,
        text=True,
        check=False,
        cwd=installed.prefix,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    backups = installed.prefix / "var" / "lib" / "custobot" / "backups"
    assert _mode(backups) == 0o750
    made = list(backups.glob("*.db"))
    assert made
    with closing(sqlite3.connect(made[0])) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
def test_systemd_analyze_catches_a_broken_unit(
    tmp_path: Path, installed: Installed, systemd_analyze: Path
) -> None:
    """The verification above is real: a typo or a missing binary fails it."""
    good = (installed.prefix / "etc" / "systemd" / "system" / "custobot.service").read_text()
    broken = tmp_path / "custobot.service"
    broken.write_text(good.replace(str(installed.custobot), str(tmp_path / "missing" / "custobot")))
    result = subprocess.run(
        [str(systemd_analyze), "verify", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    typo = tmp_path / "typo" / "custobot.service"
    typo.parent.mkdir()
    typo.write_text(good.replace("ProtectSystem=strict", "ProtectSystem=strcit"))
    result = subprocess.run(
        [str(systemd_analyze), "verify", str(typo)], capture_output=True, text=True, check=False
    )
    assert "Failed to parse protect system value, ignoring: strcit" in result.stderr


SERVICES = [unit for unit in UNITS if unit.endswith(".service")]
DAEMONS = ["custobot.service", "custobot-supplier.service"]
WEB = ["custobot-dashboard.service"]


@pytest.mark.parametrize("unit", SERVICES)
def test_services_are_hardened(unit: str) -> None:
    lines = set((REPO / "deploy" / "systemd" / unit).read_text().splitlines())
    required = {
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "CapabilityBoundingSet=",
        "UMask=0027",
    }
    if unit in DAEMONS:
        required |= {"Restart=on-failure", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"}
        assert any(line.startswith("LoadCredential=keystore-passphrase:") for line in lines)
    elif unit in WEB:  # the network-facing dashboard: no key, no devices, bounded
        required |= {"Restart=on-failure", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"}
        required |= {"PrivateDevices=yes", "LimitNOFILE=4096"}
        assert not any(line.startswith(("LoadCredential", "SupplementaryGroups")) for line in lines)
    else:  # the backup needs no network at all
        required |= {"PrivateNetwork=yes", "RestrictAddressFamilies=AF_UNIX"}
    assert required <= lines, required - lines
    assert any(line.startswith("ReadWritePaths=/var/lib/") for line in lines)
    assert not any(line.startswith("User=root") for line in lines)


def test_install_refuses_unknown_options_and_changes_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "root"
    result = subprocess.run(
        ["bash", str(INSTALL), "--prefix", str(prefix), "--frobnicate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown option: --frobnicate" in result.stderr
    assert not prefix.exists()


@pytest.mark.slow
def test_an_upgrade_with_a_broken_config_stops_and_names_the_key(installed: Installed) -> None:
    config = installed.etc / "custobot.toml"
    good = config.read_text()
    broken = good.replace("coin_pin = 27", "coin_pin = 17")  # the door switch's pin
    assert broken != good
    config.write_text(broken)
    try:
        result = subprocess.run(
            ["bash", str(INSTALL), *run_install_args(installed.prefix, "--supplier")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0
        assert "config error: machine.coin_pin: GPIO17 is already used" in result.stderr
        assert config.read_text() == broken  # the operator's file is left as it was
    finally:
        config.write_text(good)


def test_a_system_install_needs_root(tmp_path: Path) -> None:
    # An ordinary user must be able to read the script (a clone may sit in a 0700 directory).
    public = Path(tempfile.mkdtemp(prefix="custobot-install-"))
    try:
        public.chmod(0o755)
        script = public / "install.sh"
        shutil.copy(INSTALL, script)
        script.chmod(0o755)
        target = public / "root"
        command = ["bash", str(script), "--prefix", str(target), "--skip-apt"]
        if os.geteuid() == 0:  # drop to nobody to see what an ordinary user gets
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
        assert result.returncode != 0
        assert "run as root, or use --no-system-user with --prefix for a trial" in result.stderr
        assert not target.exists()
    finally:
        shutil.rmtree(public)
