"""HTTP endpoints of the reports the OPDC asks for: JSON, and CSV for a spreadsheet."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.reads import ReadConnection
from localgov.services.oss import reports
from localgov.services.oss.params import MANAGE, STAFF_ERRORS

TAG = "OSS: reports"
CSV = "text/csv"  # Litestar adds "; charset=utf-8"
DateFrom = Annotated[dt.date, QueryParameter(description="First day (Bangkok), inclusive")]
DateTo = Annotated[dt.date, QueryParameter(description="Last day (Bangkok), inclusive; at most 366 days in all")]
_ERRORS = problem_responses(*STAFF_ERRORS, 422)


def _csv(content: bytes, name: str, when: reports.Period) -> Response[bytes]:
    filename = f"oss-{name}-{when.date_from.isoformat()}-{when.date_to.isoformat()}.csv"
    return Response(
        content,
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


class ReportController(Controller):
    path = "/reports"
    tags = [TAG]

    @get(
        "/cases-by-state",
        operation_id="getOssCasesByStateReport",
        summary="Cases opened in a period, by case type, catalogue service and the state they are in now",
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def cases_by_state(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> reports.CasesByState:
        return await reports.cases_by_state(db_read, reports.period(date_from, date_to))

    @get(
        "/cases-by-state.csv",
        operation_id="exportOssCasesByStateCsv",
        summary="The cases-by-state report as CSV (UTF-8 with BOM, Thai (English) headers)",
        media_type=CSV,
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def cases_by_state_csv(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        when = reports.period(date_from, date_to)
        return _csv(reports.cases_by_state_csv(await reports.cases_by_state(db_read, when)), "cases-by-state", when)

    @get(
        "/sla-compliance",
        operation_id="getOssSlaComplianceReport",
        summary="Cases decided in a period: within the manual's time or late, the share on time, results notified",
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def sla_compliance(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> reports.SlaCompliance:
        return await reports.sla_compliance(db_read, reports.period(date_from, date_to))

    @get(
        "/sla-compliance.csv",
        operation_id="exportOssSlaComplianceCsv",
        summary="The SLA compliance report as CSV",
        media_type=CSV,
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def sla_compliance_csv(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        when = reports.period(date_from, date_to)
        return _csv(reports.sla_compliance_csv(await reports.sla_compliance(db_read, when)), "sla-compliance", when)

    @get(
        "/time-per-step",
        operation_id="getOssTimePerStepReport",
        summary="Working days spent per state (visits ended in a period): mean, median, longest, over the limit",
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def time_per_step(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> reports.TimePerStep:
        return await reports.time_per_step(db_read, reports.period(date_from, date_to))

    @get(
        "/time-per-step.csv",
        operation_id="exportOssTimePerStepCsv",
        summary="The time-per-step report as CSV",
        media_type=CSV,
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def time_per_step_csv(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        when = reports.period(date_from, date_to)
        return _csv(reports.time_per_step_csv(await reports.time_per_step(db_read, when)), "time-per-step", when)

    @get(
        "/delay-notices",
        operation_id="getOssDelayNoticesReport",
        summary="Delay notices sent in a period, with their copies for the OPDC, and totals by service",
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def delay_notices(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> reports.DelayNotices:
        return await reports.delay_notices(db_read, reports.period(date_from, date_to))

    @get(
        "/delay-notices.csv",
        operation_id="exportOssDelayNoticesCsv",
        summary="The delay notices of a period as CSV (one row per notice: the copy for the OPDC's report)",
        media_type=CSV,
        responses=_ERRORS,
        **guarded(MANAGE),
    )
    async def delay_notices_csv(
        self, db_read: NamedDependency[ReadConnection], date_from: DateFrom, date_to: DateTo
    ) -> Response[bytes]:
        when = reports.period(date_from, date_to)
        return _csv(reports.delay_notices_csv(await reports.delay_notices(db_read, when)), "delay-notices", when)
