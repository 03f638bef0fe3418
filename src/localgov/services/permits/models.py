"""Building permits (ระบบขออนุญาตก่อสร้างอาคาร): what the service keeps beside the kernel's cases.

* ``permits_applications``: one application ข.1, a draft until it is submitted (then it has a
  case on the engine, same lifetime), its answers (JSONB, :class:`~.schemas.ApplicationForm`),
  the legal deadline of its decision, the site inspection, the fee's bill and the permit อ.1 issued;
* ``permits_extensions``: each extension of the decision time, with its reasons;
* ``permits_files``: its attachments (``kernel.storage`` files), each a document of the checklist
  or a photo of the site inspection;
* ``permits_settings``: the LAO's eligibility rules per area type, fee table, time limits and options
  (one row, seeded with DOMAIN.md's defaults, editable).
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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase

_UUID = text("gen_random_uuid()")

# The codes the CHECK constraints below allow, as the types of the columns and of the API's fields.
ApplicationStatus = Literal["draft", "submitted"]
ApplicationChannel = Literal["online", "counter"]


class PermitApplication(TenantBase):
    """An application for a building permit (คำขออนุญาต ข.1) and, once granted, its permit (อ.1)."""

    __tablename__ = "permits_applications"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'submitted')", name="status"),
        CheckConstraint("channel IN ('online', 'counter')", name="channel"),
        CheckConstraint("(status = 'submitted') = (case_id IS NOT NULL)", name="case_when_submitted"),
        Index("ix_permits_applications_citizen_id", "citizen_id"),
        Index("uq_permits_applications_case_id", "case_id", unique=True),
        Index("uq_permits_applications_bill_id", "bill_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    status: Mapped[ApplicationStatus] = mapped_column(String(12), server_default="draft")
    #: ``online`` (the citizen's own) or ``counter`` (staff, for a walk-in).
    channel: Mapped[ApplicationChannel] = mapped_column(String(10))
    #: The citizen account the application belongs to (online), if any.
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: ``<kind>:<subject>`` of who created it.
    created_by: Mapped[str] = mapped_column(String(150))
    #: The form ข.1 as last saved (``schemas.ApplicationForm``).
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: Every save of a draft adds one (a stale save is refused).
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    tracking_number: Mapped[str | None] = mapped_column(String(40))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The day the documents were found complete: the legal time runs from the next working day.
    complete_on: Mapped[dt.date | None] = mapped_column(Date)
    #: The last day of the decision (45 working days, plus the extensions granted).
    decision_due_on: Mapped[dt.date | None] = mapped_column(Date)
    inspection_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    inspection_place_th: Mapped[str | None] = mapped_column(String(300))
    inspection_passed: Mapped[bool | None] = mapped_column(Boolean)
    inspection_note: Mapped[str | None] = mapped_column(Text)
    inspected_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The fee lines assessed (``fees.FeeLine``), their total and the bill payments made of them.
    fee_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    fee_total: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    bill_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    bill_reference: Mapped[str | None] = mapped_column(String(15))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    receipt_number: Mapped[str | None] = mapped_column(String(30))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The permit อ.1 (set once, when it is issued).
    permit_number: Mapped[str | None] = mapped_column(String(40))
    permit_issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    #: The register entry (``issued_documents.source_key``) of the permit as now in force.
    document_key: Mapped[str | None] = mapped_column(String(200))
    renewals: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PermitExtension(TenantBase):
    """One extension of the decision time (ขยายระยะเวลา), notified with its reasons."""

    __tablename__ = "permits_extensions"
    __table_args__ = (
        UniqueConstraint("application_id", "seq"),
        CheckConstraint("days >= 1", name="days"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    application_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("permits_applications.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(SmallInteger)
    days: Mapped[int] = mapped_column(Integer)
    reason_th: Mapped[str] = mapped_column(Text)
    previous_due_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    granted_by: Mapped[str] = mapped_column(String(150))


class PermitFile(TenantBase):
    """An attachment of an application: a document of its checklist or a site-inspection photo."""

    __tablename__ = "permits_files"
    __table_args__ = (Index("ix_permits_files_application_id", "application_id"),)

    file_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("permits_applications.id", ondelete="CASCADE")
    )
    document_code: Mapped[str] = mapped_column(String(60))


class PermitSettings(TenantBase):
    """The LAO's rules and options for building permits (one row)."""

    __tablename__ = "permits_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("validity_days BETWEEN 1 AND 3650", name="validity_days"),
        CheckConstraint("fee_due_days BETWEEN 1 AND 365", name="fee_due_days"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="1")
    #: Area type code -> ``eligibility.AreaRules``.
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: ``fees.FeeTable``.
    fees: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: ``deadlines.DeadlineRules``.
    deadlines: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: The area type of a new application when it names none.
    default_area_type: Mapped[str] = mapped_column(String(40))
    #: Issue the permit on approval and collect the fee after (otherwise: issued once paid).
    issue_before_payment: Mapped[bool] = mapped_column(Boolean, server_default="false")
    #: How long a permit (and each renewal) is valid, in days.
    validity_days: Mapped[int] = mapped_column(Integer, server_default="365")
    #: Days the fee's bill is payable.
    fee_due_days: Mapped[int] = mapped_column(Integer, server_default="30")
    #: Print the permit's figures and dates in Thai digits.
    thai_digits: Mapped[bool] = mapped_column(Boolean, server_default="false")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
