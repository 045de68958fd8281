"""The app factory and the uvicorn runner.

``create_app`` wires a MachineView, the owners' database and the session secret
into one FastAPI app: pages, live fragments, approvals, ``/api`` and ``/metrics``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from dashboard.auth import LoginThrottle
from dashboard.deps import DashboardState, LoginRequired
from dashboard.errors import ServerStartError
from dashboard.formatting import money, short_hex, utc
from dashboard.routers import api, approvals, auth, metrics, pages
from dashboard.security import load_or_create_secret
from dashboard.view import MachineView
from device.http_serving import bounded_config
from device.settings import Settings

log = structlog.get_logger()
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "custobot_session"
SESSION_MAX_AGE_S = 12 * 3600
# Every router the app serves, in matching order (pages last: it has the catch-all /{name}).
ROUTERS = (auth.router, api.router, approvals.router, metrics.router, pages.router)
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def default_secret_file(settings: Settings) -> Path:
    """Where the session secret lives when the config names no place: next to the database."""
    return settings.database.parent / "dashboard-session.key"


def create_app(
    settings: Settings,
    view: MachineView,
    *,
    engine: Engine,
    secret_file: Path,
    tls: bool = False,
    throttle: LoginThrottle | None = None,
) -> FastAPI:
    """Build the dashboard. ``engine`` holds the owners table; ``secret_file`` signs sessions.

    ``tls`` marks the session cookie Secure (set it when served over HTTPS).
    """
    app = _routed_app()
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["money"] = partial(money, decimals=settings.chain.token_decimals)
    templates.env.filters["utc"] = utc
    templates.env.filters["short"] = short_hex
    app.state.dashboard = DashboardState(
        settings=settings,
        view=view,
        engine=engine,
        throttle=throttle or LoginThrottle(engine),
        templates=templates,
    )
    app.state.metrics_registry = metrics.build_registry(view)
    app.add_middleware(
        SessionMiddleware,
        secret_key=load_or_create_secret(secret_file),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="strict",
        https_only=tls,
    )
    app.middleware("http")(_headers_and_log)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(StarletteHTTPException, _error_page)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def _routed_app() -> FastAPI:
    app = FastAPI(
        title="custobot dashboard",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    for router in ROUTERS:
        app.include_router(router)
    return app


def openapi_document() -> dict[str, Any]:
    """The document served at /api/openapi.json, without a machine behind it."""
    return _routed_app().openapi()


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)


async def _error_page(request: Request, exc: Exception) -> Response:
    """Pages get a small HTML error page; the API and live fragments keep JSON."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if path.startswith(("/api/", "/fragments/", "/static/")):
        return await http_exception_handler(request, exc)
    state: DashboardState = request.app.state.dashboard
    return state.templates.TemplateResponse(
        request,
        "error.html",
        {"code": exc.status_code, "detail": exc.detail},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _headers_and_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Security headers on every answer; one log line per request (path only, never bodies)."""
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    log.debug(
        "http_request",
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return response


def uvicorn_config(
    app: FastAPI,
    host: str,
    port: int,
    *,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
) -> uvicorn.Config:
    """uvicorn without its own logging set-up or access log: structlog logs requests."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


def serve(
    settings: Settings,
    view: MachineView,
    *,
    engine: Engine,
    secret_file: Path | None = None,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
) -> None:
    """Run the dashboard until interrupted, on ``settings.dashboard`` host:port (127.0.0.1).

    With a certificate and key it serves HTTPS and the session cookie is Secure.
    """
    tls = ssl_certfile is not None and ssl_keyfile is not None
    secret = secret_file if secret_file is not None else default_secret_file(settings)
    app = create_app(settings, view, engine=engine, secret_file=secret, tls=tls)
    host, port = settings.dashboard.host, settings.dashboard.port
    log.info("dashboard_serving", host=host, port=port, tls=tls)
    # The same bounded set-up as the supplier: head/body deadlines, a connection limit.
    config = bounded_config(app, host, port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    uvicorn.Server(config).run()


@dataclass
class RunningServer:
    """A uvicorn server on a background thread (tests, benchmark, the demo)."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start uvicorn on ``host:port`` (0 = any free port) and return once it accepts."""
    server = uvicorn.Server(uvicorn_config(app, host, port))
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServerStartError("dashboard server did not start")
        time.sleep(0.02)
    sock = server.servers[0].sockets[0]
    bound_port = sock.getsockname()[1]
    return RunningServer(server, thread, f"http://{host}:{bound_port}")
