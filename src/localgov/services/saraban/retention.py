"""Retention (อายุการเก็บหนังสือ) by kind of letter and the yearly destruction list (บัญชีหนังสือขอ
ทำลาย), prepared within 60 days after a calendar year ends and approved by the LAO."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.pagination import before_key
from localgov.kernel.reads import Reader, fetch_all, fetch_one
from localgov.services.saraban import letters, rules
from localgov.services.saraban.errors import (
    DestructionListExists,
    DestructionListNotFound,
    DestructionListTooEarly,
    WrongStatus,
)
from localgov.services.saraban.models import DestructionList, Letter, RetentionRule
from localgov.services.saraban.schemas import DestructionListRead, RetentionRuleIn

L = Letter.__table__.c
RR = RetentionRule.__table__.c
DL = DestructionList.__table__.c


async def rules_of(reader: Reader) -> list[RetentionRuleIn]:
    stored = {row["kind"]: row["years"] for row in await fetch_all(reader, select(RR.kind, RR.years))}
    return [
        RetentionRuleIn(kind=kind, years=stored.get(kind, default))  # type: ignore[arg-type]
        for kind, default in rules.DEFAULT_RETENTION.items()
    ]


async def seed_rules(session: AsyncSession) -> None:
    rows = [{"kind": kind, "years": years} for kind, years in rules.DEFAULT_RETENTION.items()]
    await session.execute(pg_insert(RetentionRule).values(rows).on_conflict_do_nothing())


async def put_rules(session: AsyncSession, items: list[RetentionRuleIn], *, actor: Actor, origin: Origin) -> None:
    for item in items:
        await session.execute(
            pg_insert(RetentionRule)
            .values(kind=item.kind, years=item.years)
            .on_conflict_do_update(index_elements=["kind"], set_={"years": item.years})
        )
    await record_audit(
        session,
        "saraban.retention_changed",
        actor=actor,
        origin=origin,
        data={item.kind: item.years for item in items},
    )


def _read(row: Any) -> DestructionListRead:
    return DestructionListRead(
        id=row["id"],
        year=row["year"],
        due_on=row["due_on"],
        status=row["status"],
        letter_ids=list(row["letter_ids"]),
        prepared_at=row["prepared_at"],
        approved_at=row["approved_at"],
        approved_by=row["approved_by"],
    )


async def get_list(reader: Reader, list_id: uuid.UUID) -> DestructionListRead:
    row = await fetch_one(reader, select(*DL).where(DL.id == list_id))
    if row is None:
        raise DestructionListNotFound(data={"list_id": str(list_id)})
    return _read(row)


async def lists(
    reader: Reader, *, after: tuple[int, uuid.UUID] | None = None, limit: int | None = None
) -> list[DestructionListRead]:
    """Newest year first; ``after`` = the last list's (year, id) of the previous page."""
    query = select(*DL)
    if after is not None:
        query = query.where(before_key((DL.year, DL.id), after))
    query = query.order_by(DL.year.desc(), DL.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_read(row) for row in await fetch_all(reader, query)]


def _expired(year: int) -> Any:
    """Letters whose retention ran out by the end of ``year`` (BE): issued or received, their
    year plus their retention (the kind's rule when the letter has none) at most ``year``."""
    letter_year = func.extract("year", func.coalesce(L.letter_date, func.date(L.created_at))) + 543
    kind_years = select(RR.years).where(RR.kind == L.kind).scalar_subquery()
    years = func.coalesce(L.retention_years, kind_years)
    return (L.status.in_(("issued", "received"))) & years.is_not(None) & (letter_year + years <= year)


async def prepare(
    session: AsyncSession, year: int, *, today: dt.date, actor: Actor, origin: Origin
) -> DestructionListRead:
    """The list of a calendar year that has ended: every letter whose retention ran out by its end."""
    if today.year + 543 <= year:
        raise DestructionListTooEarly(data={"year": year})
    if await fetch_one(session, select(DL.id).where(DL.year == year)) is not None:
        raise DestructionListExists(data={"year": year})
    ids = [
        row["id"] for row in await fetch_all(session, select(L.id).where(_expired(year)).order_by(L.created_at, L.id))
    ]
    list_id = (
        await session.execute(
            pg_insert(DestructionList)
            .values(
                year=year,
                due_on=rules.destruction_due(year),
                letter_ids=ids,
                prepared_by=letters.label(actor),
            )
            .returning(DL.id)
        )
    ).scalar_one()
    await record_audit(
        session,
        "saraban.destruction_list_prepared",
        actor=actor,
        origin=origin,
        target=f"saraban_destruction_list:{list_id}",
        data={"year": year, "letters": len(ids)},
    )
    return await get_list(session, list_id)


async def approve(session: AsyncSession, list_id: uuid.UUID, *, actor: Actor, origin: Origin) -> DestructionListRead:
    current = await get_list(session, list_id)
    if current.status != "draft":
        raise WrongStatus(data={"status": current.status, "allowed": ["draft"]})
    await session.execute(
        update(DestructionList)
        .where(DL.id == list_id)
        .values(status="approved", approved_at=dt.datetime.now(dt.UTC), approved_by=letters.label(actor))
    )
    await record_audit(
        session,
        "saraban.destruction_list_approved",
        actor=actor,
        origin=origin,
        target=f"saraban_destruction_list:{list_id}",
        data={"year": current.year, "letters": len(current.letter_ids)},
    )
    return await get_list(session, list_id)


async def prepare_due_lists(session: AsyncSession, today: dt.date) -> None:
    """The yearly job: in January and February (within 60 days of the year's end), the list of
    the year that ended is prepared if nobody has done it yet."""
    year = today.year + 543 - 1
    if today > rules.destruction_due(year):
        return
    if await fetch_one(session, select(DL.id).where(DL.year == year)) is not None:
        return
    await prepare(session, year, today=today, actor=Actor("system"), origin=Origin())
