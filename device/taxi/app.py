"""The rider-facing HTTP API: request a ride, get a fair quote, accept it, see the trip and fare.

``POST /quotes`` (pickup, drop-off) answers a stored quote: price, ETA, the breakdown
adding up to the price, the notice that the taxi is an autonomous machine and an
expiry, and where to pay (the ProfitCenter's address, the settlement token). ``POST /trips``
with the quote id, the hash of the rider's transfer of the fare and the rider's
signature for it (``device.taxi.payments.payment_message``) accepts it once the transfer
is confirmed on-chain: the trip is booked and the fare taken once, however often the
accept is sent (201 the first time, 200 after); a rider with an open trip gets 409. A
ride the taxi cannot serve (its battery margin, a fare below the drive's energy and
wear) is refused before quoting with 409 ``cannot_serve``; on an unknown or stale
battery reading with 503 ``cannot_serve``.
``GET /trips/{id}`` (an unguessable id) and ``GET /trips/{id}/payment`` show the trip
and the fare in the settlement token. Every refusal is a 4xx (or 503: ask again)
``RideErrorBody`` with a reason and writes nothing. Served by
:mod:`device.http_serving`'s bounded uvicorn set-up.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
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
from device.money import money
from device.taxi.errors import RideError
from device.taxi.rides import Accepted, RideDesk
from device.taxi.store import TaxiQuote, TripState

log = structlog.get_logger()
MAX_BODY_BYTES = 4096


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Point(StrictModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RideRequest(StrictModel):
    pickup: Point
    dropoff: Point
    rider: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class Accept(StrictModel):
    quote_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    payment_tx: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="the fare's transfer")
    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="EIP-191, by the payer, of payment_message"
    )


class Amount(BaseModel):
    amount: int  # token base units
    display: str  # for people, with the currency


class Line(Amount):
    label: str


class QuoteOut(BaseModel):
    id: str
    price: Amount
    currency: str
    breakdown: list[Line]
    eta_s: int
    distance_m: int
    duration_s: int
    factor_bp: int
    cap_bp: int | None
    emergency: bool
    rules_source: str  # where the cap and emergency came from (the chain, a fallback, a feed)
    notice: str
    created_at: int
    expires_at: int
    pay_to: str  # the ProfitCenter: transfer the price here, in the settlement token
    token_address: str


class Payment(Amount):
    currency: str
    paid_at: int
    payment_tx: str


class TripOut(BaseModel):
    id: str
    quote_id: str
    rider: str
    state: TripState
    accepted_at: int
    payment: Payment


class RideErrorBody(BaseModel):
    error: str
    message: str
    details: list[str] = []


def _desk(request: Request) -> RideDesk:
    desk: RideDesk = request.app.state.desk
    return desk


def _quote_rate(request: Request) -> None:
    limit: RateLimit = request.app.state.quote_rate
    refuse_past_rate(request, (limit,), "quotes")


def _accept_rate(request: Request) -> None:
    """Every accept may cost a chain read: a client inventing payments is slowed down."""
    limit: RateLimit = request.app.state.accept_rate
    refuse_past_rate(request, (limit,), "accepts")


DeskDep = Annotated[RideDesk, Depends(_desk)]
NowDep = Annotated[int, Depends(app_clock)]
QuoteIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
TripIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{22}$")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": RideErrorBody, "description": description}
    for status, description in (
        (400, "malformed JSON"),
        (404, "no such quote or trip"),
        (413, "body too large"),
        (422, "bad coordinates, or outside the service area"),
        (503, "too many live quotes, no fresh battery reading, or no chain now: ask again"),
    )
}

quotes_router = APIRouter(tags=["quotes"])
trips_router = APIRouter(tags=["trips"])
payments_router = APIRouter(tags=["payments"])


def _amount(desk: RideDesk, amount: int) -> dict[str, Any]:
    """An amount as paid: the display has every digit (a price cut to cents asks too little)."""
    return {
        "amount": amount,
        "display": f"{money(amount, desk.decimals, exact=True)} {desk.token}",
    }


def _quote_out(desk: RideDesk, q: TaxiQuote) -> QuoteOut:
    return QuoteOut(
        id=q.id,
        price=Amount(**_amount(desk, q.price)),
        currency=desk.token,
        breakdown=[Line(label=label, **_amount(desk, amount)) for label, amount in q.lines],
        eta_s=q.eta_s,
        distance_m=q.distance_m,
        duration_s=q.duration_s,
        factor_bp=q.factor_bp,
        cap_bp=q.cap_bp,
        emergency=q.emergency,
        rules_source=q.rules_source,
        notice=q.notice,
        created_at=int(q.created_at.timestamp()),
        expires_at=int(q.expires_at.timestamp()),
        pay_to=desk.payments.pay_to,
        token_address=desk.payments.token,
    )


def _trip_out(desk: RideDesk, done: Accepted) -> TripOut:
    return TripOut(
        id=done.trip.id,
        quote_id=done.quote.id,
        rider=done.trip.rider,
        state=done.trip.state,
        accepted_at=int(done.trip.accepted_at.timestamp()),
        payment=_payment(desk, done),
    )


def _payment(desk: RideDesk, done: Accepted) -> Payment:
    return Payment(
        **_amount(desk, done.fare.amount),
        currency=done.fare.token,
        paid_at=int(done.fare.created_at.timestamp()),
        payment_tx=done.fare.payment_tx,
    )


@quotes_router.post(
    "/quotes",
    status_code=201,
    response_model=QuoteOut,
    operation_id="request_ride",
    responses={
        **_ERRORS,
        409: {"model": RideErrorBody, "description": "the taxi cannot serve this ride now"},
        429: {"model": RideErrorBody, "description": "too many quotes"},
    },
    dependencies=[Depends(_quote_rate)],
)
def request_ride(body: RideRequest, desk: DeskDep, now: NowDep) -> QuoteOut:
    """A rider asks for a trip: the price (same for everyone now), ETA, breakdown, expiry."""
    q = desk.quote(
        (body.pickup.lat, body.pickup.lon), (body.dropoff.lat, body.dropoff.lon), now, body.rider
    )
    return _quote_out(desk, q)


@quotes_router.get(
    "/quotes/{quote_id}", response_model=QuoteOut, operation_id="get_quote", responses=_ERRORS
)
def get_quote(quote_id: QuoteIdPath, desk: DeskDep) -> QuoteOut:
    """A stored quote, as it was given."""
    return _quote_out(desk, desk.get_quote(quote_id))


@trips_router.post(
    "/trips",
    status_code=201,
    response_model=TripOut,
    operation_id="accept_quote",
    responses={
        **_ERRORS,
        200: {"model": TripOut, "description": "already accepted: the same trip, charged once"},
        402: {"model": RideErrorBody, "description": "the payment is not a confirmed transfer"},
        409: {"model": RideErrorBody, "description": "a trip is open, or the payment is used"},
        410: {"model": RideErrorBody, "description": "the quote expired"},
        429: {"model": RideErrorBody, "description": "too many accepts"},
    },
    dependencies=[Depends(_accept_rate)],
)
def accept_quote(body: Accept, desk: DeskDep, now: NowDep) -> JSONResponse:
    """Accept a paid quote: the trip is booked and its fare taken once (a replay answers 200)."""
    done = desk.accept(body.quote_id, body.payment_tx, body.signature, now)
    return JSONResponse(
        _trip_out(desk, done).model_dump(mode="json"), status_code=201 if done.created else 200
    )


@trips_router.get(
    "/trips/{trip_id}", response_model=TripOut, operation_id="get_trip", responses=_ERRORS
)
def get_trip(trip_id: TripIdPath, desk: DeskDep) -> TripOut:
    return _trip_out(desk, desk.trip(trip_id))


@payments_router.get(
    "/trips/{trip_id}/payment",
    response_model=Payment,
    operation_id="get_payment",
    responses=_ERRORS,
)
def get_payment(trip_id: TripIdPath, desk: DeskDep) -> Payment:
    """The fare taken for the trip, in the settlement token's base units."""
    return _payment(desk, desk.trip(trip_id))


def _error(
    status: int, code: str, message: str, details: list[str] | None = None, **kw: Any
) -> JSONResponse:
    body = RideErrorBody(error=code, message=message[:500], details=details or [])
    return JSONResponse(body.model_dump(), status_code=status, **kw)


def rider_reject(status: int, message: str) -> ASGIApp:
    """How the bounded server refuses a request before the app runs, in the API's error shape."""
    return _error(status, "refused", message, headers={"connection": "close"})


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, "invalid_json", "body is not valid JSON")
    details = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"[:300]
        for e in errors[:20]
    ]
    return _error(422, "invalid_request", "the request does not fit the API", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, "refused", str(exc.detail), headers=exc.headers)


async def _ride_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RideError)
    headers = {"retry-after": "30"} if exc.status == 503 else None
    return _error(exc.status, exc.code, str(exc), headers=headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("taxi_api_internal_error", error=repr(exc), path=request.url.path)
    return _error(500, "internal", "internal error")


def create_app(
    desk: RideDesk,
    *,
    clock: Clock = wall_clock,
    quotes_per_minute: int = 60,
    quote_burst: int = 20,
    accepts_per_minute: int = 60,
    accept_burst: int = 60,
) -> FastAPI:
    """The rider API on ``desk``; ``clock`` (unix seconds) defaults to wall time."""
    app = FastAPI(
        title="custobot robotaxi: rides",
        description="Fair quotes from a published tariff; money in token base units.",
        docs_url=None,
        redoc_url=None,
    )
    for router in (quotes_router, trips_router, payments_router):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RideError, _ride_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(
        ReadBodyFirst, limits=ServerLimits(max_body_bytes=MAX_BODY_BYTES), reject=rider_reject
    )
    app.state.desk = desk
    app.state.clock = clock
    app.state.quote_rate = RateLimit(quotes_per_minute / 60, quote_burst)
    app.state.accept_rate = RateLimit(accepts_per_minute / 60, accept_burst)
    return app


def server_config(
    app: FastAPI, host: str, port: int, limits: ServerLimits | None = None
) -> uvicorn.Config:
    """The bounded uvicorn set-up the rider API runs under."""
    return bounded_config(app, host, port, limits=limits, reject=rider_reject)
