"""HTTP endpoints of the operator's billing: the billing administrators' API on the operator host,
and an LAO administrator's view of its own plan, usage and invoices on its own host."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded, operator, staff
from localgov.kernel.csv import write_csv
from localgov.kernel.errors import DomainError, problem_responses
from localgov.kernel.pagination import Cursor, Limit, before_key, cut_page, decode_cursor
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.ratelimit import RateLimited, hit, refuse_if_spent
from localgov.kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRefused
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import ONE_LINE
from localgov.kernel.thai import BANGKOK
from localgov.kernel.validation import InvalidInput
from localgov.platform import lifecycle
from localgov.platform.billing import pricing, qrpay, service, thresholds
from localgov.platform.billing.meters import meter_registry
from localgov.platform.billing.models import (
    BankOutcome,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    OperatorInvoice,
    PlanPrice,
    Subscription,
)
from localgov.platform.billing.pdf import render_invoice
from localgov.platform.models import Plan

BILLING = operator("billing_admin")
LAO_ADMIN = staff("tenant_admin")
CSV = "text/csv"
PDF = "application/pdf"
Interval = Literal["monthly", "yearly"]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=ONE_LINE)]
PlanCode = Annotated[str, PathParameter(min_length=1, max_length=40, description="The plan's code")]
InvoiceId = Annotated[int, PathParameter(ge=1, description="The invoice's id")]
SubscriptionId = Annotated[int, PathParameter(ge=1, description="The subscription's id")]


class BadPeriod(DomainError):
    code = "invalid_period"
    status = 422
    title = "ช่วงเวลาไม่ถูกต้อง / Invalid period"


# --- bodies --------------------------------------------------------------------------------------


class MeterOut(msgspec.Struct, kw_only=True):
    code: str
    unit: str
    title_th: str
    title_en: str
    #: ``count``, ``sum``, ``unique_count``, ``max`` or ``latest``.
    aggregation: str


class PriceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new version of a plan's prices, in force from ``effective_from``."""

    effective_from: dt.date
    #: Baht, 0 or more (checked with the charges).
    fixed_fee: Decimal
    #: ``monthly`` or ``yearly`` (Thai fiscal year).
    fixed_interval: Interval
    charges: list[pricing.Charge] = []


class PricePage(msgspec.Struct, kw_only=True):
    items: list[PriceOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class MeterList(msgspec.Struct, kw_only=True):
    items: list[MeterOut]


class PriceOut(msgspec.Struct, kw_only=True):
    id: int
    plan_code: str
    effective_from: dt.date
    fixed_fee: Decimal
    fixed_interval: str
    charges: list[dict[str, Any]]


class SubscriptionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    tenant_id: Annotated[int, msgspec.Meta(ge=1)]
    plan_code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    #: ``monthly`` (calendar month) or ``yearly`` (Thai fiscal year, 1 October).
    billing_cycle: Interval
    starts_on: dt.date
    trial_days: Annotated[int, msgspec.Meta(ge=0, le=366)] = 0


class PlanChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plan_code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    #: The first day on the new plan (fees and usage of the period are split there).
    on: dt.date


class EndIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The first day no longer covered (the last period is prorated to it).
    on: dt.date


class PhaseOut(msgspec.Struct, kw_only=True):
    plan_code: str
    starts_on: dt.date


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: int
    tenant_id: int
    billing_cycle: str
    starts_on: dt.date
    trial_ends_on: dt.date | None
    ends_on: dt.date | None
    phases: list[PhaseOut]


class MeterUsage(msgspec.Struct, kw_only=True):
    meter: str
    unit: str
    title_th: str
    title_en: str
    aggregation: str
    quantity: Decimal


class UsageOut(msgspec.Struct, kw_only=True):
    tenant_id: int
    date_from: dt.date
    date_to: dt.date
    meters: list[MeterUsage]


class RunIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Run for one tenant only (omit: every subscription)."""

    tenant_id: Annotated[int, msgspec.Meta(ge=1)] | None = None


class RunOut(msgspec.Struct, kw_only=True):
    drafted: list[int]
    finalised: list[int]


class LineOut(msgspec.Struct, kw_only=True):
    position: int
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


class InvoiceOut(msgspec.Struct, kw_only=True):
    id: int
    tenant_id: int
    subscription_id: int
    #: ``invoice`` or ``credit_note``.
    kind: InvoiceKind
    credit_of_id: int | None
    number: str | None
    #: ``draft``, ``finalised``, ``paid`` or ``void``.
    status: InvoiceStatus
    period_start: dt.date
    period_end: dt.date
    subtotal: Decimal
    vat: Decimal
    total: Decimal
    issued_on: dt.date | None
    due_on: dt.date | None
    paid_at: dt.datetime | None
    payment_reference: str | None
    lines: list[LineOut] | None = None
    #: A finalised, unpaid invoice's Thai QR (EMVCo bill payment through the operator's biller id,
    #: Ref1 = the number without dashes, amount = the total); None otherwise or with no biller id set.
    qr_payload: str | None = None


class InvoicePage(msgspec.Struct, kw_only=True):
    items: list[InvoiceOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class PaymentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A transfer seen on the operator's account."""

    reference: Text
    paid_at: dt.datetime


class ReasonIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Text


class CreditIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Before VAT; at most what the invoice still charges.
    amount: Decimal
    reason: Text


class TenantBilling(msgspec.Struct, kw_only=True):
    """An LAO's own plan and this period's usage so far."""

    plan_code: str
    plan_name_th: str
    plan_name_en: str
    subscription: SubscriptionOut | None
    period_start: dt.date | None
    period_end: dt.date | None
    usage: list[MeterUsage]


class BillingSettingsOut(msgspec.Struct, kw_only=True):
    """The operator's payment details (the notification secret is never shown again)."""

    biller_id: str | None
    merchant_name: str | None
    notification_secret_set: bool
    secret_rotated_at: dt.datetime | None


class BillingSettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The operator's 13-digit tax ID (check digit verified) and a 2-digit suffix; Thai digits,
    #: spaces and dashes are accepted.
    biller_id: Annotated[str, msgspec.Meta(min_length=15, max_length=40)]
    #: Printed in the QR (tag 59): printable ASCII, at most 25 characters.
    merchant_name: Annotated[str, msgspec.Meta(min_length=1, max_length=25, pattern=r"^[\x20-\x7e]+$")] | None = None


class SecretOut(msgspec.Struct, kw_only=True):
    #: Shown once: give it to the operator's bank. The previous one verifies for 7 more days.
    secret: str


class BankNotificationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One Thai QR payment into the operator's account, as its bank reports it."""

    transaction_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
    ref1: Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=r"^[A-Z0-9]+$")]
    #: Baht, positive, at most two decimals (422 ``invalid_amount`` otherwise).
    amount: Decimal
    paid_at: dt.datetime


class BankNotificationOut(msgspec.Struct, kw_only=True):
    #: ``paid`` or ``exception``.
    outcome: BankOutcome
    invoice_id: int | None
    #: An exception's reason: ``unknown_reference``, ``amount_mismatch``, ``invoice_not_payable``.
    reason: str | None
    #: True when this repeated an already recorded transaction (nothing changed).
    replayed: bool


class PaymentExceptionOut(msgspec.Struct, kw_only=True):
    id: int
    transaction_id: str
    ref1: str
    amount: Decimal
    paid_at: dt.datetime
    invoice_id: int | None
    reason: str | None
    received_at: dt.datetime


class PaymentExceptionPage(msgspec.Struct, kw_only=True):
    items: list[PaymentExceptionOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


def _settings_out(row: Any) -> BillingSettingsOut:
    if row is None:
        return BillingSettingsOut(
            biller_id=None, merchant_name=None, notification_secret_set=False, secret_rotated_at=None
        )
    return BillingSettingsOut(
        biller_id=row.biller_id,
        merchant_name=row.merchant_name,
        notification_secret_set=row.notification_secret is not None,
        secret_rotated_at=row.secret_rotated_at,
    )


class ThresholdIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    meter: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    #: The level of the meter's aggregated quantity in one billing period (> 0).
    threshold: Decimal


class ThresholdsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The plan's whole set of thresholds (replaces the previous set; [] removes them)."""

    thresholds: Annotated[list[ThresholdIn], msgspec.Meta(max_length=100)]


class ThresholdOut(msgspec.Struct, kw_only=True):
    meter: str
    threshold: Decimal


class ThresholdList(msgspec.Struct, kw_only=True):
    plan_code: str
    items: list[ThresholdOut]


def _thresholds(plan_code: str, rows: list[Any]) -> ThresholdList:
    return ThresholdList(
        plan_code=plan_code, items=[ThresholdOut(meter=r.meter, threshold=plain(r.threshold)) for r in rows]
    )


# --- helpers -------------------------------------------------------------------------------------


def _meters(request: Request[Any, Any, Any]) -> dict[str, UsageMeter]:
    return meter_registry(request.app.state.plugins)


def plain(quantity: Decimal) -> Decimal:
    """A quantity without trailing zeros (``4``, not ``4.0000``; ``100``, not ``1E+2``)."""
    return quantity.quantize(Decimal(1)) if quantity == quantity.to_integral_value() else quantity.normalize()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _invoice(invoice: OperatorInvoice, lines: list[Any] | None = None, qr_payload: str | None = None) -> InvoiceOut:
    return InvoiceOut(
        qr_payload=qr_payload,
        id=invoice.id,
        tenant_id=invoice.tenant_id,
        subscription_id=invoice.subscription_id,
        kind=invoice.kind,
        credit_of_id=invoice.credit_of_id,
        number=invoice.number,
        status=invoice.status,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        subtotal=invoice.subtotal,
        vat=invoice.vat,
        total=invoice.total,
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        paid_at=invoice.paid_at,
        payment_reference=invoice.payment_reference,
        lines=None
        if lines is None
        else [
            LineOut(
                position=ln.position,
                kind=ln.kind,
                plan_code=ln.plan_code,
                meter=ln.meter,
                description_th=ln.description_th,
                description_en=ln.description_en,
                quantity=plain(ln.quantity),
                billable=plain(ln.billable),
                unit=ln.unit,
                amount=ln.amount,
                vat=ln.vat,
                detail=ln.detail,
            )
            for ln in lines
        ],
    )


async def _subscription(session: AsyncSession, sub: Subscription) -> SubscriptionOut:
    phases = await service.phases_of(session, sub.id)
    return SubscriptionOut(
        id=sub.id,
        tenant_id=sub.tenant_id,
        billing_cycle=sub.billing_cycle,
        starts_on=sub.starts_on,
        trial_ends_on=sub.trial_ends_on,
        ends_on=sub.ends_on,
        phases=[PhaseOut(plan_code=p.plan_code, starts_on=p.starts_on) for p in phases],
    )


def _usage(used: dict[str, Decimal], meters: dict[str, UsageMeter]) -> list[MeterUsage]:
    out = []
    for code in sorted(used):
        meter = meters.get(code)
        out.append(
            MeterUsage(
                meter=code,
                unit=meter.unit if meter else "",
                title_th=meter.title_th if meter else code,
                title_en=meter.title_en if meter else code,
                aggregation=meter.aggregation if meter else "sum",
                quantity=plain(used[code]),
            )
        )
    return out


def _price(price: PlanPrice) -> PriceOut:
    return PriceOut(
        id=price.id,
        plan_code=price.plan_code,
        effective_from=price.effective_from,
        fixed_fee=price.fixed_fee,
        fixed_interval=price.fixed_interval,
        charges=price.charges,
    )


async def _list(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    status: str | None,
    finalised_only: bool = False,
    before: tuple[dt.date, int] | None = None,
    limit: int = 500,
) -> list[OperatorInvoice]:
    """Newest period first, then id (indexes on (period_start, id) and (tenant_id, period_start, id));
    ``before``: the (period_start, id) of the last invoice of the previous page."""
    query = (
        select(OperatorInvoice).order_by(OperatorInvoice.period_start.desc(), OperatorInvoice.id.desc()).limit(limit)
    )
    if tenant_id is not None:
        query = query.where(OperatorInvoice.tenant_id == tenant_id)
    if status is not None:
        query = query.where(OperatorInvoice.status == status)
    if finalised_only:
        query = query.where(OperatorInvoice.status != "draft")
    if before is not None:
        query = query.where(before_key([OperatorInvoice.period_start, OperatorInvoice.id], before))
    return list((await session.execute(query)).scalars())


async def _invoice_page(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    finalised_only: bool = False,
) -> InvoicePage:
    before = decode_cursor(cursor, tuple[dt.date, int])
    rows = await _list(
        session, tenant_id=tenant_id, status=status, finalised_only=finalised_only, before=before, limit=limit + 1
    )
    page, next_cursor = cut_page(rows, limit, key=lambda i: (i.period_start, i.id))
    return InvoicePage(items=[_invoice(i) for i in page], next_cursor=next_cursor)


StatusFilter = Annotated[
    InvoiceStatus | None, QueryParameter(description="Only invoices in this state", required=False)
]
TenantFilter = Annotated[int | None, QueryParameter(ge=1, description="Only this tenant's", required=False)]


# --- the operator's billing administrators ---------------------------------------------------------


class BillingAdminController(Controller):
    path = "/v1/billing"
    tags = ["Billing (operator)"]
    opt = {"surface": "operator"}

    @get(
        "/meters",
        operation_id="listBillingMeters",
        summary="Every meter a plan may price",
        responses=problem_responses(401, 403),
        **guarded(BILLING),
    )
    async def meters(self, request: Request[Any, Any, Any]) -> MeterList:
        return MeterList(
            items=[
                MeterOut(code=m.code, unit=m.unit, title_th=m.title_th, title_en=m.title_en, aggregation=m.aggregation)
                for m in _meters(request).values()
            ]
        )

    @get(
        "/plans/{plan_code:str}/prices",
        operation_id="listPlanPrices",
        summary="A plan's price versions, newest first",
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def prices(
        self,
        plan_code: PlanCode,
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> PricePage:
        before = decode_cursor(cursor, tuple[dt.date, int])
        if await db_session.get(Plan, plan_code) is None:
            raise service.NoSuchPlan(data={"plan_code": plan_code})
        # Newest first by the unique (plan_code, effective_from); id only breaks ties in the cursor.
        query = (
            select(PlanPrice)
            .where(PlanPrice.plan_code == plan_code)
            .order_by(PlanPrice.effective_from.desc(), PlanPrice.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            query = query.where(before_key([PlanPrice.effective_from, PlanPrice.id], before))
        rows = list((await db_session.execute(query)).scalars())
        page, next_cursor = cut_page(rows, limit, key=lambda p: (p.effective_from, p.id))
        return PricePage(items=[_price(p) for p in page], next_cursor=next_cursor)

    @post(
        "/plans/{plan_code:str}/prices",
        operation_id="addPlanPrice",
        summary="Add a price version: fixed fee plus per-meter charges (standard, graduated, package, percentage)",
        description="422 `invalid_price` for an unknown meter or a charge that cannot be priced; "
        "409 `plan_price_exists` when a version already starts that day.",
        responses=problem_responses(401, 403, 404, 409, 422),
        **guarded(BILLING),
    )
    async def add_price(
        self,
        request: Request[Any, Any, Any],
        plan_code: PlanCode,
        data: JSONBody[PriceIn],
        db_session: NamedDependency[AsyncSession],
    ) -> PriceOut:
        price = await service.add_plan_price(
            db_session,
            plan_code,
            effective_from=data.effective_from,
            fixed_fee=data.fixed_fee,
            fixed_interval=data.fixed_interval,
            charges=data.charges,
            meters=_meters(request),
        )
        return _price(price)

    @post(
        "/subscriptions",
        operation_id="createSubscription",
        summary="Subscribe an LAO to a plan (monthly, or yearly on the Thai fiscal year), with a trial",
        responses=problem_responses(401, 403, 404, 409),
        **guarded(BILLING),
    )
    async def subscribe(
        self, data: JSONBody[SubscriptionIn], db_session: NamedDependency[AsyncSession]
    ) -> SubscriptionOut:
        sub = await service.subscribe(
            db_session,
            data.tenant_id,
            data.plan_code,
            billing_cycle=data.billing_cycle,
            starts_on=data.starts_on,
            trial_days=data.trial_days,
        )
        return await _subscription(db_session, sub)

    @get(
        "/subscriptions/{subscription_id:int}",
        operation_id="getSubscription",
        summary="One subscription with its plan phases",
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def subscription(
        self, subscription_id: SubscriptionId, db_session: NamedDependency[AsyncSession]
    ) -> SubscriptionOut:
        return await _subscription(db_session, await service.get_subscription(db_session, subscription_id))

    @post(
        "/subscriptions/{subscription_id:int}/plan-changes",
        operation_id="changeSubscriptionPlan",
        summary="Move to another plan from a day: the period's fee and usage are prorated at that day",
        responses=problem_responses(401, 403, 404, 409),
        **guarded(BILLING),
    )
    async def change_plan(
        self, subscription_id: SubscriptionId, data: JSONBody[PlanChangeIn], db_session: NamedDependency[AsyncSession]
    ) -> SubscriptionOut:
        sub = await service.change_plan(db_session, subscription_id, data.plan_code, on=data.on)
        return await _subscription(db_session, sub)

    @post(
        "/subscriptions/{subscription_id:int}/end",
        status_code=200,
        operation_id="endSubscription",
        summary="End a subscription on a day: its last period is prorated, no later one is invoiced",
        description="409 `subscription_conflict` when it already ended or that day is already invoiced.",
        responses=problem_responses(401, 403, 404, 409),
        **guarded(BILLING),
    )
    async def end(
        self, subscription_id: SubscriptionId, data: JSONBody[EndIn], db_session: NamedDependency[AsyncSession]
    ) -> SubscriptionOut:
        sub = await service.end_subscription(db_session, subscription_id, on=data.on)
        return await _subscription(db_session, sub)

    @get(
        "/usage",
        operation_id="exploreUsage",
        summary="Usage explorer: one tenant's aggregated use per meter in a period",
        description="422 `invalid_period` unless date_from ≤ date_to within 366 days.",
        responses=problem_responses(401, 403, 404, 422),
        **guarded(BILLING),
    )
    async def usage(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant_id: Annotated[int, QueryParameter(ge=1, description="The tenant")],
        date_from: Annotated[dt.date, QueryParameter(description="First day (Bangkok), inclusive")],
        date_to: Annotated[dt.date, QueryParameter(description="Last day (Bangkok), inclusive")],
        meter: Annotated[str | None, QueryParameter(max_length=80, required=False)] = None,
    ) -> UsageOut:
        if date_to < date_from or (date_to - date_from).days > 366:
            raise BadPeriod(data={"date_from": date_from.isoformat(), "date_to": date_to.isoformat()})
        await lifecycle.get_tenant(db_session, tenant_id)
        meters = _meters(request)
        used = await service.usage_between(db_session, tenant_id, date_from, date_to + dt.timedelta(days=1), meters)
        if meter is not None:
            used = {k: v for k, v in used.items() if k == meter}
        return UsageOut(tenant_id=tenant_id, date_from=date_from, date_to=date_to, meters=_usage(used, meters))

    @post(
        "/invoice-runs",
        status_code=200,
        operation_id="runInvoices",
        summary="The invoice run (idempotent): draft ended periods, finalise drafts past their grace period",
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def run(
        self, request: Request[Any, Any, Any], data: JSONBody[RunIn], db_session: NamedDependency[AsyncSession]
    ) -> RunOut:
        if data.tenant_id is not None:
            await lifecycle.get_tenant(db_session, data.tenant_id)
        result = await service.run_invoices(db_session, now=_now(), meters=_meters(request), tenant_id=data.tenant_id)
        return RunOut(drafted=result.drafted, finalised=result.finalised)

    @get(
        "/invoices",
        operation_id="listOperatorInvoices",
        summary="Invoices and credit notes, newest period first",
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def invoices(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant_id: TenantFilter = None,
        status: StatusFilter = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> InvoicePage:
        return await _invoice_page(db_session, tenant_id=tenant_id, status=status, limit=limit, cursor=cursor)

    @get(
        "/invoices.csv",
        operation_id="exportOperatorInvoices",
        summary="Invoices as CSV for the DGA's accounting (UTF-8 with BOM)",
        media_type=CSV,
        responses=problem_responses(401, 403),
        **guarded(BILLING),
    )
    async def invoices_csv(
        self, db_session: NamedDependency[AsyncSession], tenant_id: TenantFilter = None, status: StatusFilter = None
    ) -> Response[bytes]:
        rows = await _list(db_session, tenant_id=tenant_id, status=status)
        content = write_csv(
            [
                "เลขที่ (number)",
                "ประเภท (kind)",
                "สถานะ (status)",
                "อปท. (tenant_id)",
                "งวดเริ่ม (period_start)",
                "งวดสิ้นสุด (period_end)",
                "ก่อนภาษี (subtotal)",
                "ภาษีมูลค่าเพิ่ม (vat)",
                "รวม (total)",
                "วันที่ออก (issued_on)",
                "ครบกำหนด (due_on)",
                "ชำระเมื่อ (paid_at)",
            ],
            (
                [
                    i.number or "",
                    i.kind,
                    i.status,
                    i.tenant_id,
                    i.period_start,
                    i.period_end,
                    i.subtotal,
                    i.vat,
                    i.total,
                    i.issued_on or "",
                    i.due_on or "",
                    i.paid_at.astimezone(BANGKOK).isoformat() if i.paid_at else "",
                ]
                for i in rows
            ),
        )
        return Response(
            content,
            media_type=CSV,
            headers={
                "Content-Disposition": 'attachment; filename="invoices.csv"',
                "Cache-Control": "private, no-store",
            },
        )

    @get(
        "/invoices/{invoice_id:int}",
        operation_id="getOperatorInvoice",
        summary="One invoice with its lines (quantities, tiers, VAT per line)",
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def invoice(self, invoice_id: InvoiceId, db_session: NamedDependency[AsyncSession]) -> InvoiceOut:
        invoice = await service.get_invoice(db_session, invoice_id)
        qr = qrpay.payload_of(invoice, await qrpay.get_settings(db_session))
        return _invoice(invoice, await service.lines_of(db_session, invoice.id), qr)

    @get(
        "/invoices/{invoice_id:int}/pdf",
        operation_id="getOperatorInvoicePdf",
        summary="The invoice or credit note as a Thai PDF (a draft is watermarked ร่าง / DRAFT)",
        media_type=PDF,
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def invoice_pdf(self, invoice_id: InvoiceId, db_session: NamedDependency[AsyncSession]) -> Response[bytes]:
        return await _pdf(db_session, await service.get_invoice(db_session, invoice_id))

    @post(
        "/invoices/{invoice_id:int}/payments",
        status_code=200,
        operation_id="recordInvoicePayment",
        summary="Record a transfer: the finalised invoice is paid",
        responses=problem_responses(401, 403, 404, 409),
        **guarded(BILLING),
    )
    async def pay(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        invoice_id: InvoiceId,
        data: JSONBody[PaymentIn],
        db_session: NamedDependency[AsyncSession],
    ) -> InvoiceOut:
        if data.paid_at.tzinfo is None:
            raise BadPeriod("paid_at needs a time zone")
        invoice = await service.record_payment(
            db_session, invoice_id, reference=data.reference.strip(), paid_at=data.paid_at, actor=actor, origin=origin
        )
        return _invoice(invoice)

    @post(
        "/invoices/{invoice_id:int}/void",
        status_code=200,
        operation_id="voidInvoice",
        summary="Void a finalised, unpaid invoice (its number stays used)",
        responses=problem_responses(401, 403, 404, 409),
        **guarded(BILLING),
    )
    async def void(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        invoice_id: InvoiceId,
        data: JSONBody[ReasonIn],
        db_session: NamedDependency[AsyncSession],
    ) -> InvoiceOut:
        invoice = await service.void_invoice(
            db_session, invoice_id, reason=data.reason.strip(), now=_now(), actor=actor, origin=origin
        )
        return _invoice(invoice)

    @post(
        "/invoices/{invoice_id:int}/credit-notes",
        operation_id="issueCreditNote",
        summary="Issue a credit note (ใบลดหนี้) against a finalised or paid invoice",
        responses=problem_responses(401, 403, 404, 409, 422),
        **guarded(BILLING),
    )
    async def credit(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        invoice_id: InvoiceId,
        data: JSONBody[CreditIn],
        db_session: NamedDependency[AsyncSession],
    ) -> InvoiceOut:
        note = await service.credit_note(
            db_session,
            invoice_id,
            amount=data.amount,
            reason=data.reason.strip(),
            now=_now(),
            actor=actor,
            origin=origin,
        )
        return _invoice(note, await service.lines_of(db_session, note.id))

    @get(
        "/settings",
        operation_id="getBillingSettings",
        summary="The operator's Thai QR biller id and whether a bank notification secret is set",
        responses=problem_responses(401, 403),
        **guarded(BILLING),
    )
    async def get_settings(self, db_session: NamedDependency[AsyncSession]) -> BillingSettingsOut:
        return _settings_out(await qrpay.get_settings(db_session))

    @put(
        "/settings",
        operation_id="setBillingSettings",
        summary="Set the operator's Thai QR biller id (tax ID + suffix) and merchant name",
        responses=problem_responses(401, 403, 422),
        **guarded(BILLING),
    )
    async def set_settings(
        self, data: JSONBody[BillingSettingsIn], db_session: NamedDependency[AsyncSession]
    ) -> BillingSettingsOut:
        return _settings_out(await qrpay.set_biller(db_session, data.biller_id, data.merchant_name))

    @post(
        "/settings/notification-secret",
        operation_id="rotateBillingNotificationSecret",
        summary="A new bank notification secret, shown once; the previous one keeps verifying for 7 days",
        responses=problem_responses(401, 403),
        **guarded(BILLING),
    )
    async def rotate_secret(self, db_session: NamedDependency[AsyncSession]) -> SecretOut:
        return SecretOut(secret=await qrpay.rotate_secret(db_session, _now()))

    @post(
        "/bank-notifications",
        status_code=200,
        operation_id="receiveOperatorBankNotification",
        summary="A Thai QR payment of an operator invoice, from the operator's bank (HMAC-signed)",
        description=(
            "Public on purpose: the bank signs with `X-Localgov-Signature: v1=<hex HMAC-SHA256(secret, timestamp "
            "+ '.' + raw body)>` and `X-Localgov-Timestamp` (Unix seconds, within 5 minutes); 401 "
            "`invalid_signature`, `missing_signature`, `invalid_timestamp`, `stale_timestamp` "
            "(audited; past `LOCALGOV_LOGIN_RATE_LIMIT` refusals from one address in the window, "
            "429 `rate_limited`). Idempotent by "
            "`transaction_id` (a repeat answers the first outcome with `replayed: true`; the same id with other "
            "details is 409 `bank_transaction_conflict`). A payment whose Ref1 "
            "names no finalised invoice, or whose amount is not exactly its total, is an exception (200)."
        ),
        responses=problem_responses(401, 409, 422, 429),
        **guarded(PUBLIC),  # authenticated by the HMAC signature, not by a bearer token
    )
    async def bank_notification(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        data: JSONBody[BankNotificationIn],
        db_session: NamedDependency[AsyncSession],
        timestamp: Annotated[str | None, HeaderParameter(name=TIMESTAMP_HEADER, max_length=20)] = None,
        signature: Annotated[str | None, HeaderParameter(name=SIGNATURE_HEADER, max_length=1000)] = None,
    ) -> BankNotificationOut:
        state = request.app.state
        settings = state.settings
        # As payments' webhook: a budget of failed signatures per address; a correctly signed
        # delivery is verified first and never limited nor counted.
        budget = f"billing-bank-refused:{origin.source_ip}"
        try:
            await qrpay.verify(
                db_session, timestamp=timestamp, signature=signature, body=await request.body(), now=_now()
            )
        except SignatureRefused as refused:
            await refuse_if_spent(
                state.engine, budget, limit=settings.login_rate_limit, window_s=settings.login_rate_window_s
            )
            with contextlib.suppress(RateLimited):  # this one still answers 401; the next bad one, 429
                await hit(state.engine, budget, limit=settings.login_rate_limit, window_s=settings.login_rate_window_s)
            raise refused.audited(
                "billing.notification_refused",
                actor_kind="bank",
                target=f"bank-transaction:{data.transaction_id}",
                data={"code": refused.code},
            ) from None
        if data.paid_at.tzinfo is None:
            raise BadPeriod("paid_at needs a time zone")
        amount = data.amount
        if not amount.is_finite() or not 0 < amount < 10**12 or amount != amount.quantize(Decimal("0.01")):
            raise InvalidInput("amount", "must be positive baht with at most two decimals", code="invalid_amount")
        note = qrpay.Notification(
            transaction_id=data.transaction_id, ref1=data.ref1, amount=data.amount, paid_at=data.paid_at
        )
        outcome = await qrpay.receive(db_session, note, origin=origin)
        return BankNotificationOut(
            outcome=outcome.outcome, invoice_id=outcome.invoice_id, reason=outcome.reason, replayed=outcome.duplicate
        )

    @get(
        "/payment-exceptions",
        operation_id="listBillingPaymentExceptions",
        summary="Bank notifications that paid nothing (unknown reference, wrong amount, not payable), newest first",
        responses=problem_responses(401, 403, 404),
        **guarded(BILLING),
    )
    async def payment_exceptions(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> PaymentExceptionPage:
        before = decode_cursor(cursor, tuple[dt.datetime, int])
        rows, next_cursor = cut_page(
            await qrpay.exceptions(db_session, before=before, limit=limit + 1),
            limit,
            key=lambda r: (r.received_at, r.id),
        )
        return PaymentExceptionPage(
            next_cursor=next_cursor,
            items=[
                PaymentExceptionOut(
                    id=r.id,
                    transaction_id=r.transaction_id,
                    ref1=r.ref1,
                    amount=r.amount,
                    paid_at=r.paid_at,
                    invoice_id=r.invoice_id,
                    reason=r.reason,
                    received_at=r.received_at,
                )
                for r in rows
            ],
        )

    @get(
        "/plans/{plan_code:str}/thresholds",
        operation_id="listUsageThresholds",
        summary="A plan's usage thresholds (one event per tenant, meter and period when reached)",
        responses=problem_responses(401, 403),
        **guarded(BILLING),
    )
    async def list_thresholds(self, plan_code: PlanCode, db_session: NamedDependency[AsyncSession]) -> ThresholdList:
        return _thresholds(plan_code, await thresholds.thresholds_of(db_session, plan_code))

    @put(
        "/plans/{plan_code:str}/thresholds",
        operation_id="setUsageThresholds",
        summary="Replace a plan's usage thresholds",
        responses=problem_responses(401, 403, 404, 422),
        **guarded(BILLING),
    )
    async def set_thresholds(
        self,
        request: Request[Any, Any, Any],
        plan_code: PlanCode,
        data: JSONBody[ThresholdsIn],
        db_session: NamedDependency[AsyncSession],
    ) -> ThresholdList:
        levels = [(t.meter, t.threshold) for t in data.thresholds]
        rows = await thresholds.set_thresholds(db_session, plan_code, levels, _meters(request))
        return _thresholds(plan_code, rows)


# --- an LAO's own billing --------------------------------------------------------------------------


class TenantBillingController(Controller):
    path = "/v1/tenant/billing"
    tags = ["Tenant administration"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="getTenantBilling",
        summary="The LAO's plan, subscription and this billing period's usage so far",
        responses=problem_responses(401, 403, 404),
        **guarded(LAO_ADMIN),
    )
    async def overview(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> TenantBilling:
        row = await lifecycle.get_tenant(db_session, tenant.id)
        plan = await db_session.get(Plan, row.plan_code)
        assert plan is not None
        sub = await service.current_subscription(db_session, tenant.id)
        meters = _meters(request)
        start = end = None
        used: dict[str, Decimal] = {}
        if sub is not None:
            start, end = pricing.period_of(_now().astimezone(BANGKOK).date(), sub.billing_cycle)
            used = await service.usage_between(db_session, tenant.id, start, end, meters)
        return TenantBilling(
            plan_code=plan.code,
            plan_name_th=plan.name_th,
            plan_name_en=plan.name_en,
            subscription=await _subscription(db_session, sub) if sub else None,
            period_start=start,
            period_end=end,
            usage=_usage(used, meters),
        )

    @get(
        "/invoices",
        operation_id="listTenantInvoices",
        summary="The LAO's own finalised invoices and credit notes, newest period first",
        responses=problem_responses(401, 403, 404),
        **guarded(LAO_ADMIN),
    )
    async def invoices(
        self,
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> InvoicePage:
        return await _invoice_page(
            db_session, tenant_id=tenant.id, status=None, finalised_only=True, limit=limit, cursor=cursor
        )

    @get(
        "/invoices/{invoice_id:int}",
        operation_id="getTenantInvoice",
        summary="One of the LAO's own invoices with its lines (another LAO's: 404)",
        responses=problem_responses(401, 403, 404),
        **guarded(LAO_ADMIN),
    )
    async def invoice(
        self, tenant: NamedDependency[TenantInfo], invoice_id: InvoiceId, db_session: NamedDependency[AsyncSession]
    ) -> InvoiceOut:
        invoice = await service.get_invoice(db_session, invoice_id, tenant_id=tenant.id)
        if invoice.status == "draft":
            raise service.NoSuchInvoice(data={"invoice_id": invoice_id})
        qr = qrpay.payload_of(invoice, await qrpay.get_settings(db_session))
        return _invoice(invoice, await service.lines_of(db_session, invoice.id), qr)

    @get(
        "/invoices/{invoice_id:int}/pdf",
        operation_id="getTenantInvoicePdf",
        summary="One of the LAO's own invoices as a Thai PDF (another LAO's: 404)",
        media_type=PDF,
        responses=problem_responses(401, 403, 404),
        **guarded(LAO_ADMIN),
    )
    async def invoice_pdf(
        self, tenant: NamedDependency[TenantInfo], invoice_id: InvoiceId, db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        invoice = await service.get_invoice(db_session, invoice_id, tenant_id=tenant.id)
        if invoice.status == "draft":
            raise service.NoSuchInvoice(data={"invoice_id": invoice_id})
        return await _pdf(db_session, invoice)


async def _pdf(session: AsyncSession, invoice: OperatorInvoice) -> Response[bytes]:
    tenant = await lifecycle.get_tenant(session, invoice.tenant_id)
    lines = await service.lines_of(session, invoice.id)
    qr = qrpay.payload_of(invoice, await qrpay.get_settings(session))
    content = await asyncio.to_thread(render_invoice, invoice, lines, tenant, qr)
    name = (invoice.number or f"draft-{invoice.id}") + ".pdf"
    return Response(
        content,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"},
    )
