"""dashboard login failures: lockouts that survive a restart

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:42:55.899179
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_login_failures",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("dashboard_login_failures")
