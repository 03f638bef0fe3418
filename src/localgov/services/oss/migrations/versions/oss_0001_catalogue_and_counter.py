"""One Stop Service: the catalogue of services with their manuals and every saved version, the
counter's service points and queue tickets.

The first revision of the oss history (version table ``alembic_version_oss``).

Revision ID: oss_0001
Revises:
Create Date: 2026-12-06 23:36:47.391531
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "oss_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oss_service_points",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("location_th", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("code ~ '^[A-Z]{1,2}$'", name=op.f("ck_oss_service_points_code")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_service_points")),
    )
    op.create_index("uq_oss_service_points_code", "oss_service_points", ["code"], unique=True)
    op.create_table(
        "oss_services",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("status", sa.String(length=10), server_default="draft", nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=150), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9-]{1,59}$'", name=op.f("ck_oss_services_code")),
        sa.CheckConstraint(
            "status <> 'published' OR published_version IS NOT NULL", name=op.f("ck_oss_services_published_has_version")
        ),
        sa.CheckConstraint("status IN ('draft', 'published', 'withdrawn')", name=op.f("ck_oss_services_status")),
        sa.CheckConstraint(
            "published_version IS NULL OR published_version BETWEEN 1 AND version",
            name=op.f("ck_oss_services_published_version"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_oss_services_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_services")),
    )
    op.create_index("uq_oss_services_code", "oss_services", ["code"], unique=True)
    op.create_table(
        "oss_queue_tickets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("point_id", sa.UUID(), nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=10), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="waiting", nullable=False),
        sa.Column("desk", sa.String(length=20), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=150), nullable=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("called_by", sa.String(length=150), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint(
            "status = 'waiting' OR status = 'cancelled' OR called_at IS NOT NULL",
            name=op.f("ck_oss_queue_tickets_called_at"),
        ),
        sa.CheckConstraint(
            "status IN ('waiting', 'called', 'served', 'no_show', 'cancelled')",
            name=op.f("ck_oss_queue_tickets_status"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('called', 'served', 'no_show') OR desk IS NOT NULL", name=op.f("ck_oss_queue_tickets_desk")
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_oss_queue_tickets_seq")),
        sa.ForeignKeyConstraint(
            ["point_id"], ["oss_service_points.id"], name=op.f("fk_oss_queue_tickets_point_id_oss_service_points")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["oss_services.id"],
            name=op.f("fk_oss_queue_tickets_service_id_oss_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_queue_tickets")),
    )
    op.create_index(
        "ix_oss_queue_tickets_point_id_service_day_status_seq",
        "oss_queue_tickets",
        ["point_id", "service_day", "status", "seq"],
        unique=False,
    )
    op.create_index(
        "uq_oss_queue_tickets_point_id_service_day_desk",
        "oss_queue_tickets",
        ["point_id", "service_day", "desk"],
        unique=True,
        postgresql_where=sa.text("status = 'called'"),
    )
    op.create_index(
        "uq_oss_queue_tickets_point_id_service_day_seq",
        "oss_queue_tickets",
        ["point_id", "service_day", "seq"],
        unique=True,
    )
    op.create_index("uq_oss_queue_tickets_token", "oss_queue_tickets", ["token"], unique=True)
    op.create_table(
        "oss_service_versions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["oss_services.id"],
            name=op.f("fk_oss_service_versions_service_id_oss_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_service_versions")),
    )
    op.create_index(
        "uq_oss_service_versions_service_id_version", "oss_service_versions", ["service_id", "version"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_oss_service_versions_service_id_version", table_name="oss_service_versions")
    op.drop_table("oss_service_versions")
    op.drop_index("uq_oss_queue_tickets_token", table_name="oss_queue_tickets")
    op.drop_index("uq_oss_queue_tickets_point_id_service_day_seq", table_name="oss_queue_tickets")
    op.drop_index(
        "uq_oss_queue_tickets_point_id_service_day_desk",
        table_name="oss_queue_tickets",
        postgresql_where=sa.text("status = 'called'"),
    )
    op.drop_index("ix_oss_queue_tickets_point_id_service_day_status_seq", table_name="oss_queue_tickets")
    op.drop_table("oss_queue_tickets")
    op.drop_index("uq_oss_services_code", table_name="oss_services")
    op.drop_table("oss_services")
    op.drop_index("uq_oss_service_points_code", table_name="oss_service_points")
    op.drop_table("oss_service_points")
