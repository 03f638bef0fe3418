"""Bills of the recurring fees: monthly runs, advance payment, late surcharges, cancellation,
manual bills; the biller settings and each bill's Thai QR; what citizens and paper-bill holders
may see; arrears.

Decisions:

* **Bill runs** are idempotent by ``source_key = run:<account id>:<period>``: a second run of the
  same month makes no second bill, and a bill cancelled by finance is not remade by the run (bill
  it by hand if needed). Runs and advance bills of one fee type take one advisory lock, so an
  advance bill and a run can never both charge the same month.
* **Which month is billed**: the scheduled job bills the previous month (Asia/Bangkok), every few
  hours, so accounts whose meter reading arrives late are billed when it does; finance staff run
  any month on demand. An account is billed for a month it was open in (``start_date``/``end_date``).
* **Advance payment**: one bill whose lines are N future months (each at the tariff in force in
  its month); the run skips months covered by an advance bill that is not cancelled. Wastewater
  cannot be paid in advance (usage is not known yet).
* **Late surcharge**: tariff data (``late_surcharge``), copied onto each bill when it is issued, so
  a tariff change never changes the terms of bills already out. Once a bill is open
  ``after_days`` past its due date, a **separate surcharge bill** (``payments.surcharge``,
  ``surcharge_of`` = the overdue bill) of ``percent`` of its total is issued, once: every amount
  stays payable by its own QR and matched to one bill, and the original bill's amount never
  changes under the payer's feet. Surcharge bills bear no surcharge themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

import msgspec
import segno
import structlog
from sqlalchemy import and_, bindparam, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.citizens import citizen_ref
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.events import publish
from localgov.kernel.jobs import JobContext
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import CachedRow, Reader, Row, cached_row_changed, fetch_cached, fetch_one
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import (
    InvalidInput,
    add_months,
    next_period,
    parse_money,
    parse_period,
    parse_quantity,
    period_end,
    period_of,
    period_start,
    round_baht,
)
from localgov.services.payments import bank, qr
from localgov.services.payments.api import BILL_CANCELLED, BillCancelled, BillDraft, BillLine, create_bill, create_bills
from localgov.services.payments.models import Bill, BillItem, FeeAccount, FeeType, MeterReading, Payer, PaymentSettings
from localgov.services.payments.payers import FEE_TYPES, get_account, get_payer
from localgov.services.payments.qr import normalise_biller_id
from localgov.services.payments.tariffs import (
    NotChargeable,
    TariffMissing,
    check_surcharge,
    definition_of,
    lines_for,
    surcharge_of,
    tariff_for,
)

log = structlog.get_logger("localgov.payments")

RUN_SOURCE = "payments.bill_run"
ADVANCE_SOURCE = "payments.advance"
SURCHARGE_SOURCE = "payments.surcharge"
MANUAL_SOURCE = "payments.manual"
#: The longest advance payment accepted, in months.
MAX_ADVANCE_MONTHS = 24


class BillNotFound(NotFound):
    code = "bill_not_found"
    title = "No such bill"


class BillNotOpen(Conflict):
    code = "bill_not_open"
    title = "The bill is not open (already paid or cancelled)"


class BillerNotConfigured(Conflict):
    code = "biller_not_configured"
    title = "The LAO has not set its Thai QR biller ID yet"


class PeriodAlreadyBilled(Conflict):
    code = "period_already_billed"
    title = "A month asked for is already billed for this account"


class PayerLinkedElsewhere(Conflict):
    code = "payer_linked_elsewhere"
    title = "This payer is already linked to another citizen account"


async def _advisory_lock(session: AsyncSession, name: str) -> None:
    """A transaction-level advisory lock on ``name`` within the session's tenant schema."""
    schema = str(await session.scalar(select(func.current_schema())))
    raw = hashlib.sha256(f"{schema}\0{name}".encode()).digest()[:8]
    await session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(raw, "big", signed=True))))


# --- bill runs ------------------------------------------------------------------------------------


class Skipped(msgspec.Struct, kw_only=True):
    """An account the run did not bill, and why (``no_reading``, ``no_band``, ``nothing_owed`` …)."""

    account_id: uuid.UUID
    account_no: str
    code: str
    message: str


class RunResult(msgspec.Struct, kw_only=True):
    fee_type: FeeType
    period: str
    #: Accounts open during the month.
    accounts: int
    created: int
    #: Already billed for the month (by an earlier run, or covered by an advance bill).
    already_billed: int
    skipped: list[Skipped]
    tariff_id: uuid.UUID


def run_source_key(account_id: uuid.UUID, period: str) -> str:
    return f"run:{account_id}:{period}"


def _covered_by_bill(account_id_column: object, period: str) -> object:
    """An uncancelled run or advance bill of the account charges ``period``."""
    b = aliased(Bill)
    i = aliased(BillItem)
    return (
        select(i.id)
        .join(b, b.id == i.bill_id)
        .where(
            b.account_id == account_id_column,
            b.status != "cancelled",
            b.source.in_((RUN_SOURCE, ADVANCE_SOURCE)),
            i.period == period,
        )
        .exists()
    )


async def run_bills(session: AsyncSession, fee_type: str, period: str, *, today: dt.date | None = None) -> RunResult:
    """Bill every account of ``fee_type`` open in ``period`` that has no bill for it yet."""
    if fee_type not in FEE_TYPES:
        raise InvalidInput("fee_type", "unknown fee type")
    period = parse_period(period)
    today = today or bangkok_today()
    await _advisory_lock(session, f"payments.billing:{fee_type}")
    tariff = await tariff_for(session, fee_type, period)
    definition = definition_of(tariff)
    surcharge = surcharge_of(tariff)
    open_in_period = and_(
        FeeAccount.fee_type == fee_type,
        FeeAccount.start_date <= period_end(period),
        or_(FeeAccount.end_date.is_(None), FeeAccount.end_date >= period_start(period)),
    )
    accounts_total = int(await session.scalar(select(func.count()).where(open_in_period)) or 0)
    billed = exists().where(Bill.source_key == func.concat("run:", FeeAccount.id, ":", period))
    pending = (
        (
            await session.execute(
                select(FeeAccount)
                .where(open_in_period, ~billed, ~_covered_by_bill(FeeAccount.id, period))  # type: ignore[operator]
                .order_by(FeeAccount.account_no)
            )
        )
        .scalars()
        .all()
    )
    usage: dict[uuid.UUID, Decimal] = {}
    if fee_type == "wastewater" and pending:
        usage = {
            account_id: value
            for account_id, value in (
                await session.execute(
                    select(MeterReading.account_id, MeterReading.usage_m3).where(
                        MeterReading.period == period,
                        MeterReading.account_id.in_([a.id for a in pending]),
                    )
                )
            ).all()
        }
    drafts: list[BillDraft] = []
    skipped: list[Skipped] = []
    due = today + dt.timedelta(days=tariff.due_days)
    for account in pending:
        try:
            lines = lines_for(account, definition, period, usage.get(account.id))
        except NotChargeable as exc:
            skipped.append(
                Skipped(account_id=account.id, account_no=account.account_no, code=exc.code, message=str(exc))
            )
            continue
        if not lines:
            skipped.append(
                Skipped(account_id=account.id, account_no=account.account_no, code="nothing_owed", message="0.00 baht")
            )
            continue
        drafts.append(
            BillDraft(
                payer_id=account.payer_id,
                lines=lines,
                due_date=due,
                source=RUN_SOURCE,
                source_key=run_source_key(account.id, period),
                account_id=account.id,
                period=period,
                issue_date=today,
                late_surcharge_percent=surcharge.percent if surcharge else None,
                late_surcharge_after_days=surcharge.after_days if surcharge else 0,
            )
        )
    made, created = await create_bills(session, drafts)
    # Payers holding credit (an over payment, a voided receipt's money) pay with it first.
    await bank.pay_from_credit(session, made)
    log.info("bill_run", fee_type=fee_type, period=period, created=created, skipped=len(skipped))
    return RunResult(
        fee_type=fee_type,
        period=period,
        accounts=accounts_total,
        created=created,
        already_billed=accounts_total - len(pending),
        skipped=skipped,
        tariff_id=tariff.id,
    )


async def monthly_bill_run(ctx: JobContext) -> None:
    """Scheduled, per tenant: bill the previous month of every fee type that has a tariff."""
    period = period_of(add_months(bangkok_today(ctx.now), -1))
    for fee_type in FEE_TYPES:
        try:
            async with ctx.session.begin_nested():
                await run_bills(ctx.session, fee_type, period, today=bangkok_today(ctx.now))
        except TariffMissing:
            continue


async def late_surcharge_job(ctx: JobContext) -> None:
    """Scheduled, per tenant: surcharge bills for overdue bills."""
    await issue_surcharges(ctx.session, today=bangkok_today(ctx.now))


# --- advance payment --------------------------------------------------------------------------


async def covered_periods(session: AsyncSession, account_id: uuid.UUID, periods: Sequence[str]) -> list[str]:
    rows = await session.execute(
        select(BillItem.period)
        .join(Bill, Bill.id == BillItem.bill_id)
        .where(
            Bill.account_id == account_id,
            Bill.status != "cancelled",
            Bill.source.in_((RUN_SOURCE, ADVANCE_SOURCE)),
            BillItem.period.in_(list(periods)),
        )
        .distinct()
    )
    return sorted(p for p in rows.scalars() if p is not None)


async def _first_unbilled_period(session: AsyncSession, account: FeeAccount, today: dt.date) -> str:
    last = await session.scalar(
        select(func.max(BillItem.period))
        .join(Bill, Bill.id == BillItem.bill_id)
        .where(
            Bill.account_id == account.id,
            Bill.status != "cancelled",
            Bill.source.in_((RUN_SOURCE, ADVANCE_SOURCE)),
        )
    )
    current = period_of(max(today, account.start_date))
    if last is None:
        return current
    return max(current, next_period(str(last)))


async def create_advance_bill(
    session: AsyncSession, account_id: uuid.UUID, *, months: int, from_period: str | None, today: dt.date | None = None
) -> Bill:
    """One bill for ``months`` months of an account from ``from_period`` (default: the first month
    not yet billed, from the current one on)."""
    today = today or bangkok_today()
    if not 1 <= months <= MAX_ADVANCE_MONTHS:
        raise InvalidInput("months", f"from 1 to {MAX_ADVANCE_MONTHS}")
    account = await get_account(session, account_id)
    if account.fee_type == "wastewater":
        raise DomainError(
            "Wastewater fees depend on the water used and cannot be paid in advance.",
            code="advance_not_possible",
            status=409,
        )
    await _advisory_lock(session, f"payments.billing:{account.fee_type}")
    first = parse_period(from_period) if from_period else await _first_unbilled_period(session, account, today)
    if first < period_of(today):
        raise InvalidInput("from_period", "an advance payment starts this month or later", code="invalid_period")
    periods = [next_period(first, n) for n in range(months)]
    if account.end_date is not None and period_start(periods[-1]) > account.end_date:
        raise InvalidInput("months", "the account ends before the last month", code="account_ends")
    taken = await covered_periods(session, account.id, periods)
    if taken:
        raise PeriodAlreadyBilled(data={"periods": taken})
    lines: list[BillLine] = []
    first_tariff = None
    for period in periods:
        tariff = await tariff_for(session, account.fee_type, period)
        first_tariff = first_tariff or tariff
        try:
            lines.extend(lines_for(account, definition_of(tariff), period))
        except NotChargeable as exc:
            raise DomainError(str(exc), code=exc.code, status=422) from None
    if first_tariff is None or not lines:
        raise DomainError("Nothing to charge for these months.", code="nothing_owed", status=422)
    bill = await create_bill(
        session,
        payer_id=account.payer_id,
        lines=lines,
        due_date=today + dt.timedelta(days=first_tariff.due_days),
        source=ADVANCE_SOURCE,
        source_key=f"advance:{account.id}:{first}:{months}",
        account_id=account.id,
        issue_date=today,
    )
    return bill  # create_bill used the payer's credit


# --- late surcharges, cancellation, manual bills --------------------------------------------------


class SurchargeResult(msgspec.Struct, kw_only=True):
    created: int
    bill_ids: list[uuid.UUID]


async def issue_surcharges(session: AsyncSession, *, today: dt.date | None = None) -> SurchargeResult:
    """A surcharge bill for every bill open past its due date plus its grace days (once each)."""
    today = today or bangkok_today()
    await _advisory_lock(session, "payments.surcharges")
    surcharge = aliased(Bill)
    overdue = (
        (
            await session.execute(
                select(Bill)
                .where(
                    Bill.status == "open",
                    Bill.late_surcharge_percent.is_not(None),
                    Bill.surcharge_of.is_(None),
                    Bill.due_date + Bill.late_surcharge_after_days < today,
                    ~exists().where(surcharge.surcharge_of == Bill.id),
                )
                .order_by(Bill.due_date, Bill.reference)
            )
        )
        .scalars()
        .all()
    )
    drafts: list[BillDraft] = []
    for bill in overdue:
        percent = bill.late_surcharge_percent or Decimal(0)
        amount = round_baht(bill.total * percent / 100)
        if amount <= 0:
            continue
        drafts.append(
            BillDraft(
                payer_id=bill.payer_id,
                lines=[
                    BillLine(
                        fee_code="late_surcharge",
                        description_th=f"เงินเพิ่มกรณีชำระล่าช้า {percent.normalize():f}% ของใบแจ้งหนี้ {bill.reference}",
                        amount=amount,
                        period=bill.period,
                    )
                ],
                due_date=today + dt.timedelta(days=max(7, (bill.due_date - bill.issue_date).days)),
                source=SURCHARGE_SOURCE,
                source_key=f"surcharge:{bill.id}",
                account_id=bill.account_id,
                period=bill.period,
                issue_date=today,
                surcharge_of=bill.id,
            )
        )
    bills, _ = await create_bills(session, drafts)
    return SurchargeResult(created=len(bills), bill_ids=[b.id for b in bills])


async def get_bill(session: AsyncSession, bill_id: uuid.UUID, *, for_update: bool = False) -> Bill:
    query = select(Bill).where(Bill.id == bill_id)
    if for_update:
        query = query.with_for_update()
    bill = (await session.execute(query)).scalar_one_or_none()
    if bill is None:
        raise BillNotFound()
    return bill


_BILLS = Bill.__table__
_SETTINGS = PaymentSettings.__table__
#: A bill with its lines (``bills.lines``, the copy written with the bill): one row of one table,
#: built once (kernel/reads.py). What ``getBill`` serves, with :data:`BILLER`.
BILL_VIEW = select(*_BILLS.c).where(_BILLS.c.id == bindparam("bill_id"))
#: The biller settings a bill's QR needs, kept by each process per LAO (``kernel.reads.CachedRow``);
#: :func:`put_settings` announces its change.
BILLER = CachedRow(
    "payments.biller", select(_SETTINGS.c.biller_id, _SETTINGS.c.merchant_name).where(_SETTINGS.c.id == 1)
)


async def bill_view(reader: Reader, bill_id: uuid.UUID) -> Row:
    """The bill, its lines and its biller settings (404 ``bill_not_found``): one statement on the
    bill's row, the biller from this process's copy on the read fast path."""
    row = await fetch_one(reader, BILL_VIEW, {"bill_id": bill_id})
    if row is None:
        raise BillNotFound()
    biller = await fetch_cached(reader, BILLER)
    return {
        **row,
        "biller_id": biller["biller_id"] if biller is not None else None,
        "merchant_name": biller["merchant_name"] if biller is not None else None,
    }


def view_qr_payload(row: Row) -> str | None:
    """The QR payload of a :data:`BILL_VIEW` row: only while open, once the biller ID is set."""
    try:
        due = row["total"] - row["amount_paid"]
        payment = _payment(row["status"], row["reference"], due, row["biller_id"], row["merchant_name"])
    except (BillerNotConfigured, BillNotOpen):
        return None
    return qr.build(payment)


async def bill_items(session: AsyncSession, bill_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[BillItem]]:
    out: dict[uuid.UUID, list[BillItem]] = {bill_id: [] for bill_id in bill_ids}
    if bill_ids:
        rows = await session.execute(
            select(BillItem).where(BillItem.bill_id.in_(list(bill_ids))).order_by(BillItem.period, BillItem.fee_code)
        )
        for item in rows.scalars():
            out[item.bill_id].append(item)
    return out


async def cancel_bill(session: AsyncSession, bill_id: uuid.UUID, *, reason: str, actor: Actor, origin: Origin) -> Bill:
    """Cancel an open bill with a reason (kept with the bill and in the audit log); publishes
    ``payments.bill_cancelled`` in the same transaction."""
    bill = await get_bill(session, bill_id, for_update=True)
    if bill.status != "open":
        raise BillNotOpen(data={"status": bill.status})
    if bill.amount_paid > 0:
        # Part of it was paid (receipted): cancelling would leave that money nowhere. Void those
        # receipts first (their money goes to the exceptions or the payer's credit).
        raise Conflict(
            "Part of this bill was paid; void its receipts first.",
            code="bill_partly_paid",
            data={"amount_paid": str(bill.amount_paid)},
        )
    bill.status = "cancelled"
    bill.cancel_reason = reason.strip()
    bill.cancelled_at = dt.datetime.now(dt.UTC)
    bill.cancelled_by = f"{actor.kind}:{actor.id}"[:150]
    await record_audit(
        session,
        "bill.cancelled",
        actor=actor,
        origin=origin,
        target=f"bill:{bill.reference}",
        data={"reason": bill.cancel_reason, "total": str(bill.total)},
    )
    cancelled = BillCancelled(
        bill_id=bill.id,
        reference=bill.reference,
        source=bill.source,
        source_key=bill.source_key,
        total=bill.total,
        reason=bill.cancel_reason,
        cancelled_at=bill.cancelled_at,
    )
    await publish(session, BILL_CANCELLED, cancelled)
    await session.flush()
    return bill


class ManualLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fee_code: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_.-]{0,59}$")]
    description_th: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    #: The line's amount; with ``unit_price`` it may be left out (then ``unit_price × quantity``,
    #: rounded to the satang) and, when given, must equal it.
    amount: Decimal | None = None
    quantity: Decimal = Decimal(1)
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None
    unit_price: Decimal | None = None


class ManualBillCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A bill made by hand (a one-off fee, a corrected month): lines, a due date, optionally an
    account and a late surcharge rule."""

    payer_id: uuid.UUID
    lines: Annotated[list[ManualLine], msgspec.Meta(min_length=1, max_length=100)]
    due_date: dt.date
    account_id: uuid.UUID | None = None
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None
    late_surcharge_percent: Decimal | None = None
    late_surcharge_after_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0


async def create_manual_bill(session: AsyncSession, data: ManualBillCreate) -> Bill:
    amounts: list[Decimal] = []
    for n, line in enumerate(data.lines):
        parse_quantity(line.quantity, f"lines[{n}].quantity")
        if line.quantity <= 0:
            raise InvalidInput(f"lines[{n}].quantity", "must be positive", code="invalid_quantity")
        if line.unit_price is None and line.amount is None:
            raise InvalidInput(f"lines[{n}].amount", "an amount or a unit price is required", code="invalid_amount")
        amount = parse_money(line.amount, f"lines[{n}].amount") if line.amount is not None else None
        if line.unit_price is not None:
            unit = parse_money(line.unit_price, f"lines[{n}].unit_price")
            priced = round_baht(unit * line.quantity)
            if amount is not None and amount != priced:
                raise InvalidInput(
                    f"lines[{n}].amount", f"is not unit_price × quantity ({priced})", code="invalid_amount"
                )
            amount = priced
        if amount is None or amount <= 0:  # pragma: no cover - parse_money refuses zero
            raise InvalidInput(f"lines[{n}].amount", "must be positive", code="invalid_amount")
        amounts.append(amount)
    if data.late_surcharge_percent is not None:
        check_surcharge(data.late_surcharge_percent, "late_surcharge_percent")
    await get_payer(session, data.payer_id)
    if data.account_id is not None:
        account = await get_account(session, data.account_id)
        if account.payer_id != data.payer_id:
            raise InvalidInput("account_id", "the account belongs to another payer")
    if data.due_date < bangkok_today():
        raise InvalidInput("due_date", "in the past", code="invalid_date")
    bill = await create_bill(
        session,
        payer_id=data.payer_id,
        lines=[
            BillLine(
                fee_code=line.fee_code,
                description_th=line.description_th.strip(),
                amount=amount,
                quantity=line.quantity,
                period=line.period,
                unit_price=line.unit_price,
            )
            for line, amount in zip(data.lines, amounts, strict=True)
        ],
        due_date=data.due_date,
        source=MANUAL_SOURCE,
        source_key=f"manual:{uuid.uuid4()}",
        account_id=data.account_id,
        period=data.period,
        late_surcharge_percent=data.late_surcharge_percent,
        late_surcharge_after_days=data.late_surcharge_after_days,
    )
    return bill  # create_bill used the payer's credit


async def list_bills(
    session: AsyncSession,
    *,
    payer_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    status: str | None = None,
    period: str | None = None,
    overdue: bool = False,
    citizen_id: uuid.UUID | None = None,
    limit: int = 50,
    after: tuple[dt.date, str] | None = None,
    updated_since: dt.datetime | None = None,
) -> Sequence[Bill]:
    """Newest first (issue date descending, then reference); ``after`` = the last bill's (issue_date, reference)."""
    query = select(Bill).order_by(Bill.issue_date.desc(), Bill.reference).limit(limit)
    if updated_since is not None:
        query = query.where(Bill.updated_at >= updated_since)
    if after is not None:
        query = query.where(
            or_(Bill.issue_date < after[0], and_(Bill.issue_date == after[0], Bill.reference > after[1]))
        )
    if payer_id is not None:
        query = query.where(Bill.payer_id == payer_id)
    if account_id is not None:
        query = query.where(Bill.account_id == account_id)
    if status is not None:
        query = query.where(Bill.status == status)
    if period is not None:
        query = query.where(Bill.period == period)
    if overdue:
        query = query.where(Bill.status == "open", Bill.due_date < bangkok_today())
    if citizen_id is not None:
        query = query.where(Bill.payer_id.in_(select(Payer.id).where(Payer.citizen_id == citizen_id)))
    return (await session.execute(query)).scalars().all()


# --- biller settings and QR -------------------------------------------------------------------


class BillerSettings(msgspec.Struct, kw_only=True):
    """The LAO's Thai QR biller: its Biller ID (tax ID + suffix) and the name banks show."""

    biller_id: str | None
    merchant_name: str | None
    updated_at: dt.datetime | None
    #: The receiving officer printed on bank-paid receipts (ผู้รับเงิน): name and position.
    officer_name: str | None = None
    officer_position: str | None = None


def settings_read(row: PaymentSettings | None) -> BillerSettings:
    if row is None:
        return BillerSettings(biller_id=None, merchant_name=None, updated_at=None)
    return BillerSettings(
        biller_id=row.biller_id,
        merchant_name=row.merchant_name,
        updated_at=row.updated_at,
        officer_name=row.officer_name,
        officer_position=row.officer_position,
    )


class BillerSettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: 15 digits: the LAO's 13-digit tax ID and a 2-digit suffix from its bank.
    biller_id: Annotated[str, msgspec.Meta(min_length=15, max_length=30, examples=["099400012345601"])]
    #: Printable ASCII, 1-25 characters (Thai QR tag 59).
    merchant_name: Annotated[str, msgspec.Meta(min_length=1, max_length=25, pattern=r"^[ -~]+$")] | None = None
    #: The officer who receives money (printed on receipts from now on; receipts issued keep theirs).
    officer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    officer_position: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


async def get_settings(session: AsyncSession) -> PaymentSettings | None:
    return await session.get(PaymentSettings, 1)


async def put_settings(
    session: AsyncSession, data: BillerSettingsUpdate, *, actor: Actor, origin: Origin
) -> PaymentSettings:
    biller_id = normalise_biller_id(data.biller_id)
    await session.execute(text("INSERT INTO payment_settings (id) VALUES (1) ON CONFLICT (id) DO NOTHING"))
    settings = (
        await session.execute(select(PaymentSettings).where(PaymentSettings.id == 1).with_for_update())
    ).scalar_one()
    await session.refresh(settings)
    previous = settings.biller_id
    settings.biller_id = biller_id
    settings.merchant_name = data.merchant_name.strip() if data.merchant_name else None
    settings.officer_name = data.officer_name.strip() if data.officer_name else None
    settings.officer_position = data.officer_position.strip() if data.officer_position else None
    settings.updated_at = dt.datetime.now(dt.UTC)
    await record_audit(
        session,
        "payments.biller_set",
        actor=actor,
        origin=origin,
        target="payment_settings",
        data={
            "biller_id": biller_id,
            "previous": previous,
            "officer_name": settings.officer_name,
            "officer_position": settings.officer_position,
        },
    )
    await session.flush()
    await cached_row_changed(session)  # every process reads the biller afresh (BILLER) after the commit
    return settings


def bill_payment(bill: Bill, settings: PaymentSettings | None) -> qr.BillPayment:
    """What the QR of an open bill says: the LAO's biller, Ref1 = the bill reference, what is left of
    its total (its total unless part was paid or covered by the payer's credit)."""
    biller_id, merchant = (settings.biller_id, settings.merchant_name) if settings else (None, None)
    return _payment(bill.status, bill.reference, bill.total - bill.amount_paid, biller_id, merchant)


def _payment(
    status: str, reference: str, total: Decimal, biller_id: str | None, merchant_name: str | None
) -> qr.BillPayment:
    """The one rule for a bill's QR: the biller ID is set and the bill is open."""
    if biller_id is None:
        raise BillerNotConfigured(
            "Set the LAO's biller ID first (ตั้งค่า Biller ID ของ อปท. ก่อน).",
        )
    if status != "open":
        raise BillNotOpen(data={"status": status})
    return qr.BillPayment(biller_id=biller_id, ref1=reference, amount=total, merchant_name=merchant_name)


async def qr_payload(session: AsyncSession, bill: Bill) -> str:
    return qr.build(bill_payment(bill, await get_settings(session)))


async def qr_payload_or_none(session: AsyncSession, bill: Bill) -> str | None:
    """The payload when the bill can be paid by QR now, else None."""
    try:
        return await qr_payload(session, bill)
    except (BillerNotConfigured, BillNotOpen):
        return None


def qr_png(payload: str, *, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_svg(payload: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(
        out, kind="svg", scale=scale, border=4, xmldecl=False, svgclass=None, lineclass=None
    )
    return out.getvalue()


# --- people ----------------------------------------------------------------------------------------


async def find_by_reference(session: AsyncSession, reference: str, verification_code: str) -> Bill:
    """The bill with this reference whose verification code matches; one answer (404) for an
    unknown reference and a wrong code."""
    bill = (await session.execute(select(Bill).where(Bill.reference == reference.strip().upper()))).scalar_one_or_none()
    expected = bill.verification_code if bill is not None else "0" * 6
    matches = hmac.compare_digest(expected.encode(), verification_code.strip().encode())
    if bill is None or not matches:
        raise BillNotFound("ไม่พบใบแจ้งหนี้ที่มีเลขอ้างอิงและรหัสตรวจสอบนี้ / No bill has this reference and verification code.")
    return bill


async def link_citizen(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    reference: str,
    verification_code: str,
    *,
    actor: Actor,
    origin: Origin,
) -> Payer:
    """Prove a paper bill, become the payer's citizen account (to see all his bills)."""
    if await citizen_ref(session, citizen_id) is None:
        raise NotFound("Unknown citizen account.", code="citizen_not_found")
    bill = await find_by_reference(session, reference, verification_code)
    payer = (await session.execute(select(Payer).where(Payer.id == bill.payer_id).with_for_update())).scalar_one()
    if payer.citizen_id is not None and payer.citizen_id != citizen_id:
        raise PayerLinkedElsewhere(
            "ผู้ชำระรายนี้ผูกกับบัญชีผู้ใช้อื่นแล้ว โปรดติดต่อ อปท. / This payer is linked to another account: ask the LAO."
        )
    if payer.citizen_id is None:
        payer.citizen_id = citizen_id
        await record_audit(
            session,
            "payments.payer_linked",
            actor=actor,
            origin=origin,
            target=f"payer:{payer.id}",
            data={"reference": bill.reference},
        )
        await session.flush()
    return payer


async def citizen_payers(
    session: AsyncSession, citizen_id: uuid.UUID, *, after: tuple[str, uuid.UUID] | None = None, limit: int = 500
) -> Sequence[Payer]:
    """The citizen's payers by name, then id (a citizen links a few); ``after``: the (name, id) of
    the last one of the previous page."""
    query = select(Payer).where(Payer.citizen_id == citizen_id).order_by(Payer.name, Payer.id).limit(limit)
    if after is not None:
        query = query.where(after_key([Payer.name, Payer.id], after))
    return (await session.execute(query)).scalars().all()


async def unlink_citizen(
    session: AsyncSession, citizen_id: uuid.UUID, payer_id: uuid.UUID, *, actor: Actor, origin: Origin
) -> None:
    payer = (
        await session.execute(
            select(Payer).where(Payer.id == payer_id, Payer.citizen_id == citizen_id).with_for_update()
        )
    ).scalar_one_or_none()
    if payer is None:
        raise NotFound("No such payer among yours.", code="payer_not_found")
    payer.citizen_id = None
    await record_audit(session, "payments.payer_unlinked", actor=actor, origin=origin, target=f"payer:{payer.id}")
    await session.flush()


async def citizen_bill(session: AsyncSession, citizen_id: uuid.UUID, bill_id: uuid.UUID) -> Bill:
    bill = (
        await session.execute(
            select(Bill)
            .join(Payer, Payer.id == Bill.payer_id)
            .where(Bill.id == bill_id, Payer.citizen_id == citizen_id)
        )
    ).scalar_one_or_none()
    if bill is None:
        raise BillNotFound()
    return bill


# --- arrears ---------------------------------------------------------------------------------------


class ArrearsByFeeType(msgspec.Struct, kw_only=True):
    #: ``garbage``, ``wastewater``, ``fixed``, or the service of bills without an account.
    fee_type: str
    bills: int
    amount: Decimal


class ArrearsByPayer(msgspec.Struct, kw_only=True):
    payer_id: uuid.UUID
    name: str
    bills: int
    amount: Decimal
    oldest_due_date: dt.date


class Arrears(msgspec.Struct, kw_only=True):
    """Open bills past their due date (ค้างชำระ) on ``as_of``."""

    as_of: dt.date
    bills: int
    amount: Decimal
    by_fee_type: list[ArrearsByFeeType]
    #: Largest first; ``limit`` payers.
    by_payer: list[ArrearsByPayer]
    payers: int


async def arrears(session: AsyncSession, *, limit: int, today: dt.date | None = None) -> Arrears:
    today = today or bangkok_today()
    overdue = and_(Bill.status == "open", Bill.due_date < today)
    kind = func.coalesce(FeeAccount.fee_type, Bill.source)
    by_type = (
        await session.execute(
            select(kind, func.count(), func.sum(Bill.total - Bill.amount_paid))
            .select_from(Bill)
            .outerjoin(FeeAccount, FeeAccount.id == Bill.account_id)
            .where(overdue)
            .group_by(kind)
            .order_by(kind)
        )
    ).all()
    types = [ArrearsByFeeType(fee_type=str(k), bills=int(n), amount=Decimal(a)) for k, n, a in by_type]
    amount_sum = func.sum(Bill.total - Bill.amount_paid)
    by_payer = (
        await session.execute(
            select(Payer.id, Payer.name, func.count(), amount_sum, func.min(Bill.due_date))
            .join(Payer, Payer.id == Bill.payer_id)
            .where(overdue)
            .group_by(Payer.id, Payer.name)
            .order_by(amount_sum.desc(), Payer.name)
            .limit(limit)
        )
    ).all()
    payers = int(await session.scalar(select(func.count(func.distinct(Bill.payer_id))).where(overdue)) or 0)
    return Arrears(
        as_of=today,
        bills=sum(t.bills for t in types),
        amount=sum((t.amount for t in types), Decimal("0.00")),
        by_fee_type=types,
        by_payer=[
            ArrearsByPayer(payer_id=p, name=n, bills=int(c), amount=Decimal(a), oldest_due_date=d)
            for p, n, c, a, d in by_payer
        ],
        payers=payers,
    )


# --- the debtor register by fiscal year -------------------------------------------------------------


class DebtorRow(msgspec.Struct, kw_only=True):
    payer_id: uuid.UUID
    name: str
    bills: int
    #: What is left to pay of those bills.
    amount_due: Decimal
    oldest_due_date: dt.date


class DebtorRegister(msgspec.Struct, kw_only=True):
    """The debtor register (ทะเบียนลูกหนี้) of a BE fiscal year: bills issued in it and still open on
    ``as_of``, by payer; and what earlier years carry forward into it (still open)."""

    fiscal_year: str
    year_from: dt.date
    year_to: dt.date
    as_of: dt.date
    bills: int
    amount_due: Decimal
    payers: int
    debtors: list[DebtorRow]
    #: Bills of earlier fiscal years still open (ยกมา): their count and what is left of them.
    carried_forward_bills: int
    carried_forward_amount: Decimal


def fiscal_year_bounds(fiscal_year: str) -> tuple[dt.date, dt.date]:
    """BE fiscal year ``2570`` → 1 October 2026 .. 30 September 2027."""
    year = int(fiscal_year) - 543
    return dt.date(year - 1, 10, 1), dt.date(year, 9, 30)


async def debtor_register(
    session: AsyncSession, fiscal_year: str, *, limit: int, today: dt.date | None = None
) -> DebtorRegister:
    as_of = today or bangkok_today()
    start, end = fiscal_year_bounds(fiscal_year)
    due = Bill.total - Bill.amount_paid
    in_year = and_(Bill.status == "open", Bill.issue_date.between(start, end))
    count, amount, payers = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(due), 0), func.count(func.distinct(Bill.payer_id))).where(
                in_year
            )
        )
    ).one()
    rows = (
        await session.execute(
            select(Payer.id, Payer.name, func.count(), func.sum(due), func.min(Bill.due_date))
            .join(Payer, Payer.id == Bill.payer_id)
            .where(in_year)
            .group_by(Payer.id, Payer.name)
            .order_by(func.sum(due).desc(), Payer.name, Payer.id)
            .limit(limit)
        )
    ).all()
    carried, carried_amount = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(due), 0)).where(Bill.status == "open", Bill.issue_date < start)
        )
    ).one()
    return DebtorRegister(
        fiscal_year=fiscal_year,
        year_from=start,
        year_to=end,
        as_of=as_of,
        bills=int(count),
        amount_due=Decimal(amount),
        payers=int(payers),
        debtors=[
            DebtorRow(payer_id=p, name=n, bills=int(c), amount_due=Decimal(a), oldest_due_date=d)
            for p, n, c, a, d in rows
        ],
        carried_forward_bills=int(carried),
        carried_forward_amount=Decimal(carried_amount),
    )
