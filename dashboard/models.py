"""The dashboard's one table: the owners who may log in (created by ``custobot owner add``).

Its schema comes from the Alembic revision ``device/migrations/versions/rdash1_dashboard_owners.py``.
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
