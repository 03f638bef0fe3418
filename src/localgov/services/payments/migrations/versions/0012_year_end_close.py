"""Payments service: the year-end close of the debtor register and the bills it carries forward.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "year_end_closes",
        sa.Column("fiscal_year", sa.String(length=4), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_by", sa.String(length=150), nullable=True),
        sa.Column("bills", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("fiscal_year ~ '^25[0-9]{2}$'", name=op.f("ck_year_end_closes_fiscal_year")),
        sa.PrimaryKeyConstraint("fiscal_year", name=op.f("pk_year_end_closes")),
    )
    op.create_table(
        "debtor_carry_forwards",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("fiscal_year", sa.String(length=4), nullable=False),
        sa.Column("bill_id", sa.UUID(), nullable=False),
        sa.Column("payer_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_debtor_carry_forwards_amount")),
        sa.ForeignKeyConstraint(
            ["fiscal_year"],
            ["year_end_closes.fiscal_year"],
            name=op.f("fk_debtor_carry_forwards_fiscal_year_year_end_closes"),
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_debtor_carry_forwards_bill_id_bills")),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_debtor_carry_forwards_payer_id_payers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtor_carry_forwards")),
    )
    op.create_index(
        "uq_debtor_carry_forwards_fiscal_year_bill_id",
        "debtor_carry_forwards",
        ["fiscal_year", "bill_id"],
        unique=True,
    )
    op.create_index("ix_debtor_carry_forwards_payer_id", "debtor_carry_forwards", ["payer_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_debtor_carry_forwards_payer_id", table_name="debtor_carry_forwards")
    op.drop_index("uq_debtor_carry_forwards_fiscal_year_bill_id", table_name="debtor_carry_forwards")
    op.drop_table("debtor_carry_forwards")
    op.drop_table("year_end_closes")
