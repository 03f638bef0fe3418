"""e-Saraban: the operator's directory of agencies outside the platform (their codes, names and
exchange endpoints).

Revision ID: 0010_saraban
Revises: 0009
Create Date: 2026-12-07 05:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_saraban"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saraban_outside_agencies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("endpoint_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_outside_agencies")),
        schema="platform",
    )
    op.create_index(
        "uq_saraban_outside_agencies_code", "saraban_outside_agencies", ["code"], unique=True, schema="platform"
    )


def downgrade() -> None:
    op.drop_table("saraban_outside_agencies", schema="platform")
