"""Test harness processes forked from a pre-loaded fork server, read through a pipe, killed.

The crash tests restart a harness process (the device agent, the supplier's
watcher) many times; each run is forked from a fork server that has already
imported the harness module, so a restart costs the harness's own start-up, not
the interpreter's imports. The harness sends its protocol lines over a one-way
pipe; a reader thread queues them for the test.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any, Final


def fork_server(module: str) -> ForkServerContext:
    """A fork server that has imported ``module`` (web3, sqlmodel...) once for all runs."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([module])
    return context


class _Pipe:
    def __repr__(self) -> str:
        return "PIPE"


PIPE: Final = _Pipe()
"""Stands, in a ``ForkedRun``'s ``args``, for the writing end of its pipe."""


class ForkedRun:
    """One run of a harness process; its protocol lines arrive through a reader thread.

    ``target(*args)`` runs in the forked process, with ``PIPE`` in ``args``
    replaced by the pipe's writing end. ``lines`` holds what was received and not
    yet read (None once the process closed the pipe); ``seen`` what was read.
    """

    line_timeout_s = 120.0  # a guard against a hung process, not a timing check

    def __init__(
        self, context: ForkServerContext, target: Callable[..., None], args: tuple[Any, ...]
    ) -> None:
        reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=target, args=tuple(writer if arg is PIPE else arg for arg in args)
        )
        self.process.start()
        writer.close()
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(reader,), daemon=True).start()

    def _read(self, reader: Connection) -> None:
        try:
            while True:
                self.lines.put(reader.recv_bytes().decode())
        except (EOFError, OSError):
            self.lines.put(None)

    def drain(self) -> None:
        """Read to the end of the run, each line into ``seen``; ``queue.Empty`` if the
        process goes silent for ``line_timeout_s``."""
        while (line := self.lines.get(timeout=self.line_timeout_s)) is not None:
            self.seen.append(line)

    def sigkill(self) -> None:
        """Kill the process outright; what it said before dying still counts."""
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join()
        assert self.process.exitcode == -signal.SIGKILL
        self.drain()
