"""Shared schema: custom domains proven by a DNS TXT challenge (issue 18).

``platform.tenant_domains`` gains the challenge token an LAO publishes, when the domain was verified
(only verified rows route) and the last check and its problem. The primary key becomes (domain,
tenant id): several LAOs may claim a name while it is pending, one only can have it verified (a
partial unique index). Rows from before (declared in ``tenants.yaml`` or claimed through the API)
count as verified, without a challenge: the operator re-checks API claims it doubts by removing them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenant_domains", sa.Column("challenge_token", sa.String(length=64), nullable=True), schema="platform"
    )
    op.add_column(
        "tenant_domains",
        sa.Column("verified_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        schema="platform",
    )
    op.add_column(
        "tenant_domains", sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True), schema="platform"
    )
    op.add_column("tenant_domains", sa.Column("check_problem", sa.String(length=40), nullable=True), schema="platform")
    op.drop_constraint("pk_tenant_domains", "tenant_domains", schema="platform", type_="primary")
    op.create_primary_key("pk_tenant_domains", "tenant_domains", ["domain", "tenant_id"], schema="platform")
    op.create_index(
        "uq_tenant_domains_routed",
        "tenant_domains",
        ["domain"],
        unique=True,
        schema="platform",
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM platform.tenant_domains WHERE verified_at IS NULL")
    op.drop_index("uq_tenant_domains_routed", table_name="tenant_domains", schema="platform")
    op.drop_constraint("pk_tenant_domains", "tenant_domains", schema="platform", type_="primary")
    op.create_primary_key("pk_tenant_domains", "tenant_domains", ["domain"], schema="platform")
    for column in ("check_problem", "checked_at", "verified_at", "challenge_token"):
        op.drop_column("tenant_domains", column, schema="platform")
