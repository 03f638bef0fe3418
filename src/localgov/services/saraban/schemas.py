"""Request and response bodies of the e-Saraban service (``XCreate`` / ``XUpdate`` / ``XRead``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from localgov.kernel.storage import StoredFileRead
from localgov.kernel.text import ONE_LINE
from localgov.services.saraban.models import (
    DestructionStatus,
    Direction,
    LetterKind,
    LetterStatus,
    RecipientKind,
    RecipientStatus,
    Register,
    RouteStatus,
    Secrecy,
    Subkind,
    Urgency,
)

Line = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=ONE_LINE)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=ONE_LINE)]
Body = Annotated[str, msgspec.Meta(max_length=100_000)]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Version = Annotated[int, msgspec.Meta(ge=1)]
Years = Annotated[int, msgspec.Meta(ge=1, le=100)]
DlaCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{7}$")]
Kind = LetterKind


class RecipientIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An addressee: ``lao`` (``dla_code`` of an LAO on the platform), ``outside`` (``agency_code``
    from the operator's directory), ``unit`` / ``staff`` of this LAO, or ``text`` (a name only)."""

    kind: RecipientKind
    dla_code: DlaCode | None = None
    agency_code: Code | None = None
    unit_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    name_th: Line | None = None


class LetterCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new draft. ``subkind``: order/regulation/bylaw (directive), announcement/statement/news
    (public), certificate/report/minutes/other (evidence)."""

    kind: Kind
    subject: Line
    subkind: Subkind | None = None
    circular: bool = False
    urgency: Urgency = "normal"
    secrecy: Secrecy = "normal"
    issuing_unit_id: uuid.UUID | None = None
    salutation: Line | None = None
    references: Annotated[list[Line], msgspec.Meta(max_length=20)] = []
    enclosures: Annotated[list[Line], msgspec.Meta(max_length=50)] = []
    body: Body = ""
    signer_staff_id: uuid.UUID | None = None
    signer_position: Line | None = None
    recipients: Annotated[list[RecipientIn], msgspec.Meta(max_length=200)] = []
    retention_years: Years | None = None
    #: Secret letters: members named on it besides the author and the signer.
    named_staff_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=50)] = []


class LetterUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new revision of a draft (fields left out keep their value); ``version`` as last read."""

    version: Version
    subject: Line | None = None
    subkind: Subkind | None = None
    circular: bool | None = None
    urgency: Urgency | None = None
    secrecy: Secrecy | None = None
    issuing_unit_id: uuid.UUID | None = None
    salutation: Line | None = None
    references: Annotated[list[Line], msgspec.Meta(max_length=20)] | None = None
    enclosures: Annotated[list[Line], msgspec.Meta(max_length=50)] | None = None
    body: Body | None = None
    signer_staff_id: uuid.UUID | None = None
    signer_position: Line | None = None
    recipients: Annotated[list[RecipientIn], msgspec.Meta(max_length=200)] | None = None
    retention_years: Years | None = None
    named_staff_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=50)] | None = None
    note: Note | None = None


class LetterAction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A step of the workflow on the version last read (``note``: the reviewer's remark)."""

    version: Version
    note: Note | None = None


class IncomingCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A letter received on paper or by e-mail, registered by the registry clerk."""

    kind: Kind
    subject: Line
    sender_name: Line
    number_text: Line
    letter_date: dt.date
    subkind: Subkind | None = None
    sender_code: Code | None = None
    salutation: Line | None = None
    body: Body = ""
    urgency: Urgency = "normal"
    secrecy: Secrecy = "normal"
    signer_name: Line | None = None
    signer_position: Line | None = None
    named_staff_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=50)] = []


class RecipientRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: RecipientKind
    name_th: str
    code: str | None
    tenant_id: int | None
    unit_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    status: RecipientStatus
    receipt_no: str | None
    delivered_at: dt.datetime | None


class EventRead(msgspec.Struct, kw_only=True):
    action: str
    note: str | None
    actor: str | None
    at: dt.datetime


class LetterRead(msgspec.Struct, kw_only=True):
    """A letter with its addressees and its history (the struct saraban2's PDF and search read)."""

    id: uuid.UUID
    direction: Direction
    kind: Kind
    kind_th: str
    subkind: Subkind | None
    circular: bool
    status: LetterStatus
    status_th: str
    urgency: Urgency
    urgency_th: str
    secrecy: Secrecy
    secrecy_th: str
    issuing_unit_id: uuid.UUID | None
    number_text: str | None
    letter_date: dt.date | None
    subject: str
    salutation: str | None
    references: list[str]
    enclosures: list[str]
    body: str
    signer_staff_id: uuid.UUID | None
    signer_name: str | None
    signer_position: str | None
    sender_name: str | None
    sender_code: str | None
    retention_years: int | None
    version: int
    revisions: int
    created_at: dt.datetime
    issued_at: dt.datetime | None
    received_at: dt.datetime | None
    receive_no: str | None
    recipients: list[RecipientRead]
    events: list[EventRead]


class LetterSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    direction: Direction
    kind: Kind
    status: LetterStatus
    urgency: Urgency
    secrecy: Secrecy
    number_text: str | None
    letter_date: dt.date | None
    subject: str
    created_at: dt.datetime


class LetterList(msgspec.Struct, kw_only=True):
    items: list[LetterSummary]
    next_cursor: str | None


class RevisionRead(msgspec.Struct, kw_only=True):
    revision: int
    note: str | None
    created_at: dt.datetime
    created_by: str | None
    content: dict[str, object]


class RevisionPage(msgspec.Struct, kw_only=True):
    items: list[RevisionRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class RouteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Endorse (เกษียน) and route the letter to a unit or a member, with a due date."""

    endorsement: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    to_unit_id: uuid.UUID | None = None
    to_staff_id: uuid.UUID | None = None
    due_on: dt.date | None = None


class RouteRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    letter_id: uuid.UUID
    from_staff_id: uuid.UUID | None
    to_unit_id: uuid.UUID | None
    to_staff_id: uuid.UUID | None
    endorsement: str
    due_on: dt.date | None
    status: RouteStatus
    created_at: dt.datetime
    read_at: dt.datetime | None
    done_at: dt.datetime | None


class RouteList(msgspec.Struct, kw_only=True):
    items: list[RouteRead]


class RoutePage(msgspec.Struct, kw_only=True):
    items: list[RouteRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class InboxItem(msgspec.Struct, kw_only=True):
    route_id: uuid.UUID
    letter_id: uuid.UUID
    subject: str
    number_text: str | None
    urgency: Urgency
    secrecy: Secrecy
    endorsement: str
    due_on: dt.date | None
    overdue: bool
    read_at: dt.datetime | None
    status: RouteStatus
    created_at: dt.datetime


class Inbox(msgspec.Struct, kw_only=True):
    items: list[InboxItem]
    next_cursor: str | None


class RegisterLine(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    register: Register
    year: int
    seq: int
    register_no: str
    letter_id: uuid.UUID
    letter_no: str
    letter_date: dt.date | None
    from_th: str
    to_th: str
    subject: str
    action_th: str
    remarks: str
    recorded_at: dt.datetime
    hash: str


class RegisterPage(msgspec.Struct, kw_only=True):
    items: list[RegisterLine]
    next_cursor: str | None


class ChainReport(msgspec.Struct, kw_only=True):
    register: Register
    year: int
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    first_bad_id: uuid.UUID | None = None
    reason: str | None = None


class ChainReports(msgspec.Struct, kw_only=True):
    items: list[ChainReport]


class SettingsRead(msgspec.Struct, kw_only=True):
    agency_code: str
    thai_digits: bool
    secret_officer_ids: list[uuid.UUID]


class SettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agency_code: Code | None = None
    thai_digits: bool | None = None
    secret_officer_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] | None = None


class IssuingUnitCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Code
    name_th: Line
    unit_id: uuid.UUID | None = None


class IssuingUnitRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name_th: str
    unit_id: uuid.UUID | None
    active: bool


class IssuingUnitPage(msgspec.Struct, kw_only=True):
    items: list[IssuingUnitRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class RetentionRuleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Kind
    years: Years | None


class RetentionRules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    items: Annotated[list[RetentionRuleIn], msgspec.Meta(min_length=1, max_length=6)]


class DestructionListRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    year: int
    due_on: dt.date
    status: DestructionStatus
    letter_ids: list[uuid.UUID]
    prepared_at: dt.datetime
    approved_at: dt.datetime | None
    approved_by: str | None


class DestructionListPage(msgspec.Struct, kw_only=True):
    items: list[DestructionListRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class DestructionListCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The list of a calendar year that has ended (BE)."""

    year: Annotated[int, msgspec.Meta(ge=2500, le=2700)]


class AgencyRead(msgspec.Struct, kw_only=True):
    """An addressee of the directory: an LAO on the platform or an outside agency."""

    kind: Literal["lao", "outside"]
    code: str
    name_th: str
    #: Letters reach it electronically (an LAO running e-Saraban; an agency with an endpoint).
    electronic: bool
    province_th: str | None = None


class AgencyList(msgspec.Struct, kw_only=True):
    items: list[AgencyRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class OutsideAgencyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Code
    name_th: Line
    name_en: Line | None = None
    endpoint_url: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https://[^\s]+$")] | None = None


class OutsideAgencyUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name_th: Line | None = None
    name_en: Line | None = None
    endpoint_url: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https://[^\s]+$")] | None = None
    active: bool | None = None


class OutsideAgencyRead(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name_th: str
    name_en: str | None
    endpoint_url: str | None
    active: bool


class OutsideAgencyPage(msgspec.Struct, kw_only=True):
    items: list[OutsideAgencyRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class LetterFilePage(msgspec.Struct, kw_only=True):
    items: list[StoredFileRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None
