"""The working-day calendar: the national holidays data, counting working days across weekends and
holidays, the LAO's own days (added, removed, audited), one query per computation, isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, AuditEvent, Origin
from localgov.kernel.calendar import (
    CalendarDayNotFound,
    InvalidCalendarDay,
    LaoDay,
    WorkingCalendar,
    clear_lao_day,
    end_of_day,
    lao_days,
    load_calendar,
    national_holidays,
    national_years,
    set_lao_day,
)
from localgov.kernel.db import session_factory, tenant_session
from tests.support.factories import make_tenant

NATIONAL = WorkingCalendar()
ADMIN = Actor("staff", "00000000-0000-0000-0000-00000000a11c")
D = dt.date


# --- the national list ----------------------------------------------------------------------------


def test_the_list_covers_this_year_and_the_next_with_the_announced_lunar_dates() -> None:
    holidays = national_holidays()
    assert national_years() == {2026, 2027}
    assert sum(1 for day in holidays if day.year == 2026) == 22
    # 2569 has an extra eighth lunar month: Makha Bucha is on 3 March, Visakha Bucha on 31 May.
    assert holidays[D(2026, 3, 3)].name_th == "วันมาฆบูชา"
    assert holidays[D(2026, 5, 31)].name_en == "Visakha Bucha Day"
    assert (holidays[D(2026, 7, 29)].name_th, holidays[D(2026, 7, 30)].name_th) == ("วันอาสาฬหบูชา", "วันเข้าพรรษา")
    assert holidays[D(2026, 1, 2)].kind == "special"
    assert all(h.source == "cabinet" for h in holidays.values() if h.day.year == 2026)
    # Labour Day closes banks and businesses, not government offices.
    assert D(2026, 5, 1) not in holidays
    assert NATIONAL.is_working_day(D(2026, 5, 1))


def test_every_weekend_holiday_has_its_substitution_day() -> None:
    """A holiday on a Saturday or Sunday moves to the next day that is neither a weekend nor a
    holiday; each substitution day in the list is one of those, and nothing else."""
    holidays = national_holidays()
    expected = set()
    for holiday in holidays.values():
        if holiday.kind == "holiday" and holiday.day.weekday() >= 5:
            day = holiday.day + dt.timedelta(days=1)
            while day.weekday() >= 5 or (day in holidays and holidays[day].kind == "holiday"):
                day += dt.timedelta(days=1)
            expected.add(day)
    assert {h.day for h in holidays.values() if h.kind == "substitution"} == expected
    assert {D(2026, 6, 1), D(2026, 12, 7), D(2027, 2, 22), D(2027, 7, 20), D(2027, 10, 25)} <= expected


# --- counting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (D(2026, 2, 26), 0, D(2026, 2, 26)),  # nothing to count: the day itself
        (D(2026, 2, 26), 1, D(2026, 2, 27)),  # Thursday -> Friday
        (D(2026, 2, 27), 1, D(2026, 3, 2)),  # Friday -> Monday (the weekend is not counted)
        (D(2026, 2, 27), 2, D(2026, 3, 4)),  # Tuesday 3 March is Makha Bucha
        (D(2026, 3, 7), 1, D(2026, 3, 9)),  # from a Saturday: the next Monday
        (D(2026, 4, 3), 1, D(2026, 4, 7)),  # Monday 6 April is Chakri Day
        (D(2026, 4, 9), 2, D(2026, 4, 16)),  # 13-15 April: Songkran
        (D(2026, 5, 29), 1, D(2026, 6, 2)),  # Visakha Bucha on Sunday 31 May, its substitution Monday 1 June
        (D(2026, 7, 27), 1, D(2026, 7, 31)),  # 28, 29, 30 July: the King's birthday, Asanha Bucha, Khao Phansa
        (D(2026, 12, 30), 2, D(2027, 1, 5)),  # New Year's Eve and Day, then the weekend
        (D(2026, 2, 26), 10, D(2026, 3, 13)),
    ],
)
def test_add_working_days_skips_weekends_and_holidays(start: dt.date, n: int, due: dt.date) -> None:
    assert NATIONAL.add_working_days(start, n) == due
    assert NATIONAL.working_days_between(start, due) == n


def test_counting_is_consistent_both_ways() -> None:
    start = D(2025, 12, 20)
    for offset in range(0, 400, 3):
        day = start + dt.timedelta(days=offset)
        for n in (0, 1, 2, 5, 15, 45):
            due = NATIONAL.add_working_days(day, n)
            assert NATIONAL.working_days_between(day, due) == n
            assert n == 0 or NATIONAL.is_working_day(due)
    assert NATIONAL.working_days_between(D(2026, 3, 4), D(2026, 3, 4)) == 0
    assert NATIONAL.working_days_between(D(2026, 3, 4), D(2026, 3, 1)) == 0
    with pytest.raises(ValueError, match="working days"):
        NATIONAL.add_working_days(D(2026, 1, 1), -1)


def test_what_makes_a_day_off_and_when_a_deadline_ends() -> None:
    assert NATIONAL.is_working_day(D(2026, 3, 4))
    assert not NATIONAL.is_working_day(D(2026, 3, 7))  # Saturday
    assert not NATIONAL.is_working_day(D(2026, 3, 3))
    assert NATIONAL.day_off_reason(D(2026, 3, 3)) == "วันมาฆบูชา"
    assert NATIONAL.day_off_reason(D(2026, 3, 7)) == "วันหยุดสุดสัปดาห์"
    assert NATIONAL.day_off_reason(D(2026, 3, 4)) is None
    own = WorkingCalendar(own={D(2026, 3, 4): False, D(2026, 3, 3): True, D(2026, 3, 7): True})
    assert (own.is_working_day(D(2026, 3, 4)), own.is_working_day(D(2026, 3, 3))) == (False, True)
    assert own.day_off_reason(D(2026, 3, 4)) == "วันหยุดของหน่วยงาน"
    # From Monday 2 March: Tuesday (Makha Bucha, but worked), Thursday, Friday, Saturday (worked).
    assert own.add_working_days(D(2026, 3, 2), 4) == D(2026, 3, 7)
    # A deadline on a day ends at midnight in Bangkok (17:00 UTC the same day).
    assert end_of_day(D(2026, 3, 4)) == dt.datetime(2026, 3, 4, 17, 0, tzinfo=dt.UTC)


# --- the LAO's own days -------------------------------------------------------------------------


async def test_an_lao_adds_and_removes_days_of_its_own(engine: AsyncEngine) -> None:
    tenant, other = await make_tenant(engine), await make_tenant(engine)
    factory = session_factory(engine)
    origin = Origin(source_ip="192.0.2.7", request_id="r-calendar")
    async with tenant_session(factory, tenant) as session:
        # A local festival on Friday 27 February; the office works through Saturday 7 March and
        # through Makha Bucha (3 March).
        await set_lao_day(session, D(2026, 2, 27), working=False, note_th="งานประเพณีท้องถิ่น", actor=ADMIN, origin=origin)
        await set_lao_day(session, D(2026, 3, 7), working=True, note_th="เปิดบริการวันเสาร์", actor=ADMIN, origin=origin)
        await set_lao_day(session, D(2026, 3, 3), working=True, note_th="เปิดบริการ", actor=ADMIN, origin=origin)
        calendar = await load_calendar(session)
        assert calendar.add_working_days(D(2026, 2, 26), 1) == D(2026, 3, 2)
        assert calendar.add_working_days(D(2026, 2, 26), 2) == D(2026, 3, 3)
        assert calendar.add_working_days(D(2026, 3, 6), 1) == D(2026, 3, 7)
        # Set again: changed, not duplicated.
        changed = await set_lao_day(
            session, D(2026, 3, 3), working=False, note_th=" วันหยุดตามประกาศ ", actor=ADMIN, origin=origin
        )
        assert changed == LaoDay(day=D(2026, 3, 3), working=False, note_th="วันหยุดตามประกาศ")
        assert [d.day for d in await lao_days(session, 2026)] == [D(2026, 2, 27), D(2026, 3, 3), D(2026, 3, 7)]
        assert await lao_days(session, 2027) == []

    async with tenant_session(factory, other) as session:
        calendar = await load_calendar(session)
        assert calendar.own == {}
        assert calendar.add_working_days(D(2026, 2, 26), 1) == D(2026, 2, 27)
        with pytest.raises(CalendarDayNotFound):
            await clear_lao_day(session, D(2026, 2, 27), actor=ADMIN, origin=origin)

    async with tenant_session(factory, tenant) as session:
        await clear_lao_day(session, D(2026, 2, 27), actor=ADMIN, origin=origin)
        calendar = await load_calendar(session)
        assert calendar.add_working_days(D(2026, 2, 26), 1) == D(2026, 2, 27)
        audit = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.target, AuditEvent.actor_id, AuditEvent.source_ip, AuditEvent.data)
                .where(AuditEvent.action.like("calendar.%"))
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(a.action, a.target) for a in audit] == [
        ("calendar.day_set", "calendar:2026-02-27"),
        ("calendar.day_set", "calendar:2026-03-07"),
        ("calendar.day_set", "calendar:2026-03-03"),
        ("calendar.day_set", "calendar:2026-03-03"),
        ("calendar.day_cleared", "calendar:2026-02-27"),
    ]
    assert audit[0].actor_id == ADMIN.id
    assert str(audit[0].source_ip) == "192.0.2.7"
    assert audit[0].data == {"working": False, "note_th": "งานประเพณีท้องถิ่น"}
    assert audit[-1].data == {"working": False, "note_th": "งานประเพณีท้องถิ่น"}


@pytest.mark.parametrize(
    ("day", "note"),
    [
        (D(2026, 3, 4), ""),
        (D(2026, 3, 4), "   "),
        (D(2026, 3, 4), "two\nlines"),
        (D(2026, 3, 4), "ก" * 201),
        (D(1999, 12, 31), "ก่อนปี 2000"),
        (D(2201, 1, 1), "หลังปี 2200"),
    ],
)
async def test_bad_days_and_notes_are_refused(engine: AsyncEngine, day: dt.date, note: str) -> None:
    tenant = await make_tenant(engine)
    async with tenant_session(session_factory(engine), tenant) as session:
        with pytest.raises(InvalidCalendarDay) as refused:
            await set_lao_day(session, day, working=False, note_th=note, actor=ADMIN, origin=Origin())
        assert refused.value.code == "calendar_day_invalid"
        assert refused.value.status == 400
        with pytest.raises(InvalidCalendarDay):
            await lao_days(session, 1999)


async def test_a_calendar_is_one_query(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    async with tenant_session(session_factory(engine), tenant) as session:
        for day in range(1, 20):
            await set_lao_day(session, D(2026, 6, day), working=False, note_th="ปิด", actor=ADMIN, origin=Origin())
        statements: list[str] = []

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            calendar = await load_calendar(session)
            due = calendar.add_working_days(D(2026, 5, 29), 30)
            between = calendar.working_days_between(D(2026, 5, 29), due)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert between == 30
    # 1-19 June closed: the 30 days run from 22 June, past 28-30 July (holidays), to 5 August.
    assert due == D(2026, 8, 5)
