"""Reports for finance staff: the daily collection report and CSV exports for e-LAAS.

Days are Bangkok days (UTC+7) of the **payment**: a receipt is dated the day its money was paid
(a statement processed on 2 October still reports 30 September's payments on 30 September), and
exceptions, including the money of voided bank-paid receipts, count on the day they were paid.

The CSV files are UTF-8 with a byte-order mark (so spreadsheet programs read the Thai), one
header row whose names are Thai with the English column name in parentheses, ``,`` separators,
amounts with two decimals and no thousands separator, dates ISO ``YYYY-MM-DD`` plus a
Buddhist-Era ``DD/MM/YYYY`` column. Text that a spreadsheet would run as a formula (a payer's
name starting with ``=`` …) is written with a leading apostrophe (:mod:`localgov.kernel.csv`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

import msgspec
from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.csv import write_csv
from localgov.kernel.errors import DomainError
from localgov.kernel.thai import BANGKOK, be_year
from localgov.services.payments.models import Bill, BillItem, PayerCredit, Payment, PaymentException, Receipt

#: The longest range of one CSV export (a month is the accounting cycle).
MAX_EXPORT_DAYS = 31
MAX_REPORT_DAYS = 366
_ZERO = Decimal("0.00")
#: Money into a payer's credit (positive) or out of it (used, refunded); no bound parameter, so the
#: GROUP BY repeats the very same expression.
_INCOMING = PayerCredit.amount > literal_column("0")

#: Columns of ``payments.csv``: (English name, Thai header).
PAYMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("received_date", "วันที่รับข้อมูล"),
    ("received_date_be", "วันที่รับข้อมูล พ.ศ."),
    ("paid_at", "วันเวลาที่ชำระ"),
    ("bank_txn_id", "เลขที่รายการธนาคาร"),
    ("channel", "ช่องทาง"),
    ("biller_id", "รหัสผู้รับชำระ"),
    ("ref1", "เลขอ้างอิง 1"),
    ("ref2", "เลขอ้างอิง 2"),
    ("amount", "จำนวนเงิน"),
    ("status", "สถานะ"),
    ("exception_kind", "ประเภทรายการผิดปกติ"),
    ("exception_status", "สถานะรายการผิดปกติ"),
    ("bill_reference", "เลขที่ใบแจ้งหนี้"),
    ("receipt_fiscal_year", "ปีงบประมาณใบเสร็จ"),
    ("receipt_book_no", "เล่มที่ใบเสร็จ"),
    ("receipt_no", "เลขที่ใบเสร็จ"),
)
#: Columns of ``receipts.csv``: one row per line of a receipt (income by fee code).
RECEIPT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fiscal_year", "ปีงบประมาณ"),
    ("book_no", "เล่มที่"),
    ("receipt_no", "เลขที่"),
    ("issued_date", "วันที่ออกใบเสร็จ"),
    ("issued_date_be", "วันที่ออกใบเสร็จ พ.ศ."),
    ("status", "สถานะ"),
    ("payer_name", "ผู้ชำระเงิน"),
    ("bill_reference", "เลขที่ใบแจ้งหนี้"),
    ("line_no", "ลำดับรายการ"),
    ("fee_code", "รหัสรายได้"),
    ("description", "รายการ"),
    ("period", "งวด"),
    ("line_amount", "จำนวนเงินรายการ"),
    ("receipt_amount", "จำนวนเงินรวมใบเสร็จ"),
    ("amount_text_th", "จำนวนเงินตัวอักษร"),
    ("bank_txn_id", "เลขที่รายการธนาคาร"),
    ("collector", "ผู้รับเงิน"),
    ("void_reason", "เหตุผลการยกเลิก"),
)


class InvalidRange(DomainError):
    """A range that ends before it starts or is too long: two parameters that are each valid (422, as
    OSS reports' ``invalid_range``; no JSON Schema states a rule between two parameters)."""

    code = "invalid_date_range"
    status = 422
    title = "The date range is not valid"


class FeeTotal(msgspec.Struct):
    fee_code: str
    amount: Decimal


class DayCollection(msgspec.Struct, kw_only=True):
    """One Bangkok day: what was receipted (by fee code), cancelled, and left in exceptions."""

    day: dt.date
    receipts: int
    amount: Decimal
    void_receipts: int
    void_amount: Decimal
    exceptions: int
    exception_amount: Decimal
    by_fee: list[FeeTotal]
    #: Money put into payers' credit that day (over payments' surplus, voided receipts' money,
    #: exceptions applied), and credit used on bills or refunded that day.
    credited_amount: Decimal = _ZERO
    credit_used_amount: Decimal = _ZERO


class CollectionReport(msgspec.Struct, kw_only=True):
    """The daily collection report (รายงานการรับเงินประจำวัน)."""

    day_from: dt.date
    day_to: dt.date
    receipts: int
    amount: Decimal
    void_receipts: int
    void_amount: Decimal
    exceptions: int
    exception_amount: Decimal
    days: list[DayCollection]
    credited_amount: Decimal = _ZERO
    credit_used_amount: Decimal = _ZERO


def check_range(day_from: dt.date, day_to: dt.date, max_days: int) -> None:
    if day_to < day_from:
        raise InvalidRange("date_to is before date_from.")
    if (day_to - day_from).days + 1 > max_days:
        raise InvalidRange(f"At most {max_days} days at once.", data={"max_days": max_days})


async def daily_collection(session: AsyncSession, day_from: dt.date, day_to: dt.date) -> CollectionReport:
    """Totals per Bangkok day between two days (inclusive); days with nothing are listed as zero."""
    check_range(day_from, day_to, MAX_REPORT_DAYS)
    issued_day = func.date(func.timezone("Asia/Bangkok", Receipt.issued_at)).label("day")
    receipt_rows = (
        await session.execute(
            select(issued_day, Receipt.status, func.count(), func.coalesce(func.sum(Receipt.amount), 0))
            .where(issued_day.between(day_from, day_to))
            .group_by(issued_day, Receipt.status)
        )
    ).all()
    fee_rows = (
        await session.execute(
            select(issued_day, BillItem.fee_code, func.sum(BillItem.amount))
            .join(BillItem, BillItem.bill_id == Receipt.bill_id)
            .where(issued_day.between(day_from, day_to), Receipt.status == "issued")
            .group_by(issued_day, BillItem.fee_code)
            .order_by(BillItem.fee_code)
        )
    ).all()
    paid_day = func.date(func.timezone("Asia/Bangkok", Payment.paid_at)).label("day")
    exception_rows = (
        await session.execute(
            select(paid_day, func.count(), func.coalesce(func.sum(Payment.amount), 0))
            .join(PaymentException, PaymentException.payment_id == Payment.id)
            .where(paid_day.between(day_from, day_to))
            .group_by(paid_day)
        )
    ).all()
    credit_day = func.date(func.timezone("Asia/Bangkok", PayerCredit.created_at)).label("day")
    credit_rows = (
        await session.execute(
            select(credit_day, _INCOMING, func.sum(PayerCredit.amount))
            .where(credit_day.between(day_from, day_to))
            .group_by(credit_day, _INCOMING)
        )
    ).all()
    days: dict[dt.date, DayCollection] = {}
    day = day_from
    while day <= day_to:
        days[day] = DayCollection(
            day=day,
            receipts=0,
            amount=_ZERO,
            void_receipts=0,
            void_amount=_ZERO,
            exceptions=0,
            exception_amount=_ZERO,
            by_fee=[],
        )
        day += dt.timedelta(days=1)
    for day, status, count, amount in receipt_rows:
        if status == "void":
            days[day].void_receipts, days[day].void_amount = count, Decimal(amount)
        else:
            days[day].receipts, days[day].amount = count, Decimal(amount)
    for day, fee_code, amount in fee_rows:
        days[day].by_fee.append(FeeTotal(fee_code=fee_code, amount=Decimal(amount)))
    for day, count, amount in exception_rows:
        days[day].exceptions, days[day].exception_amount = count, Decimal(amount)
    for day, incoming, amount in credit_rows:
        if incoming:
            days[day].credited_amount = Decimal(amount)
        else:
            days[day].credit_used_amount = -Decimal(amount)
    items = list(days.values())
    return CollectionReport(
        day_from=day_from,
        day_to=day_to,
        receipts=sum(d.receipts for d in items),
        amount=sum((d.amount for d in items), _ZERO),
        void_receipts=sum(d.void_receipts for d in items),
        void_amount=sum((d.void_amount for d in items), _ZERO),
        exceptions=sum(d.exceptions for d in items),
        exception_amount=sum((d.exception_amount for d in items), _ZERO),
        days=items,
        credited_amount=sum((d.credited_amount for d in items), _ZERO),
        credit_used_amount=sum((d.credit_used_amount for d in items), _ZERO),
    )


def _csv(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[object]]) -> bytes:
    """The platform's CSV writer: BOM, CRLF, formula cells neutralised (amounts stay numbers)."""
    return write_csv([f"{thai} ({english})" for english, thai in columns], rows, bom=True)


def _be(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{be_year(day)}"


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(BANGKOK)


async def payments_csv(session: AsyncSession, day_from: dt.date, day_to: dt.date) -> bytes:
    """Every payment paid in the range (Bangkok days of ``paid_at``), with its exception or receipt."""
    check_range(day_from, day_to, MAX_EXPORT_DAYS)
    paid_day = func.date(func.timezone("Asia/Bangkok", Payment.paid_at))
    result = await session.execute(
        select(Payment, PaymentException, Receipt, Bill.reference)
        .outerjoin(PaymentException, PaymentException.payment_id == Payment.id)
        .outerjoin(Receipt, Receipt.payment_id == Payment.id)
        .outerjoin(Bill, Bill.id == Payment.bill_id)
        .where(paid_day.between(day_from, day_to))
        .order_by(Payment.paid_at, Payment.id)
    )
    rows = []
    for payment, exception, receipt, reference in result.all():
        received = _local(payment.received_at)
        rows.append(
            (
                received.date().isoformat(),
                _be(received.date()),
                _local(payment.paid_at).isoformat(timespec="seconds"),
                payment.bank_txn_id,
                payment.channel,
                payment.biller_id,
                payment.ref1,
                payment.ref2,
                f"{payment.amount:.2f}",
                payment.status,
                exception.kind if exception else None,
                exception.status if exception else None,
                reference,
                receipt.fiscal_year if receipt else None,
                receipt.book_no if receipt else None,
                receipt.receipt_no if receipt else None,
            )
        )
    return _csv(PAYMENT_COLUMNS, rows)


async def receipts_csv(session: AsyncSession, day_from: dt.date, day_to: dt.date) -> bytes:
    """Every receipt issued in the range, one row per line, in number order (void ones included)."""
    check_range(day_from, day_to, MAX_EXPORT_DAYS)
    issued_day = func.date(func.timezone("Asia/Bangkok", Receipt.issued_at))
    result = await session.execute(
        select(Receipt, Bill.reference, Payment.bank_txn_id, BillItem)
        .join(Bill, Bill.id == Receipt.bill_id)
        .join(Payment, Payment.id == Receipt.payment_id)
        .join(BillItem, BillItem.bill_id == Receipt.bill_id)
        .where(issued_day.between(day_from, day_to))
        .order_by(Receipt.fiscal_year, Receipt.sequence, BillItem.period.nulls_first(), BillItem.fee_code)
    )
    rows = []
    line_no = 0
    previous: object = None
    for receipt, reference, txn, item in result.all():
        line_no = line_no + 1 if receipt.id == previous else 1
        previous = receipt.id
        issued = _local(receipt.issued_at).date()
        rows.append(
            (
                receipt.fiscal_year,
                receipt.book_no,
                receipt.receipt_no,
                issued.isoformat(),
                _be(issued),
                receipt.status,
                receipt.payer_name,
                reference,
                line_no,
                item.fee_code,
                item.description_th,
                item.period,
                f"{item.amount:.2f}",
                f"{receipt.amount:.2f}",
                receipt.amount_text_th,
                txn,
                receipt.collector,
                receipt.void_reason,
            )
        )
    return _csv(RECEIPT_COLUMNS, rows)
