"""What other services call to charge a fee: :func:`create_bill`, the one way a bill is made.

Building permits, food-premises certificates and the monthly bill runs all end here, so every
bill has the same reference, verification code, QR and metering, whoever issued it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import Decimal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.errors import Conflict, DomainError
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.services.payments.models import Bill, BillItem, Payer

BILLS_ISSUED = UsageMeter(code="payments.bills_issued", unit="bill", title_th="ใบแจ้งหนี้ที่ออก", title_en="Bills issued")

# Crockford base32 without I, L, O, U: nothing to misread on paper, and valid in Ref1 (A-Z, 0-9).
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CENT = Decimal("0.01")


class BillLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line to charge: a fee code, a Thai description, an amount in baht."""

    fee_code: str
    description_th: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    period: str | None = None


class InvalidBill(DomainError):
    code = "invalid_bill"
    status = 400
    title = "The bill is not valid"


def new_reference() -> str:
    """``B`` + 9 random characters: unguessable, short enough for every bank's Ref1."""
    return "B" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(9))


def new_verification_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


async def create_bill(
    session: AsyncSession,
    *,
    payer_id: uuid.UUID,
    lines: list[BillLine],
    due_date: dt.date,
    source: str,
    source_key: str,
    account_id: uuid.UUID | None = None,
    period: str | None = None,
    issue_date: dt.date | None = None,
) -> Bill:
    """Create a bill in the caller's transaction, once per ``source_key``.

    Called again with the same ``source_key`` (a retried request, a bill run run twice) it
    returns the existing bill when the lines are the same, and refuses (409) when they differ.
    """
    if not lines:
        raise InvalidBill("A bill needs at least one line.")
    for line in lines:
        if not line.amount.is_finite() or line.amount <= 0 or line.amount != line.amount.quantize(_CENT):
            raise InvalidBill(f"Line {line.fee_code}: the amount must be positive with at most 2 decimals.")
        if not line.fee_code or not line.description_th:
            raise InvalidBill("Every line needs a fee code and a description.")
    total = sum((line.amount for line in lines), Decimal(0))
    if len(source_key) > 200 or not source_key:
        raise InvalidBill("source_key must have 1-200 characters.")
    existing = (await session.execute(select(Bill).where(Bill.source_key == source_key))).scalar_one_or_none()
    if existing is not None:
        if existing.total != total or existing.payer_id != payer_id:
            raise Conflict(
                "A different bill was already created for this source.",
                code="bill_source_conflict",
                data={"reference": existing.reference},
            )
        return existing
    if (await session.get(Payer, payer_id)) is None:
        raise InvalidBill("Unknown payer.", code="unknown_payer", status=404)
    today = issue_date or bangkok_today()
    if due_date < today:
        raise InvalidBill("The due date is before the issue date.")
    bill = Bill(
        reference=new_reference(),
        verification_code=new_verification_code(),
        payer_id=payer_id,
        account_id=account_id,
        source=source,
        source_key=source_key,
        period=period,
        issue_date=today,
        due_date=due_date,
        total=total,
    )
    session.add(bill)
    await session.flush()
    session.add_all(
        BillItem(
            bill_id=bill.id,
            fee_code=line.fee_code,
            description_th=line.description_th,
            quantity=line.quantity,
            unit_price=(line.amount / line.quantity).quantize(_CENT),
            amount=line.amount,
            period=line.period or period,
        )
        for line in lines
    )
    await record_usage(session, BILLS_ISSUED, 1, f"bill:{bill.id}")
    await session.flush()
    return bill
