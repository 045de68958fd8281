"""Errors of the taxi's vehicle I/O: one root, leaves that name the source and the problem.

The poller never raises these out of ``poll()``: it records each as a fault on the
snapshot (the source's data is then stale), as the vending poller does for sensors.
"""

from __future__ import annotations

from device.errors import CustobotError


class VehicleError(CustobotError):
    """Root of every error raised by the taxi's vehicle I/O."""

    kind = "vehicle"

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class MalformedFrameError(VehicleError):
    """A CAN frame of a known message that does not decode (size, range)."""

    kind = "malformed"


class StaleDataError(VehicleError):
    """A source has sent nothing (or nothing valid) for longer than its limit."""

    kind = "stale"


class ImplausibleJumpError(VehicleError):
    """A value moved further than physics allows (a counter backwards, SoC leaping)."""

    kind = "implausible"


class NoFixError(VehicleError):
    """The GPS says it has no position fix."""

    kind = "no-fix"


class GarbageNmeaError(VehicleError):
    """A line on the GPS port that is not a valid NMEA sentence (checksum, syntax)."""

    kind = "garbage"


class FareError(CustobotError):
    """A tariff or trip the fare rules refuse (negative distance, cap below 1, ...)."""


class RideError(CustobotError):
    """A rider's request the taxi refuses; nothing is stored or charged."""

    status = 422
    code = "invalid_request"


class OutsideServiceAreaError(RideError):
    """A pickup or drop-off outside the zones the taxi serves."""

    code = "outside_service_area"


class UnknownQuoteError(RideError):
    """No quote (or trip) by that id."""

    status = 404
    code = "not_found"


class QuoteExpiredError(RideError):
    """The quote's time is up: the rider asks again for a price of now."""

    status = 410
    code = "quote_expired"


class PaymentError(RideError):
    """The payment named in an accept is not (yet) a confirmed transfer of the fare by the signer."""

    status = 402
    code = "payment_not_verified"


class TripOpenError(RideError):
    """The rider already has a trip that is booked or under way."""

    status = 409
    code = "trip_open"


class PaymentUsedError(RideError):
    """The payment already paid for another quote."""

    status = 409
    code = "payment_used"


class RidesBusyError(RideError):
    """Too many live quotes, or the chain cannot be read to check a payment: ask again later."""

    status = 503
    code = "busy"


class CannotServeError(RideError):
    """The taxi cannot take this ride: its battery margin or the fare's cover of energy and wear."""

    status = 409
    code = "cannot_serve"


class BatteryUnknownError(CannotServeError):
    """No fresh battery reading: the taxi promises no ride on an unknown battery; ask again."""

    status = 503
