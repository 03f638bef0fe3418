"""Payments service: the payer's e-mail address (e-receipts and overdue notices are mailed to it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payers", sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("payers", "email")
