"""Payments service: ``updated_at`` on bills, payments and receipts (integrators' ``?updated_since=``)
and the sandbox flag of the LAO's payment settings.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The table and the column its rows' last known change is taken from.
_TABLES = (
    ("bills", "greatest(created_at, coalesce(paid_at, created_at), coalesce(cancelled_at, created_at))"),
    ("payments", "received_at"),
    ("receipts", "greatest(issued_at, coalesce(voided_at, issued_at))"),
)


def upgrade() -> None:
    for table, since in _TABLES:
        op.add_column(
            table,
            sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        )
        op.execute(f"UPDATE {table} SET updated_at = {since}")  # noqa: S608 (constants above)
        op.create_index(op.f(f"ix_{table}_updated_at"), table, ["updated_at"])
    op.add_column(
        "payment_settings", sa.Column("sandbox", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("payment_settings", "sandbox")
    for table, _ in reversed(_TABLES):
        op.drop_index(op.f(f"ix_{table}_updated_at"), table_name=table)
        op.drop_column(table, "updated_at")
