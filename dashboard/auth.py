"""Owners and their credentials: argon2 passwords, TOTP second factor, failed-login lockout."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from dashboard.errors import (
    InvalidOwnerInputError,
    LoginLockedError,
    LoginRefusedError,
    OwnerExistsError,
)
from dashboard.models import LoginFailures, Owner
from device.store.db import write_session, writer

log = structlog.get_logger()

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
TOTP_ISSUER = "custobot"
_hasher = PasswordHasher()
# Verified against when the owner does not exist, so timing does not reveal names.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


@dataclass(frozen=True, slots=True)
class NewOwner:
    """What ``owner add`` shows once: the TOTP provisioning URI (it contains the seed)."""

    owner_id: int
    name: str
    provisioning_uri: str


@dataclass(frozen=True, slots=True)
class AuthenticatedOwner:
    """Who is logged in; what the session cookie carries besides the CSRF token."""

    owner_id: int
    name: str
    session_epoch: int


def _validate_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise InvalidOwnerInputError("name", "use 1-64 letters, digits, '_', '.', '-'")


def add_owner(engine: Engine, name: str, password: str, *, now: int | None = None) -> NewOwner:
    """Create an owner with a fresh TOTP seed; the seed leaves only via the returned URI."""
    _validate_name(name)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidOwnerInputError(
            "password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )
    secret = pyotp.random_base32()
    owner = Owner(
        name=name,
        password_hash=_hasher.hash(password),
        totp_secret=secret,
        created_at=int(time.time()) if now is None else now,
    )
    try:
        with write_session(engine) as session:
            if session.exec(select(Owner).where(Owner.name == name)).first() is not None:
                raise OwnerExistsError(name)
            session.add(owner)
            session.flush()
            assert owner.id is not None
            owner_id = owner.id
    except IntegrityError:
        raise OwnerExistsError(name) from None
    log.info("owner_added", owner=name)
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)
    return NewOwner(owner_id=owner_id, name=name, provisioning_uri=uri)


def verify_login(
    engine: Engine, name: str, password: str, code: str, *, now: float | None = None
) -> AuthenticatedOwner:
    """Check password and TOTP code (each code usable once); raise ``LoginRefusedError``.

    The slow argon2 check runs outside any transaction (it must not hold the write
    lock the agent needs for a sale); the code is then taken by one conditional
    UPDATE, so of parallel logins with the same code exactly one gets a session.
    """
    at = time.time() if now is None else now
    with Session(engine) as session:
        owner = session.exec(select(Owner).where(Owner.name == name)).first()
    if owner is None:
        _password_ok(_DUMMY_HASH, password)
        raise LoginRefusedError()
    if not _password_ok(owner.password_hash, password):
        raise LoginRefusedError()
    step = _totp_step(owner.totp_secret, code, at)
    if step is None or step <= owner.totp_last_step:
        raise LoginRefusedError()
    changes: dict[str, object] = {"totp_last_step": step}
    if _hasher.check_needs_rehash(owner.password_hash):
        changes["password_hash"] = _hasher.hash(password)
    table = Owner.__table__  # type: ignore[attr-defined]
    with writer(engine).begin() as connection:
        taken = connection.execute(
            sa.update(table)
            .where(table.c.id == owner.id, table.c.totp_last_step < step)
            .values(**changes)
            .returning(table.c.id, table.c.name, table.c.session_epoch)
        ).first()
    if taken is None:  # another login took this code (or a later one) first
        raise LoginRefusedError()
    return AuthenticatedOwner(int(taken.id), str(taken.name), int(taken.session_epoch))


def _password_ok(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, at: float) -> int | None:
    """The time step (±1 for clock drift) whose code matches, or None."""
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at)
    for step in (current - 1, current, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return int(step)
    return None


def current_owner(engine: Engine, owner_id: int, epoch: int) -> AuthenticatedOwner | None:
    """The owner a session names, if it still exists and the session was not logged out."""
    with Session(engine) as session:
        owner = session.get(Owner, owner_id)
        if owner is None or owner.session_epoch != epoch:
            return None
        return AuthenticatedOwner(owner_id, owner.name, owner.session_epoch)


def end_sessions(engine: Engine, owner_id: int) -> None:
    """Log the owner out everywhere: cookies signed before this stop working."""
    table = Owner.__table__  # type: ignore[attr-defined]
    with writer(engine).begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.id == owner_id)
            .values(session_epoch=table.c.session_epoch + 1)
        )


class LoginThrottle:
    """Bounds the password checks per key (an owner name, a client address, a device).

    ``reserve`` counts an attempt *before* its password is checked, in one
    ``BEGIN IMMEDIATE`` transaction: parallel attempts queue on the write lock, so
    at most ``max_failures`` checks pass per key before the key is locked for
    ``lockout_s``, however many arrive at once. A successful login takes its
    reservation back (``success``). The counts live in ``engine``'s
    ``dashboard_login_failures`` table, so a lockout outlasts a restart; the clock is
    wall time (unix seconds) for the same reason, and a wait is never longer than
    ``lockout_s`` even if the clock was set back.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_failures: int = 5,
        window_s: float = 900.0,
        lockout_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock

    def reserve(self, *keys: str) -> None:
        """Count one attempt against every key, or raise ``LoginLockedError`` (nothing counted)."""
        now = self._clock()
        with write_session(self.engine) as session:
            rows = {
                key: session.get(LoginFailures, key) or LoginFailures(key=key, window_start=now)
                for key in keys
            }
            wait = max((row.locked_until - now for row in rows.values()), default=0.0)
            if wait > 0:
                raise LoginLockedError(int(min(wait, self.lockout_s)) + 1)
            # Windows and lockouts that are over are forgotten: the table stays small.
            session.exec(
                delete(LoginFailures).where(
                    col(LoginFailures.locked_until) <= now,
                    col(LoginFailures.window_start) <= now - self.window_s,
                    col(LoginFailures.key).not_in(keys),
                )
            )
            for key, row in rows.items():
                if now - row.window_start >= self.window_s:
                    row.window_start, row.failures = now, 0
                row.locked_until = 0.0
                row.failures += 1
                if row.failures >= self.max_failures:
                    row.locked_until, row.failures = now + self.lockout_s, 0
                    log.warning("login_locked", key_kind=key.split(":", 1)[0])
                session.add(row)

    def success(self, *keys: str) -> None:
        """The attempt was the owner's: forget the keys' failures and any lock it set."""
        with write_session(self.engine) as session:
            session.exec(delete(LoginFailures).where(col(LoginFailures.key).in_(keys)))
