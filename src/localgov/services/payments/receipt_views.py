"""HTTP endpoints of receipts: list, show, the PDF, void, reprint as a copy."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, UpdatedSince, aware, id_cursor, next_id_cursor
from localgov.kernel.tenancy import TenantInfo
from localgov.services.payments import receipts as svc
from localgov.services.payments.bank_views import DayFrom, DayTo
from localgov.services.payments.models import Receipt, ReceiptStatus
from localgov.services.payments.params import RECEIPTS, RECEIPTS_READ, VOID, staff_uuid
from localgov.services.payments.receipt_pdf import render_receipt
from localgov.settings import Settings

TAG = "Payments: receipts"
ReceiptIdPath = Annotated[uuid.UUID, PathParameter(description="The receipt's id")]
PDF = "application/pdf"


class ReceiptOut(msgspec.Struct, kw_only=True):
    """A receipt (ใบเสร็จรับเงิน): book/number per fiscal year, the amount in figures and Thai words."""

    id: uuid.UUID
    fiscal_year: str
    book_no: int
    receipt_no: int
    #: The n-th receipt of the fiscal year.
    sequence: int
    issued_at: dt.datetime
    payer_name: str
    amount: Decimal
    amount_text_th: str
    collector: str
    status: ReceiptStatus
    void_reason: str | None
    voided_at: dt.datetime | None
    voided_by: uuid.UUID | None
    reprints: int
    payment_id: uuid.UUID
    bill_id: uuid.UUID


class ReceiptList(msgspec.Struct):
    items: list[ReceiptOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class ReceiptVoid(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=1000, description="Why it is cancelled")]
    #: Where the money goes: ``exceptions`` (the queue finance works through) or ``credit`` (held
    #: for the payer, used by their next bill or refunded).
    money_to: Literal["exceptions", "credit"] = "exceptions"


def receipt_out(r: Receipt) -> ReceiptOut:
    return ReceiptOut(
        id=r.id,
        fiscal_year=r.fiscal_year,
        book_no=r.book_no,
        receipt_no=r.receipt_no,
        sequence=r.sequence,
        issued_at=r.issued_at,
        payer_name=r.payer_name,
        amount=r.amount,
        amount_text_th=r.amount_text_th,
        collector=r.collector,
        status="void" if r.status == "void" else "issued",
        void_reason=r.void_reason,
        voided_at=r.voided_at,
        voided_by=r.voided_by,
        reprints=r.reprints,
        payment_id=r.payment_id,
        bill_id=r.bill_id,
    )


def _pdf(content: bytes, receipt: Receipt, suffix: str) -> Response[bytes]:
    name = f"receipt-{receipt.fiscal_year}-{receipt.book_no}-{receipt.receipt_no}{suffix}.pdf"
    return Response(
        content,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"},
    )


class ReceiptController(Controller):
    path = "/receipts"
    tags = [TAG]

    @get(
        "/",
        operation_id="listReceipts",
        summary="Receipts in number order (filter by fiscal year, status, day of issue, last change)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(RECEIPTS_READ),
    )
    async def list_receipts(
        self,
        db_session: NamedDependency[AsyncSession],
        fiscal_year: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{4}$", description="BE, e.g. 2570")] = None,
        status: Annotated[ReceiptStatus | None, QueryParameter()] = None,
        day_from: DayFrom = None,
        day_to: DayTo = None,
        cursor: Cursor = None,
        limit: Limit = 100,
        updated_since: UpdatedSince = None,
    ) -> ReceiptList:
        rows = await svc.list_receipts(
            db_session,
            fiscal_year=fiscal_year,
            status=status,
            day_from=day_from,
            day_to=day_to,
            after=id_cursor(cursor),
            limit=limit,
            updated_since=aware(updated_since),
        )
        items = [receipt_out(r) for r in rows]
        return ReceiptList(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{receipt_id:uuid}",
        operation_id="getReceipt",
        summary="One receipt",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(RECEIPTS_READ),
    )
    async def show(self, receipt_id: ReceiptIdPath, db_session: NamedDependency[AsyncSession]) -> ReceiptOut:
        return receipt_out(await svc.get_receipt(db_session, receipt_id))

    @get(
        "/{receipt_id:uuid}/pdf",
        operation_id="getReceiptPdf",
        summary="The receipt as a Thai PDF (the original; a cancelled one carries the CANCELLED mark)",
        media_type=PDF,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(RECEIPTS),
    )
    async def pdf(
        self,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        receipt_id: ReceiptIdPath,
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        receipt = await svc.get_receipt(db_session, receipt_id)
        doc = await svc.receipt_document(
            db_session,
            receipt,
            lao_name_th=svc.issuer_name(tenant),
            stamp=await svc.receipt_stamp(db_session, receipt, settings=settings, tenant=tenant),
        )
        return _pdf(await asyncio.to_thread(render_receipt, doc), receipt, "")

    @post(
        "/{receipt_id:uuid}/reprint",
        operation_id="reprintReceipt",
        summary="Print a copy (สำเนา): marked as a copy with its number, counted and audited",
        status_code=200,
        media_type=PDF,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(RECEIPTS),
    )
    async def reprint(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        receipt_id: ReceiptIdPath,
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        receipt = await svc.count_reprint(db_session, receipt_id, actor=actor, origin=origin)
        doc = await svc.receipt_document(
            db_session,
            receipt,
            lao_name_th=svc.issuer_name(tenant),
            copy_no=receipt.reprints,
            stamp=await svc.receipt_stamp(db_session, receipt, settings=settings, tenant=tenant),
        )
        return _pdf(await asyncio.to_thread(render_receipt, doc), receipt, f"-copy-{receipt.reprints}")

    @post(
        "/{receipt_id:uuid}/void",
        operation_id="voidReceipt",
        summary="Cancel a receipt with a reason: it is kept, marked cancelled, and its bill is open again",
        description=(
            "For a supervisor (`payments.void`: finance officers and `payments.supervisor`), never for the "
            "cashier who took a counter payment (403 `void_own_receipt`). The money goes to the exceptions "
            "queue (`money_to: exceptions`, the default) or to the payer's credit (`money_to: credit`)."
        ),
        status_code=200,
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(VOID),
    )
    async def void(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        receipt_id: ReceiptIdPath,
        data: JSONBody[ReceiptVoid],
        db_session: NamedDependency[AsyncSession],
    ) -> ReceiptOut:
        reason = data.reason.strip()
        receipt = await svc.void_receipt(
            db_session,
            receipt_id,
            reason=reason,
            staff_id=staff_uuid(principal),
            actor=actor,
            origin=origin,
            to_credit=data.money_to == "credit",
        )
        return receipt_out(receipt)
