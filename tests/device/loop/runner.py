"""Running the agent harness in processes forked from a pre-loaded fork server, and killing it."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from tests import forked
from tests.device.loop import agent_proc

LINE_TIMEOUT_S = 120.0  # a guard against a hung harness, not a timing check


def fork_server() -> ForkServerContext:
    """A fork server that has imported the harness (web3, sqlmodel...) once for all runs."""
    return forked.fork_server(agent_proc.__name__)


@dataclass(frozen=True, slots=True)
class Kill:
    event: str
    occurrence: int
    delay_s: float | None  # None: the harness hangs at the event itself


class Harness(forked.ForkedRun):
    """One run of the agent process; its protocol lines arrive through a reader thread.

    Each run is a new OS process forked from a fork server that has already
    imported the harness (web3, sqlmodel, ...): a restart then costs what the
    agent itself does on start-up, not the interpreter's imports. Nothing but
    imported modules is shared: the machine is rebuilt from its files each time.
    """

    line_timeout_s = LINE_TIMEOUT_S

    def __init__(
        self,
        context: ForkServerContext,
        args: list[str],
        log: Path,
        target: Callable[[list[str], Connection, str], None] = agent_proc.forked,
    ) -> None:
        """``target``: the harness to run (the vending agent's unless told)."""
        super().__init__(context, target, (args, forked.PIPE, str(log)))

    def next_line(self) -> str | None:
        try:
            line = self.lines.get(timeout=self.line_timeout_s)
        except queue.Empty:
            self.process.kill()
            pytest.fail("agent harness went silent")
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, kill: Kill) -> bool:
        """Read until the kill's moment (True) or the end of the run (False)."""
        marker = f"MARK {kill.event} {kill.occurrence} "
        while (line := self.next_line()) is not None:
            if kill.delay_s is None and line == f"HOLD {kill.event}":
                return True
            if kill.delay_s is not None and (line + " ").startswith(marker):
                time.sleep(kill.delay_s)
                return True
        return False

    def finish(self) -> None:
        while self.next_line() is not None:
            pass
        self.process.join()
        assert self.process.exitcode == 0
        assert self.seen[-1] == "DONE"


def acknowledged_sales(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("SALE ")]
