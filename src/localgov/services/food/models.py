"""Food-premises notifications and certificates (หนังสือรับรองการแจ้งจัดตั้งสถานที่จำหน่ายอาหาร /
สถานที่สะสมอาหาร, Public Health Act B.E. 2535 s.48): what the service keeps beside the kernel's
cases (``cases``, ``case_transitions``) and register of issued documents.

Table names start with ``food_``: the tables of every service share the LAO's schema. Money is
``numeric(12, 2)`` in baht, areas ``numeric(8, 2)`` in square metres; never a float.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
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

# The codes the CHECK constraints below allow, as the types of the columns and of the API's fields.
PremisesKind = Literal["sale", "storage"]
HolderKind = Literal["person", "juristic"]
CertificateStatus = Literal["active", "cancelled", "revoked"]
CertificateEventKind = Literal["issued", "transferred", "changed", "cancelled", "revoked"]
FeeKind = Literal["first", "annual"]
FeeStatus = Literal["open", "paid", "waived", "cancelled"]
InspectionResult = Literal["passed", "failed"]
Money = Numeric(12, 2)
Area = Numeric(8, 2)


class FoodSettings(TenantBase):
    """The LAO's settings of the service (one row): when the annual fee falls due, the late
    surcharge of its ordinance, reminders, repeat visits, and whether the register is public."""

    __tablename__ = "food_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("annual_due_month BETWEEN 1 AND 12 AND annual_due_day BETWEEN 1 AND 31", name="due_day"),
        CheckConstraint("late_surcharge_percent > 0 AND late_surcharge_percent <= 100", name="surcharge"),
        CheckConstraint("late_surcharge_after_days BETWEEN 0 AND 365", name="grace"),
        CheckConstraint("first_fee_days BETWEEN 1 AND 90", name="first_fee_days"),
        CheckConstraint("reminder_days BETWEEN 1 AND 90", name="reminder_days"),
        CheckConstraint("revisit_days BETWEEN 1 AND 365", name="revisit_days"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="1")
    #: The annual fee of a year is due by this day of that year (default 31 March; a day past the
    #: month's end is its last day).
    annual_due_month: Mapped[int] = mapped_column(SmallInteger, server_default="3")
    annual_due_day: Mapped[int] = mapped_column(SmallInteger, server_default="31")
    #: The ordinance's surcharge on a late annual fee (default +20 %), charged by payments.
    late_surcharge_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), server_default="20.00")
    late_surcharge_after_days: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    #: The first fee (billed when the certificate is issued) is due this many days later.
    first_fee_days: Mapped[int] = mapped_column(SmallInteger, server_default="15")
    #: Reminders go this many days before a fee's due date.
    reminder_days: Mapped[int] = mapped_column(SmallInteger, server_default="14")
    #: A failed inspection schedules a repeat visit this many days later.
    revisit_days: Mapped[int] = mapped_column(SmallInteger, server_default="30")
    #: The public register (name, kind, address, status) is published.
    publish_register: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(150))


class FeeBand(TenantBase):
    """One band of the ordinance's fee table: premises of at most ``max_area_m2`` pay ``annual_fee``
    a year (the smallest band that holds the area applies)."""

    __tablename__ = "food_fee_bands"
    __table_args__ = (
        CheckConstraint("max_area_m2 > 0 AND max_area_m2 <= 200", name="max_area"),
        CheckConstraint("annual_fee > 0", name="annual_fee"),
        Index("uq_food_fee_bands_max_area_m2", "max_area_m2", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    max_area_m2: Mapped[Decimal] = mapped_column(Area)
    annual_fee: Mapped[Decimal] = mapped_column(Money)


class FeeWaiver(TenantBase):
    """A dated waiver (ยกเว้น / ลดค่าธรรมเนียม) of the ordinance or a decision of the LAO: a fee whose
    date falls between ``starts_on`` and ``ends_on`` (both included) is reduced by ``percent``."""

    __tablename__ = "food_fee_waivers"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("percent > 0 AND percent <= 100", name="percent"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    note_th: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(150))


class Notification(TenantBase):
    """A notification (การแจ้ง) as filed: the notifier and the establishment, beside its case."""

    __tablename__ = "food_notifications"
    __table_args__ = (
        CheckConstraint("premises_kind IN ('sale', 'storage')", name="premises_kind"),
        CheckConstraint("area_m2 > 0 AND area_m2 <= 200", name="area"),
        Index("uq_food_notifications_case_id", "case_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    #: ``schemas.Notifier`` as normalised (kind, name, national ID, address parts, phone, e-mail).
    notifier: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: ``schemas.Establishment`` as normalised (name, kind, area, address, coordinates, seats, hours).
    establishment: Mapped[dict[str, Any]] = mapped_column(JSONB)
    premises_kind: Mapped[PremisesKind] = mapped_column(String(10))
    area_m2: Mapped[Decimal] = mapped_column(Area)
    certificate_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(150))


class NotificationFile(TenantBase):
    """An attachment of a notification (kernel ``stored_files``) and which document it is."""

    __tablename__ = "food_notification_files"
    __table_args__ = (Index("ix_food_notification_files_notification_id", "notification_id"),)

    file_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("food_notifications.id", ondelete="CASCADE")
    )
    document_code: Mapped[str] = mapped_column(String(40))


class Certificate(TenantBase):
    """A certificate of notification (หนังสือรับรองการแจ้ง), ``n/BE-year``: who holds it now and the
    establishment as it is now. A transfer or a change of details keeps the number; its steps are
    :class:`CertificateEvent` rows."""

    __tablename__ = "food_certificates"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'cancelled', 'revoked')", name="status"),
        CheckConstraint("premises_kind IN ('sale', 'storage')", name="premises_kind"),
        CheckConstraint("holder_kind IN ('person', 'juristic')", name="holder_kind"),
        CheckConstraint("area_m2 > 0 AND area_m2 <= 200", name="area"),
        CheckConstraint("holder_national_id ~ '^[0-9]{13}$'", name="holder_national_id"),
        CheckConstraint("(status = 'active') = (ended_at IS NULL)", name="ended"),
        Index("uq_food_certificates_number", "number", unique=True),
        Index("uq_food_certificates_notification_id", "notification_id", unique=True),
        Index("ix_food_certificates_status_id", "status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    notification_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("food_notifications.id"))
    #: ``n/BE-year``, gap-free per BE calendar year (``kernel.numbering``).
    number: Mapped[str] = mapped_column(String(20))
    status: Mapped[CertificateStatus] = mapped_column(String(10), server_default="active")
    holder_kind: Mapped[HolderKind] = mapped_column(String(10))
    holder_name: Mapped[str] = mapped_column(Text)
    holder_national_id: Mapped[str] = mapped_column(String(13))
    holder_phone: Mapped[str] = mapped_column(String(40))
    holder_email: Mapped[str | None] = mapped_column(String(254))
    #: ``ThaiAddress`` parts.
    holder_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: The payer of the holder's fees (``payments.api.payer_for``).
    payer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    premises_name: Mapped[str] = mapped_column(Text)
    premises_kind: Mapped[PremisesKind] = mapped_column(String(10))
    area_m2: Mapped[Decimal] = mapped_column(Area)
    #: ``ThaiAddress`` parts, and the line the register prints.
    premises_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    premises_address_th: Mapped[str] = mapped_column(Text)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    seats: Mapped[int | None] = mapped_column(Integer)
    opening_hours: Mapped[str | None] = mapped_column(Text)
    conditions_th: Mapped[str | None] = mapped_column(Text)
    #: The annual fee of the area's band when it was issued or last changed.
    annual_fee: Mapped[Decimal] = mapped_column(Money)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)
    #: The next inspection a failed one scheduled (null: none due).
    next_visit_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class CertificateEvent(TenantBase):
    """One step of a certificate's life: issued, transferred, changed, cancelled, revoked."""

    __tablename__ = "food_certificate_events"
    __table_args__ = (
        CheckConstraint("kind IN ('issued', 'transferred', 'changed', 'cancelled', 'revoked')", name="kind"),
        Index("uq_food_certificate_events_certificate_id_seq", "certificate_id", "seq", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    certificate_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("food_certificates.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[CertificateEventKind] = mapped_column(String(12))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(150))
    #: What changed (before/after), the reason.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class FeeBill(TenantBase):
    """A year's fee of a certificate, once: the payments bill that charges it (null when a waiver
    took the whole fee). The unique (certificate, year) makes the annual run idempotent."""

    __tablename__ = "food_fee_bills"
    __table_args__ = (
        CheckConstraint("kind IN ('first', 'annual')", name="kind"),
        CheckConstraint("status IN ('open', 'paid', 'waived', 'cancelled')", name="status"),
        CheckConstraint("(status = 'waived') = (bill_id IS NULL)", name="waived_has_no_bill"),
        Index("uq_food_fee_bills_certificate_id_year", "certificate_id", "year", unique=True),
        Index("uq_food_fee_bills_bill_id", "bill_id", unique=True),
        Index("ix_food_fee_bills_open_due", "due_date", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    certificate_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("food_certificates.id", ondelete="CASCADE")
    )
    #: The BE year the fee is for.
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[FeeKind] = mapped_column(String(10))
    status: Mapped[FeeStatus] = mapped_column(String(10), server_default="open")
    base_fee: Mapped[Decimal] = mapped_column(Money)
    waived_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), server_default="0")
    amount: Mapped[Decimal] = mapped_column(Money)
    due_date: Mapped[dt.date] = mapped_column(Date)
    bill_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    bill_reference: Mapped[str | None] = mapped_column(String(15))
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChecklistItem(TenantBase):
    """One item of the LAO's hygiene checklist (แบบตรวจสุขลักษณะ); retired items stay for old visits."""

    __tablename__ = "food_checklist_items"
    __table_args__ = (
        CheckConstraint("code ~ '^[a-z][a-z0-9_]{0,39}$'", name="code"),
        Index("uq_food_checklist_items_code", "code", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    code: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(SmallInteger)
    title_th: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Inspection(TenantBase):
    """One visit of an inspector: every active item answered; a failed item schedules a repeat."""

    __tablename__ = "food_inspections"
    __table_args__ = (
        CheckConstraint("result IN ('passed', 'failed')", name="result"),
        CheckConstraint("(result = 'failed') = (repeat_on IS NOT NULL)", name="repeat"),
        Index("ix_food_inspections_certificate_id_visited_on", "certificate_id", "visited_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    certificate_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("food_certificates.id", ondelete="CASCADE")
    )
    visited_on: Mapped[dt.date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(150))
    result: Mapped[InspectionResult] = mapped_column(String(10))
    #: ``[{"code", "title_th", "passed", "note"}]`` as answered (the titles of that day).
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    note_th: Mapped[str | None] = mapped_column(Text)
    repeat_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InspectionPhoto(TenantBase):
    """A photo taken on a visit (kernel ``stored_files``)."""

    __tablename__ = "food_inspection_photos"
    __table_args__ = (Index("ix_food_inspection_photos_inspection_id", "inspection_id"),)

    file_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    inspection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("food_inspections.id", ondelete="CASCADE")
    )
    item_code: Mapped[str | None] = mapped_column(String(40))
