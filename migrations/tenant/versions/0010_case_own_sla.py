"""Tenant schema (core): a case's own overall time limit (``cases.sla_days``).

One Stop Service opens each case for one service of its catalogue, whose manual states the total
time; that time is the case's overall limit, given when the case is opened.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 09:00:00.000000
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
    op.add_column("cases", sa.Column("sla_days", sa.SmallInteger(), nullable=True))
    op.create_check_constraint(op.f("ck_cases_sla_days"), "cases", "sla_days IS NULL OR sla_days BETWEEN 1 AND 2600")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_cases_sla_days"), "cases", type_="check")
    op.drop_column("cases", "sla_days")
