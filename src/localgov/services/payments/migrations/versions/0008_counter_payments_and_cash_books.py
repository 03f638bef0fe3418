"""Payments service: counter payments (cash, cheque, transfer at the LAO's counter) and the
cashiers' cash books, one per cashier per day.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cash_books",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("cashier_id", sa.UUID(), nullable=False),
        sa.Column("cashier_name", sa.Text(), nullable=False),
        sa.Column("cashier_position", sa.Text(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("opening_float", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counted_cash", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("remitted", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("difference", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_cash_books_status")),
        sa.CheckConstraint("opening_float >= 0", name=op.f("ck_cash_books_opening_float")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_books")),
    )
    op.create_index("uq_cash_books_cashier_id_day", "cash_books", ["cashier_id", "day"], unique=True)
    op.add_column("payments", sa.Column("cash_book_id", sa.UUID(), nullable=True))
    op.add_column("payments", sa.Column("method", sa.String(length=10), nullable=True))
    op.add_column("payments", sa.Column("instrument_ref", sa.String(length=100), nullable=True))
    op.create_foreign_key(
        op.f("fk_payments_cash_book_id_cash_books"), "payments", "cash_books", ["cash_book_id"], ["id"]
    )
    op.create_index("ix_payments_cash_book_id", "payments", ["cash_book_id"], unique=False)
    op.create_check_constraint(
        op.f("ck_payments_method"), "payments", "method IS NULL OR method IN ('cash', 'cheque', 'transfer')"
    )
    op.drop_constraint(op.f("ck_payments_channel"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_channel"), "payments", "channel IN ('webhook', 'statement', 'credit', 'counter')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payments_channel"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_channel"), "payments", "channel IN ('webhook', 'statement', 'credit')")
    op.drop_constraint(op.f("ck_payments_method"), "payments", type_="check")
    op.drop_index("ix_payments_cash_book_id", table_name="payments")
    op.drop_constraint(op.f("fk_payments_cash_book_id_cash_books"), "payments", type_="foreignkey")
    op.drop_column("payments", "instrument_ref")
    op.drop_column("payments", "method")
    op.drop_column("payments", "cash_book_id")
    op.drop_index("uq_cash_books_cashier_id_day", table_name="cash_books")
    op.drop_table("cash_books")
