"""What people see of their bills: the public lookup by a paper bill's reference and code, and a
signed-in citizen's linked payers and bills."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, citizen, guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.tenancy import TenantInfo
from localgov.services.payments import bills
from localgov.services.payments.models import BillStatus
from localgov.services.payments.params import (
    LINK_LIMIT_PER_CITIZEN,
    LOOKUP_LIMIT_PER_ADDRESS,
    LOOKUP_LIMIT_PER_REFERENCE,
    QR_DESCRIPTION,
    BillId,
    PayerId,
    citizen_uuid,
    image_problems,
    image_response,
)
from localgov.services.payments.schemas import (
    BillLookup,
    BillPage,
    BillRead,
    MyPayer,
    MyPayerPage,
    PublicBill,
    bill_page,
    load_bill,
    my_payer_read,
)


class LookupController(Controller):
    path = "/lookup"
    tags = ["Payments: bill lookup"]

    @post(
        "/",
        status_code=200,
        operation_id="lookupBill",
        summary="Look up a paper bill by its reference and verification code: amount, due date, status, QR",
        description=(
            "Open to anyone holding the paper bill; nothing about the payer is shown. An unknown reference and "
            "a wrong code get the same 404 `bill_not_found`. Limited per client address and per reference "
            "(429 `rate_limited` with Retry-After)."
        ),
        responses=problem_responses(404, 410, 429),
        **guarded(PUBLIC),  # the verification code printed on the bill is the credential
    )
    async def lookup(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[BillLookup],
        db_session: NamedDependency[AsyncSession],
    ) -> PublicBill:
        engine = request.app.state.engine
        address = origin.source_ip or "unknown"
        per_address, window = LOOKUP_LIMIT_PER_ADDRESS
        await hit(engine, f"payments.lookup:{tenant.id}:{address}", limit=per_address, window_s=window)
        per_reference, window = LOOKUP_LIMIT_PER_REFERENCE
        await hit(
            engine, f"payments.lookup-ref:{tenant.id}:{data.reference.upper()}", limit=per_reference, window_s=window
        )
        row = await bills.find_by_reference(db_session, data.reference, data.verification_code)
        payload = await bills.qr_payload_or_none(db_session, row)
        return PublicBill(
            reference=row.reference,
            total=row.total,
            issue_date=row.issue_date,
            due_date=row.due_date,
            period=row.period,
            status=row.status,
            qr_payload=payload,
            qr_svg=bills.qr_svg(payload).decode() if payload else None,
            amount_due=row.total - row.amount_paid if row.status == "open" else Decimal("0.00"),
        )


class MyBillsController(Controller):
    path = "/me"
    tags = ["Payments: my bills"]

    @post(
        "/payers",
        status_code=200,
        operation_id="linkMyPayer",
        summary="See a payer's bills: prove one of its paper bills (reference + verification code)",
        description=(
            "Links the payer of that bill to the calling citizen; his bills then appear under `/me/bills`. "
            "404 `bill_not_found` for a wrong reference or code; 409 `payer_linked_elsewhere` when another "
            "citizen account already holds the payer (ask the LAO). Rate limited."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 429),
        **guarded(citizen()),
    )
    async def link(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        data: JSONBody[BillLookup],
        db_session: NamedDependency[AsyncSession],
    ) -> MyPayer:
        citizen_id = citizen_uuid(principal)
        limit, window = LINK_LIMIT_PER_CITIZEN
        await hit(request.app.state.engine, f"payments.link:{tenant.id}:{citizen_id}", limit=limit, window_s=window)
        row = await bills.link_citizen(
            db_session,
            citizen_id,
            data.reference,
            data.verification_code,
            actor=actor,
            origin=origin,
        )
        return my_payer_read(row)

    @get(
        "/payers",
        operation_id="listMyPayers",
        summary="The payers whose bills the calling citizen sees",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def payers(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> MyPayerPage:
        after = decode_cursor(cursor, tuple[str, uuid.UUID])
        rows = await bills.citizen_payers(db_session, citizen_uuid(principal), after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda p: (p.name, p.id))
        return MyPayerPage(items=[my_payer_read(r) for r in page], next_cursor=next_cursor)

    @delete(
        "/payers/{payer_id:uuid}",
        operation_id="unlinkMyPayer",
        summary="Stop seeing a payer's bills",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def unlink(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        payer_id: PayerId,
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await bills.unlink_citizen(db_session, citizen_uuid(principal), payer_id, actor=actor, origin=origin)

    @get(
        "/bills",
        operation_id="listMyBills",
        summary="The calling citizen's bills (of his linked payers), newest first, with QR payloads",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def bills(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        status: Annotated[BillStatus | None, QueryParameter(description="Only bills in this status")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> BillPage:
        rows = await bills.list_bills(
            db_session,
            citizen_id=citizen_uuid(principal),
            status=status,
            limit=limit + 1,
            after=decode_cursor(cursor, tuple[dt.date, str]),
        )
        return await bill_page(db_session, list(rows), limit)

    @get(
        "/bills/{bill_id:uuid}",
        operation_id="getMyBill",
        summary="One of the calling citizen's bills",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def bill(
        self, principal: NamedDependency[Principal], bill_id: BillId, db_session: NamedDependency[AsyncSession]
    ) -> BillRead:
        return await load_bill(db_session, await bills.citizen_bill(db_session, citizen_uuid(principal), bill_id))

    @get(
        "/bills/{bill_id:uuid}/qr.png",
        operation_id="getMyBillQrPng",
        summary="The QR of one of the calling citizen's bills, as PNG",
        description=QR_DESCRIPTION,
        media_type="image/png",
        responses=image_problems(),
        **guarded(citizen()),
    )
    async def qr_png(
        self, principal: NamedDependency[Principal], bill_id: BillId, db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        row = await bills.citizen_bill(db_session, citizen_uuid(principal), bill_id)
        return image_response(bills.qr_png(await bills.qr_payload(db_session, row)), "image/png")

    @get(
        "/bills/{bill_id:uuid}/qr.svg",
        operation_id="getMyBillQrSvg",
        summary="The QR of one of the calling citizen's bills, as SVG",
        description=QR_DESCRIPTION,
        media_type="image/svg+xml",
        responses=image_problems(),
        **guarded(citizen()),
    )
    async def qr_svg(
        self, principal: NamedDependency[Principal], bill_id: BillId, db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        row = await bills.citizen_bill(db_session, citizen_uuid(principal), bill_id)
        return image_response(bills.qr_svg(await bills.qr_payload(db_session, row)), "image/svg+xml")
