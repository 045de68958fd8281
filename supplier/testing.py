"""Run an ASGI app (a supplier, honest or hostile) on 127.0.0.1 in a background thread.

For tests, benchmarks and the simulation: a real uvicorn server on a free port,
with the same bounded set-up as ``custobot supplier serve``, so the buyer talks
real HTTP to it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp

from device import http_serving
from device.http_serving import Reject, ServerLimits, bounded_config
from supplier.app import protocol_reject


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    limits: ServerLimits | None = None,
    reject: Reject = protocol_reject,
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = bounded_config(app, host, port, limits=limits, reject=reject)
    with http_serving.serve_in_thread(config, sock):
        yield f"http://{host}:{port}"
