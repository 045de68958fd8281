"""Dashboard owners: argon2 password hash, TOTP seed, session epoch.

Revision ID: dash1
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "dash1"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_owner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dashboard_owner", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_owner_name", ["name"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_owner", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_owner_name")
    op.drop_table("dashboard_owner")
