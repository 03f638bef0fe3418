"""Shared schema: access tokens revoked before they expire (a disabled staff member or API client).

Every process keeps the unexpired rows in memory, reloaded on ``NOTIFY localgov_revocations``
(``localgov.kernel.auth.revocations``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_revocations",
        sa.Column("realm", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm", "kind", "subject", name=op.f("pk_access_revocations")),
        schema="platform",
    )


def downgrade() -> None:
    op.drop_table("access_revocations", schema="platform")
