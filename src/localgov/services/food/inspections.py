"""Inspections (การตรวจสุขลักษณะ): the LAO's hygiene checklist, visits recorded item by item with
photos, and the repeat visit a failed item schedules.

The checklist is the LAO's own data, seeded with :data:`DEFAULT_CHECKLIST` (the usual items of
the Department of Health's sanitation criteria for food sale places, ``สุขลักษณะของสถานที่
จำหน่ายอาหาร``); items left out of a new list are retired, kept for the visits that used them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.pagination import before_key
from localgov.kernel.reads import Reader, fetch_all, fetch_one, json_rows
from localgov.kernel.storage import FILE_COLUMNS, BlobStore, FileOwner, StoredFile, StoredFileRead, store_upload
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import InvalidInput
from localgov.services.food import billing
from localgov.services.food.models import Certificate, ChecklistItem, Inspection, InspectionPhoto
from localgov.services.food.params import PHOTO_LIMITS, actor_label, photo_path
from localgov.services.food.schemas import (
    ChecklistItemIn,
    ChecklistItemRead,
    InspectionCreate,
    InspectionRead,
    PhotoRead,
)

#: (code, Thai, English): a sensible start; each LAO edits its own list.
DEFAULT_CHECKLIST: tuple[tuple[str, str, str], ...] = (
    ("premises_clean", "สถานที่ประกอบการสะอาด เป็นระเบียบ และไม่มีสิ่งปฏิกูล", "Premises clean and tidy"),
    (
        "prep_above_floor",
        "เตรียม ปรุง และวางอาหารสูงจากพื้นอย่างน้อย 60 เซนติเมตร",
        "Food prepared at least 60 cm above the floor",
    ),
    ("covered_food", "อาหารปรุงสำเร็จเก็บในภาชนะที่มีการปกปิด", "Ready food kept covered"),
    ("safe_water", "ใช้น้ำสะอาดได้มาตรฐานในการปรุงและล้าง", "Clean water for cooking and washing"),
    (
        "clean_utensils",
        "ภาชนะ อุปกรณ์ สะอาด และเก็บสูงจากพื้นอย่างน้อย 60 เซนติเมตร",
        "Utensils clean and stored above the floor",
    ),
    (
        "handler_hygiene",
        "ผู้สัมผัสอาหารแต่งกายสะอาด สวมผ้ากันเปื้อน และผูกผม/สวมหมวก",
        "Food handlers dressed cleanly, apron and hair covered",
    ),
    ("handler_training", "ผู้สัมผัสอาหารผ่านการอบรมด้านสุขาภิบาลอาหาร", "Food handlers trained in food sanitation"),
    ("waste_bins", "มีถังขยะที่มีฝาปิด และกำจัดขยะทุกวัน", "Lidded waste bins emptied daily"),
    ("pest_control", "ไม่พบสัตว์และแมลงนำโรค", "No pests or disease vectors"),
    ("toilets", "ห้องส้วมสะอาด มีอ่างล้างมือพร้อมสบู่", "Clean toilets with hand-washing sink and soap"),
    ("grease_trap", "มีบ่อดักไขมันและระบายน้ำเสียอย่างเหมาะสม", "Grease trap and proper drainage"),
    ("chemicals_apart", "เก็บสารเคมีแยกจากอาหารและภาชนะ", "Chemicals stored apart from food and utensils"),
)

_IN = Inspection.__table__.c
_PH = InspectionPhoto.__table__.c
_SF = StoredFile.__table__.c
_CL = ChecklistItem.__table__.c


class InspectionNotFound(NotFound):
    code = "food_inspection_not_found"
    title = "ไม่พบการตรวจนี้ / No such inspection"


class CertificateNotFoundForVisit(NotFound):
    code = "food_certificate_not_found"
    title = "ไม่พบหนังสือรับรองการแจ้งนี้ / No such certificate"


class CertificateInactive(Conflict):
    code = "food_certificate_not_active"
    title = "หนังสือรับรองนี้ถูกยกเลิกหรือเพิกถอนแล้ว / The certificate is cancelled or revoked"


async def seed_checklist(session: AsyncSession) -> None:
    """The default items (idempotent: a code the LAO has is left as it is)."""
    await session.execute(
        pg_insert(ChecklistItem)
        .values(
            [
                {"code": code, "position": n, "title_th": th, "title_en": en}
                for n, (code, th, en) in enumerate(DEFAULT_CHECKLIST, start=1)
            ]
        )
        .on_conflict_do_nothing(index_elements=["code"])
    )


_ACTIVE = select(_CL.code, _CL.position, _CL.title_th, _CL.title_en).where(_CL.active).order_by(_CL.position, _CL.code)


async def checklist(reader: Reader) -> list[ChecklistItemRead]:
    return [ChecklistItemRead(**dict(row)) for row in await fetch_all(reader, _ACTIVE)]


async def put_checklist(
    session: AsyncSession, items: Sequence[ChecklistItemIn], *, actor: Actor, origin: Origin
) -> list[ChecklistItemRead]:
    codes = [item.code for item in items]
    if len(set(codes)) != len(codes):
        raise InvalidInput("items", "two items have the same code", code="duplicate_checklist_item")
    await session.execute(update(ChecklistItem).values(active=False))
    for n, item in enumerate(items, start=1):
        values = {"position": n, "title_th": item.title_th.strip(), "title_en": item.title_en, "active": True}
        await session.execute(
            pg_insert(ChecklistItem)
            .values(code=item.code, **values)
            .on_conflict_do_update(index_elements=["code"], set_=values)
        )
    await record_audit(session, "food.checklist_changed", actor=actor, origin=origin, data={"items": codes})
    return await checklist(session)


async def record_visit(
    session: AsyncSession, certificate_id: uuid.UUID, data: InspectionCreate, *, actor: Actor, origin: Origin
) -> uuid.UUID:
    """A visit: every active item answered (no unknown one); a failed item makes the visit failed
    and schedules a repeat visit ``revisit_days`` later (the certificate's ``next_visit_on``)."""
    certificate = (
        await session.execute(select(Certificate).where(Certificate.id == certificate_id).with_for_update())
    ).scalar_one_or_none()
    if certificate is None:
        raise CertificateNotFoundForVisit(data={"certificate_id": str(certificate_id)})
    if certificate.status != "active":
        raise CertificateInactive(data={"status": certificate.status})
    if data.visited_on > bangkok_today() or data.visited_on < certificate.issued_on:
        raise InvalidInput("visited_on", "must be between the issue day and today", code="invalid_visit_date")
    items = await checklist(session)
    answers = {a.code: a for a in data.answers}
    if len(answers) != len(data.answers):
        raise InvalidInput("answers", "an item is answered twice", code="duplicate_answer")
    unknown = sorted(set(answers) - {i.code for i in items})
    missing = [i.code for i in items if i.code not in answers]
    if unknown or missing:
        raise InvalidInput(
            "answers",
            f"answer every item of the checklist (missing {missing}, unknown {unknown})",
            code="checklist_incomplete",
        )
    recorded = [
        {"code": i.code, "title_th": i.title_th, "passed": answers[i.code].passed, "note": answers[i.code].note}
        for i in items
    ]
    failed = [r["code"] for r in recorded if not r["passed"]]
    settings = await billing.food_settings(session)
    repeat_on = data.visited_on + dt.timedelta(days=settings.revisit_days) if failed else None
    inspection = Inspection(
        certificate_id=certificate_id,
        visited_on=data.visited_on,
        inspector=actor_label(actor),
        result="failed" if failed else "passed",
        items=recorded,
        note_th=data.note_th,
        repeat_on=repeat_on,
    )
    session.add(inspection)
    certificate.next_visit_on = repeat_on
    await session.flush()
    await record_audit(
        session,
        "food.inspection_recorded",
        actor=actor,
        origin=origin,
        target=f"food_certificate:{certificate_id}",
        data={"inspection_id": str(inspection.id), "failed": failed},
    )
    return inspection.id


_EXISTS = select(_IN.id, _IN.certificate_id).where(_IN.id == bindparam("id"))


async def add_photo(
    session: AsyncSession,
    store: BlobStore,
    inspection_id: uuid.UUID,
    *,
    item_code: str | None,
    data: Any,
    filename: str,
    actor: Actor,
    origin: Origin,
) -> StoredFileRead:
    row = await fetch_one(session, _EXISTS, {"id": inspection_id})
    if row is None:
        raise InspectionNotFound(data={"inspection_id": str(inspection_id)})
    stored = await store_upload(
        session,
        store,
        data=data,
        filename=filename,
        owner=FileOwner("food.inspection", str(inspection_id)),
        uploaded_by=actor,
        limits=PHOTO_LIMITS,
    )
    session.add(InspectionPhoto(file_id=stored.id, inspection_id=inspection_id, item_code=item_code))
    await session.flush()
    await record_audit(
        session,
        "food.inspection_photo_added",
        actor=actor,
        origin=origin,
        target=f"food_inspection:{inspection_id}",
        data={"file_id": str(stored.id), "sha256": stored.sha256},
    )
    return stored


_PHOTO_FIELDS = [c for c in FILE_COLUMNS if c.key in ("id", "filename", "content_type", "size_bytes")]
_PHOTOS = json_rows(
    [*_PHOTO_FIELDS, _PH.item_code],
    where=and_(_PH.inspection_id == _IN.id, _SF.id == _PH.file_id),
    order_by=[_SF.created_at, _SF.id],
).label("photos")
_COLUMNS = (
    _IN.id,
    _IN.certificate_id,
    _IN.visited_on,
    _IN.inspector,
    _IN.result,
    _IN["items"],
    _IN.note_th,
    _IN.repeat_on,
)
ONE = select(*_COLUMNS, _PHOTOS).where(_IN.id == bindparam("id"))
#: Newest visit first, then id (index on (certificate_id, visited_on)).
OF_CERTIFICATE = (
    select(*_COLUMNS, _PHOTOS)
    .where(_IN.certificate_id == bindparam("certificate_id"))
    .order_by(_IN.visited_on.desc(), _IN.id.desc())
)


def _read(row: Any) -> InspectionRead:
    return InspectionRead(
        id=row["id"],
        certificate_id=row["certificate_id"],
        visited_on=row["visited_on"],
        inspector=row["inspector"],
        result=row["result"],
        items=row["items"],
        note_th=row["note_th"],
        repeat_on=row["repeat_on"],
        photos=[
            PhotoRead(
                id=uuid.UUID(p["id"]),
                item_code=p["item_code"],
                filename=p["filename"],
                media_type=p["content_type"],
                size=int(p["size_bytes"]),
                url=photo_path(row["id"], uuid.UUID(p["id"])),
            )
            for p in row["photos"]
        ],
    )


async def inspection(reader: Reader, inspection_id: uuid.UUID) -> InspectionRead:
    row = await fetch_one(reader, ONE, {"id": inspection_id})
    if row is None:
        raise InspectionNotFound(data={"inspection_id": str(inspection_id)})
    return _read(row)


async def inspections_of(
    reader: Reader,
    certificate_id: uuid.UUID,
    *,
    before: tuple[dt.date, uuid.UUID] | None = None,
    limit: int = 200,
) -> list[InspectionRead]:
    """The visits, newest first; ``before``: the (visited_on, id) of the last visit of the previous page."""
    query = OF_CERTIFICATE.limit(limit)
    if before is not None:
        query = query.where(before_key([_IN.visited_on, _IN.id], before))
    return [_read(row) for row in await fetch_all(reader, query, {"certificate_id": certificate_id})]
