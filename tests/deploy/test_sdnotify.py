"""sd_notify over a real unix datagram socket, as systemd listens for it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from device.sdnotify import Notifier


def test_ready_watchdog_and_stopping_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        notifier = Notifier({"NOTIFY_SOCKET": str(path)})
        assert notifier.enabled
        assert notifier.ready("selling, 6 slots")
        assert listener.recv(4096) == b"READY=1\nSTATUS=selling, 6 slots"
        assert notifier.watchdog()
        assert listener.recv(4096) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert listener.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket(tmp_path: Path) -> None:
    name = f"custobot-test-{os.getpid()}-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(b"\0" + name.encode())
        assert Notifier({"NOTIFY_SOCKET": f"@{name}"}).status("restocking")
        assert listener.recv(4096) == b"STATUS=restocking"


def test_outside_systemd_everything_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_period() is None


def test_a_vanished_socket_does_not_stop_the_machine(tmp_path: Path) -> None:
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).watchdog()


def test_watchdog_period_is_half_the_timeout_for_this_process_only() -> None:
    mine = {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_period() == 30.0
    assert Notifier({"WATCHDOG_USEC": "60000000"}).watchdog_period() == 30.0
    other = {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other).watchdog_period() is None
