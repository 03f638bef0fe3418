"""e-Saraban (ระบบสารบรรณอิเล็กทรอนิกส์, Regulation on Correspondence B.E. 2526 as amended to 2564):
the LAO's letters, their drafts, registers, routing and secrecy, and the platform's directory of
outside agencies.

Tenant tables start with ``saraban_`` (the tables of every service share the LAO's schema). The
one shared table, :class:`OutsideAgency`, is the operator's directory of agencies outside the
platform (``platform.saraban_outside_agencies``, shared migration ``0011_saraban``).

Codes stored (Thai labels in :mod:`localgov.services.saraban.rules`):

* ``kind``: ``external`` (หนังสือภายนอก), ``internal`` (หนังสือภายใน / บันทึกข้อความ), ``stamped``
  (หนังสือประทับตรา), ``directive`` (หนังสือสั่งการ: ``subkind`` order/regulation/bylaw), ``public``
  (หนังสือประชาสัมพันธ์: ``subkind`` announcement/statement/news), ``evidence`` (หนังสือที่เจ้าหน้าที่
  ทำขึ้นหรือรับไว้เป็นหลักฐาน: ``subkind`` certificate/report/minutes/other);
* ``urgency``: ``normal``, ``urgent`` (ด่วน), ``very_urgent`` (ด่วนมาก), ``most_urgent`` (ด่วนที่สุด);
* ``secrecy``: ``normal``, ``confidential`` (ลับ), ``secret`` (ลับมาก), ``top_secret`` (ลับที่สุด);
* ``status``: ``draft`` → ``in_review`` → ``approved`` → ``issued`` (outgoing), ``received``
  (incoming), ``cancelled``; saraban2's signing may add ``signed`` between approved and issued.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, TenantBase

_UUID = text("gen_random_uuid()")

# The codes the CHECK constraints below allow, as the types of the columns and of the API's fields.
LetterKind = Literal["external", "internal", "stamped", "directive", "public", "evidence"]
Urgency = Literal["normal", "urgent", "very_urgent", "most_urgent"]
Secrecy = Literal["normal", "confidential", "secret", "top_secret"]
LetterStatus = Literal["draft", "in_review", "approved", "signed", "issued", "received", "cancelled"]
RecipientKind = Literal["lao", "outside", "unit", "staff", "text"]
Register = Literal["send", "receive"]
Direction = Literal["outgoing", "incoming"]
RecipientStatus = Literal["pending", "queued", "delivered", "awaiting_exchange", "failed", "done"]
RouteStatus = Literal["open", "done"]
DestructionStatus = Literal["draft", "approved"]
#: The forms of a directive, a public and an evidence letter (``rules.SUBKINDS`` by kind).
Subkind = Literal[
    "order", "regulation", "bylaw", "announcement", "statement", "news", "certificate", "report", "minutes", "other"
]
KINDS: tuple[LetterKind, ...] = get_args(LetterKind)
URGENCIES: tuple[Urgency, ...] = get_args(Urgency)
SECRECIES: tuple[Secrecy, ...] = get_args(Secrecy)
STATUSES: tuple[LetterStatus, ...] = get_args(LetterStatus)
RECIPIENT_KINDS: tuple[RecipientKind, ...] = get_args(RecipientKind)
REGISTERS: tuple[Register, ...] = get_args(Register)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class SarabanSettings(TenantBase):
    """The LAO's settings of the service (one row): its agency code (รหัสหน่วยงาน, e.g. ``ขก ๕๑๓๐๑``),
    Thai digits on documents, and its secret-letter officers (named on every secret letter received)."""

    __tablename__ = "saraban_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="1")
    agency_code: Mapped[str] = mapped_column(String(40), server_default="")
    thai_digits: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    secret_officer_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(150))


class IssuingUnit(TenantBase):
    """A unit that issues letters under its own code (``ที่ <code>/<n>``): numbers run per unit and
    calendar year; circulars (``ว``) have their own run."""

    __tablename__ = "saraban_issuing_units"
    __table_args__ = (Index("uq_saraban_issuing_units_code", "code", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    #: The kernel's unit (``units``) this code belongs to, if any.
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    code: Mapped[str] = mapped_column(String(40))
    name_th: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RetentionRule(TenantBase):
    """How long letters of a kind are kept (อายุการเก็บหนังสือ) before they go on a destruction list."""

    __tablename__ = "saraban_retention_rules"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint("years IS NULL OR years BETWEEN 1 AND 100", name="years"),
    )

    kind: Mapped[LetterKind] = mapped_column(String(20), primary_key=True)
    #: None: kept permanently (never listed for destruction).
    years: Mapped[int | None] = mapped_column(SmallInteger)


class Letter(TenantBase):
    """A letter (หนังสือราชการ), outgoing (drafted here) or incoming (received)."""

    __tablename__ = "saraban_letters"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("urgency", URGENCIES), name="urgency"),
        CheckConstraint(_in("secrecy", SECRECIES), name="secrecy"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("direction IN ('outgoing', 'incoming')", name="direction"),
        CheckConstraint("retention_years IS NULL OR retention_years BETWEEN 1 AND 100", name="retention"),
        Index("ix_saraban_letters_status_created_at", "status", "created_at"),
        Index("uq_saraban_letters_source_key", "source_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    direction: Mapped[Direction] = mapped_column(String(10))
    kind: Mapped[LetterKind] = mapped_column(String(20))
    subkind: Mapped[Subkind | None] = mapped_column(String(20))
    #: A circular (หนังสือเวียน): its number has ``ว`` before the running number.
    circular: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[LetterStatus] = mapped_column(String(12), server_default="draft")
    urgency: Mapped[Urgency] = mapped_column(String(12), server_default="normal")
    secrecy: Mapped[Secrecy] = mapped_column(String(12), server_default="normal")
    issuing_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_issuing_units.id", ondelete="RESTRICT")
    )
    #: As printed: ``ที่ ขก 51301/123``, ``ที่ ขก 51301/ว 12``, ``12/2569`` (Arabic digits stored).
    number_text: Mapped[str | None] = mapped_column(String(80))
    number_value: Mapped[int | None] = mapped_column(Integer)
    number_year: Mapped[int | None] = mapped_column(SmallInteger)
    letter_date: Mapped[dt.date | None] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(Text)
    #: เรียน (to whom the letter is addressed, as written).
    salutation: Mapped[str | None] = mapped_column(Text)
    #: อ้างถึง: the letters referred to, as written.
    references: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    #: สิ่งที่ส่งมาด้วย: the enclosures, as written (their files are kernel stored files owned by
    #: ``FileOwner("saraban.letter", id)``).
    enclosures: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    body: Mapped[str] = mapped_column(Text, server_default="")
    #: The signer: a member of the LAO (outgoing) or as written on a received letter.
    signer_staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    signer_name: Mapped[str | None] = mapped_column(Text)
    signer_position: Mapped[str | None] = mapped_column(Text)
    #: Sender as shown (incoming: the sending agency's name and code; outgoing: the LAO).
    sender_name: Mapped[str | None] = mapped_column(Text)
    sender_code: Mapped[str | None] = mapped_column(String(40))
    #: Received from another LAO: its tenant id and letter id (``source_key`` makes it land once).
    source_tenant_id: Mapped[int | None] = mapped_column(BigInteger)
    source_letter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    source_key: Mapped[str | None] = mapped_column(String(120))
    #: Kept this many years after the letter's year (None: the kind's rule; see retention).
    retention_years: Mapped[int | None] = mapped_column(SmallInteger)
    #: Free extension point for saraban2 (signing, PDF file id, search vectors' metadata).
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(150))
    author_staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LetterRevision(TenantBase):
    """One saved revision of a draft (its fields as they were), numbered from 1."""

    __tablename__ = "saraban_revisions"
    __table_args__ = (Index("uq_saraban_revisions_letter_id_revision", "letter_id", "revision", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE")
    )
    revision: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(150))


class LetterEvent(TenantBase):
    """A step of a letter's life: submitted, reviewed, returned, approved, issued, delivered …"""

    __tablename__ = "saraban_letter_events"
    __table_args__ = (Index("ix_saraban_letter_events_letter_id", "letter_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    actor_staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor: Mapped[str | None] = mapped_column(String(150))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Recipient(TenantBase):
    """An addressee of an outgoing letter: another LAO on the platform, an outside agency, a unit or
    a member of this LAO, or a name only (a paper letter). Delivery to another LAO records the
    receipt (its receive number and time) here."""

    __tablename__ = "saraban_recipients"
    __table_args__ = (
        CheckConstraint(_in("kind", RECIPIENT_KINDS), name="kind"),
        CheckConstraint(
            "status IN ('pending', 'queued', 'delivered', 'awaiting_exchange', 'failed', 'done')", name="status"
        ),
        Index("ix_saraban_recipients_letter_id", "letter_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE")
    )
    kind: Mapped[RecipientKind] = mapped_column(String(10))
    tenant_id: Mapped[int | None] = mapped_column(BigInteger)
    agency_id: Mapped[int | None] = mapped_column(BigInteger)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name_th: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[RecipientStatus] = mapped_column(String(20), server_default="pending")
    #: The recipient's receive register number and the moment it was stamped (delivery receipt).
    receipt_no: Mapped[str | None] = mapped_column(String(80))
    receipt_letter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


class RegisterEntry(TenantBase):
    """A line of the send or receive register (ทะเบียนหนังสือส่ง / รับ), numbered per calendar year
    and chained by hash: ``hash = sha256(prev_hash || canonical row)``. Entries are never updated."""

    __tablename__ = "saraban_register_entries"
    __table_args__ = (
        CheckConstraint(_in("register", REGISTERS), name="register"),
        Index("uq_saraban_register_entries_register_year_seq", "register", "year", "seq", unique=True),
        Index("ix_saraban_register_entries_letter_id", "letter_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    register: Mapped[Register] = mapped_column(String(10))
    #: The BE calendar year (the run restarts on 1 January).
    year: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(Integer)
    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="RESTRICT")
    )
    letter_no: Mapped[str] = mapped_column(String(80))
    letter_date: Mapped[dt.date | None] = mapped_column(Date)
    from_th: Mapped[str] = mapped_column(Text)
    to_th: Mapped[str] = mapped_column(Text)
    #: The subject, or ``(หนังสือลับ)`` for a secret letter.
    subject: Mapped[str] = mapped_column(Text)
    action_th: Mapped[str] = mapped_column(Text, server_default="")
    remarks: Mapped[str] = mapped_column(Text, server_default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str | None] = mapped_column(String(150))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Route(TenantBase):
    """An endorsement (เกษียนหนังสือ) and the routing of a letter to a unit or a member, with the
    read receipt and the due date."""

    __tablename__ = "saraban_routes"
    __table_args__ = (
        CheckConstraint("to_unit_id IS NOT NULL OR to_staff_id IS NOT NULL", name="addressee"),
        CheckConstraint("status IN ('open', 'done')", name="status"),
        Index("ix_saraban_routes_to_unit_id_status", "to_unit_id", "status"),
        Index("ix_saraban_routes_to_staff_id_status", "to_staff_id", "status"),
        Index("ix_saraban_routes_letter_id", "letter_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE")
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("saraban_routes.id"))
    from_staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    to_unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    to_staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: The endorsement (เกษียน) written on the letter by whoever routes it.
    endorsement: Mapped[str] = mapped_column(Text, server_default="")
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[RouteStatus] = mapped_column(String(8), server_default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    read_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Access(TenantBase):
    """The people named on a secret letter: only they see it (author, signer, routed-to members,
    the secret-letter officers of a received one)."""

    __tablename__ = "saraban_access"
    #: A search's secrecy filter looks up the caller's own rows (migration saraban_0003).
    __table_args__ = (Index("ix_saraban_access_staff_id_letter_id", "staff_id", "letter_id"),)

    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DestructionList(TenantBase):
    """The yearly list of letters whose retention has run out (บัญชีหนังสือขอทำลาย), prepared within
    60 days after the calendar year ends, for the committee's approval."""

    __tablename__ = "saraban_destruction_lists"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'approved')", name="status"),
        Index("uq_saraban_destruction_lists_year", "year", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    #: The BE calendar year that ended (letters whose retention ran out by its 31 December).
    year: Mapped[int] = mapped_column(SmallInteger)
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[DestructionStatus] = mapped_column(String(10), server_default="draft")
    letter_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default="{}")
    prepared_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    prepared_by: Mapped[str | None] = mapped_column(String(150))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(150))


class OutsideAgency(SharedBase):
    """An agency outside the platform (a ministry, a province, a state enterprise), kept by the
    operator: its code, name and, for saraban2's exchange adapter, its HTTPS endpoint."""

    __tablename__ = "saraban_outside_agencies"
    __table_args__ = (Index("uq_saraban_outside_agencies_code", "code", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    endpoint_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
