"""The counter (งานบริการหน้าเคาน์เตอร์): service points, queue tickets, calling, statistics.

A ticket is numbered per service point and Bangkok day without gaps (``A001``, ``A002`` …, the
kernel's running numbers, series ``oss.queue.<point id>`` and the day as period). Desks (ช่อง) call
the first waiting ticket of their point with one statement: the ticket is picked ``FOR UPDATE
SKIP LOCKED``, so two desks calling at the same moment always get two different tickets, and a
desk holds at most one called ticket (a partial unique index; 409 ``desk_busy``): it marks the
visitor served or a no-show before it calls the next.

Times are the caller's ``now`` (the views pass the clock; tests pass a frozen one): waiting time
is from issue to call, service time from call to served. The estimate shown to a waiting visitor
is (tickets ahead + 1) × the point's mean service time (its served tickets of the last 30 days;
5 minutes without any) ÷ the desks that called in the last hour (at least one).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import (
    DateTime,
    Numeric,
    Select,
    Table,
    and_,
    bindparam,
    cast,
    extract,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.numbering import next_number
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import Reader, Row, fetch_all, fetch_one, json_rows
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import InvalidInput
from localgov.services.oss.catalogue import service_exists
from localgov.services.oss.models import QueueTicket, ServicePoint
from localgov.services.oss.params import actor_label
from localgov.services.oss.schemas import ServicePointCreate, ServicePointUpdate

#: Without any served ticket to learn from, a visit is taken to last this long.
DEFAULT_SERVICE_SECONDS = 300
#: A statistics request covers at most this many days.
MAX_STATS_DAYS = 93
#: How many of the next numbers the waiting room shows.
BOARD_NEXT = 5


class PointNotFound(NotFound):
    code = "point_not_found"
    title = "ไม่พบจุดบริการนี้ / No such service point"


class PointCodeTaken(Conflict):
    code = "point_code_taken"
    title = "รหัสจุดบริการนี้มีอยู่แล้ว / A service point already has this code"


class PointInactive(Conflict):
    code = "point_inactive"
    title = "จุดบริการนี้ปิดให้บริการ / The service point is closed"


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    title = "ไม่พบบัตรคิวนี้ / No such queue ticket"


class QueueEmpty(Conflict):
    code = "queue_empty"
    title = "ไม่มีคิวรอเรียก / Nobody is waiting"


class DeskBusy(Conflict):
    code = "desk_busy"
    title = "ช่องบริการนี้ยังมีคิวที่เรียกอยู่ / The desk still has a called ticket: mark it served or a no-show first"


class TicketNotCalled(Conflict):
    code = "ticket_not_called"
    title = "บัตรคิวนี้ยังไม่ถูกเรียกหรือเสร็จสิ้นแล้ว / The ticket is not being served"


class TicketNotWaiting(Conflict):
    code = "ticket_not_waiting"
    title = "บัตรคิวนี้ไม่ได้รอเรียกอยู่ / The ticket is not waiting"


_P: Table = ServicePoint.__table__  # type: ignore[assignment]  # a declarative class's table
_T: Table = QueueTicket.__table__  # type: ignore[assignment]
_OTHER = _T.alias("other")
_SERVED = _T.alias("served")

# --- reads ----------------------------------------------------------------------------------------------

POINT_VIEW = select(*_P.c).where(_P.c.id == bindparam("point_id"))
POINT_LIST = select(*_P.c).order_by(_P.c.code, _P.c.id)
TICKET_VIEW = select(*_T.c).where(_T.c.id == bindparam("ticket_id"))
_DAY_TICKETS = (
    select(*_T.c)
    .where(_T.c.point_id == bindparam("point_id"), _T.c.service_day == bindparam("day"), _T.c.seq > bindparam("seq"))
    .order_by(_T.c.seq)
    .limit(bindparam("limit"))
)
DAY_TICKETS: dict[str | None, Select[Any]] = {
    None: _DAY_TICKETS,
    **{s: _DAY_TICKETS.where(_T.c.status == s) for s in ("waiting", "called", "served", "no_show", "cancelled")},
}
_CURSOR = select(_T.c.seq, _T.c.point_id).where(_T.c.id == bindparam("ticket_id"))

#: Waiting tickets before a ticket, in its point and day.
_AHEAD = (
    select(func.count())
    .where(
        _OTHER.c.point_id == _T.c.point_id,
        _OTHER.c.service_day == _T.c.service_day,
        _OTHER.c.status == "waiting",
        _OTHER.c.seq < _T.c.seq,
    )
    .scalar_subquery()
)
#: The point's mean service time over its served tickets of the last 30 days.
_MEAN_SERVICE = (
    select(func.avg(extract("epoch", _SERVED.c.finished_at - _SERVED.c.called_at)))
    .where(
        _SERVED.c.point_id == _T.c.point_id,
        _SERVED.c.service_day > _T.c.service_day - 30,
        _SERVED.c.status == "served",
    )
    .scalar_subquery()
)
_ACTIVE_DESKS = (
    select(func.count(func.distinct(_OTHER.c.desk)))
    .where(
        _OTHER.c.point_id == _T.c.point_id,
        _OTHER.c.service_day == _T.c.service_day,
        _OTHER.c.called_at > bindparam("now", type_=DateTime(timezone=True)) - dt.timedelta(hours=1),
    )
    .scalar_subquery()
)
PUBLIC_TICKET = (
    select(
        *_T.c,
        _P.c.code.label("point_code"),
        _P.c.name_th.label("point_name_th"),
        _P.c.name_en.label("point_name_en"),
        _AHEAD.label("ahead"),
        cast(_MEAN_SERVICE, Numeric).label("mean_service_seconds"),
        _ACTIVE_DESKS.label("active_desks"),
    )
    .select_from(_T.join(_P, _P.c.id == _T.c.point_id))
    .where(_T.c.token == bindparam("token"))
)

BOARD = select(
    _P.c.code,
    _P.c.name_th,
    _P.c.name_en,
    json_rows(
        [_T.c.desk, _T.c.number, _T.c.called_at],
        where=and_(_T.c.point_id == _P.c.id, _T.c.service_day == bindparam("day"), _T.c.status == "called"),
        order_by=[_T.c.called_at.desc(), _T.c.desk],
    ).label("serving"),
    select(func.array_agg(aggregate_order_by(_T.c.number, _T.c.seq)))
    .where(_T.c.point_id == _P.c.id, _T.c.service_day == bindparam("day"), _T.c.status == "waiting")
    .scalar_subquery()
    .label("waiting_numbers"),
).where(_P.c.id == bindparam("point_id"))


def _seconds(start: Any, end: Any) -> Any:
    return extract("epoch", end - start)


def _spread(column: Any, where: Any, name: str) -> list[Any]:
    """Mean, median and 90th percentile of ``column`` over the rows ``where`` holds (as numeric)."""
    return [
        cast(func.avg(column).filter(where), Numeric).label(f"{name}_mean"),
        cast(func.percentile_cont(literal_column("0.5")).within_group(column).filter(where), Numeric).label(
            f"{name}_p50"
        ),
        cast(func.percentile_cont(literal_column("0.9")).within_group(column).filter(where), Numeric).label(
            f"{name}_p90"
        ),
    ]


_STATS = (
    select(
        _T.c.point_id,
        _P.c.code.label("point_code"),
        _T.c.service_day,
        func.count().label("issued"),
        func.count().filter(_T.c.status == "served").label("served"),
        func.count().filter(_T.c.status == "no_show").label("no_show"),
        func.count().filter(_T.c.status == "cancelled").label("cancelled"),
        func.count().filter(or_(_T.c.status == "waiting", _T.c.status == "called")).label("open"),
        *_spread(_seconds(_T.c.issued_at, _T.c.called_at), _T.c.called_at.is_not(None), "wait"),
        *_spread(_seconds(_T.c.called_at, _T.c.finished_at), _T.c.status == "served", "service"),
    )
    .select_from(_T.join(_P, _P.c.id == _T.c.point_id))
    .where(_T.c.service_day.between(bindparam("date_from"), bindparam("date_to")))
    .group_by(_T.c.point_id, _P.c.code, _T.c.service_day)
    .order_by(_T.c.service_day, _P.c.code)
)
STATS = {False: _STATS, True: _STATS.where(_T.c.point_id == bindparam("point_id"))}


async def point_view(reader: Reader, point_id: uuid.UUID) -> Row:
    row = await fetch_one(reader, POINT_VIEW, {"point_id": point_id})
    if row is None:
        raise PointNotFound()
    return row


async def list_points(reader: Reader, *, after: tuple[str, uuid.UUID] | None = None, limit: int = 500) -> Sequence[Row]:
    """By code (unique index), then id; ``after``: the (code, id) of the last point of the previous page."""
    query = POINT_LIST.limit(limit)
    if after is not None:
        query = query.where(after_key([_P.c.code, _P.c.id], after))
    return await fetch_all(reader, query)


async def ticket_view(reader: Reader, ticket_id: uuid.UUID) -> Row:
    row = await fetch_one(reader, TICKET_VIEW, {"ticket_id": ticket_id})
    if row is None:
        raise TicketNotFound()
    return row


async def day_tickets(
    reader: Reader,
    point_id: uuid.UUID,
    day: dt.date,
    *,
    status: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> Sequence[Row]:
    """The tickets of a point and day in number order, a page at a time (``after``: a ticket id)."""
    await point_view(reader, point_id)
    seq = 0
    if after is not None:
        cursor = await fetch_one(reader, _CURSOR, {"ticket_id": after})
        if cursor is None or cursor["point_id"] != point_id:
            raise TicketNotFound("The cursor is not a ticket of this point.")
        seq = cursor["seq"]
    params = {"point_id": point_id, "day": day, "seq": seq, "limit": limit}
    return await fetch_all(reader, DAY_TICKETS[status], params)


async def public_ticket(reader: Reader, token: str, now: dt.datetime) -> tuple[Row, int | None]:
    """The ticket of a slip's code and, while it waits, the estimated minutes until its call."""
    row = await fetch_one(reader, PUBLIC_TICKET, {"token": token, "now": now})
    if row is None:
        raise TicketNotFound()
    if row["status"] != "waiting" or row["service_day"] != bangkok_today(now):
        return row, None  # called, finished, or a ticket of a day gone by
    mean = row["mean_service_seconds"] or DEFAULT_SERVICE_SECONDS
    desks = max(1, row["active_desks"] or 0)
    return row, math.ceil((row["ahead"] + 1) * mean / desks / 60)


async def board(reader: Reader, point_id: uuid.UUID, day: dt.date) -> Row:
    row = await fetch_one(reader, BOARD, {"point_id": point_id, "day": day})
    if row is None:
        raise PointNotFound()
    return row


async def queue_stats(
    reader: Reader, date_from: dt.date, date_to: dt.date, point_id: uuid.UUID | None
) -> Sequence[Row]:
    """Per point and day: tickets by outcome, waiting and service times (mean, p50, p90 in seconds)."""
    if date_to < date_from:
        raise InvalidInput("date_to", "before date_from", code="invalid_range")
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise InvalidInput("date_to", f"at most {MAX_STATS_DAYS} days at once", code="invalid_range")
    if point_id is not None:
        await point_view(reader, point_id)
    params: dict[str, Any] = {"date_from": date_from, "date_to": date_to, "point_id": point_id}
    return await fetch_all(reader, STATS[point_id is not None], params)


# --- service points -------------------------------------------------------------------------------------


async def create_point(session: AsyncSession, data: ServicePointCreate, *, actor: Actor, origin: Origin) -> uuid.UUID:
    point_id: uuid.UUID | None = await session.scalar(
        insert(_P)
        .values(code=data.code, name_th=data.name_th, name_en=data.name_en, location_th=data.location_th)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(_P.c.id)
    )
    if point_id is None:
        raise PointCodeTaken(data={"code": data.code})
    await record_audit(
        session, "oss.point.created", actor=actor, origin=origin, target=f"oss.point:{data.code}",
        data={"point_id": str(point_id), "name_th": data.name_th},
    )  # fmt: skip
    return point_id


async def update_point(
    session: AsyncSession, point_id: uuid.UUID, data: ServicePointUpdate, *, actor: Actor, origin: Origin
) -> None:
    query = select(ServicePoint).where(ServicePoint.id == point_id).with_for_update()
    point = (await session.execute(query)).scalar_one_or_none()
    if point is None:
        raise PointNotFound()
    changed: dict[str, Any] = {}
    for name in ("name_th", "name_en", "location_th", "active"):
        value = getattr(data, name)
        if value is not msgspec.UNSET and getattr(point, name) != value:
            setattr(point, name, value)
            changed[name] = value
    if not changed:
        return
    point.updated_at = func.now()
    await session.flush()
    await record_audit(
        session, "oss.point.updated", actor=actor, origin=origin, target=f"oss.point:{point.code}", data=changed
    )


async def seed_point(session: AsyncSession, values: dict[str, str]) -> None:
    await session.execute(insert(_P).values(**values).on_conflict_do_nothing(index_elements=["code"]))


# --- tickets --------------------------------------------------------------------------------------------

_ISSUE_POINT = select(_P.c.code, _P.c.active).where(_P.c.id == bindparam("point_id"))
_CALLED_AT_DESK = select(_T.c.number).where(
    _T.c.point_id == bindparam("point_id"),
    _T.c.service_day == bindparam("day"),
    _T.c.desk == bindparam("desk"),
    _T.c.status == "called",
)
_FIRST_WAITING = (
    select(_T.c.id)
    .where(_T.c.point_id == bindparam("b_point"), _T.c.service_day == bindparam("b_day"), _T.c.status == "waiting")
    .order_by(_T.c.seq)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
#: Call-next in one statement: the first waiting ticket nobody else is taking.
CALL_NEXT = (
    update(_T)
    .where(_T.c.id == _FIRST_WAITING, _T.c.status == "waiting")
    .values(status="called", desk=bindparam("b_desk"), called_at=bindparam("b_now"), called_by=bindparam("b_by"))
    .returning(*_T.c)
)


async def issue_ticket(
    session: AsyncSession, point_id: uuid.UUID, service_id: uuid.UUID | None, *, actor: Actor, now: dt.datetime
) -> Row:
    """The next ticket of the point for today (Bangkok); 409 ``point_inactive`` for a closed point."""
    point = await fetch_one(session, _ISSUE_POINT, {"point_id": point_id})
    if point is None:
        raise PointNotFound()
    if not point["active"]:
        raise PointInactive()
    if service_id is not None and not await service_exists(session, service_id):
        raise InvalidInput("service_id", "no service of the catalogue has this id", code="unknown_service")
    day = bangkok_today(now)
    seq = await next_number(session, f"oss.queue.{point_id}", day.isoformat())
    result = await session.execute(
        insert(_T)
        .values(
            point_id=point_id,
            service_day=day,
            seq=seq,
            number=f"{point['code']}{seq:03d}",
            token=secrets.token_urlsafe(12),
            service_id=service_id,
            status="waiting",
            issued_at=now,
            issued_by=actor_label(actor),
        )
        .returning(*_T.c),
    )
    return dict(result.mappings().one())


async def call_next(session: AsyncSession, point_id: uuid.UUID, desk: str, *, actor: Actor, now: dt.datetime) -> Row:
    """The first waiting ticket of the point today, now called to ``desk``."""
    await point_view(session, point_id)
    day = bangkok_today(now)
    busy = await fetch_one(session, _CALLED_AT_DESK, {"point_id": point_id, "day": day, "desk": desk})
    if busy is not None:
        raise DeskBusy(data={"desk": desk, "number": busy["number"]})
    params = {"b_point": point_id, "b_day": day, "b_desk": desk, "b_now": now, "b_by": actor_label(actor)}
    try:
        called = (await session.execute(CALL_NEXT, params)).mappings().one_or_none()
    except IntegrityError:
        # The same desk called twice at once: the partial unique index let one through.
        raise DeskBusy(data={"desk": desk}) from None
    if called is None:
        raise QueueEmpty(data={"day": day.isoformat()})
    return dict(called)


async def finish_ticket(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    outcome: Literal["served", "no_show", "cancelled"],
    *,
    actor: Actor,
    now: dt.datetime,
) -> Row:
    """A called ticket served or a no-show; a waiting one cancelled."""
    query = select(QueueTicket).where(QueueTicket.id == ticket_id).with_for_update()
    ticket = (await session.execute(query)).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFound()
    if outcome == "cancelled" and ticket.status != "waiting":
        raise TicketNotWaiting(data={"status": ticket.status})
    if outcome != "cancelled" and ticket.status != "called":
        raise TicketNotCalled(data={"status": ticket.status})
    ticket.status = outcome
    ticket.finished_at = now
    ticket.finished_by = actor_label(actor)
    await session.flush()
    return await ticket_view(session, ticket_id)
