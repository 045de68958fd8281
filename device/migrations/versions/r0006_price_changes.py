"""price changes: every markdown of near-expiry stock and every return to list, with its reason

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "price_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("list_price", sa.BigInteger(), nullable=False),
        sa.Column("floor_price", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.CheckConstraint("price >= 0", name="price_change_price_nonnegative"),
        sa.CheckConstraint("price <= list_price", name="price_change_not_above_list"),
        sa.CheckConstraint("units >= 0", name="price_change_units_nonnegative"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("price_change", schema=None) as batch_op:
        batch_op.create_index("ix_price_change_slot_at", ["slot_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("price_change", schema=None) as batch_op:
        batch_op.drop_index("ix_price_change_slot_at")
    op.drop_table("price_change")
