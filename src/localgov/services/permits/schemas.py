"""Request and response bodies of the building-permit endpoints.

:class:`ApplicationForm` is the form ข.1 as data: a draft may leave parts out (saved as they are);
submission needs them all (``applications.form_problems`` lists what is missing).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from localgov.kernel.cases import ActorKind
from localgov.kernel.documents import PublicStatus
from localgov.services.permits.deadlines import DeadlineRules
from localgov.services.permits.eligibility import AreaRules, Document, Kind, Reason, Use
from localgov.services.permits.fees import FeeTable
from localgov.services.permits.models import ApplicationChannel, ApplicationStatus
from localgov.services.permits.workflow import CaseState

Text300 = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Text2000 = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
IdNumber = Annotated[str, msgspec.Meta(min_length=13, max_length=20, description="13-digit Thai ID (checked)")]
#: Decimals are checked by the service (msgspec bounds numbers only): see ``applications.check_figures``.
Metres = Annotated[Decimal, msgspec.Meta(description="metres, 0 to 1,000")]
Area = Annotated[Decimal, msgspec.Meta(description="square metres (wah for a plot), above 0, at most 1,000,000")]
Height = Annotated[Decimal, msgspec.Meta(description="metres, above 0, at most 300")]
Licence = Annotated[str, msgspec.Meta(min_length=2, max_length=40, pattern=r"^[\w.\-/ ]+$")]
AreaType = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,39}$")]

#: Land title documents (เอกสารสิทธิ์).
TitleType = Literal["chanote", "ns3k", "ns3", "spk", "other"]
TITLE_TH = {"chanote": "โฉนดที่ดิน", "ns3k": "น.ส.3ก", "ns3": "น.ส.3", "spk": "ส.ป.ก.4-01", "other": "เอกสารสิทธิ์อื่น"}
Structure = Literal["reinforced_concrete", "steel", "wood", "masonry", "mixed"]
STRUCTURE_TH = {
    "reinforced_concrete": "คอนกรีตเสริมเหล็ก",
    "steel": "โครงสร้างเหล็ก",
    "wood": "ไม้",
    "masonry": "ก่ออิฐรับน้ำหนัก",
    "mixed": "ผสม",
}


class Party(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The applicant (ผู้ขออนุญาต): a person or a juristic person."""

    kind: Literal["person", "juristic"] = "person"
    name_th: Text300
    #: National ID (person) or juristic person's registration number: 13 digits, check digit verified.
    id_number: IdNumber
    address_th: Text300 | None = None
    phone: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    #: For a juristic person: who signs for it.
    representative_th: Text300 | None = None


class Landowner(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The landowner (เจ้าของที่ดิน) and the consent when it is not the applicant."""

    is_applicant: bool = True
    name_th: Text300 | None = None
    id_number: IdNumber | None = None
    consent: bool = False


class LandTitle(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title_type: TitleType
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    parcel_no: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    #: Area of the plot in square wah (ตารางวา).
    area_sq_wa: Area
    subdistrict_th: Text300 | None = None


class Location(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    address_th: Text300
    latitude: Annotated[float, msgspec.Meta(ge=5.0, le=21.0)]
    longitude: Annotated[float, msgspec.Meta(ge=97.0, le=106.0)]


class Setbacks(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Distances to the plot's boundaries and the road, in metres."""

    front_m: Metres
    back_m: Metres
    left_m: Metres
    right_m: Metres


class Building(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    use: Use
    structure: Structure
    storeys: Annotated[int, msgspec.Meta(ge=1, le=50)]
    height_m: Height
    floor_area_m2: Area
    footprint_m2: Area
    location: Location
    setbacks: Setbacks


class Professional(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A licensed engineer (วิศวกร) or architect (สถาปนิก) who signs the plans."""

    name_th: Text300
    licence_no: Licence


class ApplicationForm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Form ข.1: what is asked, what the building is, on whose land, signed by whom."""

    kind: Kind | None = None
    area_type: AreaType | None = None
    applicant: Party | None = None
    by_proxy: bool = False
    proxy_name_th: Text300 | None = None
    landowner: Landowner | None = None
    land: LandTitle | None = None
    building: Building | None = None
    engineer: Professional | None = None
    architect: Professional | None = None


class ApplicationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    form: ApplicationForm = msgspec.field(default_factory=ApplicationForm)


class ApplicationUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The version the caller saw (a stale save is refused: 409).
    version: Annotated[int, msgspec.Meta(ge=1)]
    form: ApplicationForm


class Versioned(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The case's version the caller saw.
    version: Annotated[int, msgspec.Meta(ge=1)]
    comment: Text2000 | None = None


class InspectionSchedule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]
    at: dt.datetime
    place_th: Text300 | None = None


class InspectionResult(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]
    passed: bool
    note: Text2000


class FeeAssessment(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]
    #: The payer record in the payments service the bill is addressed to. Omitted: the applicant's
    #: own (found by the 13-digit ID, or made from the application's applicant).
    payer_id: uuid.UUID | None = None
    comment: Text2000 | None = None


class Decision(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]
    approve: bool
    #: The reasons (required for a refusal).
    reasons_th: Text2000 | None = None


class ExtensionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=365)]
    reason_th: Text2000


class PermitEnd(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason_th: Text2000


class EligibilityCheck(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Kind
    use: Use
    storeys: Annotated[int, msgspec.Meta(ge=1, le=50)]
    height_m: Height
    floor_area_m2: Area
    area_type: AreaType | None = None


class EligibilityRead(msgspec.Struct, kw_only=True):
    area_type: str
    eligible: bool
    simplified: bool
    engineer_required: bool
    architect_required: bool
    reasons: list[Reason]
    documents: list[Document]
    route_th: str | None = None
    route_en: str | None = None


class ChecklistItem(msgspec.Struct, kw_only=True):
    code: str
    name_th: str
    name_en: str
    on_file: bool


class FileRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    document_code: str
    filename: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime
    download_path: str


class StepRead(msgspec.Struct, kw_only=True):
    seq: int
    action: str
    from_state: CaseState | None
    to_state: CaseState
    actor_kind: ActorKind
    at: dt.datetime
    comment: str | None


class ExtensionRead(msgspec.Struct, kw_only=True):
    seq: int
    days: int
    reason_th: str
    previous_due_on: dt.date
    due_on: dt.date
    granted_at: dt.datetime


class PermitRead(msgspec.Struct, kw_only=True):
    number: str
    issued_at: dt.datetime
    valid_from: dt.date
    valid_until: dt.date
    #: ``valid``, ``expired``, ``revoked`` (the register's public status).
    status: PublicStatus
    renewals: int
    verification_url: str
    revoked_at: dt.datetime | None = None
    revoke_reason: str | None = None


class ApplicationRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: ApplicationStatus
    channel: ApplicationChannel
    version: int
    form: ApplicationForm
    created_at: dt.datetime
    #: What the form still lacks for a submission (empty: complete).
    missing: list[str]
    eligibility: EligibilityRead | None
    checklist: list[ChecklistItem]
    files: list[FileRead]
    tracking_number: str | None = None
    submitted_at: dt.datetime | None = None
    #: The case on the engine (submitted applications).
    case_id: uuid.UUID | None = None
    state: CaseState | None = None
    state_title_th: str | None = None
    case_version: int | None = None
    history: list[StepRead] = msgspec.field(default_factory=list)
    complete_on: dt.date | None = None
    decision_due_on: dt.date | None = None
    extensions: list[ExtensionRead] = msgspec.field(default_factory=list)
    inspection_at: dt.datetime | None = None
    inspection_place_th: str | None = None
    inspection_passed: bool | None = None
    inspection_note: str | None = None
    fee_total: Decimal | None = None
    bill_reference: str | None = None
    paid_at: dt.datetime | None = None
    receipt_number: str | None = None
    permit: PermitRead | None = None


class ApplicationSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: ApplicationStatus
    channel: ApplicationChannel
    applicant_name: str | None
    kind: Kind | None
    tracking_number: str | None
    state: CaseState | None
    permit_number: str | None
    created_at: dt.datetime


class ApplicationPage(msgspec.Struct, kw_only=True):
    items: list[ApplicationSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class SettingsRead(msgspec.Struct, kw_only=True):
    rules: dict[str, AreaRules]
    fees: FeeTable
    deadlines: DeadlineRules
    default_area_type: str
    issue_before_payment: bool
    validity_days: int
    fee_due_days: int
    thai_digits: bool
    #: Figures of DOMAIN.md the LAO's legal officer must confirm (``verify``): where they live.
    verify: list[str]


class SettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rules: dict[AreaType, AreaRules]
    fees: FeeTable
    deadlines: DeadlineRules
    default_area_type: AreaType
    issue_before_payment: bool = False
    validity_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365
    fee_due_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    thai_digits: bool = False


class EmblemRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    media_type: str
    size: int
    sha256: str
