"""The webhook tables of every LAO's schema (core tables: whichever services are enabled)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase

# The codes the CHECK constraints below allow, as the types of the columns and of the API's fields.
EndpointStatus = Literal["active", "disabled"]
OwnerKind = Literal["client", "staff"]
DeliveryStatus = Literal["pending", "succeeded", "failed"]
Trigger = Literal["automatic", "replay"]


class WebhookEndpoint(TenantBase):
    """A destination an integrator (an API client) or the LAO's administrators subscribed."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint("owner_kind IN ('client', 'staff')", name="owner_kind"),
        Index("ix_webhook_endpoints_owner", "owner_kind", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    #: Public event names (``bill.paid``) it receives.
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    status: Mapped[EndpointStatus] = mapped_column(String(16), server_default="active")
    #: Why it was disabled (``gone``: the destination answered 410; ``manual``).
    disabled_reason: Mapped[str | None] = mapped_column(String(40))
    #: ``client`` (its API client id) or ``staff`` (the administrator's id): who manages it.
    owner_kind: Mapped[OwnerKind] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(80))
    #: ``whsec_…`` sealed with ``LOCALGOV_SECRET_KEY`` (the receiver needs the same bytes: not a hash).
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    #: The previous secret, still signing until ``previous_until`` (rotation overlap).
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookMessage(TenantBase):
    """One event as integrators receive it: the ``webhook-id`` and the body, the same in every
    delivery and retry (receivers deduplicate by its id)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("uq_webhook_messages_event", "event_entry_id", unique=True),)

    #: ``msg_<uuid hex>``: the ``webhook-id`` header.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(80))
    #: The outbox entry of the event (its copy for the webhooks is idempotent by it).
    event_entry_id: Mapped[int] = mapped_column(BigInteger)
    #: The exact body sent: ``{"type", "timestamp", "data"}``.
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(TenantBase):
    """One message to one endpoint: its state and how many attempts it took."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("uq_webhook_deliveries_message_endpoint", "message_id", "endpoint_id", unique=True),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(40), ForeignKey("webhook_messages.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookAttempt(TenantBase):
    """One HTTP exchange of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        CheckConstraint("trigger IN ('automatic', 'replay')", name="trigger"),
        Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[Trigger] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    #: The HTTP status answered (None: no answer, see ``error``).
    response_status: Mapped[int | None] = mapped_column(Integer)
    #: The first bytes of the answer's body (at most 2 KiB, decoded as UTF-8 with replacement).
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    #: Why there was no usable answer: ``egress_refused:<reason>``, ``timeout`` …
    error: Mapped[str | None] = mapped_column(Text)
    #: The address connected to.
    address: Mapped[str | None] = mapped_column(String(64))
