"""Shared schema: the operator's billing settings (Thai QR biller id, bank notification secrets) and
the bank payment notifications of operator invoices (paid once per bank transaction, or an exception);
the overdue reminders e-mailed (one per invoice and step); usage thresholds per plan and meter and
their crossings (one per tenant, meter and period).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biller_id", sa.String(length=15), nullable=True),
        sa.Column("merchant_name", sa.String(length=25), nullable=True),
        sa.Column("notification_secret", sa.Text(), nullable=True),
        sa.Column("previous_notification_secret", sa.Text(), nullable=True),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_billing_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_settings")),
        schema="platform",
    )
    op.create_table(
        "billing_bank_notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.String(length=100), nullable=False),
        sa.Column("ref1", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("outcome IN ('paid', 'exception')", name=op.f("ck_billing_bank_notifications_outcome")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["platform.operator_invoices.id"],
            name=op.f("fk_billing_bank_notifications_invoice_id_operator_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_bank_notifications")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_billing_bank_notifications_transaction_id")),
        schema="platform",
    )
    op.create_table(
        "billing_reminders",
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("recipients", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["platform.operator_invoices.id"],
            name=op.f("fk_billing_reminders_invoice_id_operator_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invoice_id", "step", name=op.f("pk_billing_reminders")),
        schema="platform",
    )
    op.create_table(
        "usage_thresholds",
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("meter", sa.String(length=80), nullable=False),
        sa.Column("threshold", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.CheckConstraint("threshold > 0", name=op.f("ck_usage_thresholds_positive")),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["platform.plans.code"], name=op.f("fk_usage_thresholds_plan_code_plans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("plan_code", "meter", name=op.f("pk_usage_thresholds")),
        schema="platform",
    )
    op.create_table(
        "usage_threshold_crossings",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("meter", sa.String(length=80), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("threshold", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("crossed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["platform.tenants.id"],
            name=op.f("fk_usage_threshold_crossings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "meter", "period_start", name=op.f("pk_usage_threshold_crossings")),
        schema="platform",
    )
    op.create_index(
        "ix_billing_bank_notifications_open",
        "billing_bank_notifications",
        ["received_at"],
        schema="platform",
        postgresql_where=sa.text("outcome = 'exception'"),
    )


def downgrade() -> None:
    op.drop_index("ix_billing_bank_notifications_open", table_name="billing_bank_notifications", schema="platform")
    op.drop_table("usage_threshold_crossings", schema="platform")
    op.drop_table("usage_thresholds", schema="platform")
    op.drop_table("billing_reminders", schema="platform")
    op.drop_table("billing_bank_notifications", schema="platform")
    op.drop_table("billing_settings", schema="platform")
