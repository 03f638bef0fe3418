"""Counter payments (รับชำระที่เคาน์เตอร์): cash, cheque or transfer taken by a cashier, receipted at once.

Every counter payment belongs to the cashier's cash book of the Bangkok day (สมุดเงินสดประจำวัน),
which the cashier opens (with the change float in the drawer) and closes with the cash counted:
the book's totals by method are the remittance (นำส่งเงิน) to finance, and the difference between
counted and expected cash is recorded, never hidden. A closed book takes nothing more.

A payment pays one or several open bills of one payer or several, each in full (what is left of
it), one receipt per bill, in the request's transaction: the bills are locked in id order before
anything is decided, so two cashiers taking the same bill make one receipt and one 409.
Voids are for a supervisor (``payments.void``), never for the cashier who took the money.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, cast

import msgspec
from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import InvalidInput, parse_money
from localgov.services.payments import bank, receipts
from localgov.services.payments.models import Bill, CashBook, CashBookStatus, Payment, PaymentMethod, Receipt

Method = PaymentMethod
METHODS_TH: dict[str, str] = {"cash": "เงินสด", "cheque": "เช็ค", "transfer": "โอนเงิน"}
_ZERO = Decimal("0.00")


class CashBookNotOpen(Conflict):
    code = "cash_book_not_open"
    title = "Open today's cash book first"


class CashBookExists(Conflict):
    code = "cash_book_exists"
    title = "Today's cash book is already open or closed"


class CashBookClosed(Conflict):
    code = "cash_book_closed"
    title = "This cash book is closed"


class BillsNotPayable(Conflict):
    code = "bill_not_open"
    title = "A bill is not open"


class CashBookOpen(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Change money in the drawer at opening.
    opening_float: Decimal = Decimal("0.00")


class CounterPaymentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Bills paid at the counter, in full, by one method."""

    bill_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=50)]
    method: Method
    #: Cash handed over (cash only; at least the total): the change is given back.
    tendered: Decimal | None = None
    #: The cheque number and bank, or the transfer's reference (required for those methods).
    instrument_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


class CashBookClose(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The cash counted in the drawer, float included.
    counted_cash: Decimal
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class MethodTotal(msgspec.Struct):
    method: Method
    payments: int
    amount: Decimal


class CashBookRead(msgspec.Struct, kw_only=True):
    """A cash book with its totals: what was taken by method, and at closing the remittance."""

    id: uuid.UUID
    cashier_id: uuid.UUID
    cashier_name: str
    cashier_position: str | None
    day: dt.date
    status: CashBookStatus
    opening_float: Decimal
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    receipts: int
    void_receipts: int
    total: Decimal
    by_method: list[MethodTotal]
    #: Cash expected in the drawer (float + cash taken).
    expected_cash: Decimal
    counted_cash: Decimal | None
    remitted: Decimal | None
    difference: Decimal | None
    close_note: str | None


class CounterReceipt(msgspec.Struct, kw_only=True):
    bill_id: uuid.UUID
    bill_reference: str
    amount: Decimal
    receipt_id: uuid.UUID
    receipt: str


class CounterPaymentResult(msgspec.Struct, kw_only=True):
    cash_book_id: uuid.UUID
    method: Method
    total: Decimal
    change: Decimal
    receipts: list[CounterReceipt]


async def _cashier(session: AsyncSession, cashier_id: uuid.UUID) -> tuple[str, str | None]:
    ref = await org.staff_ref(session, cashier_id)
    if ref is None:
        return f"เจ้าหน้าที่ {str(cashier_id)[:8]}", None
    return ref.full_name, ref.position.title_th if ref.position else None


async def open_book(
    session: AsyncSession, cashier_id: uuid.UUID, data: CashBookOpen, *, actor: Actor, origin: Origin
) -> CashBook:
    """Open the caller's cash book for today (409 ``cash_book_exists`` if there is one)."""
    opening = parse_money(data.opening_float, "opening_float", allow_zero=True)
    name, position = await _cashier(session, cashier_id)
    day = bangkok_today()
    inserted = (
        await session.execute(
            insert(CashBook)
            .values(cashier_id=cashier_id, cashier_name=name, cashier_position=position, day=day, opening_float=opening)
            .on_conflict_do_nothing(index_elements=["cashier_id", "day"])
            .returning(CashBook.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise CashBookExists(data={"day": day.isoformat()})
    book = await session.get(CashBook, inserted)
    if book is None:  # pragma: no cover
        raise RuntimeError("cash book vanished")
    await record_audit(
        session,
        "payments.cash_book_opened",
        actor=actor,
        origin=origin,
        target=f"cash_book:{book.id}",
        data={"day": day.isoformat(), "opening_float": str(opening)},
    )
    return book


async def current_book(session: AsyncSession, cashier_id: uuid.UUID, *, for_update: bool = False) -> CashBook:
    query = select(CashBook).where(CashBook.cashier_id == cashier_id, CashBook.day == bangkok_today())
    if for_update:
        query = query.with_for_update()
    book = (await session.execute(query)).scalar_one_or_none()
    if book is None:
        raise CashBookNotOpen()
    return book


async def get_book(session: AsyncSession, book_id: uuid.UUID, *, for_update: bool = False) -> CashBook:
    query = select(CashBook).where(CashBook.id == book_id)
    if for_update:
        query = query.with_for_update()
    book = (await session.execute(query)).scalar_one_or_none()
    if book is None:
        raise NotFound("No such cash book.", code="cash_book_not_found")
    return book


async def pay(
    session: AsyncSession,
    cashier_id: uuid.UUID,
    data: CounterPaymentCreate,
    *,
    actor: Actor,
    origin: Origin,
) -> CounterPaymentResult:
    """Take one payment at the counter for ``data.bill_ids``, each paid in full, receipted at once."""
    if data.method != "cash" and not data.instrument_ref:
        raise InvalidInput("instrument_ref", "the cheque or transfer number is required")
    if data.method != "cash" and data.tendered is not None:
        raise InvalidInput("tendered", "only for cash")
    ids = sorted(set(data.bill_ids))
    if len(ids) != len(data.bill_ids):
        raise InvalidInput("bill_ids", "a bill is listed twice")
    # The book first (shared lock: several payments of one cashier run side by side; closing
    # takes it exclusively), then the bills in id order.
    book = (
        await session.execute(
            select(CashBook)
            .where(CashBook.cashier_id == cashier_id, CashBook.day == bangkok_today())
            .with_for_update(read=True)
        )
    ).scalar_one_or_none()
    if book is None:
        raise CashBookNotOpen()
    if book.status != "open":
        raise CashBookClosed(data={"cash_book_id": str(book.id)})
    bills = list(
        (await session.execute(select(Bill).where(Bill.id.in_(ids)).order_by(Bill.id).with_for_update())).scalars()
    )
    if len(bills) != len(ids):
        raise NotFound("No such bill.", code="bill_not_found")
    closed = [b.reference for b in bills if b.status != "open"]
    if closed:
        raise BillsNotPayable("These bills are not open.", data={"references": closed})
    total = sum((b.total - b.amount_paid for b in bills), _ZERO)
    change = _ZERO
    if data.method == "cash" and data.tendered is not None:
        tendered = parse_money(data.tendered, "tendered")
        if tendered < total:
            raise InvalidInput("tendered", f"less than the total {total}", code="invalid_amount")
        change = tendered - total
    settings = await bank.settings_row(session)
    officer = (book.cashier_name, book.cashier_position)
    collector = f"รับชำระที่เคาน์เตอร์ ({METHODS_TH[data.method]})"
    out: list[CounterReceipt] = []
    now = dt.datetime.now(dt.UTC)
    for bill in bills:
        due = bill.total - bill.amount_paid
        payment = Payment(
            bank_txn_id=f"COUNTER-{uuid.uuid4().hex[:20].upper()}",
            channel="counter",
            bill_id=bill.id,
            biller_id=(settings.biller_id if settings and settings.biller_id else "0" * 15),
            ref1=bill.reference,
            amount=due,
            paid_at=now,
            status="matched",
            raw={"counter": True, "cashier_id": str(cashier_id)},
            cash_book_id=book.id,
            method=data.method,
            instrument_ref=data.instrument_ref,
        )
        session.add(payment)
        await session.flush()
        receipt = await bank.settle(
            session,
            bill,
            payment,
            due,
            collector=collector,
            book_size=settings.receipt_book_size if settings else receipts.DEFAULT_BOOK_SIZE,
            officer=officer,
        )
        out.append(
            CounterReceipt(
                bill_id=bill.id,
                bill_reference=bill.reference,
                amount=due,
                receipt_id=receipt.id,
                receipt=receipts.receipt_label(receipt),
            )
        )
    await record_audit(
        session,
        "payments.counter_payment",
        actor=actor,
        origin=origin,
        target=f"cash_book:{book.id}",
        data={"method": data.method, "total": str(total), "receipts": [r.receipt for r in out]},
    )
    return CounterPaymentResult(cash_book_id=book.id, method=data.method, total=total, change=change, receipts=out)


async def book_read(session: AsyncSession, book: CashBook) -> CashBookRead:
    rows = (
        await session.execute(
            select(Payment.method, Receipt.status, func.count(), func.coalesce(func.sum(Payment.amount), 0))
            .join(Receipt, Receipt.payment_id == Payment.id)
            .where(Payment.cash_book_id == book.id)
            .group_by(Payment.method, Receipt.status)
        )
    ).all()
    by_method: dict[str, MethodTotal] = {}
    issued = voided = 0
    for method, status, count, amount in rows:
        if status == "void":
            voided += count
        else:
            issued += count
        # The money was taken either way: a voided receipt's cash is still in the drawer until
        # it is given back or credited (the void's money goes to the exceptions or the credit).
        # A counter payment always has its method (the book's payments are counter payments).
        entry = by_method.setdefault(str(method), MethodTotal(method=cast(Method, method), payments=0, amount=_ZERO))
        entry.payments += count
        entry.amount += Decimal(amount)
    totals = sorted(by_method.values(), key=lambda m: m.method)
    cash = by_method["cash"].amount if "cash" in by_method else _ZERO
    return CashBookRead(
        id=book.id,
        cashier_id=book.cashier_id,
        cashier_name=book.cashier_name,
        cashier_position=book.cashier_position,
        day=book.day,
        status=book.status,
        opening_float=book.opening_float,
        opened_at=book.opened_at,
        closed_at=book.closed_at,
        receipts=issued,
        void_receipts=voided,
        total=sum((m.amount for m in totals), _ZERO),
        by_method=totals,
        expected_cash=book.opening_float + cash,
        counted_cash=book.counted_cash,
        remitted=book.remitted,
        difference=book.difference,
        close_note=book.close_note,
    )


async def close_book(
    session: AsyncSession,
    book_id: uuid.UUID,
    cashier_id: uuid.UUID,
    data: CashBookClose,
    *,
    actor: Actor,
    origin: Origin,
) -> CashBookRead:
    """Close the cashier's own book: counted cash recorded, remittance = everything taken (cash,
    cheques, transfers), difference = counted − expected cash. Waits for payments in flight."""
    book = await get_book(session, book_id, for_update=True)
    if book.cashier_id != cashier_id:
        raise NotFound("No such cash book.", code="cash_book_not_found")
    if book.status != "open":
        raise CashBookClosed(data={"cash_book_id": str(book.id)})
    counted = parse_money(data.counted_cash, "counted_cash", allow_zero=True)
    read = await book_read(session, book)
    book.status = "closed"
    book.closed_at = dt.datetime.now(dt.UTC)
    book.counted_cash = counted
    book.remitted = read.total
    book.difference = counted - read.expected_cash
    book.close_note = data.note.strip() if data.note else None
    await session.flush()
    await record_audit(
        session,
        "payments.cash_book_closed",
        actor=actor,
        origin=origin,
        target=f"cash_book:{book.id}",
        data={"remitted": str(book.remitted), "counted_cash": str(counted), "difference": str(book.difference)},
    )
    return await book_read(session, book)


async def list_books(
    session: AsyncSession, day: dt.date | None, limit: int, after: tuple[dt.date, str, uuid.UUID] | None = None
) -> list[CashBook]:
    """Newest day first, then cashier and id; ``after`` = the last book's (day, cashier_name, id)."""
    query = select(CashBook).order_by(CashBook.day.desc(), CashBook.cashier_name, CashBook.id).limit(limit)
    if after is not None:
        query = query.where(
            or_(
                CashBook.day < after[0],
                and_(CashBook.day == after[0], tuple_(CashBook.cashier_name, CashBook.id) > tuple_(after[1], after[2])),
            )
        )
    if day is not None:
        query = query.where(CashBook.day == day)
    return list((await session.execute(query)).scalars())
