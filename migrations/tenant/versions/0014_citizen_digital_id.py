"""Tenant schema (core): citizens' digital ID — mapped claims, the national ID kept only as a keyed
hash and its last digits, assurance levels, and citizens' apps (OAuth 2.0 public clients with PKCE).

Data migration: a citizen whose provider ``sub`` is a 13-digit national ID had it stored as is;
it becomes ``nid:<HMAC>`` (the key derived from ``LOCALGOV_SECRET_KEY``, as at login) with the
hash and last four digits filled in. Rows like that need ``LOCALGOV_SECRET_KEY`` in the
environment of ``localgov migrate``; without it the migration stops rather than keep them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from localgov.kernel.citizens import is_national_id, national_id_digest, national_id_display

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("citizens", sa.Column("name_en", sa.Text(), nullable=True))
    op.add_column("citizens", sa.Column("phone", sa.String(length=32), nullable=True))
    op.add_column("citizens", sa.Column("national_id_hash", sa.String(length=64), nullable=True))
    op.add_column("citizens", sa.Column("national_id_last4", sa.String(length=4), nullable=True))
    op.create_index("ix_citizens_national_id_hash", "citizens", ["national_id_hash"])
    for name, length in (
        ("acr", 16),
        ("app_client_id", 64),
        ("app_redirect_uri", 500),
        ("app_state", 500),
        ("app_code_challenge", 128),
    ):
        op.add_column("oidc_login_states", sa.Column(name, sa.String(length=length), nullable=True))
    op.add_column("refresh_tokens", sa.Column("client_id", sa.String(length=64), nullable=True))
    op.add_column("refresh_tokens", sa.Column("acr", sa.String(length=16), nullable=True))
    op.create_table(
        "citizen_apps",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("redirect_uris", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('web', 'native')", name=op.f("ck_citizen_apps_kind")),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_citizen_apps_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_apps")),
    )
    op.create_index("uq_citizen_apps_client_id", "citizen_apps", ["client_id"], unique=True)
    op.create_table(
        "citizen_auth_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("citizen_id", sa.UUID(), nullable=False),
        sa.Column("acr", sa.String(length=16), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("family_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_citizen_auth_codes_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_citizen_auth_codes")),
    )
    op.create_table(
        "citizen_login_settings",
        sa.Column("id", sa.Integer(), server_default="1", nullable=False),
        sa.Column("login_acr", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_citizen_login_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_login_settings")),
    )
    _hash_national_id_subjects()


def _hash_national_id_subjects() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, subject FROM citizens WHERE subject ~ '^[0-9]{13}$'")).all()
    rows = [row for row in rows if is_national_id(row.subject)]
    if not rows:
        return
    secret_key = os.environ.get("LOCALGOV_SECRET_KEY", "")
    if not secret_key:
        raise RuntimeError("citizens with a national ID as subject: set LOCALGOV_SECRET_KEY to hash them")
    for row in rows:
        digest = national_id_digest(secret_key, row.subject)
        conn.execute(
            sa.text(
                "UPDATE citizens SET subject = :subject, national_id_hash = :digest, national_id_last4 = :last4 "
                "WHERE id = :id"
            ),
            {"subject": f"nid:{digest}", "digest": digest, "last4": national_id_display(row.subject), "id": row.id},
        )


def downgrade() -> None:
    op.drop_table("citizen_login_settings")
    op.drop_table("citizen_auth_codes")
    op.drop_index("uq_citizen_apps_client_id", table_name="citizen_apps")
    op.drop_table("citizen_apps")
    op.drop_column("refresh_tokens", "acr")
    op.drop_column("refresh_tokens", "client_id")
    for name in ("app_code_challenge", "app_state", "app_redirect_uri", "app_client_id", "acr"):
        op.drop_column("oidc_login_states", name)
    op.drop_index("ix_citizens_national_id_hash", table_name="citizens")
    for name in ("national_id_last4", "national_id_hash", "phone", "name_en"):
        op.drop_column("citizens", name)
