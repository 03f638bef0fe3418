"""Shared schema: indexes in the order the operator's lists page by cursor (issue 21, one pagination
style): invoices newest period first by (period_start, id), for all LAOs or one LAO (the second
replaces the index on tenant_id alone); bank notifications that are exceptions, newest first by
(received_at, id) (replaces the one on received_at alone); the operator's citizens' apps, oldest
first by (created_at, id).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_operator_invoices_period_start_id", "operator_invoices", ["period_start", "id"], schema="platform"
    )
    op.create_index(
        "ix_operator_invoices_tenant_id_period_start_id",
        "operator_invoices",
        ["tenant_id", "period_start", "id"],
        schema="platform",
    )
    op.drop_index("ix_operator_invoices_tenant_id", table_name="operator_invoices", schema="platform")
    op.create_index(
        "ix_billing_bank_notifications_exceptions",
        "billing_bank_notifications",
        ["received_at", "id"],
        schema="platform",
        postgresql_where=sa.text("outcome = 'exception'"),
    )
    op.drop_index("ix_billing_bank_notifications_open", table_name="billing_bank_notifications", schema="platform")
    op.create_index("ix_citizen_apps_created_at_id", "citizen_apps", ["created_at", "id"], schema="platform")


def downgrade() -> None:
    op.drop_index("ix_citizen_apps_created_at_id", table_name="citizen_apps", schema="platform")
    op.create_index(
        "ix_billing_bank_notifications_open",
        "billing_bank_notifications",
        ["received_at"],
        schema="platform",
        postgresql_where=sa.text("outcome = 'exception'"),
    )
    op.drop_index(
        "ix_billing_bank_notifications_exceptions", table_name="billing_bank_notifications", schema="platform"
    )
    op.create_index("ix_operator_invoices_tenant_id", "operator_invoices", ["tenant_id"], schema="platform")
    op.drop_index("ix_operator_invoices_tenant_id_period_start_id", table_name="operator_invoices", schema="platform")
    op.drop_index("ix_operator_invoices_period_start_id", table_name="operator_invoices", schema="platform")
