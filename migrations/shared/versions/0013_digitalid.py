"""Shared schema: citizens' apps the platform operator registers (public OAuth 2.0 clients, with
PKCE, valid at every LAO; an LAO's own apps are in its schema, tenant revision 0014).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citizen_apps",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("redirect_uris", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('web', 'native')", name=op.f("ck_citizen_apps_kind")),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_citizen_apps_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_apps")),
        schema="platform",
    )
    op.create_index("uq_citizen_apps_client_id", "citizen_apps", ["client_id"], unique=True, schema="platform")


def downgrade() -> None:
    op.drop_index("uq_citizen_apps_client_id", table_name="citizen_apps", schema="platform")
    op.drop_table("citizen_apps", schema="platform")
