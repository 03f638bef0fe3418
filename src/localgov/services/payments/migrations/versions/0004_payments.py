"""Payments service: payers, accounts, tariffs, meter readings, bills, payments, exceptions,
receipts, biller settings.

The first revision of the payments history. Until the histories were split it was revision 0004
of the one tenant history (which also created ``idempotency_keys``, now the core's
``0004_idempotency``); its id is kept so that a schema built then converts by copying its
revision into ``alembic_version_payments``.

Revision ID: 0004
Revises:
Create Date: 2026-11-26 17:23:37.117001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payers",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("tax_id", sa.String(length=13), nullable=True),
        sa.Column("citizen_id", sa.UUID(), nullable=True),
        sa.Column("house_no", sa.String(length=40), nullable=True),
        sa.Column("moo", sa.String(length=10), nullable=True),
        sa.Column("soi", sa.Text(), nullable=True),
        sa.Column("road", sa.Text(), nullable=True),
        sa.Column("subdistrict", sa.Text(), nullable=True),
        sa.Column("district", sa.Text(), nullable=True),
        sa.Column("province", sa.Text(), nullable=True),
        sa.Column("postal_code", sa.String(length=5), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('person', 'juristic')", name=op.f("ck_payers_kind")),
        sa.CheckConstraint("tax_id IS NULL OR tax_id ~ '^[0-9]{13}$'", name=op.f("ck_payers_tax_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payers")),
    )
    op.create_index("ix_payers_citizen_id", "payers", ["citizen_id"], unique=False)
    op.create_index("ix_payers_tax_id", "payers", ["tax_id"], unique=False)
    op.create_table(
        "payment_settings",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("biller_id", sa.String(length=15), nullable=True),
        sa.Column("merchant_name", sa.String(length=25), nullable=True),
        sa.Column("receipt_book_size", sa.Integer(), server_default="100", nullable=False),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("webhook_secret_previous", sa.LargeBinary(), nullable=True),
        sa.Column("webhook_secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "biller_id IS NULL OR biller_id ~ '^[0-9]{15}$'", name=op.f("ck_payment_settings_biller_id")
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_payment_settings_single_row")),
        sa.CheckConstraint("receipt_book_size BETWEEN 1 AND 10000", name=op.f("ck_payment_settings_book_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_settings")),
    )
    op.create_table(
        "tariffs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("fee_type", sa.String(length=20), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("surcharge", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("due_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("fee_type IN ('garbage', 'wastewater', 'fixed')", name=op.f("ck_tariffs_fee_type")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
    )
    op.create_index("uq_tariffs_fee_type_effective_from", "tariffs", ["fee_type", "effective_from"], unique=True)
    op.create_table(
        "fee_accounts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_no", sa.String(length=30), nullable=False),
        sa.Column("payer_id", sa.UUID(), nullable=False),
        sa.Column("fee_type", sa.String(length=20), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=10), server_default="active", nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("fee_type IN ('garbage', 'wastewater', 'fixed')", name=op.f("ck_fee_accounts_fee_type")),
        sa.CheckConstraint("status IN ('active', 'closed')", name=op.f("ck_fee_accounts_status")),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_fee_accounts_payer_id_payers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_accounts")),
    )
    op.create_index("ix_fee_accounts_payer_id", "fee_accounts", ["payer_id"], unique=False)
    op.create_index("uq_fee_accounts_account_no", "fee_accounts", ["account_no"], unique=True)
    op.create_table(
        "bills",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("reference", sa.String(length=15), nullable=False),
        sa.Column("verification_code", sa.String(length=8), nullable=False),
        sa.Column("payer_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('open', 'paid', 'cancelled')", name=op.f("ck_bills_status")),
        sa.CheckConstraint("total > 0", name=op.f("ck_bills_total_positive")),
        sa.ForeignKeyConstraint(["account_id"], ["fee_accounts.id"], name=op.f("fk_bills_account_id_fee_accounts")),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_bills_payer_id_payers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
    )
    op.create_index("ix_bills_payer_id", "bills", ["payer_id"], unique=False)
    op.create_index("ix_bills_status_due_date", "bills", ["status", "due_date"], unique=False)
    op.create_index("uq_bills_reference", "bills", ["reference"], unique=True)
    op.create_index("uq_bills_source_key", "bills", ["source_key"], unique=True)
    op.create_table(
        "meter_readings",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("usage_m3", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["fee_accounts.id"], name=op.f("fk_meter_readings_account_id_fee_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_readings")),
    )
    op.create_index("uq_meter_readings_account_id_period", "meter_readings", ["account_id", "period"], unique=True)
    op.create_table(
        "bill_items",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bill_id", sa.UUID(), nullable=False),
        sa.Column("fee_code", sa.String(length=60), nullable=False),
        sa.Column("description_th", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), server_default="1", nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_bill_items_bill_id_bills"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_items")),
    )
    op.create_index("ix_bill_items_bill_id", "bill_items", ["bill_id"], unique=False)
    op.create_table(
        "payments",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bank_txn_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("bill_id", sa.UUID(), nullable=True),
        sa.Column("biller_id", sa.String(length=15), nullable=False),
        sa.Column("ref1", sa.String(length=20), nullable=False),
        sa.Column("ref2", sa.String(length=20), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('webhook', 'statement')", name=op.f("ck_payments_channel")),
        sa.CheckConstraint("status IN ('matched', 'exception')", name=op.f("ck_payments_status")),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_payments_bill_id_bills")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index("ix_payments_bill_id", "payments", ["bill_id"], unique=False)
    op.create_index("uq_payments_bank_txn_id", "payments", ["bank_txn_id"], unique=True)
    op.create_table(
        "payment_exceptions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.UUID(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('unmatched', 'short', 'over', 'duplicate', 'bill_not_open', 'biller_mismatch')",
            name=op.f("ck_payment_exceptions_kind"),
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_payment_exceptions_status")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_exceptions_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_exceptions")),
    )
    op.create_index("ix_payment_exceptions_status", "payment_exceptions", ["status"], unique=False)
    op.create_table(
        "receipts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("bill_id", sa.UUID(), nullable=False),
        sa.Column("fiscal_year", sa.String(length=4), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("book_no", sa.Integer(), nullable=False),
        sa.Column("receipt_no", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("payer_name", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("amount_text_th", sa.Text(), nullable=False),
        sa.Column("collector", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="issued", nullable=False),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_by", sa.UUID(), nullable=True),
        sa.Column("reprints", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("status IN ('issued', 'void')", name=op.f("ck_receipts_status")),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_receipts_bill_id_bills")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_receipts_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
    )
    op.create_index(
        "uq_receipts_fiscal_year_book_no_receipt_no", "receipts", ["fiscal_year", "book_no", "receipt_no"], unique=True
    )
    op.create_index("uq_receipts_payment_id", "receipts", ["payment_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_receipts_payment_id", table_name="receipts")
    op.drop_index("uq_receipts_fiscal_year_book_no_receipt_no", table_name="receipts")
    op.drop_table("receipts")
    op.drop_index("ix_payment_exceptions_status", table_name="payment_exceptions")
    op.drop_table("payment_exceptions")
    op.drop_index("uq_payments_bank_txn_id", table_name="payments")
    op.drop_index("ix_payments_bill_id", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_bill_items_bill_id", table_name="bill_items")
    op.drop_table("bill_items")
    op.drop_index("uq_meter_readings_account_id_period", table_name="meter_readings")
    op.drop_table("meter_readings")
    op.drop_index("uq_bills_source_key", table_name="bills")
    op.drop_index("uq_bills_reference", table_name="bills")
    op.drop_index("ix_bills_status_due_date", table_name="bills")
    op.drop_index("ix_bills_payer_id", table_name="bills")
    op.drop_table("bills")
    op.drop_index("uq_fee_accounts_account_no", table_name="fee_accounts")
    op.drop_index("ix_fee_accounts_payer_id", table_name="fee_accounts")
    op.drop_table("fee_accounts")
    op.drop_index("uq_tariffs_fee_type_effective_from", table_name="tariffs")
    op.drop_table("tariffs")
    op.drop_table("payment_settings")
    op.drop_index("ix_payers_tax_id", table_name="payers")
    op.drop_index("ix_payers_citizen_id", table_name="payers")
    op.drop_table("payers")
