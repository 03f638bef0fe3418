"""Shared schema: plans, signup requests, tenant archives; why and since when a tenant changed status.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending_verification', 'pending_approval', 'provisioning', 'failed')"
STATUSES = "'pending_verification', 'pending_approval', 'provisioning', 'active', 'rejected', 'failed', 'expired'"


def upgrade() -> None:
    plans = op.create_table(
        "plans",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("open_for_signup", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_plans")),
        schema="platform",
    )
    # The operator's starting offer; edited later as data (prices live in the billing module).
    op.bulk_insert(
        plans,
        [
            {
                "code": "basic",
                "name_th": "พื้นฐาน: รับชำระค่าธรรมเนียม",
                "name_en": "Basic: fee payments",
                "services": ["payments"],
                "position": 1,
            },
            {
                "code": "standard",
                "name_th": "มาตรฐาน: บริการประชาชนและรับชำระเงิน",
                "name_en": "Standard: citizen services and payments",
                "services": ["oss", "permits", "food", "payments"],
                "position": 2,
            },
            {
                "code": "premium",
                "name_th": "ครบชุด: รวมสารบรรณอิเล็กทรอนิกส์",
                "name_en": "Complete: with e-Saraban",
                "services": ["oss", "permits", "food", "payments", "saraban"],
                "position": 3,
            },
        ],
    )
    # Plans the catalog already uses (tenants.yaml may name others) exist before the foreign key.
    op.execute(
        "INSERT INTO platform.plans (code, name_th, name_en, services, open_for_signup, position)"
        " SELECT DISTINCT plan_code, plan_code, plan_code, '{}'::text[], false, 99 FROM platform.tenants"
        " ON CONFLICT (code) DO NOTHING"
    )
    op.create_foreign_key(
        op.f("fk_tenants_plan_code_plans"),
        "tenants",
        "plans",
        ["plan_code"],
        ["code"],
        source_schema="platform",
        referent_schema="platform",
    )
    for name, type_ in (
        ("status_reason", sa.Text()),
        ("status_changed_at", sa.DateTime(timezone=True)),
        ("purge_after", sa.DateTime(timezone=True)),
        ("schema_dropped_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("tenants", sa.Column(name, type_, nullable=True), schema="platform")

    op.create_table(
        "signup_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("dla_code", sa.String(length=7), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("contact_name", sa.Text(), nullable=False),
        sa.Column("contact_position", sa.Text(), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=False),
        sa.Column("terms_version", sa.String(length=20), nullable=False),
        sa.Column("terms_accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), server_default="pending_verification", nullable=False),
        sa.Column("verify_token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("verify_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("source_ip", postgresql.INET(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("provisioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_signup_requests_status")),
        sa.CheckConstraint("dla_code ~ '^[0-9]{7}$'", name=op.f("ck_signup_requests_dla_code")),
        sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'", name=op.f("ck_signup_requests_slug")),
        sa.CheckConstraint("contact_email = lower(contact_email)", name=op.f("ck_signup_requests_email_lower")),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["platform.plans.code"], name=op.f("fk_signup_requests_plan_code_plans")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["platform.tenants.id"], name=op.f("fk_signup_requests_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_requests")),
        sa.UniqueConstraint("verify_token_hash", name=op.f("uq_signup_requests_verify_token_hash")),
        sa.UniqueConstraint("status_token_hash", name=op.f("uq_signup_requests_status_token_hash")),
        schema="platform",
    )
    op.create_index(
        "uq_signup_requests_open_dla_code",
        "signup_requests",
        ["dla_code"],
        unique=True,
        schema="platform",
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "uq_signup_requests_open_slug",
        "signup_requests",
        ["slug"],
        unique=True,
        schema="platform",
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_signup_requests_status_created_at", "signup_requests", ["status", "created_at"], schema="platform"
    )

    op.create_table(
        "tenant_archives",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_counts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["platform.tenants.id"], name=op.f("fk_tenant_archives_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_archives")),
        schema="platform",
    )
    op.create_index(
        op.f("ix_tenant_archives_tenant_id"), "tenant_archives", ["tenant_id"], unique=False, schema="platform"
    )


def downgrade() -> None:
    op.drop_table("tenant_archives", schema="platform")
    op.drop_table("signup_requests", schema="platform")
    for name in ("schema_dropped_at", "purge_after", "status_changed_at", "status_reason"):
        op.drop_column("tenants", name, schema="platform")
    op.drop_constraint(op.f("fk_tenants_plan_code_plans"), "tenants", schema="platform", type_="foreignkey")
    op.drop_table("plans", schema="platform")
