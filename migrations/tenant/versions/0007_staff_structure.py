"""Tenant schema: the LAO's structure — units in a tree with a supervisor each, positions, and
the unit and position of each member of staff.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'secretary_office', 'bureau', 'division', 'section', 'subdivision', 'work_unit'"


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("supervisor_id", sa.UUID(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name=op.f("ck_units_kind")),
        sa.CheckConstraint("code = lower(code)", name=op.f("ck_units_code_lower")),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name=op.f("ck_units_parent_not_self")),
        sa.ForeignKeyConstraint(["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units")),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["staff_users.id"],
            name=op.f("fk_units_supervisor_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
    )
    op.create_index("uq_units_code", "units", ["code"], unique=True)
    op.create_table(
        "positions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("title_th", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=True),
        sa.Column("level", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    op.create_index(
        "uq_positions_title_th_level", "positions", ["title_th", sa.text("coalesce(level, '')")], unique=True
    )
    op.add_column("staff_users", sa.Column("unit_id", sa.UUID(), nullable=True))
    op.add_column("staff_users", sa.Column("position_id", sa.UUID(), nullable=True))
    op.create_foreign_key(op.f("fk_staff_users_unit_id_units"), "staff_users", "units", ["unit_id"], ["id"])
    op.create_foreign_key(
        op.f("fk_staff_users_position_id_positions"), "staff_users", "positions", ["position_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_staff_users_position_id_positions"), "staff_users", type_="foreignkey")
    op.drop_constraint(op.f("fk_staff_users_unit_id_units"), "staff_users", type_="foreignkey")
    op.drop_column("staff_users", "position_id")
    op.drop_column("staff_users", "unit_id")
    op.drop_index("uq_positions_title_th_level", table_name="positions")
    op.drop_table("positions")
    op.drop_index("uq_units_code", table_name="units")
    op.drop_table("units")
