"""Shared schema: tenant catalog, custom domains, outbox, usage events, scheduled jobs.

Also the empty ``tenant_void`` schema that is the default search path of the application (a query
without tenant context fails), and the trigger that tells every process the catalog changed.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 16:42:16.533417
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The payload is the id of the tenant that changed, so listeners reload just that tenant;
# '*' (TRUNCATE) asks for a full reload. Identical payloads in one transaction are sent once.
NOTIFY_FUNCTION = """
CREATE FUNCTION platform.notify_catalog_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('localgov_catalog', '*');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'tenants' THEN
        changed := COALESCE(NEW.id, OLD.id);
    ELSE
        changed := COALESCE(NEW.tenant_id, OLD.tenant_id);
        IF TG_OP = 'UPDATE' AND OLD.tenant_id <> NEW.tenant_id THEN
            PERFORM pg_notify('localgov_catalog', OLD.tenant_id::text);
        END IF;
    END IF;
    PERFORM pg_notify('localgov_catalog', changed::text);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS tenant_void")
    # Fail closed for every session on this database, not only those the application opens.
    op.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = tenant_void', current_database()); END $$"
    )
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("run_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_jobs")),
        schema="platform",
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("dla_code", sa.String(length=7), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("lao_type", sa.String(length=40), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("province_th", sa.Text(), nullable=False),
        sa.Column("province_en", sa.Text(), nullable=False),
        sa.Column("district_th", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("plan_code", sa.String(length=40), server_default="standard", nullable=False),
        sa.Column("enabled_services", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("schema_name", sa.String(length=63), nullable=False),
        sa.Column("schema_revision", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="file", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("dla_code ~ '^[0-9]{7}$'", name=op.f("ck_tenants_dla_code")),
        sa.CheckConstraint("schema_name = 'lao_' || dla_code", name=op.f("ck_tenants_schema_name")),
        sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'", name=op.f("ck_tenants_slug")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'closed')", name=op.f("ck_tenants_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("dla_code", name=op.f("uq_tenants_dla_code")),
        sa.UniqueConstraint("schema_name", name=op.f("uq_tenants_schema_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
        schema="platform",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name=op.f("ck_outbox_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["platform.tenants.id"], name=op.f("fk_outbox_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="platform",
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["available_at", "id"],
        unique=False,
        schema="platform",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(op.f("ix_outbox_tenant_id"), "outbox", ["tenant_id"], unique=False, schema="platform")
    op.create_table(
        "tenant_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("domain = lower(domain)", name=op.f("ck_tenant_domains_lower")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["platform.tenants.id"], name=op.f("fk_tenant_domains_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_tenant_domains")),
        schema="platform",
    )
    op.create_index("ix_tenant_domains_tenant_id", "tenant_domains", ["tenant_id"], unique=False, schema="platform")
    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("meter", sa.String(length=80), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["platform.tenants.id"], name=op.f("fk_usage_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_usage_events_tenant_id_key")),
        schema="platform",
    )
    op.create_index(
        op.f("ix_usage_events_occurred_at"), "usage_events", ["occurred_at"], unique=False, schema="platform"
    )
    op.execute(NOTIFY_FUNCTION)
    for table in ("tenants", "tenant_domains"):
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON platform.{table} "
            "FOR EACH ROW EXECUTE FUNCTION platform.notify_catalog_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_truncate AFTER TRUNCATE ON platform.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION platform.notify_catalog_changed()"
        )


def downgrade() -> None:
    for table in ("tenants", "tenant_domains"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON platform.{table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_truncate ON platform.{table}")
    op.execute("DROP FUNCTION IF EXISTS platform.notify_catalog_changed()")
    op.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET search_path', current_database()); END $$")
    op.drop_index(op.f("ix_usage_events_occurred_at"), table_name="usage_events", schema="platform")
    op.drop_table("usage_events", schema="platform")
    op.drop_index("ix_tenant_domains_tenant_id", table_name="tenant_domains", schema="platform")
    op.drop_table("tenant_domains", schema="platform")
    op.drop_index(op.f("ix_outbox_tenant_id"), table_name="outbox", schema="platform")
    op.drop_index(
        "ix_outbox_due", table_name="outbox", schema="platform", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_table("outbox", schema="platform")
    op.drop_table("tenants", schema="platform")
    op.drop_table("scheduled_jobs", schema="platform")
    op.execute("DROP SCHEMA IF EXISTS tenant_void")
