"""Payments service: a bill keeps a copy of its lines as JSON (``bills.lines``), so getBill reads one row.

A bill's lines never change after it is created (a surcharge, a credit or a re-billing is a bill
of its own), so the copy written with the bill cannot drift from ``bill_items``, which stays the
table the reports and the year-end work query. The copy is what the hot read serves: one relation
instead of two, which halves what PostgreSQL re-analyses when a connection changes tenant
(docs/adding-a-service.md, "Reads on the hot path"; bench/README.md, "Peers").

Existing bills get their copy here, in the order the read used (period, then fee code; numbers as
PostgreSQL prints them, as the read sent them).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00
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
    op.add_column("bills", sa.Column("lines", postgresql.JSONB(), nullable=True))
    op.execute(
        """
        UPDATE bills AS b SET lines = coalesce(
            (SELECT jsonb_agg(
                        jsonb_build_object(
                            'fee_code', i.fee_code,
                            'description_th', i.description_th,
                            'quantity', i.quantity::text,
                            'unit_price', i.unit_price::text,
                            'amount', i.amount::text,
                            'period', i.period
                        )
                        ORDER BY i.period, i.fee_code COLLATE "C"
                    )
               FROM bill_items AS i WHERE i.bill_id = b.id),
            '[]'::jsonb)
        """
    )
    op.alter_column("bills", "lines", nullable=False)


def downgrade() -> None:
    op.drop_column("bills", "lines")
