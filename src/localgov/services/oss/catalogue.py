"""The catalogue of services (รายการบริการ) and their public manuals (คู่มือสำหรับประชาชน).

Every save of a manual is a new version, kept as it was saved (the edit history); the public sees
the version that was published, so an edit after publishing reaches the public only when it is
published in turn. Publishing and withdrawing are separate rights from editing. A manual is
checked as a whole on every save and again on publishing: the total time is computed from the
steps and may not exceed the legal time limit; "no fee" is said explicitly; units named by id must
be units of the LAO (kernel.org).

A new LAO starts with a default set (:mod:`localgov.services.oss.defaults`) as drafts its staff
check against their own ordinances and practice before publishing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from sqlalchemy import Select, Table, and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.org import UnitRef, unit_ref
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import Reader, Row, fetch_all, fetch_one
from localgov.kernel.validation import InvalidInput, parse_money
from localgov.services.oss.models import CatalogueService, CatalogueServiceVersion
from localgov.services.oss.params import actor_label
from localgov.services.oss.schemas import (
    Duration,
    ServiceCreate,
    ServiceManual,
    ServicePublish,
    ServiceUpdate,
    TimeLimit,
    TotalTime,
)

#: Minutes in a working day (08:30–16:30, an hour's lunch): how days and hours add up.
WORKING_DAY_MINUTES = 7 * 60
_UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": WORKING_DAY_MINUTES}
_UNIT_TH = {"minutes": "นาที", "hours": "ชั่วโมง", "days": "วัน"}
_UNIT_EN = {"minutes": ("minute", "minutes"), "hours": ("hour", "hours"), "days": ("day", "days")}


class ServiceNotFound(NotFound):
    code = "service_not_found"
    title = "ไม่พบบริการนี้ / No such service"


class ServiceVersionNotFound(NotFound):
    code = "service_version_not_found"
    title = "ไม่พบฉบับนี้ของคู่มือ / No such version of the manual"


class ServiceCodeTaken(Conflict):
    code = "service_code_taken"
    title = "รหัสบริการนี้มีอยู่แล้ว / A service already has this code"


class VersionConflict(Conflict):
    code = "version_conflict"
    title = "คู่มือถูกแก้ไขไปแล้ว โปรดโหลดฉบับล่าสุด / The manual was changed meanwhile: reload the latest version"


class ServiceNotPublished(Conflict):
    code = "service_not_published"
    title = "บริการนี้ไม่ได้เผยแพร่อยู่ / The service is not published"


class ServiceWasPublished(Conflict):
    code = "service_was_published"
    title = "บริการที่เคยเผยแพร่แล้วลบไม่ได้ ให้ยกเลิกการเผยแพร่แทน / A service once published is kept: withdraw it"


class TimeExceedsLegalLimit(DomainError):
    code = "time_exceeds_legal_limit"
    status = 422
    title = "ระยะเวลารวมเกินระยะเวลาที่กฎหมายกำหนด / The total time exceeds the legal time limit"


# --- time ---------------------------------------------------------------------------------------------


def minutes_of(duration: Duration) -> int:
    return duration.value * _UNIT_MINUTES[duration.unit]


def duration_text(duration: Duration) -> tuple[str, str]:
    """``45 วัน`` / ``45 days`` as the manual states a step's time."""
    singular, plural = _UNIT_EN[duration.unit]
    return (
        f"{duration.value:,} {_UNIT_TH[duration.unit]}",
        f"{duration.value:,} {singular if duration.value == 1 else plural}",
    )


def minutes_text(minutes: int) -> tuple[str, str]:
    """``1 วัน 2 ชั่วโมง 30 นาที`` / ``1 day 2 hours 30 minutes`` (a day = 7 working hours)."""
    days, rest = divmod(minutes, WORKING_DAY_MINUTES)
    hours, mins = divmod(rest, 60)
    parts = [(n, unit) for n, unit in ((days, "days"), (hours, "hours"), (mins, "minutes")) if n]
    if not parts:
        return "0 นาที", "0 minutes"
    th = " ".join(f"{n:,} {_UNIT_TH[unit]}" for n, unit in parts)
    en = " ".join(f"{n:,} {_UNIT_EN[unit][0 if n == 1 else 1]}" for n, unit in parts)
    return th, en


def total_time(manual: ServiceManual) -> TotalTime:
    """The sum of the steps' times (ระยะเวลาดำเนินการรวม)."""
    minutes = sum(minutes_of(step.duration) for step in manual.steps)
    th, en = minutes_text(minutes)
    return TotalTime(minutes=minutes, text_th=th, text_en=en)


def time_limit(manual: ServiceManual) -> TimeLimit:
    if manual.legal_time_limit is None:
        return TimeLimit(minutes=None, text_th="ไม่ได้กำหนดไว้ในกฎหมาย", text_en="Not set by law")
    th, en = duration_text(manual.legal_time_limit)
    return TimeLimit(minutes=minutes_of(manual.legal_time_limit), text_th=th, text_en=en)


# --- checking a manual --------------------------------------------------------------------------------


async def _unit(session: AsyncSession, cache: dict[uuid.UUID, UnitRef | None], unit_id: uuid.UUID, field: str) -> str:
    if unit_id not in cache:
        cache[unit_id] = await unit_ref(session, unit_id)
    unit = cache[unit_id]
    if unit is None or not unit.active:
        raise InvalidInput(field, "no active unit of this LAO has this id / ไม่พบหน่วยงานนี้", code="unknown_unit")
    return unit.name_th


async def check_manual(session: AsyncSession, manual: ServiceManual, field: str = "manual") -> ServiceManual:
    """The manual with the names of the units it links copied in; 422 when a rule is broken."""
    units: dict[uuid.UUID, UnitRef | None] = {}
    owning_th = manual.owning_unit_th
    if manual.owning_unit_id is not None:
        owning_th = await _unit(session, units, manual.owning_unit_id, f"{field}.owning_unit_id")
    elif owning_th is None:
        raise InvalidInput(
            f"{field}.owning_unit_th", "name the unit that owns the service / ระบุหน่วยงานที่รับผิดชอบ", code="required"
        )
    steps = []
    for n, step in enumerate(manual.steps):
        unit_th = step.unit_th
        if step.unit_id is not None:
            unit_th = await _unit(session, units, step.unit_id, f"{field}.steps[{n}].unit_id")
        elif unit_th is None:
            raise InvalidInput(
                f"{field}.steps[{n}].unit_th",
                "name the unit responsible for the step / ระบุหน่วยงานผู้รับผิดชอบ",
                code="required",
            )
        steps.append(msgspec.structs.replace(step, unit_th=unit_th))
    for n, channel in enumerate(manual.channels):
        if channel.kind == "online" and channel.url is None:
            raise InvalidInput(f"{field}.channels[{n}].url", "an online channel needs its address", code="required")
    for n, document in enumerate(manual.documents):
        if document.originals + document.copies < 1:
            raise InvalidInput(
                f"{field}.documents[{n}]",
                "at least one original or one copy / ต้องระบุจำนวนฉบับจริงหรือสำเนา",
                code="document_count",
            )
    if manual.no_fee and manual.fees:
        raise InvalidInput(
            f"{field}.fees", "no_fee is true but fees are listed / ระบุว่าไม่มีค่าธรรมเนียมแต่มีรายการ", code="fees_contradict"
        )
    if not manual.no_fee and not manual.fees:
        raise InvalidInput(
            f"{field}.fees",
            "list the fees or say no_fee: true / ระบุค่าธรรมเนียม หรือระบุว่าไม่มีค่าธรรมเนียม",
            code="fees_missing",
        )
    fees = []
    for n, fee in enumerate(manual.fees):
        if fee.amount is None and fee.rate_th is None:
            raise InvalidInput(f"{field}.fees[{n}]", "an amount or a rate (rate_th)", code="required")
        if fee.amount is not None:
            fee = msgspec.structs.replace(fee, amount=parse_money(fee.amount, f"{field}.fees[{n}].amount"))
        fees.append(fee)
    checked = msgspec.structs.replace(manual, owning_unit_th=owning_th, steps=steps, fees=fees)
    if manual.legal_time_limit is not None:
        total, limit = total_time(checked).minutes, minutes_of(manual.legal_time_limit)
        if total > limit:
            raise TimeExceedsLegalLimit(
                f"The steps take {minutes_text(total)[1]}, the law allows {duration_text(manual.legal_time_limit)[1]}.",
                data={"field": f"{field}.steps", "total_minutes": total, "limit_minutes": limit},
            )
    return checked


def encode_manual(manual: ServiceManual) -> dict[str, Any]:
    """The manual as stored (JSON: uuids and amounts as strings)."""
    out: dict[str, Any] = msgspec.to_builtins(manual)
    return out


def decode_manual(content: Any) -> ServiceManual:
    return msgspec.convert(content, ServiceManual)


# --- reads (kernel.reads: Core statements built once) -------------------------------------------------

_S = cast(Table, CatalogueService.__table__)
_V = cast(Table, CatalogueServiceVersion.__table__)
_NAME_TH = _S.c.content["name_th"].astext

SERVICE_VIEW = select(*_S.c).where(_S.c.id == bindparam("service_id"))
_SUMMARY = select(
    _S.c.id,
    _S.c.code,
    _NAME_TH.label("name_th"),
    _S.c.content["name_en"].astext.label("name_en"),
    _S.c.status,
    _S.c.version,
    _S.c.published_version,
    _S.c.updated_at,
).order_by(_NAME_TH, _S.c.code)
SERVICE_LISTS: dict[str | None, Select[Any]] = {
    None: _SUMMARY,
    **{status: _SUMMARY.where(_S.c.status == status) for status in ("draft", "published", "withdrawn")},
}
_VERSIONS_OF = select(_S.c.id, _S.c.code, _S.c.published_version).where(_S.c.id == bindparam("service_id"))
_VERSION_ROWS = (
    select(_V.c.version, _V.c.created_at, _V.c.created_by, _V.c.note)
    .where(_V.c.service_id == bindparam("service_id"))
    .order_by(_V.c.version.desc())
)
VERSION_VIEW = select(*_V.c).where(_V.c.service_id == bindparam("service_id"), _V.c.version == bindparam("version"))
_PUBLIC = (
    select(_S.c.code, _S.c.published_version, _S.c.published_at, _V.c.content)
    .select_from(_S.join(_V, and_(_V.c.service_id == _S.c.id, _V.c.version == _S.c.published_version)))
    .where(_S.c.status == "published")
)
PUBLIC_LIST = _PUBLIC.order_by(_V.c.content["name_th"].astext, _S.c.code)
PUBLIC_VIEW = _PUBLIC.where(_S.c.code == bindparam("code"))
_ID_BY_CODE = select(_S.c.id).where(_S.c.code == bindparam("code"))
_ID_BY_ID = select(_S.c.id).where(_S.c.id == bindparam("service_id"))


class VersionRow(msgspec.Struct, kw_only=True):
    """A version in a manual's edit history."""

    version: int
    created_at: dt.datetime
    created_by: str | None
    note: str | None


async def service_view(reader: Reader, service_id: uuid.UUID) -> Row:
    row = await fetch_one(reader, SERVICE_VIEW, {"service_id": service_id})
    if row is None:
        raise ServiceNotFound()
    return row


async def list_services(
    reader: Reader, status: str | None, *, after: tuple[str, str] | None = None, limit: int = 500
) -> Sequence[Row]:
    """By Thai name, then code (unique); ``after``: the (name_th, code) of the last service of the
    previous page. One LAO's catalogue (tens to a few hundred services): sorted without an index."""
    query = SERVICE_LISTS[status].limit(limit)
    if after is not None:
        query = query.where(after_key([_NAME_TH, _S.c.code], after))
    return await fetch_all(reader, query)


async def versions_page(
    reader: Reader, service_id: uuid.UUID, *, before: int | None, limit: int
) -> tuple[Row, list[VersionRow]]:
    """The service (id, code, published_version) and its versions, newest first (unique index on
    (service_id, version)); ``before``: the last version number of the previous page."""
    row = await fetch_one(reader, _VERSIONS_OF, {"service_id": service_id})
    if row is None:
        raise ServiceNotFound()
    query = _VERSION_ROWS.limit(limit)
    if before is not None:
        query = query.where(_V.c.version < before)
    rows = await fetch_all(reader, query, {"service_id": service_id})
    return row, [VersionRow(**dict(r)) for r in rows]


async def version_view(reader: Reader, service_id: uuid.UUID, version: int) -> Row:
    row = await fetch_one(reader, VERSION_VIEW, {"service_id": service_id, "version": version})
    if row is None:
        await service_view(reader, service_id)  # an unknown service says so
        raise ServiceVersionNotFound(data={"version": version})
    return row


async def published_services(
    reader: Reader, *, after: tuple[str, str] | None = None, limit: int | None = None
) -> Sequence[Row]:
    """The published services by Thai name, then code; ``after``: the (name_th, code) of the last
    one of the previous page (every one when ``limit`` is None: the public page)."""
    query = PUBLIC_LIST
    if after is not None:
        query = query.where(after_key([_V.c.content["name_th"].astext, _S.c.code], after))
    if limit is not None:
        query = query.limit(limit)
    return await fetch_all(reader, query)


async def published_service(reader: Reader, code: str) -> Row:
    row = await fetch_one(reader, PUBLIC_VIEW, {"code": code})
    if row is None:
        raise ServiceNotFound(data={"code": code})
    return row


async def service_exists(reader: Reader, service_id: uuid.UUID) -> bool:
    return await fetch_one(reader, _ID_BY_ID, {"service_id": service_id}) is not None


# --- writes -------------------------------------------------------------------------------------------


async def _locked(session: AsyncSession, service_id: uuid.UUID) -> CatalogueService:
    query = select(CatalogueService).where(CatalogueService.id == service_id).with_for_update()
    service = (await session.execute(query)).scalar_one_or_none()
    if service is None:
        raise ServiceNotFound()
    return service


async def _insert(
    session: AsyncSession, code: str, manual: ServiceManual, *, created_by: str | None, note: str | None
) -> uuid.UUID | None:
    """A new service at version 1 and its first version row; None when the code is taken."""
    content = encode_manual(manual)
    service_id: uuid.UUID | None = await session.scalar(
        insert(_S)
        .values(code=code, content=content, version=1, status="draft", created_by=created_by, updated_by=created_by)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(_S.c.id)
    )
    if service_id is not None:
        await session.execute(
            insert(_V).values(service_id=service_id, version=1, content=content, note=note, created_by=created_by)
        )
    return service_id


async def create_service(session: AsyncSession, data: ServiceCreate, *, actor: Actor, origin: Origin) -> uuid.UUID:
    """A new draft service (version 1); 409 ``service_code_taken`` when the code is used."""
    manual = await check_manual(session, data.manual)
    service_id = await _insert(session, data.code, manual, created_by=actor_label(actor), note=data.note)
    if service_id is None:
        raise ServiceCodeTaken(data={"code": data.code})
    await record_audit(
        session,
        "oss.service.created",
        actor=actor,
        origin=origin,
        target=f"oss.service:{data.code}",
        data={"service_id": str(service_id), "version": 1},
    )
    return service_id


async def update_service(
    session: AsyncSession, service_id: uuid.UUID, data: ServiceUpdate, *, actor: Actor, origin: Origin
) -> None:
    """Save a new version of the manual (a manual identical to the current one saves nothing)."""
    service = await _locked(session, service_id)
    if data.version != service.version:
        raise VersionConflict(data={"current_version": service.version, "your_version": data.version})
    manual = await check_manual(session, data.manual)
    content = encode_manual(manual)
    if content == service.content:
        return
    who = actor_label(actor)
    service.version += 1
    service.content = content
    service.updated_at = func.now()  # the transaction's time
    service.updated_by = who
    session.add(
        CatalogueServiceVersion(
            service_id=service.id, version=service.version, content=content, note=data.note, created_by=who
        )
    )
    await session.flush()
    await record_audit(
        session,
        "oss.service.updated",
        actor=actor,
        origin=origin,
        target=f"oss.service:{service.code}",
        data={"service_id": str(service.id), "version": service.version, "note": data.note},
    )


async def publish_service(
    session: AsyncSession, service_id: uuid.UUID, data: ServicePublish, *, actor: Actor, origin: Origin
) -> None:
    """Publish the current version (checked again: a unit may have gone since it was saved)."""
    service = await _locked(session, service_id)
    if data.version != service.version:
        raise VersionConflict(data={"current_version": service.version, "your_version": data.version})
    if service.status == "published" and service.published_version == service.version:
        return
    await check_manual(session, decode_manual(service.content))
    service.status = "published"
    service.published_version = service.version
    service.published_at = func.now()
    service.published_by = actor_label(actor)
    await session.flush()
    await record_audit(
        session,
        "oss.service.published",
        actor=actor,
        origin=origin,
        target=f"oss.service:{service.code}",
        data={"service_id": str(service.id), "version": service.version},
    )


async def unpublish_service(session: AsyncSession, service_id: uuid.UUID, *, actor: Actor, origin: Origin) -> None:
    """Withdraw a published service from the public catalogue (its history stays)."""
    service = await _locked(session, service_id)
    if service.status != "published":
        raise ServiceNotPublished(data={"status": service.status})
    service.status = "withdrawn"
    service.published_by = actor_label(actor)
    await session.flush()
    await record_audit(
        session,
        "oss.service.withdrawn",
        actor=actor,
        origin=origin,
        target=f"oss.service:{service.code}",
        data={"service_id": str(service.id), "version": service.published_version},
    )


async def delete_service(session: AsyncSession, service_id: uuid.UUID, *, actor: Actor, origin: Origin) -> None:
    """Delete a service never published (a default the LAO does not offer, a mistake)."""
    service = await _locked(session, service_id)
    if service.published_version is not None:
        raise ServiceWasPublished()
    code = service.code
    await session.delete(service)
    await session.flush()
    await record_audit(
        session, "oss.service.deleted", actor=actor, origin=origin, target=f"oss.service:{code}", data={}
    )


async def seed_catalogue(session: AsyncSession, defaults: Sequence[tuple[str, ServiceManual]]) -> int:
    """Add the default services whose codes are free, as drafts; returns how many were added."""
    added = 0
    for code, manual in defaults:
        if await session.scalar(_ID_BY_CODE, {"code": code}) is None:
            added += await _insert(session, code, manual, created_by=None, note="ค่าตั้งต้นของระบบ / default") is not None
    return added
