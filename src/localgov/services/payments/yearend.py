"""The year-end close of the debtor register (ปิดบัญชีลูกหนี้สิ้นปีงบประมาณ) and its carry forward (ยอดยกมา).

The debtor register of a fiscal year (:func:`localgov.services.payments.bills.debtor_register`)
always shows what earlier years still owe *now*. Accounting also needs the opening balance of the
new year as it stood on 30 September, kept once and never recomputed: finance closes the year that
ended (``POST /v1/payments/debtors/year-end-close``) and every bill issued on or before that
30 September and not settled by then (cancelled after it, or paid in part or not at all by the
receipts dated up to it) is carried into the next year with what was left of it that day. The
close is audited (``payments.year_end_closed``) and happens once per year: again (or two at once)
it answers the first close and carries nothing twice (the year's row is the lock).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from sqlalchemy import ColumnElement, String, and_, case, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict
from localgov.kernel.thai import bangkok_today
from localgov.services.payments.bills import fiscal_year_bounds
from localgov.services.payments.models import Bill, CarriedForward, Payer, Receipt, YearEndClose

FiscalYear = Annotated[str, msgspec.Meta(pattern=r"^25[0-9]{2}$", description="BE fiscal year, e.g. 2569")]


class YearEndCloseCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The year that ended (its last day, 30 September, is in the past).
    fiscal_year: FiscalYear


class YearEndCloseRead(msgspec.Struct, kw_only=True):
    fiscal_year: str
    #: The year whose register opens with what was carried.
    carried_into: str
    closed_at: dt.datetime
    closed_by: str | None
    bills: int
    amount: Decimal
    #: True when the year was closed before (this call changed nothing).
    already_closed: bool


class FiscalYearNotEnded(Conflict):
    code = "fiscal_year_not_ended"
    title = "ปีงบประมาณนี้ยังไม่สิ้นสุด / The fiscal year has not ended yet"


def _bangkok_day(column: Any) -> ColumnElement[dt.date]:
    return func.date(func.timezone("Asia/Bangkok", column))


def _remainder_at(end: dt.date) -> ColumnElement[Decimal]:
    """What was left of a bill on ``end``: its total less its receipts dated up to that day."""
    paid = (
        select(func.coalesce(func.sum(Receipt.amount), 0))
        .where(Receipt.bill_id == Bill.id, Receipt.status == "issued", _bangkok_day(Receipt.issued_at) <= end)
        .scalar_subquery()
    )
    return Bill.total - paid


def _read(row: YearEndClose, *, already: bool) -> YearEndCloseRead:
    return YearEndCloseRead(
        fiscal_year=row.fiscal_year,
        carried_into=str(int(row.fiscal_year) + 1),
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        bills=row.bills,
        amount=row.amount,
        already_closed=already,
    )


async def close_year(
    session: AsyncSession, fiscal_year: str, *, actor: Actor, origin: Origin, today: dt.date | None = None
) -> YearEndCloseRead:
    """Close ``fiscal_year`` (409 ``fiscal_year_not_ended`` before 1 October after it): carry each
    bill still owed on its last day into the next year, once."""
    start, end = fiscal_year_bounds(fiscal_year)
    day = today or bangkok_today()
    if day <= end:
        raise FiscalYearNotEnded(data={"fiscal_year": fiscal_year, "ends_on": end.isoformat()})
    claimed = (
        await session.execute(
            insert(YearEndClose)
            .values(fiscal_year=fiscal_year, closed_by=actor.id, bills=0, amount=Decimal("0.00"))
            .on_conflict_do_nothing(index_elements=["fiscal_year"])
            .returning(YearEndClose.fiscal_year)
        )
    ).scalar_one_or_none()
    if claimed is None:  # closed before (or by a concurrent call, which has committed by now)
        existing = await session.get(YearEndClose, fiscal_year)
        if existing is None:  # pragma: no cover - the conflicting row is committed
            raise RuntimeError("year-end close conflicted but cannot be read")
        return _read(existing, already=True)
    remainder = _remainder_at(end)
    owed = and_(
        Bill.issue_date <= end,
        or_(Bill.status != "cancelled", _bangkok_day(Bill.cancelled_at) > end),
        remainder > 0,
    )
    await session.execute(
        insert(CarriedForward).from_select(
            ["fiscal_year", "bill_id", "payer_id", "amount"],
            select(literal(fiscal_year, String), Bill.id, Bill.payer_id, remainder).where(owed),
        )
    )
    bills, amount = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(CarriedForward.amount), 0)).where(
                CarriedForward.fiscal_year == fiscal_year
            )
        )
    ).one()
    row = await session.get(YearEndClose, fiscal_year)
    if row is None:  # pragma: no cover - inserted above
        raise RuntimeError("year-end close vanished")
    row.bills, row.amount = int(bills), Decimal(amount)
    await session.flush()
    await session.refresh(row)
    await record_audit(
        session,
        "payments.year_end_closed",
        actor=actor,
        origin=origin,
        target=f"fiscal_year:{fiscal_year}",
        data={
            "bills": row.bills,
            "amount": str(row.amount),
            "carried_into": str(int(fiscal_year) + 1),
            "year_from": start.isoformat(),
            "year_to": end.isoformat(),
        },
    )
    return _read(row, already=False)


class CarriedRow(msgspec.Struct, kw_only=True):
    payer_id: uuid.UUID
    name: str
    bills: int
    #: What was owed on the closed year's last day.
    amount_at_close: Decimal
    #: What is still owed of those bills today.
    still_due: Decimal


class CarriedForwardRead(msgspec.Struct, kw_only=True):
    """The opening balance (ยอดยกมา) of a fiscal year's register, by payer."""

    fiscal_year: str
    #: The close of the year before (null: not closed yet, nothing carried).
    close: YearEndCloseRead | None
    still_due: Decimal
    payers: list[CarriedRow]


async def carried_forward(session: AsyncSession, fiscal_year: str, *, limit: int) -> CarriedForwardRead:
    """What the close of the year before ``fiscal_year`` carried into it, and what is still due of it."""
    closed_year = str(int(fiscal_year) - 1)
    row = await session.get(YearEndClose, closed_year)
    if row is None:
        return CarriedForwardRead(fiscal_year=fiscal_year, close=None, still_due=Decimal("0.00"), payers=[])
    due_now = case((Bill.status == "open", Bill.total - Bill.amount_paid), else_=0)
    base = (
        select(CarriedForward.payer_id)
        .join(Bill, Bill.id == CarriedForward.bill_id)
        .where(CarriedForward.fiscal_year == closed_year)
    )
    total_due = await session.scalar(
        select(func.coalesce(func.sum(due_now), 0))
        .select_from(CarriedForward)
        .join(Bill, Bill.id == CarriedForward.bill_id)
        .where(CarriedForward.fiscal_year == closed_year)
    )
    rows = (
        await session.execute(
            base.add_columns(
                Payer.name, func.count(), func.sum(CarriedForward.amount), func.coalesce(func.sum(due_now), 0)
            )
            .join(Payer, Payer.id == CarriedForward.payer_id)
            .group_by(CarriedForward.payer_id, Payer.name)
            .order_by(func.sum(CarriedForward.amount).desc(), Payer.name, CarriedForward.payer_id)
            .limit(limit)
        )
    ).all()
    return CarriedForwardRead(
        fiscal_year=fiscal_year,
        close=_read(row, already=True),
        still_due=Decimal(total_due or 0),
        payers=[
            CarriedRow(payer_id=p, name=n, bills=int(c), amount_at_close=Decimal(a), still_due=Decimal(d))
            for p, n, c, a, d in rows
        ],
    )
