"""e-Saraban: the search row carries the letter's ``created_at`` and whether it is secret
(``restricted``), with a B-tree on (created_at DESC, letter_id DESC): a search takes its candidates
newest first from the search table alone and ranks only a bounded number of them
(search_index.CANDIDATES), instead of ranking every match (services/saraban.md, "Thai search").

Existing rows are filled from their letters. ``saraban_access`` gets an index on
(staff_id, letter_id): the secrecy filter looks up the caller's own rows instead of scanning them.

Revision ID: saraban_0003
Revises: saraban_0002
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "saraban_0003"
down_revision: str | None = "saraban_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "saraban_letter_search",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.add_column(
        "saraban_letter_search",
        sa.Column("restricted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.execute(
        "UPDATE saraban_letter_search s SET created_at = l.created_at, restricted = (l.secrecy <> 'normal')"
        " FROM saraban_letters l WHERE l.id = s.letter_id"
    )
    op.create_index(
        "ix_saraban_letter_search_recent",
        "saraban_letter_search",
        [sa.text("created_at DESC"), sa.text("letter_id DESC")],
    )
    op.create_index("ix_saraban_access_staff_id_letter_id", "saraban_access", ["staff_id", "letter_id"])


def downgrade() -> None:
    op.drop_index("ix_saraban_access_staff_id_letter_id", table_name="saraban_access")
    op.drop_index("ix_saraban_letter_search_recent", table_name="saraban_letter_search")
    op.drop_column("saraban_letter_search", "restricted")
    op.drop_column("saraban_letter_search", "created_at")
