"""Outgoing mail, always through the outbox: a message exists exactly when its change committed.

``send_mail(session, mail, tenant_id=…)`` writes an outbox entry in the caller's transaction; the
worker's ``mail.send`` consumer (:func:`mail_consumer`) builds the message and hands it to the
backend that ``LOCALGOV_MAIL_URL`` names:

* ``smtp://[user:password@]host[:port]``: SMTP with STARTTLS whenever the server offers it;
  ``smtps://…`` for implicit TLS (port 465 by default). Sent by the standard library in a thread.
* ``file://<folder>``: one ``.eml`` file per message (development and tests). Empty setting:
  ``file://<data_dir>/mail``.

Delivery is at least once, and at most one message is ever in doubt: the worker delivers mail one
outbox entry per transaction (``localgov.worker.SENDING_TOPICS``), so each send is recorded before
the next one starts, and a worker that dies can resend only the one message it was sending when it
died (sent, its transaction not yet committed). The Message-ID and the file name derive from the
outbox entry (:func:`delivery_key`), so even that repeat is recognisable by the receiving servers
(and the file backend simply rewrites the same file).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.outbox import Delivery, OutboxEntry, enqueue
from localgov.kernel.plugins import DeliveryHandler
from localgov.settings import Settings

log = structlog.get_logger("localgov.mail")

#: The outbox topic of outgoing mail.
MAIL_TOPIC = "mail.send"
#: What a delivered mail's outbox entry keeps of its body.
SENT_BODY = "[sent; the body is not kept]"
SMTP_TIMEOUT_S = 30.0


class OutgoingMail(msgspec.Struct, frozen=True, kw_only=True):
    """One plain-text message to one recipient (the outbox payload of ``mail.send``)."""

    to: str
    subject: str
    text: str
    to_name: str | None = None


async def send_mail(session: AsyncSession, mail: OutgoingMail, *, tenant_id: int | None) -> OutboxEntry:
    """Queue ``mail`` in the caller's transaction; the worker sends it after the commit."""
    if "\r" in mail.to or "\n" in mail.to or "@" not in mail.to:
        raise ValueError("not a mail address")
    return await enqueue(session, MAIL_TOPIC, msgspec.to_builtins(mail), tenant_id=tenant_id)


class MailBackend(Protocol):
    """Something that delivers a built message; ``key`` is stable across retries of one entry."""

    async def send(self, message: EmailMessage, key: str) -> None: ...


class FileBackend:
    """Writes ``<folder>/<key>.eml`` (atomically: a reader never sees half a message)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage, key: str) -> None:
        await asyncio.to_thread(self._write, message.as_bytes(policy=SMTP_POLICY), key)

    def _write(self, data: bytes, key: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{key}.eml"
        partial = self.folder / f".{key}.eml.partial"
        partial.write_bytes(data)
        os.replace(partial, final)


class SmtpBackend:
    """SMTP through :mod:`smtplib` in a worker thread (one connection per message)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        implicit_tls: bool,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = SMTP_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.implicit_tls = implicit_tls
        self.username = username
        self.password = password
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage, key: str) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            smtp.ehlo()
            if not self.implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            refused = smtp.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)


def backend_for(settings: Settings) -> MailBackend:
    """The backend ``LOCALGOV_MAIL_URL`` names (empty: ``.eml`` files under the data folder)."""
    url = settings.mail_url or f"file://{settings.data_path / 'mail'}"
    if url.startswith("file://"):
        folder = url[len("file://") :]
        if not folder:
            raise ValueError("LOCALGOV_MAIL_URL file:// needs a folder")
        return FileBackend(Path(folder))
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("LOCALGOV_MAIL_URL must be smtp://host[:port], smtps://host[:port] or file://<folder>")
    implicit = parts.scheme == "smtps"
    return SmtpBackend(
        parts.hostname,
        parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _address(raw: str, name: str | None = None) -> Address:
    display, addr = parseaddr(raw)
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name if name is not None else display, username=local, domain=domain)


def delivery_key(entry: OutboxEntry) -> str:
    """Stable for one entry across retries, unique across databases (creation time and id)."""
    created = entry.created_at or dt.datetime.now(dt.UTC)
    return f"{created.astimezone(dt.UTC):%Y%m%dT%H%M%S%f}-{entry.id}"


def build_message(mail: OutgoingMail, *, sender: str, key: str, now: dt.datetime | None = None) -> EmailMessage:
    """The MIME message of ``mail`` (UTF-8 text; Thai headers as RFC 2047 encoded words)."""
    message = EmailMessage()
    from_address = _address(sender)
    message["From"] = from_address
    message["To"] = _address(mail.to, mail.to_name or "")
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    message["Message-ID"] = f"<{key}@{from_address.domain or 'localgov'}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text, charset="utf-8", cte="base64")
    return message


def mail_consumer(settings: Settings, backend: MailBackend | None = None) -> DeliveryHandler:
    """The outbox consumer of ``mail.send``; the worker registers it for every process."""
    chosen = backend or backend_for(settings)

    async def deliver(delivery: Delivery) -> None:
        mail = msgspec.convert(delivery.payload, OutgoingMail)
        key = delivery_key(delivery.entry)
        await chosen.send(build_message(mail, sender=settings.mail_from, key=key), key)
        # Never the body: invitations and password resets carry one-time links. Once sent, the
        # body leaves the database too (the entry is kept a week for the record, without it).
        delivery.entry.payload = {**delivery.payload, "text": SENT_BODY}
        log.info("mail_sent", entry_id=delivery.id, backend=type(chosen).__name__)

    return deliver
