"""The directory of addressees: every active LAO on the platform (the catalog's
``platform.tenants``, read-only: names and codes, never another tenant's schema; ``electronic``
when it runs e-Saraban and can be sent letters through the platform) and the agencies outside the
platform, kept by the operator (``platform.saraban_outside_agencies``; ``electronic`` when an
exchange endpoint is registered)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    String,
    Text,
    any_,
    bindparam,
    column,
    insert,
    literal,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import Reader, fetch_all, fetch_one
from localgov.services.saraban.errors import AgencyExists, AgencyNotFound
from localgov.services.saraban.models import OutsideAgency
from localgov.services.saraban.schemas import (
    AgencyRead,
    OutsideAgencyCreate,
    OutsideAgencyRead,
    OutsideAgencyUpdate,
)

SLUG = "saraban"

#: The catalog's columns this directory reads (``localgov.platform.models.Tenant`` defines them).
TENANTS = table(
    "tenants",
    column("id", BigInteger),
    column("dla_code", String),
    column("name_th", Text),
    column("province_th", Text),
    column("status", String),
    column("enabled_services", ARRAY(Text)),
    column("schema_name", String),
    schema="platform",
)
OA = OutsideAgency.__table__.c

_RUNS_SARABAN = (TENANTS.c.status == "active") & (literal(SLUG) == any_(TENANTS.c.enabled_services))
_LAO_BY_CODE = select(TENANTS.c.id, TENANTS.c.dla_code, TENANTS.c.name_th).where(
    _RUNS_SARABAN, TENANTS.c.dla_code == bindparam("code")
)
_LAO_BY_ID = select(TENANTS.c.id, TENANTS.c.dla_code, TENANTS.c.name_th).where(TENANTS.c.id == bindparam("id"))
_OUTSIDE_BY_CODE = select(OA.id, OA.code, OA.name_th, OA.endpoint_url).where(OA.code == bindparam("code"), OA.active)
_OUTSIDE = select(*OA).order_by(OA.code, OA.id)
_OUTSIDE_BY_ID = select(*OA).where(OA.id == bindparam("id"))


async def lao_by_code(reader: Reader, dla_code: str) -> Any:
    """An LAO that runs e-Saraban, by its DLA code (None: not on the platform or not running it)."""
    return await fetch_one(reader, _LAO_BY_CODE, {"code": dla_code})


async def lao_by_id(reader: Reader, tenant_id: int) -> Any:
    return await fetch_one(reader, _LAO_BY_ID, {"id": tenant_id})


async def outside_by_code(reader: Reader, code: str) -> Any:
    return await fetch_one(reader, _OUTSIDE_BY_CODE, {"code": code})


#: ("lao" | "outside", sort name, code).
DirectoryKey = tuple[str, str, str]


def directory_key(item: AgencyRead) -> DirectoryKey:
    """Where an addressee stands in the directory: LAOs by (name, DLA code), then outside agencies by code."""
    return (item.kind, item.name_th if item.kind == "lao" else item.code, item.code)


async def directory(reader: Reader, q: str | None, limit: int, after: DirectoryKey | None = None) -> list[AgencyRead]:
    """LAOs (by name or DLA code) then outside agencies matching ``q``, at most ``limit`` in all,
    strictly after ``after`` (the :func:`directory_key` of the previous page's last item)."""
    laos = select(
        TENANTS.c.dla_code,
        TENANTS.c.name_th,
        TENANTS.c.province_th,
        (literal(SLUG) == any_(TENANTS.c.enabled_services)).label("electronic"),
    ).where(TENANTS.c.status == "active")
    outside = select(OA.code, OA.name_th, OA.endpoint_url).where(OA.active)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        laos = laos.where(or_(TENANTS.c.name_th.ilike(pattern), TENANTS.c.dla_code.like(pattern)))
        outside = outside.where(or_(OA.name_th.ilike(pattern), OA.code.ilike(pattern)))
    items: list[AgencyRead] = []
    if after is None or after[0] == "lao":
        if after is not None:
            laos = laos.where(after_key((TENANTS.c.name_th, TENANTS.c.dla_code), (after[1], after[2])))
        items = [
            AgencyRead(
                kind="lao",
                code=row["dla_code"],
                name_th=row["name_th"],
                province_th=row["province_th"],
                electronic=bool(row["electronic"]),
            )
            for row in await fetch_all(reader, laos.order_by(TENANTS.c.name_th, TENANTS.c.dla_code).limit(limit))
        ]
    elif after is not None:
        outside = outside.where(OA.code > after[2])
    if len(items) < limit:
        items += [
            AgencyRead(
                kind="outside", code=row["code"], name_th=row["name_th"], electronic=row["endpoint_url"] is not None
            )
            for row in await fetch_all(reader, outside.order_by(OA.code).limit(limit - len(items)))
        ]
    return items


def _outside(row: Any) -> OutsideAgencyRead:
    return OutsideAgencyRead(
        id=row["id"],
        code=row["code"],
        name_th=row["name_th"],
        name_en=row["name_en"],
        endpoint_url=row["endpoint_url"],
        active=row["active"],
    )


async def list_outside(reader: Reader, *, after: tuple[str, int] | None, limit: int) -> list[OutsideAgencyRead]:
    """By code (unique), then id; ``after``: the (code, id) of the last agency of the previous page."""
    query = _OUTSIDE.limit(limit)
    if after is not None:
        query = query.where(after_key([OA.code, OA.id], after))
    return [_outside(row) for row in await fetch_all(reader, query)]


async def get_outside(reader: Reader, agency_id: int) -> OutsideAgencyRead:
    row = await fetch_one(reader, _OUTSIDE_BY_ID, {"id": agency_id})
    if row is None:
        raise AgencyNotFound(data={"agency_id": agency_id})
    return _outside(row)


async def create_outside(
    session: AsyncSession, data: OutsideAgencyCreate, *, actor: Actor, origin: Origin
) -> OutsideAgencyRead:
    if await fetch_one(session, select(OA.id).where(OA.code == data.code)) is not None:
        raise AgencyExists(data={"code": data.code})
    agency_id = (
        await session.execute(
            insert(OutsideAgency)
            .values(code=data.code, name_th=data.name_th, name_en=data.name_en, endpoint_url=data.endpoint_url)
            .returning(OA.id)
        )
    ).scalar_one()
    await record_audit(
        session,
        "saraban.outside_agency_created",
        actor=actor,
        origin=origin,
        target=f"saraban_outside_agency:{agency_id}",
        data={"code": data.code},
        operator=True,
    )
    return await get_outside(session, agency_id)


async def update_outside(
    session: AsyncSession, agency_id: int, data: OutsideAgencyUpdate, *, actor: Actor, origin: Origin
) -> OutsideAgencyRead:
    await get_outside(session, agency_id)
    values: dict[str, Any] = {
        key: value
        for key, value in (
            ("name_th", data.name_th),
            ("name_en", data.name_en),
            ("endpoint_url", data.endpoint_url),
            ("active", data.active),
        )
        if value is not None
    }
    values["updated_at"] = dt.datetime.now(dt.UTC)
    await session.execute(update(OutsideAgency).where(OA.id == agency_id).values(**values))
    await record_audit(
        session,
        "saraban.outside_agency_updated",
        actor=actor,
        origin=origin,
        target=f"saraban_outside_agency:{agency_id}",
        data={k: v for k, v in values.items() if k != "updated_at"},
        operator=True,
    )
    return await get_outside(session, agency_id)
