"""Revenue codes (รหัสบัญชีรายได้) of the LAO's e-LAAS chart, by fee code, and the remittance by code.

Every bill line has a fee code (``garbage.collection``, ``permits.permit_fee``, ``food.annual_fee``
…). The LAO maps fee codes, or their dotted prefixes (``garbage`` covers ``garbage.collection``),
to its revenue codes; the longest prefix wins. The platform seeds the fees it knows with their
Thai names and, where the e-LAAS revenue chart published by the DLA gives one, the code (ค่าธรรมเนียม
เก็บขนขยะมูลฝอย 41210008, ค่าธรรมเนียมเกี่ยวกับการควบคุมอาคาร 41210007: *verify against the chart
the LAO uses*); the others start without a code and are reported as unassigned until finance sets
one.

The remittance (ใบนำส่งเงิน) of a day is every receipt dated that day (the payment's day), split by
revenue code: a receipt that paid a whole bill counts its lines; one that paid part of a bill
(a partial payment, a credit) is shared among the lines in proportion, to the satang.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal
from typing import Annotated

import msgspec
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.csv import write_csv
from localgov.kernel.errors import NotFound
from localgov.kernel.pagination import cut_page
from localgov.kernel.thai import be_year
from localgov.services.payments.models import Bill, BillItem, Receipt, RevenueCode

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")

#: (fee code prefix, Thai name, e-LAAS revenue code or None: to be set by the LAO).
DEFAULT_CODES: tuple[tuple[str, str, str | None], ...] = (
    ("garbage", "ค่าธรรมเนียมเก็บขนขยะมูลฝอย", "41210008"),
    ("permits", "ค่าธรรมเนียมเกี่ยวกับการควบคุมอาคาร", "41210007"),
    ("wastewater", "ค่าธรรมเนียมบำบัดน้ำเสีย", None),
    ("food", "ค่าธรรมเนียมใบอนุญาตจัดตั้งสถานที่จำหน่ายอาหารหรือสะสมอาหาร", None),
    ("late_surcharge", "เงินเพิ่มกรณีชำระค่าธรรมเนียมล่าช้า", None),
    ("market_stall", "ค่าธรรมเนียมแผงตลาด", None),
)
UNASSIGNED = "unassigned"


class RevenueCodeSet(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The e-LAAS revenue code (8 digits), or null to leave the fee unassigned.
    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{8}$")] | None
    name_th: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class RevenueCodeRead(msgspec.Struct, kw_only=True):
    prefix: str
    code: str | None
    name_th: str
    updated_at: dt.datetime


class RevenueCodePage(msgspec.Struct, kw_only=True):
    items: list[RevenueCodeRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


async def seed(session: AsyncSession) -> None:
    """The fees the platform knows (idempotent: rows the LAO edited are kept)."""
    await session.execute(
        insert(RevenueCode)
        .values([{"prefix": p, "name_th": n, "code": c} for p, n, c in DEFAULT_CODES])
        .on_conflict_do_nothing(index_elements=["prefix"])
    )


def _read(row: RevenueCode) -> RevenueCodeRead:
    return RevenueCodeRead(prefix=row.prefix, code=row.code, name_th=row.name_th, updated_at=row.updated_at)


async def list_codes(session: AsyncSession, *, after: str | None, limit: int) -> RevenueCodePage:
    """By prefix (the primary key); ``after``: the prefix of the last code of the previous page."""
    query = select(RevenueCode).order_by(RevenueCode.prefix).limit(limit + 1)
    if after is not None:
        query = query.where(RevenueCode.prefix > after)
    rows = list((await session.execute(query)).scalars())
    page, next_cursor = cut_page(rows, limit, key=lambda r: (r.prefix,))
    return RevenueCodePage(items=[_read(r) for r in page], next_cursor=next_cursor)


async def set_code(
    session: AsyncSession, prefix: str, data: RevenueCodeSet, *, actor: Actor, origin: Origin
) -> RevenueCodeRead:
    """Set (or add) the revenue code of a fee code prefix; audited with the previous value."""
    previous = await session.get(RevenueCode, prefix, with_for_update=True)
    before = previous.code if previous else None
    stmt = insert(RevenueCode).values(prefix=prefix, code=data.code, name_th=data.name_th.strip())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["prefix"],
            set_={"code": stmt.excluded.code, "name_th": stmt.excluded.name_th, "updated_at": func.now()},
        )
    )
    row = await session.get(RevenueCode, prefix, populate_existing=True)
    if row is None:  # pragma: no cover
        raise NotFound("No such revenue code.", code="revenue_code_not_found")
    await record_audit(
        session,
        "payments.revenue_code_set",
        actor=actor,
        origin=origin,
        target=f"revenue_code:{prefix}",
        data={"code": data.code, "previous": before, "name_th": row.name_th},
    )
    return _read(row)


def resolve(fee_code: str, table: dict[str, RevenueCode]) -> RevenueCode | None:
    """The entry of the longest dotted prefix of ``fee_code`` (``a.b.c`` → ``a.b.c``, ``a.b``, ``a``)."""
    parts = fee_code.split(".")
    for n in range(len(parts), 0, -1):
        found = table.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def share(amount: Decimal, lines: list[Decimal]) -> list[Decimal]:
    """``amount`` shared among ``lines`` in proportion, to the satang; the last line takes the rest."""
    total = sum(lines, _ZERO)
    if amount == total or total == 0:
        return list(lines)
    out = [(amount * line / total).quantize(_CENT, rounding=ROUND_DOWN) for line in lines[:-1]]
    return [*out, amount - sum(out, _ZERO)]


class RevenueTotal(msgspec.Struct, kw_only=True):
    revenue_code: str
    name_th: str
    receipts: int
    amount: Decimal


class Remittance(msgspec.Struct, kw_only=True):
    """The remittance slip (ใบนำส่งเงิน) of a Bangkok day by revenue code: receipts dated that day."""

    day: dt.date
    day_be: str
    receipts: int
    amount: Decimal
    by_revenue_code: list[RevenueTotal]


async def remittance(session: AsyncSession, day: dt.date) -> Remittance:
    issued_day = func.date(func.timezone("Asia/Bangkok", Receipt.issued_at))
    rows = (
        await session.execute(
            select(Receipt.id, Receipt.amount, Bill.total, BillItem.fee_code, BillItem.amount)
            .join(Bill, Bill.id == Receipt.bill_id)
            .join(BillItem, BillItem.bill_id == Receipt.bill_id)
            .where(issued_day == day, Receipt.status == "issued")
            .order_by(Receipt.id, BillItem.fee_code, BillItem.id)
        )
    ).all()
    table = {r.prefix: r for r in (await session.execute(select(RevenueCode))).scalars()}
    by_receipt: dict[uuid.UUID, tuple[Decimal, list[tuple[str, Decimal]]]] = {}
    for receipt_id, amount, _total, fee_code, line_amount in rows:
        by_receipt.setdefault(receipt_id, (amount, []))[1].append((fee_code, line_amount))
    amounts: dict[str, Decimal] = defaultdict(lambda: _ZERO)
    counted: dict[str, set[uuid.UUID]] = defaultdict(set)
    names: dict[str, str] = {}
    for receipt_id, (amount, lines) in by_receipt.items():
        for (fee_code, _), part in zip(lines, share(amount, [a for _, a in lines]), strict=True):
            entry = resolve(fee_code, table)
            key = entry.code if entry is not None and entry.code else UNASSIGNED
            names.setdefault(key, entry.name_th if entry is not None and entry.code else "ยังไม่กำหนดรหัสบัญชีรายได้")
            amounts[key] += part
            counted[key].add(receipt_id)
    totals = [
        RevenueTotal(revenue_code=k, name_th=names[k], receipts=len(counted[k]), amount=amounts[k])
        for k in sorted(amounts)
    ]
    return Remittance(
        day=day,
        day_be=f"{day.day:02d}/{day.month:02d}/{be_year(day)}",
        receipts=len(by_receipt),
        amount=sum((a for a, _ in by_receipt.values()), _ZERO),
        by_revenue_code=totals,
    )


#: Columns of ``remittance.csv`` (for e-LAAS entry): (English name, Thai header).
REMITTANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("day", "วันที่"),
    ("day_be", "วันที่ พ.ศ."),
    ("revenue_code", "รหัสบัญชีรายได้"),
    ("name_th", "ประเภทรายได้"),
    ("receipts", "จำนวนใบเสร็จ"),
    ("amount", "จำนวนเงิน"),
)


def remittance_csv(slips: list[Remittance]) -> bytes:
    rows = [
        (s.day.isoformat(), s.day_be, t.revenue_code, t.name_th, t.receipts, f"{t.amount:.2f}")
        for s in slips
        for t in s.by_revenue_code
    ]
    return write_csv([f"{thai} ({english})" for english, thai in REMITTANCE_COLUMNS], rows, bom=True)
