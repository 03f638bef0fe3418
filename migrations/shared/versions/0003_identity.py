"""Shared schema: operator staff and their refresh tokens, the operator audit log, rate-limit buckets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:09:28.519537
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("source_ip", postgresql.INET(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_audit_events")),
        schema="platform",
    )
    op.create_index(
        "ix_operator_audit_events_occurred_at",
        "operator_audit_events",
        ["occurred_at"],
        unique=False,
        schema="platform",
    )
    op.create_table(
        "operator_refresh_tokens",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("family_id", sa.UUID(), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_refresh_tokens")),
        schema="platform",
    )
    op.create_index(
        "ix_operator_refresh_tokens_family_id",
        "operator_refresh_tokens",
        ["family_id"],
        unique=False,
        schema="platform",
    )
    op.create_index(
        "uq_operator_refresh_tokens_token_hash",
        "operator_refresh_tokens",
        ["token_hash"],
        unique=True,
        schema="platform",
    )
    op.create_table(
        "operator_users",
        sa.Column("roles", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="invited", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('invited', 'active', 'disabled')", name=op.f("ck_operator_users_status")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_operator_users_email_lower")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_users")),
        schema="platform",
    )
    op.create_index("uq_operator_users_email", "operator_users", ["email"], unique=True, schema="platform")
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_buckets")),
        schema="platform",
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets", schema="platform")
    op.drop_index("uq_operator_users_email", table_name="operator_users", schema="platform")
    op.drop_table("operator_users", schema="platform")
    op.drop_index("uq_operator_refresh_tokens_token_hash", table_name="operator_refresh_tokens", schema="platform")
    op.drop_index("ix_operator_refresh_tokens_family_id", table_name="operator_refresh_tokens", schema="platform")
    op.drop_table("operator_refresh_tokens", schema="platform")
    op.drop_index("ix_operator_audit_events_occurred_at", table_name="operator_audit_events", schema="platform")
    op.drop_table("operator_audit_events", schema="platform")
