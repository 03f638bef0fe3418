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

from localgov.kernel.text import ONE_LINE

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


class ServiceList(msgspec.Struct, kw_only=True):
    items: list[ServiceSummary]


class ServiceVersionSummary(msgspec.Struct, kw_only=True):
    version: int
    created_at: dt.datetime
    created_by: str | None
    note: str | None
    published: bool


class ServiceVersionList(msgspec.Struct, kw_only=True):
    """The edit history of a manual, newest first."""

    service_id: uuid.UUID
    code: str
    items: list[ServiceVersionSummary]


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


class PublicServiceList(msgspec.Struct, kw_only=True):
    lao_name_th: str
    lao_name_en: str
    items: list[PublicServiceSummary]


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


class ServicePointList(msgspec.Struct, kw_only=True):
    items: list[ServicePointRead]


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
