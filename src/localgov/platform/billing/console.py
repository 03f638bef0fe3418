"""The billing console (คอนโซลค่าบริการ): a server-rendered page on the operator host, Thai first,
charts as SVG drawn on the server (no script): revenue by month, invoiced usage per meter over
time, the top LAOs by use, invoices by state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy import Date, bindparam, desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.auth.guards import guarded
from localgov.kernel.pages import page
from localgov.kernel.thai import MONTHS_TH_ABBR, bangkok_today, be_year, thai_date
from localgov.platform.billing.meters import meter_registry
from localgov.platform.billing.models import OperatorInvoice, OperatorInvoiceLine
from localgov.platform.billing.views import BILLING
from localgov.platform.models import Tenant

#: Months of revenue and usage shown.
MONTHS = 12
TOP = 10
STATUS_TH = {"draft": "ร่าง", "finalised": "ออกแล้ว รอชำระ", "paid": "ชำระแล้ว", "void": "ยกเลิก"}

_REVENUE = (
    select(OperatorInvoice.period_start, func.sum(OperatorInvoice.subtotal))
    .where(
        OperatorInvoice.kind == "invoice",
        OperatorInvoice.status.in_(("finalised", "paid")),
        OperatorInvoice.period_start >= bindparam("since", type_=Date),
    )
    .group_by(OperatorInvoice.period_start)
)
_USAGE = (
    select(
        OperatorInvoiceLine.meter,
        OperatorInvoice.period_start,
        func.sum(OperatorInvoiceLine.quantity),
    )
    .join(OperatorInvoice, OperatorInvoice.id == OperatorInvoiceLine.invoice_id)
    .where(
        OperatorInvoiceLine.kind == "usage",
        OperatorInvoice.kind == "invoice",
        OperatorInvoice.status.in_(("finalised", "paid")),
    )
    .group_by(OperatorInvoiceLine.meter, OperatorInvoice.period_start)
)
_TOP = (
    select(Tenant.name_th, Tenant.dla_code, func.sum(OperatorInvoiceLine.amount).label("usage"))
    .join(OperatorInvoice, OperatorInvoice.id == OperatorInvoiceLine.invoice_id)
    .join(Tenant, Tenant.id == OperatorInvoice.tenant_id)
    .where(
        OperatorInvoiceLine.kind == "usage",
        OperatorInvoice.kind == "invoice",
        OperatorInvoice.status.in_(("finalised", "paid")),
    )
    .group_by(Tenant.id)
    .order_by(desc("usage"), Tenant.dla_code)
    .limit(TOP)
)
_STATES = (
    select(OperatorInvoice.status, func.count())
    .where(OperatorInvoice.kind == "invoice")
    .group_by(OperatorInvoice.status)
)


class Bar(msgspec.Struct, kw_only=True):
    label: str
    value: str
    x: float
    y: float
    width: float
    height: float


class Chart(msgspec.Struct, kw_only=True):
    """A bar chart laid out for an SVG ``viewBox`` of ``width`` × ``height``."""

    title_th: str
    title_en: str
    width: int
    height: int
    bars: list[Bar]
    empty: bool


def columns(title_th: str, title_en: str, items: Sequence[tuple[str, Decimal]], *, unit: str = "") -> Chart:
    """Vertical bars, one per item, scaled to the largest (labels under, values above)."""
    width, height, top, bottom = 640, 220, 24, 36
    biggest = max((v for _, v in items), default=Decimal(0))
    slot = width / max(len(items), 1)
    bars = []
    for i, (label, value) in enumerate(items):
        h = float(value / biggest) * (height - top - bottom) if biggest > 0 else 0.0
        bars.append(
            Bar(
                label=label,
                value=f"{value:,.0f}{unit}",
                x=round(i * slot + slot * 0.15, 1),
                y=round(height - bottom - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
            )
        )
    return Chart(title_th=title_th, title_en=title_en, width=width, height=height, bars=bars, empty=biggest <= 0)


def rows(title_th: str, title_en: str, items: Sequence[tuple[str, Decimal]], *, unit: str = "") -> Chart:
    """Horizontal bars, one row per item (the label on the left, the value after the bar)."""
    width, row, label_w = 640, 26, 260
    biggest = max((v for _, v in items), default=Decimal(0))
    bars = []
    for i, (label, value) in enumerate(items):
        w = float(value / biggest) * (width - label_w - 110) if biggest > 0 else 0.0
        bars.append(
            Bar(label=label, value=f"{value:,.2f}{unit}" if unit else f"{value:,}", x=label_w, y=i * row + 4,
                width=round(w, 1), height=row - 8)
        )  # fmt: skip
    return Chart(
        title_th=title_th, title_en=title_en, width=width, height=max(row * len(items), row) + 8, bars=bars,
        empty=biggest <= 0,
    )  # fmt: skip


def month_label(day: dt.date) -> str:
    return f"{MONTHS_TH_ABBR[day.month - 1]} {str(be_year(day))[-2:]}"


def months_back(today: dt.date, n: int) -> list[dt.date]:
    first = today.replace(day=1)
    out = []
    for _ in range(n):
        out.append(first)
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return out[::-1]


async def console_context(session: AsyncSession, meters: dict[str, Any], today: dt.date) -> dict[str, Any]:
    months = months_back(today, MONTHS)
    revenue: dict[dt.date, Decimal] = {}
    for start, amount in await session.execute(_REVENUE, {"since": months[0]}):
        month = start.replace(day=1)
        revenue[month] = revenue.get(month, Decimal(0)) + Decimal(amount)
    usage: dict[str, dict[dt.date, Decimal]] = {}
    for meter, start, quantity in await session.execute(_USAGE):
        per_month = usage.setdefault(meter or "", {})
        month = start.replace(day=1)
        per_month[month] = per_month.get(month, Decimal(0)) + Decimal(quantity)
    usage_charts = []
    for code in sorted(usage):
        meter = meters.get(code)
        usage_charts.append(
            columns(
                meter.title_th if meter else code,
                f"{meter.title_en if meter else code} ({meter.unit if meter else ''})",
                [(month_label(m), usage[code].get(m, Decimal(0))) for m in months],
            )
        )
    top = [(f"{name} ({dla})", Decimal(amount)) for name, dla, amount in await session.execute(_TOP)]
    states: dict[str, int] = {status: n for status, n in await session.execute(_STATES)}
    return {
        "today": today,
        "today_th": thai_date(today),
        "revenue": columns(
            "รายได้ค่าบริการรายเดือน (ก่อนภาษี บาท)",
            "Revenue by month (baht before VAT, finalised and paid invoices)",
            [(month_label(m), revenue.get(m, Decimal(0))) for m in months],
        ),
        "usage": usage_charts,
        "top": rows("อปท. ที่ใช้บริการมากที่สุด (ค่าใช้งาน บาท)", "Top LAOs by use (usage charges, baht)", top, unit=" ฿"),
        "states": rows(
            "ใบแจ้งหนี้ตามสถานะ",
            "Invoices by state",
            [(f"{STATUS_TH[s]} ({s})", Decimal(states.get(s, 0))) for s in STATUS_TH],
        ),
    }


class BillingConsoleController(Controller):
    path = "/billing/console"
    opt = {"surface": "operator"}
    include_in_schema = False

    @get("/", **guarded(BILLING))
    async def console(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        context = await console_context(db_session, meter_registry(request.app.state.plugins), bangkok_today())
        return page("billing/console.html", context)
