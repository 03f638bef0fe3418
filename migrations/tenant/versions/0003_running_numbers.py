"""Tenant schema: gap-free running numbers per series and period.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:14:46.320359
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "running_numbers",
        sa.Column("series", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series", "period", name=op.f("pk_running_numbers")),
    )


def downgrade() -> None:
    op.drop_table("running_numbers")
