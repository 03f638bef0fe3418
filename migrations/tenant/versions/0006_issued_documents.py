"""Tenant schema (core): the register of issued documents, for their public verification.

Revision ID: 0006
Revises: 0004_idempotency
Create Date: 2026-12-06 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_documents",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("serial", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("service", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("title_th", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=True),
        sa.Column("holder_masked", sa.String(length=300), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="valid", nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('valid', 'revoked', 'void')", name=op.f("ck_issued_documents_status")),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from",
            name=op.f("ck_issued_documents_validity"),
        ),
        sa.CheckConstraint(
            "(status = 'valid') = (status_changed_at IS NULL)", name=op.f("ck_issued_documents_status_changed_at")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_documents")),
    )
    op.create_index("uq_issued_documents_kind_source_key", "issued_documents", ["kind", "source_key"], unique=True)
    op.create_index("uq_issued_documents_serial", "issued_documents", ["serial"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_issued_documents_serial", table_name="issued_documents")
    op.drop_index("uq_issued_documents_kind_source_key", table_name="issued_documents")
    op.drop_table("issued_documents")
