"""Payments service: bills keep the late surcharge rule they were issued under, a link from a
surcharge bill to the overdue bill, who cancelled a bill and when; index for bill runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:32:43.727887
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bills", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bills", sa.Column("cancelled_by", sa.String(length=150), nullable=True))
    op.add_column("bills", sa.Column("late_surcharge_percent", sa.Numeric(precision=5, scale=2), nullable=True))
    op.add_column("bills", sa.Column("late_surcharge_after_days", sa.Integer(), server_default="0", nullable=False))
    op.add_column("bills", sa.Column("surcharge_of", sa.UUID(), nullable=True))
    op.create_check_constraint(
        op.f("ck_bills_late_surcharge_percent"),
        "bills",
        "late_surcharge_percent IS NULL OR late_surcharge_percent > 0 AND late_surcharge_percent <= 100",
    )
    op.create_check_constraint(op.f("ck_bills_late_surcharge_after_days"), "bills", "late_surcharge_after_days >= 0")
    op.create_index("ix_bills_account_id_period", "bills", ["account_id", "period"], unique=False)
    op.create_index("ix_bills_surcharge_of", "bills", ["surcharge_of"], unique=False)
    op.create_foreign_key(op.f("fk_bills_surcharge_of_bills"), "bills", "bills", ["surcharge_of"], ["id"])


def downgrade() -> None:
    op.drop_constraint(op.f("fk_bills_surcharge_of_bills"), "bills", type_="foreignkey")
    op.drop_index("ix_bills_surcharge_of", table_name="bills")
    op.drop_index("ix_bills_account_id_period", table_name="bills")
    op.drop_constraint(op.f("ck_bills_late_surcharge_after_days"), "bills", type_="check")
    op.drop_constraint(op.f("ck_bills_late_surcharge_percent"), "bills", type_="check")
    op.drop_column("bills", "surcharge_of")
    op.drop_column("bills", "late_surcharge_after_days")
    op.drop_column("bills", "late_surcharge_percent")
    op.drop_column("bills", "cancelled_by")
    op.drop_column("bills", "cancelled_at")
