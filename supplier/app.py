"""The reference supplier's HTTP service: the ``custobot/2`` protocol over FastAPI.

A request body larger than :data:`~supplier.protocol.MAX_BODY_BYTES` is refused
with 413 before it is parsed; every malformed or out-of-sequence message gets a
4xx :class:`~supplier.protocol.Error` with a reason and changes nothing. Each
client address may open ``rfq_per_minute`` RFQs a minute (429 beyond); the
server itself is bounded by :mod:`device.http_serving` (``serve``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from device.http_serving import (
    Clock,
    RateLimit,
    ReadBodyFirst,
    ServerLimits,
    app_clock,
    bounded_config,
    refuse_past_rate,
    wall_clock,
)
from supplier.desk import Desk
from supplier.errors import (
    DuplicateRfqError,
    NotYourRfqError,
    StaleRoundError,
    SupplierError,
    UnknownRfqError,
)
from supplier.keys import Signer
from supplier.protocol import (
    MAX_BODY_BYTES,
    PROTOCOL_VERSION,
    WELL_KNOWN_PATH,
    Answer,
    Catalog,
    Counter,
    Decline,
    Discovery,
    Error,
    ErrorCode,
    ErrorDetail,
    Offer,
    Rfq,
)
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore

log = structlog.get_logger()


def _error(
    status: int,
    code: ErrorCode,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Error(code=code, message=message[:500], details=details or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


_STATUS_CODES = {
    403: ErrorCode.NOT_YOUR_RFQ,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.REQUEST_TIMEOUT,
    413: ErrorCode.BODY_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
}


def protocol_reject(status: int, message: str) -> ASGIApp:
    """How the bounded server refuses a request before the app runs: a protocol ``Error``."""
    code = _STATUS_CODES.get(status, ErrorCode.INVALID_MESSAGE)
    return _error(status, code, message, headers={"connection": "close"})


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


DeskDep = Annotated[Desk, Depends(_desk)]
NowDep = Annotated[int, Depends(app_clock)]
RfqIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in (
        (400, "malformed JSON"),
        (413, "body too large"),
        (415, "not application/json"),
        (422, "the message does not fit the protocol"),
    )
}

discovery_router = APIRouter(tags=["discovery"])
catalog_router = APIRouter(tags=["catalog"])


def _require_json(request: Request) -> None:
    """Bodies are JSON: anything else is refused with 415 before it is read as a message."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise StarletteHTTPException(415, "send application/json")


def _rate_limit(request: Request) -> None:
    refuse_past_rate(request, getattr(request.app.state, "rfq_rate", ()), "RFQs")


rfq_router = APIRouter(tags=["rfq"], dependencies=[Depends(_require_json)])


@discovery_router.get(
    WELL_KNOWN_PATH,
    response_model=Discovery,
    operation_id="discovery",
    # optional fields left at their defaults are not sent: buyers that predate them
    # refuse unknown fields, so a supplier with best_and_final off stays readable to them
    response_model_exclude_defaults=True,
)
def discovery(desk: DeskDep) -> Discovery:
    """Who this supplier is: name, signing address, chains, tokens, protocol versions."""
    return desk.discovery()


@catalog_router.get("/catalog", response_model=Catalog, operation_id="catalog")
def catalog(desk: DeskDep) -> Catalog:
    """Items by GTIN with unit, list price (base units), minimum quantity and lead time."""
    return desk.catalog()


@rfq_router.post(
    "/rfq",
    response_model=Answer,
    operation_id="rfq",
    responses={
        **_ERRORS,
        409: {"model": Error, "description": "RFQ id used by another request"},
        429: {"model": Error, "description": "too many RFQs from this address; see Retry-After"},
    },
    dependencies=[Depends(_rate_limit)],
)
def rfq(body: Rfq, desk: DeskDep, now: NowDep) -> Offer | Decline:
    """A machine asks for a quote: answered with a signed offer (round 0) or a decline."""
    return desk.open(body, now)


@rfq_router.post(
    "/rfq/{rfq_id}/counter",
    response_model=Answer,
    operation_id="counter",
    responses={
        **_ERRORS,
        403: {"model": Error, "description": "counter_key does not open the RFQ's lock"},
        404: {"model": Error, "description": "no such RFQ"},
        409: {"model": Error, "description": "the counter answers an older round"},
    },
)
def counter(rfq_id: RfqIdPath, body: Counter, desk: DeskDep, now: NowDep) -> Offer | Decline:
    """The buyer's counter to the latest offer: answered with the next offer or a decline."""
    return desk.counter(rfq_id, body, now)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, ErrorCode.INVALID_MESSAGE, "body is not valid JSON")
    details = [
        ErrorDetail(
            loc=".".join(str(part) for part in e.get("loc", ()))[:200],
            msg=str(e.get("msg", ""))[:500],
        )
        for e in errors[:20]
    ]
    return _error(422, ErrorCode.INVALID_MESSAGE, "message does not fit custobot/2", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.INVALID_MESSAGE)
    return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _supplier_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnknownRfqError):
        return _error(404, ErrorCode.NOT_FOUND, str(exc))
    if isinstance(exc, NotYourRfqError):
        return _error(403, ErrorCode.NOT_YOUR_RFQ, str(exc))
    if isinstance(exc, DuplicateRfqError):
        return _error(409, ErrorCode.DUPLICATE_RFQ, str(exc))
    if isinstance(exc, StaleRoundError):
        return _error(409, ErrorCode.STALE_ROUND, str(exc))
    return await _internal_error(request, exc)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug or a broken disk: logged, and the buyer gets a protocol error, not a stack trace."""
    log.error("supplier_internal_error", error=repr(exc), path=request.url.path)
    return _error(500, ErrorCode.INTERNAL, "internal error")


def build_api() -> FastAPI:
    """The protocol's routes, error handlers and limits, without a supplier behind them.

    :func:`create_app` puts a supplier behind it; :mod:`supplier.openapi` documents it.
    """
    app = FastAPI(
        title=f"custobot supplier protocol ({PROTOCOL_VERSION})",
        version=PROTOCOL_VERSION,
        description=(
            "Machine customers ask for quotes; suppliers answer with EIP-712 signed offers. "
            "Money is integer token base units, times are unix seconds."
        ),
        docs_url=None,
        redoc_url=None,
    )
    for router in (discovery_router, catalog_router, rfq_router):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SupplierError, _supplier_error)
    app.add_exception_handler(Exception, _internal_error)
    # The protocol's body cap holds for the app itself (also without the bounded server).
    app.add_middleware(
        ReadBodyFirst,
        limits=ServerLimits(max_body_bytes=MAX_BODY_BYTES),
        reject=protocol_reject,
    )
    return app


def create_app(
    config: SupplierSettings,
    signer: Signer,
    store: SupplierStore | None = None,
    *,
    clock: Clock = wall_clock,
) -> FastAPI:
    """The supplier service; ``store`` defaults to ``config.database``, ``clock`` to wall time."""
    app = build_api()
    app.state.desk = Desk(config, signer, store or SupplierStore(config.database))
    app.state.clock = clock
    app.state.rfq_rate = (
        RateLimit(config.rfq_per_minute / 60, config.rfq_burst),
        RateLimit(config.rfq_per_day / 86400, config.rfq_per_day),
    )
    return app


def server_config(
    app: FastAPI, config: SupplierSettings, limits: ServerLimits | None = None
) -> uvicorn.Config:
    """The bounded uvicorn set-up ``custobot supplier serve`` runs."""
    return bounded_config(app, config.host, config.port, limits=limits, reject=protocol_reject)
