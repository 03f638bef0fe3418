"""Reports the OPDC (ก.พ.ร.) asks of a One Stop Service, over a period of Bangkok days (≤ 366):

* **cases by service and state** — cases opened in the period, by case type, catalogue service
  and the state they are in now;
* **SLA compliance** — cases decided in the period, by service: decided within the manual's time
  (``decided_at`` ≤ the overall deadline), late, without a limit; the share on time; and whether
  the result was notified within 7 days (the result notices);
* **time per step** — for each state, the visits that ended in the period: how many, the mean and
  median working days spent there (the LAO's calendar), the longest, and how many took longer than
  the state's time limit (the LAO's setting, else the workflow's);
* **delay notices sent** — every delay notice to an applicant in the period, with its copy for the
  OPDC (e-mailed or recorded only), and the totals by service.

Every report works on the kernel's case tables, whatever the case type. JSON and CSV (UTF-8 with a
byte-order mark, Thai headers with the English name in parentheses, formula cells neutralised by
``kernel.csv``); dates ISO plus the Buddhist-Era date where a person reads them.

The catalogue service of a case is ``data.service.code`` (a case type whose cases belong to a
service of the catalogue keeps it there, as One Stop Service's requests do); None for the others.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
from sqlalchemy import DateTime, String, and_, bindparam, func, literal_column, or_, select

from localgov.kernel.calendar import WorkingCalendar, end_of_day, load_calendar
from localgov.kernel.cases import (
    CaseRecord,
    CaseStateCode,
    CaseTransitionRecord,
    CaseTypeCode,
    UnknownCaseType,
    case_type_settings,
    get_case_type,
)
from localgov.kernel.cases.overrides import sla_days
from localgov.kernel.csv import write_csv
from localgov.kernel.notifications import NotificationRecord, NotificationStatus
from localgov.kernel.reads import Reader, fetch_all
from localgov.kernel.thai import bangkok_today, thai_date
from localgov.kernel.validation import InvalidInput
from localgov.services.oss.models import CaseNotice
from localgov.services.oss.notices import titles

#: The longest period of one report.
MAX_REPORT_DAYS = 366
_HUNDRED = Decimal(100)

_C = CaseRecord.__table__.c
_T = CaseTransitionRecord.__table__.c
_N = CaseNotice.__table__.c
_NOTIFIED = NotificationRecord.__table__.c
_START = bindparam("start", type_=DateTime(timezone=True))
_END = bindparam("end", type_=DateTime(timezone=True))
#: The catalogue service of a case (see the module doc).
SERVICE_CODE = _C.data.op("#>>", return_type=String)(literal_column("'{service,code}'"))


class Period(msgspec.Struct, frozen=True, kw_only=True):
    date_from: dt.date
    date_to: dt.date

    @property
    def bounds(self) -> dict[str, dt.datetime]:
        """The instants the period starts and ends (Bangkok days; the end is exclusive)."""
        return {"start": end_of_day(self.date_from - dt.timedelta(days=1)), "end": end_of_day(self.date_to)}


def period(date_from: dt.date, date_to: dt.date) -> Period:
    """The period, checked: 422 ``invalid_range`` when it ends before it starts or is too long."""
    if date_to < date_from:
        raise InvalidInput("date_to", "before date_from", code="invalid_range")
    if (date_to - date_from).days >= MAX_REPORT_DAYS:
        raise InvalidInput("date_to", f"at most {MAX_REPORT_DAYS} days at once", code="invalid_range")
    return Period(date_from=date_from, date_to=date_to)


def _share(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in percent with one decimal (None when there is nothing to share)."""
    if not whole:
        return None
    return (Decimal(part) * _HUNDRED / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _tenths(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _be(day: dt.date | None) -> str | None:
    return None if day is None else thai_date(day, digits="arabic", month="abbr")


def _csv(columns: Sequence[tuple[str, str]], rows: Iterable[Iterable[object]]) -> bytes:
    return write_csv([f"{thai} ({english})" for english, thai in columns], rows, bom=True)


# --- cases by service and state ----------------------------------------------------------------------------

_BY_STATE = (
    select(
        _C.case_type,
        SERVICE_CODE.label("service_code"),
        _C.state,
        func.count().label("cases"),
        func.count().filter(_C.closed_at.is_(None)).label("open"),
    )
    .where(_C.opened_at >= _START, _C.opened_at < _END)
    .group_by(_C.case_type, SERVICE_CODE, _C.state)
    .order_by(_C.case_type, SERVICE_CODE.nulls_first(), _C.state)
)


class StateCount(msgspec.Struct, kw_only=True):
    case_type: CaseTypeCode
    case_type_th: str
    case_type_en: str
    service_code: str | None
    state: CaseStateCode
    state_th: str
    state_en: str
    cases: int
    #: Of them, still open (not in a terminal state).
    open: int


class CasesByState(msgspec.Struct, kw_only=True):
    """รายงานจำนวนคำขอจำแนกตามงานบริการและสถานะ: cases opened in the period, by the state they are in now."""

    date_from: dt.date
    date_to: dt.date
    total: int
    items: list[StateCount]


async def cases_by_state(reader: Reader, when: Period) -> CasesByState:
    items = []
    for row in await fetch_all(reader, _BY_STATE, when.bounds):
        type_th, type_en = titles(row["case_type"])
        state_th, state_en = titles(row["case_type"], row["state"])
        items.append(
            StateCount(
                case_type=row["case_type"],
                case_type_th=type_th,
                case_type_en=type_en,
                service_code=row["service_code"],
                state=row["state"],
                state_th=state_th,
                state_en=state_en,
                cases=row["cases"],
                open=row["open"],
            )
        )
    return CasesByState(date_from=when.date_from, date_to=when.date_to, total=sum(i.cases for i in items), items=items)


CASES_BY_STATE_COLUMNS = (
    ("case_type", "ประเภทคำขอ"),
    ("case_type_th", "ชื่องานบริการ"),
    ("service_code", "รหัสงานบริการ"),
    ("state", "รหัสสถานะ"),
    ("state_th", "สถานะ"),
    ("cases", "จำนวนคำขอ"),
    ("open", "ยังไม่แล้วเสร็จ"),
)


def cases_by_state_csv(report: CasesByState) -> bytes:
    return _csv(
        CASES_BY_STATE_COLUMNS,
        ([i.case_type, i.case_type_th, i.service_code, i.state, i.state_th, i.cases, i.open] for i in report.items),
    )


# --- SLA compliance ----------------------------------------------------------------------------------------

_RESULTS = (
    select(_N.case_id, _N.notified_on, _N.flagged_at)
    .where(_N.kind == "result", _N.recipient_kind == "applicant")
    .subquery("results")
)
_COMPLIANCE = (
    select(
        _C.case_type,
        SERVICE_CODE.label("service_code"),
        func.count().label("decided"),
        func.count().filter(_C.due_at.is_not(None), _C.decided_at <= _C.due_at).label("on_time"),
        func.count().filter(_C.decided_at > _C.due_at).label("late"),
        func.count().filter(_C.due_at.is_(None)).label("no_limit"),
        func.count()
        .filter(_RESULTS.c.notified_on.is_not(None), _RESULTS.c.flagged_at.is_(None))
        .label("results_notified_on_time"),
        func.count().filter(_RESULTS.c.flagged_at.is_not(None)).label("results_late"),
        func.count().filter(_RESULTS.c.notified_on.is_(None), _RESULTS.c.flagged_at.is_(None)).label("results_pending"),
    )
    .select_from(CaseRecord.__table__.outerjoin(_RESULTS, _RESULTS.c.case_id == _C.id))
    .where(_C.decided_at >= _START, _C.decided_at < _END)
    .group_by(_C.case_type, SERVICE_CODE)
    .order_by(_C.case_type, SERVICE_CODE.nulls_first())
)


class Compliance(msgspec.Struct, kw_only=True):
    case_type: CaseTypeCode
    case_type_th: str
    case_type_en: str
    service_code: str | None
    #: Cases decided in the period.
    decided: int
    #: Decided by the manual's time (the overall deadline).
    on_time: int
    late: int
    #: Decided without an overall time limit.
    no_limit: int
    #: ``on_time`` of the decisions that had a limit, in percent (one decimal); None without any.
    on_time_percent: Decimal | None
    #: The result notified to the applicant within the time allowed (7 days), late (flagged), or
    #: not settled yet (the time allowed has not run out, or no result notice was issued).
    results_notified_on_time: int
    results_late: int
    results_pending: int


class SlaCompliance(msgspec.Struct, kw_only=True):
    """รายงานการพิจารณาแล้วเสร็จภายในระยะเวลาตามคู่มือสำหรับประชาชน."""

    date_from: dt.date
    date_to: dt.date
    decided: int
    on_time: int
    late: int
    on_time_percent: Decimal | None
    items: list[Compliance]


async def sla_compliance(reader: Reader, when: Period) -> SlaCompliance:
    items = []
    for row in await fetch_all(reader, _COMPLIANCE, when.bounds):
        type_th, type_en = titles(row["case_type"])
        values = dict(row)
        items.append(
            Compliance(
                **values,
                case_type_th=type_th,
                case_type_en=type_en,
                on_time_percent=_share(row["on_time"], row["on_time"] + row["late"]),
            )
        )
    on_time, late = sum(i.on_time for i in items), sum(i.late for i in items)
    return SlaCompliance(
        date_from=when.date_from,
        date_to=when.date_to,
        decided=sum(i.decided for i in items),
        on_time=on_time,
        late=late,
        on_time_percent=_share(on_time, on_time + late),
        items=items,
    )


SLA_COLUMNS = (
    ("case_type", "ประเภทคำขอ"),
    ("case_type_th", "ชื่องานบริการ"),
    ("service_code", "รหัสงานบริการ"),
    ("decided", "พิจารณาแล้วเสร็จ"),
    ("on_time", "แล้วเสร็จภายในกำหนด"),
    ("late", "แล้วเสร็จเกินกำหนด"),
    ("no_limit", "ไม่มีกำหนดเวลา"),
    ("on_time_percent", "ร้อยละที่แล้วเสร็จภายในกำหนด"),
    ("results_notified_on_time", "แจ้งผลภายใน 7 วัน"),
    ("results_late", "แจ้งผลเกิน 7 วัน"),
    ("results_pending", "ยังไม่ได้แจ้งผล"),
)


def sla_compliance_csv(report: SlaCompliance) -> bytes:
    return _csv(
        SLA_COLUMNS,
        (
            [
                i.case_type,
                i.case_type_th,
                i.service_code,
                i.decided,
                i.on_time,
                i.late,
                i.no_limit,
                i.on_time_percent,
                i.results_notified_on_time,
                i.results_late,
                i.results_pending,
            ]
            for i in report.items
        ),
    )


# --- time per step -----------------------------------------------------------------------------------------

_ENTRIES = (
    select(
        _T.case_id,
        _T.to_state.label("state"),
        _T.at.label("entered_at"),
        func.lead(_T.at).over(partition_by=_T.case_id, order_by=_T.seq).label("left_at"),
    )
    # An entry into a state: the opening, or a step that changes the state (a self-loop stays).
    .where(or_(_T.from_state.is_(None), _T.from_state != _T.to_state))
    .subquery("entries")
)
_STEPS = (
    select(_C.case_type, _ENTRIES.c.state, _ENTRIES.c.entered_at, _ENTRIES.c.left_at)
    .select_from(_ENTRIES.join(CaseRecord.__table__, _C.id == _ENTRIES.c.case_id))
    .where(and_(_ENTRIES.c.left_at >= _START, _ENTRIES.c.left_at < _END))
    .order_by(_C.case_type, _ENTRIES.c.state)
)


class StepTime(msgspec.Struct, kw_only=True):
    case_type: CaseTypeCode
    case_type_th: str
    case_type_en: str
    state: CaseStateCode
    state_th: str
    state_en: str
    #: Visits of the state that ended in the period.
    visits: int
    #: Working days spent in the state (after the day it was entered, up to the day it was left).
    mean_working_days: Decimal
    median_working_days: Decimal
    max_working_days: int
    #: The state's time limit (the LAO's setting, else the workflow's; None: none).
    sla_days: int | None
    #: Visits that took longer than it.
    over_limit: int


class TimePerStep(msgspec.Struct, kw_only=True):
    """รายงานระยะเวลาในแต่ละขั้นตอน (วันทำการ)."""

    date_from: dt.date
    date_to: dt.date
    items: list[StepTime]


class _WorkingDays:
    """Working days between Bangkok dates by a running count over the days a report covers, so a
    report of many steps counts each day once (the calendar's own count walks every step's days)."""

    def __init__(self, calendar: WorkingCalendar, first: dt.date, last: dt.date) -> None:
        self.first = first
        self.counts: list[int] = []
        total, day = 0, first
        while day <= last:
            total += calendar.is_working_day(day)
            self.counts.append(total)
            day += dt.timedelta(days=1)

    def between(self, start: dt.date, end: dt.date) -> int:
        """As ``WorkingCalendar.working_days_between``, for days within the range given."""
        if end <= start:
            return 0
        return self.counts[(end - self.first).days] - self.counts[(start - self.first).days]


async def _state_limits(reader: Reader, case_types: Iterable[str]) -> dict[tuple[str, str], int | None]:
    limits: dict[tuple[str, str], int | None] = {}
    for code in case_types:
        try:
            kind = get_case_type(code)
        except UnknownCaseType:
            continue
        settings = await case_type_settings(reader, kind)
        for state in kind.states:
            limits[(code, state.code)] = sla_days(kind, settings, state.code)
    return limits


async def time_per_step(reader: Reader, when: Period) -> TimePerStep:
    rows = await fetch_all(reader, _STEPS, when.bounds)
    spans = [
        (row["case_type"], row["state"], bangkok_today(row["entered_at"]), bangkok_today(row["left_at"]))
        for row in rows
    ]
    spent: dict[tuple[str, str], list[int]] = defaultdict(list)
    if spans:
        counter = _WorkingDays(await load_calendar(reader), min(s[2] for s in spans), max(s[3] for s in spans))
        for case_type, state, entered, left in spans:
            spent[(case_type, state)].append(counter.between(entered, left))
    limits = await _state_limits(reader, {case_type for case_type, _ in spent})
    items = []
    for (case_type, state), days in sorted(spent.items()):
        type_th, type_en = titles(case_type)
        state_th, state_en = titles(case_type, state)
        limit = limits.get((case_type, state))
        items.append(
            StepTime(
                case_type=case_type,
                case_type_th=type_th,
                case_type_en=type_en,
                state=state,
                state_th=state_th,
                state_en=state_en,
                visits=len(days),
                mean_working_days=_tenths(statistics.fmean(days)),
                median_working_days=_tenths(statistics.median(days)),
                max_working_days=max(days),
                sla_days=limit,
                over_limit=sum(d > limit for d in days) if limit is not None else 0,
            )
        )
    return TimePerStep(date_from=when.date_from, date_to=when.date_to, items=items)


STEP_COLUMNS = (
    ("case_type", "ประเภทคำขอ"),
    ("case_type_th", "ชื่องานบริการ"),
    ("state", "รหัสขั้นตอน"),
    ("state_th", "ขั้นตอน"),
    ("visits", "จำนวนครั้ง"),
    ("mean_working_days", "เฉลี่ย (วันทำการ)"),
    ("median_working_days", "มัธยฐาน (วันทำการ)"),
    ("max_working_days", "นานที่สุด (วันทำการ)"),
    ("sla_days", "กำหนดเวลา (วันทำการ)"),
    ("over_limit", "เกินกำหนด"),
)


def time_per_step_csv(report: TimePerStep) -> bytes:
    return _csv(
        STEP_COLUMNS,
        (
            [
                i.case_type,
                i.case_type_th,
                i.state,
                i.state_th,
                i.visits,
                i.mean_working_days,
                i.median_working_days,
                i.max_working_days,
                i.sla_days,
                i.over_limit,
            ]
            for i in report.items
        ),
    )


# --- delay notices -----------------------------------------------------------------------------------------

_COPIES = CaseNotice.__table__.alias("copies")
_DELAY_NOTICES = (
    select(
        _N.id,
        _N.case_id,
        _C.tracking_number,
        _C.case_type,
        SERVICE_CODE.label("service_code"),
        _C.applicant_name,
        _N.seq,
        _N.sent_at,
        _N.due_on,
        _N.days_over,
        _N.working_days_over,
        _N.state,
        _N.channel,
        _NOTIFIED.status.label("delivery_status"),
        _N.hand_delivery,
        _N.hand_delivered_on,
        _COPIES.c.id.label("opdc_copy_id"),
        _COPIES.c.channel.label("opdc_channel"),
    )
    .select_from(
        CaseNotice.__table__.join(CaseRecord.__table__, _C.id == _N.case_id)
        .outerjoin(NotificationRecord.__table__, _NOTIFIED.id == _N.notification_id)
        .outerjoin(
            _COPIES,
            and_(
                _COPIES.c.case_id == _N.case_id,
                _COPIES.c.kind == "delay",
                _COPIES.c.recipient_kind == "opdc",
                _COPIES.c.anchor == _N.anchor,
                _COPIES.c.cycle == _N.cycle,
            ),
        )
    )
    .where(_N.kind == "delay", _N.recipient_kind == "applicant", _N.sent_at >= _START, _N.sent_at < _END)
    .order_by(_N.sent_at, _C.tracking_number, _N.id)
)


class DelayNoticeRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    case_id: uuid.UUID
    tracking_number: str | None
    case_type: CaseTypeCode
    case_type_th: str
    service_code: str | None
    applicant_name: str
    #: ครั้งที่.
    seq: int
    sent_at: dt.datetime
    #: The last day of the manual's time.
    due_on: dt.date
    days_over: int | None
    working_days_over: int | None
    #: The step the case was at (the reason of the delay given).
    state: CaseStateCode
    state_th: str
    #: ``email``; None: no address (the LAO delivers it itself: ``hand_delivery``).
    channel: str | None
    delivery_status: NotificationStatus | None
    hand_delivery: str | None
    hand_delivered_on: dt.date | None
    #: A copy for the OPDC was recorded; ``opdc_emailed``: and e-mailed.
    opdc_copy: bool
    opdc_emailed: bool


class DelayTotals(msgspec.Struct, kw_only=True):
    case_type: CaseTypeCode
    case_type_th: str
    service_code: str | None
    notices: int
    cases: int


class DelayNotices(msgspec.Struct, kw_only=True):
    """รายงานการแจ้งเหตุแห่งความล่าช้า (สำเนาถึง ก.พ.ร.): every delay notice sent in the period."""

    date_from: dt.date
    date_to: dt.date
    notices: int
    cases: int
    opdc_copies: int
    opdc_emailed: int
    #: Notices without an address (to deliver by hand) and not recorded as delivered.
    undelivered: int
    by_service: list[DelayTotals]
    items: list[DelayNoticeRow]


async def delay_notices(reader: Reader, when: Period) -> DelayNotices:
    items = []
    for row in await fetch_all(reader, _DELAY_NOTICES, when.bounds):
        values = dict(row)
        copy_id, copy_channel = values.pop("opdc_copy_id"), values.pop("opdc_channel")
        items.append(
            DelayNoticeRow(
                **values,
                case_type_th=titles(row["case_type"])[0],
                state_th=titles(row["case_type"], row["state"])[0],
                opdc_copy=copy_id is not None,
                opdc_emailed=copy_channel is not None,
            )
        )
    totals: dict[tuple[str, str | None], tuple[int, set[Any]]] = {}
    for item in items:
        count, cases = totals.get((item.case_type, item.service_code), (0, set()))
        cases.add(item.case_id)
        totals[(item.case_type, item.service_code)] = (count + 1, cases)
    return DelayNotices(
        date_from=when.date_from,
        date_to=when.date_to,
        notices=len(items),
        cases=len({i.case_id for i in items}),
        opdc_copies=sum(i.opdc_copy for i in items),
        opdc_emailed=sum(i.opdc_emailed for i in items),
        undelivered=sum(i.channel is None and i.hand_delivery is None for i in items),
        by_service=[
            DelayTotals(
                case_type=case_type,
                case_type_th=titles(case_type)[0],
                service_code=service,
                notices=count,
                cases=len(cases),
            )
            for (case_type, service), (count, cases) in sorted(
                totals.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
            )
        ],
        items=items,
    )


DELAY_COLUMNS = (
    ("tracking_number", "เลขที่คำขอ"),
    ("case_type_th", "งานบริการ"),
    ("service_code", "รหัสงานบริการ"),
    ("applicant_name", "ผู้ยื่นคำขอ"),
    ("seq", "ครั้งที่"),
    ("sent_date", "วันที่แจ้ง"),
    ("sent_date_be", "วันที่แจ้ง พ.ศ."),
    ("due_on", "ครบกำหนดตามคู่มือ"),
    ("days_over", "เกินกำหนด (วัน)"),
    ("working_days_over", "เกินกำหนด (วันทำการ)"),
    ("state_th", "ขั้นตอนที่ล่าช้า"),
    ("channel", "ช่องทาง"),
    ("delivery_status", "สถานะการส่ง"),
    ("hand_delivery", "ส่งโดยหน่วยงาน"),
    ("opdc_copy", "สำเนาถึง ก.พ.ร."),
    ("opdc_emailed", "ส่งสำเนาทางอีเมล"),
)


def delay_notices_csv(report: DelayNotices) -> bytes:
    def yes(flag: bool) -> str:
        return "ใช่" if flag else "ไม่ใช่"

    return _csv(
        DELAY_COLUMNS,
        (
            [
                i.tracking_number,
                i.case_type_th,
                i.service_code,
                i.applicant_name,
                i.seq,
                bangkok_today(i.sent_at).isoformat(),
                _be(bangkok_today(i.sent_at)),
                i.due_on.isoformat(),
                i.days_over,
                i.working_days_over,
                i.state_th,
                i.channel or "ไม่มีที่อยู่อีเมล",
                i.delivery_status,
                i.hand_delivery,
                yes(i.opdc_copy),
                yes(i.opdc_emailed),
            ]
            for i in report.items
        ),
    )
