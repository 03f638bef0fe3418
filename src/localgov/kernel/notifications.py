"""Notifications (การแจ้งเตือน): a message to a person, by e-mail today, by SMS or LINE once a provider
is plugged in, always through the outbox.

A service calls :func:`notify` in its own transaction with a **key** (what the message is about,
``"oss.delay:<case>:<n>"``), the **channel** (``"email"``), the recipient's address, and a Thai
subject and body with the English alongside. The message is kept in the LAO's schema
(``notifications``: the record of what was sent to whom, part of the tenant's export) and one
outbox entry carrying only its id is written in the same transaction, so the message exists exactly
when the change that caused it committed, and no personal data sits in the shared outbox. The
worker's ``notification.send`` consumer (:func:`notification_consumer`) loads it and hands it to
the channel; the row becomes ``sent``.

**Idempotent per key.** A second :func:`notify` with a key the LAO has used returns the first
notification and queues nothing (``Queued.created`` is False): a job that runs twice, or a retry,
sends one message. Delivery is at least once (the outbox): a worker that dies after the channel
accepted the message but before its batch committed sends it again; the consumer skips a row
already ``sent``, and the e-mail channel's Message-ID derives from the notification id, so a repeat
is recognisable.

**Channels.** A channel is two things: a :class:`ChannelSpec` registered by code
(:func:`register_channel`), with the check of an address (run by :func:`notify`, in every process)
and a factory that builds the sender from the settings (in the worker); and the sender, any object
with ``async def send(message: ChannelMessage) -> None`` (:class:`Channel`) that raises to have the
outbox retry. The e-mail channel (:data:`EMAIL`) is registered here and sends through
:mod:`localgov.kernel.mail`'s backend (``LOCALGOV_MAIL_URL``: SMTP or ``.eml`` files). An SMS or
LINE provider plugs in the same way (docs/kernel/notifications.md); none is built.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal, Protocol

import msgspec
import structlog
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Index,
    String,
    Text,
    Uuid,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase, session_tenant_id
from localgov.kernel.errors import DomainError
from localgov.kernel.mail import MailBackend, OutgoingMail, backend_for, build_message
from localgov.kernel.outbox import Delivery, DeliveryHandler, enqueue
from localgov.kernel.reads import Reader, fetch_one
from localgov.kernel.text import EMAIL_PATTERN, is_one_line
from localgov.settings import Settings

log = structlog.get_logger("localgov.notifications")

#: The outbox topic of notifications (its payload: ``{"notification_id": "<uuid>"}``).
NOTIFICATION_TOPIC = "notification.send"
#: A key: printable ASCII without spaces, what the message is about (``<slug>.<what>:<ids>``).
KEY_PATTERN = r"^[!-~]{1,200}$"
#: A source: the service and what it notifies about (``oss.delay_notice``).
SOURCE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
MAX_SUBJECT = 300
MAX_BODY = 20_000

NotificationStatus = Literal["queued", "sent"]


class NotificationRecord(TenantBase):
    """A message sent (or being sent) to a person: the LAO's record of what it told whom, and when."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent')", name="status"),
        Index("uq_notifications_key", "key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: What the message is about; one notification per key and LAO.
    key: Mapped[str] = mapped_column(String(200))
    #: Who asked for it (``<slug>.<what>``).
    source: Mapped[str] = mapped_column(String(80))
    #: The channel's code (``email`` …).
    channel: Mapped[str] = mapped_column(String(30))
    #: Where the channel delivers it (an e-mail address, a phone number, a LINE user id).
    address: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str | None] = mapped_column(Text)
    subject_th: Mapped[str] = mapped_column(Text)
    body_th: Mapped[str] = mapped_column(Text)
    subject_en: Mapped[str | None] = mapped_column(Text)
    body_en: Mapped[str | None] = mapped_column(Text)
    #: ``queued`` until the channel accepted it, then ``sent``.
    status: Mapped[NotificationStatus] = mapped_column(String(16), server_default="queued")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# --- channels -----------------------------------------------------------------------------------------


class ChannelMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What a channel delivers: one message to one address, Thai first, English alongside."""

    #: The notification's id: stable across retries (a channel's own deduplication key).
    id: uuid.UUID
    key: str
    address: str
    recipient_name: str | None
    subject_th: str
    body_th: str
    subject_en: str | None
    body_en: str | None


class Channel(Protocol):
    """Sends messages by one means. ``send`` runs in the worker (the outbox consumer); it raises to
    have the delivery retried (with backoff, then dead after ``LOCALGOV_OUTBOX_MAX_ATTEMPTS``)."""

    async def send(self, message: ChannelMessage) -> None: ...


class InvalidAddress(ValueError):
    """Not an address the channel can deliver to."""


class ChannelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A channel as the registry knows it: its code, titles, address rule and sender factory."""

    #: ``email``, ``sms``, ``line`` … (lower case).
    code: str
    title_th: str
    title_en: str
    #: The address normalised (``notify`` stores what it returns), or :class:`InvalidAddress`.
    check_address: Callable[[str], str]
    #: Builds the sender from the process's settings (called once per worker, when first needed).
    build: Callable[[Settings], Channel]


_CHANNELS: dict[str, ChannelSpec] = {}
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_KEY_RE = re.compile(KEY_PATTERN)
_SOURCE_RE = re.compile(SOURCE_PATTERN)


def register_channel(spec: ChannelSpec) -> None:
    """Make a channel known to :func:`notify` and the worker's consumer (the composition root, at
    start; the same spec again changes nothing, another spec under a taken code is refused)."""
    if not _CODE_RE.fullmatch(spec.code):
        raise ValueError(f"channel code {spec.code!r} must match {_CODE_RE.pattern}")
    known = _CHANNELS.get(spec.code)
    if known is not None and known != spec:
        raise ValueError(f"channel {spec.code!r} is registered already")
    _CHANNELS[spec.code] = spec


def registered_channels() -> Mapping[str, ChannelSpec]:
    """Every registered channel, by code (read-only)."""
    return MappingProxyType(_CHANNELS)


def _email_address(raw: str) -> str:
    address = raw.strip()
    if len(address) > 254 or not _EMAIL_RE.fullmatch(address):
        raise InvalidAddress("not an e-mail address")
    return address


class EmailChannel:
    """E-mail through :mod:`localgov.kernel.mail`'s backend: one UTF-8 text message, the Thai
    subject and body first, the English after them."""

    def __init__(self, backend: MailBackend, sender: str) -> None:
        self.backend = backend
        self.sender = sender

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        return cls(backend_for(settings), settings.mail_from)

    @staticmethod
    def mail(message: ChannelMessage) -> OutgoingMail:
        """The e-mail of ``message``: ``<Thai subject> / <English subject>``; the Thai body, a rule,
        the English body."""
        subject = message.subject_th if not message.subject_en else f"{message.subject_th} / {message.subject_en}"
        body = message.body_th if not message.body_en else f"{message.body_th}\n\n-----\n\n{message.body_en}"
        return OutgoingMail(to=message.address, to_name=message.recipient_name, subject=subject, text=body + "\n")

    async def send(self, message: ChannelMessage) -> None:
        key = f"notification-{message.id}"
        await self.backend.send(build_message(self.mail(message), sender=self.sender, key=key), key)


EMAIL = ChannelSpec(
    code="email",
    title_th="อีเมล",
    title_en="E-mail",
    check_address=_email_address,
    build=EmailChannel.from_settings,
)
register_channel(EMAIL)


# --- notify -------------------------------------------------------------------------------------------


class UnknownChannel(DomainError):
    code = "notification_channel_unknown"
    status = 422
    title = "ไม่มีช่องทางการแจ้งเตือนนี้ / No such notification channel"


class InvalidNotification(DomainError):
    code = "notification_invalid"
    status = 422
    title = "ข้อความแจ้งเตือนไม่ถูกต้อง / The notification is not valid"


class Queued(msgspec.Struct, frozen=True, kw_only=True):
    """The notification of a key: its id, and whether this call created it (False: it existed)."""

    id: uuid.UUID
    created: bool
    status: NotificationStatus


_N = NotificationRecord.__table__.c
_BY_KEY = select(_N.id, _N.status).where(_N.key == bindparam("key"))
_FOR_DELIVERY = (
    select(
        _N.id,
        _N.key,
        _N.channel,
        _N.address,
        _N.recipient_name,
        _N.subject_th,
        _N.body_th,
        _N.subject_en,
        _N.body_en,
        _N.status,
    )
    .where(_N.id == bindparam("id", type_=Uuid))
    .with_for_update()
)
_VIEW = select(*_N).where(_N.id == bindparam("id", type_=Uuid))


def _check_text(field: str, value: str | None, limit: int, *, one_line: bool, required: bool) -> None:
    if value is None or not value.strip():
        if required:
            raise InvalidNotification(f"{field} is required.", data={"field": field})
        return
    if len(value) > limit or "\x00" in value or (one_line and not is_one_line(value)):
        raise InvalidNotification(
            f"{field}: at most {limit} characters{', one line' if one_line else ''}.", data={"field": field}
        )


async def notify(
    session: AsyncSession,
    *,
    key: str,
    source: str,
    channel: str,
    to: str,
    subject_th: str,
    body_th: str,
    subject_en: str | None = None,
    body_en: str | None = None,
    to_name: str | None = None,
) -> Queued:
    """Queue a message in the caller's transaction (the session's LAO); the worker sends it after the
    commit. Again with the same key: the first notification, nothing queued.

    Refused: 422 ``notification_channel_unknown`` (no channel has the code),
    ``notification_invalid`` (the key, source, subject or body, or an address the channel refuses:
    ``data.field``).
    """
    spec = _CHANNELS.get(channel)
    if spec is None:
        raise UnknownChannel(data={"channel": channel, "known": sorted(_CHANNELS)})
    if not _KEY_RE.fullmatch(key):
        raise InvalidNotification("A key is 1-200 printable ASCII characters.", data={"field": "key"})
    if not _SOURCE_RE.fullmatch(source) or len(source) > 80:
        raise InvalidNotification("A source is <slug>.<what>.", data={"field": "source"})
    _check_text("subject_th", subject_th, MAX_SUBJECT, one_line=True, required=True)
    _check_text("subject_en", subject_en, MAX_SUBJECT, one_line=True, required=False)
    _check_text("body_th", body_th, MAX_BODY, one_line=False, required=True)
    _check_text("body_en", body_en, MAX_BODY, one_line=False, required=False)
    _check_text("to_name", to_name, 300, one_line=True, required=False)
    try:
        address = spec.check_address(to)
    except InvalidAddress as exc:
        raise InvalidNotification(f"to: {exc}", data={"field": "to", "channel": channel}) from None
    inserted = (
        await session.execute(
            insert(NotificationRecord)
            .values(
                key=key,
                source=source,
                channel=channel,
                address=address,
                recipient_name=to_name,
                subject_th=subject_th,
                body_th=body_th,
                subject_en=subject_en or None,
                body_en=body_en or None,
            )
            .on_conflict_do_nothing(index_elements=[_N.key])
            .returning(_N.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        existing = await fetch_one(session, _BY_KEY, {"key": key})
        if existing is None:  # the conflicting insert was rolled back meanwhile: a rare race, try again
            raise RuntimeError(f"notification {key!r} conflicted but cannot be read")
        return Queued(id=existing["id"], created=False, status=existing["status"])
    await enqueue(session, NOTIFICATION_TOPIC, {"notification_id": str(inserted)}, tenant_id=session_tenant_id(session))
    return Queued(id=inserted, created=True, status="queued")


class NotificationView(msgspec.Struct, frozen=True, kw_only=True):
    """A notification as the LAO's record shows it."""

    id: uuid.UUID
    key: str
    source: str
    channel: str
    address: str
    recipient_name: str | None
    subject_th: str
    body_th: str
    subject_en: str | None
    body_en: str | None
    status: NotificationStatus
    created_at: dt.datetime
    sent_at: dt.datetime | None


async def get_notification(reader: Reader, notification_id: uuid.UUID) -> NotificationView | None:
    """The notification, or None when the LAO has none with this id."""
    row = await fetch_one(reader, _VIEW, {"id": notification_id})
    return None if row is None else NotificationView(**row)


# --- delivery (the worker) ------------------------------------------------------------------------------


class NoChannel(Exception):
    """The notification names a channel this worker has no sender for (retried: a rolling deploy)."""


def notification_consumer(settings: Settings, senders: Mapping[str, Channel] | None = None) -> DeliveryHandler:
    """The outbox consumer of ``notification.send``; the worker registers it for every process.

    ``senders`` replaces the registry's senders by code (tests); otherwise each channel's sender is
    built from ``settings`` the first time a notification needs it.
    """
    built: dict[str, Channel] = dict(senders or {})

    def sender(code: str) -> Channel:
        if code not in built:
            spec = _CHANNELS.get(code)
            if spec is None:
                raise NoChannel(f"no sender for channel {code!r}")
            built[code] = spec.build(settings)
        return built[code]

    async def deliver(delivery: Delivery) -> None:
        await delivery.use_tenant_schema()
        row = await fetch_one(delivery.session, _FOR_DELIVERY, {"id": uuid.UUID(delivery.payload["notification_id"])})
        if row is None:  # the LAO's data is gone (a purged tenant): nothing to send
            log.warning("notification_missing", entry_id=delivery.id)
            return
        if row["status"] == "sent":
            return
        message = ChannelMessage(**{k: v for k, v in row.items() if k not in ("channel", "status")})
        await sender(row["channel"]).send(message)
        await delivery.session.execute(
            update(NotificationRecord).where(_N.id == row["id"]).values(status="sent", sent_at=func.now())
        )
        log.info("notification_sent", entry_id=delivery.id, channel=row["channel"])

    return deliver
