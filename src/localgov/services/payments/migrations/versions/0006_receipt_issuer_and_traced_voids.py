"""Payments service: the receiving officer (name, position) in the settings and on each receipt;
exception kinds for a voided bank-paid receipt and a payment dated before its bill.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KINDS = "kind IN ('unmatched', 'short', 'over', 'duplicate', 'bill_not_open', 'biller_mismatch')"
_NEW_KINDS = (
    "kind IN ('unmatched', 'short', 'over', 'duplicate', 'bill_not_open', 'biller_mismatch', "
    "'voided_receipt', 'paid_before_issue')"
)


def upgrade() -> None:
    op.add_column("payment_settings", sa.Column("officer_name", sa.Text(), nullable=True))
    op.add_column("payment_settings", sa.Column("officer_position", sa.Text(), nullable=True))
    op.add_column("receipts", sa.Column("officer_name", sa.Text(), nullable=True))
    op.add_column("receipts", sa.Column("officer_position", sa.Text(), nullable=True))
    op.drop_constraint(op.f("ck_payment_exceptions_kind"), "payment_exceptions", type_="check")
    op.create_check_constraint(op.f("ck_payment_exceptions_kind"), "payment_exceptions", _NEW_KINDS)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payment_exceptions_kind"), "payment_exceptions", type_="check")
    op.create_check_constraint(op.f("ck_payment_exceptions_kind"), "payment_exceptions", _OLD_KINDS)
    op.drop_column("receipts", "officer_position")
    op.drop_column("receipts", "officer_name")
    op.drop_column("payment_settings", "officer_position")
    op.drop_column("payment_settings", "officer_name")
