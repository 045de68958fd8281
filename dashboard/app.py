"""The app factory and the uvicorn runner.

``create_app`` wires a MachineView, the owners' database and the session secret
into one FastAPI app: pages, live fragments, approvals, ``/api`` and ``/metrics``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.auth import LoginThrottle
from dashboard.deps import DashboardState, LoginRequired
from dashboard.errors import ServerStartError
from dashboard.formatting import duration, money_label, short_hex, short_id, state_words, utc
from dashboard.routers import api, approvals, auth, metrics, pages
from dashboard.security import DeviceCookies, load_or_create_secret
from dashboard.story import plain_detail, reason_words
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


def default_metrics_token_file(settings: Settings) -> Path:
    return settings.dashboard.metrics_token_file or settings.database.parent / "metrics.token"


def metrics_token(settings: Settings) -> str | None:
    """The bearer token ``/metrics`` requires, or None when it is open (loopback, by default)."""
    if not settings.dashboard.metrics_token_required:
        return None
    path = default_metrics_token_file(settings)
    token = load_or_create_secret(path)
    log.info("metrics_token_required", file=str(path))
    return token


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
    secret = load_or_create_secret(secret_file)
    templates = Jinja2Templates(directory=HERE / "templates")
    decimals = settings.chain.token_decimals
    templates.env.filters["money"] = partial(money_label, decimals=decimals)
    templates.env.filters["utc"] = utc
    templates.env.filters["short"] = short_hex
    templates.env.filters["short_id"] = short_id
    templates.env.filters["duration"] = duration
    templates.env.filters["state"] = state_words
    templates.env.filters["plain"] = partial(plain_detail, decimals=decimals)
    templates.env.filters["reason"] = reason_words
    app.state.dashboard = DashboardState(
        settings=settings,
        view=view,
        engine=engine,
        throttle=throttle or LoginThrottle(engine),
        templates=templates,
        devices=DeviceCookies(secret),
        tls=tls,
        pages=pages.applicable_pages(view),
    )
    app.state.metrics_registry = metrics.build_registry(view)
    app.state.metrics_token = metrics_token(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="strict",
        https_only=tls,
    )
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(StarletteHTTPException, _error_page)
    app.add_exception_handler(RequestValidationError, _bad_request_page)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Last added is outermost: it also sees what the session middleware and routes raise.
    app.add_middleware(SecurityHeaders)
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
    if _is_api(request.url.path):
        return await http_exception_handler(request, exc)
    detail = _NOT_FOUND if exc.detail == "Not Found" else exc.detail
    response = _error_html(request, exc.status_code, detail)
    response.headers.update(exc.headers or {})
    return response


_NOT_FOUND = "There is no such page here. The links above lead to every page of the dashboard."


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/fragments/", "/static/"))


async def _bad_request_page(request: Request, exc: Exception) -> Response:
    """A page asked with a parameter it does not take (``?window=week``): a page saying what
    it does take. The API keeps FastAPI's JSON 422 for programs."""
    assert isinstance(exc, RequestValidationError)
    if _is_api(request.url.path):
        return await request_validation_exception_handler(request, exc)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        given = error.get("input")
        allowed = (error.get("ctx") or {}).get("expected")
        text = f"{where}: {given!r} is not understood" if given is not None else where
        problems.append(f"{text}; expected {allowed}" if allowed else f"{text} ({error['msg']})")
    return _error_html(request, 400, "This page cannot show that: " + "; ".join(problems) + ".")


def _error_html(request: Request, code: int, detail: object) -> Response:
    state: DashboardState = request.app.state.dashboard
    return state.templates.TemplateResponse(
        request,
        "error.html",
        {"code": code, "detail": detail, "nav": pages.navigation(state.pages)},
        status_code=code,
    )


_SECURITY_HEADERS = (
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_ERROR_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Server error</title>"
    b"<h1>Server error</h1><p>Something went wrong on the machine; try again.</p></html>"
)


class SecurityHeaders:
    """Security headers on every answer, a server error included; one log line per request.

    A plain ASGI middleware outside everything else: an exception that reaches it
    becomes a 500 that carries the same headers (Starlette's own 500 is bare text),
    logged by its type only (the message of a database error can hold SQL values).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        answered: list[int] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in _SECURITY_HEADERS}
                ]
                headers += _SECURITY_HEADERS
                if not path.startswith("/static/"):
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            log.error("http_error", method=scope["method"], path=path, error=type(exc).__name__)
            if answered:  # too late for an answer: the connection is closed
                raise
            api = path.startswith(("/api/", "/fragments/", "/metrics"))
            body = b'{"detail":"server error"}' if api else _ERROR_PAGE
            kind = b"application/json" if api else b"text/html; charset=utf-8"
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", kind), (b"content-length", b"%d" % len(body))],
                }
            )
            await send({"type": "http.response.body", "body": body})
        log.debug(
            "http_request",
            method=scope["method"],
            path=path,
            status=answered[0] if answered else 500,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )


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
