"""The deadlines of cases with a frozen clock: delay notices on day 0 of the excess and every 7
days after it on the LAO's working days (weekends, government holidays and the LAO's own days off
skipped), with a copy for the OPDC, none after the decision, once however often the sweep runs;
the result notified after the decision and flagged when not notified within 7 days; escalation to
the unit's supervisor once per state entry; the job in the worker; the working-day calendar's
endpoints and the notices' endpoints, validated, guarded and isolated."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import cases
from localgov.kernel.audit import AuditEvent, Origin
from localgov.kernel.calendar import end_of_day, set_lao_day
from localgov.kernel.db import tenant_session
from localgov.kernel.jobs import JobContext
from localgov.kernel.notifications import NOTIFICATION_TOPIC, ChannelMessage, notification_consumer
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.pagination import encode_cursor
from localgov.plugins import REGISTRY
from localgov.services.oss import PLUGIN, deadlines, notices
from localgov.services.oss.deadlines import DEADLINES_JOB, deadline_day, delay_cycle
from localgov.settings import Settings
from tests.conftest import ClientFactory, host
from tests.support.oss import staff
from tests.support.oss_deadlines import (
    ADMIN,
    Office,
    act,
    at,
    notices_of,
    notification_of,
    office,
    open_case,
    sweep,
)
from tests.support.paging import walk_pages


def _day(d: dt.datetime) -> dt.date:
    return d.astimezone(at(2026, 1, 1).tzinfo).date()


# --- the schedule, as pure functions -------------------------------------------------------------------


def test_the_delay_cycle_counts_from_the_first_day_late() -> None:
    due = end_of_day(dt.date(2026, 3, 17))  # the manual's time ends on Tuesday 17 March
    assert deadline_day(due) == dt.date(2026, 3, 17)
    assert delay_cycle(due, dt.date(2026, 3, 17), 7) == 0
    assert [delay_cycle(due, dt.date(2026, 3, d), 7) for d in (18, 24, 25, 31)] == [1, 1, 2, 2]
    assert delay_cycle(due, dt.date(2026, 4, 1), 7) == 3
    assert delay_cycle(due, dt.date(2026, 3, 21), 3) == 2


# --- delay notices ------------------------------------------------------------------------------------------


async def test_delay_notices_go_out_on_day_0_and_every_7_days_on_working_days(engine: AsyncEngine) -> None:
    """Opened on Monday 2 March 2026 (Tuesday 3 March is Makha Bucha): the 10 working days end on
    Tuesday 17 March. Day 0 of the excess is Wednesday 18 March, then +7, +14 …: 25 March is the
    LAO's own day off (its notice goes out on Thursday 26, the next stays on Wednesday 1 April),
    15 April is Songkran (out on Thursday 16). Decided on Monday 20 April: no notice after it.
    The sweep runs twice every day, weekends and holidays included."""
    o = await office(engine, opdc_email="opdc-copies@lao.example")
    async with o.session() as session:
        await set_lao_day(
            session, dt.date(2026, 3, 25), working=False, note_th="งานประเพณีประจำปี", actor=ADMIN, origin=Origin()
        )
    case = await open_case(o, at(2026, 3, 2, 10), number="TEST-2569-000001")
    assert case.due_at == end_of_day(dt.date(2026, 3, 17))
    case = await act(o, case, "accept", "clerk", at(2026, 3, 2, 11))
    day = dt.date(2026, 3, 2)
    sent_per_day: dict[dt.date, int] = {}
    while day <= dt.date(2026, 4, 30):
        now = at(day.year, day.month, day.day)
        if day == dt.date(2026, 4, 20):
            case = await act(o, case, "recommend", "engineer", at(2026, 4, 20, 8))
            case = await act(o, case, "approve", "chief", at(2026, 4, 20, 8, 30))
        first = await sweep(o, now)
        again = await sweep(o, now)
        assert (again.delay_notices, again.opdc_copies, again.escalations, again.result_notices) == (0, 0, 0, 0)
        if first.delay_notices:
            sent_per_day[day] = first.delay_notices
        day += dt.timedelta(days=1)

    delay = await notices_of(o, case.id, "delay")
    to_applicant = [n for n in delay if n.recipient_kind == "applicant"]
    assert [(_day(n.sent_at), n.seq, n.cycle, n.days_over, n.working_days_over) for n in to_applicant] == [
        (dt.date(2026, 3, 18), 1, 1, 1, 1),
        (dt.date(2026, 3, 26), 2, 2, 9, 6),
        (dt.date(2026, 4, 1), 3, 3, 15, 10),
        (dt.date(2026, 4, 8), 4, 4, 22, 14),
        (dt.date(2026, 4, 16), 5, 5, 30, 17),
    ]
    assert sent_per_day == {_day(n.sent_at): 1 for n in to_applicant}
    assert {n.due_on for n in delay} == {dt.date(2026, 3, 17)}
    assert {(n.channel, n.address, n.recipient_name) for n in to_applicant} == {
        ("email", "somsri@example.go.th", "นางสาวสมศรี ใจดี")
    }
    # Each with a copy for the OPDC, recorded for the report and e-mailed to the address the LAO gave.
    copies = [n for n in delay if n.recipient_kind == "opdc"]
    assert [(_day(n.sent_at), n.seq, n.for_opdc, n.address) for n in copies] == [
        (_day(n.sent_at), n.seq, True, "opdc-copies@lao.example") for n in to_applicant
    ]
    # The letters: the step the case is at is the reason given; the copy quotes the notice.
    second = await notification_of(o, to_applicant[1].id)
    assert second is not None
    assert second.subject_th == "แจ้งเหตุแห่งความล่าช้าในการพิจารณาคำขอ เลขที่ TEST-2569-000001 (ครั้งที่ 2)"
    assert "พ้นกำหนดเวลาดังกล่าวมาแล้ว 9 วัน (6 วันทำการ)" in second.body_th
    assert 'ขั้นตอน "พิจารณา"' in second.body_th
    assert "ภายในวันที่ 17 มีนาคม 2569" in second.body_th
    assert "ทุก 7 วัน" in second.body_th
    assert "ก.พ.ร." in second.body_th
    assert second.body_en is not None
    assert "exceeded 9 day(s) ago (6 working day(s))" in second.body_en
    copy = await notification_of(o, copies[1].id)
    assert copy is not None
    assert copy.address == "opdc-copies@lao.example"
    assert copy.subject_th.startswith("สำเนาหนังสือแจ้งเหตุแห่งความล่าช้า")
    assert second.body_th in copy.body_th
    # After the decision: the result, no more delay notices.
    assert case.decided_at == at(2026, 4, 20, 8, 30)
    [result] = await notices_of(o, case.id, "result")
    assert (_day(result.sent_at), result.state, result.due_on) == (
        dt.date(2026, 4, 20),
        "approved",
        dt.date(2026, 4, 27),
    )


async def test_the_count_stops_while_the_clock_is_paused_and_restarts_from_the_new_deadline(
    engine: AsyncEngine,
) -> None:
    """A case left in ``submitted`` is late overall on Wednesday 18 March (notice 1). Documents
    are then asked for (the clock stops: no notice while the applicant has them); resubmitted after
    5 working days, its deadline moves by as much, to Tuesday 24 March … and the notices start again
    from the new deadline: day 0 is Wednesday 25 March, notice 2."""
    o = await office(engine, opdc_copies=False)
    case = await open_case(o, at(2026, 3, 2, 10))
    assert (await sweep(o, at(2026, 3, 18))).delay_notices == 1
    case = await act(o, case, "request_documents", "clerk", at(2026, 3, 18, 10), comment="ขาดแผนผัง")
    assert case.due_at is None
    for d in (19, 20, 23, 24):
        assert (await sweep(o, at(2026, 3, d))).delay_notices == 0
    case = await act(o, case, "resubmit", "applicant", at(2026, 3, 25, 8))
    assert case.paused_days == 5  # 19, 20, 23, 24, 25 March
    assert case.due_at == end_of_day(dt.date(2026, 3, 24))
    assert (await sweep(o, at(2026, 3, 25))).delay_notices == 1
    assert (await sweep(o, at(2026, 3, 31))).delay_notices == 0
    assert (await sweep(o, at(2026, 4, 1))).delay_notices == 1
    sent = await notices_of(o, case.id, "delay")
    assert [(_day(n.sent_at), n.seq, n.cycle, n.due_on) for n in sent] == [
        (dt.date(2026, 3, 18), 1, 1, dt.date(2026, 3, 17)),
        (dt.date(2026, 3, 25), 2, 1, dt.date(2026, 3, 24)),
        (dt.date(2026, 4, 1), 3, 2, dt.date(2026, 3, 24)),
    ]
    # Without copies for the OPDC, none is recorded, and the letter does not claim one.
    assert {n.recipient_kind for n in sent} == {"applicant"}
    letter = await notification_of(o, sent[0].id)
    assert letter is not None
    assert "ก.พ.ร." not in letter.body_th


async def test_nothing_is_sent_on_a_day_off(engine: AsyncEngine) -> None:
    o = await office(engine)
    await open_case(o, at(2026, 3, 2, 10))
    # Saturday 21 March, Chakri Day (Monday 6 April), and a day the LAO closes (Friday 20 March).
    async with o.session() as session:
        await set_lao_day(
            session, dt.date(2026, 3, 20), working=False, note_th="ปิดสำนักงาน", actor=ADMIN, origin=Origin()
        )
    for now in (at(2026, 3, 21), at(2026, 4, 6), at(2026, 3, 20)):
        result = await sweep(o, now)
        assert result == deadlines.SweepResult(day_off=True)
    # ... but a weekend the LAO declares a working day of its own is one.
    async with o.session() as session:
        await set_lao_day(
            session, dt.date(2026, 3, 21), working=True, note_th="เปิดบริการวันเสาร์", actor=ADMIN, origin=Origin()
        )
    assert (await sweep(o, at(2026, 3, 21))).delay_notices == 1


async def test_a_walk_in_without_an_email_gets_a_notice_the_lao_delivers_itself(engine: AsyncEngine) -> None:
    o = await office(engine)
    with_mail = await open_case(o, at(2026, 3, 2, 10), walk_in="นายมานะ ขยัน", email="mana@example.go.th")
    without = await open_case(o, at(2026, 3, 2, 10), walk_in="นายมีชัย ยืนยง")
    # A citizen who gave an address at intake is written to there, not at the account's.
    given = await open_case(o, at(2026, 3, 2, 10), email="somsri.work@example.go.th")
    # An address the e-mail channel refuses is no address: the LAO delivers that notice itself.
    malformed = await open_case(o, at(2026, 3, 2, 10), walk_in="นายสับสน", email="not an address")
    assert (await sweep(o, at(2026, 3, 18))).delay_notices == 4
    [unsendable] = [n for n in await notices_of(o, malformed.id, "delay") if n.recipient_kind == "applicant"]
    assert (unsendable.channel, unsendable.address) == (None, None)
    [to_given] = [n for n in await notices_of(o, given.id, "delay") if n.recipient_kind == "applicant"]
    assert to_given.address == "somsri.work@example.go.th"
    [mailed] = [n for n in await notices_of(o, with_mail.id, "delay") if n.recipient_kind == "applicant"]
    assert (mailed.channel, mailed.address, mailed.delivery_status) == ("email", "mana@example.go.th", "queued")
    [unmailed] = [n for n in await notices_of(o, without.id, "delay") if n.recipient_kind == "applicant"]
    assert (unmailed.channel, unmailed.address, unmailed.recipient_name) == (None, None, "นายมีชัย ยืนยง")
    assert await notification_of(o, unmailed.id) is None


# --- escalation ---------------------------------------------------------------------------------------------


async def test_a_case_late_in_its_state_goes_to_the_units_supervisor_once_per_entry(engine: AsyncEngine) -> None:
    """Submitted on Monday 2 March (1 working day: due Wednesday 4, after Makha Bucha) and assigned
    to the counter's unit: its head hears of it on Thursday 5, once. Accepted that day into review
    (5 working days, routed to ``plans``, whose post is vacant): late on Friday 13, its division's
    head hears of it. A case waiting for the applicant's documents is the applicant's time: no one
    is escalated to."""
    o = await office(engine)
    case = await open_case(o, at(2026, 3, 2, 10), number="TEST-2569-000002")
    async with o.session() as session:
        case = await cases.assign(
            session,
            case.id,
            unit_id=o.units["oss"],
            staff_id=o.staff["clerk"],
            actor=o.actors["clerk"],
            expected_version=case.version,
        )
    waiting = await open_case(o, at(2026, 3, 2, 10))
    waiting = await act(o, waiting, "request_documents", "clerk", at(2026, 3, 2, 11), comment="ขาดแผนผัง")
    assert waiting.state_due_at == end_of_day(dt.date(2026, 3, 12))
    assert (await sweep(o, at(2026, 3, 4, 23))).escalations == 0
    assert (await sweep(o, at(2026, 3, 5))).escalations == 1
    assert (await sweep(o, at(2026, 3, 5))).escalations == 0
    case = await act(o, case, "accept", "clerk", at(2026, 3, 5, 10))
    assert case.assigned_unit_id == o.units["plans"]
    assert (await sweep(o, at(2026, 3, 12))).escalations == 0
    assert (await sweep(o, at(2026, 3, 13))).escalations == 1
    assert (await sweep(o, at(2026, 3, 16))).escalations == 0
    first, second = await notices_of(o, case.id, "escalation")
    assert [(n.seq, n.state, n.due_on, n.days_over, n.working_days_over, _day(n.sent_at)) for n in (first, second)] == [
        (1, "submitted", dt.date(2026, 3, 4), 1, 1, dt.date(2026, 3, 5)),
        (2, "review", dt.date(2026, 3, 12), 1, 1, dt.date(2026, 3, 13)),
    ]
    assert (first.recipient_name, first.address) == ("เจ้าหน้าที่ oss_head", o.emails["oss_head"])
    assert (second.recipient_name, second.address) == ("เจ้าหน้าที่ chief_engineer", o.emails["chief_engineer"])
    letter = await notification_of(o, first.id)
    assert letter is not None
    assert letter.subject_th == 'คำขอเลขที่ TEST-2569-000002 เกินกำหนดเวลาในขั้นตอน "ยื่นคำขอ"'
    assert "หน่วยงานที่รับผิดชอบ: หน่วย oss" in letter.body_th
    assert "ผู้รับผิดชอบ: เจ้าหน้าที่ clerk" in letter.body_th
    assert await notices_of(o, waiting.id, "escalation") == []


async def test_an_escalation_without_a_unit_is_recorded_for_the_lao(engine: AsyncEngine) -> None:
    o = await office(engine)
    case = await open_case(o, at(2026, 3, 2, 10))
    assert (await sweep(o, at(2026, 3, 5))).escalations == 1
    [notice] = await notices_of(o, case.id, "escalation")
    assert (notice.recipient_name, notice.address, notice.channel) == (None, None, None)


# --- results ------------------------------------------------------------------------------------------------


async def _decide(o: Office, case: cases.Case, action: str, now: dt.datetime, comment: str | None = None) -> cases.Case:
    case = await act(o, case, "accept", "clerk", now - dt.timedelta(hours=2))
    case = await act(o, case, "recommend", "engineer", now - dt.timedelta(hours=1))
    return await act(o, case, action, "chief", now, comment=comment)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[ChannelMessage] = []

    async def send(self, message: ChannelMessage) -> None:
        self.sent.append(message)


async def _deliver(o: Office, notification_id: uuid.UUID, settings: Settings) -> Recorder:
    """Run the worker's consumer on the notification's outbox entry (a sender that records)."""
    recorder = Recorder()
    async with tenant_session(o.factory, None) as session:
        entry = (
            await session.execute(
                select(OutboxEntry).where(
                    OutboxEntry.topic == NOTIFICATION_TOPIC,
                    OutboxEntry.payload["notification_id"].astext == str(notification_id),
                )
            )
        ).scalar_one()
        await notification_consumer(settings, {"email": recorder})(
            Delivery(entry, session, {o.tenant.id: o.tenant.schema})
        )
    return recorder


async def test_the_result_is_notified_and_a_result_not_notified_in_7_days_is_flagged(
    engine: AsyncEngine, settings: Settings
) -> None:
    o = await office(engine)
    mailed = await open_case(o, at(2026, 3, 2, 10), number="TEST-2569-000010")
    bounced = await open_case(o, at(2026, 3, 2, 10), walk_in="นายมานะ ขยัน", email="mana@example.go.th")
    by_hand = await open_case(o, at(2026, 3, 2, 10), walk_in="นายมีชัย ยืนยง")
    mailed = await _decide(o, mailed, "approve", at(2026, 3, 9, 10))
    bounced = await _decide(o, bounced, "refuse", at(2026, 3, 9, 10), comment="ที่ดินอยู่ในเขตห้ามก่อสร้าง")
    by_hand = await _decide(o, by_hand, "approve", at(2026, 3, 9, 10))
    # Decided long before (beyond 30 days): left to the record, not notified now.
    old = await open_case(o, at(2026, 1, 20, 10), walk_in="นายเก่า ก่อน", email="old@example.go.th")
    old = await _decide(o, old, "approve", at(2026, 2, 5, 10))

    result = await sweep(o, at(2026, 3, 9, 11))
    assert result.result_notices == 3
    assert (await sweep(o, at(2026, 3, 9, 11))).result_notices == 0
    assert await notices_of(o, old.id, "result") == []
    [approved] = await notices_of(o, mailed.id, "result")
    assert (approved.state, approved.due_on, approved.channel, approved.address) == (
        "approved",
        dt.date(2026, 3, 16),
        "email",
        "somsri@example.go.th",
    )
    letter = await notification_of(o, approved.id)
    assert letter is not None
    assert letter.subject_th == "แจ้งผลการพิจารณาคำขอ เลขที่ TEST-2569-000010: อนุญาต"
    assert "ได้พิจารณาคำขอของท่านแล้วเสร็จเมื่อวันที่ 9 มีนาคม 2569" in letter.body_th
    [refused] = await notices_of(o, bounced.id, "result")
    refusal = await notification_of(o, refused.id)
    assert refusal is not None
    assert refused.state == "refused"
    assert "เหตุผล: ที่ดินอยู่ในเขตห้ามก่อสร้าง" in refusal.body_th
    [handed] = await notices_of(o, by_hand.id, "result")
    assert handed.channel is None

    # The approval's e-mail goes out; the refusal's never does (its server refuses it); the LAO
    # hands the third result over at the counter on Tuesday 10 March.
    sent = await _deliver(o, letter.id, settings)
    assert [m.subject_th for m in sent.sent] == [letter.subject_th]
    async with o.session() as session:
        await notices.record_hand_delivery(
            session,
            handed.id,
            notices.HandDeliveryRecord(how="in_person", on=dt.date(2026, 3, 10)),
            actor=ADMIN,
            origin=Origin(),
            now=at(2026, 3, 10, 14),
        )
    result = await sweep(o, at(2026, 3, 11))
    assert (result.results_notified, result.results_flagged) == (1, 0)
    assert (await sweep(o, at(2026, 3, 16))).results_flagged == 0  # the last day allowed
    result = await sweep(o, at(2026, 3, 17))
    assert (result.results_notified, result.results_flagged) == (0, 1)
    assert (await sweep(o, at(2026, 3, 18))).results_flagged == 0
    [approved] = await notices_of(o, mailed.id, "result")
    [refused] = await notices_of(o, bounced.id, "result")
    [handed] = await notices_of(o, by_hand.id, "result")
    assert (approved.notified_on, approved.flagged_at, approved.delivery_status) == (dt.date(2026, 3, 9), None, "sent")
    assert (refused.notified_on, refused.flagged_at, refused.delivery_status) == (None, at(2026, 3, 17), "queued")
    assert (handed.notified_on, handed.flagged_at, handed.hand_delivery) == (dt.date(2026, 3, 10), None, "in_person")
    async with o.session() as session:
        late = await notices.late_results(session, after=None, limit=10)
    assert [n.id for n in late] == [refused.id]


async def test_a_result_notified_after_the_time_allowed_is_flagged_as_late(engine: AsyncEngine) -> None:
    """The worker was down: the first sweep after a decision comes 9 days later. The notice goes
    out then, and it is flagged: the applicant was not told within 7 days."""
    o = await office(engine)
    case = await _decide(o, await open_case(o, at(2026, 3, 2, 10)), "approve", at(2026, 3, 9, 10))
    async with o.session() as session:
        assert await deadlines.issue_result_notice(session, o.tenant, case.id, now=at(2026, 3, 18)) is True
        assert await deadlines.issue_result_notice(session, o.tenant, case.id, now=at(2026, 3, 18)) is False
        [notice] = await notices.case_notices(session, case.id)
        await notices.record_hand_delivery(
            session,
            notice.id,
            notices.HandDeliveryRecord(how="letter", on=dt.date(2026, 3, 18)),
            actor=ADMIN,
            origin=Origin(),
            now=at(2026, 3, 18, 10),
        )
        [notice] = await notices.case_notices(session, case.id)
    assert (notice.notified_on, notice.flagged_at) == (dt.date(2026, 3, 18), at(2026, 3, 18, 10))


# --- the job, the sweep's pages --------------------------------------------------------------------------------


async def test_the_sweep_is_the_plugins_per_tenant_job(engine: AsyncEngine) -> None:
    assert DEADLINES_JOB in PLUGIN.jobs
    assert DEADLINES_JOB.per_tenant
    assert DEADLINES_JOB.every == dt.timedelta(minutes=15)
    o = await office(engine)
    case = await open_case(o, at(2026, 3, 2, 10))
    async with o.session() as session:
        await DEADLINES_JOB.run(JobContext(session, o.tenant, at(2026, 3, 18)))
    assert [n.recipient_kind for n in await notices_of(o, case.id, "delay")] == ["applicant", "opdc"]
    async with o.session() as session:
        with pytest.raises(TypeError, match="TenantInfo"):
            await DEADLINES_JOB.run(JobContext(session, None, at(2026, 3, 18)))


async def test_the_sweep_reads_every_late_case_a_page_at_a_time(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = await office(engine, opdc_copies=False)
    opened = [await open_case(o, at(2026, 3, 2, 8 + i)) for i in range(5)]
    async with o.session() as session:
        everything = await cases.overdue(session, at(2026, 3, 18), limit=100)
        paged: list[cases.CaseSummary] = []
        page = await cases.overdue(session, at(2026, 3, 18), limit=2)
        while page:
            paged += page
            page = await cases.overdue(session, at(2026, 3, 18), limit=2, after=page[-1])
    assert [c.id for c in paged] == [c.id for c in everything]
    assert {c.id for c in everything} == {c.id for c in opened}
    monkeypatch.setattr(deadlines, "PAGE", 2)
    result = await sweep(o, at(2026, 3, 18))
    assert (result.late_cases, result.delay_notices, result.escalations) == (5, 5, 5)


# --- the notices' endpoints -------------------------------------------------------------------------------------


async def test_notice_settings_are_the_managers_validated_and_audited(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    o = await office(engine)
    other = await office(engine)
    settings_body = {
        "opdc_email": "copies@lao.example",
        "opdc_copies": True,
        "delay_every_days": 7,
        "result_within_days": 5,
    }
    async with client_for(plugins=REGISTRY, listen=False) as http:
        defaults = (await http.get("/v1/oss/notice-settings", headers=staff(o.tenant))).json()
        assert defaults == {
            "opdc_email": None,
            "opdc_copies": True,
            "delay_every_days": 7,
            "result_within_days": 7,
            "updated_at": None,
            "updated_by": None,
        }
        saved = await http.put("/v1/oss/notice-settings", json=settings_body, headers=staff(o.tenant))
        assert saved.status_code == 200, saved.text
        assert {k: saved.json()[k] for k in settings_body} == settings_body
        assert saved.json()["updated_by"] == "staff:00000000-0000-0000-0000-00000000000a"
        for bad in (
            {**settings_body, "delay_every_days": 0},
            {**settings_body, "result_within_days": 31},
            {**settings_body, "opdc_email": "not-an-address"},
            {**settings_body, "colour": "red"},
            {k: v for k, v in settings_body.items() if k != "opdc_copies"},
        ):
            refused = await http.put("/v1/oss/notice-settings", json=bad, headers=staff(o.tenant))
            assert refused.status_code == 400, bad
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "validation_error"
        # An officer of the counter reads notices, not the settings; the public neither.
        assert (await http.get("/v1/oss/notice-settings", headers=staff(o.tenant, "oss.officer"))).status_code == 403
        assert (
            await http.put("/v1/oss/notice-settings", json=settings_body, headers=host(o.tenant.slug))
        ).status_code == 401
        # Another LAO has its own.
        theirs = (await http.get("/v1/oss/notice-settings", headers=staff(other.tenant))).json()
        assert theirs["opdc_email"] is None
    async with o.session() as session:
        audited = (
            await session.execute(select(AuditEvent.data).where(AuditEvent.action == "oss.notice_settings.updated"))
        ).scalar_one()
    assert audited["opdc_email"] == "copies@lao.example"


async def test_the_notices_of_a_case_late_results_and_hand_delivery_over_http(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    o = await office(engine)
    b = await office(engine)
    late = await open_case(o, at(2026, 3, 2, 10), walk_in="นายมีชัย ยืนยง")
    decided = await _decide(
        o, await open_case(o, at(2026, 3, 2, 10), walk_in="นายมานะ ขยัน"), "approve", at(2026, 3, 9, 10)
    )
    await sweep(o, at(2026, 3, 18))  # late's delay notice; decided's result, already over its 7 days: flagged
    async with client_for(plugins=REGISTRY, listen=False) as http:
        listed = await http.get(
            "/v1/oss/notices", params={"case_id": str(late.id)}, headers=staff(o.tenant, "oss.officer")
        )
        assert listed.status_code == 200
        kinds = [(n["kind"], n["recipient_kind"]) for n in listed.json()["items"]]
        assert kinds == [("delay", "applicant"), ("delay", "opdc"), ("escalation", "supervisor")]
        walked = await walk_pages(
            http, "/v1/oss/notices", staff(o.tenant, "oss.officer"), params={"case_id": str(late.id)}
        )
        assert walked == listed.json()["items"]
        notice = listed.json()["items"][0]
        assert (notice["seq"], notice["channel"], notice["days_over"], notice["due_on"]) == (1, None, 1, "2026-03-17")
        one = await http.get(f"/v1/oss/notices/{notice['id']}", headers=staff(o.tenant, "oss.officer"))
        assert one.json() == notice
        # Which case, checked: none, not a UUID, another LAO's.
        assert (await http.get("/v1/oss/notices", headers=staff(o.tenant))).status_code == 400
        bad = await http.get("/v1/oss/notices", params={"case_id": "x"}, headers=staff(o.tenant))
        assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")
        unknown = await http.get("/v1/oss/notices", params={"case_id": str(uuid.uuid4())}, headers=staff(o.tenant))
        assert (unknown.status_code, unknown.json()["code"]) == (404, "case_not_found")

        [result] = (
            await http.get("/v1/oss/notices", params={"case_id": str(decided.id)}, headers=staff(o.tenant))
        ).json()["items"]
        assert result["kind"] == "result"
        flagged = (await http.get("/v1/oss/notices/late-results", headers=staff(o.tenant))).json()["items"]
        assert [n["id"] for n in flagged] == [result["id"]]
        page = await http.get(
            "/v1/oss/notices/late-results", params={"cursor": encode_cursor([result["id"]])}, headers=staff(o.tenant)
        )
        assert page.json()["items"] == []
        gone = await http.get(
            "/v1/oss/notices/late-results", params={"cursor": encode_cursor([notice["id"]])}, headers=staff(o.tenant)
        )
        assert (gone.status_code, gone.json()["code"]) == (404, "notice_not_found")

        # The LAO delivered the delay notice by letter: recorded once, on a day that can be.
        path = f"/v1/oss/notices/{notice['id']}/hand-delivery"
        for body, status, code in (
            ({"how": "pigeon", "on": "2026-03-18"}, 400, "validation_error"),
            ({"how": "letter"}, 400, "validation_error"),
            ({"how": "letter", "on": "2026-03-17"}, 422, "invalid_input"),  # before the day it is about
            ({"how": "letter", "on": "2999-01-01"}, 422, "invalid_input"),  # after today
        ):
            refused = await http.post(path, json=body, headers=staff(o.tenant, "oss.officer"))
            assert (refused.status_code, refused.json()["code"]) == (status, code), body
        assert (
            await http.post(path, json={"how": "letter", "on": "2026-03-19"}, headers=staff(o.tenant, "oss.editor"))
        ).status_code == 403
        done = await http.post(path, json={"how": "letter", "on": "2026-03-19"}, headers=staff(o.tenant, "oss.officer"))
        assert done.status_code == 200, done.text
        assert (done.json()["hand_delivery"], done.json()["hand_delivered_on"]) == ("letter", "2026-03-19")
        again = await http.post(path, json={"how": "phone", "on": "2026-03-20"}, headers=staff(o.tenant, "oss.officer"))
        assert (again.status_code, again.json()["code"]) == (409, "notice_already_delivered")

        # Another LAO sees none of it.
        assert (
            await http.get("/v1/oss/notices", params={"case_id": str(late.id)}, headers=staff(b.tenant))
        ).status_code == 404
        assert (await http.get(f"/v1/oss/notices/{notice['id']}", headers=staff(b.tenant))).status_code == 404
        assert (await http.get("/v1/oss/notices/late-results", headers=staff(b.tenant))).json()["items"] == []
    async with o.session() as session:
        audited = (
            await session.execute(select(func.count()).where(AuditEvent.action == "oss.notice.hand_delivered"))
        ).scalar_one()
    assert audited == 1


# --- the working-day calendar's endpoints ------------------------------------------------------------------------


async def test_anyone_reads_the_calendar_and_the_manager_sets_the_laos_own_days(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    o = await office(engine)
    b = await office(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        year = await http.get("/v1/oss/calendar/2026", headers=host(o.tenant.slug))
        assert year.status_code == 200
        body = year.json()
        assert body["national_list_covers_year"] is True
        assert {
            "day": "2026-03-03",
            "kind": "holiday",
            "source": "cabinet",
            "name_th": "วันมาฆบูชา",
            "name_en": "Makha Bucha Day",
        } in body["holidays"]
        assert all(h["day"].startswith("2026-") for h in body["holidays"])
        assert body["lao_days"] == []
        working = body["working_days"]
        assert 240 < working < 250

        path = "/v1/oss/calendar/days/2026-03-25"
        day_off = {"working": False, "note_th": "งานประเพณีประจำปี"}
        assert (await http.put(path, json=day_off, headers=host(o.tenant.slug))).status_code == 401
        assert (await http.put(path, json=day_off, headers=staff(o.tenant, "oss.officer"))).status_code == 403
        saved = await http.put(path, json=day_off, headers=staff(o.tenant))
        assert saved.status_code == 200
        assert saved.json() == {"day": "2026-03-25", **day_off}
        saturday = await http.put(
            "/v1/oss/calendar/days/2026-03-21",
            json={"working": True, "note_th": "เปิดบริการวันเสาร์"},
            headers=staff(o.tenant),
        )
        assert saturday.status_code == 200
        mine = (await http.get("/v1/oss/calendar/2026", headers=host(o.tenant.slug))).json()
        assert [d["day"] for d in mine["lao_days"]] == ["2026-03-21", "2026-03-25"]
        assert mine["working_days"] == working  # one day off, one Saturday on
        # Validation: the day, the year, the note. A path that is no day matches no route (as a
        # malformed id does everywhere): 404.
        nowhere = await http.put("/v1/oss/calendar/days/2026-02-30", json=day_off, headers=staff(o.tenant))
        assert (nowhere.status_code, nowhere.json()["code"]) == (404, "not_found")
        for url, payload, code in (
            ("/v1/oss/calendar/days/1999-12-31", day_off, "calendar_day_invalid"),
            (path, {"working": False, "note_th": "สองบรรทัด\nหมายเหตุ"}, "calendar_day_invalid"),
            (path, {"working": False, "note_th": "ก" * 201}, "validation_error"),
            (path, {"working": False}, "validation_error"),
            (path, {"working": "no", "note_th": "x"}, "validation_error"),
            (path, {**day_off, "extra": 1}, "validation_error"),
        ):
            refused = await http.put(url, json=payload, headers=staff(o.tenant))
            assert (refused.status_code, refused.json()["code"]) == (400, code), (url, payload)
        assert (await http.get("/v1/oss/calendar/1999", headers=host(o.tenant.slug))).status_code == 400
        assert (await http.get("/v1/oss/calendar/2028", headers=host(o.tenant.slug))).json()[
            "national_list_covers_year"
        ] is False

        # Another LAO: its own calendar, and A's day is not its to clear.
        assert (await http.get("/v1/oss/calendar/2026", headers=host(b.tenant.slug))).json()["lao_days"] == []
        foreign = await http.delete(path, headers=staff(b.tenant))
        assert (foreign.status_code, foreign.json()["code"]) == (404, "calendar_day_not_found")
        assert (await http.delete(path, headers=staff(o.tenant))).status_code == 204
        again = await http.delete(path, headers=staff(o.tenant))
        assert (again.status_code, again.json()["code"]) == (404, "calendar_day_not_found")
        left = (await http.get("/v1/oss/calendar/2026", headers=host(o.tenant.slug))).json()
        assert [d["day"] for d in left["lao_days"]] == ["2026-03-21"]
        assert left["working_days"] == working + 1
    async with o.session() as session:
        actions = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.target)
                .where(AuditEvent.action.like("calendar.%"))
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("calendar.day_set", "calendar:2026-03-25"),
        ("calendar.day_set", "calendar:2026-03-21"),
        ("calendar.day_cleared", "calendar:2026-03-25"),
    ]


async def test_the_sweeps_reads_are_served_by_their_indexes(engine: AsyncEngine) -> None:
    """The recent decisions and the pending result notices are read from their partial indexes,
    never by a scan of every case or notice an LAO ever had."""
    o = await office(engine)
    async with o.session() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        for statement, params, index in (
            (
                notices.UNNOTIFIED_DECISIONS,
                {"since": at(2026, 3, 1), "now": at(2026, 3, 31), "limit": 1000},
                "ix_cases_decided",
            ),
            (notices.PENDING_RESULTS, {"limit": 1000}, "ix_oss_case_notices_pending_results"),
        ):
            compiled = statement.compile(dialect=PGDialect_psycopg2())  # type: ignore[no-untyped-call]
            sql = re.sub(r"%\((\w+)\)s", r":\1", str(compiled))
            values = {**{k: v for k, v in compiled.params.items() if v is not None}, **params}
            plan = "\n".join(row[0] for row in (await session.execute(text("EXPLAIN " + sql), values)).all())
            assert index in plan, plan
