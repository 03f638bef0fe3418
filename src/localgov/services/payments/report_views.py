"""HTTP endpoints of finance reports: the daily collection report and the CSV exports for e-LAAS."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.services.payments import reports as svc
from localgov.services.payments.params import MANAGE

TAG = "Payments: reports"
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
        responses=problem_responses(401, 403, 404, 410),
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
        responses=problem_responses(401, 403, 404, 410),
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
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def receipts_csv(
        self, db_session: NamedDependency[AsyncSession], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        return _csv(await svc.receipts_csv(db_session, date_from, date_to), "receipts", date_from, date_to)
