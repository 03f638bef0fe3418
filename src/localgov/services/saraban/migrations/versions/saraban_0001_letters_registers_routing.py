"""e-Saraban: settings, issuing units, retention rules, letters with their revisions, events,
recipients, the hash-chained send and receive registers, routing (endorsements, read receipts),
the access list of secret letters and the yearly destruction lists.

The first revision of the saraban history (version table ``alembic_version_saraban``).

Revision ID: saraban_0001
Revises:
Create Date: 2026-12-07 05:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "saraban_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "saraban_access",
    "saraban_routes",
    "saraban_register_entries",
    "saraban_recipients",
    "saraban_letter_events",
    "saraban_revisions",
    "saraban_letters",
    "saraban_destruction_lists",
    "saraban_retention_rules",
    "saraban_issuing_units",
    "saraban_settings",
)


def upgrade() -> None:
    op.create_table(
        "saraban_destruction_lists",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="draft", nullable=False),
        sa.Column("letter_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("prepared_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("prepared_by", sa.String(length=150), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'approved')", name=op.f("ck_saraban_destruction_lists_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_destruction_lists")),
    )
    op.create_table(
        "saraban_issuing_units",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_issuing_units")),
    )
    op.create_table(
        "saraban_retention_rules",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("years", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('external', 'internal', 'stamped', 'directive', 'public', 'evidence')",
            name=op.f("ck_saraban_retention_rules_kind"),
        ),
        sa.CheckConstraint("years IS NULL OR years BETWEEN 1 AND 100", name=op.f("ck_saraban_retention_rules_years")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_saraban_retention_rules")),
    )
    op.create_table(
        "saraban_settings",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("agency_code", sa.String(length=40), server_default="", nullable=False),
        sa.Column("thai_digits", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("secret_officer_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_saraban_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_settings")),
    )
    op.create_table(
        "saraban_letters",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subkind", sa.String(length=20), nullable=True),
        sa.Column("circular", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="draft", nullable=False),
        sa.Column("urgency", sa.String(length=12), server_default="normal", nullable=False),
        sa.Column("secrecy", sa.String(length=12), server_default="normal", nullable=False),
        sa.Column("issuing_unit_id", sa.UUID(), nullable=True),
        sa.Column("number_text", sa.String(length=80), nullable=True),
        sa.Column("number_value", sa.Integer(), nullable=True),
        sa.Column("number_year", sa.SmallInteger(), nullable=True),
        sa.Column("letter_date", sa.Date(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("salutation", sa.Text(), nullable=True),
        sa.Column("references", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("enclosures", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("signer_staff_id", sa.UUID(), nullable=True),
        sa.Column("signer_name", sa.Text(), nullable=True),
        sa.Column("signer_position", sa.Text(), nullable=True),
        sa.Column("sender_name", sa.Text(), nullable=True),
        sa.Column("sender_code", sa.String(length=40), nullable=True),
        sa.Column("source_tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("source_letter_id", sa.UUID(), nullable=True),
        sa.Column("source_key", sa.String(length=120), nullable=True),
        sa.Column("retention_years", sa.SmallInteger(), nullable=True),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.Column("author_staff_id", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("direction IN ('outgoing', 'incoming')", name=op.f("ck_saraban_letters_direction")),
        sa.CheckConstraint(
            "kind IN ('external', 'internal', 'stamped', 'directive', 'public', 'evidence')",
            name=op.f("ck_saraban_letters_kind"),
        ),
        sa.CheckConstraint(
            "secrecy IN ('normal', 'confidential', 'secret', 'top_secret')", name=op.f("ck_saraban_letters_secrecy")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'in_review', 'approved', 'signed', 'issued', 'received', 'cancelled')",
            name=op.f("ck_saraban_letters_status"),
        ),
        sa.CheckConstraint(
            "urgency IN ('normal', 'urgent', 'very_urgent', 'most_urgent')", name=op.f("ck_saraban_letters_urgency")
        ),
        sa.CheckConstraint(
            "retention_years IS NULL OR retention_years BETWEEN 1 AND 100", name=op.f("ck_saraban_letters_retention")
        ),
        sa.ForeignKeyConstraint(
            ["issuing_unit_id"],
            ["saraban_issuing_units.id"],
            name=op.f("fk_saraban_letters_issuing_unit_id_saraban_issuing_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_letters")),
    )
    op.create_table(
        "saraban_access",
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_access_letter_id_saraban_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("letter_id", "staff_id", name=op.f("pk_saraban_access")),
    )
    op.create_table(
        "saraban_letter_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_staff_id", sa.UUID(), nullable=True),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_letter_events_letter_id_saraban_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_letter_events")),
    )
    op.create_table(
        "saraban_recipients",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("agency_id", sa.BigInteger(), nullable=True),
        sa.Column("unit_id", sa.UUID(), nullable=True),
        sa.Column("staff_id", sa.UUID(), nullable=True),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("receipt_no", sa.String(length=80), nullable=True),
        sa.Column("receipt_letter_id", sa.UUID(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('lao', 'outside', 'unit', 'staff', 'text')", name=op.f("ck_saraban_recipients_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'delivered', 'awaiting_exchange', 'failed', 'done')",
            name=op.f("ck_saraban_recipients_status"),
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_recipients_letter_id_saraban_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_recipients")),
    )
    op.create_table(
        "saraban_register_entries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("register", sa.String(length=10), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("letter_no", sa.String(length=80), nullable=False),
        sa.Column("letter_date", sa.Date(), nullable=True),
        sa.Column("from_th", sa.Text(), nullable=False),
        sa.Column("to_th", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("action_th", sa.Text(), server_default="", nullable=False),
        sa.Column("remarks", sa.Text(), server_default="", nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("register IN ('send', 'receive')", name=op.f("ck_saraban_register_entries_register")),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_register_entries_letter_id_saraban_letters"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_register_entries")),
    )
    op.create_table(
        "saraban_revisions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_revisions_letter_id_saraban_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_revisions")),
    )
    op.create_table(
        "saraban_routes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("letter_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("from_staff_id", sa.UUID(), nullable=True),
        sa.Column("to_unit_id", sa.UUID(), nullable=True),
        sa.Column("to_staff_id", sa.UUID(), nullable=True),
        sa.Column("endorsement", sa.Text(), server_default="", nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=8), server_default="open", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_by", sa.UUID(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'done')", name=op.f("ck_saraban_routes_status")),
        sa.CheckConstraint(
            "to_unit_id IS NOT NULL OR to_staff_id IS NOT NULL", name=op.f("ck_saraban_routes_addressee")
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["saraban_letters.id"],
            name=op.f("fk_saraban_routes_letter_id_saraban_letters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["saraban_routes.id"], name=op.f("fk_saraban_routes_parent_id_saraban_routes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saraban_routes")),
    )
    op.create_index("uq_saraban_destruction_lists_year", "saraban_destruction_lists", ["year"], unique=True)
    op.create_index("uq_saraban_issuing_units_code", "saraban_issuing_units", ["code"], unique=True)
    op.create_index("uq_saraban_letters_source_key", "saraban_letters", ["source_key"], unique=True)
    op.create_index("ix_saraban_letters_status_created_at", "saraban_letters", ["status", "created_at"], unique=False)
    op.create_index("ix_saraban_letter_events_letter_id", "saraban_letter_events", ["letter_id", "id"], unique=False)
    op.create_index("ix_saraban_recipients_letter_id", "saraban_recipients", ["letter_id"], unique=False)
    op.create_index("ix_saraban_register_entries_letter_id", "saraban_register_entries", ["letter_id"], unique=False)
    op.create_index(
        "uq_saraban_register_entries_register_year_seq",
        "saraban_register_entries",
        ["register", "year", "seq"],
        unique=True,
    )
    op.create_index(
        "uq_saraban_revisions_letter_id_revision", "saraban_revisions", ["letter_id", "revision"], unique=True
    )
    op.create_index("ix_saraban_routes_to_staff_id_status", "saraban_routes", ["to_staff_id", "status"], unique=False)
    op.create_index("ix_saraban_routes_to_unit_id_status", "saraban_routes", ["to_unit_id", "status"], unique=False)
    op.create_index("ix_saraban_routes_letter_id", "saraban_routes", ["letter_id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
