"""Notifications (การแจ้งจัดตั้งสถานที่จำหน่ายอาหาร / สะสมอาหาร): filing at the counter, documents,
the deficiency path, and the same-day certificate (``certificates.issue_certificate``).

Each notification is a case of the kernel's engine (``workflow.NOTIFICATION``) with one
``food_notifications`` row beside it (the notifier and the establishment as filed) and its
attachments (``food_notification_files`` → kernel ``stored_files``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel.audit import Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.numbering import calendar_period, next_number
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.reads import Reader, fetch_all, fetch_one, json_rows
from localgov.kernel.storage import FILE_COLUMNS, BlobStore, FileOwner, StoredFile, StoredFileRead, store_upload
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.kernel.validation import (
    InvalidInput,
    normalise_house_no,
    normalise_moo,
    normalise_phone,
    normalise_postal_code,
    normalise_thai_id,
)
from localgov.services.food.fees import check_notifiable
from localgov.services.food.models import Notification, NotificationFile
from localgov.services.food.params import DOCUMENT_LIMITS, file_path
from localgov.services.food.schemas import (
    AddressIn,
    DocumentRead,
    Establishment,
    FileRead,
    NotificationCreate,
    NotificationRead,
    Notifier,
    StepRead,
)
from localgov.services.food.workflow import DOCUMENTS, NOTIFICATION, REQUIRED_DOCUMENTS

NOTIFICATION_SUBMITTED = UsageMeter(
    code="food.notification_submitted",
    unit="notification",
    title_th="การแจ้งจัดตั้งสถานที่จำหน่ายหรือสะสมอาหาร",
    title_en="Food-premises notifications submitted",
)

_CENT = Decimal("0.01")
_N = Notification.__table__.c
_NF = NotificationFile.__table__.c
_C = engine.CaseRecord.__table__.c
_T = engine.CaseTransitionRecord.__table__.c
_SF = StoredFile.__table__.c


class NotificationNotFound(NotFound):
    code = "food_notification_not_found"
    title = "ไม่พบการแจ้งนี้ / No such notification"


class NotificationClosed(Conflict):
    code = "food_notification_closed"
    title = "การแจ้งนี้สิ้นสุดแล้ว / The notification is closed"


class UnknownDocument(InvalidInput):
    pass


# --- input -----------------------------------------------------------------------------------------


def _address(address: AddressIn, field: str) -> dict[str, Any]:
    return {
        "house_no": normalise_house_no(address.house_no, f"{field}.house_no"),
        "moo": normalise_moo(address.moo, f"{field}.moo") if address.moo else None,
        "soi": address.soi.strip() if address.soi else None,
        "road": address.road.strip() if address.road else None,
        "subdistrict": address.subdistrict.strip(),
        "district": address.district.strip(),
        "province": address.province.strip(),
        "postal_code": normalise_postal_code(address.postal_code, f"{field}.postal_code")
        if address.postal_code
        else None,
    }


def normalise_notifier(notifier: Notifier, field: str = "notifier") -> dict[str, Any]:
    """The notifier as stored: the ID's check digit verified, the phone and address checked."""
    return {
        "kind": notifier.kind,
        "name": notifier.name.strip(),
        "national_id": normalise_thai_id(notifier.national_id, f"{field}.national_id"),
        "address": _address(notifier.address, f"{field}.address"),
        "phone": normalise_phone(notifier.phone, f"{field}.phone"),
        "email": notifier.email.strip().lower() if notifier.email else None,
    }


def check_area(area: Decimal, field: str = "establishment.area_m2") -> Decimal:
    """A positive area of at most 2 decimals, and at most 200 m² (else the licence route, 422)."""
    if not area.is_finite() or area <= 0 or area != area.quantize(_CENT) or area >= Decimal("1000000"):
        raise InvalidInput(field, "must be a positive area in m² with at most 2 decimals", code="invalid_area")
    check_notifiable(area, field)
    return area


def _degrees(value: Decimal | None, limit: int, field: str) -> str | None:
    if value is None:
        return None
    if not value.is_finite() or abs(value) > limit or value != value.quantize(Decimal("0.000001")):
        message = f"degrees between -{limit} and {limit}, at most 6 decimals"
        raise InvalidInput(field, message, code="invalid_coordinates")
    return str(value)


def normalise_establishment(establishment: Establishment) -> dict[str, Any]:
    area = check_area(establishment.area_m2)
    return {
        "name": establishment.name.strip(),
        "kind": establishment.kind,
        "area_m2": str(area),
        "address": _address(establishment.address, "establishment.address"),
        "latitude": _degrees(establishment.latitude, 90, "establishment.latitude"),
        "longitude": _degrees(establishment.longitude, 180, "establishment.longitude"),
        "seats": establishment.seats,
        "opening_hours": establishment.opening_hours.strip() if establishment.opening_hours else None,
    }


# --- filing ----------------------------------------------------------------------------------------


async def open_notification(
    session: AsyncSession,
    data: NotificationCreate,
    *,
    tenant: TenantInfo,
    actor: engine.CaseActor,
    now: dt.datetime,
    origin: Origin,
) -> uuid.UUID:
    """File a notification at the counter: checked, numbered (``FD-<BE year>-<n>``), opened as a
    case in ``submitted``, metered. Premises over 200 m² are refused (422, the licence route)."""
    establishment = normalise_establishment(data.establishment)
    notifier = normalise_notifier(data.notifier)
    year = calendar_period(bangkok_today(now))
    number = await next_number(session, "food.notification", year)
    case = await engine.open_case(
        session,
        NOTIFICATION,
        actor=actor,
        now=now,
        applicant_name=notifier["name"],
        tracking_number=f"FD-{year}-{number:06d}",
        # ``applicant.email``: where One Stop Service's deadline sweep sends the case's delay and
        # result notices (every case type's, when the LAO uses it).
        data={
            "premises_name": establishment["name"],
            "area_m2": establishment["area_m2"],
            "applicant": {"email": notifier["email"]},
        },
        comment=data.note,
        origin=origin,
    )
    notification_id: uuid.UUID = (
        await session.execute(
            insert(Notification)
            .values(
                case_id=case.id,
                notifier=notifier,
                establishment=establishment,
                premises_kind=establishment["kind"],
                area_m2=Decimal(establishment["area_m2"]),
                created_by=f"{actor.kind}:{actor.id}",
            )
            .returning(Notification.id)
        )
    ).scalar_one()
    await record_usage(session, NOTIFICATION_SUBMITTED, 1, f"food.notification:{notification_id}")
    await record_audit(
        session,
        "food.notification_submitted",
        actor=actor.audit,
        origin=origin,
        target=f"food_notification:{notification_id}",
        data={"tracking_number": case.tracking_number, "area_m2": establishment["area_m2"]},
    )
    return notification_id


_JOINED = Notification.__table__.join(engine.CaseRecord.__table__, _C.id == _N.case_id)
_HEAD = (
    select(_N.id, _N.case_id, _N.notifier, _N.establishment, _N.certificate_id, _C.state, _C.version, _C.closed_at)
    .select_from(_JOINED)
    .where(_N.id == bindparam("id"))
)
#: The same, locking the notification's row (writes to one notification queue up behind each other).
_HEAD_FOR_UPDATE = _HEAD.with_for_update(of=Notification.__table__)
_ON_FILE = select(_NF.document_code).where(_NF.notification_id == bindparam("id")).distinct()


async def head(reader: Reader, notification_id: uuid.UUID, *, for_update: bool = False) -> Any:
    """The notification with its case's state (404 when it is not one of this LAO's)."""
    row: Any
    if for_update and isinstance(reader, AsyncSession):
        row = (await reader.execute(_HEAD_FOR_UPDATE, {"id": notification_id})).mappings().one_or_none()
    else:
        row = await fetch_one(reader, _HEAD, {"id": notification_id})
    if row is None:
        raise NotificationNotFound(data={"notification_id": str(notification_id)})
    return row


async def documents_on_file(reader: Reader, notification_id: uuid.UUID) -> list[str]:
    return sorted(row["document_code"] for row in await fetch_all(reader, _ON_FILE, {"id": notification_id}))


async def attach(
    session: AsyncSession,
    store: BlobStore,
    notification_id: uuid.UUID,
    *,
    document_code: str,
    data: Any,
    filename: str,
    actor: engine.CaseActor,
    origin: Origin,
) -> StoredFileRead:
    """Keep a document of an open notification (PDF or image by content, 10 MiB)."""
    if document_code not in DOCUMENTS:
        raise UnknownDocument(
            "document", f"unknown document code (one of {', '.join(DOCUMENTS)})", code="unknown_document"
        )
    row = await head(session, notification_id, for_update=True)
    if row["closed_at"] is not None:
        raise NotificationClosed(data={"state": row["state"]})
    stored = await store_upload(
        session,
        store,
        data=data,
        filename=filename,
        owner=FileOwner("food.notification", str(notification_id)),
        uploaded_by=actor.audit,
        limits=DOCUMENT_LIMITS,
    )
    session.add(NotificationFile(file_id=stored.id, notification_id=notification_id, document_code=document_code))
    await session.flush()
    await record_audit(
        session,
        "food.document_added",
        actor=actor.audit,
        origin=origin,
        target=f"food_notification:{notification_id}",
        data={"file_id": str(stored.id), "document": document_code, "sha256": stored.sha256},
    )
    return stored


async def step(
    session: AsyncSession,
    notification_id: uuid.UUID,
    action: str,
    *,
    actor: engine.CaseActor,
    version: int,
    comment: str | None,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    """Take an action of the workflow other than ``certify`` (request documents, resubmit,
    refuse, withdraw): the engine checks who may, the comment, the version."""
    row = await head(session, notification_id, for_update=True)
    return await engine.act(
        session,
        row["case_id"],
        action,
        actor=actor,
        expected_version=version,
        now=now,
        comment=comment,
        documents=await documents_on_file(session, notification_id),
        origin=origin,
    )


# --- reading ---------------------------------------------------------------------------------------

_FILE_FIELDS = [
    c for c in FILE_COLUMNS if c.key in ("id", "filename", "content_type", "size_bytes", "sha256", "created_at")
]
_FILES = json_rows(
    [*_FILE_FIELDS, _NF.document_code],
    where=and_(_NF.notification_id == _N.id, _SF.id == _NF.file_id),
    order_by=[_SF.created_at, _SF.id],
).label("files")
_HISTORY = json_rows(
    [_T.seq, _T.action, _T.from_state, _T.to_state, _T.at, _T.comment],
    where=_T.case_id == _C.id,
    order_by=[_T.seq],
).label("history")
VIEW = (
    select(
        _N.id,
        _N.case_id,
        _N.notifier,
        _N.establishment,
        _N.certificate_id,
        _C.tracking_number,
        _C.state,
        _C.version,
        _C.opened_at,
        _C.due_at,
        _FILES,
        _HISTORY,
    )
    .select_from(_JOINED)
    .where(_N.id == bindparam("id"))
)


def _dt(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def notification_view(reader: Reader, notification_id: uuid.UUID) -> NotificationRead:
    """A notification with its state, documents, files and history, in one statement."""
    row = await fetch_one(reader, VIEW, {"id": notification_id})
    if row is None:
        raise NotificationNotFound(data={"notification_id": str(notification_id)})
    files = [
        FileRead(
            id=uuid.UUID(f["id"]),
            document_code=f["document_code"],
            filename=f["filename"],
            media_type=f["content_type"],
            size=int(f["size_bytes"]),
            sha256=f["sha256"],
            created_at=_dt(f["created_at"]),
            url=file_path(notification_id, uuid.UUID(f["id"])),
        )
        for f in row["files"]
    ]
    on_file = {f.document_code for f in files}
    return NotificationRead(
        id=row["id"],
        case_id=row["case_id"],
        tracking_number=row["tracking_number"],
        state=row["state"],
        version=row["version"],
        notifier=row["notifier"],
        establishment=row["establishment"],
        documents=[
            DocumentRead(
                code=code,
                title_th=titles[0],
                title_en=titles[1],
                required=code in REQUIRED_DOCUMENTS,
                on_file=code in on_file,
            )
            for code, titles in DOCUMENTS.items()
        ],
        files=files,
        history=[
            StepRead(
                seq=h["seq"],
                action=h["action"],
                from_state=h["from_state"],
                to_state=h["to_state"],
                at=_dt(h["at"]),
                comment=h["comment"],
            )
            for h in row["history"]
        ],
        certificate_id=row["certificate_id"],
        opened_at=row["opened_at"],
        due_at=row["due_at"],
    )
