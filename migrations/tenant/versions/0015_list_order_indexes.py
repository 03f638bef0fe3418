"""Tenant schema (core): indexes in the order the LAO's lists of API clients and citizens' apps page
by cursor (issue 21, one pagination style): oldest first by (created_at, id).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_api_clients_created_at_id", "api_clients", ["created_at", "id"])
    op.create_index("ix_citizen_apps_created_at_id", "citizen_apps", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_citizen_apps_created_at_id", table_name="citizen_apps")
    op.drop_index("ix_api_clients_created_at_id", table_name="api_clients")
