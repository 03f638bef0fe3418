"""The citizens' pay page (หน้าชำระค่าธรรมเนียม) on the LAO's host: no login, Thai first, no script.

Anyone holding a paper bill types its reference and verification code (or scans the QR printed on
the bill, whose link carries both) and sees the bill: its lines, what is still due, the Thai QR to
scan with any banking app (inline SVG, so the page needs no second request) and, once paid, a link
to each receipt's PDF. Nothing about the payer is shown but the masked name.

The same per-address and per-reference budgets as the JSON lookup (``POST /v1/payments/lookup``)
apply; an unknown reference and a wrong code answer the same 404 page.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.response import Template
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.documents import mask_name
from localgov.kernel.pages import page
from localgov.kernel.ratelimit import RateLimited, hit
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import thai_date
from localgov.services.payments import bills
from localgov.services.payments import receipts as receipt_svc
from localgov.services.payments.bills import BillNotFound
from localgov.services.payments.models import Bill, Payer, Receipt
from localgov.services.payments.params import LOOKUP_LIMIT_PER_ADDRESS, LOOKUP_LIMIT_PER_REFERENCE
from localgov.services.payments.receipt_pdf import render_receipt
from localgov.settings import Settings

#: Where the page lives (under the service's ``/v1/payments``); the QR printed on a bill links here.
PAY_PATH = "/v1/payments/pay"
_MAX_KEPT = 40  # a reference is 10 characters, a code 6: longer input is cut when shown again
RefQuery = Annotated[str | None, QueryParameter(max_length=_MAX_KEPT, description="The bill's reference")]
CodeQuery = Annotated[str | None, QueryParameter(max_length=_MAX_KEPT, description="The bill's verification code")]

NOT_FOUND = ("ไม่พบใบแจ้งหนี้ที่มีเลขอ้างอิงและรหัสตรวจสอบนี้", "No bill has this reference and verification code")
MISSING = ("กรอกเลขอ้างอิงและรหัสตรวจสอบตามใบแจ้งหนี้", "Enter the reference and the verification code of the bill")
TOO_MANY = ("มีการตรวจสอบจากเครื่องนี้มากเกินไป โปรดลองใหม่ภายหลัง", "Too many attempts: please try again later")

_RECEIPTS = (
    select(Receipt.id, Receipt.fiscal_year, Receipt.book_no, Receipt.receipt_no, Receipt.amount, Receipt.issued_at)
    .where(Receipt.status == "issued")
    .order_by(Receipt.sequence)
)


def pay_link(settings: Settings, tenant: TenantInfo, reference: str, code: str) -> str:
    """The link printed as a QR on a paper bill: it opens the bill's pay page directly."""
    return settings.public_url(f"{PAY_PATH}?ref={reference}&code={code}", slug=tenant.slug)


def _text(value: Any) -> str:
    return value.strip()[:_MAX_KEPT] if isinstance(value, str) else ""


async def limit_lookup(request: Request[Any, Any, Any], tenant: TenantInfo, origin: Origin, reference: str) -> None:
    """The lookup budgets, shared with the JSON API: per client address and per reference."""
    engine = request.app.state.engine
    address = origin.source_ip or "unknown"
    per_address, window = LOOKUP_LIMIT_PER_ADDRESS
    await hit(engine, f"payments.lookup:{tenant.id}:{address}", limit=per_address, window_s=window)
    per_reference, window = LOOKUP_LIMIT_PER_REFERENCE
    await hit(engine, f"payments.lookup-ref:{tenant.id}:{reference.upper()}", limit=per_reference, window_s=window)


def _form(
    tenant: TenantInfo,
    reference: str,
    *,
    error: tuple[str, str] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    context = {"lao_th": tenant.name_th, "lao_en": tenant.name_en, "reference": reference, "error": error,
               "action": PAY_PATH}  # fmt: skip
    return page("payments/pay.html", context, status=status, headers=headers)


def _baht(amount: Decimal) -> str:
    return f"{amount:,.2f}"


async def _bill_page(session: AsyncSession, tenant: TenantInfo, bill: Bill, code: str) -> Template:
    items = (await bills.bill_items(session, [bill.id])).get(bill.id, [])
    payer = await session.get(Payer, bill.payer_id)
    payload = await bills.qr_payload_or_none(session, bill)
    due = bill.total - bill.amount_paid if bill.status == "open" else Decimal("0.00")
    rows = (await session.execute(_RECEIPTS.where(Receipt.bill_id == bill.id))).all()
    context = {
        "lao_th": tenant.name_th,
        "lao_en": tenant.name_en,
        "action": PAY_PATH,
        "bill": bill,
        "payer_masked": mask_name(payer.name) if payer else "",
        "issue_th": thai_date(bill.issue_date, digits="arabic"),
        "due_th": thai_date(bill.due_date, digits="arabic"),
        "lines": [(i.description_th, i.period, _baht(i.amount)) for i in items],
        "total": _baht(bill.total),
        "paid": _baht(bill.amount_paid),
        "amount_due": _baht(due),
        "qr_svg": Markup(bills.qr_svg(payload).decode()) if payload else None,  # noqa: S704 - segno's own SVG
        "receipts": [
            {
                "label": f"{r.book_no}/{r.receipt_no}/{r.fiscal_year}",
                "amount": _baht(r.amount),
                "url": f"{PAY_PATH}/receipts/{r.id}?ref={bill.reference}&code={code}",
            }
            for r in rows
        ],
    }
    return page("payments/pay_bill.html", context)


class PayPagesController(Controller):
    path = "/pay"
    include_in_schema = False

    @get("/", **guarded(PUBLIC))  # the bill's verification code (in the form or the printed link) is the credential
    async def form(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        ref: RefQuery = None,
        code: CodeQuery = None,
    ) -> Template:
        reference, verification = _text(ref), _text(code)
        if not reference or not verification:
            return _form(tenant, reference)
        return await self._show(request, tenant, origin, db_session, reference, verification)

    @post("/", status_code=200, **guarded(PUBLIC))  # the verification code typed from the paper bill is the credential
    async def submit(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        form = await request.form()
        reference, verification = _text(form.get("reference")), _text(form.get("verification_code"))
        if not reference or not verification:
            return _form(tenant, reference, status=400, error=MISSING)
        return await self._show(request, tenant, origin, db_session, reference, verification)

    async def _show(
        self,
        request: Request[Any, Any, Any],
        tenant: TenantInfo,
        origin: Origin,
        session: AsyncSession,
        reference: str,
        code: str,
    ) -> Template:
        try:
            await limit_lookup(request, tenant, origin, reference)
            bill = await bills.find_by_reference(session, reference, code)
        except RateLimited as exc:
            return _form(tenant, reference, status=429, headers=exc.headers, error=TOO_MANY)
        except BillNotFound:
            return _form(tenant, reference, status=404, error=NOT_FOUND)
        return await _bill_page(session, tenant, bill, code)

    # The PDF, or the form page with the refusal: each response carries its own media type.
    @get("/receipts/{receipt_id:uuid}", **guarded(PUBLIC))  # the bill's reference and code in the link
    async def receipt_pdf(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        receipt_id: Annotated[uuid.UUID, PathParameter(description="The receipt's id")],
        ref: RefQuery = None,
        code: CodeQuery = None,
    ) -> Response[bytes] | Template:
        reference, verification = _text(ref), _text(code)
        try:
            await limit_lookup(request, tenant, origin, reference)
            bill = await bills.find_by_reference(db_session, reference, verification)
            receipt = await db_session.get(Receipt, receipt_id)
            if receipt is None or receipt.bill_id != bill.id or receipt.status != "issued":
                raise BillNotFound()
        except RateLimited as exc:
            return _form(tenant, reference, status=429, headers=exc.headers, error=TOO_MANY)
        except BillNotFound:
            return _form(tenant, reference, status=404, error=NOT_FOUND)
        doc = await receipt_svc.receipt_document(
            db_session,
            receipt,
            lao_name_th=receipt_svc.issuer_name(tenant),
            stamp=await receipt_svc.receipt_stamp(db_session, receipt, settings=settings, tenant=tenant),
        )
        content = await asyncio.to_thread(render_receipt, doc)
        name = f"receipt-{receipt.fiscal_year}-{receipt.book_no}-{receipt.receipt_no}.pdf"
        return Response(
            content,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{name}"',
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
            },
        )
