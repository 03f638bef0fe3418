"""Building permits: applications ข.1 (drafts and submitted, beside the kernel's case), extensions
of the decision time, attachments, and the LAO's settings (rules, fee table, time limits).

Needs the core tables ``cases`` (0008) and ``stored_files`` (0009).

Revision ID: permits_0001
Revises:
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "permits_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "permits_applications",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="draft", nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("citizen_id", sa.UUID(), nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("answers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=True),
        sa.Column("tracking_number", sa.String(length=40), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("complete_on", sa.Date(), nullable=True),
        sa.Column("decision_due_on", sa.Date(), nullable=True),
        sa.Column("inspection_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inspection_place_th", sa.String(length=300), nullable=True),
        sa.Column("inspection_passed", sa.Boolean(), nullable=True),
        sa.Column("inspection_note", sa.Text(), nullable=True),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fee_lines", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("fee_total", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("bill_id", sa.UUID(), nullable=True),
        sa.Column("bill_reference", sa.String(length=15), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt_number", sa.String(length=30), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("permit_number", sa.String(length=40), nullable=True),
        sa.Column("permit_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("document_key", sa.String(length=200), nullable=True),
        sa.Column("renewals", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(status = 'submitted') = (case_id IS NOT NULL)", name=op.f("ck_permits_applications_case_when_submitted")
        ),
        sa.CheckConstraint("channel IN ('online', 'counter')", name=op.f("ck_permits_applications_channel")),
        sa.CheckConstraint("status IN ('draft', 'submitted')", name=op.f("ck_permits_applications_status")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_permits_applications_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permits_applications")),
    )
    op.create_index("ix_permits_applications_citizen_id", "permits_applications", ["citizen_id"], unique=False)
    op.create_index("uq_permits_applications_case_id", "permits_applications", ["case_id"], unique=True)
    op.create_index("uq_permits_applications_bill_id", "permits_applications", ["bill_id"], unique=True)

    op.create_table(
        "permits_extensions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("application_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason_th", sa.Text(), nullable=False),
        sa.Column("previous_due_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=150), nullable=False),
        sa.CheckConstraint("days >= 1", name=op.f("ck_permits_extensions_days")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["permits_applications.id"],
            name=op.f("fk_permits_extensions_application_id_permits_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permits_extensions")),
        sa.UniqueConstraint("application_id", "seq", name=op.f("uq_permits_extensions_application_id_seq")),
    )

    op.create_table(
        "permits_files",
        sa.Column("file_id", sa.UUID(), nullable=False),
        sa.Column("application_id", sa.UUID(), nullable=False),
        sa.Column("document_code", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["permits_applications.id"],
            name=op.f("fk_permits_files_application_id_permits_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["stored_files.id"], name=op.f("fk_permits_files_file_id_stored_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_permits_files")),
    )
    op.create_index("ix_permits_files_application_id", "permits_files", ["application_id"], unique=False)

    op.create_table(
        "permits_settings",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fees", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("deadlines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("default_area_type", sa.String(length=40), nullable=False),
        sa.Column("issue_before_payment", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("validity_days", sa.Integer(), server_default="365", nullable=False),
        sa.Column("fee_due_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column("thai_digits", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("fee_due_days BETWEEN 1 AND 365", name=op.f("ck_permits_settings_fee_due_days")),
        sa.CheckConstraint("id = 1", name=op.f("ck_permits_settings_single_row")),
        sa.CheckConstraint("validity_days BETWEEN 1 AND 3650", name=op.f("ck_permits_settings_validity_days")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permits_settings")),
    )


def downgrade() -> None:
    op.drop_table("permits_settings")
    op.drop_table("permits_files")
    op.drop_table("permits_extensions")
    op.drop_table("permits_applications")
