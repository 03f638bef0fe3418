"""Shared schema: the operator's billing (plan prices, subscriptions and their phases, invoices and
their lines, the gap-free invoice counter); usage events get ``recorded_at`` (a late event after its
period's finalisation is billed in the next period), ``subject`` (unique-count meters) and an index
for aggregating one tenant's period.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:13:29.706874
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("series", sa.String(length=10), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series", "fiscal_year", name=op.f("pk_invoice_counters")),
        schema="platform",
    )
    op.create_table(
        "plan_prices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("fixed_fee", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("fixed_interval", sa.String(length=10), nullable=False),
        sa.Column("charges", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("fixed_interval IN ('monthly', 'yearly')", name=op.f("ck_plan_prices_fixed_interval")),
        sa.CheckConstraint("fixed_fee >= 0", name=op.f("ck_plan_prices_fixed_fee")),
        sa.ForeignKeyConstraint(["plan_code"], ["platform.plans.code"], name=op.f("fk_plan_prices_plan_code_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_prices")),
        sa.UniqueConstraint("plan_code", "effective_from", name=op.f("uq_plan_prices_plan_code_effective_from")),
        schema="platform",
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("billing_cycle", sa.String(length=10), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("trial_ends_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("billing_cycle IN ('monthly', 'yearly')", name=op.f("ck_subscriptions_billing_cycle")),
        sa.CheckConstraint("ends_on IS NULL OR ends_on > starts_on", name=op.f("ck_subscriptions_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["platform.tenants.id"], name=op.f("fk_subscriptions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        schema="platform",
    )
    op.create_index(
        "uq_subscriptions_open_tenant",
        "subscriptions",
        ["tenant_id"],
        unique=True,
        schema="platform",
        postgresql_where=sa.text("ends_on IS NULL"),
    )
    op.create_table(
        "operator_invoices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), server_default="invoice", nullable=False),
        sa.Column("credit_of_id", sa.BigInteger(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="draft", nullable=False),
        sa.Column("number", sa.String(length=30), nullable=True),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("vat", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_reference", sa.Text(), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(number IS NULL) = (status = 'draft')", name=op.f("ck_operator_invoices_numbered_when_final")
        ),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f("ck_operator_invoices_kind")),
        sa.CheckConstraint(
            "status IN ('draft', 'finalised', 'paid', 'void')", name=op.f("ck_operator_invoices_status")
        ),
        sa.ForeignKeyConstraint(
            ["credit_of_id"],
            ["platform.operator_invoices.id"],
            name=op.f("fk_operator_invoices_credit_of_id_operator_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["platform.subscriptions.id"],
            name=op.f("fk_operator_invoices_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["platform.tenants.id"],
            name=op.f("fk_operator_invoices_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_operator_invoices_number")),
        schema="platform",
    )
    op.create_index(
        "ix_operator_invoices_tenant_id", "operator_invoices", ["tenant_id"], unique=False, schema="platform"
    )
    op.create_index(
        "uq_operator_invoices_period",
        "operator_invoices",
        ["subscription_id", "period_start"],
        unique=True,
        schema="platform",
        postgresql_where=sa.text("kind = 'invoice'"),
    )
    op.create_table(
        "subscription_phases",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["platform.plans.code"], name=op.f("fk_subscription_phases_plan_code_plans")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["platform.subscriptions.id"],
            name=op.f("fk_subscription_phases_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_phases")),
        sa.UniqueConstraint(
            "subscription_id", "starts_on", name=op.f("uq_subscription_phases_subscription_id_starts_on")
        ),
        schema="platform",
    )
    op.create_table(
        "operator_invoice_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=True),
        sa.Column("meter", sa.String(length=80), nullable=True),
        sa.Column("description_th", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("billable", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("vat", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["platform.operator_invoices.id"],
            name=op.f("fk_operator_invoice_lines_invoice_id_operator_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_invoice_lines")),
        sa.UniqueConstraint("invoice_id", "position", name=op.f("uq_operator_invoice_lines_invoice_id_position")),
        schema="platform",
    )
    op.add_column(
        "usage_events",
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        schema="platform",
    )
    op.add_column("usage_events", sa.Column("subject", sa.String(length=200), nullable=True), schema="platform")
    op.create_index(
        "ix_usage_events_tenant_id_occurred_at", "usage_events", ["tenant_id", "occurred_at"], schema="platform"
    )


def downgrade() -> None:
    op.drop_index("ix_usage_events_tenant_id_occurred_at", table_name="usage_events", schema="platform")
    op.drop_column("usage_events", "subject", schema="platform")
    op.drop_column("usage_events", "recorded_at", schema="platform")
    op.drop_table("operator_invoice_lines", schema="platform")
    op.drop_table("subscription_phases", schema="platform")
    op.drop_index(
        "uq_operator_invoices_period",
        table_name="operator_invoices",
        schema="platform",
        postgresql_where=sa.text("kind = 'invoice'"),
    )
    op.drop_index("ix_operator_invoices_tenant_id", table_name="operator_invoices", schema="platform")
    op.drop_table("operator_invoices", schema="platform")
    op.drop_index(
        "uq_subscriptions_open_tenant",
        table_name="subscriptions",
        schema="platform",
        postgresql_where=sa.text("ends_on IS NULL"),
    )
    op.drop_table("subscriptions", schema="platform")
    op.drop_table("plan_prices", schema="platform")
    op.drop_table("invoice_counters", schema="platform")
