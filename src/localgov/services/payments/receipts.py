"""Receipts (ใบเสร็จรับเงิน): one per matched payment, numbered book/number without gaps per fiscal year.

The running number comes from :func:`localgov.kernel.numbering.next_number` in the payment's own
transaction: the counter row stays locked until that transaction ends, so concurrent payments
take 1, 2, 3 … in turn and a payment that rolls back gives its number back. The n-th receipt of
a fiscal year is number ``(n-1) % book_size + 1`` of book ``(n-1) // book_size + 1``.

A receipt is never deleted: voiding keeps it, marked cancelled with the reason, and opens the
bill again. Reprints are copies (สำเนา), counted.

Every receipt is registered as an issued document (:mod:`localgov.kernel.documents`, kind
``payments.receipt``) in the transaction that issues it, and voided there with it: its printed QR
stamp opens the public verification page, which shows it valid or cancelled. Issuing publishes
``payments.receipt_issued`` in the same transaction: the e-receipt to the payer's e-mail
(:mod:`localgov.services.payments.mailing`) follows the commit, once per receipt.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import documents
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.events import publish
from localgov.kernel.numbering import fiscal_period, next_number
from localgov.kernel.pagination import after_key
from localgov.kernel.tenancy import TenantInfo, TenantProfile
from localgov.kernel.thai import BANGKOK, baht_text
from localgov.kernel.validation import ThaiAddress, address_line_th
from localgov.services.payments import credits
from localgov.services.payments.api import RECEIPT_ISSUED, RECEIPT_VOIDED, ReceiptIssued, ReceiptVoided
from localgov.services.payments.models import (
    Bill,
    BillItem,
    Payer,
    Payment,
    PaymentException,
    PaymentSettings,
    Receipt,
)
from localgov.services.payments.receipt_pdf import ReceiptDocument, ReceiptLine
from localgov.settings import Settings

#: The receiving officer (ผู้รับเงิน) printed on a receipt: (name, position).
Officer = tuple[str | None, str | None]

#: The LAO's type in Thai, by the catalog's ``lao_type``: the issuer is printed with it
#: (``เทศบาลเมือง`` + ``แม่เหียะ``), as the regulations name a receiving office.
LAO_TYPES_TH: dict[str, str] = {
    "provincial_admin_org": "องค์การบริหารส่วนจังหวัด",
    "city_municipality": "เทศบาลนคร",
    "town_municipality": "เทศบาลเมือง",
    "subdistrict_municipality": "เทศบาลตำบล",
    "subdistrict_admin_org": "องค์การบริหารส่วนตำบล",
    "special_admin_area": "เมือง",
}

SERIES = "payments.receipt"
#: The kind of a receipt in the register of issued documents.
DOCUMENT_KIND = "payments.receipt"
DEFAULT_BOOK_SIZE = 100


class ReceiptAlreadyVoid(Conflict):
    code = "receipt_already_void"
    title = "This receipt is already cancelled"


class VoidOwnReceipt(DomainError):
    code = "void_own_receipt"
    status = 403
    title = "A cashier cannot cancel a receipt of money they took; a supervisor does"


def book_and_number(sequence: int, book_size: int) -> tuple[int, int]:
    """The n-th receipt of a year as (book, number in book), both from 1."""
    if sequence < 1 or book_size < 1:
        raise ValueError("sequence and book size start at 1")
    return (sequence - 1) // book_size + 1, (sequence - 1) % book_size + 1


def officer_of(row: PaymentSettings | None) -> Officer | None:
    """The receiving officer the settings name (None when none is set)."""
    if row is None or not (row.officer_name or row.officer_position):
        return None
    return (row.officer_name, row.officer_position)


def issuer_name(tenant: TenantInfo) -> str:
    """The LAO's name with its type: ``เทศบาลเมืองแม่เหียะ`` (a name that already has it is kept)."""
    kind = LAO_TYPES_TH.get(tenant.lao_type, "")
    name = tenant.name_th.strip()
    return name if not kind or name.startswith(kind) else f"{kind}{name}"


def receipt_date(payment: Payment) -> dt.date:
    """The day a receipt is dated: the day the money was paid (Bangkok), not the day it was processed."""
    return payment.paid_at.astimezone(BANGKOK).date()


_METHODS_TH = {"cash": "เงินสด", "cheque": "เช็ค", "transfer": "โอนเงิน"}


def channel_text(payment: Payment) -> str | None:
    """How the money came, as the receipt prints it (None: Thai QR through the bank, the default)."""
    if payment.channel == "counter":
        method = _METHODS_TH.get(payment.method or "", payment.method or "")
        return f"ชำระที่เคาน์เตอร์ ({method})" + (f" เลขที่ {payment.instrument_ref}" if payment.instrument_ref else "")
    if payment.channel == "credit":
        return "หักจากเงินเครดิตของผู้ชำระ (payer credit)"
    return None


def receipt_label(receipt: Receipt) -> str:
    """``เล่ม 3 เลขที่ 17/2570`` in its ASCII form: ``3/17/2570`` (book/number/fiscal year)."""
    return f"{receipt.book_no}/{receipt.receipt_no}/{receipt.fiscal_year}"


async def issue_receipt(
    session: AsyncSession,
    *,
    payment: Payment,
    bill: Bill,
    collector: str,
    book_size: int = DEFAULT_BOOK_SIZE,
    officer: Officer | None = None,
    amount: Decimal | None = None,
) -> Receipt:
    """The receipt of a matched payment, numbered in the caller's transaction.

    Dated the moment the money was paid and numbered in that day's fiscal year (1 October): a
    payment of 30 September 23:50 processed in October is a receipt of the year that ended, in that
    year's series. ``amount`` is what the payment paid toward the bill (an over payment's surplus
    goes to the payer's credit); the whole payment by default.
    """
    received = payment.amount if amount is None else amount
    issued_at = payment.paid_at
    fiscal_year = fiscal_period(receipt_date(payment))
    payer = await session.get(Payer, bill.payer_id)
    receipt_id = uuid.uuid4()
    await session.flush()
    # The counter row stays locked until the transaction ends: everything else is done first,
    # so concurrent payments queue on it for as short a time as possible.
    sequence = await next_number(session, SERIES, fiscal_year)
    book_no, receipt_no = book_and_number(sequence, book_size)
    receipt = Receipt(
        id=receipt_id,
        payment_id=payment.id,
        bill_id=bill.id,
        fiscal_year=fiscal_year,
        sequence=sequence,
        book_no=book_no,
        receipt_no=receipt_no,
        issued_at=issued_at,
        payer_name=payer.name if payer else "-",
        amount=received,
        amount_text_th=baht_text(received),
        collector=collector,
        officer_name=officer[0] if officer else None,
        officer_position=officer[1] if officer else None,
    )
    session.add(receipt)
    await session.flush()
    await documents.issue(
        session,
        kind=DOCUMENT_KIND,
        source_key=str(receipt.id),
        number=receipt_label(receipt),
        title_th="ใบเสร็จรับเงิน",
        title_en="Receipt",
        holder_name=receipt.payer_name,
        issued_at=issued_at,
    )
    issued = ReceiptIssued(
        receipt_id=receipt.id,
        receipt_number=receipt_label(receipt),
        bill_id=bill.id,
        reference=bill.reference,
        source=bill.source,
        source_key=bill.source_key,
        payment_id=payment.id,
        amount=received,
        issued_at=issued_at,
        collector=collector,
    )
    # After the commit: the e-receipt to the payer's e-mail (payments' own handler) and the
    # integrators' ``receipt.issued`` webhook. The number is in the payload, so it is published once
    # the number is taken (one outbox row while the counter row is locked).
    await publish(session, RECEIPT_ISSUED, issued)
    return receipt


async def get_receipt(session: AsyncSession, receipt_id: uuid.UUID, *, for_update: bool = False) -> Receipt:
    query = select(Receipt).where(Receipt.id == receipt_id)
    if for_update:
        query = query.with_for_update()
    receipt = (await session.execute(query)).scalar_one_or_none()
    if receipt is None:
        raise NotFound("No such receipt.", code="receipt_not_found")
    return receipt


async def list_receipts(
    session: AsyncSession,
    *,
    fiscal_year: str | None,
    status: str | None,
    day_from: dt.date | None,
    day_to: dt.date | None,
    after: uuid.UUID | None,
    limit: int,
    updated_since: dt.datetime | None = None,
) -> list[Receipt]:
    """Receipts in number order (fiscal year, sequence), keyset-paged after a receipt id."""
    query = select(Receipt)
    if updated_since is not None:
        query = query.where(Receipt.updated_at >= updated_since)
    if fiscal_year:
        query = query.where(Receipt.fiscal_year == fiscal_year)
    if status:
        query = query.where(Receipt.status == status)
    bangkok_day = func.date(func.timezone("Asia/Bangkok", Receipt.issued_at))
    if day_from:
        query = query.where(bangkok_day >= day_from)
    if day_to:
        query = query.where(bangkok_day <= day_to)
    if after:
        cursor = await session.get(Receipt, after)
        if cursor is None:
            raise NotFound("Unknown cursor.", code="receipt_not_found")
        query = query.where(after_key((Receipt.fiscal_year, Receipt.sequence), (cursor.fiscal_year, cursor.sequence)))
    query = query.order_by(Receipt.fiscal_year, Receipt.sequence).limit(limit)
    return list((await session.execute(query)).scalars())


async def void_receipt(
    session: AsyncSession,
    receipt_id: uuid.UUID,
    *,
    reason: str,
    staff_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
    to_credit: bool = False,
) -> Receipt:
    """Cancel a receipt (kept, marked void with the reason); its bill is open again
    (``payments.receipt_voided`` is published in the same transaction).

    The money received does not vanish with the receipt: with ``to_credit`` it is held as the
    payer's credit (ledger entry ``voided_receipt``, used by their next bill or refunded);
    otherwise its payment becomes an ``exception`` with a ``voided_receipt`` row in the exceptions
    queue (finance refunds it, credits it or resolves it with a note), and the daily report counts
    it there. The
    receipt's number is not reused: the sequence stays without gaps because the voided receipt is
    still there.
    """
    receipt = await get_receipt(session, receipt_id, for_update=True)
    taken = await session.get(Payment, receipt.payment_id)
    counter = taken is not None and taken.channel == "counter"
    if counter and staff_id is not None and taken is not None and (taken.raw or {}).get("cashier_id") == str(staff_id):
        raise VoidOwnReceipt()
    if receipt.status == "void":
        raise ReceiptAlreadyVoid(data={"voided_at": receipt.voided_at.isoformat() if receipt.voided_at else None})
    receipt.status = "void"
    receipt.void_reason = reason
    receipt.voided_at = dt.datetime.now(dt.UTC)
    receipt.voided_by = staff_id
    bill = (await session.execute(select(Bill).where(Bill.id == receipt.bill_id).with_for_update())).scalar_one()
    reopened = bill.status == "paid"
    if bill.status != "cancelled":
        bill.amount_paid = max(bill.amount_paid - receipt.amount, Decimal(0))
    if reopened:
        bill.status = "open"
        bill.paid_at = None
    payment = (
        await session.execute(select(Payment).where(Payment.id == receipt.payment_id).with_for_update())
    ).scalar_one()
    if to_credit:
        await credits.lock_payer(session, bill.payer_id)
        await credits.add_entry(
            session,
            payer_id=bill.payer_id,
            amount=receipt.amount,
            kind="voided_receipt",
            payment_id=payment.id,
            bill_id=bill.id,
            note=reason,
            approved_by=staff_id,
        )
    else:
        payment.status = "exception"
        session.add(PaymentException(payment_id=payment.id, kind="voided_receipt"))
    voided = ReceiptVoided(
        bill_id=bill.id,
        reference=bill.reference,
        source=bill.source,
        source_key=bill.source_key,
        receipt_id=receipt.id,
        receipt_number=receipt_label(receipt),
        amount=receipt.amount,
        reason=reason,
        voided_at=receipt.voided_at,
        bill_reopened=reopened,
    )
    await publish(session, RECEIPT_VOIDED, voided)
    await session.flush()
    registered = await _registered(session, receipt)
    if registered is not None:
        await documents.void(session, registered, reason=reason, at=receipt.voided_at)
    await record_audit(
        session,
        "payments.receipt_voided",
        actor=actor,
        origin=origin,
        target=str(receipt.id),
        data={
            "reason": reason,
            "receipt": receipt_label(receipt),
            "amount": str(receipt.amount),
            "money_to": "credit" if to_credit else "exceptions",
        },
    )
    return receipt


async def _registered(session: AsyncSession, receipt: Receipt) -> documents.IssuedDocument | None:
    """The receipt's entry in the register (None for a receipt issued before the register existed)."""
    try:
        return await documents.get_by_source(session, DOCUMENT_KIND, str(receipt.id))
    except documents.DocumentNotFound:
        return None


async def receipt_stamp(
    session: AsyncSession, receipt: Receipt, *, settings: Settings, tenant: TenantInfo
) -> documents.QrStamp | None:
    """The QR stamp of the receipt's verification page (None for a receipt older than the register)."""
    registered = await _registered(session, receipt)
    return None if registered is None else documents.qr_stamp(settings, tenant, registered)


async def count_reprint(session: AsyncSession, receipt_id: uuid.UUID, *, actor: Actor, origin: Origin) -> Receipt:
    """One more copy printed (audited): returns the receipt with its new reprint count."""
    receipt = await get_receipt(session, receipt_id, for_update=True)
    receipt.reprints += 1
    await session.flush()
    await record_audit(
        session,
        "payments.receipt_reprinted",
        actor=actor,
        origin=origin,
        target=str(receipt.id),
        data={"copy_no": receipt.reprints, "receipt": receipt_label(receipt)},
    )
    return receipt


def _address(payer: Payer) -> str | None:
    return address_line_th(
        ThaiAddress(
            house_no=payer.house_no,
            moo=payer.moo,
            soi=payer.soi,
            road=payer.road,
            subdistrict=payer.subdistrict,
            district=payer.district,
            province=payer.province,
            postal_code=payer.postal_code,
        )
    )


async def receipt_document(
    session: AsyncSession,
    receipt: Receipt,
    *,
    lao_name_th: str,
    copy_no: int | None = None,
    stamp: documents.QrStamp | None = None,
) -> ReceiptDocument:
    """What the PDF prints for ``receipt`` (a copy when ``copy_no`` is given).

    ``lao_name_th`` is the issuer with its type (:func:`issuer_name`); the address comes from the
    LAO's profile, the tax ID from the profile's ``extra.tax_id`` or else the Biller ID (whose first
    13 digits are the LAO's tax ID).
    """
    payment = await session.get(Payment, receipt.payment_id)
    bill = await session.get(Bill, receipt.bill_id)
    if payment is None or bill is None:  # pragma: no cover - foreign keys
        raise NotFound("The receipt's payment or bill is missing.", code="receipt_not_found")
    payer = await session.get(Payer, bill.payer_id)
    order = (BillItem.period.nulls_first(), BillItem.fee_code)
    items = (await session.execute(select(BillItem).where(BillItem.bill_id == bill.id).order_by(*order))).scalars()
    profile = await session.get(TenantProfile, 1)
    settings_row = await session.get(PaymentSettings, 1)
    tax_id = (profile.extra or {}).get("tax_id") if profile else None
    if not isinstance(tax_id, str) and settings_row is not None and settings_row.biller_id:
        tax_id = settings_row.biller_id[:13]
    return ReceiptDocument(
        lao_name_th=lao_name_th,
        lao_address_th=profile.address_th if profile else None,
        lao_tax_id=tax_id if isinstance(tax_id, str) else None,
        officer_name=receipt.officer_name,
        officer_position=receipt.officer_position,
        channel_th=channel_text(payment),
        fiscal_year=receipt.fiscal_year,
        book_no=receipt.book_no,
        receipt_no=receipt.receipt_no,
        issued_at=receipt.issued_at,
        paid_at=payment.paid_at,
        payer_name=receipt.payer_name,
        payer_address=_address(payer) if payer else None,
        lines=[
            ReceiptLine(
                description=i.description_th,
                amount=i.amount,
                period=i.period,
                quantity=i.quantity,
                unit_price=i.unit_price,
            )
            for i in items
        ],
        amount=receipt.amount,
        amount_text_th=receipt.amount_text_th,
        collector=receipt.collector,
        bill_reference=bill.reference,
        bank_txn_id=payment.bank_txn_id,
        void=receipt.status == "void",
        void_reason=receipt.void_reason,
        voided_at=receipt.voided_at,
        copy_no=copy_no,
        stamp=stamp,
    )


def bangkok_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(BANGKOK).date()
