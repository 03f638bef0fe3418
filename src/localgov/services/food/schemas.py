"""Request and response bodies of the food service (``XCreate`` / ``XUpdate`` / ``XRead``)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from localgov.kernel.text import ONE_LINE
from localgov.services.food.models import (
    CertificateEventKind,
    CertificateStatus,
    FeeKind,
    FeeStatus,
    HolderKind,
    InspectionResult,
    PremisesKind,
)
from localgov.services.food.workflow import CaseState

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$")]
Part = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Version = Annotated[int, msgspec.Meta(ge=1)]


class AddressIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A Thai address in parts (house no., village, soi, road, subdistrict, district, province)."""

    house_no: Short
    moo: Short | None = None
    soi: Part | None = None
    road: Part | None = None
    subdistrict: Part
    district: Part
    province: Part
    postal_code: Short | None = None


class Notifier(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The person or juristic person who notifies (ผู้แจ้ง) and will hold the certificate."""

    kind: HolderKind = "person"
    name: Name
    #: 13-digit national ID or juristic tax ID (check digit verified; Thai digits and dashes accepted).
    national_id: Short
    address: AddressIn
    phone: Short
    email: Email | None = None


class Establishment(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The food-sale (cooked, ready to eat) or food-storage place."""

    name: Name
    kind: PremisesKind
    #: Square metres, at most 2 decimals; above 200 m² the licence route applies (422).
    area_m2: Decimal
    address: AddressIn
    #: WGS 84 degrees (−90…90, −180…180; at most 6 decimals).
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    seats: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    opening_hours: Part | None = None


class NotificationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    notifier: Notifier
    establishment: Establishment
    note: LongText | None = None


class StepRead(msgspec.Struct, kw_only=True):
    seq: int
    action: str
    from_state: CaseState | None
    to_state: CaseState
    at: dt.datetime
    comment: str | None


class DocumentRead(msgspec.Struct, kw_only=True):
    code: str
    title_th: str
    title_en: str
    required: bool
    on_file: bool


class FileRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    document_code: str
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: dt.datetime
    url: str


class NotificationRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    case_id: uuid.UUID
    tracking_number: str | None
    state: CaseState
    version: int
    notifier: dict[str, Any]
    establishment: dict[str, Any]
    documents: list[DocumentRead]
    files: list[FileRead]
    history: list[StepRead]
    certificate_id: uuid.UUID | None
    opened_at: dt.datetime
    due_at: dt.datetime | None


class NotificationStep(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The version of the notification the caller saw, and an optional comment."""

    version: Version
    comment: LongText | None = None


class NotificationReasonStep(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Version
    comment: LongText


class CertifyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Version
    #: Conditions printed on the certificate (เงื่อนไข); default: the standard ones.
    conditions_th: LongText | None = None


class FeeBillRead(msgspec.Struct, kw_only=True):
    year: int
    kind: FeeKind
    status: FeeStatus
    base_fee: Decimal
    waived_percent: Decimal
    amount: Decimal
    due_date: dt.date
    bill_id: uuid.UUID | None
    bill_reference: str | None


class EventRead(msgspec.Struct, kw_only=True):
    seq: int
    kind: CertificateEventKind
    at: dt.datetime
    actor: str | None
    data: dict[str, Any]


class CertificateSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    number: str
    status: CertificateStatus
    holder_name: str
    premises_name: str
    premises_kind: PremisesKind
    area_m2: Decimal
    issued_on: dt.date


class CertificateRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    notification_id: uuid.UUID
    number: str
    status: CertificateStatus
    version: int
    holder_kind: HolderKind
    holder_name: str
    holder_national_id: str
    holder_phone: str
    holder_email: str | None
    holder_address: dict[str, Any]
    premises_name: str
    premises_kind: PremisesKind
    area_m2: Decimal
    premises_address: dict[str, Any]
    premises_address_th: str
    latitude: Decimal | None
    longitude: Decimal | None
    seats: int | None
    opening_hours: str | None
    conditions_th: str | None
    annual_fee: Decimal
    issued_on: dt.date
    issued_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    next_visit_on: dt.date | None
    history: list[EventRead]
    fees: list[FeeBillRead]
    verification_url: str


class CertificatePage(msgspec.Struct, kw_only=True):
    items: list[CertificateSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class TransferIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new operator takes over the premises: the certificate keeps its number and history."""

    version: Version
    holder: Notifier
    note: LongText | None = None


class CertificateUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Change of details; only the fields present change. An area above 200 m² is refused."""

    version: Version
    premises_name: Name | msgspec.UnsetType = msgspec.UNSET
    premises_kind: PremisesKind | msgspec.UnsetType = msgspec.UNSET
    area_m2: Decimal | msgspec.UnsetType = msgspec.UNSET
    seats: Annotated[int, msgspec.Meta(ge=0, le=100000)] | msgspec.UnsetType | None = msgspec.UNSET
    opening_hours: Part | msgspec.UnsetType | None = msgspec.UNSET
    holder_phone: Short | msgspec.UnsetType = msgspec.UNSET
    holder_email: Email | msgspec.UnsetType | None = msgspec.UNSET
    conditions_th: LongText | msgspec.UnsetType | None = msgspec.UNSET


class EndIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Version
    reason: Reason


class BandIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max_area_m2: Decimal
    annual_fee: Decimal


class FeeTableUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    bands: Annotated[list[BandIn], msgspec.Meta(min_length=1, max_length=50)]


class WaiverCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    starts_on: dt.date
    ends_on: dt.date
    percent: Decimal = Decimal(100)
    note_th: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class WaiverRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    starts_on: dt.date
    ends_on: dt.date
    percent: Decimal
    note_th: str


class BandRead(msgspec.Struct, kw_only=True):
    max_area_m2: Decimal
    annual_fee: Decimal


class FeeTableRead(msgspec.Struct, kw_only=True):
    bands: list[BandRead]
    waivers: list[WaiverRead]
    late_surcharge_percent: Decimal
    late_surcharge_after_days: int
    annual_due_month: int
    annual_due_day: int


class QuoteRead(msgspec.Struct, kw_only=True):
    area_m2: Decimal
    on: dt.date
    base_fee: Decimal
    waived_percent: Decimal
    amount: Decimal
    late_surcharge: Decimal


class AnnualRunIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The BE year to bill (default: this year in Bangkok).
    year: Annotated[int, msgspec.Meta(ge=2560, le=2700)] | None = None


class AnnualRunRead(msgspec.Struct, kw_only=True):
    year: int
    certificates: int
    bills_created: int
    waived: int
    already_billed: int


class SettingsRead(msgspec.Struct, kw_only=True):
    annual_due_month: int
    annual_due_day: int
    late_surcharge_percent: Decimal
    late_surcharge_after_days: int
    first_fee_days: int
    reminder_days: int
    revisit_days: int
    publish_register: bool


class SettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    annual_due_month: Annotated[int, msgspec.Meta(ge=1, le=12)] | msgspec.UnsetType = msgspec.UNSET
    annual_due_day: Annotated[int, msgspec.Meta(ge=1, le=31)] | msgspec.UnsetType = msgspec.UNSET
    late_surcharge_percent: Decimal | msgspec.UnsetType = msgspec.UNSET
    late_surcharge_after_days: Annotated[int, msgspec.Meta(ge=0, le=365)] | msgspec.UnsetType = msgspec.UNSET
    first_fee_days: Annotated[int, msgspec.Meta(ge=1, le=90)] | msgspec.UnsetType = msgspec.UNSET
    reminder_days: Annotated[int, msgspec.Meta(ge=1, le=90)] | msgspec.UnsetType = msgspec.UNSET
    revisit_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | msgspec.UnsetType = msgspec.UNSET
    publish_register: bool | msgspec.UnsetType = msgspec.UNSET


class ChecklistItemIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    title_th: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    title_en: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None


class ChecklistUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole active checklist, in order (items left out are retired, kept for old visits)."""

    items: Annotated[list[ChecklistItemIn], msgspec.Meta(min_length=1, max_length=100)]


class ChecklistItemRead(msgspec.Struct, kw_only=True):
    code: str
    position: int
    title_th: str
    title_en: str | None


class Checklist(msgspec.Struct, kw_only=True):
    items: list[ChecklistItemRead]


class AnswerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    passed: bool
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class InspectionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    visited_on: dt.date
    answers: Annotated[list[AnswerIn], msgspec.Meta(min_length=1, max_length=100)]
    note_th: LongText | None = None


class PhotoRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    item_code: str | None
    filename: str
    media_type: str
    size: int
    url: str


class InspectionRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    certificate_id: uuid.UUID
    visited_on: dt.date
    inspector: str
    result: InspectionResult
    items: list[dict[str, Any]]
    note_th: str | None
    repeat_on: dt.date | None
    photos: list[PhotoRead]


class InspectionPage(msgspec.Struct, kw_only=True):
    items: list[InspectionRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class RegisterEntry(msgspec.Struct, kw_only=True):
    """What the public register shows: no personal data."""

    id: uuid.UUID
    number: str
    name: str
    kind: PremisesKind
    kind_th: str
    address_th: str
    status: CertificateStatus


class RegisterPage(msgspec.Struct, kw_only=True):
    items: list[RegisterEntry]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None
