"""One bounded uvicorn set-up for every HTTP service custobot runs (supplier, dashboard).

Plain uvicorn lets one client hold a connection and a file descriptor for as long
as it likes: no deadline for the request head, none for the body, and its
keep-alive timer restarts on every byte. Here every connection must finish its
request head within ``head_timeout_s`` of opening (or of its previous answer),
and its body within ``body_timeout_s`` of the head, or it is closed (408 for a
late body); at most ``max_connections`` are served at once, others get 503 at
once; heads are capped at ``max_head_bytes`` and bodies at ``max_body_bytes``.
The systemd units raise ``LimitNOFILE`` above ``max_connections``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from socket import socket

import h11
import structlog
import uvicorn
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may hold; the defaults suit a Pi serving a handful of real clients."""

    head_timeout_s: float = 10.0
    """From connect (or the previous answer) until the request head is complete."""
    body_timeout_s: float = 10.0
    """From the end of the head until the body is complete."""
    keep_alive_s: int = 5
    """An idle kept-alive connection is closed after this."""
    max_connections: int = 1000
    """Connections served at once; a request beyond gets 503 at once."""
    max_head_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    """Bodies are read whole before the app runs; larger ones get 413 unread."""
    backlog: int = 2048


Reject = Callable[[int, str], ASGIApp]
"""Builds the answer for a refused request (status, reason): each service keeps its own shape."""


def plain_reject(status: int, message: str) -> ASGIApp:
    """A small JSON error that closes the connection (the default ``Reject``)."""
    body = json.dumps({"detail": message}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


class ReadBodyFirst:
    """ASGI middleware: read the whole body within a deadline and a size cap, then run the app.

    Both services take small bodies, so reading them before the app runs costs
    little and means no handler ever waits on a slow client.
    """

    def __init__(self, app: ASGIApp, limits: ServerLimits, reject: Reject = plain_reject) -> None:
        self.app = app
        self.limits = limits
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limits.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            await self.reject(413, f"body exceeds {cap} bytes")(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                chunks, more, size = [], True, 0
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client left before its body was complete
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > cap:
                        await self.reject(413, f"body exceeds {cap} bytes")(scope, receive, send)
                        return
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            log.debug("http_body_timeout", client=_client(scope), path=scope.get("path", ""))
            await self.reject(408, "request body not received in time")(scope, receive, send)
            return
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimit:
    """Token buckets per client key: ``rate_per_s`` sustained, ``burst`` at once.

    Memory stays bounded: at most ``max_clients`` buckets, the least recently
    seen dropped first (a dropped client starts again with a full bucket).
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0.0 if ``client`` may go on (one token taken), else the seconds until it may."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s
            self._buckets[client] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)


Clock = Callable[[], int]


def wall_clock() -> int:
    """Unix seconds: the clock an app runs on unless a test gives it another."""
    return int(time.time())


def app_clock(request: Request) -> int:
    """The dependency that reads the app's clock (``app.state.clock``)."""
    clock: Clock = request.app.state.clock
    return clock()


def refuse_past_rate(request: Request, limits: tuple[RateLimit, ...], what: str) -> None:
    """429 with ``Retry-After`` for a client past any of ``limits``, before anything is stored."""
    client = request.client.host if request.client else "?"
    for limit in limits:
        wait = limit.take(client)
        if wait > 0:
            raise StarletteHTTPException(
                429,
                f"too many {what} from this address",
                headers={"Retry-After": str(int(wait) + 1)},
            )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


class _HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head.

    The timer runs from the connection (or the end of the previous answer) until
    the head is complete; a client that trickles or says nothing is closed.
    """

    head_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.debug("http_head_timeout", client=self.client[0] if self.client else "?")
        self.transport.close()


def _protocol(limits: ServerLimits) -> type[H11Protocol]:
    return type(
        "HeadDeadlineProtocol", (_HeadDeadlineProtocol,), {"head_timeout_s": limits.head_timeout_s}
    )


def bounded_config(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    limits: ServerLimits | None = None,
    reject: Reject = plain_reject,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
) -> uvicorn.Config:
    """A uvicorn config with every limit above; uvicorn does no logging of its own
    (services log with structlog), no access log and no ``server`` header."""
    limits = limits or ServerLimits()
    return uvicorn.Config(
        ReadBodyFirst(app, limits, reject),
        host=host,
        port=port,
        http=_protocol(limits),
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=limits.keep_alive_s,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=limits.max_head_bytes,
        backlog=limits.backlog,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


@contextmanager
def serve_in_thread(config: uvicorn.Config, sock: socket) -> Iterator[uvicorn.Server]:
    """Run ``config`` on the bound ``sock`` in a background thread until the block ends."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
