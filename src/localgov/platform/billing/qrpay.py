"""Paying an operator invoice by Thai QR through the operator's own biller id, and the operator's
bank notifications (signed with kernel.signing) that mark an invoice paid exactly once.

Ref1 of an invoice is its number without dashes (``INV-2570-000001`` → ``INV2570000001``), the
amount is what the invoice charges (its total). A notification is stored once per bank
transaction id (a unique constraint: a second delivery, also a concurrent one, finds the first
and answers the same; the same id with other details is 409 ``bank_transaction_conflict``); it
pays the invoice its Ref1 names when the amount is exactly the total and the invoice is
finalised; anything else is an exception for the billing administrator.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import thaiqr
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.errors import Conflict, DomainError
from localgov.kernel.pagination import before_key
from localgov.kernel.signing import DEFAULT_SCHEME, new_secret, secrets_in_force
from localgov.platform.billing import service
from localgov.platform.billing.models import BankOutcome, BillingBankNotification, BillingSettings, OperatorInvoice

SECRET_OVERLAP = dt.timedelta(days=7)
BANK_ACTOR = Actor(kind="system", id="billing-bank")
_REF_RE = re.compile(r"^(INV)([0-9]{4})([0-9]{6,})$")


class BillerNotSet(DomainError):
    code = "biller_not_set"
    status = 409
    title = "ยังไม่ได้ตั้งรหัสผู้รับชำระ / The operator's biller id is not set"


class TransactionConflict(Conflict):
    code = "bank_transaction_conflict"
    title = "รายการธนาคารนี้เคยแจ้งด้วยรายละเอียดอื่น / The bank transaction was reported with other details"


class Notification(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the operator's bank posts for one payment."""

    transaction_id: str
    ref1: str
    amount: Decimal
    paid_at: dt.datetime


class Outcome(msgspec.Struct, kw_only=True):
    #: ``paid`` or ``exception``.
    outcome: BankOutcome
    invoice_id: int | None
    reason: str | None
    #: True when this delivery repeated one already recorded (nothing changed).
    duplicate: bool


def ref_of(number: str) -> str:
    """Ref1 of an invoice number: A-Z and 0-9 only (``INV-2570-000001`` → ``INV2570000001``)."""
    return number.replace("-", "")


def number_of(ref1: str) -> str | None:
    """The invoice number a Ref1 names, or None when it cannot be one."""
    match = _REF_RE.fullmatch(ref1)
    return f"{match[1]}-{match[2]}-{match[3]}" if match else None


async def get_settings(session: AsyncSession) -> BillingSettings | None:
    return await session.get(BillingSettings, 1)


async def set_biller(session: AsyncSession, biller_id: str, merchant_name: str | None) -> BillingSettings:
    """Set the operator's biller id (checked: 13-digit tax ID with its check digit + 2 digits)."""
    biller = thaiqr.normalise_biller_id(biller_id)
    row = await session.get(BillingSettings, 1, with_for_update=True)
    if row is None:
        row = BillingSettings(id=1)
        session.add(row)
    row.biller_id = biller
    row.merchant_name = merchant_name
    await session.flush()
    return row


async def rotate_secret(session: AsyncSession, now: dt.datetime) -> str:
    """A new notification secret, returned once; the previous one verifies for 7 more days."""
    row = await session.get(BillingSettings, 1, with_for_update=True)
    if row is None:
        row = BillingSettings(id=1)
        session.add(row)
    secret = new_secret("lgbill_")
    row.previous_notification_secret = row.notification_secret
    row.notification_secret = secret
    row.secret_rotated_at = now
    await session.flush()
    return secret


def payment_of(invoice: OperatorInvoice, settings: BillingSettings | None) -> thaiqr.BillPayment | None:
    """The Thai QR of a finalised invoice (None for a draft, a void or paid one, a credit note, or
    while the operator has no biller id)."""
    if settings is None or settings.biller_id is None or invoice.kind != "invoice" or invoice.status != "finalised":
        return None
    if invoice.number is None or invoice.total <= 0:
        return None
    return thaiqr.BillPayment(
        biller_id=settings.biller_id,
        ref1=ref_of(invoice.number),
        amount=invoice.total,
        merchant_name=settings.merchant_name,
    )


def payload_of(invoice: OperatorInvoice, settings: BillingSettings | None) -> str | None:
    payment = payment_of(invoice, settings)
    return None if payment is None else thaiqr.build(payment)


async def verify(
    session: AsyncSession, *, timestamp: str | None, signature: str | None, body: bytes, now: dt.datetime
) -> None:
    """Refuse (401, kernel.signing codes) a notification not signed with a secret in force."""
    row = await get_settings(session)
    secrets = (
        []
        if row is None
        else secrets_in_force(
            row.notification_secret,
            row.previous_notification_secret,
            row.secret_rotated_at,
            now,
            overlap=SECRET_OVERLAP,
        )
    )
    DEFAULT_SCHEME.verify(secrets, timestamp, signature, body, now)


async def receive(session: AsyncSession, note: Notification, *, origin: Origin) -> Outcome:
    """Record one (verified) notification: pay the invoice once, or record an exception."""
    claimed = await session.execute(
        insert(BillingBankNotification)
        .values(
            transaction_id=note.transaction_id,
            ref1=note.ref1,
            amount=note.amount,
            paid_at=note.paid_at,
            outcome="exception",
            reason="pending",
        )
        .on_conflict_do_nothing(index_elements=["transaction_id"])
        .returning(BillingBankNotification.id)
    )
    new_id = claimed.scalar_one_or_none()
    if new_id is None:
        # A repeated delivery: the row committed by the first one decides the answer.
        same = select(BillingBankNotification).where(BillingBankNotification.transaction_id == note.transaction_id)
        first = (await session.execute(same)).scalar_one()
        if (first.ref1, first.amount, first.paid_at) != (note.ref1, note.amount, note.paid_at):
            raise TransactionConflict(data={"transaction_id": note.transaction_id})
        return Outcome(outcome=first.outcome, invoice_id=first.invoice_id, reason=first.reason, duplicate=True)
    row = await session.get_one(BillingBankNotification, new_id)
    number = number_of(note.ref1)
    invoice: OperatorInvoice | None = None
    if number is not None:
        query = select(OperatorInvoice).where(OperatorInvoice.number == number).with_for_update()
        invoice = (await session.execute(query)).scalar_one_or_none()
    if invoice is None:
        row.reason = "unknown_reference"
    else:
        row.invoice_id = invoice.id
        if invoice.kind != "invoice" or invoice.status != "finalised":
            row.reason = "invoice_not_payable"
        elif note.amount != invoice.total:
            row.reason = "amount_mismatch"
        else:
            await service.record_payment(
                session,
                invoice.id,
                reference=f"QR {note.transaction_id}",
                paid_at=note.paid_at,
                actor=BANK_ACTOR,
                origin=origin,
            )
            row.outcome, row.reason = "paid", None
    await session.flush()
    return Outcome(outcome=row.outcome, invoice_id=row.invoice_id, reason=row.reason, duplicate=False)


async def exceptions(
    session: AsyncSession, *, before: tuple[dt.datetime, int] | None = None, limit: int = 500
) -> list[BillingBankNotification]:
    """Notifications that paid nothing, newest first: the billing administrator's work list
    (``before``: the (received_at, id) of the last one of the previous page)."""
    query = (
        select(BillingBankNotification)
        .where(BillingBankNotification.outcome == "exception")
        .order_by(BillingBankNotification.received_at.desc(), BillingBankNotification.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(before_key([BillingBankNotification.received_at, BillingBankNotification.id], before))
    return list((await session.execute(query)).scalars())
