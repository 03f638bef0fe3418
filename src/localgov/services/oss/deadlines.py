"""The deadlines of cases (การติดตามระยะเวลา): one sweep per LAO, run by the worker every 15 minutes.

It works on the kernel's case tables, whatever the case type (One Stop Service's own, building
permits, food certificates …: any type with time limits), in one transaction per LAO
(``ScheduledJob(per_tenant=True)``), at the job's ``now`` (a test passes a frozen one):

1. **SLA sweep.** The open cases late in their state or overall (``kernel.cases.overdue``, read a
   page at a time).
2. **Delay notices.** A case past its overall deadline (the manual's time, ``cases.due_at``) gets a
   delay notice to the applicant on the first day it is late (day 0), then every
   ``delay_every_days`` (7) days counted from that day (+7, +14 …), until it is decided; each with
   a copy for the OPDC (ก.พ.ร.), recorded for the report and e-mailed when the LAO gave an address.
   While the clock is paused (the applicant's missing documents) a case has no overall deadline
   and gets none; when the deadline moves (the clock resumed), the count starts again from it.
3. **Escalation.** A case late in its state goes to the supervisor of the unit it is assigned to
   (``kernel.org.supervisor_of``: the unit's, or the nearest unit above with one), once per entry
   into the state. A state that pauses the clock is the applicant's time, not the unit's: no
   escalation.
4. **Results.** A case decided (``cases.decided_at``, in the last 30 days) without a result notice
   gets one to the applicant; a result notice not notified within ``result_within_days`` (7) days
   of the decision (its e-mail not sent, no address and no delivery recorded by staff) is flagged.

**Working days.** Notices are the office's letters: the sweep sends on the LAO's working days only
(weekends, government holidays and its own days off are skipped: ``kernel.calendar``). A notice
due on a day off goes out on the next working day; the next one stays on its own day (the count
does not drift). A missed day's notice is not sent twice: a cycle is recorded once, whenever it
went out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases, org
from localgov.kernel.calendar import WorkingCalendar, load_calendar
from localgov.kernel.cases import CaseSummary, UnknownCaseType, get_case, get_case_type
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.reads import fetch_all
from localgov.kernel.tenancy import LaoProfile, TenantInfo, lao_profile
from localgov.kernel.thai import bangkok_today
from localgov.services.oss import notices
from localgov.services.oss.notices import NoticeDraft, NoticeSettingsRead

log = structlog.get_logger("localgov.oss.deadlines")

#: How often the worker sweeps each LAO.
SWEEP_EVERY = dt.timedelta(minutes=15)
#: Late cases read per statement.
PAGE = 500
#: Decisions older than this without a result notice are left to the record (not notified now).
RESULT_LOOKBACK = dt.timedelta(days=30)
#: Result notices handled per sweep (the rest wait for the next one).
RESULTS_PER_SWEEP = 1000


class SweepResult(msgspec.Struct, kw_only=True):
    """What one sweep of one LAO did."""

    #: The LAO does not work today: nothing was sent.
    day_off: bool = False
    late_cases: int = 0
    delay_notices: int = 0
    opdc_copies: int = 0
    escalations: int = 0
    result_notices: int = 0
    results_notified: int = 0
    results_flagged: int = 0


def deadline_day(due_at: dt.datetime) -> dt.date:
    """The day a deadline instant ends (``calendar.end_of_day``'s inverse): the last day on time."""
    return bangkok_today(due_at) - dt.timedelta(days=1)


def delay_cycle(due_at: dt.datetime, today: dt.date, every: int) -> int:
    """Which delay notice is due ``today`` for an overall deadline ``due_at``: 1 from the first day
    late (day 0), 2 from day ``every``, … (0: not late on ``today``)."""
    first = bangkok_today(due_at)
    if today < first:
        return 0
    return (today - first).days // every + 1


class _Sweep:
    """One LAO's sweep: its calendar, settings and profile, loaded once."""

    def __init__(
        self,
        session: AsyncSession,
        tenant: TenantInfo,
        now: dt.datetime,
        calendar: WorkingCalendar,
        settings: NoticeSettingsRead,
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.now = now
        self.today = bangkok_today(now)
        self.calendar = calendar
        self.settings = settings
        self.result = SweepResult()
        self._lao: LaoProfile | None = None

    async def lao(self) -> LaoProfile:
        if self._lao is None:
            self._lao = await lao_profile(self.session, self.tenant)
        return self._lao

    def _over(self, due_on: dt.date) -> tuple[int, int]:
        return (self.today - due_on).days, self.calendar.working_days_between(due_on, self.today)

    async def late_cases(self) -> None:
        after: CaseSummary | None = None
        while True:
            page = await cases.overdue(self.session, self.now, limit=PAGE, after=after)
            if not page:
                return
            self.result.late_cases += len(page)
            rows = await fetch_all(self.session, notices.RECORDED, {"case_ids": [c.id for c in page]})
            recorded = {(r["case_id"], r["kind"], r["recipient_kind"], r["anchor"], r["cycle"]) for r in rows}
            for case in page:
                if case.due_at is not None and case.due_at <= self.now:
                    await self.delay(case, case.due_at, recorded)
                if case.state_due_at is not None and case.state_due_at <= self.now:
                    await self.escalate(case, case.state_due_at, recorded)
            if len(page) < PAGE:
                return
            after = page[-1]

    async def delay(self, case: CaseSummary, due_at: dt.datetime, recorded: set[tuple[Any, ...]]) -> None:
        every = self.settings.delay_every_days
        cycle = delay_cycle(due_at, self.today, every)
        if (case.id, "delay", "applicant", due_at, cycle) in recorded:
            return
        due_on = deadline_day(due_at)
        days_over, working_days_over = self._over(due_on)
        address, citizen_id = await notices.applicant_address(self.session, case)
        draft = NoticeDraft(
            case_id=case.id,
            kind="delay",
            recipient_kind="applicant",
            anchor=due_at,
            cycle=cycle,
            state=case.state,
            due_on=due_on,
            days_over=days_over,
            working_days_over=working_days_over,
            recipient_id=citizen_id,
            recipient_name=case.applicant_name,
            address=address,
        )
        seq = await notices.next_seq(self.session, draft)
        lao = await self.lao()
        letter = notices.delay_letter(
            lao,
            case,
            seq=seq,
            due_on=due_on,
            days_over=days_over,
            working_days_over=working_days_over,
            every=every,
            opdc_copy=self.settings.opdc_copies,
        )
        if await notices.issue(self.session, draft, letter, now=self.now) is None:
            return
        self.result.delay_notices += 1
        if not self.settings.opdc_copies:
            return
        copy = msgspec.structs.replace(
            draft,
            recipient_kind="opdc",
            recipient_id=None,
            recipient_name=notices.OPDC_TH,
            address=self.settings.opdc_email,
            for_opdc=True,
        )
        if await notices.issue(self.session, copy, notices.opdc_letter(lao, case, letter, seq=seq), now=self.now):
            self.result.opdc_copies += 1

    async def escalate(self, case: CaseSummary, state_due_at: dt.datetime, recorded: set[tuple[Any, ...]]) -> None:
        if (case.id, "escalation", "supervisor", case.state_entered_at, 1) in recorded:
            return
        try:
            if get_case_type(case.case_type).state(case.state).pauses_clock:
                return  # the applicant's time (missing documents), not the unit's
        except (UnknownCaseType, KeyError):
            pass
        unit_id = case.assigned_unit_id
        officer = await org.staff_ref(self.session, case.assigned_staff_id) if case.assigned_staff_id else None
        if unit_id is None and officer is not None and officer.unit is not None:
            unit_id = officer.unit.id
        unit = await org.unit_ref(self.session, unit_id) if unit_id is not None else None
        supervisor = await org.supervisor_of(self.session, unit_id) if unit_id is not None else None
        due_on = deadline_day(state_due_at)
        days_over, working_days_over = self._over(due_on)
        draft = NoticeDraft(
            case_id=case.id,
            kind="escalation",
            recipient_kind="supervisor",
            anchor=case.state_entered_at,
            state=case.state,
            due_on=due_on,
            days_over=days_over,
            working_days_over=working_days_over,
            recipient_id=supervisor.id if supervisor else None,
            recipient_name=supervisor.full_name if supervisor else None,
            address=supervisor.email if supervisor and supervisor.status != "disabled" else None,
        )
        letter = notices.escalation_letter(
            await self.lao(),
            case,
            supervisor=supervisor.full_name if supervisor else "หัวหน้าหน่วยงาน",
            unit_th=unit.name_th if unit else None,
            officer=officer.full_name if officer else None,
            due_on=due_on,
            days_over=days_over,
            working_days_over=working_days_over,
        )
        if await notices.issue(self.session, draft, letter, now=self.now):
            self.result.escalations += 1

    async def results(self) -> None:
        decided = await fetch_all(
            self.session,
            notices.UNNOTIFIED_DECISIONS,
            {"since": self.now - RESULT_LOOKBACK, "now": self.now, "limit": RESULTS_PER_SWEEP},
        )
        for row in decided:
            if await issue_result_notice(self.session, self.tenant, row["id"], now=self.now, lao=await self.lao()):
                self.result.result_notices += 1
        for row in await fetch_all(self.session, notices.PENDING_RESULTS, {"limit": RESULTS_PER_SWEEP}):
            settled = await notices.settle_result(self.session, row, now=self.now)
            if settled == "notified":
                self.result.results_notified += 1
            elif settled == "flagged":
                self.result.results_flagged += 1


async def issue_result_notice(
    session: AsyncSession,
    tenant: TenantInfo,
    case_id: uuid.UUID,
    *,
    now: dt.datetime,
    lao: LaoProfile | None = None,
) -> bool:
    """Notify the applicant of the decision of a decided case (once; the sweep calls it for every
    recent decision, a decision's own request may call it at once). False: recorded already, or
    the case is not decided."""
    case = await get_case(session, case_id)
    if case.decided_at is None:
        return False
    # The state the decision entered, and the decider's words (the reasons of a refusal).
    step = next((t for t in case.history if t.at == case.decided_at and t.from_state != t.to_state), None)
    decision = step.to_state if step is not None else case.state
    settings = await notices.notice_settings(session)
    address, citizen_id = await notices.applicant_address(session, case)
    draft = NoticeDraft(
        case_id=case.id,
        kind="result",
        recipient_kind="applicant",
        anchor=case.decided_at,
        state=decision,
        due_on=bangkok_today(case.decided_at) + dt.timedelta(days=settings.result_within_days),
        recipient_id=citizen_id,
        recipient_name=case.applicant_name,
        address=address,
    )
    letter = notices.result_letter(
        lao or await lao_profile(session, tenant),
        case,
        decision=decision,
        decided_at=case.decided_at,
        comment=step.comment if step is not None else None,
    )
    return await notices.issue(session, draft, letter, now=now) is not None


async def sweep(session: AsyncSession, tenant: TenantInfo, now: dt.datetime) -> SweepResult:
    """Sweep one LAO at ``now``: delay notices, escalations, result notices (see the module doc).
    Idempotent: a second sweep at the same moment sends nothing."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    calendar = await load_calendar(session)
    if not calendar.is_working_day(bangkok_today(now)):
        return SweepResult(day_off=True)
    run = _Sweep(session, tenant, now, calendar, await notices.notice_settings(session))
    await run.late_cases()
    await run.results()
    return run.result


async def run_deadlines(ctx: JobContext) -> None:
    """The worker's job: one LAO's sweep at the job's time."""
    tenant = ctx.tenant
    if not isinstance(tenant, TenantInfo):
        raise TypeError("the deadline sweep runs per tenant, with the catalog's TenantInfo")
    result = await sweep(ctx.session, tenant, ctx.now)
    if result.delay_notices or result.escalations or result.result_notices or result.results_flagged:
        log.info("oss_deadlines_swept", tenant=tenant.slug, **msgspec.structs.asdict(result))


DEADLINES_JOB = ScheduledJob(name="oss.deadlines", every=SWEEP_EVERY, run=run_deadlines, per_tenant=True)
