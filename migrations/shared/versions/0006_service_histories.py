"""Shared schema: the catalog mirrors the revision of each service history a tenant schema uses.

Each service plugin now has a tenant history of its own (version table ``alembic_version_<slug>``
in the tenant schema); ``service_revisions`` holds ``{slug: revision}`` for the services whose
tables the schema holds, written in the same transaction as their DDL, so that one query still
tells which schemas are behind. Schemas built by the single tenant history are converted by the
next ``localgov migrate``, which fills it in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("service_revisions", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        schema="platform",
    )


def downgrade() -> None:
    op.drop_column("tenants", "service_revisions", schema="platform")
