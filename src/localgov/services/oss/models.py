"""One Stop Service (ศูนย์บริการร่วม): the catalogue of services with their public manuals, the
counter's queue (service points and queue tickets), and what the service keeps beside the kernel's
cases (``cases``, ``case_transitions``): the request's own row, its attachments, comments and
deficiency records.

Table names start with ``oss_``: the tables of every service share the LAO's schema.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase

_UUID = text("gen_random_uuid()")


class CatalogueService(TenantBase):
    """A service of the LAO's catalogue and its public manual (คู่มือสำหรับประชาชน).

    ``content`` holds the manual as staff last saved it (version ``version``); the public reads the
    snapshot of ``published_version`` in :class:`CatalogueServiceVersion`, so an edit made after
    publishing stays invisible until it is published in turn.
    """

    __tablename__ = "oss_services"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'withdrawn')", name="status"),
        CheckConstraint("code ~ '^[a-z][a-z0-9-]{1,59}$'", name="code"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(
            "published_version IS NULL OR published_version BETWEEN 1 AND version", name="published_version"
        ),
        CheckConstraint("status <> 'published' OR published_version IS NOT NULL", name="published_has_version"),
        Index("uq_oss_services_code", "code", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    #: Stable, in the public address of the manual (``building-permit``).
    code: Mapped[str] = mapped_column(String(60))
    #: The manual (``schemas.ServiceManual``, JSON) of the current version.
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    status: Mapped[str] = mapped_column(String(10), server_default="draft")
    #: The version the public sees (kept when withdrawn, for the record).
    published_version: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: ``<kind>:<subject>`` of who published or withdrew it last.
    published_by: Mapped[str | None] = mapped_column(String(150))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: ``<kind>:<subject>``; null for the defaults seeded at provisioning.
    created_by: Mapped[str | None] = mapped_column(String(150))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(150))


class CatalogueServiceVersion(TenantBase):
    """Every saved version of a manual, as it was saved (the edit history)."""

    __tablename__ = "oss_service_versions"
    __table_args__ = (Index("uq_oss_service_versions_service_id_version", "service_id", "version", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("oss_services.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: What changed, in the editor's words (optional).
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(150))


class ServicePoint(TenantBase):
    """A service point (จุดบริการ) with its own queue; several desks (ช่อง) call from it."""

    __tablename__ = "oss_service_points"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Z]{1,2}$'", name="code"),
        Index("uq_oss_service_points_code", "code", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    #: The letter(s) ticket numbers start with (``A`` → ``A001``).
    code: Mapped[str] = mapped_column(String(2))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    location_th: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class QueueTicket(TenantBase):
    """A queue ticket (บัตรคิว): numbered per service point and Bangkok day (``A001`` …).

    ``waiting`` → ``called`` (a desk called it) → ``served`` or ``no_show``; a waiting ticket may be
    ``cancelled``. One desk has at most one called ticket at a time (a partial unique index), and
    call-next takes the first waiting ticket with ``FOR UPDATE SKIP LOCKED``.
    """

    __tablename__ = "oss_queue_tickets"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'called', 'served', 'no_show', 'cancelled')", name="status"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("status = 'waiting' OR status = 'cancelled' OR called_at IS NOT NULL", name="called_at"),
        CheckConstraint("status NOT IN ('called', 'served', 'no_show') OR desk IS NOT NULL", name="desk"),
        Index("uq_oss_queue_tickets_point_id_service_day_seq", "point_id", "service_day", "seq", unique=True),
        Index("uq_oss_queue_tickets_token", "token", unique=True),
        #: Call-next and the waiting room read the waiting tickets of a point and day in order.
        Index("ix_oss_queue_tickets_point_id_service_day_status_seq", "point_id", "service_day", "status", "seq"),
        #: A desk calls one ticket at a time.
        Index(
            "uq_oss_queue_tickets_point_id_service_day_desk",
            "point_id",
            "service_day",
            "desk",
            unique=True,
            postgresql_where=text("status = 'called'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    point_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("oss_service_points.id"))
    #: The Bangkok day the ticket was issued for (numbers restart every day).
    service_day: Mapped[dt.date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    #: ``A001``: the point's code and the day's running number.
    number: Mapped[str] = mapped_column(String(10))
    #: Random, in the address of the public page that follows the ticket (the QR on the slip).
    token: Mapped[str] = mapped_column(String(32))
    #: What the visitor came for (a service of the catalogue), when the ticket says.
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oss_services.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(10), server_default="waiting")
    #: The desk (ช่องบริการ) that called it.
    desk: Mapped[str | None] = mapped_column(String(20))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str | None] = mapped_column(String(150))
    called_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    called_by: Mapped[str | None] = mapped_column(String(150))
    #: When it was served, marked a no-show, or cancelled.
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_by: Mapped[str | None] = mapped_column(String(150))


class OssCase(TenantBase):
    """A One Stop Service request (คำขอ): its row beside the kernel's case (same id).

    The kernel's case holds the workflow (state, deadlines, history) and the request's own fields
    in ``data`` (the manual's snapshot, the applicant's details); this row holds what the service
    joins on or must not show: the catalogue service, the channel, the counter's ticket, and the
    salt of the verification code printed on the receipt.
    """

    __tablename__ = "oss_cases"
    __table_args__ = (
        CheckConstraint("channel IN ('online', 'counter')", name="channel"),
        Index("ix_oss_cases_service_id", "service_id"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    #: The service of the catalogue applied for (its published manual at intake is in the case's data).
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("oss_services.id"))
    #: ``online`` (the citizen) or ``counter`` (a walk-in, by staff).
    channel: Mapped[str] = mapped_column(String(10))
    #: The queue ticket of the walk-in, when the officer linked it.
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oss_queue_tickets.id", ondelete="SET NULL")
    )
    #: Random: the verification code is an HMAC of the case and this salt (a new salt, a new code).
    code_salt: Mapped[str] = mapped_column(String(32))
    #: ``<kind>:<subject>`` of who opened it.
    opened_by: Mapped[str] = mapped_column(String(150))


class CaseFile(TenantBase):
    """An attachment of a request (a ``stored_files`` row owned by ``oss.case``) and which of the
    manual's required documents it is, if any (``doc.1`` …)."""

    __tablename__ = "oss_case_files"
    __table_args__ = (Index("ix_oss_case_files_case_id", "case_id"),)

    file_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True
    )
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    document_code: Mapped[str | None] = mapped_column(String(80))


class CaseComment(TenantBase):
    """A comment on a request: staff's internal note, or a message the applicant reads (his own
    messages are always visible to both sides)."""

    __tablename__ = "oss_case_comments"
    __table_args__ = (
        CheckConstraint("author_kind IN ('staff', 'citizen')", name="author_kind"),
        CheckConstraint("author_kind = 'staff' OR visible_to_applicant", name="citizen_visible"),
        Index("ix_oss_case_comments_case_id_created_at", "case_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    author_kind: Mapped[str] = mapped_column(String(10))
    author_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    body: Mapped[str] = mapped_column(Text)
    visible_to_applicant: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class DeficiencyRecord(TenantBase):
    """A deficiency record (บันทึกความบกพร่อง): what the application lacks, and by when.

    Signed by the officer who makes it (``staff_id``, at ``created_at``) and acknowledged by the
    applicant, online or by his signature on the paper at the counter (``applicant_ack_*``).
    ``open`` while the case waits in ``deficient``; then ``supplied`` (the applicant brought the
    items), ``expired`` (the deadline passed: the request was returned) or ``closed`` (withdrawn).
    At most one is open per case; each is registered as an issued document (QR verification).
    """

    __tablename__ = "oss_deficiency_records"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'supplied', 'expired', 'closed')", name="status"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint(
            "applicant_ack_method IS NULL OR applicant_ack_method IN ('online', 'counter_signature')",
            name="ack_method",
        ),
        CheckConstraint("(applicant_ack_at IS NULL) = (applicant_ack_method IS NULL)", name="ack_complete"),
        CheckConstraint("(status = 'open') = (resolved_at IS NULL)", name="resolved_at"),
        Index("uq_oss_deficiency_records_case_id_seq", "case_id", "seq", unique=True),
        Index(
            "uq_oss_deficiency_records_open_case_id", "case_id", unique=True, postgresql_where=text("status = 'open'")
        ),
        #: The sweep that returns requests whose deadline passed reads the open records by deadline.
        Index("ix_oss_deficiency_records_open_deadline_at", "deadline_at", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    #: The n-th record of the case.
    seq: Mapped[int] = mapped_column(Integer)
    #: Printed on the record: ``<tracking number>/<seq>``.
    number: Mapped[str] = mapped_column(String(60))
    #: The last day (Bangkok) to supply the items; ``deadline_at`` is the instant it ends.
    deadline: Mapped[dt.date] = mapped_column(Date)
    deadline_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    note_th: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: The officer who made and signed it, and the name printed under the signature.
    staff_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    staff_name: Mapped[str] = mapped_column(Text)
    applicant_ack_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: ``online`` (the citizen, signed in) or ``counter_signature`` (he signed the paper; an officer recorded it).
    applicant_ack_method: Mapped[str | None] = mapped_column(String(20))
    applicant_ack_recorded_by: Mapped[str | None] = mapped_column(String(150))
    #: The scan of the paper the applicant signed (an attachment of the case), if kept.
    signed_copy_file_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(150))


class DeficiencyItem(TenantBase):
    """One missing item of a deficiency record: a required document of the manual (by its code in
    the case, ``doc.2``) or a criterion not met, with the officer's note. A refusal may cite only
    these items (``case_id`` is kept for that check)."""

    __tablename__ = "oss_deficiency_items"
    __table_args__ = (
        CheckConstraint("kind IN ('document', 'criterion')", name="kind"),
        CheckConstraint("kind <> 'document' OR document_code IS NOT NULL", name="document_code"),
        Index("uq_oss_deficiency_items_record_id_seq", "record_id", "seq", unique=True),
        Index("ix_oss_deficiency_items_case_id", "case_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    record_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oss_deficiency_records.id", ondelete="CASCADE")
    )
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    document_code: Mapped[str | None] = mapped_column(String(80))
    #: What is missing, as printed (the document's name, or the criterion).
    label_th: Mapped[str] = mapped_column(Text)
    note_th: Mapped[str | None] = mapped_column(Text)


class NoticeSettings(TenantBase):
    """The LAO's settings of the notices the One Stop Service sends (one row; the defaults of the
    Licensing Facilitation Act B.E. 2558 s.10 until staff change them)."""

    __tablename__ = "oss_notice_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("delay_every_days BETWEEN 1 AND 30", name="delay_every_days"),
        CheckConstraint("result_within_days BETWEEN 1 AND 30", name="result_within_days"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="1")
    #: Where copies of delay notices are e-mailed (the OPDC, ก.พ.ร., or the LAO's own desk that
    #: forwards them); None: the copies are recorded for the report only.
    opdc_email: Mapped[str | None] = mapped_column(String(254))
    #: Record (and e-mail) a copy of every delay notice for the OPDC.
    opdc_copies: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    #: Days between delay notices once the manual's time is exceeded (the Act: every 7 days).
    delay_every_days: Mapped[int] = mapped_column(SmallInteger, server_default="7")
    #: Days after the decision by which the applicant must have been notified of the result.
    result_within_days: Mapped[int] = mapped_column(SmallInteger, server_default="7")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(150))


class CaseNotice(TenantBase):
    """A notice about a case (หนังสือแจ้ง): a delay notice to the applicant and its copy for the
    OPDC, the result notified to the applicant, or an escalation to a unit's supervisor.

    One row per (case, kind, recipient, anchor, cycle), so a sweep that runs twice records and sends
    once: ``anchor`` is the deadline a delay notice counts from (the case's overall deadline), the
    state entry an escalation is about, or the decision a result notice tells; ``cycle`` numbers the
    delay notices of one deadline (1 on the first day late, 2 seven days later …). ``seq`` numbers
    the notices of a kind to a recipient for the case (ครั้งที่). ``channel`` is None when no address
    was known: the notice is then the LAO's to deliver by hand (``hand_delivery``).
    """

    __tablename__ = "oss_case_notices"
    __table_args__ = (
        CheckConstraint("kind IN ('delay', 'result', 'escalation')", name="kind"),
        CheckConstraint("recipient_kind IN ('applicant', 'opdc', 'supervisor')", name="recipient_kind"),
        CheckConstraint("cycle >= 1 AND seq >= 1", name="numbers"),
        CheckConstraint("hand_delivery IS NULL OR hand_delivery IN ('letter', 'in_person', 'phone')", name="hand"),
        CheckConstraint("(hand_delivery IS NULL) = (hand_delivered_on IS NULL)", name="hand_day"),
        Index(
            "uq_oss_case_notices_case_id_kind_recipient_kind_anchor_cycle",
            "case_id",
            "kind",
            "recipient_kind",
            "anchor",
            "cycle",
            unique=True,
        ),
        #: Reports read the notices of a period.
        Index("ix_oss_case_notices_sent_at", "sent_at"),
        #: The sweep checks the result notices not yet settled (notified, or flagged late).
        Index(
            "ix_oss_case_notices_pending_results",
            "anchor",
            postgresql_where=text("kind = 'result' AND notified_on IS NULL AND flagged_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    recipient_kind: Mapped[str] = mapped_column(String(16))
    anchor: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    cycle: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    seq: Mapped[int] = mapped_column(SmallInteger)
    #: The case's state when the notice was issued.
    state: Mapped[str] = mapped_column(String(60))
    #: When the sweep issued it (the notice's date).
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: The deadline day it is about: the overall deadline (delay), the state's (escalation), the last
    #: day to notify the result (result).
    due_on: Mapped[dt.date] = mapped_column(Date)
    #: Calendar days past ``due_on`` on the day it was issued (delay, escalation).
    days_over: Mapped[int | None] = mapped_column(SmallInteger)
    #: Working days past ``due_on`` on the day it was issued (the manual counts working days).
    working_days_over: Mapped[int | None] = mapped_column(SmallInteger)
    #: The citizen or the member of staff it went to (None: the OPDC, or nobody known).
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    recipient_name: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(254))
    channel: Mapped[str | None] = mapped_column(String(30))
    notification_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("notifications.id", ondelete="SET NULL")
    )
    #: A copy for the OPDC's report (ก.พ.ร.).
    for_opdc: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: Delivered by the LAO itself (a letter, in person, by phone), on that day, recorded by whom.
    hand_delivery: Mapped[str | None] = mapped_column(String(16))
    hand_delivered_on: Mapped[dt.date | None] = mapped_column(Date)
    hand_recorded_by: Mapped[str | None] = mapped_column(String(150))
    #: A result notice: the day the applicant counts as notified (its e-mail sent, or handed over).
    notified_on: Mapped[dt.date | None] = mapped_column(Date)
    #: A result notice not notified within the time allowed: when the sweep flagged it.
    flagged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
