"""A backdated tariff with the re-billing of the months it reprices, in one audited call
(``POST /v1/payments/tariffs/rebill``, finance).

An ordinance published late sets prices from a month already billed. ``POST /tariffs`` refuses such
a version while bills of those months exist (``tariff_rebill_required``); this is the explicit path
the issue allows. In one transaction, under the fee type's billing lock (a bill run of the fee waits):

* the version is added (audited ``payments.tariff_backdated`` with its reason);
* every month from its start whose price it now sets is *touched*; each bill run's bill of such a
  month (uncancelled, including an earlier re-billing's) is locked (in id order, so a bank payment
  arriving meanwhile waits and then finds the bill as this call left it) and priced again with the
  account as it is now:

  - **open and nothing paid**: cancelled (audited, ``payments.bill_cancelled``) and re-issued at the
    new price (``source_key = rebill:<tariff>:<account>:<month>``; the monthly run never remakes it);
  - **paid, or paid in part**: left as it is (its receipts stand); the payer gets a **difference
    bill** for a higher price (``rebill-diff:<tariff>:<bill>``) or the difference as **credit**
    (ledger kind ``rebill``) for a lower one;
  - the same price: left alone.

Refused, with nothing changed: 422 ``tariff_not_backdated`` (the version starts today or later: use
``POST /tariffs``), 409 ``period_closed`` (a touched month is in a fiscal year whose debtors were
closed, :mod:`localgov.services.payments.yearend`), 409 ``tariff_rebill_advance_bills`` (advance bills
cover touched months: cancel or settle them by hand first), 422 ``not_chargeable`` (the new version
cannot price an account), 409 ``tariff_exists``. The summary is audited
(``payments.tariff_rebilled``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, DomainError
from localgov.kernel.numbering import fiscal_period
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import period_start
from localgov.services.payments import credits
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.bills import ADVANCE_SOURCE, RUN_SOURCE, _advisory_lock, cancel_bill
from localgov.services.payments.models import Bill, BillItem, FeeAccount, FeeType, MeterReading, Tariff, YearEndClose
from localgov.services.payments.tariffs import (
    NotChargeable,
    TariffBackdated,
    TariffCreate,
    create_tariff,
    definition_of,
    fee_type_of,
    lines_for,
    surcharge_of,
    tariff_for,
)

REBILL_SOURCE = "payments.rebill"
_ZERO = Decimal("0.00")


class TariffNotBackdated(DomainError):
    code = "tariff_not_backdated"
    status = 422
    title = "รุ่นอัตรานี้ไม่ได้มีผลย้อนหลัง ใช้ POST /tariffs / The version does not start before today"


class PeriodClosed(Conflict):
    code = "period_closed"
    title = "งวดที่ต้องเรียกเก็บใหม่อยู่ในปีงบประมาณที่ปิดบัญชีแล้ว / A month to re-bill is in a closed fiscal year"


class AdvanceBillsInTheWay(Conflict):
    code = "tariff_rebill_advance_bills"
    title = "มีใบแจ้งหนี้ล่วงหน้าครอบคลุมงวดที่ต้องเรียกเก็บใหม่ / Advance bills cover months to re-bill"


RebillAction = Literal["reissued", "difference_bill", "credit", "unchanged"]


class RebillChange(msgspec.Struct, kw_only=True):
    """What became of one bill of a touched month."""

    bill_id: uuid.UUID
    reference: str
    period: str
    #: ``reissued`` (cancelled, a new bill made), ``difference_bill``, ``credit``, ``unchanged``.
    action: RebillAction
    old_total: Decimal
    new_total: Decimal
    #: The re-issued bill or the difference bill (null for a credit or no change).
    new_bill_id: uuid.UUID | None = None
    new_reference: str | None = None


class RebillResult(msgspec.Struct, kw_only=True):
    tariff_id: uuid.UUID
    fee_type: FeeType
    effective_from: dt.date
    periods: list[str]
    reissued: int
    difference_bills: int
    difference_amount: Decimal
    credits: int
    credited_amount: Decimal
    unchanged: int
    changes: list[RebillChange]


async def rebill_backdated(
    session: AsyncSession,
    data: TariffCreate,
    *,
    created_by: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
    today: dt.date | None = None,
) -> RebillResult:
    """Add the backdated version and re-bill the months it reprices (see the module)."""
    day = today or bangkok_today()
    if data.effective_from >= day:
        raise TariffNotBackdated(data={"effective_from": data.effective_from.isoformat(), "today": day.isoformat()})
    if not data.backdated_reason or not data.backdated_reason.strip():
        raise TariffBackdated("A backdated version needs backdated_reason.", data={"field": "backdated_reason"})
    fee_type = fee_type_of(data.definition)
    await _advisory_lock(session, f"payments.billing:{fee_type}")
    first = f"{data.effective_from.year:04d}-{data.effective_from.month:02d}"
    tariff = await create_tariff(session, data, created_by=created_by)
    run_bills = (
        await session.execute(
            select(Bill.id, Bill.period)
            .join(FeeAccount, FeeAccount.id == Bill.account_id)
            .where(
                FeeAccount.fee_type == fee_type,
                Bill.source == RUN_SOURCE,
                Bill.status != "cancelled",
                Bill.period >= first,
            )
        )
    ).all()
    candidate_periods = sorted({period for _, period in run_bills if period is not None})
    periods = [p for p in candidate_periods if (await tariff_for(session, fee_type, p)).id == tariff.id]
    closed = sorted(
        set(
            (
                await session.execute(
                    select(YearEndClose.fiscal_year).where(
                        YearEndClose.fiscal_year.in_({fiscal_period(period_start(p)) for p in [first, *periods]})
                    )
                )
            ).scalars()
        )
    )
    if closed:
        raise PeriodClosed(data={"fiscal_years": closed, "periods": periods})
    advance = (
        await session.execute(
            select(Bill.reference)
            .join(BillItem, BillItem.bill_id == Bill.id)
            .join(FeeAccount, FeeAccount.id == Bill.account_id)
            .where(
                Bill.source == ADVANCE_SOURCE,
                Bill.status != "cancelled",
                FeeAccount.fee_type == fee_type,
                BillItem.period >= first,
            )
            .distinct()
        )
    ).scalars()
    in_the_way = sorted(advance)
    if in_the_way:
        raise AdvanceBillsInTheWay(data={"references": in_the_way[:100]})
    touched = [bill_id for bill_id, period in run_bills if period in set(periods)]
    # Locked in id order: a payment of one of them waits for this transaction (and the bank's
    # matching, which locks the bill first, then sees what this call made of it).
    locked = (
        (await session.execute(select(Bill).where(Bill.id.in_(touched)).order_by(Bill.id).with_for_update()))
        .scalars()
        .all()
    )
    changes = [await _rebill_one(session, bill, tariff, actor=actor, origin=origin, today=day) for bill in locked]
    await record_audit(
        session,
        "payments.tariff_backdated",
        actor=actor,
        origin=origin,
        target=f"tariff:{fee_type}:{data.effective_from.isoformat()}",
        data={"reason": data.backdated_reason, "today": day.isoformat(), "rebilled": True},
    )
    result = RebillResult(
        tariff_id=tariff.id,
        fee_type=fee_type,
        effective_from=tariff.effective_from,
        periods=periods,
        reissued=sum(c.action == "reissued" for c in changes),
        difference_bills=sum(c.action == "difference_bill" for c in changes),
        difference_amount=sum((c.new_total - c.old_total for c in changes if c.action == "difference_bill"), _ZERO),
        credits=sum(c.action == "credit" for c in changes),
        credited_amount=sum((c.old_total - c.new_total for c in changes if c.action == "credit"), _ZERO),
        unchanged=sum(c.action == "unchanged" for c in changes),
        changes=changes,
    )
    await record_audit(
        session,
        "payments.tariff_rebilled",
        actor=actor,
        origin=origin,
        target=f"tariff:{tariff.id}",
        data={
            "reason": data.backdated_reason,
            "periods": periods,
            "reissued": result.reissued,
            "difference_bills": result.difference_bills,
            "difference_amount": str(result.difference_amount),
            "credits": result.credits,
            "credited_amount": str(result.credited_amount),
            "unchanged": result.unchanged,
        },
    )
    return result


async def _rebill_one(
    session: AsyncSession, bill: Bill, tariff: Tariff, *, actor: Actor, origin: Origin, today: dt.date
) -> RebillChange:
    account = await session.get(FeeAccount, bill.account_id) if bill.account_id else None
    period = bill.period
    if account is None or period is None:  # pragma: no cover - run bills have both
        raise RuntimeError(f"bill {bill.reference} is not a bill run's bill")
    usage = await session.scalar(
        select(MeterReading.usage_m3).where(MeterReading.account_id == account.id, MeterReading.period == period)
    )
    try:
        lines = lines_for(account, definition_of(tariff), period, usage)
    except NotChargeable as exc:
        raise DomainError(
            f"Account {account.account_no}: {exc}", code=exc.code, status=422, data={"account_no": account.account_no}
        ) from None
    new_total = sum((line.amount for line in lines), _ZERO)
    change = RebillChange(
        bill_id=bill.id,
        reference=bill.reference,
        period=period,
        action="unchanged",
        old_total=bill.total,
        new_total=new_total,
    )
    if new_total == bill.total:
        return change
    why = f"เรียกเก็บใหม่ตามอัตราที่มีผลย้อนหลังตั้งแต่ {tariff.effective_from.isoformat()} (tariff {tariff.id})"
    if bill.status == "open" and bill.amount_paid == 0:
        await cancel_bill(session, bill.id, reason=why, actor=actor, origin=origin)
        change.action = "reissued"
        if lines:
            surcharge = surcharge_of(tariff)
            made = await create_bill(
                session,
                payer_id=bill.payer_id,
                lines=lines,
                due_date=today + dt.timedelta(days=tariff.due_days),
                issue_date=today,
                source=RUN_SOURCE,
                source_key=f"rebill:{tariff.id}:{account.id}:{period}",
                account_id=account.id,
                period=period,
                late_surcharge_percent=surcharge.percent if surcharge else None,
                late_surcharge_after_days=surcharge.after_days if surcharge else 0,
            )
            change.new_bill_id, change.new_reference = made.id, made.reference
        return change
    if new_total > bill.total:
        difference = new_total - bill.total
        made = await create_bill(
            session,
            payer_id=bill.payer_id,
            lines=[
                BillLine(
                    fee_code=lines[0].fee_code if lines else "rebill",
                    description_th=f"ส่วนต่างอัตราค่าธรรมเนียมย้อนหลัง ใบแจ้งหนี้ {bill.reference}",
                    amount=difference,
                    period=period,
                )
            ],
            due_date=today + dt.timedelta(days=tariff.due_days),
            issue_date=today,
            source=REBILL_SOURCE,
            source_key=f"rebill-diff:{tariff.id}:{bill.id}",
            account_id=account.id,
            period=period,
        )
        change.action, change.new_bill_id, change.new_reference = "difference_bill", made.id, made.reference
        return change
    await credits.lock_payer(session, bill.payer_id)
    await credits.add_entry(
        session,
        payer_id=bill.payer_id,
        amount=bill.total - new_total,
        kind="rebill",
        bill_id=bill.id,
        note=why,
    )
    change.action = "credit"
    return change
