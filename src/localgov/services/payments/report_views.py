"""HTTP endpoints of finance reports: the daily collection report and the CSV exports for e-LAAS, and
the record of mail sent to payers (e-receipts, overdue notices)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, decode_cursor
from localgov.services.payments import mailing, revenue
from localgov.services.payments import reports as svc
from localgov.services.payments.params import MANAGE, READ

TAG = "Payments: reports"
Prefix = Annotated[str, PathParameter(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=60)]
CSV = "text/csv"  # Litestar adds "; charset=utf-8"
DateFrom = Annotated[dt.date, QueryParameter(description="First day (Bangkok time), inclusive")]
DateTo = Annotated[dt.date, QueryParameter(description="Last day (Bangkok time), inclusive")]


def _csv(content: bytes, name: str, day_from: dt.date, day_to: dt.date) -> Response[bytes]:
    filename = f"{name}-{day_from.isoformat()}-{day_to.isoformat()}.csv"
    return Response(
        content,
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


class ReportController(Controller):
    path = "/reports"
    tags = [TAG]

    @get(
        "/daily-collection",
        operation_id="getDailyCollectionReport",
        summary="Daily collection report: receipts, cancellations and exceptions per Bangkok day (≤366 days)",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def daily_collection(
        self, db_session: NamedDependency[AsyncSession], date_from: DateFrom, date_to: DateTo
    ) -> svc.CollectionReport:
        return await svc.daily_collection(db_session, date_from, date_to)

    @get(
        "/payments.csv",
        operation_id="exportPaymentsCsv",
        summary="Payments received in a range (≤31 days) as CSV for e-LAAS (UTF-8 with BOM, Thai (English) headers)",
        media_type=CSV,
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def payments_csv(
        self, db_session: NamedDependency[AsyncSession], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        return _csv(await svc.payments_csv(db_session, date_from, date_to), "payments", date_from, date_to)

    @get(
        "/receipts.csv",
        operation_id="exportReceiptsCsv",
        summary="Receipts issued in a range (≤31 days), one row per line, as CSV for e-LAAS",
        media_type=CSV,
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def receipts_csv(
        self, db_session: NamedDependency[AsyncSession], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        return _csv(await svc.receipts_csv(db_session, date_from, date_to), "receipts", date_from, date_to)

    @get(
        "/remittance",
        operation_id="getRemittanceSlip",
        summary="The remittance slip of a day by e-LAAS revenue code (receipts dated that payment day)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def remittance(
        self, db_session: NamedDependency[AsyncSession], day: Annotated[dt.date, QueryParameter()]
    ) -> revenue.Remittance:
        return await revenue.remittance(db_session, day)

    @get(
        "/remittance.csv",
        operation_id="exportRemittanceCsv",
        summary="Receipts by day and revenue code in a range (≤31 days), as CSV for e-LAAS entry",
        media_type=CSV,
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def remittance_csv(
        self, db_session: NamedDependency[AsyncSession], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        svc.check_range(date_from, date_to, svc.MAX_EXPORT_DAYS)
        slips = []
        day = date_from
        while day <= date_to:
            slips.append(await revenue.remittance(db_session, day))
            day += dt.timedelta(days=1)
        return _csv(revenue.remittance_csv(slips), "remittance", date_from, date_to)


class RevenueCodeController(Controller):
    """The LAO's e-LAAS revenue codes by fee code (prefix)."""

    path = "/revenue-codes"
    tags = [TAG]

    @get(
        "/",
        operation_id="listRevenueCodes",
        summary="Revenue codes (รหัสบัญชีรายได้) by fee code prefix",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def index(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> revenue.RevenueCodePage:
        after = decode_cursor(cursor, tuple[str])
        return await revenue.list_codes(db_session, after=after[0] if after else None, limit=limit)

    @put(
        "/{prefix:str}",
        operation_id="setRevenueCode",
        summary="Set the revenue code of a fee code or dotted prefix (the longest prefix applies); audited",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def set_code(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        prefix: Prefix,
        data: JSONBody[revenue.RevenueCodeSet],
        db_session: NamedDependency[AsyncSession],
    ) -> revenue.RevenueCodeRead:
        return await revenue.set_code(db_session, prefix, data, actor=actor, origin=origin)


class NoticeController(Controller):
    """The mail sent to payers: e-receipts and overdue notices (the LAO's record of notifications)."""

    path = "/notices"
    tags = [TAG]

    @get(
        "/",
        operation_id="listPaymentNotices",
        summary="E-receipts and overdue notices mailed to payers, newest first (filter by kind or bill)",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def list_notices(
        self,
        db_session: NamedDependency[AsyncSession],
        kind: Annotated[
            Literal["e_receipt", "overdue"] | None, QueryParameter(description="e_receipt or overdue")
        ] = None,
        bill_id: Annotated[uuid.UUID | None, QueryParameter(description="Only the mail about this bill")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> mailing.NoticePage:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        return await mailing.list_notices(db_session, kind=kind, bill_id=bill_id, after=after, limit=limit)
