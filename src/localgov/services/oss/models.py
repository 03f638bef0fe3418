"""One Stop Service (ศูนย์บริการร่วม): the catalogue of services with their public manuals, and the
counter's queue (service points and queue tickets).

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
