"""One Stop Service: the notices the deadlines send (delay notices and their copies for the OPDC,
result notices, escalations to a unit's supervisor) and the LAO's settings of them.

Revision ID: oss_0003
Revises: oss_0002
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "oss_0003"
# Written next to the cases' revision (oss_0002) on another branch: re-chained after it at merge.
down_revision: str | None = "oss_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oss_notice_settings",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("opdc_email", sa.String(length=254), nullable=True),
        sa.Column("opdc_copies", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("delay_every_days", sa.SmallInteger(), server_default="7", nullable=False),
        sa.Column("result_within_days", sa.SmallInteger(), server_default="7", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint("delay_every_days BETWEEN 1 AND 30", name=op.f("ck_oss_notice_settings_delay_every_days")),
        sa.CheckConstraint(
            "result_within_days BETWEEN 1 AND 30", name=op.f("ck_oss_notice_settings_result_within_days")
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_oss_notice_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_notice_settings")),
    )
    op.create_table(
        "oss_case_notices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("anchor", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.String(length=60), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("days_over", sa.SmallInteger(), nullable=True),
        sa.Column("working_days_over", sa.SmallInteger(), nullable=True),
        sa.Column("recipient_id", sa.UUID(), nullable=True),
        sa.Column("recipient_name", sa.Text(), nullable=True),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("channel", sa.String(length=30), nullable=True),
        sa.Column("notification_id", sa.UUID(), nullable=True),
        sa.Column("for_opdc", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("hand_delivery", sa.String(length=16), nullable=True),
        sa.Column("hand_delivered_on", sa.Date(), nullable=True),
        sa.Column("hand_recorded_by", sa.String(length=150), nullable=True),
        sa.Column("notified_on", sa.Date(), nullable=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(hand_delivery IS NULL) = (hand_delivered_on IS NULL)", name=op.f("ck_oss_case_notices_hand_day")
        ),
        sa.CheckConstraint(
            "hand_delivery IS NULL OR hand_delivery IN ('letter', 'in_person', 'phone')",
            name=op.f("ck_oss_case_notices_hand"),
        ),
        sa.CheckConstraint("cycle >= 1 AND seq >= 1", name=op.f("ck_oss_case_notices_numbers")),
        sa.CheckConstraint("kind IN ('delay', 'result', 'escalation')", name=op.f("ck_oss_case_notices_kind")),
        sa.CheckConstraint(
            "recipient_kind IN ('applicant', 'opdc', 'supervisor')", name=op.f("ck_oss_case_notices_recipient_kind")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_oss_case_notices_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_oss_case_notices_notification_id_notifications"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oss_case_notices")),
    )
    op.create_index(
        "uq_oss_case_notices_case_id_kind_recipient_kind_anchor_cycle",
        "oss_case_notices",
        ["case_id", "kind", "recipient_kind", "anchor", "cycle"],
        unique=True,
    )
    op.create_index("ix_oss_case_notices_sent_at", "oss_case_notices", ["sent_at"], unique=False)
    op.create_index(
        "ix_oss_case_notices_pending_results",
        "oss_case_notices",
        ["anchor"],
        unique=False,
        postgresql_where=sa.text("kind = 'result' AND notified_on IS NULL AND flagged_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_oss_case_notices_pending_results", table_name="oss_case_notices")
    op.drop_index("ix_oss_case_notices_sent_at", table_name="oss_case_notices")
    op.drop_index("uq_oss_case_notices_case_id_kind_recipient_kind_anchor_cycle", table_name="oss_case_notices")
    op.drop_table("oss_case_notices")
    op.drop_table("oss_notice_settings")
