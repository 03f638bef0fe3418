"""The working-day calendar of each LAO (ปฏิทินวันทำการ): what "15 working days" means for a deadline.

A day is a working day unless it is a Saturday or a Sunday, or a government holiday
(วันหยุดราชการ, national: the cabinet's list), or a day off of the LAO's own; and an LAO may also
declare a weekend or a national holiday a working day of its own (a counter open on a Saturday, a
holiday its office works through). The LAO's own days win over the rest.

**National holidays are package data, not rows.** ``thai_holidays.csv`` (next to this module)
holds the cabinet's list for the current and the next year, read once per process into a frozen
set. Seeding them into every tenant schema would copy the same ~25 rows a year into 7,849 schemas
at provisioning, and a holiday the cabinet adds (it does, every year: special days, substitution
days) would then need a data migration of every schema; as package data a release carries it to
every LAO at once and provisioning writes nothing. Only what is the LAO's own is in its schema:
``calendar_days``, one row per day it adds or removes (:func:`set_lao_day`, :func:`clear_lao_day`).

**One query per computation.** :func:`load_calendar` reads the LAO's own days (a few rows a year)
in one statement and returns a :class:`WorkingCalendar`, whose methods are plain functions of the
date (no I/O): a service computes every deadline of a request with it, e.g.::

    calendar = await load_calendar(session)
    due = calendar.add_working_days(received_on, 15)

**Counting.** ``add_working_days(start, n)`` is the n-th working day *after* ``start`` (the day of
receipt itself is not counted, as the Civil and Commercial Code s.193/3 counts periods), and
``working_days_between(start, end)`` counts the working days after ``start`` up to and including
``end``: ``working_days_between(d, add_working_days(d, n)) == n``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Literal

import msgspec
from sqlalchemy import Boolean, Date, DateTime, Text, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.csv import read_csv
from localgov.kernel.db import TenantBase
from localgov.kernel.errors import DomainError, NotFound
from localgov.kernel.reads import Reader, fetch_all
from localgov.kernel.text import is_one_line
from localgov.kernel.thai import BANGKOK

#: Saturday and Sunday (``date.weekday()``).
WEEKEND = frozenset({5, 6})
#: The longest period the calendar counts (a deadline beyond ten years is a mistake, not a rule).
MAX_WORKING_DAYS = 2600
#: The years an LAO's own days may be in.
FIRST_YEAR, LAST_YEAR = 2000, 2200

HolidayKind = Literal["holiday", "substitution", "special"]
#: ``cabinet`` (announced) or ``provisional`` (a lunar date not yet announced when the file was written).
HolidaySource = Literal["cabinet", "provisional"]


class Holiday(msgspec.Struct, frozen=True, kw_only=True):
    """A government holiday of the national list (``thai_holidays.csv``)."""

    day: dt.date
    #: ``holiday`` (the annual list), ``substitution`` (วันหยุดชดเชย), ``special`` (a day added for one year).
    kind: HolidayKind
    #: ``cabinet`` (announced) or ``provisional`` (a lunar date not yet announced when the file was written).
    source: HolidaySource
    name_th: str
    name_en: str


@cache
def national_holidays() -> Mapping[dt.date, Holiday]:
    """Every government holiday of the package's list, by date (read once per process)."""
    text = resources.files("localgov.kernel").joinpath("thai_holidays.csv").read_text(encoding="utf-8")
    # The file explains itself in comment lines (``#``); the rest is a CSV with a header.
    content = "\n".join(line for line in text.splitlines() if not line.startswith("#")).encode()
    holidays: dict[dt.date, Holiday] = {}
    for row in read_csv(content, required=("date", "kind", "source", "name_th", "name_en")).rows:
        holiday = msgspec.convert({**row.values, "day": row.get("date")}, Holiday, strict=False)
        if holiday.day in holidays:
            raise ValueError(f"thai_holidays.csv lists {holiday.day} twice")
        holidays[holiday.day] = holiday
    return holidays


def national_years() -> frozenset[int]:
    """The years the national list covers (a deadline beyond them counts weekends and the LAO's days only)."""
    return frozenset(day.year for day in national_holidays())


class CalendarDay(TenantBase):
    """A day the LAO declares a day off, or a working day, of its own (overrides weekends and holidays)."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    #: False: the office is closed (a local festival, a day of mourning); True: it works although
    #: the day is a weekend or a national holiday.
    working: Mapped[bool] = mapped_column(Boolean)
    #: Why, in Thai (shown to staff and citizens next to the deadlines it moves).
    note_th: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LaoDay(msgspec.Struct, frozen=True, kw_only=True):
    """One of the LAO's own days."""

    day: dt.date
    working: bool
    note_th: str


class WorkingCalendar(msgspec.Struct, frozen=True):
    """The working days of one LAO: weekends, the national holidays, and its own days."""

    #: The LAO's own days: date -> working (True) or day off (False).
    own: Mapping[dt.date, bool] = msgspec.field(default_factory=dict)

    def is_working_day(self, day: dt.date) -> bool:
        own = self.own.get(day)
        if own is not None:
            return own
        return day.weekday() not in WEEKEND and day not in national_holidays()

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after ``start`` (``start`` itself when n is 0)."""
        if not 0 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"a number of working days between 0 and {MAX_WORKING_DAYS}, not {n}")
        day = start
        while n:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """The working days after ``start`` up to and including ``end`` (0 when ``end`` is not after it)."""
        count = 0
        day = start + dt.timedelta(days=1)
        while day <= end:
            count += self.is_working_day(day)
            day += dt.timedelta(days=1)
        return count

    def day_off_reason(self, day: dt.date) -> str | None:
        """Why ``day`` is not a working day, in Thai (None when it is one)."""
        if self.is_working_day(day):
            return None
        holiday = national_holidays().get(day)
        if self.own.get(day) is False:
            return "วันหยุดของหน่วยงาน"
        return holiday.name_th if holiday else "วันหยุดสุดสัปดาห์"


def end_of_day(day: dt.date) -> dt.datetime:
    """The instant ``day`` ends in Bangkok (00:00 of the next day, UTC+7): a deadline on ``day`` is
    missed from then on."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=BANGKOK).astimezone(dt.UTC)


_DAYS = CalendarDay.__table__.c
#: The LAO's own days, all of them (a few a year): built once, one statement for every tenant.
_OWN_DAYS = select(_DAYS.day, _DAYS.working)
_DAYS_BETWEEN = (
    select(_DAYS.day, _DAYS.working, _DAYS.note_th)
    .where(_DAYS.day.between(bindparam("first", type_=Date), bindparam("last", type_=Date)))
    .order_by(_DAYS.day)
)


async def load_calendar(reader: Reader) -> WorkingCalendar:
    """The calendar of the reader's LAO, in one query."""
    rows = await fetch_all(reader, _OWN_DAYS)
    return WorkingCalendar(own={row["day"]: row["working"] for row in rows})


# --- the LAO's own days ---------------------------------------------------------------------------


class InvalidCalendarDay(DomainError):
    code = "calendar_day_invalid"
    status = 400
    title = "วันที่หรือหมายเหตุไม่ถูกต้อง / Not a valid day or note"


class CalendarDayNotFound(NotFound):
    code = "calendar_day_not_found"
    title = "ไม่มีวันที่หน่วยงานกำหนดไว้ในวันนี้ / The LAO has set nothing for this day"


def _check_day(day: dt.date) -> None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidCalendarDay(f"The year must be between {FIRST_YEAR} and {LAST_YEAR}.", data={"day": str(day)})


async def lao_days(reader: Reader, year: int) -> list[LaoDay]:
    """The LAO's own days of ``year`` (Gregorian), in date order."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidCalendarDay(f"The year must be between {FIRST_YEAR} and {LAST_YEAR}.", data={"year": year})
    rows = await fetch_all(reader, _DAYS_BETWEEN, {"first": dt.date(year, 1, 1), "last": dt.date(year, 12, 31)})
    return [LaoDay(day=row["day"], working=row["working"], note_th=row["note_th"]) for row in rows]


async def set_lao_day(
    session: AsyncSession, day: dt.date, *, working: bool, note_th: str, actor: Actor, origin: Origin
) -> LaoDay:
    """Declare ``day`` a day off (``working=False``) or a working day of the LAO's own; again: changed.

    Deadlines already computed stay as they were; the next transition of a case computes with it.
    """
    _check_day(day)
    note = note_th.strip()
    if not is_one_line(note) or len(note) > 200:
        raise InvalidCalendarDay("The note is one line of 1 to 200 characters.", data={"day": str(day)})
    await session.execute(
        insert(CalendarDay)
        .values(day=day, working=working, note_th=note)
        .on_conflict_do_update(
            index_elements=[_DAYS.day], set_={"working": working, "note_th": note, "updated_at": func.now()}
        )
    )
    await record_audit(
        session,
        "calendar.day_set",
        actor=actor,
        origin=origin,
        target=f"calendar:{day.isoformat()}",
        data={"working": working, "note_th": note},
    )
    return LaoDay(day=day, working=working, note_th=note)


async def clear_lao_day(session: AsyncSession, day: dt.date, *, actor: Actor, origin: Origin) -> None:
    """Remove the LAO's own setting of ``day`` (it is again what weekends and national holidays make it)."""
    _check_day(day)
    removed = (
        await session.execute(delete(CalendarDay).where(_DAYS.day == day).returning(_DAYS.working, _DAYS.note_th))
    ).one_or_none()
    if removed is None:
        raise CalendarDayNotFound(data={"day": day.isoformat()})
    await record_audit(
        session,
        "calendar.day_cleared",
        actor=actor,
        origin=origin,
        target=f"calendar:{day.isoformat()}",
        data={"working": removed.working, "note_th": removed.note_th},
    )
