"""Food-premises notification certificates: notifications beside the kernel's cases, their
documents, certificates with their history, the ordinance's fee table and dated waivers, the fee of
each certificate and year (one payments bill each), the hygiene checklist, inspections and their
photos, the LAO's settings of the service.

The first revision of the food history (version table ``alembic_version_food``). Needs the core
tables ``cases`` (0008) and ``stored_files`` (0009).

Revision ID: food_0001
Revises:
Create Date: 2026-12-07 02:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "food_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "food_settings",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("annual_due_month", sa.SmallInteger(), server_default="3", nullable=False),
        sa.Column("annual_due_day", sa.SmallInteger(), server_default="31", nullable=False),
        sa.Column("late_surcharge_percent", sa.Numeric(precision=5, scale=2), server_default="20.00", nullable=False),
        sa.Column("late_surcharge_after_days", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("first_fee_days", sa.SmallInteger(), server_default="15", nullable=False),
        sa.Column("reminder_days", sa.SmallInteger(), server_default="14", nullable=False),
        sa.Column("revisit_days", sa.SmallInteger(), server_default="30", nullable=False),
        sa.Column("publish_register", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint(
            "annual_due_month BETWEEN 1 AND 12 AND annual_due_day BETWEEN 1 AND 31",
            name=op.f("ck_food_settings_due_day"),
        ),
        sa.CheckConstraint("first_fee_days BETWEEN 1 AND 90", name=op.f("ck_food_settings_first_fee_days")),
        sa.CheckConstraint("id = 1", name=op.f("ck_food_settings_single_row")),
        sa.CheckConstraint("late_surcharge_after_days BETWEEN 0 AND 365", name=op.f("ck_food_settings_grace")),
        sa.CheckConstraint(
            "late_surcharge_percent > 0 AND late_surcharge_percent <= 100", name=op.f("ck_food_settings_surcharge")
        ),
        sa.CheckConstraint("reminder_days BETWEEN 1 AND 90", name=op.f("ck_food_settings_reminder_days")),
        sa.CheckConstraint("revisit_days BETWEEN 1 AND 365", name=op.f("ck_food_settings_revisit_days")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_settings")),
    )
    op.create_table(
        "food_fee_bands",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("max_area_m2", sa.Numeric(precision=8, scale=2), nullable=False),
        sa.Column("annual_fee", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("annual_fee > 0", name=op.f("ck_food_fee_bands_annual_fee")),
        sa.CheckConstraint("max_area_m2 > 0 AND max_area_m2 <= 200", name=op.f("ck_food_fee_bands_max_area")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_fee_bands")),
    )
    op.create_index("uq_food_fee_bands_max_area_m2", "food_fee_bands", ["max_area_m2"], unique=True)
    op.create_table(
        "food_fee_waivers",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("note_th", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_food_fee_waivers_period")),
        sa.CheckConstraint("percent > 0 AND percent <= 100", name=op.f("ck_food_fee_waivers_percent")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_fee_waivers")),
    )
    op.create_table(
        "food_notifications",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("notifier", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("establishment", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("premises_kind", sa.String(length=10), nullable=False),
        sa.Column("area_m2", sa.Numeric(precision=8, scale=2), nullable=False),
        sa.Column("certificate_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint("premises_kind IN ('sale', 'storage')", name=op.f("ck_food_notifications_premises_kind")),
        sa.CheckConstraint("area_m2 > 0 AND area_m2 <= 200", name=op.f("ck_food_notifications_area")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_food_notifications_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_notifications")),
    )
    op.create_index("uq_food_notifications_case_id", "food_notifications", ["case_id"], unique=True)
    op.create_table(
        "food_notification_files",
        sa.Column("file_id", sa.UUID(), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("document_code", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["food_notifications.id"],
            name=op.f("fk_food_notification_files_notification_id_food_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_food_notification_files")),
    )
    op.create_index(
        "ix_food_notification_files_notification_id", "food_notification_files", ["notification_id"], unique=False
    )
    op.create_table(
        "food_certificates",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="active", nullable=False),
        sa.Column("holder_kind", sa.String(length=10), nullable=False),
        sa.Column("holder_name", sa.Text(), nullable=False),
        sa.Column("holder_national_id", sa.String(length=13), nullable=False),
        sa.Column("holder_phone", sa.String(length=40), nullable=False),
        sa.Column("holder_email", sa.String(length=254), nullable=True),
        sa.Column("holder_address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payer_id", sa.UUID(), nullable=False),
        sa.Column("premises_name", sa.Text(), nullable=False),
        sa.Column("premises_kind", sa.String(length=10), nullable=False),
        sa.Column("area_m2", sa.Numeric(precision=8, scale=2), nullable=False),
        sa.Column("premises_address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("premises_address_th", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("opening_hours", sa.Text(), nullable=True),
        sa.Column("conditions_th", sa.Text(), nullable=True),
        sa.Column("annual_fee", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("next_visit_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("(status = 'active') = (ended_at IS NULL)", name=op.f("ck_food_certificates_ended")),
        sa.CheckConstraint("holder_kind IN ('person', 'juristic')", name=op.f("ck_food_certificates_holder_kind")),
        sa.CheckConstraint("holder_national_id ~ '^[0-9]{13}$'", name=op.f("ck_food_certificates_holder_national_id")),
        sa.CheckConstraint("premises_kind IN ('sale', 'storage')", name=op.f("ck_food_certificates_premises_kind")),
        sa.CheckConstraint("status IN ('active', 'cancelled', 'revoked')", name=op.f("ck_food_certificates_status")),
        sa.CheckConstraint("area_m2 > 0 AND area_m2 <= 200", name=op.f("ck_food_certificates_area")),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["food_notifications.id"],
            name=op.f("fk_food_certificates_notification_id_food_notifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_certificates")),
    )
    op.create_index("ix_food_certificates_status_id", "food_certificates", ["status", "id"], unique=False)
    op.create_index("uq_food_certificates_notification_id", "food_certificates", ["notification_id"], unique=True)
    op.create_index("uq_food_certificates_number", "food_certificates", ["number"], unique=True)
    op.create_table(
        "food_certificate_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("certificate_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "kind IN ('issued', 'transferred', 'changed', 'cancelled', 'revoked')",
            name=op.f("ck_food_certificate_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["food_certificates.id"],
            name=op.f("fk_food_certificate_events_certificate_id_food_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_certificate_events")),
    )
    op.create_index(
        "uq_food_certificate_events_certificate_id_seq",
        "food_certificate_events",
        ["certificate_id", "seq"],
        unique=True,
    )
    op.create_table(
        "food_fee_bills",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("certificate_id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("base_fee", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("waived_percent", sa.Numeric(precision=5, scale=2), server_default="0", nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("bill_id", sa.UUID(), nullable=True),
        sa.Column("bill_reference", sa.String(length=15), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(status = 'waived') = (bill_id IS NULL)", name=op.f("ck_food_fee_bills_waived_has_no_bill")
        ),
        sa.CheckConstraint("kind IN ('first', 'annual')", name=op.f("ck_food_fee_bills_kind")),
        sa.CheckConstraint("status IN ('open', 'paid', 'waived', 'cancelled')", name=op.f("ck_food_fee_bills_status")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["food_certificates.id"],
            name=op.f("fk_food_fee_bills_certificate_id_food_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_fee_bills")),
    )
    op.create_index(
        "ix_food_fee_bills_open_due",
        "food_fee_bills",
        ["due_date"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("uq_food_fee_bills_bill_id", "food_fee_bills", ["bill_id"], unique=True)
    op.create_index("uq_food_fee_bills_certificate_id_year", "food_fee_bills", ["certificate_id", "year"], unique=True)
    op.create_table(
        "food_checklist_items",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("title_th", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{0,39}$'", name=op.f("ck_food_checklist_items_code")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_checklist_items")),
    )
    op.create_index("uq_food_checklist_items_code", "food_checklist_items", ["code"], unique=True)
    op.create_table(
        "food_inspections",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("certificate_id", sa.UUID(), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("inspector", sa.String(length=150), nullable=False),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note_th", sa.Text(), nullable=True),
        sa.Column("repeat_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(result = 'failed') = (repeat_on IS NOT NULL)", name=op.f("ck_food_inspections_repeat")),
        sa.CheckConstraint("result IN ('passed', 'failed')", name=op.f("ck_food_inspections_result")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["food_certificates.id"],
            name=op.f("fk_food_inspections_certificate_id_food_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_food_inspections")),
    )
    op.create_index(
        "ix_food_inspections_certificate_id_visited_on",
        "food_inspections",
        ["certificate_id", "visited_on"],
        unique=False,
    )
    op.create_table(
        "food_inspection_photos",
        sa.Column("file_id", sa.UUID(), nullable=False),
        sa.Column("inspection_id", sa.UUID(), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["food_inspections.id"],
            name=op.f("fk_food_inspection_photos_inspection_id_food_inspections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_food_inspection_photos")),
    )
    op.create_index(
        "ix_food_inspection_photos_inspection_id", "food_inspection_photos", ["inspection_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_food_inspection_photos_inspection_id", table_name="food_inspection_photos")
    op.drop_table("food_inspection_photos")
    op.drop_index("ix_food_inspections_certificate_id_visited_on", table_name="food_inspections")
    op.drop_table("food_inspections")
    op.drop_index("uq_food_checklist_items_code", table_name="food_checklist_items")
    op.drop_table("food_checklist_items")
    op.drop_index(
        "ix_food_fee_bills_open_due", table_name="food_fee_bills", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_index("uq_food_fee_bills_bill_id", table_name="food_fee_bills")
    op.drop_index("uq_food_fee_bills_certificate_id_year", table_name="food_fee_bills")
    op.drop_table("food_fee_bills")
    op.drop_index("uq_food_certificate_events_certificate_id_seq", table_name="food_certificate_events")
    op.drop_table("food_certificate_events")
    op.drop_index("ix_food_certificates_status_id", table_name="food_certificates")
    op.drop_index("uq_food_certificates_notification_id", table_name="food_certificates")
    op.drop_index("uq_food_certificates_number", table_name="food_certificates")
    op.drop_table("food_certificates")
    op.drop_index("ix_food_notification_files_notification_id", table_name="food_notification_files")
    op.drop_table("food_notification_files")
    op.drop_index("uq_food_notifications_case_id", table_name="food_notifications")
    op.drop_table("food_notifications")
    op.drop_table("food_fee_waivers")
    op.drop_index("uq_food_fee_bands_max_area_m2", table_name="food_fee_bands")
    op.drop_table("food_fee_bands")
    op.drop_table("food_settings")
