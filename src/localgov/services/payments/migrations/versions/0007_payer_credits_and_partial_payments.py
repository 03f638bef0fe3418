"""Payments service: what a bill has received (partial payments), payments from a payer's credit,
and the payers' credit ledger (over payments, voided receipts' money, applications, refunds).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bills", sa.Column("amount_paid", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False)
    )
    op.create_check_constraint(op.f("ck_bills_amount_paid"), "bills", "amount_paid >= 0 AND amount_paid <= total")
    op.drop_constraint(op.f("ck_payments_channel"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_channel"), "payments", "channel IN ('webhook', 'statement', 'credit')")
    op.create_table(
        "payer_credits",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("payer_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("bill_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("approved_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payer_credits_amount_not_zero")),
        sa.CheckConstraint(
            "kind IN ('over', 'voided_receipt', 'exception', 'applied', 'refund')", name=op.f("ck_payer_credits_kind")
        ),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_payer_credits_payer_id_payers")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_payer_credits_payment_id_payments")),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_payer_credits_bill_id_bills")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payer_credits")),
    )
    op.create_index("ix_payer_credits_payer_id", "payer_credits", ["payer_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_payer_credits_payer_id", table_name="payer_credits")
    op.drop_table("payer_credits")
    op.drop_constraint(op.f("ck_payments_channel"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_channel"), "payments", "channel IN ('webhook', 'statement')")
    op.drop_constraint(op.f("ck_bills_amount_paid"), "bills", type_="check")
    op.drop_column("bills", "amount_paid")
