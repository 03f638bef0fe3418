"""HTTP endpoints of the LAO's working-day calendar (ปฏิทินวันทำการ), the one every deadline counts in.

Anyone on the LAO's host reads a year (the government holidays of the national list, the LAO's own
days, the working days they leave): the times of the public manuals are counted in them. Staff
who manage the One Stop Service set and clear the LAO's own days (``kernel.calendar``: validated,
audited as ``calendar.day_set`` / ``calendar.day_cleared``). A day changed applies to the next
deadline computed; deadlines already set stay as they were.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import calendar
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.calendar import HolidayKind, HolidaySource, WorkingCalendar
from localgov.kernel.errors import problem_responses
from localgov.kernel.reads import ReadConnection
from localgov.kernel.text import ONE_LINE
from localgov.services.oss.params import MANAGE, STAFF_ERRORS

TAG = "OSS: calendar"

Year = Annotated[
    int,
    PathParameter(ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR, description="A year (Gregorian, e.g. 2026)"),
]
#: The years the calendar keeps (``kernel.calendar.FIRST_YEAR``-``LAST_YEAR``: 2000-2200), stated in the document.
DAY_PATTERN = r"^(20[0-9]{2}|21[0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$"
Day = Annotated[
    dt.date,
    PathParameter(description="A day, YYYY-MM-DD, of the years 2000-2200", schema_extra={"pattern": DAY_PATTERN}),
]


class HolidayRead(msgspec.Struct, kw_only=True):
    """A government holiday of the national list."""

    day: dt.date
    #: ``holiday`` (the annual list), ``substitution`` (วันหยุดชดเชย), ``special`` (added for the year).
    kind: HolidayKind
    #: ``cabinet`` (announced) or ``provisional`` (a lunar date computed before the announcement).
    source: HolidaySource
    name_th: str
    name_en: str


class LaoDayRead(msgspec.Struct, kw_only=True):
    """One of the LAO's own days: a day off, or a working day on a weekend or a holiday."""

    day: dt.date
    working: bool
    note_th: str


class CalendarYear(msgspec.Struct, kw_only=True):
    """The working-day calendar of the LAO for a year."""

    year: int
    #: The national list covers the year (else only weekends and the LAO's own days count).
    national_list_covers_year: bool
    holidays: list[HolidayRead]
    lao_days: list[LaoDayRead]
    #: The working days of the year for the LAO (weekends, holidays and its days off left out).
    working_days: int


class LaoDaySet(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The LAO's own day: a day off (``working: false``: a local festival, a day of mourning) or a
    working day on a weekend or a holiday (``working: true``), with why, in Thai."""

    working: bool
    #: One line (documented; the handler refuses another with 400 ``calendar_day_invalid``).
    note_th: Annotated[str, msgspec.Meta(min_length=1, max_length=200, extra_json_schema={"pattern": ONE_LINE})]


class CalendarController(Controller):
    path = "/calendar"
    tags = [TAG]

    @get(
        "/{year:int}",
        operation_id="getOssCalendarYear",
        summary="The LAO's working-day calendar of a year: government holidays, its own days, working days",
        responses=problem_responses(400, 404, 410),
        **guarded(PUBLIC),  # the days the public manuals' times are counted in
    )
    async def year(self, year: Year, db_read: NamedDependency[ReadConnection]) -> CalendarYear:
        own = await calendar.lao_days(db_read, year)
        days = WorkingCalendar(own={d.day: d.working for d in own})
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        holidays = [h for day, h in sorted(calendar.national_holidays().items()) if first <= day <= last]
        return CalendarYear(
            year=year,
            national_list_covers_year=year in calendar.national_years(),
            holidays=[HolidayRead(**msgspec.structs.asdict(h)) for h in holidays],
            lao_days=[LaoDayRead(day=d.day, working=d.working, note_th=d.note_th) for d in own],
            working_days=days.working_days_between(first - dt.timedelta(days=1), last),
        )

    @put(
        "/days/{day:date}",
        operation_id="setOssCalendarDay",
        summary="Declare a day the LAO's own day off, or a working day of its own (again: changed)",
        description="400 `calendar_day_invalid`: a year outside 2000-2200, or a note that is not one line of 1-200 "
        "characters. Deadlines already computed stay; the next transition of a case counts with it.",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(MANAGE),
    )
    async def set_day(
        self,
        day: Day,
        data: JSONBody[LaoDaySet],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LaoDayRead:
        saved = await calendar.set_lao_day(
            db_session, day, working=data.working, note_th=data.note_th, actor=actor, origin=origin
        )
        return LaoDayRead(day=saved.day, working=saved.working, note_th=saved.note_th)

    @delete(
        "/days/{day:date}",
        operation_id="clearOssCalendarDay",
        summary="Remove the LAO's own setting of a day (404 `calendar_day_not_found` when it has none)",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(MANAGE),
    )
    async def clear_day(
        self,
        day: Day,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await calendar.clear_lao_day(db_session, day, actor=actor, origin=origin)
