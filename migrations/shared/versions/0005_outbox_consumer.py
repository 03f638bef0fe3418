"""Shared schema: the subscriber an outbox entry is for (events between services are copied once
per subscriber, so each retries and succeeds on its own).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: a catalog-only change, no table rewrite, whatever the outbox holds.
    op.add_column("outbox", sa.Column("consumer", sa.String(length=40), nullable=True), schema="platform")


def downgrade() -> None:
    op.drop_column("outbox", "consumer", schema="platform")
