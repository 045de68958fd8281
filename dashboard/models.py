"""The dashboard's tables: the owners who may log in (created by ``custobot owner add``)
and the failed logins that lock a name or a client out.

Their schema comes from the Alembic revisions in ``device/migrations/versions/``
(``rdash1_dashboard_owners.py``, ``r0004_login_failures.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Owner(SQLModel, table=True):
    """An owner: argon2 password hash, TOTP seed, and what makes old sessions invalid."""

    __tablename__ = "dashboard_owner"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(64), unique=True, index=True)
    password_hash: str = Field(sa_type=sa.String(256))
    totp_secret: str = Field(sa_type=sa.String(64))
    # Last TOTP time step accepted: a code is good once, never replayed.
    totp_last_step: int = Field(default=0, sa_type=sa.BigInteger)
    # Bumped by logout: every cookie issued before it stops working.
    session_epoch: int = Field(default=0)
    created_at: int = Field(sa_type=sa.BigInteger, description="unix seconds")


class LoginFailures(SQLModel, table=True):
    """Login attempts counted against one key (``owner:NAME``, ``ip:ADDRESS`` or
    ``device:NONCE``, a known browser) in its current window; a success takes them back.

    Kept in the database so a restart (or a crash an attacker provokes) does not
    lift a lockout. Times are unix seconds: they must mean the same after a reboot.
    """

    __tablename__ = "dashboard_login_failures"

    key: str = Field(sa_type=sa.String(80), primary_key=True)
    window_start: float = Field(description="unix seconds of the window's first failure")
    failures: int = Field(default=0, description="attempts counted (reserved before the check)")
    locked_until: float = Field(default=0.0, description="unix seconds; 0 when not locked")
