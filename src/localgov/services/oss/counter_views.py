"""HTTP endpoints of the counter: service points, tickets, calling, the public queue, statistics."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor, id_cursor, next_id_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.reads import ReadConnection, Row
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.services.oss import counter
from localgov.services.oss.params import (
    COUNTER,
    ISSUE,
    MANAGE,
    PUBLIC_LIMIT_PER_ADDRESS,
    READ,
    STAFF_ERRORS,
    PointId,
    TicketId,
    TicketToken,
    point_display_path,
    ticket_follow_path,
    ticket_slip_path,
)
from localgov.services.oss.schemas import (
    Board,
    CallNext,
    PointDayStats,
    PointRef,
    PublicTicket,
    QueueStats,
    ServicePointCreate,
    ServicePointPage,
    ServicePointRead,
    ServicePointUpdate,
    ServingNow,
    Spread,
    TicketIssue,
    TicketPage,
    TicketRead,
)
from localgov.settings import Settings

DayParam = Annotated[dt.date | None, QueryParameter(description="The service day (Bangkok); default today")]
StatusParam = Annotated[
    Literal["waiting", "called", "served", "no_show", "cancelled"] | None,
    QueryParameter(description="Only tickets in this state"),
]
DateFrom = Annotated[dt.date, QueryParameter(description="First day (Bangkok), inclusive")]
DateTo = Annotated[dt.date, QueryParameter(description="Last day (Bangkok), inclusive; at most 93 days in all")]
PointFilter = Annotated[uuid.UUID | None, QueryParameter(description="One service point")]


def point_read(row: Row) -> ServicePointRead:
    return ServicePointRead(
        id=row["id"],
        code=row["code"],
        name_th=row["name_th"],
        name_en=row["name_en"],
        location_th=row["location_th"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        display_path=point_display_path(row["id"]),
    )


def ticket_read(row: Row, settings: Settings, tenant: TenantInfo) -> TicketRead:
    follow = ticket_follow_path(row["token"])
    return TicketRead(
        id=row["id"],
        point_id=row["point_id"],
        number=row["number"],
        service_day=row["service_day"],
        status=row["status"],
        service_id=row["service_id"],
        desk=row["desk"],
        issued_at=row["issued_at"],
        called_at=row["called_at"],
        finished_at=row["finished_at"],
        slip_path=ticket_slip_path(row["token"]),
        follow_path=follow,
        follow_url=settings.public_url(follow, slug=tenant.slug),
    )


def public_ticket_read(row: Row, estimate: int | None) -> PublicTicket:
    waiting = row["status"] == "waiting"
    return PublicTicket(
        number=row["number"],
        point=PointRef(code=row["point_code"], name_th=row["point_name_th"], name_en=row["point_name_en"]),
        service_day=row["service_day"],
        status=row["status"],
        issued_at=row["issued_at"],
        ahead=row["ahead"] if waiting else None,
        estimated_wait_minutes=estimate,
        desk=row["desk"],
        called_at=row["called_at"],
    )


def board_read(row: Row, day: dt.date) -> Board:
    waiting = list(row["waiting_numbers"] or [])
    return Board(
        point=PointRef(code=row["code"], name_th=row["name_th"], name_en=row["name_en"]),
        service_day=day,
        serving=[
            ServingNow(desk=s["desk"], number=s["number"], called_at=dt.datetime.fromisoformat(s["called_at"]))
            for s in row["serving"]
        ],
        next=waiting[: counter.BOARD_NEXT],
        waiting=len(waiting),
    )


def _round(value: Any) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _spread(row: Row, name: str) -> Spread:
    return Spread(mean=_round(row[f"{name}_mean"]), p50=_round(row[f"{name}_p50"]), p90=_round(row[f"{name}_p90"]))


async def limit_public(request: Request[Any, Any, Any], tenant: TenantInfo, origin: Origin) -> None:
    """The public queue reads, per client address and LAO."""
    limit, window = PUBLIC_LIMIT_PER_ADDRESS
    key = f"oss.queue:{tenant.id}:{origin.source_ip or 'unknown'}"
    await hit(request.app.state.engine, key, limit=limit, window_s=window)


class PointController(Controller):
    path = "/points"
    tags = ["OSS: counter"]

    @get(
        "/",
        operation_id="listOssServicePoints",
        summary="The service points (จุดบริการ) and their display pages",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def index(
        self, db_read: NamedDependency[ReadConnection], limit: Limit = 50, cursor: Cursor = None
    ) -> ServicePointPage:
        after = decode_cursor(cursor, tuple[str, uuid.UUID])
        rows = await counter.list_points(db_read, after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda r: (r["code"], r["id"]))
        return ServicePointPage(items=[point_read(r) for r in page], next_cursor=next_cursor)

    @post(
        "/",
        operation_id="createOssServicePoint",
        summary="Add a service point; its code starts its ticket numbers (409 `point_code_taken`)",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(MANAGE),
    )
    async def create(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[ServicePointCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> ServicePointRead:
        point_id = await counter.create_point(db_session, data, actor=actor, origin=origin)
        return point_read(await counter.point_view(db_session, point_id))

    @get(
        "/{point_id:uuid}",
        operation_id="getOssServicePoint",
        summary="One service point",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def fetch(self, point_id: PointId, db_read: NamedDependency[ReadConnection]) -> ServicePointRead:
        return point_read(await counter.point_view(db_read, point_id))

    @patch(
        "/{point_id:uuid}",
        operation_id="updateOssServicePoint",
        summary="Rename, move, open or close a service point (a closed point issues no ticket)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE),
    )
    async def update(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        point_id: PointId,
        data: JSONBody[ServicePointUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> ServicePointRead:
        await counter.update_point(db_session, point_id, data, actor=actor, origin=origin)
        return point_read(await counter.point_view(db_session, point_id))

    @post(
        "/{point_id:uuid}/tickets",
        operation_id="issueOssQueueTicket",
        summary="Issue the point's next queue ticket for today (A001, A002 …), with its slip and QR address",
        description=(
            "Staff at the counter, or a kiosk (an API client with the scope `oss.queue`). Numbers restart each "
            "Bangkok day, without gaps. 409 `point_inactive` for a closed point; 422 `unknown_service`. An "
            "`Idempotency-Key` makes a retried request return the same ticket."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(ISSUE),
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        point_id: PointId,
        data: JSONBody[TicketIssue],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[TicketRead]:
        async def work() -> TicketRead:
            now = dt.datetime.now(dt.UTC)
            row = await counter.issue_ticket(db_session, point_id, data.service_id, actor=actor, now=now)
            return ticket_read(row, settings, tenant)

        return await idempotent(request, db_session, idempotency_key, work)

    @get(
        "/{point_id:uuid}/tickets",
        operation_id="listOssQueueTickets",
        summary="The tickets of a point and day in number order (paged by `after`, a ticket id)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def tickets(
        self,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        point_id: PointId,
        db_read: NamedDependency[ReadConnection],
        day: DayParam = None,
        status: StatusParam = None,
        cursor: Cursor = None,
        limit: Limit = 200,
    ) -> TicketPage:
        rows = await counter.day_tickets(
            db_read, point_id, day or bangkok_today(), status=status, after=id_cursor(cursor), limit=limit
        )
        items = [ticket_read(r, settings, tenant) for r in rows]
        return TicketPage(items=items, next_cursor=next_id_cursor(items, limit))

    @post(
        "/{point_id:uuid}/call-next",
        status_code=200,
        operation_id="callNextOssQueueTicket",
        summary="Call the first waiting ticket of today to a desk",
        description=(
            "Two desks calling at once get two different tickets (the ticket is taken `FOR UPDATE SKIP "
            "LOCKED`). 409 `queue_empty` when nobody waits; 409 `desk_busy` while the desk still has a "
            "called ticket (mark it served or a no-show first)."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(COUNTER),
    )
    async def call_next(
        self,
        actor: NamedDependency[Actor],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        point_id: PointId,
        data: JSONBody[CallNext],
        db_session: NamedDependency[AsyncSession],
    ) -> TicketRead:
        row = await counter.call_next(db_session, point_id, data.desk, actor=actor, now=dt.datetime.now(dt.UTC))
        return ticket_read(row, settings, tenant)

    @get(
        "/{point_id:uuid}/board",
        operation_id="getOssQueueBoard",
        summary="The waiting room's display (public): numbers being served at each desk, the next numbers",
        responses=problem_responses(404, 410, 429),
        **guarded(PUBLIC),  # numbers only: what the screen in the waiting room shows to everyone
    )
    async def board(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        point_id: PointId,
        db_read: NamedDependency[ReadConnection],
    ) -> Board:
        await limit_public(request, tenant, origin)
        day = bangkok_today()
        return board_read(await counter.board(db_read, point_id, day), day)


class TicketController(Controller):
    path = "/tickets"
    tags = ["OSS: counter"]

    @get(
        "/{ticket_id:uuid}",
        operation_id="getOssQueueTicket",
        summary="One queue ticket",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def fetch(
        self,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        ticket_id: TicketId,
        db_read: NamedDependency[ReadConnection],
    ) -> TicketRead:
        return ticket_read(await counter.ticket_view(db_read, ticket_id), settings, tenant)

    async def _finish(
        self,
        outcome: Literal["served", "no_show", "cancelled"],
        actor: Actor,
        tenant: TenantInfo,
        settings: Settings,
        ticket_id: uuid.UUID,
        session: AsyncSession,
    ) -> TicketRead:
        row = await counter.finish_ticket(session, ticket_id, outcome, actor=actor, now=dt.datetime.now(dt.UTC))
        return ticket_read(row, settings, tenant)

    @post(
        "/{ticket_id:uuid}/served",
        status_code=200,
        operation_id="serveOssQueueTicket",
        summary="The called visitor was served (409 `ticket_not_called`)",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(COUNTER),
    )
    async def served(
        self,
        actor: NamedDependency[Actor],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        ticket_id: TicketId,
        db_session: NamedDependency[AsyncSession],
    ) -> TicketRead:
        return await self._finish("served", actor, tenant, settings, ticket_id, db_session)

    @post(
        "/{ticket_id:uuid}/no-show",
        status_code=200,
        operation_id="noShowOssQueueTicket",
        summary="The called visitor did not come (409 `ticket_not_called`)",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(COUNTER),
    )
    async def no_show(
        self,
        actor: NamedDependency[Actor],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        ticket_id: TicketId,
        db_session: NamedDependency[AsyncSession],
    ) -> TicketRead:
        return await self._finish("no_show", actor, tenant, settings, ticket_id, db_session)

    @post(
        "/{ticket_id:uuid}/cancel",
        status_code=200,
        operation_id="cancelOssQueueTicket",
        summary="Cancel a waiting ticket (the visitor left; 409 `ticket_not_waiting`)",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(COUNTER),
    )
    async def cancel(
        self,
        actor: NamedDependency[Actor],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        ticket_id: TicketId,
        db_session: NamedDependency[AsyncSession],
    ) -> TicketRead:
        return await self._finish("cancelled", actor, tenant, settings, ticket_id, db_session)


class QueueController(Controller):
    path = "/queue"
    tags = ["OSS: public queue"]

    @get(
        "/{token:str}",
        operation_id="followOssQueueTicket",
        summary="Where a ticket stands (public, by the code of its slip's QR): tickets ahead, estimated wait",
        responses=problem_responses(404, 410, 429),
        **guarded(PUBLIC),  # the random code printed on the slip is the credential
    )
    async def follow(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        token: TicketToken,
        db_read: NamedDependency[ReadConnection],
    ) -> PublicTicket:
        await limit_public(request, tenant, origin)
        row, estimate = await counter.public_ticket(db_read, token, dt.datetime.now(dt.UTC))
        return public_ticket_read(row, estimate)


class QueueStatsController(Controller):
    path = "/queue-stats"
    tags = ["OSS: counter"]

    @get(
        "/",
        operation_id="getOssQueueStats",
        summary="Per service point and day: tickets by outcome, waiting and service time (mean, p50, p90)",
        description="Seconds. Waiting: from issue to call; service: from call to served. At most 93 days (422).",
        responses=problem_responses(*STAFF_ERRORS, 422),
        **guarded(MANAGE),
    )
    async def stats(
        self,
        db_read: NamedDependency[ReadConnection],
        date_from: DateFrom,
        date_to: DateTo,
        point_id: PointFilter = None,
    ) -> QueueStats:
        rows = await counter.queue_stats(db_read, date_from, date_to, point_id)
        return QueueStats(
            date_from=date_from,
            date_to=date_to,
            items=[
                PointDayStats(
                    point_id=r["point_id"],
                    point_code=r["point_code"],
                    day=r["service_day"],
                    issued=r["issued"],
                    served=r["served"],
                    no_show=r["no_show"],
                    cancelled=r["cancelled"],
                    open=r["open"],
                    wait_seconds=_spread(r, "wait"),
                    service_seconds=_spread(r, "service"),
                )
                for r in rows
            ],
        )
