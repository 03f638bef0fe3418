"""Usage aggregation, subscriptions, the invoice run, finalisation and the invoice life cycle.

An invoice covers one subscription's billing period ``[period_start, period_end)`` (dates in
Bangkok time). It is drafted once the period has ended and finalised after a grace period: at
finalisation its lines are computed again, so usage recorded late but inside the grace period
counts. An event whose period is already finalised is billed in the next period: a period's usage
is every event with ``occurred_at < period end`` and ``recorded_at <`` its cut-off (the moment of
finalisation, or now for a draft) that the previous invoice of the subscription did not take.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Numeric, and_, delete, func, not_, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.events import EventType, publish
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.thai import BANGKOK, fiscal_year
from localgov.kernel.usage import UsageEvent
from localgov.platform import lifecycle
from localgov.platform.billing import pricing
from localgov.platform.billing.events import INVOICE_FINALISED, INVOICE_OVERDUE, INVOICE_PAID, InvoiceEvent
from localgov.platform.billing.meters import ACTIVE_DAYS, COMPUTED
from localgov.platform.billing.models import (
    InvoiceCounter,
    LineKind,
    OperatorInvoice,
    OperatorInvoiceLine,
    PlanPrice,
    Subscription,
    SubscriptionPhase,
)
from localgov.platform.models import Plan, Tenant

#: Days an LAO has to pay a finalised invoice.
PAYMENT_TERMS_DAYS = 30
DEFAULT_GRACE = dt.timedelta(days=3)


class NoSuchInvoice(NotFound):
    code = "invoice_not_found"
    title = "ไม่พบใบแจ้งหนี้ / No such invoice"


class NoSuchSubscription(NotFound):
    code = "subscription_not_found"
    title = "ไม่พบการสมัครใช้บริการ / No such subscription"


class NoSuchPlan(NotFound):
    code = "plan_not_found"
    title = "ไม่พบแผนบริการ / No such plan"


class InvoiceWrongState(Conflict):
    code = "invoice_wrong_state"
    title = "สถานะใบแจ้งหนี้ไม่อนุญาต / The invoice's state does not allow this"


class SubscriptionConflict(Conflict):
    code = "subscription_conflict"
    title = "การสมัครใช้บริการขัดแย้งกัน / The subscription change conflicts"


class InvalidPrice(DomainError):
    code = "invalid_price"
    status = 422
    title = "ราคาไม่ถูกต้อง / Invalid plan price"


# --- plan prices -------------------------------------------------------------------------------


def charges_of(price: PlanPrice) -> list[pricing.Charge]:
    return [msgspec.convert(c, pricing.Charge, strict=False) for c in price.charges]


async def add_plan_price(
    session: AsyncSession,
    plan_code: str,
    *,
    effective_from: dt.date,
    fixed_fee: Decimal,
    fixed_interval: str,
    charges: Sequence[pricing.Charge],
    meters: Mapping[str, UsageMeter],
) -> PlanPrice:
    """A new version of a plan's prices from ``effective_from`` (invoices already drafted keep theirs)."""
    if await session.get(Plan, plan_code) is None:
        raise NoSuchPlan(data={"plan_code": plan_code})
    if not pricing.sane(fixed_fee) or fixed_interval not in pricing.INTERVALS:
        raise InvalidPrice("fixed_fee must be 0 or more and fixed_interval monthly or yearly")
    seen: set[str] = set()
    for charge in charges:
        if charge.meter not in meters:
            raise InvalidPrice(f"unknown meter {charge.meter!r}", data={"meter": charge.meter})
        if charge.meter in seen:
            raise InvalidPrice(f"meter {charge.meter!r} is priced twice", data={"meter": charge.meter})
        seen.add(charge.meter)
        try:
            pricing.validate(charge)
        except pricing.PricingError as exc:
            raise InvalidPrice(str(exc), data={"meter": charge.meter}) from exc
    stmt = (
        insert(PlanPrice)
        .values(
            plan_code=plan_code,
            effective_from=effective_from,
            fixed_fee=fixed_fee,
            fixed_interval=fixed_interval,
            charges=[msgspec.to_builtins(c) for c in charges],
        )
        .on_conflict_do_nothing(index_elements=["plan_code", "effective_from"])
        .returning(PlanPrice.id)
    )
    price_id = (await session.execute(stmt)).scalar_one_or_none()
    if price_id is None:
        raise InvalidPrice("the plan already has a price version from that day", code="plan_price_exists", status=409)
    price = await session.get(PlanPrice, price_id)
    assert price is not None
    return price


async def price_in_force(session: AsyncSession, plan_code: str, day: dt.date) -> PlanPrice | None:
    query = (
        select(PlanPrice)
        .where(PlanPrice.plan_code == plan_code, PlanPrice.effective_from <= day)
        .order_by(PlanPrice.effective_from.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


# --- subscriptions -----------------------------------------------------------------------------


async def subscribe(
    session: AsyncSession,
    tenant_id: int,
    plan_code: str,
    *,
    billing_cycle: str,
    starts_on: dt.date,
    trial_days: int = 0,
) -> Subscription:
    """Open the tenant's subscription (one open subscription per tenant)."""
    tenant = await lifecycle.get_tenant(session, tenant_id)
    if await session.get(Plan, plan_code) is None:
        raise NoSuchPlan(data={"plan_code": plan_code})
    if billing_cycle not in pricing.INTERVALS or not 0 <= trial_days <= 366:
        raise SubscriptionConflict("billing_cycle must be monthly or yearly and trial_days 0-366")
    stmt = (
        insert(Subscription)
        .values(
            tenant_id=tenant.id,
            billing_cycle=billing_cycle,
            starts_on=starts_on,
            trial_ends_on=starts_on + dt.timedelta(days=trial_days) if trial_days else None,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"], index_where=text("ends_on IS NULL"))
        .returning(Subscription.id)
    )
    sub_id = (await session.execute(stmt)).scalar_one_or_none()
    if sub_id is None:
        raise SubscriptionConflict("the tenant already has an open subscription", data={"tenant_id": tenant_id})
    session.add(SubscriptionPhase(subscription_id=sub_id, plan_code=plan_code, starts_on=starts_on))
    tenant.plan_code = plan_code
    await session.flush()
    sub = await session.get(Subscription, sub_id)
    assert sub is not None
    return sub


async def get_subscription(session: AsyncSession, subscription_id: int, *, for_update: bool = False) -> Subscription:
    query = select(Subscription).where(Subscription.id == subscription_id)
    if for_update:
        query = query.with_for_update()
    sub = (await session.execute(query)).scalar_one_or_none()
    if sub is None:
        raise NoSuchSubscription(data={"subscription_id": subscription_id})
    return sub


async def current_subscription(session: AsyncSession, tenant_id: int) -> Subscription | None:
    query = select(Subscription).where(Subscription.tenant_id == tenant_id, Subscription.ends_on.is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def phases_of(session: AsyncSession, subscription_id: int) -> list[SubscriptionPhase]:
    query = (
        select(SubscriptionPhase)
        .where(SubscriptionPhase.subscription_id == subscription_id)
        .order_by(SubscriptionPhase.starts_on)
    )
    return list((await session.execute(query)).scalars())


async def change_plan(session: AsyncSession, subscription_id: int, plan_code: str, *, on: dt.date) -> Subscription:
    """Move to ``plan_code`` from ``on``: the period's fixed fees and usage are split at that day."""
    sub = await get_subscription(session, subscription_id, for_update=True)
    if await session.get(Plan, plan_code) is None:
        raise NoSuchPlan(data={"plan_code": plan_code})
    phases = await phases_of(session, sub.id)
    if sub.ends_on is not None or on <= phases[-1].starts_on:
        raise SubscriptionConflict("a plan change must be after the last change, on an open subscription")
    finalised = await session.scalar(
        select(func.count())
        .select_from(OperatorInvoice)
        .where(
            OperatorInvoice.subscription_id == sub.id,
            OperatorInvoice.kind == "invoice",
            OperatorInvoice.status != "draft",
            OperatorInvoice.period_end > on,
        )
    )
    if finalised:
        raise SubscriptionConflict("the period of that day is already invoiced")
    session.add(SubscriptionPhase(subscription_id=sub.id, plan_code=plan_code, starts_on=on))
    tenant = await lifecycle.get_tenant(session, sub.tenant_id)
    tenant.plan_code = plan_code
    await session.flush()
    return sub


async def end_subscription(session: AsyncSession, subscription_id: int, *, on: dt.date) -> Subscription:
    """End the subscription on ``on`` (exclusive): its last period's fixed fee is prorated to that day,
    and no later period is invoiced. Not inside a period already invoiced."""
    sub = await get_subscription(session, subscription_id, for_update=True)
    if sub.ends_on is not None or on <= sub.starts_on:
        raise SubscriptionConflict("only an open subscription ends, after its start")
    invoiced = await session.scalar(
        select(func.max(OperatorInvoice.period_end)).where(
            OperatorInvoice.subscription_id == sub.id, OperatorInvoice.kind == "invoice"
        )
    )
    if invoiced is not None and on < invoiced:
        raise SubscriptionConflict("the subscription is already invoiced past that day")
    sub.ends_on = on
    await session.flush()
    return sub


# --- usage -------------------------------------------------------------------------------------


def at_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=BANGKOK)


@dataclass(frozen=True)
class Window:
    """Which events a period takes: ``occurred_at < end`` and ``recorded_at < cutoff``, minus what
    the previous period took (``occurred_at < prev_end`` and ``recorded_at < prev_cutoff``)."""

    end: dt.datetime
    cutoff: dt.datetime
    prev_end: dt.datetime
    prev_cutoff: dt.datetime | None

    def condition(self, lower: dt.datetime | None, upper: dt.datetime) -> Any:
        """The window restricted to ``lower <= occurred_at < upper`` (``None``: from the start)."""
        took_before = and_(UsageEvent.occurred_at < self.prev_end)
        if self.prev_cutoff is not None:
            took_before = and_(took_before, UsageEvent.recorded_at < self.prev_cutoff)
        parts = [UsageEvent.occurred_at < upper, UsageEvent.recorded_at < self.cutoff, not_(took_before)]
        if lower is not None:
            parts.append(UsageEvent.occurred_at >= lower)
        return and_(*parts)


class Usage(msgspec.Struct, kw_only=True):
    """One meter's aggregates over a window."""

    events: int
    total: Decimal
    unique: int
    maximum: Decimal
    latest: Decimal

    def quantity(self, aggregation: str) -> Decimal:
        return {
            "count": Decimal(self.events),
            "sum": self.total,
            "unique_count": Decimal(self.unique),
            "max": self.maximum,
            "latest": self.latest,
        }[aggregation]


async def aggregate(session: AsyncSession, tenant_id: int, condition: Any) -> dict[str, Usage]:
    """Every meter's aggregates for one tenant in one query."""
    latest = func.array_agg(
        aggregate_order_by(UsageEvent.quantity, UsageEvent.occurred_at.desc(), UsageEvent.id.desc()),
        type_=ARRAY(Numeric(20, 4)),
    )
    query = (
        select(
            UsageEvent.meter,
            func.count(),
            func.coalesce(func.sum(UsageEvent.quantity), 0),
            func.count(UsageEvent.subject.distinct()),
            func.coalesce(func.max(UsageEvent.quantity), 0),
            latest[1],
        )
        .where(UsageEvent.tenant_id == tenant_id, condition)
        .group_by(UsageEvent.meter)
    )
    return {
        row[0]: Usage(
            events=row[1], total=Decimal(row[2]), unique=row[3], maximum=Decimal(row[4]), latest=Decimal(row[5])
        )
        for row in await session.execute(query)
    }


async def transactions(session: AsyncSession, tenant_id: int, meter: str, condition: Any) -> list[Decimal]:
    """Each event's quantity in order (the baht of each transaction, for a percentage charge)."""
    query = (
        select(UsageEvent.quantity)
        .where(UsageEvent.tenant_id == tenant_id, UsageEvent.meter == meter, condition)
        .order_by(UsageEvent.occurred_at, UsageEvent.id)
    )
    return [Decimal(q) for q in (await session.execute(query)).scalars()]


async def _window(session: AsyncSession, sub: Subscription, start: dt.date, end: dt.date, now: dt.datetime) -> Window:
    previous = (
        await session.execute(
            select(OperatorInvoice.finalised_at, OperatorInvoice.period_end).where(
                OperatorInvoice.subscription_id == sub.id,
                OperatorInvoice.kind == "invoice",
                OperatorInvoice.period_end == start,
            )
        )
    ).one_or_none()
    if previous is None:
        # The first period: nothing before the subscription started is billed.
        return Window(
            end=at_midnight(end), cutoff=now, prev_end=at_midnight(max(start, sub.starts_on)), prev_cutoff=None
        )
    return Window(end=at_midnight(end), cutoff=now, prev_end=at_midnight(start), prev_cutoff=previous[0] or now)


def _active_days(tenant: Tenant, start: dt.date, end: dt.date) -> int:
    """Days of ``[start, end)`` the tenant was served: all of them unless it is suspended or closed,
    then those before its status changed."""
    if tenant.status == "active" or tenant.status_changed_at is None:
        return (end - start).days
    stopped = tenant.status_changed_at.astimezone(BANGKOK).date()
    return max(0, (min(end, stopped) - start).days)


# --- computing an invoice's lines --------------------------------------------------------------


class Line(msgspec.Struct, kw_only=True):
    kind: LineKind
    plan_code: str | None
    meter: str | None
    description_th: str
    description_en: str
    quantity: Decimal
    billable: Decimal
    unit: str
    amount: Decimal
    vat: Decimal
    detail: dict[str, Any]


def _period_fee(price: PlanPrice, cycle: str) -> Decimal:
    """The plan's fixed fee for one whole billing period of ``cycle``."""
    if price.fixed_interval == cycle:
        return Decimal(price.fixed_fee)
    if price.fixed_interval == "monthly":
        return Decimal(price.fixed_fee) * 12
    return Decimal(price.fixed_fee) / 12


async def compute_lines(
    session: AsyncSession,
    sub: Subscription,
    start: dt.date,
    end: dt.date,
    *,
    now: dt.datetime,
    meters: Mapping[str, UsageMeter],
) -> list[Line]:
    """The lines of ``sub``'s invoice for ``[start, end)``: per plan phase its prorated fixed fee and
    its priced usage; trial days are free."""
    tenant = await lifecycle.get_tenant(session, sub.tenant_id)
    window = await _window(session, sub, start, end, now)
    period_days = (end - start).days
    phases = await phases_of(session, sub.id)
    lines: list[Line] = []
    billed_from = max(start, sub.trial_ends_on or sub.starts_on, sub.starts_on)
    billed_to = min(end, sub.ends_on) if sub.ends_on else end
    for i, phase in enumerate(phases):
        phase_end = phases[i + 1].starts_on if i + 1 < len(phases) else None
        seg_start = max(billed_from, phase.starts_on)
        seg_end = billed_to if phase_end is None else min(billed_to, phase_end)
        if seg_end <= seg_start:
            continue
        price = await price_in_force(session, phase.plan_code, seg_start)
        if price is None:
            continue
        days = (seg_end - seg_start).days
        plan = await session.get(Plan, phase.plan_code)
        assert plan is not None
        fee = pricing.prorate(_period_fee(price, sub.billing_cycle), days, period_days)
        if fee:
            lines.append(
                Line(
                    kind="fixed",
                    plan_code=plan.code,
                    meter=None,
                    description_th=f"ค่าบริการรายงวด แผน {plan.name_th} ({days}/{period_days} วัน)",
                    description_en=f"Fixed fee, plan {plan.name_en} ({days}/{period_days} days)",
                    quantity=Decimal(days),
                    billable=Decimal(days),
                    unit="day",
                    amount=fee,
                    vat=pricing.vat(fee),
                    detail={
                        "from": seg_start.isoformat(),
                        "to": seg_end.isoformat(),
                        "days": days,
                        "period_days": period_days,
                        "period_fee": str(pricing.money(_period_fee(price, sub.billing_cycle))),
                        "price_version": price.effective_from.isoformat(),
                    },
                )
            )
        # Usage of the segment: late events of an earlier period go to the first billed segment.
        lower = None if seg_start == billed_from else at_midnight(seg_start)
        upper = window.end if phase_end is None or seg_end == billed_to else at_midnight(seg_end)
        condition = window.condition(lower, upper)
        used = await aggregate(session, sub.tenant_id, condition)
        for charge in charges_of(price):
            meter = meters.get(charge.meter)
            if meter is None:
                continue
            if charge.meter in COMPUTED:
                quantity = Decimal(_active_days(tenant, seg_start, seg_end)) if meter is ACTIVE_DAYS else Decimal(0)
            else:
                usage = used.get(charge.meter)
                quantity = usage.quantity(meter.aggregation) if usage else Decimal(0)
            txs = (
                await transactions(session, sub.tenant_id, charge.meter, condition)
                if charge.model == "percentage"
                else []
            )
            priced = pricing.price(charge, quantity, txs)
            if not priced.amount and not quantity:
                continue
            lines.append(
                Line(
                    kind="usage",
                    plan_code=plan.code,
                    meter=meter.code,
                    description_th=f"{meter.title_th} ({_model_th(charge.model)})",
                    description_en=f"{meter.title_en} ({charge.model})",
                    quantity=quantity,
                    billable=priced.billable,
                    unit=meter.unit,
                    amount=priced.amount,
                    vat=pricing.vat(priced.amount),
                    detail={
                        "charge": msgspec.to_builtins(charge),
                        "tiers": msgspec.to_builtins(priced.tiers),
                        "transactions": len(txs),
                        "from": seg_start.isoformat(),
                        "to": seg_end.isoformat(),
                    },
                )
            )
    return lines


def _model_th(model: str) -> str:
    return {"standard": "ต่อหน่วย", "graduated": "อัตราขั้นบันได", "package": "เหมาเป็นชุด", "percentage": "ร้อยละ"}[model]


async def _write_lines(session: AsyncSession, invoice: OperatorInvoice, lines: Sequence[Line]) -> None:
    await session.execute(delete(OperatorInvoiceLine).where(OperatorInvoiceLine.invoice_id == invoice.id))
    for position, line in enumerate(lines, start=1):
        session.add(OperatorInvoiceLine(invoice_id=invoice.id, position=position, **msgspec.structs.asdict(line)))
    invoice.subtotal = sum((line.amount for line in lines), Decimal(0))
    invoice.vat = sum((line.vat for line in lines), Decimal(0))
    invoice.total = invoice.subtotal + invoice.vat
    await session.flush()


# --- the invoice run ---------------------------------------------------------------------------


class RunResult(msgspec.Struct, kw_only=True):
    drafted: list[int]
    finalised: list[int]


async def draft_invoices(
    session: AsyncSession,
    *,
    today: dt.date,
    now: dt.datetime,
    meters: Mapping[str, UsageMeter],
    tenant_id: int | None = None,
) -> list[int]:
    """Draft the invoices of every subscription's complete periods that have none yet: from the
    period after its latest invoice (or its first period) to the last one ended by ``today``, so a
    worker that was down for a while catches up, in order.

    Idempotent: the unique index on (subscription, period) makes a second run, or a concurrent
    one, draft nothing.
    """
    drafted: list[int] = []
    query = select(Subscription).order_by(Subscription.id)
    latest_query = (
        select(OperatorInvoice.subscription_id, func.max(OperatorInvoice.period_end))
        .where(OperatorInvoice.kind == "invoice")
        .group_by(OperatorInvoice.subscription_id)
    )
    if tenant_id is not None:
        query = query.where(Subscription.tenant_id == tenant_id)
        latest_query = latest_query.where(OperatorInvoice.tenant_id == tenant_id)
    subs = (await session.execute(query)).scalars().all()
    latest: dict[int, dt.date] = {sub_id: end for sub_id, end in await session.execute(latest_query)}
    for sub in subs:
        cursor = latest.get(sub.id) or pricing.period_of(sub.starts_on, sub.billing_cycle)[0]
        while True:
            start, end = pricing.period_of(cursor, sub.billing_cycle)
            if end > today or (sub.ends_on is not None and sub.ends_on <= start):
                break
            cursor = end
            invoice_id = await _insert_draft(session, sub, start, end)
            if invoice_id is None:
                continue
            invoice = await session.get(OperatorInvoice, invoice_id)
            assert invoice is not None
            lines = await compute_lines(session, sub, start, end, now=now, meters=meters)
            await _write_lines(session, invoice, lines)
            drafted.append(invoice_id)
    return drafted


async def _insert_draft(session: AsyncSession, sub: Subscription, start: dt.date, end: dt.date) -> int | None:
    """A new draft of ``sub`` for ``[start, end)``; None when that period already has its invoice."""
    stmt = (
        insert(OperatorInvoice)
        .values(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            kind="invoice",
            period_start=start,
            period_end=end,
            status="draft",
            subtotal=0,
            vat=0,
            total=0,
        )
        .on_conflict_do_nothing(
            index_elements=["subscription_id", "period_start"], index_where=text("kind = 'invoice'")
        )
        .returning(OperatorInvoice.id)
    )
    invoice_id: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return invoice_id


async def allocate_number(session: AsyncSession, series: str, day: dt.date) -> str:
    """The next gap-free number of ``series`` (``INV``/``CN``) in the operator's BE fiscal year of ``day``.

    The counter row stays locked until the caller commits: a rolled-back finalisation gives its
    number back, so concurrent finalisations queue and never skip or repeat a number.
    """
    year = fiscal_year(day)
    stmt = (
        insert(InvoiceCounter)
        .values(series=series, fiscal_year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=["series", "fiscal_year"], set_={"last_value": InvoiceCounter.last_value + 1}
        )
        .returning(InvoiceCounter.last_value)
    )
    value: int = (await session.execute(stmt)).scalar_one()
    return f"{series}-{year}-{value:06d}"


async def _announce(session: AsyncSession, event: EventType[InvoiceEvent], invoice: OperatorInvoice) -> None:
    assert invoice.number is not None
    payload = InvoiceEvent(
        invoice_id=invoice.id,
        tenant_id=invoice.tenant_id,
        number=invoice.number,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        total=Decimal(invoice.total),
        due_on=invoice.due_on,
    )
    await publish(session, event, payload, tenant_id=invoice.tenant_id)


async def finalise(
    session: AsyncSession, invoice_id: int, *, now: dt.datetime, meters: Mapping[str, UsageMeter]
) -> OperatorInvoice:
    """Recompute a draft's lines with every event recorded so far, number it and issue it."""
    invoice = await get_invoice(session, invoice_id, for_update=True)
    if invoice.status != "draft":
        raise InvoiceWrongState(data={"invoice_id": invoice.id, "status": invoice.status})
    sub = await get_subscription(session, invoice.subscription_id)
    lines = await compute_lines(session, sub, invoice.period_start, invoice.period_end, now=now, meters=meters)
    await _write_lines(session, invoice, lines)
    today = now.astimezone(BANGKOK).date()
    invoice.number = await allocate_number(session, "INV", today)
    invoice.status = "finalised"
    invoice.finalised_at = now
    invoice.issued_on = today
    invoice.due_on = today + dt.timedelta(days=PAYMENT_TERMS_DAYS)
    await session.flush()
    await _announce(session, INVOICE_FINALISED, invoice)
    return invoice


async def finalise_due(
    session: AsyncSession,
    *,
    now: dt.datetime,
    grace: dt.timedelta,
    meters: Mapping[str, UsageMeter],
    tenant_id: int | None = None,
) -> list[int]:
    """Finalise every draft whose period ended more than ``grace`` ago."""
    query = (
        select(OperatorInvoice.id, OperatorInvoice.period_end)
        .where(OperatorInvoice.status == "draft")
        .order_by(OperatorInvoice.period_end, OperatorInvoice.id)
    )
    if tenant_id is not None:
        query = query.where(OperatorInvoice.tenant_id == tenant_id)
    due = (await session.execute(query)).all()
    done: list[int] = []
    for invoice_id, period_end in due:
        if at_midnight(period_end) + grace <= now:
            await finalise(session, invoice_id, now=now, meters=meters)
            done.append(invoice_id)
    return done


async def run_invoices(
    session: AsyncSession,
    *,
    now: dt.datetime,
    meters: Mapping[str, UsageMeter],
    grace: dt.timedelta = DEFAULT_GRACE,
    tenant_id: int | None = None,
) -> RunResult:
    """The invoice run: draft what period ends have made due, finalise the drafts past their grace
    (every tenant's, or only ``tenant_id``'s)."""
    today = now.astimezone(BANGKOK).date()
    drafted = await draft_invoices(session, today=today, now=now, meters=meters, tenant_id=tenant_id)
    finalised = await finalise_due(session, now=now, grace=grace, meters=meters, tenant_id=tenant_id)
    return RunResult(drafted=drafted, finalised=finalised)


# --- invoices after finalisation ---------------------------------------------------------------


async def get_invoice(
    session: AsyncSession, invoice_id: int, *, tenant_id: int | None = None, for_update: bool = False
) -> OperatorInvoice:
    """One invoice; with ``tenant_id``, only that tenant's (another's answers 404)."""
    query = select(OperatorInvoice).where(OperatorInvoice.id == invoice_id)
    if tenant_id is not None:
        query = query.where(OperatorInvoice.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    invoice = (await session.execute(query)).scalar_one_or_none()
    if invoice is None:
        raise NoSuchInvoice(data={"invoice_id": invoice_id})
    return invoice


async def lines_of(session: AsyncSession, invoice_id: int) -> list[OperatorInvoiceLine]:
    query = (
        select(OperatorInvoiceLine)
        .where(OperatorInvoiceLine.invoice_id == invoice_id)
        .order_by(OperatorInvoiceLine.position)
    )
    return list((await session.execute(query)).scalars())


async def _audit(
    session: AsyncSession, action: str, invoice: OperatorInvoice, actor: Actor, origin: Origin, **data: Any
) -> None:
    await record_audit(
        session,
        action=action,
        actor=actor,
        origin=origin,
        target=f"operator_invoice:{invoice.id}",
        data={"number": invoice.number, "tenant_id": invoice.tenant_id, **data},
        operator=True,
    )


async def record_payment(
    session: AsyncSession,
    invoice_id: int,
    *,
    reference: str,
    paid_at: dt.datetime,
    actor: Actor,
    origin: Origin,
) -> OperatorInvoice:
    """A transfer the billing administrator saw on the operator's account."""
    invoice = await get_invoice(session, invoice_id, for_update=True)
    if invoice.status != "finalised" or invoice.kind != "invoice":
        raise InvoiceWrongState(data={"invoice_id": invoice.id, "status": invoice.status})
    invoice.status = "paid"
    invoice.paid_at = paid_at
    invoice.payment_reference = reference
    await _audit(session, "billing.invoice_paid", invoice, actor, origin, reference=reference)
    await session.flush()
    await _announce(session, INVOICE_PAID, invoice)
    return invoice


async def void_invoice(
    session: AsyncSession, invoice_id: int, *, reason: str, now: dt.datetime, actor: Actor, origin: Origin
) -> OperatorInvoice:
    """Cancel a finalised, unpaid invoice (its number stays used; a paid one takes a credit note)."""
    invoice = await get_invoice(session, invoice_id, for_update=True)
    if invoice.status != "finalised":
        raise InvoiceWrongState(data={"invoice_id": invoice.id, "status": invoice.status})
    invoice.status = "void"
    invoice.voided_at = now
    invoice.note = reason
    await _audit(session, "billing.invoice_voided", invoice, actor, origin, reason=reason)
    await session.flush()
    return invoice


async def credit_note(
    session: AsyncSession,
    invoice_id: int,
    *,
    amount: Decimal,
    reason: str,
    now: dt.datetime,
    actor: Actor,
    origin: Origin,
) -> OperatorInvoice:
    """A credit note (ใบลดหนี้) reducing a finalised or paid invoice by ``amount`` before VAT."""
    invoice = await get_invoice(session, invoice_id, for_update=True)
    if invoice.kind != "invoice" or invoice.status not in ("finalised", "paid"):
        raise InvoiceWrongState(data={"invoice_id": invoice.id, "status": invoice.status})
    credited = await session.scalar(
        select(func.coalesce(func.sum(OperatorInvoice.subtotal), 0)).where(
            OperatorInvoice.credit_of_id == invoice.id, OperatorInvoice.status != "void"
        )
    )
    if not pricing.sane(amount):
        raise InvalidPrice("the credit must be a finite amount of baht", code="credit_too_large")
    amount = pricing.money(amount)
    if amount <= 0 or amount > Decimal(invoice.subtotal) - Decimal(credited or 0):
        raise InvalidPrice(
            "the credit must be positive and at most what the invoice still charges",
            code="credit_too_large",
            data={"remaining": str(Decimal(invoice.subtotal) - Decimal(credited or 0))},
        )
    today = now.astimezone(BANGKOK).date()
    note = OperatorInvoice(
        tenant_id=invoice.tenant_id,
        subscription_id=invoice.subscription_id,
        kind="credit_note",
        credit_of_id=invoice.id,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        status="finalised",
        number=await allocate_number(session, "CN", today),
        subtotal=0,
        vat=0,
        total=0,
        issued_on=today,
        finalised_at=now,
        note=reason,
    )
    session.add(note)
    await session.flush()
    line = Line(
        kind="credit",
        plan_code=None,
        meter=None,
        description_th=f"ลดหนี้ตามใบแจ้งหนี้ {invoice.number}: {reason}",
        description_en=f"Credit on invoice {invoice.number}: {reason}",
        quantity=Decimal(1),
        billable=Decimal(1),
        unit="item",
        amount=amount,
        vat=pricing.vat(amount),
        detail={"invoice_id": invoice.id},
    )
    await _write_lines(session, note, [line])
    await _audit(session, "billing.credit_note_issued", note, actor, origin, invoice_id=invoice.id)
    return note


async def remind_overdue(
    session: AsyncSession,
    *,
    today: dt.date,
    suspend_after_days: int | None,
    actor: Actor,
    origin: Origin,
) -> tuple[list[int], list[int]]:
    """Mark overdue finalised invoices reminded (audited once each) and, with ``suspend_after_days``,
    suspend the active tenants whose invoice is that many days past due (through the lifecycle)."""
    overdue = (
        (
            await session.execute(
                select(OperatorInvoice)
                .where(
                    OperatorInvoice.status == "finalised",
                    OperatorInvoice.kind == "invoice",
                    OperatorInvoice.due_on < today,
                )
                .order_by(OperatorInvoice.id)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    reminded: list[int] = []
    suspended: list[int] = []
    for invoice in overdue:
        assert invoice.due_on is not None
        if invoice.reminded_at is None:
            invoice.reminded_at = at_midnight(today)
            await _audit(session, "billing.invoice_overdue", invoice, actor, origin, due_on=invoice.due_on.isoformat())
            await _announce(session, INVOICE_OVERDUE, invoice)
            reminded.append(invoice.id)
        if suspend_after_days is not None and (today - invoice.due_on).days >= suspend_after_days:
            tenant = await lifecycle.get_tenant(session, invoice.tenant_id)
            if tenant.status == "active":
                await lifecycle.suspend(
                    session,
                    tenant.id,
                    reason=f"ค้างชำระค่าบริการตามใบแจ้งหนี้ {invoice.number} / Invoice {invoice.number} is overdue",
                    actor=actor,
                    origin=origin,
                )
                suspended.append(tenant.id)
    await session.flush()
    return reminded, suspended


# --- what a tenant has used so far ---------------------------------------------------------------


async def usage_between(
    session: AsyncSession, tenant_id: int, start: dt.date, end: dt.date, meters: Mapping[str, UsageMeter]
) -> dict[str, Decimal]:
    """Each meter's aggregated quantity of the tenant's events that occurred in ``[start, end)``."""
    condition = or_(
        and_(UsageEvent.occurred_at >= at_midnight(start), UsageEvent.occurred_at < at_midnight(end)),
    )
    used = await aggregate(session, tenant_id, condition)
    return {code: usage.quantity(meters[code].aggregation if code in meters else "sum") for code, usage in used.items()}
