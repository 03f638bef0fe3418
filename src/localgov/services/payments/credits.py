"""Payers' credit (เงินเกินรอคืน/ใช้ชำระงวดถัดไป): money held for a payer, a ledger that never goes below zero.

Money comes in from an over payment a finance officer applied (the surplus), from a voided
bank-paid receipt when the officer chose to keep the money for the payer, or from an exception's
payment whose bill cannot take it. It goes out when the payer's next bill is made by payments itself
(a bill run, an advance bill, a bill by hand: :func:`localgov.services.payments.bank.pay_from_credit`)
or as a refund recorded with who approved it. Every change locks the payer's row first, so two
refunds or a refund and a bill run cannot both spend the same baht.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.validation import InvalidInput, parse_money
from localgov.services.payments.models import CreditKind, Payer, PayerCredit

_ZERO = Decimal("0.00")


class InsufficientCredit(Conflict):
    code = "insufficient_credit"
    title = "The payer's credit is smaller than that"


async def lock_payer(session: AsyncSession, payer_id: uuid.UUID) -> Payer:
    """The payer's row, locked until the transaction ends (404 ``payer_not_found``)."""
    payer = (await session.execute(select(Payer).where(Payer.id == payer_id).with_for_update())).scalar_one_or_none()
    if payer is None:
        raise NotFound("No such payer.", code="payer_not_found")
    return payer


async def balance(session: AsyncSession, payer_id: uuid.UUID) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(PayerCredit.amount), 0)).where(PayerCredit.payer_id == payer_id)
    )
    return Decimal(total or 0).quantize(Decimal("0.01"))


async def balances(session: AsyncSession, payer_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """Positive balances of these payers (payers without credit are left out)."""
    out: dict[uuid.UUID, Decimal] = {}
    if not payer_ids or await session.scalar(select(PayerCredit.id).limit(1)) is None:
        return out  # no credit at all in this LAO: the common case costs one indexed probe
    for start in range(0, len(payer_ids), 5000):
        rows = await session.execute(
            select(PayerCredit.payer_id, func.sum(PayerCredit.amount))
            .where(PayerCredit.payer_id.in_(payer_ids[start : start + 5000]))
            .group_by(PayerCredit.payer_id)
            .having(func.sum(PayerCredit.amount) > 0)
        )
        out.update({payer_id: Decimal(amount) for payer_id, amount in rows.all()})
    return out


async def add_entry(
    session: AsyncSession,
    *,
    payer_id: uuid.UUID,
    amount: Decimal,
    kind: CreditKind,
    payment_id: uuid.UUID | None = None,
    bill_id: uuid.UUID | None = None,
    note: str | None = None,
    approved_by: uuid.UUID | None = None,
) -> PayerCredit:
    """One ledger entry (the caller holds the payer's lock when it takes money out)."""
    entry = PayerCredit(
        payer_id=payer_id,
        amount=amount,
        kind=kind,
        payment_id=payment_id,
        bill_id=bill_id,
        note=note,
        approved_by=approved_by,
    )
    session.add(entry)
    await session.flush()
    return entry


class CreditRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    amount: Decimal
    kind: CreditKind
    payment_id: uuid.UUID | None
    bill_id: uuid.UUID | None
    note: str | None
    approved_by: uuid.UUID | None
    created_at: dt.datetime


class CreditAccount(msgspec.Struct, kw_only=True):
    """A payer's credit: the balance and every entry, oldest first."""

    payer_id: uuid.UUID
    balance: Decimal
    entries: list[CreditRead]


async def credit_account(session: AsyncSession, payer_id: uuid.UUID) -> CreditAccount:
    if await session.get(Payer, payer_id) is None:
        raise NotFound("No such payer.", code="payer_not_found")
    rows = (
        await session.execute(
            select(PayerCredit)
            .where(PayerCredit.payer_id == payer_id)
            .order_by(PayerCredit.created_at, PayerCredit.id)
            .limit(1000)
        )
    ).scalars()
    entries = [
        CreditRead(
            id=r.id,
            amount=r.amount,
            kind=r.kind,
            payment_id=r.payment_id,
            bill_id=r.bill_id,
            note=r.note,
            approved_by=r.approved_by,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return CreditAccount(payer_id=payer_id, balance=await balance(session, payer_id), entries=entries)


class RefundCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Money paid back to the payer from their credit (by transfer or cash, outside the system)."""

    amount: Decimal
    #: How it was paid back (transfer reference, cheque no. …) and why.
    note: str


async def refund(
    session: AsyncSession,
    payer_id: uuid.UUID,
    data: RefundCreate,
    *,
    approved_by: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> PayerCredit:
    """Record a refund out of the payer's credit, with who approved it (audited); 409
    ``insufficient_credit`` when the balance is smaller."""
    amount = parse_money(data.amount, "amount")
    note = data.note.strip()
    if len(note) < 3 or len(note) > 2000:
        raise InvalidInput("note", "3-2000 characters: how the money was paid back")
    await lock_payer(session, payer_id)
    held = await balance(session, payer_id)
    if amount > held:
        raise InsufficientCredit(data={"balance": str(held), "amount": str(amount)})
    entry = await add_entry(
        session, payer_id=payer_id, amount=-amount, kind="refund", note=note, approved_by=approved_by
    )
    await record_audit(
        session,
        "payments.credit_refunded",
        actor=actor,
        origin=origin,
        target=f"payer:{payer_id}",
        data={"amount": str(amount), "note": note, "balance_before": str(held)},
    )
    return entry
