"""One Stop Service requests (คำขอ) on the kernel's case engine: intake, tracking numbers and
verification codes, reads, actions, assignment, comments, attachments, the public status.

A request is a kernel case of :data:`~localgov.services.oss.workflow.REQUEST` (state, deadlines,
history, audit) plus the service's row beside it (``oss_cases``: the catalogue service, the
channel, the counter's ticket, the salt of the verification code). What the applicant applied for
is copied into the case's ``data`` at intake: the service and the version of its published manual,
the documents the manual requires (coded ``doc.1`` …), the applicant's details. The request is
judged against that manual, whatever the LAO publishes later.

**Tracking numbers** are ``<DLA code>-<BE fiscal year>-<6 digits>`` (``5500101-2570-000042``),
gap-free per fiscal year: the kernel's running number (series ``oss.case``, period the fiscal
year of the Bangkok day of intake) is taken in the intake's transaction, so a failed intake gives
its number back and concurrent intakes queue on the counter's row.

**Verification codes** (รหัสตรวจสอบ) are printed on the receipt for the public status lookup: 10
characters of Crockford base 32 (50 bits), the HMAC-SHA256, under a key derived from
``LOCALGOV_SECRET_KEY``, of the tenant, the case and a random salt kept on the case. Nothing that
gives the code is stored (a copy of the database cannot produce one); a reprint prints the same
code; a new salt (staff, when a receipt was lost) makes a new code and the old one stops working.
A lookup compares in constant time and answers the same 404 for an unknown number and a wrong
code.

**The time of a request** is the total time of the manual (its steps; a day of 7 working hours),
rounded up to whole working days: the case's own overall limit (``open_case(..., sla_days=)``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Literal, cast

import msgspec
from litestar.datastructures import UploadFile
from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    Table,
    Uuid,
    and_,
    any_,
    bindparam,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.cases import CaseRecord, CaseTransitionRecord, StaffUnknown
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.numbering import fiscal_period, next_number
from localgov.kernel.pagination import after_key
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.reads import Reader, Row, fetch_all, fetch_one, json_rows
from localgov.kernel.storage import (
    FILE_COLUMNS,
    BlobStore,
    FileOwner,
    StoredFile,
    StoredFileRead,
    UploadLimits,
    store_upload_file,
)
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import normalise_email
from localgov.kernel.thai import bangkok_today, to_arabic_digits
from localgov.kernel.usage import record_usage
from localgov.kernel.validation import InvalidInput, normalise_phone, normalise_thai_id
from localgov.services.oss.catalogue import WORKING_DAY_MINUTES, decode_manual, total_time
from localgov.services.oss.models import (
    CaseComment,
    CaseFile,
    CatalogueService,
    CatalogueServiceVersion,
    DeficiencyItem,
    DeficiencyRecord,
    OssCase,
    QueueTicket,
)
from localgov.services.oss.params import actor_label
from localgov.services.oss.schemas import RefusalGrounds
from localgov.services.oss.workflow import OWN_ENDPOINT, REQUEST, WITHDRAWN

#: What a stored file of a request belongs to (``kernel.storage``).
FILE_OWNER_KIND = "oss.case"
#: Attachments: at most 10 MiB each, PDF or images, judged by content.
UPLOAD_LIMITS = UploadLimits(max_bytes=10 * 1024 * 1024)
#: The running-number series of tracking numbers (its period: the BE fiscal year).
TRACKING_SERIES = "oss.case"
TRACKING_RE = re.compile(r"^[0-9]{7}-[0-9]{4}-[0-9]{6,9}$")

CASES_OPENED = UsageMeter(code="oss.cases_opened", unit="case", title_th="คำขอที่รับเข้าระบบ", title_en="Requests opened")
CASES_DECIDED = UsageMeter(
    code="oss.cases_decided", unit="case", title_th="คำขอที่มีผลการพิจารณาแล้ว", title_en="Requests decided"
)

Channel = Literal["online", "counter"]


# --- errors ---------------------------------------------------------------------------------------------


class ActionHasOwnEndpoint(Conflict):
    """The action makes or closes a deficiency record: it is taken at that record's endpoint."""

    code = "case_action_has_own_endpoint"
    title = "การดำเนินการนี้ทำผ่านบันทึกความบกพร่อง / This action is taken through the deficiency record's endpoint"


class CaseClosed(Conflict):
    code = "case_closed"
    title = "เรื่องนี้สิ้นสุดแล้ว / The case is closed"


class RefusalGroundsRequired(DomainError):
    code = "refusal_grounds_required"
    status = 422
    title = (
        "คำสั่งไม่อนุญาตต้องอ้างรายการในบันทึกความบกพร่องหรือระบุเหตุผลทางกฎหมาย"
        " / A refusal cites items of a deficiency record or states a legal ground"
    )


class RefusalItemNotRecorded(DomainError):
    """A refusal may cite only items that were on a deficiency record of the case (the Act, s.8)."""

    code = "refusal_item_not_recorded"
    status = 422
    title = (
        "ไม่อาจอ้างรายการที่ไม่ได้ระบุไว้ในบันทึกความบกพร่องของคำขอนี้เป็นเหตุไม่อนุญาต"
        " / A refusal may cite only items recorded in this request's deficiency records"
    )


class UnitNotFound(NotFound):
    code = "unit_not_found"
    title = "ไม่พบหน่วยงานนี้ / No such unit"


class StaffNotFound(NotFound):
    code = "staff_not_found"
    title = "ไม่พบเจ้าหน้าที่นี้ / No such member of staff"


class TrackingNotFound(NotFound):
    code = "tracking_not_found"
    title = "ไม่พบคำขอที่มีเลขติดตามและรหัสตรวจสอบนี้ / No request has this tracking number and verification code"


# --- numbers and codes ----------------------------------------------------------------------------------

#: Crockford's base 32: nothing to misread when a code is typed from paper.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_CHARS = 10
_KEY_LABEL = b"localgov.oss.case-status.v1"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def tracking_number(dla_code: str, fiscal_year: str, n: int) -> str:
    """``5500101-2570-000042``."""
    return f"{dla_code}-{fiscal_year}-{n:06d}"


def normalise_tracking_number(text: str) -> str | None:
    """The tracking number as typed (Thai digits, spaces): canonical, or None when it cannot be one."""
    value = "".join(to_arabic_digits(text).split())
    return value if TRACKING_RE.fullmatch(value) else None


def _code_digits(secret_key: str, tenant_id: int, case_id: uuid.UUID, salt: str) -> str:
    if not secret_key:
        raise RuntimeError("verification codes need LOCALGOV_SECRET_KEY")
    key = hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(key, f"{tenant_id}:{case_id}:{salt}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big") >> (64 - 5 * _CODE_CHARS)
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_CODE_CHARS)))


def verification_code(secret_key: str, tenant_id: int, case_id: uuid.UUID, salt: str) -> str:
    """The code printed on the request's receipt (``7KQ2M-X9TRB``; the same on every reprint)."""
    digits = _code_digits(secret_key, tenant_id, case_id, salt)
    return f"{digits[:5]}-{digits[5:]}"


def _offered_code(text: str) -> str:
    """A typed code in canonical form (case, hyphens, spaces, Thai digits and look-alikes forgiven)."""
    return "".join(to_arabic_digits(text).upper().split()).replace("-", "").translate(_LOOKALIKES)


def new_salt() -> str:
    return secrets.token_hex(16)


def sla_days_of(minutes: int) -> int:
    """The manual's total time in whole working days (at least one, at most the engine's limit)."""
    return min(max(1, math.ceil(minutes / WORKING_DAY_MINUTES)), 2600)


def file_owner(case_id: uuid.UUID) -> FileOwner:
    return FileOwner(FILE_OWNER_KIND, str(case_id))


# --- statements (kernel.reads: built once) --------------------------------------------------------------

_C = cast(Table, CaseRecord.__table__)
_T = cast(Table, CaseTransitionRecord.__table__)
_O = cast(Table, OssCase.__table__)
_F = cast(Table, CaseFile.__table__)
_SF = cast(Table, StoredFile.__table__)
_M = cast(Table, CaseComment.__table__)
_R = cast(Table, DeficiencyRecord.__table__)
_I = cast(Table, DeficiencyItem.__table__)
_S = cast(Table, CatalogueService.__table__)
_V = cast(Table, CatalogueServiceVersion.__table__)
_Q = cast(Table, QueueTicket.__table__)
_CASE_ID = bindparam("case_id", type_=Uuid)
_CITIZEN_ID = bindparam("citizen_id", type_=Uuid)
_OSS = _C.join(_O, _O.c.case_id == _C.c.id)

_CASE_COLUMNS = (
    _C.c.id,
    _C.c.case_type,
    _C.c.state,
    _C.c.version,
    _C.c.tracking_number,
    _C.c.applicant_citizen_id,
    _C.c.applicant_name,
    _C.c.assigned_unit_id,
    _C.c.assigned_staff_id,
    _C.c.opened_at,
    _C.c.state_entered_at,
    _C.c.state_due_at,
    _C.c.due_at,
    _C.c.decided_at,
    _C.c.closed_at,
    _C.c.paused_days,
    _C.c.sla_days,
    _C.c.data,
    _O.c.service_id,
    _O.c.channel,
    _O.c.ticket_id,
    _O.c.code_salt,
)
_HISTORY = json_rows(
    [_T.c.seq, _T.c.action, _T.c.from_state, _T.c.to_state, _T.c.actor_kind, _T.c.actor_id, _T.c.at, _T.c.comment],
    where=_T.c.case_id == _C.c.id,
    order_by=[_T.c.seq],
).label("history")
_FILE_FIELDS = [c for c in FILE_COLUMNS if c.key not in ("owner_kind", "owner_ref")]
_FILES = json_rows(
    [*_FILE_FIELDS, _F.c.document_code],
    where=and_(_F.c.case_id == _C.c.id, _SF.c.id == _F.c.file_id),
    order_by=[_SF.c.created_at, _SF.c.id],
).label("files")
_ITEMS = json_rows(
    [_I.c.id, _I.c.seq, _I.c.kind, _I.c.document_code, _I.c.label_th, _I.c.note_th],
    where=_I.c.record_id == _R.c.id,
    order_by=[_I.c.seq],
).label("items")
_RECORDS = json_rows(
    [
        _R.c.id,
        _R.c.seq,
        _R.c.number,
        _R.c.status,
        _R.c.deadline,
        _R.c.deadline_at,
        _R.c.note_th,
        _R.c.created_at,
        _R.c.staff_name,
        _R.c.applicant_ack_at,
        _R.c.applicant_ack_method,
        _R.c.resolved_at,
        _ITEMS,
    ],
    where=_R.c.case_id == _C.c.id,
    order_by=[_R.c.seq],
).label("deficiencies")
_COMMENT_COLUMNS = [_M.c.id, _M.c.author_kind, _M.c.author_id, _M.c.body, _M.c.visible_to_applicant, _M.c.created_at]
_ALL_COMMENTS = json_rows(_COMMENT_COLUMNS, where=_M.c.case_id == _C.c.id, order_by=[_M.c.created_at, _M.c.id]).label(
    "comments"
)
_VISIBLE_COMMENTS = json_rows(
    _COMMENT_COLUMNS,
    where=and_(_M.c.case_id == _C.c.id, _M.c.visible_to_applicant),
    order_by=[_M.c.created_at, _M.c.id],
).label("comments")

#: A request with everything its page shows, in one statement: staff's view, and the applicant's.
STAFF_VIEW = (
    select(*_CASE_COLUMNS, _HISTORY, _FILES, _RECORDS, _ALL_COMMENTS).select_from(_OSS).where(_C.c.id == _CASE_ID)
)
APPLICANT_VIEW = (
    select(*_CASE_COLUMNS, _HISTORY, _FILES, _RECORDS, _VISIBLE_COMMENTS)
    .select_from(_OSS)
    .where(_C.c.id == _CASE_ID, _C.c.applicant_citizen_id == _CITIZEN_ID)
)
_BY_NUMBER = select(_C.c.id).select_from(_OSS).where(_C.c.tracking_number == bindparam("number"))
#: What the writes check first: the request exists (an OSS case of this LAO), its applicant, its state.
_HEAD = (
    select(_C.c.id, _C.c.state, _C.c.version, _C.c.applicant_citizen_id, _C.c.closed_at, _C.c.data)
    .select_from(_OSS)
    .where(_C.c.id == _CASE_ID)
)
_ON_FILE = (
    select(_F.c.document_code)
    .where(_F.c.case_id == _CASE_ID, _F.c.document_code.is_not(None))
    .distinct()
    .order_by(_F.c.document_code)
)
_CASE_FILES = (
    select(*_FILE_FIELDS, _F.c.document_code)
    .select_from(_F.join(_SF, _SF.c.id == _F.c.file_id))
    .where(_F.c.case_id == _CASE_ID)
    .order_by(_SF.c.created_at, _SF.c.id)
)
_RECORDED_ITEMS = select(_I.c.id).where(
    _I.c.case_id == _CASE_ID, _I.c.id == any_(bindparam("item_ids", type_=ARRAY(Uuid)))
)
_PUBLISHED = (
    select(_S.c.id, _S.c.code, _S.c.published_version, _V.c.content)
    .select_from(_S.join(_V, and_(_V.c.service_id == _S.c.id, _V.c.version == _S.c.published_version)))
    .where(_S.c.status == "published", _S.c.code == bindparam("code"))
)
_TICKET = select(_Q.c.id).where(_Q.c.id == bindparam("ticket_id", type_=Uuid))
_UNIT = select(org.UNITS.c.id).where(org.UNITS.c.id == bindparam("unit_id", type_=Uuid))
_MEMBER = select(org.STAFF.c.id).where(org.STAFF.c.id == bindparam("staff_id", type_=Uuid))

#: The public status: the request by its number, its salt (to check the code), the steps and the
#: open deficiency record's deadline and items.
_OPEN_RECORD = json_rows(
    [
        _R.c.deadline,
        json_rows([_I.c.label_th], where=_I.c.record_id == _R.c.id, order_by=[_I.c.seq]).label("items"),
    ],
    where=and_(_R.c.case_id == _C.c.id, _R.c.status == "open"),
).label("open_records")
PUBLIC_VIEW = (
    select(
        _C.c.id,
        _C.c.case_type,
        _C.c.state,
        _C.c.tracking_number,
        _C.c.applicant_name,
        _C.c.opened_at,
        _C.c.due_at,
        _C.c.decided_at,
        _C.c.closed_at,
        _C.c.data["service"].label("service"),
        _O.c.code_salt,
        json_rows([_T.c.action, _T.c.to_state, _T.c.at], where=_T.c.case_id == _C.c.id, order_by=[_T.c.seq]).label(
            "steps"
        ),
        _OPEN_RECORD,
    )
    .select_from(_OSS)
    .where(_C.c.tracking_number == bindparam("number"))
)

#: The applicant's own requests, newest first (keyset: before the cursor's opening time and id).
_MINE = (
    select(
        _C.c.id,
        _C.c.case_type,
        _C.c.state,
        _C.c.version,
        _C.c.tracking_number,
        _C.c.opened_at,
        _C.c.due_at,
        _C.c.decided_at,
        _C.c.closed_at,
        _C.c.data["service"].label("service"),
    )
    .select_from(_OSS)
    .where(
        _C.c.applicant_citizen_id == _CITIZEN_ID,
        tuple_(_C.c.opened_at, _C.c.id)
        < tuple_(bindparam("before_at", type_=DateTime(timezone=True)), bindparam("before_id", type_=Uuid)),
    )
    .order_by(_C.c.opened_at.desc(), _C.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_MINE_CURSOR = (
    select(_C.c.opened_at, _C.c.id)
    .select_from(_OSS)
    .where(_C.c.id == bindparam("after", type_=Uuid), _C.c.applicant_citizen_id == _CITIZEN_ID)
)


# --- what the reads give back ---------------------------------------------------------------------------


class FileRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    created_at: dt.datetime
    document_code: str | None

    @classmethod
    def of(cls, stored: StoredFileRead, document_code: str | None) -> FileRow:
        """The row of a file just attached (what :func:`attach_file` returns)."""
        return cls(
            id=stored.id,
            filename=stored.filename,
            content_type=stored.content_type,
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            uploaded_by=stored.uploaded_by,
            created_at=stored.created_at,
            document_code=document_code,
        )


class ItemRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    seq: int
    kind: Literal["document", "criterion"]
    document_code: str | None
    label_th: str
    note_th: str | None


class RecordRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    seq: int
    number: str
    status: Literal["open", "supplied", "expired", "closed"]
    deadline: dt.date
    deadline_at: dt.datetime
    note_th: str | None
    created_at: dt.datetime
    staff_name: str
    applicant_ack_at: dt.datetime | None
    applicant_ack_method: Literal["online", "counter_signature"] | None
    resolved_at: dt.datetime | None
    items: list[ItemRow]


class CommentRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    author_kind: Literal["staff", "citizen"]
    author_id: uuid.UUID
    body: str
    visible_to_applicant: bool
    created_at: dt.datetime


class ManualDocument(msgspec.Struct, kw_only=True):
    """A document the manual required at intake, with its code in the case."""

    code: str
    name_th: str
    name_en: str | None = None
    issued_by_th: str
    originals: int
    copies: int


class ServiceSnapshot(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    version: int
    name_th: str
    name_en: str


class ApplicantDetails(msgspec.Struct, kw_only=True):
    thai_id: str | None = None
    phone: str | None = None
    email: str | None = None
    address_th: str | None = None


class RequestData(msgspec.Struct, kw_only=True):
    """The request's own fields, kept in the kernel case's ``data``."""

    service: ServiceSnapshot
    documents: list[ManualDocument]
    applicant: ApplicantDetails
    details_th: str | None = None
    refusal: RefusalGrounds | None = None


class CaseView(msgspec.Struct, kw_only=True):
    """A request as :data:`STAFF_VIEW` / :data:`APPLICANT_VIEW` read it."""

    id: uuid.UUID
    case_type: str
    state: str
    version: int
    tracking_number: str
    applicant_citizen_id: uuid.UUID | None
    applicant_name: str
    assigned_unit_id: uuid.UUID | None
    assigned_staff_id: uuid.UUID | None
    opened_at: dt.datetime
    state_entered_at: dt.datetime
    state_due_at: dt.datetime | None
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    paused_days: int
    sla_days: int | None
    data: RequestData
    service_id: uuid.UUID
    channel: Channel
    ticket_id: uuid.UUID | None
    code_salt: str
    history: list[engine.CaseTransition]
    files: list[FileRow]
    deficiencies: list[RecordRow]
    comments: list[CommentRow]

    def overdue(self, now: dt.datetime) -> bool:
        if self.closed_at is not None:
            return False
        return any(due is not None and due <= now for due in (self.state_due_at, self.due_at))

    @property
    def on_file(self) -> set[str]:
        return {f.document_code for f in self.files if f.document_code is not None}


def _view(row: Row) -> CaseView:
    return msgspec.convert(dict(row), CaseView, strict=False)


async def staff_view(reader: Reader, case_id: uuid.UUID) -> CaseView:
    """A request of this LAO with everything staff see (404 ``case_not_found``)."""
    row = await fetch_one(reader, STAFF_VIEW, {"case_id": case_id})
    if row is None:
        raise engine.CaseNotFound(data={"case_id": str(case_id)})
    return _view(row)


async def applicant_view(reader: Reader, case_id: uuid.UUID, citizen_id: uuid.UUID) -> CaseView:
    """The citizen's own request (another citizen's, or none: 404 ``case_not_found``)."""
    row = await fetch_one(reader, APPLICANT_VIEW, {"case_id": case_id, "citizen_id": citizen_id})
    if row is None:
        raise engine.CaseNotFound(data={"case_id": str(case_id)})
    return _view(row)


async def case_id_by_number(reader: Reader, number: str) -> uuid.UUID:
    canonical = normalise_tracking_number(number)
    row = await fetch_one(reader, _BY_NUMBER, {"number": canonical}) if canonical else None
    if row is None:
        raise engine.CaseNotFound(data={"tracking_number": number[:40]})
    found: uuid.UUID = row["id"]
    return found


async def head(reader: Reader, case_id: uuid.UUID, *, citizen_id: uuid.UUID | None = None) -> Row:
    """The request's id, state, version, applicant and data; 404 unless it is an OSS case of this
    LAO (and, with ``citizen_id``, his own)."""
    row = await fetch_one(reader, _HEAD, {"case_id": case_id})
    if row is None or (citizen_id is not None and row["applicant_citizen_id"] != citizen_id):
        raise engine.CaseNotFound(data={"case_id": str(case_id)})
    return row


def request_data(row: Row) -> RequestData:
    return msgspec.convert(row["data"], RequestData, strict=False)


async def documents_on_file(reader: Reader, case_id: uuid.UUID) -> list[str]:
    """The codes of the required documents the request has a file of."""
    return [row["document_code"] for row in await fetch_all(reader, _ON_FILE, {"case_id": case_id})]


#: Where a page of a case's files or comments ends: the (created_at, id) of its last one.
PageKey = tuple[dt.datetime, uuid.UUID]


async def case_files(
    reader: Reader, case_id: uuid.UUID, *, after: PageKey | None = None, limit: int | None = None
) -> list[FileRow]:
    """The request's files in upload order (``after``: the last one of the previous page)."""
    query = _CASE_FILES
    if after is not None:
        query = query.where(after_key([_SF.c.created_at, _SF.c.id], after))
    if limit is not None:
        query = query.limit(limit)
    rows = await fetch_all(reader, query, {"case_id": case_id})
    return [msgspec.convert(dict(r), FileRow, strict=False) for r in rows]


async def case_comments(reader: Reader, case_id: uuid.UUID, *, after: PageKey | None, limit: int) -> list[CommentRow]:
    """The request's comments, oldest first (index on (case_id, created_at)); ``after``: the last
    one of the previous page."""
    query = select(*_COMMENT_COLUMNS).where(_M.c.case_id == _CASE_ID).order_by(_M.c.created_at, _M.c.id).limit(limit)
    if after is not None:
        query = query.where(after_key([_M.c.created_at, _M.c.id], after))
    rows = await fetch_all(reader, query, {"case_id": case_id})
    return [msgspec.convert(dict(r), CommentRow, strict=False) for r in rows]


async def my_cases(reader: Reader, citizen_id: uuid.UUID, *, after: uuid.UUID | None, limit: int) -> Sequence[Row]:
    """The citizen's requests, newest first (``after``: the last one of the previous page)."""
    before_at, before_id = dt.datetime(9999, 12, 31, tzinfo=dt.UTC), uuid.UUID(int=(1 << 128) - 1)
    if after is not None:
        cursor = await fetch_one(reader, _MINE_CURSOR, {"after": after, "citizen_id": citizen_id})
        if cursor is None:
            raise engine.CaseNotFound("Unknown cursor.", data={"case_id": str(after)})
        before_at, before_id = cursor["opened_at"], cursor["id"]
    params = {"citizen_id": citizen_id, "before_at": before_at, "before_id": before_id, "limit": limit}
    return await fetch_all(reader, _MINE, params)


async def unit_exists(reader: Reader, unit_id: uuid.UUID) -> bool:
    return await fetch_one(reader, _UNIT, {"unit_id": unit_id}) is not None


async def member_exists(reader: Reader, staff_id: uuid.UUID) -> bool:
    return await fetch_one(reader, _MEMBER, {"staff_id": staff_id}) is not None


# --- the public status ------------------------------------------------------------------------------


class PublicRow(msgspec.Struct, kw_only=True):
    """A request as the public status shows it."""

    id: uuid.UUID
    case_type: str
    state: str
    tracking_number: str
    applicant_name: str
    opened_at: dt.datetime
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    service: ServiceSnapshot
    steps: list[PublicStepRow]
    open_records: list[OpenRecordRow]


class PublicStepRow(msgspec.Struct, kw_only=True):
    action: str
    to_state: str
    at: dt.datetime


class LabelRow(msgspec.Struct, kw_only=True):
    label_th: str


class OpenRecordRow(msgspec.Struct, kw_only=True):
    deadline: dt.date
    items: list[LabelRow]


#: Compared against when the number is unknown, so both refusals take the same time.
_NO_CASE = uuid.UUID(int=0)


async def public_status(reader: Reader, secret_key: str, tenant_id: int, number: str, code: str) -> PublicRow:
    """The request of a tracking number whose verification code matches; one 404 for an unknown
    number, a wrong code, or anything malformed."""
    canonical = normalise_tracking_number(number)
    row = await fetch_one(reader, PUBLIC_VIEW, {"number": canonical}) if canonical else None
    expected = _code_digits(
        secret_key, tenant_id, row["id"] if row else _NO_CASE, row["code_salt"] if row else "0" * 32
    )
    matches = hmac.compare_digest(expected.encode(), _offered_code(code).encode())
    if row is None or not matches:
        raise TrackingNotFound()
    return msgspec.convert(dict(row), PublicRow, strict=False)


# --- intake ---------------------------------------------------------------------------------------------


class ApplicantInput(msgspec.Struct, frozen=True, kw_only=True):
    """The applicant as the intake received him (checked by :func:`open_request`)."""

    name: str
    thai_id: str | None = None
    phone: str | None = None
    email: str | None = None
    address_th: str | None = None
    details_th: str | None = None


def _applicant(applicant: ApplicantInput) -> ApplicantDetails:
    return ApplicantDetails(
        thai_id=normalise_thai_id(applicant.thai_id, "applicant_thai_id") if applicant.thai_id else None,
        phone=normalise_phone(applicant.phone, "phone") if applicant.phone else None,
        email=normalise_email(applicant.email) if applicant.email else None,
        address_th=applicant.address_th,
    )


async def open_request(
    session: AsyncSession,
    *,
    tenant: TenantInfo,
    service_code: str,
    applicant: ApplicantInput,
    citizen_id: uuid.UUID | None,
    channel: Channel,
    actor: engine.CaseActor,
    now: dt.datetime,
    origin: Origin,
    ticket_id: uuid.UUID | None = None,
    note: str | None = None,
) -> tuple[uuid.UUID, str]:
    """Open a request for a published service of the catalogue; returns its id and its code salt.

    The number is taken last, after every check, so the counter's row is locked only for the
    inserts. A walk-in (``counter``) goes on to ``checking`` at once, by the same officer.
    """
    details = _applicant(applicant)
    published = await fetch_one(session, _PUBLISHED, {"code": service_code})
    if published is None:
        raise InvalidInput(
            "service_code",
            "no published service of the catalogue has this code / ไม่พบบริการนี้ในรายการบริการที่เผยแพร่",
            code="service_not_published",
        )
    if ticket_id is not None and await fetch_one(session, _TICKET, {"ticket_id": ticket_id}) is None:
        raise InvalidInput("ticket_id", "no queue ticket of this LAO has this id / ไม่พบบัตรคิวนี้", code="unknown_ticket")
    manual = decode_manual(published["content"])
    data = RequestData(
        service=ServiceSnapshot(
            id=published["id"],
            code=published["code"],
            version=published["published_version"],
            name_th=manual.name_th,
            name_en=manual.name_en,
        ),
        documents=[
            ManualDocument(
                code=f"doc.{n}",
                name_th=d.name_th,
                name_en=d.name_en,
                issued_by_th=d.issued_by_th,
                originals=d.originals,
                copies=d.copies,
            )
            for n, d in enumerate(manual.documents, start=1)
        ],
        applicant=details,
        details_th=applicant.details_th,
    )
    number = await next_number(session, TRACKING_SERIES, fiscal_period(bangkok_today(now)))
    case = await engine.open_case(
        session,
        REQUEST,
        actor=actor,
        now=now,
        applicant_name=applicant.name,
        applicant_citizen_id=citizen_id,
        tracking_number=tracking_number(tenant.dla_code, fiscal_period(bangkok_today(now)), number),
        data=msgspec.to_builtins(data),
        sla_days=sla_days_of(total_time(manual).minutes),
        comment=note,
        origin=origin,
    )
    salt = new_salt()
    await session.execute(
        insert(_O).values(
            case_id=case.id,
            service_id=published["id"],
            channel=channel,
            ticket_id=ticket_id,
            code_salt=salt,
            opened_by=actor_label(actor.audit),
        )
    )
    await record_usage(session, CASES_OPENED, 1, f"oss.case_opened:{case.id}")
    if channel == "counter":
        await engine.act(
            session, case.id, "start_check", actor=actor, expected_version=case.version, now=now, origin=origin
        )
    return case.id, salt


async def new_verification_code(session: AsyncSession, case_id: uuid.UUID, *, actor: Actor, origin: Origin) -> str:
    """A new salt for the request (a lost receipt): the old code stops working; returns the salt."""
    await head(session, case_id)
    salt = new_salt()
    await session.execute(update(_O).where(_O.c.case_id == case_id).values(code_salt=salt))
    await record_audit(session, "oss.case.code_renewed", actor=actor, origin=origin, target=f"case:{case_id}", data={})
    return salt


# --- acting on a request --------------------------------------------------------------------------------


async def take_action(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: str,
    *,
    actor: engine.CaseActor,
    expected_version: int,
    now: dt.datetime,
    origin: Origin,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
) -> engine.Case:
    """:func:`kernel.cases.act` with the documents on file; a decision is metered (once per case)."""
    case = await engine.act(
        session,
        case_id,
        action,
        actor=actor,
        expected_version=expected_version,
        now=now,
        comment=comment,
        documents=await documents_on_file(session, case_id),
        data=data,
        origin=origin,
    )
    if engine.get_case_type(case.case_type).state(case.state).decision:
        await record_usage(session, CASES_DECIDED, 1, f"oss.case_decided:{case_id}")
    return case


async def check_refusal(session: AsyncSession, case_id: uuid.UUID, grounds: RefusalGrounds | None) -> None:
    """A refusal cites items of the case's deficiency records, or states a legal ground, or both;
    an item that was not on a record of this case is refused."""
    if grounds is None or (not grounds.items and grounds.legal_ground_th is None):
        raise RefusalGroundsRequired(data={"field": "refusal"})
    if grounds.items:
        wanted = list(dict.fromkeys(grounds.items))
        rows = await fetch_all(session, _RECORDED_ITEMS, {"case_id": case_id, "item_ids": wanted})
        recorded = {row["id"] for row in rows}
        unrecorded = [str(item) for item in wanted if item not in recorded]
        if unrecorded:
            raise RefusalItemNotRecorded(data={"field": "refusal.items", "items": unrecorded})


def check_documents(case: engine.Case, on_file: Sequence[str]) -> None:
    """Accepting a request for consideration needs a file of every document its manual requires."""
    data = msgspec.convert(case.data, RequestData, strict=False)
    missing = [d for d in data.documents if d.code not in set(on_file)]
    if missing:
        raise engine.DocumentsMissing(
            data={
                "state": case.state,
                "missing": [d.code for d in missing],
                "documents": [{"code": d.code, "name_th": d.name_th} for d in missing],
            }
        )


_CLOSE_OPEN_RECORD = (
    update(_R)
    .where(_R.c.case_id == bindparam("r_case_id", type_=Uuid), _R.c.status == "open")
    .values(status="closed", resolved_at=bindparam("r_now"), resolved_by=bindparam("r_by"))
)


async def staff_action(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: str,
    *,
    version: int,
    comment: str | None,
    refusal: RefusalGrounds | None,
    actor: engine.CaseActor,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    """An action of staff on a request (the engine checks the state and who may take it first;
    the service's own rules come after: documents on file to accept, grounds to refuse)."""
    await head(session, case_id)
    if action in OWN_ENDPOINT:
        raise ActionHasOwnEndpoint(data={"action": action, "endpoint": OWN_ENDPOINT[action]})
    if refusal is not None and action != "refuse":
        raise InvalidInput("refusal", "grounds are given with a refusal only", code="refusal_not_expected")
    data = {"refusal": msgspec.to_builtins(refusal)} if action == "refuse" and refusal is not None else None
    case = await take_action(
        session, case_id, action, actor=actor, expected_version=version, now=now, comment=comment, data=data,
        origin=origin,
    )  # fmt: skip
    if action == "refuse":
        await check_refusal(session, case_id, refusal)
    elif action == "accept":
        check_documents(case, await documents_on_file(session, case_id))
    if case.state == WITHDRAWN:
        await close_open_record(session, case_id, now=now, by=actor_label(actor.audit))
    return case


async def close_open_record(session: AsyncSession, case_id: uuid.UUID, *, now: dt.datetime, by: str) -> None:
    """A withdrawn request's open deficiency record is closed (nothing is awaited any more)."""
    await session.execute(_CLOSE_OPEN_RECORD, {"r_case_id": case_id, "r_now": now, "r_by": by})


async def applicant_withdraw(
    session: AsyncSession,
    case_id: uuid.UUID,
    citizen_id: uuid.UUID,
    *,
    version: int,
    comment: str | None,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    await head(session, case_id, citizen_id=citizen_id)
    actor = engine.citizen_actor(citizen_id)
    case = await take_action(
        session, case_id, "withdraw", actor=actor, expected_version=version, now=now, comment=comment, origin=origin
    )
    await close_open_record(session, case_id, now=now, by=actor_label(actor.audit))
    return case


async def assign(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    unit_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
    version: int,
    actor: engine.CaseActor,
    origin: Origin,
) -> engine.Case:
    await head(session, case_id)
    return await engine.assign(
        session, case_id, unit_id=unit_id, staff_id=staff_id, actor=actor, expected_version=version, origin=origin
    )


# --- comments -------------------------------------------------------------------------------------------


async def add_comment(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    body: str,
    visible_to_applicant: bool,
    author: Actor,
    now: dt.datetime,
    origin: Origin,
    citizen_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A comment on the request (the applicant's own, with ``citizen_id``, is always visible to both)."""
    await head(session, case_id, citizen_id=citizen_id)
    if author.id is None:
        raise StaffUnknown()
    comment_id: uuid.UUID = (
        await session.execute(
            insert(_M)
            .values(
                case_id=case_id,
                author_kind="citizen" if citizen_id is not None else "staff",
                author_id=uuid.UUID(author.id),
                body=body.strip(),
                visible_to_applicant=visible_to_applicant or citizen_id is not None,
                created_at=now,
            )
            .returning(_M.c.id)
        )
    ).scalar_one()
    await record_audit(
        session,
        "oss.case.commented",
        actor=author,
        origin=origin,
        target=f"case:{case_id}",
        data={"comment_id": str(comment_id), "visible_to_applicant": visible_to_applicant or citizen_id is not None},
    )
    return comment_id


# --- attachments ----------------------------------------------------------------------------------------


async def attach_file(
    session: AsyncSession,
    store: BlobStore,
    case_id: uuid.UUID,
    upload: UploadFile,
    *,
    document_code: str | None,
    uploaded_by: Actor,
    now: dt.datetime,
    origin: Origin,
    citizen_id: uuid.UUID | None = None,
) -> tuple[StoredFileRead, str | None]:
    """Keep a file for an open request (staff, or the applicant with ``citizen_id``), optionally as
    one of the documents its manual requires; checked by the kernel (size, type by content)."""
    row = await head(session, case_id, citizen_id=citizen_id)
    if row["closed_at"] is not None:
        raise CaseClosed(data={"state": row["state"]})
    if document_code is not None and document_code not in {d.code for d in request_data(row).documents}:
        raise InvalidInput(
            "document", "not a document this request's manual requires / ไม่ใช่เอกสารตามคู่มือ", code="unknown_document"
        )
    stored = await store_upload_file(
        session, store, upload, owner=file_owner(case_id), uploaded_by=uploaded_by, limits=UPLOAD_LIMITS, now=now
    )
    await session.execute(insert(_F).values(file_id=stored.id, case_id=case_id, document_code=document_code))
    await record_audit(
        session,
        "oss.case.file_added",
        actor=uploaded_by,
        origin=origin,
        target=f"case:{case_id}",
        data={"file_id": str(stored.id), "sha256": stored.sha256, "document_code": document_code},
    )
    return stored, document_code
