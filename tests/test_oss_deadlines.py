"""The deadlines of cases with a frozen clock: delay notices on day 0 of the excess and every 7
days after it on the LAO's working days (weekends, government holidays and the LAO's own days off
skipped), with a copy for the OPDC, none after the decision, once however often the sweep runs;
the result notified after the decision and flagged when not notified within 7 days; escalation to
the unit's supervisor once per state entry; the job in the worker; the working-day calendar's
endpoints and the notices' endpoints, validated, guarded and isolated."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Origin
from localgov.kernel.calendar import end_of_day, set_lao_day
from localgov.services.oss import deadlines
from localgov.services.oss.deadlines import deadline_day, delay_cycle
from tests.support.oss_deadlines import ADMIN, act, at, notices_of, notification_of, office, open_case, sweep


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
    notices = await notices_of(o, case.id, "delay")
    assert [(_day(n.sent_at), n.seq, n.cycle, n.due_on) for n in notices] == [
        (dt.date(2026, 3, 18), 1, 1, dt.date(2026, 3, 17)),
        (dt.date(2026, 3, 25), 2, 1, dt.date(2026, 3, 24)),
        (dt.date(2026, 4, 1), 3, 2, dt.date(2026, 3, 24)),
    ]
    # Without copies for the OPDC, none is recorded, and the letter does not claim one.
    assert {n.recipient_kind for n in notices} == {"applicant"}
    letter = await notification_of(o, notices[0].id)
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
    assert (await sweep(o, at(2026, 3, 18))).delay_notices == 2
    [mailed] = [n for n in await notices_of(o, with_mail.id, "delay") if n.recipient_kind == "applicant"]
    assert (mailed.channel, mailed.address, mailed.delivery_status) == ("email", "mana@example.go.th", "queued")
    [unmailed] = [n for n in await notices_of(o, without.id, "delay") if n.recipient_kind == "applicant"]
    assert (unmailed.channel, unmailed.address, unmailed.recipient_name) == (None, None, "นายมีชัย ยืนยง")
    assert await notification_of(o, unmailed.id) is None
