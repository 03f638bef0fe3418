"""Payments service: the LAO's e-LAAS revenue codes by fee code prefix, seeded with the fees the
platform knows (codes from the DLA's e-LAAS revenue chart where it gives one; verify).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The same rows as ``localgov.services.payments.revenue.DEFAULT_CODES`` (copied: a migration
#: never imports application code that may change later).
_SEED = (
    ("garbage", "ค่าธรรมเนียมเก็บขนขยะมูลฝอย", "41210008"),
    ("permits", "ค่าธรรมเนียมเกี่ยวกับการควบคุมอาคาร", "41210007"),
    ("wastewater", "ค่าธรรมเนียมบำบัดน้ำเสีย", None),
    ("food", "ค่าธรรมเนียมใบอนุญาตจัดตั้งสถานที่จำหน่ายอาหารหรือสะสมอาหาร", None),
    ("late_surcharge", "เงินเพิ่มกรณีชำระค่าธรรมเนียมล่าช้า", None),
    ("market_stall", "ค่าธรรมเนียมแผงตลาด", None),
)


def upgrade() -> None:
    table = op.create_table(
        "revenue_codes",
        sa.Column("prefix", sa.String(length=60), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=True),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("code IS NULL OR code ~ '^[0-9]{8}$'", name=op.f("ck_revenue_codes_code")),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_revenue_codes")),
    )
    op.bulk_insert(table, [{"prefix": p, "name_th": n, "code": c} for p, n, c in _SEED])


def downgrade() -> None:
    op.drop_table("revenue_codes")
