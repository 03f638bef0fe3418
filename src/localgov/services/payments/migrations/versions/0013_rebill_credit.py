"""Payments service: a payer's credit may come from a re-billing at a lower backdated price (``rebill``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 05:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "kind IN ('over', 'voided_receipt', 'exception', 'applied', 'refund')"
_AFTER = "kind IN ('over', 'voided_receipt', 'exception', 'applied', 'refund', 'rebill')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_payer_credits_kind"), "payer_credits", type_="check")
    op.create_check_constraint(op.f("ck_payer_credits_kind"), "payer_credits", _AFTER)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payer_credits_kind"), "payer_credits", type_="check")
    op.create_check_constraint(op.f("ck_payer_credits_kind"), "payer_credits", _BEFORE)
