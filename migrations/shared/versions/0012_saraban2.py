"""e-Saraban exchange with outside agencies: the shared secret each agency signs its envelopes
with (and we sign ours to it), encrypted under LOCALGOV_SECRET_KEY, with the previous secret kept
for an overlap after a rotation.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saraban_exchange_keys",
        sa.Column("agency_id", sa.BigInteger(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["platform.saraban_outside_agencies.id"],
            name=op.f("fk_saraban_exchange_keys_agency_id_saraban_outside_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_saraban_exchange_keys")),
        schema="platform",
    )


def downgrade() -> None:
    op.drop_table("saraban_exchange_keys", schema="platform")
