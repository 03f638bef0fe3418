"""Tenant schema (core): the case engine (cases, their history, the LAO's settings of each case
type) and the LAO's own days of its working-day calendar.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note_th", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_days")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("case_type", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("tracking_number", sa.String(length=40), nullable=True),
        sa.Column("applicant_citizen_id", sa.UUID(), nullable=True),
        sa.Column("applicant_name", sa.Text(), nullable=False),
        sa.Column("assigned_unit_id", sa.UUID(), nullable=True),
        sa.Column("assigned_staff_id", sa.UUID(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_days", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_cases_version")),
        sa.ForeignKeyConstraint(
            ["assigned_unit_id"], ["units.id"], name=op.f("fk_cases_assigned_unit_id_units"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["assigned_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_cases_assigned_staff_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index("uq_cases_tracking_number", "cases", ["tracking_number"], unique=True)
    op.create_index(
        "ix_cases_open_unit", "cases", ["assigned_unit_id", "state_entered_at", "id"], postgresql_where=_OPEN
    )
    op.create_index(
        "ix_cases_open_staff", "cases", ["assigned_staff_id", "state_entered_at", "id"], postgresql_where=_OPEN
    )
    op.create_index(
        "ix_cases_open_state", "cases", ["case_type", "state", "state_entered_at", "id"], postgresql_where=_OPEN
    )
    op.create_index("ix_cases_open_due", "cases", [sa.text("least(state_due_at, due_at)")], postgresql_where=_OPEN)
    op.create_index(
        "ix_cases_applicant",
        "cases",
        ["applicant_citizen_id", "opened_at"],
        postgresql_where=sa.text("applicant_citizen_id IS NOT NULL"),
    )
    op.create_table(
        "case_transitions",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("from_state", sa.String(length=60), nullable=True),
        sa.Column("to_state", sa.String(length=60), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint("actor_kind IN ('staff', 'citizen', 'system')", name=op.f("ck_case_transitions_actor_kind")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_transitions_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "seq", name=op.f("pk_case_transitions")),
    )
    op.create_table(
        "case_type_settings",
        sa.Column("case_type", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=60), nullable=False),
        sa.Column("sla_days", sa.SmallInteger(), nullable=True),
        sa.Column("assignee_unit_id", sa.UUID(), nullable=True),
        sa.Column("assignee_staff_id", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "sla_days IS NULL OR sla_days BETWEEN 1 AND 2600", name=op.f("ck_case_type_settings_sla_days")
        ),
        sa.CheckConstraint(
            "state <> '' OR (assignee_unit_id IS NULL AND assignee_staff_id IS NULL)",
            name=op.f("ck_case_type_settings_overall_no_assignee"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_unit_id"],
            ["units.id"],
            name=op.f("fk_case_type_settings_assignee_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_case_type_settings_assignee_staff_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("case_type", "state", name=op.f("pk_case_type_settings")),
    )


def downgrade() -> None:
    op.drop_table("case_type_settings")
    op.drop_table("case_transitions")
    op.drop_index("ix_cases_applicant", table_name="cases")
    op.drop_index("ix_cases_open_due", table_name="cases")
    op.drop_index("ix_cases_open_state", table_name="cases")
    op.drop_index("ix_cases_open_staff", table_name="cases")
    op.drop_index("ix_cases_open_unit", table_name="cases")
    op.drop_index("uq_cases_tracking_number", table_name="cases")
    op.drop_table("cases")
    op.drop_table("calendar_days")
