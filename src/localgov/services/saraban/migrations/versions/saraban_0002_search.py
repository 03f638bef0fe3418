"""e-Saraban: the Thai search index of letters (saraban_letter_search: one tsvector per letter,
GIN-indexed; kernel.search).

Revision ID: saraban_0002
Revises: saraban_0001
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "saraban_0002"
down_revision: str | None = "saraban_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saraban_letter_search",
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("vector", postgresql.TSVECTOR(), nullable=False),
        sa.Column("attachments_text", sa.Text(), server_default="", nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_letter_search_letter_id_saraban_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("letter_id", name=op.f("pk_saraban_letter_search")),
    )
    op.create_index("ix_saraban_letter_search_vector", "saraban_letter_search", ["vector"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_saraban_letter_search_vector", table_name="saraban_letter_search")
    op.drop_table("saraban_letter_search")
