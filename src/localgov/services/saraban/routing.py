"""Receiving and routing: the receive stamp (number, date, time) in the receive register, the
endorsements (เกษียนหนังสือ) that route a letter to units and members with a due date, read
receipts, and the inbox of a unit and of a member."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Origin, record_audit
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import Reader, fetch_all, fetch_one
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.services.saraban import letters, registers, rules
from localgov.services.saraban.errors import InvalidLetter, RouteNotFound, WrongStatus
from localgov.services.saraban.letters import Viewer
from localgov.services.saraban.models import Letter, Route
from localgov.services.saraban.schemas import InboxItem, IncomingCreate, RouteCreate, RouteRead

L = Letter.__table__.c
RT = Route.__table__.c


async def receive(
    session: AsyncSession,
    *,
    kind: str,
    subkind: str | None,
    subject: str,
    sender_name: str,
    sender_code: str | None,
    number_text: str,
    letter_date: dt.date | None,
    salutation: str | None,
    body: str,
    urgency: str,
    secrecy: str,
    signer_name: str | None,
    signer_position: str | None,
    named_staff_ids: list[uuid.UUID],
    to_th: str,
    recorded_by: str,
    now: dt.datetime,
    source_tenant_id: int | None = None,
    source_letter_id: uuid.UUID | None = None,
    source_key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Letter, dict[str, Any]]:
    """Register a received letter: the letter row, the receive register line (its number, date and
    time are the receive stamp), the secret-letter officers named on a secret one, the meter."""
    letter = Letter(
        direction="incoming",
        kind=kind,
        subkind=subkind,
        status="received",
        urgency=urgency,
        secrecy=secrecy,
        number_text=number_text[:80],
        letter_date=letter_date,
        subject=subject,
        salutation=salutation,
        body=body,
        signer_name=signer_name,
        signer_position=signer_position,
        sender_name=sender_name,
        sender_code=sender_code,
        source_tenant_id=source_tenant_id,
        source_letter_id=source_letter_id,
        source_key=source_key,
        received_at=now,
        created_by=recorded_by,
        extra=extra or {},
    )
    session.add(letter)
    await session.flush()
    settings = await letters.settings_row(session)
    if rules.is_secret(secrecy):
        await letters.name_on(session, letter.id, settings.secret_officer_ids, "secret_officer")
    await letters.name_on(session, letter.id, named_staff_ids, "named")
    entry = await registers.append_entry(
        session,
        register="receive",
        day=bangkok_today(now),
        recorded_at=now,
        letter_id=letter.id,
        letter_no=number_text,
        letter_date=letter_date,
        from_th=sender_name,
        to_th=to_th,
        subject=rules.CLASSIFIED_SUBJECT if rules.is_secret(secrecy) else subject,
        action_th="รับ",
        recorded_by=recorded_by,
    )
    await record_usage(session, letters.RECEIVED, 1, f"saraban.received:{letter.id}", subject=str(letter.id))
    return letter, entry


async def receive_manual(
    session: AsyncSession, data: IncomingCreate, *, tenant: TenantInfo, viewer: Viewer, origin: Origin
) -> uuid.UUID:
    """The registry clerk registers a letter received on paper or by e-mail."""
    letters.check_kind(data.kind, data.subkind, False)
    await letters.check_named(session, data.named_staff_ids)
    label = f"{viewer.audit.kind}:{viewer.audit.id}"
    letter, entry = await receive(
        session,
        kind=data.kind,
        subkind=data.subkind,
        subject=data.subject,
        sender_name=data.sender_name,
        sender_code=data.sender_code,
        number_text=data.number_text,
        letter_date=data.letter_date,
        salutation=data.salutation,
        body=data.body,
        urgency=data.urgency,
        secrecy=data.secrecy,
        signer_name=data.signer_name,
        signer_position=data.signer_position,
        named_staff_ids=[*data.named_staff_ids, *([viewer.id] if viewer.id else [])],
        to_th=tenant.name_th,
        recorded_by=label,
        now=dt.datetime.now(dt.UTC),
    )
    await letters.record_event(session, letter.id, "received", viewer, rules.register_no(entry["year"], entry["seq"]))
    await record_audit(
        session,
        "saraban.letter_received",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter.id}",
        data={"receive_no": rules.register_no(entry["year"], entry["seq"])},
    )
    return letter.id


async def route(
    session: AsyncSession, letter_id: uuid.UUID, data: RouteCreate, *, viewer: Viewer, origin: Origin
) -> uuid.UUID:
    """Endorse and route an issued or received letter to a unit or a member."""
    if (data.to_unit_id is None) == (data.to_staff_id is None):
        raise InvalidLetter("route to one unit or one member", data={"field": "to_unit_id"})
    letter = await letters.locked(session, letter_id, viewer, origin, "route")
    if letter.status not in ("issued", "received", "signed"):
        raise WrongStatus(data={"status": letter.status, "allowed": ["issued", "received"]})
    if data.to_unit_id is not None and await org.unit_ref(session, data.to_unit_id) is None:
        raise InvalidLetter("no such unit", data={"field": "to_unit_id"})
    if data.to_staff_id is not None:
        member = await org.staff_ref(session, data.to_staff_id)
        if member is None or member.status == "disabled":
            raise InvalidLetter("no such member", data={"field": "to_staff_id"})
    if data.due_on is not None and data.due_on < bangkok_today():
        raise InvalidLetter("the due date is past", data={"field": "due_on"})
    route_id = await letters.add_route(
        session,
        letter,
        to_unit_id=data.to_unit_id,
        to_staff_id=data.to_staff_id,
        endorsement=data.endorsement,
        due_on=data.due_on,
        viewer=viewer,
    )
    await letters.record_event(session, letter.id, "routed", viewer, data.endorsement or None)
    await record_audit(
        session,
        "saraban.letter_routed",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter.id}",
        data={"route_id": str(route_id)},
    )
    return route_id


_ROUTE_COLS = (
    RT.id,
    RT.letter_id,
    RT.from_staff_id,
    RT.to_unit_id,
    RT.to_staff_id,
    RT.endorsement,
    RT.due_on,
    RT.status,
    RT.created_at,
    RT.read_at,
    RT.done_at,
)
_ROUTES_OF = select(*_ROUTE_COLS).where(RT.letter_id == bindparam("letter_id")).order_by(RT.created_at, RT.id)


async def routes_of(
    session: AsyncSession,
    letter_id: uuid.UUID,
    viewer: Viewer,
    origin: Origin,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[RouteRead]:
    """The letter's routes in the order they were made; ``after``: the (created_at, id) of the last
    route of the previous page; ``limit``: at most that many (every route when None)."""
    await letters.letter_view(session, letter_id, viewer, origin, what="routes")
    query = _ROUTES_OF
    if after is not None:
        query = query.where(after_key([RT.created_at, RT.id], after))
    if limit is not None:
        query = query.limit(limit)
    return [RouteRead(**dict(row)) for row in await fetch_all(session, query, {"letter_id": letter_id})]


def _addressed_to(viewer: Viewer) -> Any:
    """A route addressed to the member, or to his own unit."""
    clauses = []
    if viewer.id is not None:
        clauses.append(RT.to_staff_id == viewer.id)
    if viewer.unit_ids:
        clauses.append(RT.to_unit_id == viewer.unit_ids[0])
    return or_(*clauses) if clauses else RT.id.is_(None)


async def _route_for(session: AsyncSession, route_id: uuid.UUID, viewer: Viewer, origin: Origin) -> Route:
    route_row = (
        await session.execute(select(Route).where(Route.id == route_id, _addressed_to(viewer)).with_for_update())
    ).scalar_one_or_none()
    if route_row is None:
        raise RouteNotFound(data={"route_id": str(route_id)})
    # The secrecy check (and its audit) of the letter routed.
    await letters.letter_view(session, route_row.letter_id, viewer, origin, what="route")
    return route_row


async def mark_read(session: AsyncSession, route_id: uuid.UUID, *, viewer: Viewer, origin: Origin) -> RouteRead:
    """The read receipt (the first reading counts)."""
    route_row = await _route_for(session, route_id, viewer, origin)
    if route_row.read_at is None:
        route_row.read_at = dt.datetime.now(dt.UTC)
        route_row.read_by = viewer.id
        await letters.record_event(session, route_row.letter_id, "read", viewer)
    await session.flush()
    row = await fetch_one(session, select(*_ROUTE_COLS).where(RT.id == route_id))
    return RouteRead(**dict(row or {}))


async def mark_done(session: AsyncSession, route_id: uuid.UUID, *, viewer: Viewer, origin: Origin) -> RouteRead:
    route_row = await _route_for(session, route_id, viewer, origin)
    now = dt.datetime.now(dt.UTC)
    await session.execute(
        update(Route)
        .where(RT.id == route_id)
        .values(status="done", done_at=now, read_at=route_row.read_at or now, read_by=route_row.read_by or viewer.id)
    )
    await letters.record_event(session, route_row.letter_id, "done", viewer)
    row = await fetch_one(session, select(*_ROUTE_COLS).where(RT.id == route_id))
    return RouteRead(**dict(row or {}))


_INBOX_COLS = (
    RT.id.label("route_id"),
    RT.letter_id,
    L.subject,
    L.number_text,
    L.urgency,
    L.secrecy,
    RT.endorsement,
    RT.due_on,
    RT.read_at,
    RT.status,
    RT.created_at,
)


async def inbox(
    reader: Reader,
    viewer: Viewer,
    *,
    unit_id: uuid.UUID | None,
    status: str | None,
    after: uuid.UUID | None,
    limit: int,
    today: dt.date,
) -> tuple[list[InboxItem], uuid.UUID | None]:
    """A member's inbox (routes to him), or a unit's (routes to the unit); secret letters only
    for members named on them. Newest first."""
    query = select(*_INBOX_COLS).join(Letter.__table__, L.id == RT.letter_id).where(letters.visible_clause(viewer))
    query = query.where(RT.to_unit_id == unit_id) if unit_id is not None else query.where(RT.to_staff_id == viewer.id)
    if status is not None:
        query = query.where(RT.status == status)
    if after is not None:
        cursor = await fetch_one(reader, select(RT.created_at, RT.id).where(RT.id == after))
        if cursor is None:
            raise RouteNotFound(data={"route_id": str(after)})
        query = query.where(
            or_(RT.created_at < cursor["created_at"], (RT.created_at == cursor["created_at"]) & (RT.id < cursor["id"]))
        )
    rows = await fetch_all(reader, query.order_by(RT.created_at.desc(), RT.id.desc()).limit(limit + 1))
    items = [
        InboxItem(
            **dict(row),
            overdue=row["status"] == "open" and row["due_on"] is not None and row["due_on"] < today,
        )
        for row in rows[:limit]
    ]
    return items, (items[-1].route_id if len(rows) > limit else None)
