"""Shared schema: the browser origins an LAO allows to call its API (CORS), set by its administrators.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("cors_origins", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        schema="platform",
    )


def downgrade() -> None:
    op.drop_column("tenants", "cors_origins", schema="platform")
