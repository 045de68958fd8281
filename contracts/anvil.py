"""Run the pinned ``anvil`` binary as a real JSON-RPC chain node on 127.0.0.1.

The node listens on a port the OS picks (``--port 0``); its log goes to a file in a
temporary directory (which is also its HOME, so it never writes to the user's
home), and the chosen port is read back from that log.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from device.errors import CustobotError

DEFAULT_ANVIL = Path(__file__).resolve().parent / "node_modules" / ".bin" / "anvil"
_LISTENING = re.compile(r"Listening on 127\.0\.0\.1:(\d+)")


class AnvilError(CustobotError):
    """anvil could not be started; ``log`` holds what it printed."""

    def __init__(self, problem: str, log: str) -> None:
        super().__init__(f"anvil: {problem}\n{log[-2000:]}")
        self.problem = problem
        self.log = log


@contextmanager
def run_anvil(
    binary: Path = DEFAULT_ANVIL,
    *,
    chain_id: int = 31337,
    hardfork: str = "prague",
    extra_args: tuple[str, ...] = (),
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    """Start anvil, yield its RPC URL (``http://127.0.0.1:<port>``), stop it on exit.

    Raises ``AnvilError`` if the binary exits or does not report its port in time.
    """
    with tempfile.TemporaryDirectory(prefix="custobot-anvil-") as home:
        log_path = Path(home) / "anvil.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    str(binary),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--chain-id",
                    str(chain_id),
                    "--hardfork",
                    hardfork,
                    *extra_args,
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={"HOME": home, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
                cwd=home,
            )
            try:
                port = _wait_for_port(process, log_path, startup_timeout)
                yield f"http://127.0.0.1:{port}"
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        log = log_path.read_text(encoding="utf-8", errors="replace")
        found = _LISTENING.search(log)
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            raise AnvilError(f"exited with code {process.returncode} before listening", log)
        if time.monotonic() > deadline:
            raise AnvilError(f"did not report a port within {timeout} s", log)
        time.sleep(0.05)
