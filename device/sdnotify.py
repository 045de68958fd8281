"""systemd readiness and watchdog notifications (``sd_notify``), with nothing but ``socket``.

``custobot.service`` is ``Type=notify`` with ``WatchdogSec=``: the agent calls
``ready()`` once it is selling, then ``watchdog()`` at least every
``watchdog_period()`` seconds from its scheduler, so a hung agent is restarted.
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a harmless no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger()


class Notifier:
    """Sends state lines to the socket systemd named in ``$NOTIFY_SOCKET``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when not under systemd or it failed."""
        if self._address is None:
            return False
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(payload)
        except OSError as exc:  # systemd gone or socket unwritable: keep running regardless
            log.warning("sd_notify_failed", error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog_period(self) -> float | None:
        """Seconds between ``watchdog()`` calls (half the systemd timeout), or None if unset."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2_000_000


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):  # abstract namespace socket
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other forms are not used on a Pi


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    """The watchdog applies to this process only if ``$WATCHDOG_PID`` is unset or names it."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec)
