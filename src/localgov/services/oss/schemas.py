"""Request and response bodies of the One Stop Service endpoints.

The manual of a service (:class:`ServiceManual`, คู่มือสำหรับประชาชน) is both what staff send and
what is stored (as JSON, one snapshot per version). Responses are named ``<Thing>Read``; requests
``<Thing>Create`` / ``<Thing>Update``. Shapes are checked here (400 ``validation_error``); the rules
between fields (fees or an explicit "no fee", the total time within the legal limit, units that
exist) are checked by :mod:`localgov.services.oss.catalogue` (422 with the field in ``data``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from localgov.kernel.cases import ActorKind, CaseStateCode, CaseTypeCode
from localgov.kernel.text import ONE_LINE
from localgov.services.oss.workflow import OpenState, RequestState, RequestType

# --- text -------------------------------------------------------------------------------------------

#: Text over several lines (criteria, remarks): not blank, no control character but tab and newlines.
PARAGRAPH = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Line200 = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Line300 = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=ONE_LINE)]
Line500 = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=ONE_LINE)]
Paragraph = Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=PARAGRAPH)]
Url = Annotated[
    str,
    msgspec.Meta(max_length=500, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f\"<>]*)?$"),
]
ServiceCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z][a-z0-9-]{1,59}$",
        description="Lower-case letters, digits and hyphens, 2-60 characters; in the manual's public address",
        examples=["building-permit"],
    ),
]
PointCode = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Z]{1,2}$", description="One or two capital letters: ticket numbers start with them"),
]
Desk = Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=ONE_LINE, examples=["2"])]
Count = Annotated[int, msgspec.Meta(ge=0, le=99)]
TimeUnit = Literal["minutes", "hours", "days"]
TicketStatus = Literal["waiting", "called", "served", "no_show", "cancelled"]
ServiceStatus = Literal["draft", "published", "withdrawn"]


# --- the manual (คู่มือสำหรับประชาชน) ------------------------------------------------------------------


class Duration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A time as the manual states it. ``days`` are days as the manual counts them (working days,
    วันทำการ); to add steps of different units a day counts 7 working hours (08:30–16:30 with an
    hour's lunch)."""

    value: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    unit: TimeUnit


class LegalBasis(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A law, regulation or ordinance the service rests on (กฎหมายที่ให้อำนาจการอนุญาฯ)."""

    title_th: Line500
    title_en: Line500 | None = None


class Channel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where and when the service is given (สถานที่/ช่องทางการให้บริการ และระยะเวลาเปิดให้บริการ)."""

    kind: Literal["counter", "online", "phone", "mail"] = "counter"
    place_th: Line500
    place_en: Line500 | None = None
    hours_th: Line300
    hours_en: Line300 | None = None
    url: Url | None = None
    note_th: Line500 | None = None


class Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One step of the procedure (ขั้นตอน), its time and the unit responsible for it.

    ``unit_id`` names a unit of the LAO (kernel.org); its name is copied into ``unit_th`` when the
    manual is saved. Without a unit, ``unit_th`` is required.
    """

    title_th: Line200
    title_en: Line200 | None = None
    description_th: Paragraph | None = None
    description_en: Paragraph | None = None
    duration: Duration
    unit_id: uuid.UUID | None = None
    unit_th: Line200 | None = None


class RequiredDocument(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A document the applicant brings (เอกสารหลักฐานประกอบ), who issues it and how many."""

    name_th: Line300
    name_en: Line300 | None = None
    #: The agency that issues it (หน่วยงานภาครัฐผู้ออกเอกสาร), or ``ผู้ยื่นคำขอ`` for what the applicant writes.
    issued_by_th: Line200
    issued_by_en: Line200 | None = None
    originals: Count = 0
    copies: Count = 0
    #: ``identity``: documents that prove who the applicant is (เอกสารยืนยันตัวตน); ``other``: the rest.
    group: Literal["identity", "other"] = "other"
    note_th: Line500 | None = None


class Fee(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A fee (ค่าธรรมเนียม): a fixed ``amount`` in baht, or a rate in words (``rate_th``)."""

    description_th: Line300
    description_en: Line300 | None = None
    amount: Decimal | None = None
    rate_th: Line500 | None = None
    rate_en: Line500 | None = None
    note_th: Line500 | None = None


class ComplaintChannel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where to complain (ช่องทางการร้องเรียน แนะนำบริการ)."""

    name_th: Line300
    name_en: Line300 | None = None
    contact_th: Line500
    contact_en: Line500 | None = None


class Form(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A form, its example or its filling guide (แบบฟอร์ม ตัวอย่าง และคู่มือการกรอก)."""

    title_th: Line300
    title_en: Line300 | None = None
    url: Url | None = None
    note_th: Line500 | None = None


class ServiceManual(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The public manual of a service (คู่มือสำหรับประชาชน), under the Licensing Facilitation Act B.E. 2558.

    ``legal_time_limit`` and ``no_fee`` must be sent even when empty or false: a manual says
    "no time set by law" (null) and "no fee" (``no_fee: true`` with no ``fees``) explicitly.
    """

    name_th: Line300
    name_en: Line300
    #: The unit that owns the service (หน่วยงานที่รับผิดชอบ): a unit of the LAO, its name copied
    #: into ``owning_unit_th`` on save; or only ``owning_unit_th`` until the LAO links one.
    owning_unit_id: uuid.UUID | None = None
    owning_unit_th: Line200 | None = None
    legal_basis: Annotated[list[LegalBasis], msgspec.Meta(min_length=1, max_length=30)]
    #: Null: the law sets no time limit (ไม่ได้กำหนดไว้ในกฎหมาย).
    legal_time_limit: Duration | None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=20)]
    criteria_th: Paragraph
    criteria_en: Paragraph | None = None
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=50)]
    documents: Annotated[list[RequiredDocument], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    no_fee: bool
    fees: Annotated[list[Fee], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    complaint_channels: Annotated[list[ComplaintChannel], msgspec.Meta(min_length=1, max_length=20)]
    forms: Annotated[list[Form], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    remarks_th: Paragraph | None = None
    remarks_en: Paragraph | None = None


# --- catalogue requests -----------------------------------------------------------------------------


class ServiceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new service of the catalogue, saved as a draft (version 1)."""

    code: ServiceCode
    manual: ServiceManual
    note: Line500 | None = None


class ServiceUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new version of the manual. ``version`` is the version the editor started from: another
    editor's save in between answers 409 ``version_conflict``."""

    version: Annotated[int, msgspec.Meta(ge=1)]
    manual: ServiceManual
    note: Line500 | None = None


class ServicePublish(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Publish ``version``, which must be the current one (what the publisher read)."""

    version: Annotated[int, msgspec.Meta(ge=1)]


# --- catalogue responses ----------------------------------------------------------------------------


class TotalTime(msgspec.Struct, kw_only=True):
    """The total time of the steps (ระยะเวลาดำเนินการรวม), computed, never typed."""

    minutes: int
    text_th: str
    text_en: str


class TimeLimit(msgspec.Struct, kw_only=True):
    """The legal time limit in words (null ``minutes``: none set by law)."""

    minutes: int | None
    text_th: str
    text_en: str


class ServiceRead(msgspec.Struct, kw_only=True):
    """A service of the catalogue as staff see it: the current version and its state."""

    id: uuid.UUID
    code: str
    status: ServiceStatus
    version: int
    #: The version the public sees (null: never published).
    published_version: int | None
    #: Saved after the published version: the public does not see it yet.
    has_unpublished_changes: bool
    manual: ServiceManual
    total_time: TotalTime
    legal_time_limit: TimeLimit
    created_at: dt.datetime
    created_by: str | None
    updated_at: dt.datetime
    updated_by: str | None
    published_at: dt.datetime | None
    published_by: str | None


class ServiceSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name_th: str
    name_en: str
    status: ServiceStatus
    version: int
    published_version: int | None
    has_unpublished_changes: bool
    updated_at: dt.datetime


class ServicePage(msgspec.Struct, kw_only=True):
    items: list[ServiceSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class ServiceVersionSummary(msgspec.Struct, kw_only=True):
    version: int
    created_at: dt.datetime
    created_by: str | None
    note: str | None
    published: bool


class ServiceVersionPage(msgspec.Struct, kw_only=True):
    """The edit history of a manual, newest first."""

    service_id: uuid.UUID
    code: str
    items: list[ServiceVersionSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class ServiceVersionRead(msgspec.Struct, kw_only=True):
    service_id: uuid.UUID
    version: int
    created_at: dt.datetime
    created_by: str | None
    note: str | None
    manual: ServiceManual
    total_time: TotalTime


class PublicServiceSummary(msgspec.Struct, kw_only=True):
    """A published service in the public catalogue."""

    code: str
    name_th: str
    name_en: str
    owning_unit_th: str | None
    total_time: TotalTime
    no_fee: bool
    #: The server-rendered manual (Thai and English, printable).
    page_path: str


class PublicServicePage(msgspec.Struct, kw_only=True):
    lao_name_th: str
    lao_name_en: str
    items: list[PublicServiceSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class PublicService(msgspec.Struct, kw_only=True):
    """A published manual, as anyone on the LAO's host reads it."""

    code: str
    version: int
    published_at: dt.datetime
    #: The publication date in the Buddhist Era (``6 ธันวาคม 2569``).
    published_date_be: str
    lao_name_th: str
    lao_name_en: str
    manual: ServiceManual
    total_time: TotalTime
    legal_time_limit: TimeLimit
    page_path: str


# --- counter: service points and tickets ------------------------------------------------------------


class ServicePointCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: PointCode
    name_th: Line200
    name_en: Line200 | None = None
    location_th: Line300 | None = None


class ServicePointUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; null clears an optional one. An inactive point issues no ticket."""

    name_th: Line200 | msgspec.UnsetType = msgspec.UNSET
    name_en: Line200 | msgspec.UnsetType | None = msgspec.UNSET
    location_th: Line300 | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class ServicePointRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name_th: str
    name_en: str | None
    location_th: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The waiting-room display page of the point.
    display_path: str


class ServicePointPage(msgspec.Struct, kw_only=True):
    items: list[ServicePointRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class TicketIssue(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A ticket for the next visitor; ``service_id``: what they came for (a service of the catalogue)."""

    service_id: uuid.UUID | None = None


class CallNext(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The desk (ช่องบริการ) calling: it gets the first waiting ticket of its point today."""

    desk: Desk


class TicketRead(msgspec.Struct, kw_only=True):
    """A queue ticket as staff see it, with the addresses of its slip and of its public page."""

    id: uuid.UUID
    point_id: uuid.UUID
    number: str
    service_day: dt.date
    status: TicketStatus
    service_id: uuid.UUID | None
    desk: str | None
    issued_at: dt.datetime
    called_at: dt.datetime | None
    finished_at: dt.datetime | None
    #: The printable slip (HTML) and the page its QR opens.
    slip_path: str
    follow_path: str
    follow_url: str


class TicketPage(msgspec.Struct, kw_only=True):
    items: list[TicketRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class PointRef(msgspec.Struct, kw_only=True):
    code: str
    name_th: str
    name_en: str | None


class PublicTicket(msgspec.Struct, kw_only=True):
    """What the holder of a slip sees: where the ticket stands in the queue."""

    number: str
    point: PointRef
    service_day: dt.date
    status: TicketStatus
    issued_at: dt.datetime
    #: Waiting tickets before this one (null unless waiting).
    ahead: int | None
    #: Minutes until it is called, estimated (null unless waiting).
    estimated_wait_minutes: int | None
    desk: str | None
    called_at: dt.datetime | None


class ServingNow(msgspec.Struct, kw_only=True):
    desk: str
    number: str
    called_at: dt.datetime


class Board(msgspec.Struct, kw_only=True):
    """The waiting room's display: the numbers being served at each desk and the next ones."""

    point: PointRef
    service_day: dt.date
    serving: list[ServingNow]
    next: list[str]
    waiting: int


class Spread(msgspec.Struct, kw_only=True):
    """Seconds: mean, median and 90th percentile (null without data)."""

    mean: float | None
    p50: float | None
    p90: float | None


class PointDayStats(msgspec.Struct, kw_only=True):
    """A service point's day: tickets by outcome, time waited before the call, time at the desk."""

    point_id: uuid.UUID
    point_code: str
    day: dt.date
    issued: int
    served: int
    no_show: int
    cancelled: int
    #: Still waiting or called at the end of the data.
    open: int
    #: From issue to call, for every ticket called.
    wait_seconds: Spread
    #: From call to served, for served tickets.
    service_seconds: Spread


class QueueStats(msgspec.Struct, kw_only=True):
    date_from: dt.date
    date_to: dt.date
    items: list[PointDayStats]


# --- requests (cases): intake --------------------------------------------------------------------------

#: A Thai ID as people type it (Thai digits, spaces and hyphens accepted); checked by its check digit.
ThaiIdText = Annotated[str, msgspec.Meta(min_length=13, max_length=20, examples=["1101700203450"])]
PhoneText = Annotated[str, msgspec.Meta(min_length=9, max_length=40, examples=["053-123456"])]
EmailText = Annotated[str, msgspec.Meta(min_length=3, max_length=254, examples=["somchai@example.com"])]
Version = Annotated[int, msgspec.Meta(ge=1, le=2_000_000_000, description="The case's version the caller saw")]
CommentText = Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=PARAGRAPH)]


class WalkInCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request received at the counter for a citizen (walk-in): the officer types it in.

    ``ticket_id`` links the visitor's queue ticket. The check starts at once (the officer is at the
    counter with the applicant): the case is received and goes to ``checking`` in one request.
    """

    service_code: ServiceCode
    applicant_name: Line300
    #: The applicant's 13-digit Thai ID (checked by its check digit; Thai digits accepted).
    applicant_thai_id: ThaiIdText
    phone: PhoneText | None = None
    email: EmailText | None = None
    address_th: Line500 | None = None
    #: What the applicant asks for, in his words.
    details_th: Paragraph | None = None
    ticket_id: uuid.UUID | None = None
    #: The officer's note on the opening (internal).
    note: CommentText | None = None


class OnlineCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request a signed-in citizen files online (the applicant is his account)."""

    service_code: ServiceCode
    #: Default: the name of the citizen's account.
    applicant_name: Line300 | None = None
    applicant_thai_id: ThaiIdText | None = None
    phone: PhoneText | None = None
    email: EmailText | None = None
    address_th: Line500 | None = None
    details_th: Paragraph | None = None


# --- requests (cases): work on a case -----------------------------------------------------------------


class RefusalGrounds(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why a request is refused: items of the case's deficiency records (their ids), and/or a legal
    ground in words. Items that were not on a record of this case are refused (422
    ``refusal_item_not_recorded``); with no item, the legal ground is required."""

    items: Annotated[list[uuid.UUID], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    legal_ground_th: Paragraph | None = None


class ActionTake(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Take an action on a case, against the ``version`` the caller saw (409 when it changed)."""

    version: Version
    comment: CommentText | None = None
    #: Only for ``refuse`` (required there).
    refusal: RefusalGrounds | None = None


class CaseAssign(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Assign the case to a unit and/or a member of staff (null clears)."""

    version: Version
    unit_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None


class CommentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A comment on a case: an internal note, or a message the applicant reads."""

    body: CommentText
    visible_to_applicant: bool = False


class ApplicantCommentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The applicant's message on his request (staff read it)."""

    body: CommentText


class Withdrawal(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Version
    comment: CommentText | None = None


class DeficiencyItemCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A missing item: a required document of the case's manual (``document_code``: ``doc.1`` …)
    or a criterion not met (``criterion_th``), with a note."""

    kind: Literal["document", "criterion"]
    document_code: Annotated[str, msgspec.Meta(pattern=r"^doc\.[1-9][0-9]{0,2}$")] | None = None
    criterion_th: Line500 | None = None
    note_th: Line500 | None = None


class DeficiencyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A deficiency record (บันทึกความบกพร่อง) for a case being checked: the case waits in
    ``deficient`` (its clock stops) until the applicant supplies the items, or the deadline — in
    working days from today, the LAO's calendar — passes and the request is returned."""

    version: Version
    items: Annotated[list[DeficiencyItemCreate], msgspec.Meta(min_length=1, max_length=50)]
    deadline_working_days: Annotated[int, msgspec.Meta(ge=1, le=90)]
    note_th: Paragraph | None = None
    #: The applicant, at the counter, signed the printed record at once.
    applicant_signed: bool = False


class ApplicantSignature(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The applicant signed the printed record at the counter; ``signed_copy_file_id``: its scan,
    an attachment of the case (optional)."""

    signed_copy_file_id: uuid.UUID | None = None


class DeficiencySupplied(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The applicant supplied the items (uploaded, or brought to the counter): the check resumes."""

    version: Version
    comment: CommentText | None = None


class StateSettingUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The LAO's time limit and default assignee of one open state of an OSS case type; all null
    removes the setting (the workflow's defaults apply)."""

    case_type: RequestType
    state: OpenState
    sla_days: Annotated[int, msgspec.Meta(ge=1, le=2600)] | None = None
    assignee_unit_id: uuid.UUID | None = None
    assignee_staff_id: uuid.UUID | None = None


class TrackQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The tracking number and the verification code printed on the receipt (Thai digits accepted)."""

    tracking_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40, examples=["5500101-2570-000042"])]
    verification_code: Annotated[str, msgspec.Meta(min_length=1, max_length=40, examples=["7KQ2M-X9TRB"])]


# --- responses (cases) --------------------------------------------------------------------------------


class ServiceRef(msgspec.Struct, kw_only=True):
    """The catalogue service a request is for, and the version of its manual at intake."""

    id: uuid.UUID
    code: str
    version: int
    name_th: str
    name_en: str


class RequiredDocumentRead(msgspec.Struct, kw_only=True):
    """A document the manual requires (as it stood at intake) and whether a file of it is on file."""

    code: str
    name_th: str
    name_en: str | None
    issued_by_th: str
    originals: int
    copies: int
    on_file: bool


class ApplicantRead(msgspec.Struct, kw_only=True):
    name: str
    citizen_id: uuid.UUID | None
    thai_id: str | None
    phone: str | None
    email: str | None
    address_th: str | None


class CaseStep(msgspec.Struct, kw_only=True):
    """One step of a case's history."""

    seq: int
    action: str
    action_title_th: str
    action_title_en: str
    from_state: CaseStateCode | None
    to_state: CaseStateCode
    to_state_title_th: str
    actor_kind: ActorKind
    #: The member of staff or the citizen (staff's view only).
    actor_id: uuid.UUID | None
    at: dt.datetime
    comment: str | None


class CaseFileRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    created_at: dt.datetime
    #: Which required document it is (``doc.1`` …), if the uploader said.
    document_code: str | None
    download_path: str


class DeficiencyItemRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    seq: int
    kind: Literal["document", "criterion"]
    document_code: str | None
    label_th: str
    note_th: str | None


class DeficiencyRecordRead(msgspec.Struct, kw_only=True):
    """A deficiency record, its items and who acknowledged it."""

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
    items: list[DeficiencyItemRead]
    #: The printable record (PDF, with its QR to the public verification page).
    pdf_path: str


class CommentRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    author_kind: Literal["staff", "citizen"]
    #: The member of staff or the citizen (staff's view only).
    author_id: uuid.UUID | None
    body: str
    visible_to_applicant: bool
    created_at: dt.datetime


class OssCaseRead(msgspec.Struct, kw_only=True):
    """A request as staff see it: the case, its manual at intake, files, deficiency records, comments."""

    id: uuid.UUID
    case_type: RequestType
    tracking_number: str
    state: RequestState
    state_title_th: str
    state_title_en: str
    version: int
    channel: Literal["online", "counter"]
    service: ServiceRef
    applicant: ApplicantRead
    details_th: str | None
    ticket_id: uuid.UUID | None
    assigned_unit_id: uuid.UUID | None
    assigned_staff_id: uuid.UUID | None
    opened_at: dt.datetime
    state_entered_at: dt.datetime
    state_due_at: dt.datetime | None
    due_at: dt.datetime | None
    #: The case's overall time in working days (the manual's total time).
    sla_days: int | None
    paused_days: int
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    overdue: bool
    required_documents: list[RequiredDocumentRead]
    refusal: RefusalGrounds | None
    history: list[CaseStep]
    files: list[CaseFileRead]
    deficiencies: list[DeficiencyRecordRead]
    comments: list[CommentRead]
    #: The printable receipt (ใบรับคำขอ) with the tracking number and the verification code.
    receipt_path: str


class CaseOpened(msgspec.Struct, kw_only=True):
    """A new request, with the verification code the public status lookup asks for."""

    case: OssCaseRead
    verification_code: str
    #: The public status page of the request (the QR on the receipt).
    track_url: str


class VerificationCodeRead(msgspec.Struct, kw_only=True):
    tracking_number: str
    verification_code: str
    track_url: str


class CaseSummaryRead(msgspec.Struct, kw_only=True):
    """A case as an inbox lists it (any service's case: the One Stop Service is the front door)."""

    id: uuid.UUID
    case_type: CaseTypeCode
    case_type_title_th: str
    tracking_number: str | None
    state: CaseStateCode
    state_title_th: str
    state_title_en: str
    version: int
    applicant_name: str
    assigned_unit_id: uuid.UUID | None
    assigned_staff_id: uuid.UUID | None
    opened_at: dt.datetime
    state_entered_at: dt.datetime
    state_due_at: dt.datetime | None
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    overdue: bool


class CasePage(msgspec.Struct, kw_only=True):
    """A page of cases; the next page: ``?after=<id of the last item>``."""

    items: list[CaseSummaryRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class ActionRead(msgspec.Struct, kw_only=True):
    code: str
    title_th: str
    title_en: str
    to_state: CaseStateCode
    comment_required: bool
    #: Where it is taken when not at ``POST .../actions/{code}`` (deficiency records).
    endpoint: str | None


class AvailableActions(msgspec.Struct, kw_only=True):
    """What the caller may do to the case now."""

    case_id: uuid.UUID
    state: CaseStateCode
    version: int
    actions: list[ActionRead]


class MyCaseSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    tracking_number: str
    service_name_th: str
    service_name_en: str
    state: RequestState
    state_title_th: str
    state_title_en: str
    version: int
    opened_at: dt.datetime
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None


class MyCaseOpened(msgspec.Struct, kw_only=True):
    """A request filed online, with the verification code the public status lookup asks for."""

    case: MyCaseRead
    verification_code: str
    track_url: str


class MyCasePage(msgspec.Struct, kw_only=True):
    """The citizen's requests, newest first; the next page: ``?after=<id of the last item>``."""

    items: list[MyCaseSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class MyCaseRead(msgspec.Struct, kw_only=True):
    """A request as its applicant sees it: no staff identities, no internal notes."""

    id: uuid.UUID
    tracking_number: str
    state: RequestState
    state_title_th: str
    state_title_en: str
    version: int
    channel: Literal["online", "counter"]
    service: ServiceRef
    applicant: ApplicantRead
    details_th: str | None
    opened_at: dt.datetime
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    required_documents: list[RequiredDocumentRead]
    refusal: RefusalGrounds | None
    history: list[CaseStep]
    files: list[CaseFileRead]
    deficiencies: list[DeficiencyRecordRead]
    comments: list[CommentRead]
    #: What he may do now (``withdraw``, ``supply``).
    actions: list[str]
    receipt_path: str


class PublicStep(msgspec.Struct, kw_only=True):
    at: dt.datetime
    title_th: str
    title_en: str


class PublicDeficiency(msgspec.Struct, kw_only=True):
    deadline: dt.date
    items_th: list[str]


class PublicCaseStatus(msgspec.Struct, kw_only=True):
    """Where a request stands, for whoever holds its receipt (tracking number + verification code)."""

    tracking_number: str
    lao_name_th: str
    lao_name_en: str
    service_name_th: str
    service_name_en: str
    #: The applicant's name, masked (``สมชาย ใ***``).
    applicant_masked: str
    state: RequestState
    state_title_th: str
    state_title_en: str
    received_at: dt.datetime
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    steps: list[PublicStep]
    #: The open deficiency record: what to bring, by when.
    deficiency: PublicDeficiency | None


class StateSettingRead(msgspec.Struct, kw_only=True):
    sla_days: int | None
    assignee_unit_id: uuid.UUID | None
    assignee_staff_id: uuid.UUID | None


class CaseStateRead(msgspec.Struct, kw_only=True):
    code: str
    title_th: str
    title_en: str
    #: The workflow's time limit in working days (null: none of its own).
    sla_days: int | None
    terminal: bool
    decision: bool
    pauses_clock: bool
    #: The LAO's own setting of the state (null: the workflow's defaults).
    setting: StateSettingRead | None


class CaseActionDef(msgspec.Struct, kw_only=True):
    code: str
    title_th: str
    title_en: str
    from_states: list[str]
    to_state: RequestState
    permissions: list[str]
    applicant: bool
    system: bool
    comment_required: bool


class CaseTypeRead(msgspec.Struct, kw_only=True):
    """A case type of the One Stop Service, its workflow and the LAO's settings of its states."""

    code: str
    title_th: str
    title_en: str
    states: list[CaseStateRead]
    actions: list[CaseActionDef]


class CaseTypeList(msgspec.Struct, kw_only=True):
    items: list[CaseTypeRead]


class CaseFilePage(msgspec.Struct, kw_only=True):
    items: list[CaseFileRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class CommentPage(msgspec.Struct, kw_only=True):
    items: list[CommentRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None
