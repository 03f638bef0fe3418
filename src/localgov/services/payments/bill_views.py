"""HTTP endpoints of bills (ใบแจ้งหนี้): bill runs, bills and their QR, late surcharges, arrears."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, UpdatedSince, aware, decode_cursor
from localgov.kernel.reads import ReadConnection
from localgov.services.payments import bills, yearend
from localgov.services.payments.models import BillStatus
from localgov.services.payments.params import (
    MANAGE,
    QR_DESCRIPTION,
    READ,
    WRITE,
    BillId,
    PeriodParam,
    image_problems,
    image_response,
)
from localgov.services.payments.schemas import (
    BillCancel,
    BillPage,
    BillRead,
    BillRunCreate,
    bill_page,
    bill_view_read,
    load_bill,
)


class BillRunController(Controller):
    path = "/bill-runs"
    tags = ["Payments: bills"]

    @post(
        "/",
        status_code=200,
        operation_id="runBills",
        summary="Bill one month of one fee type now (idempotent: a second run makes no second bill)",
        description=(
            "Every account open in the month without a bill for it gets one, priced by the tariff in force on "
            "the month's first day. Accounts the tariff cannot price (no reading, no band …) are listed in "
            "`skipped`. 409 `tariff_missing` without a tariff. The worker runs the previous month by itself. "
            "An `Idempotency-Key` may be sent."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def run(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[BillRunCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[bills.RunResult]:
        async def work() -> bills.RunResult:
            return await bills.run_bills(db_session, data.fee_type, data.period)

        return await idempotent(request, db_session, idempotency_key, work, status_code=200)


class BillController(Controller):
    path = "/bills"
    tags = ["Payments: bills"]

    @post(
        "/",
        operation_id="createBill",
        summary="Make a bill by hand (a one-off fee, a corrected month)",
        description="Needs an `Idempotency-Key`: a retried request never makes a second bill.",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[bills.ManualBillCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKey,
    ) -> Response[BillRead]:
        async def work() -> BillRead:
            return await load_bill(db_session, await bills.create_manual_bill(db_session, data))

        return await idempotent(request, db_session, idempotency_key, work)

    @get(
        "/",
        operation_id="listBills",
        summary="Bills, newest first, filtered",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        payer_id: Annotated[uuid.UUID | None, QueryParameter(description="Bills of this payer")] = None,
        account_id: Annotated[uuid.UUID | None, QueryParameter(description="Bills of this account")] = None,
        status: Annotated[BillStatus | None, QueryParameter(description="Only bills in this status")] = None,
        period: PeriodParam = None,
        overdue: Annotated[bool, QueryParameter(description="Only open bills past their due date")] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
        updated_since: UpdatedSince = None,
    ) -> BillPage:
        rows = await bills.list_bills(
            db_session,
            payer_id=payer_id,
            account_id=account_id,
            status=status,
            period=period,
            overdue=overdue,
            limit=limit + 1,
            after=decode_cursor(cursor, tuple[dt.date, str]),
            updated_since=aware(updated_since),
        )
        return await bill_page(db_session, list(rows), limit)

    @get(
        "/{bill_id:uuid}",
        operation_id="getBill",
        summary="One bill, its lines and its QR payload",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, bill_id: BillId, db_read: NamedDependency[ReadConnection]) -> BillRead:
        return bill_view_read(await bills.bill_view(db_read, bill_id))

    @post(
        "/{bill_id:uuid}/cancel",
        status_code=200,
        operation_id="cancelBill",
        summary="Cancel an open bill with a reason (409 `bill_not_open` for a paid or cancelled bill)",
        description="The bill is kept, marked cancelled with the reason, who and when; audited.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def cancel(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        bill_id: BillId,
        data: JSONBody[BillCancel],
        db_session: NamedDependency[AsyncSession],
    ) -> BillRead:
        row = await bills.cancel_bill(db_session, bill_id, reason=data.reason, actor=actor, origin=origin)
        return await load_bill(db_session, row)

    @get(
        "/{bill_id:uuid}/qr.png",
        operation_id="getBillQrPng",
        summary="The bill's Thai QR as a PNG image",
        description=QR_DESCRIPTION,
        media_type="image/png",
        responses=image_problems(),
        **guarded(READ),
    )
    async def qr_png(self, bill_id: BillId, db_session: NamedDependency[AsyncSession]) -> Response[bytes]:
        payload = await bills.qr_payload(db_session, await bills.get_bill(db_session, bill_id))
        return image_response(bills.qr_png(payload), "image/png")

    @get(
        "/{bill_id:uuid}/qr.svg",
        operation_id="getBillQrSvg",
        summary="The bill's Thai QR as an SVG image",
        description=QR_DESCRIPTION,
        media_type="image/svg+xml",
        responses=image_problems(),
        **guarded(READ),
    )
    async def qr_svg(self, bill_id: BillId, db_session: NamedDependency[AsyncSession]) -> Response[bytes]:
        payload = await bills.qr_payload(db_session, await bills.get_bill(db_session, bill_id))
        return image_response(bills.qr_svg(payload), "image/svg+xml")


class SurchargeController(Controller):
    path = "/late-surcharges"
    tags = ["Payments: bills"]

    @post(
        "/",
        status_code=200,
        operation_id="issueLateSurcharges",
        summary="Issue the surcharge bills now due (the worker does it by itself every few hours)",
        description=(
            "One surcharge bill per bill open past its due date plus its grace days, once: `percent` of its "
            "total, by the rule the bill was issued under. An `Idempotency-Key` may be sent."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[bills.SurchargeResult]:
        async def work() -> bills.SurchargeResult:
            return await bills.issue_surcharges(db_session)

        return await idempotent(request, db_session, idempotency_key, work, status_code=200)


class ArrearsController(Controller):
    path = "/arrears"
    tags = ["Payments: bills"]

    @get(
        "/",
        operation_id="getArrears",
        summary="Arrears: open bills past their due date, totals by fee type and by payer",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def arrears(
        self,
        db_session: NamedDependency[AsyncSession],
        top: Annotated[
            int, QueryParameter(ge=1, le=1000, description="Payers listed (largest first): a report, not a page")
        ] = 100,
    ) -> bills.Arrears:
        return await bills.arrears(db_session, limit=top)


class DebtorController(Controller):
    path = "/debtors"
    tags = ["Payments: bills"]

    @get(
        "/",
        operation_id="getDebtorRegister",
        summary="The debtor register of a BE fiscal year (open bills issued in it, by payer) and the carry-forward",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def register(
        self,
        db_session: NamedDependency[AsyncSession],
        fiscal_year: Annotated[str, QueryParameter(pattern=r"^25[0-9]{2}$", description="BE fiscal year, e.g. 2570")],
        top: Annotated[
            int, QueryParameter(ge=1, le=500, description="Payers listed (largest first): a report, not a page")
        ] = 100,
    ) -> bills.DebtorRegister:
        return await bills.debtor_register(db_session, fiscal_year, limit=top)

    @post(
        "/year-end-close",
        status_code=200,
        operation_id="closeDebtorYear",
        summary="Close a fiscal year that ended: carry each bill still owed on 30 September into the next year (once)",
        responses=problem_responses(400, 401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def close_year(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[yearend.YearEndCloseCreate],
    ) -> yearend.YearEndCloseRead:
        return await yearend.close_year(db_session, data.fiscal_year, actor=actor, origin=origin)

    @get(
        "/carried-forward",
        operation_id="getCarriedForward",
        summary="The opening balance (ยอดยกมา) of a fiscal year by payer: what the close of the year before carried",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def carried(
        self,
        db_session: NamedDependency[AsyncSession],
        fiscal_year: Annotated[str, QueryParameter(pattern=r"^25[0-9]{2}$", description="BE fiscal year, e.g. 2570")],
        top: Annotated[
            int, QueryParameter(ge=1, le=500, description="Payers listed (largest first): a report, not a page")
        ] = 100,
    ) -> yearend.CarriedForwardRead:
        return await yearend.carried_forward(db_session, fiscal_year, limit=top)
