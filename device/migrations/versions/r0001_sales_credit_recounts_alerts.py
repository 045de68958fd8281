"""Sales, the customer credit ledger, stock recounts and alerts.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity_valid"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_open", ["cleared_at", "kind", "slot_id"], unique=False)

    op.create_table(
        "sale",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("payment", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint("payment IN ('coin', 'cashless')", name="payment_valid"),
        sa.CheckConstraint("state IN ('pending', 'completed', 'refunded')", name="state_valid"),
        sa.CheckConstraint("price >= 0", name="price_nonnegative"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sale", schema=None) as batch_op:
        batch_op.create_index("ix_sale_created", ["created_at"], unique=False)
        batch_op.create_index("ix_sale_slot_created", ["slot_id", "created_at"], unique=False)
        batch_op.create_index("ix_sale_state", ["state"], unique=False)

    op.create_table(
        "stock_recount",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("source IN ('sensor', 'restock', 'operator')", name="source_valid"),
        sa.CheckConstraint("count >= 0", name="count_nonnegative"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stock_recount", schema=None) as batch_op:
        batch_op.create_index("ix_stock_recount_slot_at", ["slot_id", "at"], unique=False)

    op.create_table(
        "credit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('deposit', 'charge', 'refund', 'payout')", name="kind_valid"),
        sa.CheckConstraint("method IN ('coin', 'cashless')", name="method_valid"),
        sa.CheckConstraint("balance >= 0", name="balance_nonnegative"),
        sa.ForeignKeyConstraint(
            ["sale_id"],
            ["sale.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sale_id", "kind", name="uq_credit_entry_sale_kind"),
    )


def downgrade() -> None:
    op.drop_table("credit_entry")
    with op.batch_alter_table("stock_recount", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_recount_slot_at")

    op.drop_table("stock_recount")
    with op.batch_alter_table("sale", schema=None) as batch_op:
        batch_op.drop_index("ix_sale_state")
        batch_op.drop_index("ix_sale_slot_created")
        batch_op.drop_index("ix_sale_created")

    op.drop_table("sale")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_open")

    op.drop_table("alert")
