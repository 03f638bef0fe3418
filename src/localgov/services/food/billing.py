"""The fees of certificates, charged through the payments service's bills (``payments.api``).

* The LAO's fee data: bands, waivers, settings (:func:`fee_data`, :func:`put_bands`,
  :func:`add_waiver`, :func:`delete_waiver`, :func:`put_settings`); the rules are in ``fees``.
* **First fee** (:func:`bill_first_fee`): billed when the certificate is issued, for the issue
  year, dated the issue day (its waivers), due ``first_fee_days`` later.
* **Annual run** (:func:`run_annual_fees`): every active certificate issued before the year
  began gets one bill for the year, dated 1 January (its waivers), due on the LAO's annual due day,
  with the ordinance's late surcharge (+20 %) as the bill's ``late_surcharge_percent``: the
  payments service's ``payments.late_surcharges`` job issues the surcharge bill once it is late.
  One ``food_fee_bills`` row per (certificate, year) and ``source_key = food:<certificate>:<year>``:
  a second run bills nothing twice. A fee a waiver takes whole is recorded ``waived``, no bill.
* **Reminders** (:func:`send_reminders`): once per bill, ``reminder_days`` before the due date,
  by e-mail when the holder gave an address (``kernel.notifications``, key per bill).
* The bill's fate comes back by the payments events (:func:`on_bill_paid` …).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.notifications import notify
from localgov.kernel.outbox import Delivery
from localgov.kernel.reads import Reader, fetch_all
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today, be_year, thai_date
from localgov.kernel.validation import format_money
from localgov.services.food import fees
from localgov.services.food.models import Certificate, FeeBand, FeeBill, FeeWaiver, FoodSettings
from localgov.services.food.schemas import AnnualRunRead, SettingsUpdate
from localgov.services.payments.api import (
    BILL_CANCELLED,
    BILL_PAID,
    RECEIPT_VOIDED,
    BillDraft,
    BillLine,
    create_bill,
    create_bills,
)

#: What the service passes to ``create_bill`` as ``source``: how it recognises its own bills.
SOURCE = "food"
FIRST_FEE_CODE = "food.first_fee"
ANNUAL_FEE_CODE = "food.annual_fee"
#: Bills created per ``create_bills`` call in a run (a few statements each).
RUN_CHUNK = 1000

_FB = FeeBill.__table__.c
_CT = Certificate.__table__.c


class FeeData:
    """The LAO's fee table, waivers and settings, read once per operation."""

    def __init__(self, settings: FoodSettings, bands: list[fees.Band], waivers: list[fees.Waiver]) -> None:
        self.settings = settings
        self.bands = bands
        self.waivers = waivers


class PaymentsNotEnabled(Conflict):
    code = "food_payments_not_enabled"
    title = (
        "ต้องเปิดใช้บริการรับชำระค่าธรรมเนียมก่อนออกหนังสือรับรอง / The fee payments service must be enabled"
        " to charge certificate fees"
    )


class WaiverNotFound(NotFound):
    code = "food_waiver_not_found"
    title = "ไม่พบการยกเว้นค่าธรรมเนียมนี้ / No such waiver"


def check_billing(tenant: TenantInfo) -> None:
    """Fees are payments bills: the LAO must use the payments service."""
    if "payments" not in tenant.enabled_services:
        raise PaymentsNotEnabled()


def source_key(certificate_id: uuid.UUID, year_be: int) -> str:
    """One bill per certificate per year, whoever bills it first (issue or run)."""
    return f"food:{certificate_id}:{year_be}"


async def _lock(session: AsyncSession, name: str) -> None:
    """A transaction-level advisory lock on ``name`` within the session's tenant schema."""
    schema = str(await session.scalar(select(func.current_schema())))
    raw = hashlib.sha256(f"{schema}\0{name}".encode()).digest()[:8]
    await session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(raw, "big", signed=True))))


# --- fee data ----------------------------------------------------------------------------------------


async def food_settings(session: AsyncSession, *, for_update: bool = False) -> FoodSettings:
    """The settings row (made with the defaults the first time)."""
    query = select(FoodSettings).where(FoodSettings.id == 1)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        await session.execute(pg_insert(FoodSettings).values(id=1).on_conflict_do_nothing())
        row = (await session.execute(query)).scalar_one()
    return row


async def fee_data(session: AsyncSession) -> FeeData:
    settings = await food_settings(session)
    bands = [
        fees.Band(max_area_m2=b.max_area_m2, annual_fee=b.annual_fee)
        for b in (await session.execute(select(FeeBand).order_by(FeeBand.max_area_m2))).scalars()
    ]
    waivers = [
        fees.Waiver(starts_on=w.starts_on, ends_on=w.ends_on, percent=w.percent)
        for w in (await session.execute(select(FeeWaiver).order_by(FeeWaiver.starts_on))).scalars()
    ]
    return FeeData(settings, bands, waivers)


async def list_waivers(session: AsyncSession) -> Sequence[FeeWaiver]:
    return (await session.execute(select(FeeWaiver).order_by(FeeWaiver.starts_on, FeeWaiver.id))).scalars().all()


async def put_bands(session: AsyncSession, bands: list[fees.Band], *, actor: Actor, origin: Origin) -> None:
    """Replace the fee table (issued bills keep their amounts; the next fee uses the new table)."""
    fees.check_bands(bands)
    await session.execute(delete(FeeBand))
    await session.execute(insert(FeeBand), [{"max_area_m2": b.max_area_m2, "annual_fee": b.annual_fee} for b in bands])
    await record_audit(
        session,
        "food.fee_table_changed",
        actor=actor,
        origin=origin,
        data={"bands": [[str(b.max_area_m2), str(b.annual_fee)] for b in bands]},
    )


async def add_waiver(
    session: AsyncSession, waiver: fees.Waiver, note_th: str, *, actor: Actor, origin: Origin
) -> FeeWaiver:
    fees.check_waiver(waiver)
    row = FeeWaiver(
        starts_on=waiver.starts_on,
        ends_on=waiver.ends_on,
        percent=waiver.percent,
        note_th=note_th.strip(),
        created_by=f"{actor.kind}:{actor.id}"[:150],
    )
    session.add(row)
    await session.flush()
    await record_audit(
        session,
        "food.waiver_added",
        actor=actor,
        origin=origin,
        target=f"food_waiver:{row.id}",
        data={"starts_on": str(waiver.starts_on), "ends_on": str(waiver.ends_on), "percent": str(waiver.percent)},
    )
    return row


async def delete_waiver(session: AsyncSession, waiver_id: uuid.UUID, *, actor: Actor, origin: Origin) -> None:
    """Withdraw a waiver (fees already billed or waived keep what they were)."""
    deleted = (
        await session.execute(delete(FeeWaiver).where(FeeWaiver.id == waiver_id).returning(FeeWaiver.id))
    ).first()
    if deleted is None:
        raise WaiverNotFound(data={"waiver_id": str(waiver_id)})
    await record_audit(session, "food.waiver_deleted", actor=actor, origin=origin, target=f"food_waiver:{waiver_id}")


async def put_settings(session: AsyncSession, data: SettingsUpdate, *, actor: Actor, origin: Origin) -> FoodSettings:
    row = await food_settings(session, for_update=True)
    changes: dict[str, Any] = {}
    for field in SettingsUpdate.__struct_fields__:
        value = getattr(data, field)
        if value is not msgspec.UNSET:
            changes[field] = value
    if "late_surcharge_percent" in changes:
        percent: Decimal = changes["late_surcharge_percent"]
        if not percent.is_finite() or not 0 < percent <= 100 or percent != percent.quantize(Decimal("0.01")):
            raise fees.InvalidFeeTable("The late surcharge is a percentage above 0 and at most 100.")
    for field, value in changes.items():
        setattr(row, field, value)
    row.updated_at = dt.datetime.now(dt.UTC)
    row.updated_by = f"{actor.kind}:{actor.id}"[:150]
    await session.flush()
    await record_audit(
        session,
        "food.settings_changed",
        actor=actor,
        origin=origin,
        data={k: str(v) for k, v in changes.items()},
    )
    return row


# --- bills -------------------------------------------------------------------------------------------


def _line(kind: str, number: str, year_be: int, amount: Decimal) -> BillLine:
    if kind == "first":
        return BillLine(
            fee_code=FIRST_FEE_CODE,
            description_th=f"ค่าธรรมเนียมหนังสือรับรองการแจ้ง เลขที่ {number} ประจำปี {year_be}",
            amount=amount,
        )
    return BillLine(
        fee_code=ANNUAL_FEE_CODE,
        description_th=f"ค่าธรรมเนียมรายปี หนังสือรับรองการแจ้ง เลขที่ {number} ประจำปี {year_be}",
        amount=amount,
    )


async def bill_first_fee(session: AsyncSession, certificate: Certificate, data: FeeData) -> FeeBill:
    """The issue year's fee, billed on issue (dated the issue day; no surcharge: it is paid on
    receipt of the certificate, not as an annual fee)."""
    year = be_year(certificate.issued_on)
    quote = fees.quote(certificate.area_m2, certificate.issued_on, data.bands, data.waivers)
    due = certificate.issued_on + dt.timedelta(days=data.settings.first_fee_days)
    row = FeeBill(
        certificate_id=certificate.id,
        year=year,
        kind="first",
        base_fee=quote.base_fee,
        waived_percent=quote.waived_percent,
        amount=quote.amount,
        due_date=due,
        status="waived" if quote.amount == 0 else "open",
    )
    if quote.amount > 0:
        bill = await create_bill(
            session,
            payer_id=certificate.payer_id,
            lines=[_line("first", certificate.number, year, quote.amount)],
            due_date=due,
            source=SOURCE,
            source_key=source_key(certificate.id, year),
            issue_date=certificate.issued_on,
        )
        row.bill_id = bill.id
        row.bill_reference = bill.reference
    session.add(row)
    await session.flush()
    return row


_TO_BILL = (
    select(_CT.id, _CT.number, _CT.area_m2, _CT.payer_id)
    .where(
        _CT.status == "active",
        _CT.issued_on < bindparam("year_start"),
        ~exists().where(_FB.certificate_id == _CT.id, _FB.year == bindparam("year")),
    )
    .order_by(_CT.id)
)
_ACTIVE_BEFORE = select(func.count()).where(_CT.status == "active", _CT.issued_on < bindparam("year_start"))


async def run_annual_fees(session: AsyncSession, year_be: int, *, today: dt.date | None = None) -> AnnualRunRead:
    """Bill the year's fee of every active certificate issued before the year began, once.

    Runs of one LAO take one advisory lock (two at once wait, the second finds everything billed);
    the bills are made in batches by ``payments.api.create_bills``."""
    today = today or bangkok_today()
    await _lock(session, "food.annual_run")
    data = await fee_data(session)
    year_start = fees.annual_fee_date(year_be)
    params = {"year_start": year_start, "year": year_be}
    active = int((await session.execute(_ACTIVE_BEFORE, params)).scalar_one())
    rows = (await session.execute(_TO_BILL, params)).all()
    settings = data.settings
    due = fees.annual_due_date(year_be, settings.annual_due_month, settings.annual_due_day)
    if due < today + dt.timedelta(days=settings.first_fee_days):
        # Billed late in the year (the LAO started mid-year, a new certificate's second year):
        # the payer still gets the usual time to pay before the surcharge can apply.
        due = today + dt.timedelta(days=settings.first_fee_days)
    fee_day = fees.annual_fee_date(year_be)
    created = waived = 0
    for start in range(0, len(rows), RUN_CHUNK):
        chunk = rows[start : start + RUN_CHUNK]
        drafts: list[BillDraft] = []
        records: list[dict[str, Any]] = []
        for row in chunk:
            quote = fees.quote(row.area_m2, fee_day, data.bands, data.waivers)
            record = {
                "certificate_id": row.id,
                "year": year_be,
                "kind": "annual",
                "base_fee": quote.base_fee,
                "waived_percent": quote.waived_percent,
                "amount": quote.amount,
                "due_date": due,
                "status": "waived" if quote.amount == 0 else "open",
                "bill_id": None,
                "bill_reference": None,
            }
            records.append(record)
            if quote.amount == 0:
                waived += 1
                continue
            drafts.append(
                BillDraft(
                    payer_id=row.payer_id,
                    lines=[_line("annual", row.number, year_be, quote.amount)],
                    due_date=due,
                    source=SOURCE,
                    source_key=source_key(row.id, year_be),
                    issue_date=today,
                    late_surcharge_percent=settings.late_surcharge_percent,
                    late_surcharge_after_days=settings.late_surcharge_after_days,
                )
            )
        bills, new = await create_bills(session, drafts) if drafts else ([], 0)
        created += new
        by_key = {bill.source_key: bill for bill in bills}
        for record in records:
            bill = by_key.get(source_key(record["certificate_id"], year_be))
            if bill is not None:
                record["bill_id"] = bill.id
                record["bill_reference"] = bill.reference
        if records:
            await session.execute(insert(FeeBill), records)
    return AnnualRunRead(
        year=year_be,
        certificates=active,
        bills_created=created,
        waived=waived,
        already_billed=active - len(rows),
    )


async def annual_fee_job(ctx: JobContext) -> None:
    """Scheduled, per tenant: this year's run (idempotent: the same year again bills nothing)."""
    tenant = ctx.tenant
    if isinstance(tenant, TenantInfo) and "payments" not in tenant.enabled_services:
        return
    await run_annual_fees(ctx.session, be_year(bangkok_today(ctx.now)), today=bangkok_today(ctx.now))


# --- reminders ---------------------------------------------------------------------------------------

_DUE_SOON = (
    select(
        _FB.id,
        _FB.year,
        _FB.amount,
        _FB.due_date,
        _FB.bill_reference,
        _CT.number,
        _CT.holder_name,
        _CT.holder_email,
        _CT.premises_name,
    )
    .select_from(FeeBill.__table__.join(Certificate.__table__, _CT.id == _FB.certificate_id))
    .where(
        _FB.status == "open",
        _FB.reminded_at.is_(None),
        _FB.due_date >= bindparam("today"),
        _FB.due_date <= bindparam("until"),
        _CT.status == "active",
    )
    .order_by(_FB.due_date, _FB.id)
    .limit(2000)
)


async def send_reminders(session: AsyncSession, *, today: dt.date, now: dt.datetime) -> int:
    """Remind holders of fees due within ``reminder_days`` (once per bill); returns how many."""
    settings = await food_settings(session)
    rows = await fetch_all(
        session, _DUE_SOON, {"today": today, "until": today + dt.timedelta(days=settings.reminder_days)}
    )
    sent = 0
    for row in rows:
        if row["holder_email"]:
            due_th = thai_date(row["due_date"])
            await notify(
                session,
                key=f"food.fee_reminder:{row['id']}",
                source="food.fee_reminder",
                channel="email",
                to=row["holder_email"],
                to_name=row["holder_name"],
                subject_th=f"แจ้งเตือนชำระค่าธรรมเนียมหนังสือรับรองการแจ้ง เลขที่ {row['number']}",
                body_th=(
                    f"เรียน {row['holder_name']}\n\nค่าธรรมเนียมประจำปี {row['year']} ของ{row['premises_name']}"
                    f" (หนังสือรับรองการแจ้ง เลขที่ {row['number']}) จำนวน {format_money(row['amount'])} บาท"
                    f" ครบกำหนดชำระวันที่ {due_th} เลขอ้างอิงใบแจ้งหนี้ {row['bill_reference']}\n"
                    "หากชำระหลังวันครบกำหนด ต้องเสียเงินเพิ่มตามข้อบัญญัติท้องถิ่น"
                ),
                subject_en=f"Reminder: the fee of food-premises certificate {row['number']} is due",
                body_en=(
                    f"The {row['year']} fee of {row['premises_name']} (certificate {row['number']}),"
                    f" {format_money(row['amount'])} baht, is due on {row['due_date'].isoformat()};"
                    f" bill reference {row['bill_reference']}. A late fee bears the ordinance's surcharge."
                ),
            )
            sent += 1
        await session.execute(update(FeeBill).where(FeeBill.id == row["id"]).values(reminded_at=now))
    return sent


async def reminder_job(ctx: JobContext) -> None:
    """Scheduled, per tenant: the reminders due today."""
    await send_reminders(ctx.session, today=bangkok_today(ctx.now), now=ctx.now)


JOBS = (
    ScheduledJob(name="food.annual_fees", every=dt.timedelta(hours=12), run=annual_fee_job, per_tenant=True),
    ScheduledJob(name="food.fee_reminders", every=dt.timedelta(hours=6), run=reminder_job, per_tenant=True),
)


# --- what became of the bills (payments events; at least once: idempotent) ----------------------------


async def _set_status(delivery: Delivery, bill_id: uuid.UUID, status: str, *, only_from: tuple[str, ...]) -> None:
    await delivery.use_tenant_schema()
    await delivery.session.execute(
        update(FeeBill).where(FeeBill.bill_id == bill_id, FeeBill.status.in_(only_from)).values(status=status)
    )


async def on_bill_paid(delivery: Delivery) -> None:
    paid = BILL_PAID.decode(delivery)
    if paid.source == SOURCE:
        await _set_status(delivery, paid.bill_id, "paid", only_from=("open",))


async def on_bill_cancelled(delivery: Delivery) -> None:
    cancelled = BILL_CANCELLED.decode(delivery)
    if cancelled.source == SOURCE:
        await _set_status(delivery, cancelled.bill_id, "cancelled", only_from=("open",))


async def on_receipt_voided(delivery: Delivery) -> None:
    voided = RECEIPT_VOIDED.decode(delivery)
    if voided.source == SOURCE and voided.bill_reopened:
        await _set_status(delivery, voided.bill_id, "open", only_from=("paid",))


HANDLERS = {
    BILL_PAID.code: on_bill_paid,
    BILL_CANCELLED.code: on_bill_cancelled,
    RECEIPT_VOIDED.code: on_receipt_voided,
}

_FEES_OF = (
    select(
        _FB.year,
        _FB.kind,
        _FB.status,
        _FB.base_fee,
        _FB.waived_percent,
        _FB.amount,
        _FB.due_date,
        _FB.bill_id,
        _FB.bill_reference,
    )
    .where(_FB.certificate_id == bindparam("id"))
    .order_by(_FB.year)
)


async def fees_of(reader: Reader, certificate_id: uuid.UUID) -> Sequence[Any]:
    return await fetch_all(reader, _FEES_OF, {"id": certificate_id})
