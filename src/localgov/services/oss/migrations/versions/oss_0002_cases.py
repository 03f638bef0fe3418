"""One Stop Service: requests on the kernel's case engine — each request's own row beside the
kernel's case, its attachments (which required document each file is), comments, and deficiency
records with their items.

Needs the core tables ``cases`` (0008) and ``stored_files`` (0009).

Revision ID: oss_0002
Revises: oss_0001
Create Date: 2026-12-09 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "oss_0002"
down_revision: str | None = "oss_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "oss_cases",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("code_salt", sa.String(length=32), nullable=False),
        sa.Column("opened_by", sa.String(length=150), nullable=False),
        sa.CheckConstraint("channel IN ('online', 'counter')", name=op.f("ck_oss_cases_channel")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_oss_cases_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["service_id"], ["oss_services.id"], name=op.f("fk_oss_cases_service_id_oss_services")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["oss_queue_tickets.id"],
            name=op.f("fk_oss_cases_ticket_id_oss_queue_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_oss_cases")),
    )
    op.create_index("ix_oss_cases_service_id", "oss_cases", ["service_id"], unique=False)

    op.create_table(
        "oss_case_files",
        sa.Column("file_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("document_code", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_oss_case_files_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["stored_files.id"], name=op.f("fk_oss_case_files_file_id_stored_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_oss_case_files")),
    )
    op.create_index("ix_oss_case_files_case_id", "oss_case_files", ["case_id"], unique=False)

    op.create_table(
        "oss_case_comments",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("author_kind", sa.String(length=10), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visible_to_applicant", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("author_kind IN ('staff', 'citizen')", name=op.f("ck_oss_case_comments_author_kind")),
        sa.CheckConstraint(
            "author_kind = 'staff' OR visible_to_applicant", name=op.f("ck_oss_case_comments_citizen_visible")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_oss_case_comments_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_case_comments")),
    )
    op.create_index(
        "ix_oss_case_comments_case_id_created_at", "oss_case_comments", ["case_id", "created_at"], unique=False
    )

    op.create_table(
        "oss_deficiency_records",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("note_th", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("staff_name", sa.Text(), nullable=False),
        sa.Column("applicant_ack_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applicant_ack_method", sa.String(length=20), nullable=True),
        sa.Column("applicant_ack_recorded_by", sa.String(length=150), nullable=True),
        sa.Column("signed_copy_file_id", sa.UUID(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint(
            "applicant_ack_method IS NULL OR applicant_ack_method IN ('online', 'counter_signature')",
            name=op.f("ck_oss_deficiency_records_ack_method"),
        ),
        sa.CheckConstraint(
            "(applicant_ack_at IS NULL) = (applicant_ack_method IS NULL)",
            name=op.f("ck_oss_deficiency_records_ack_complete"),
        ),
        sa.CheckConstraint(
            "(status = 'open') = (resolved_at IS NULL)", name=op.f("ck_oss_deficiency_records_resolved_at")
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_oss_deficiency_records_seq")),
        sa.CheckConstraint(
            "status IN ('open', 'supplied', 'expired', 'closed')", name=op.f("ck_oss_deficiency_records_status")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_oss_deficiency_records_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["signed_copy_file_id"],
            ["stored_files.id"],
            name=op.f("fk_oss_deficiency_records_signed_copy_file_id_stored_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_deficiency_records")),
    )
    op.create_index(
        "ix_oss_deficiency_records_open_deadline_at",
        "oss_deficiency_records",
        ["deadline_at"],
        unique=False,
        postgresql_where=_OPEN,
    )
    op.create_index("uq_oss_deficiency_records_case_id_seq", "oss_deficiency_records", ["case_id", "seq"], unique=True)
    op.create_index(
        "uq_oss_deficiency_records_open_case_id",
        "oss_deficiency_records",
        ["case_id"],
        unique=True,
        postgresql_where=_OPEN,
    )

    op.create_table(
        "oss_deficiency_items",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("document_code", sa.String(length=80), nullable=True),
        sa.Column("label_th", sa.Text(), nullable=False),
        sa.Column("note_th", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind <> 'document' OR document_code IS NOT NULL", name=op.f("ck_oss_deficiency_items_document_code")
        ),
        sa.CheckConstraint("kind IN ('document', 'criterion')", name=op.f("ck_oss_deficiency_items_kind")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_oss_deficiency_items_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["oss_deficiency_records.id"],
            name=op.f("fk_oss_deficiency_items_record_id_oss_deficiency_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_deficiency_items")),
    )
    op.create_index("ix_oss_deficiency_items_case_id", "oss_deficiency_items", ["case_id"], unique=False)
    op.create_index("uq_oss_deficiency_items_record_id_seq", "oss_deficiency_items", ["record_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_table("oss_deficiency_items")
    op.drop_table("oss_deficiency_records")
    op.drop_table("oss_case_comments")
    op.drop_table("oss_case_files")
    op.drop_table("oss_cases")
