"""Tenant schema (core): notifications (the LAO's record of the messages sent to people through a
channel, delivered by the outbox) and the index of decided cases (result notices look them up).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("recipient_name", sa.Text(), nullable=True),
        sa.Column("subject_th", sa.Text(), nullable=False),
        sa.Column("body_th", sa.Text(), nullable=False),
        sa.Column("subject_en", sa.Text(), nullable=True),
        sa.Column("body_en", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent')", name=op.f("ck_notifications_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("uq_notifications_key", "notifications", ["key"], unique=True)
    op.create_index("ix_cases_decided", "cases", ["decided_at"], postgresql_where=sa.text("decided_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_cases_decided", table_name="cases")
    op.drop_index("uq_notifications_key", table_name="notifications")
    op.drop_table("notifications")
