"""Outgoing mail: queued in the outbox with the change, sent by the worker's consumer, through a
file backend (.eml) or SMTP (against a small SMTP server the test runs on loopback)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.mail import (
    MAIL_TOPIC,
    SENT_BODY,
    FileBackend,
    OutgoingMail,
    SmtpBackend,
    backend_for,
    build_message,
    send_mail,
)
from localgov.platform.catalog import Catalog
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import make_settings
from tests.support.factories import make_tenant

THAI = OutgoingMail(
    to="somchai@example.go.th",
    to_name="สมชาย ใจดี",
    subject="คำเชิญเข้าใช้งานระบบ / Invitation",
    text="เรียน สมชาย\n\nhttps://maehia.localgov.test/staff/invitation#token=abc\n",
)


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


# --- a minimal SMTP server (RFC 5321 subset: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) ----------


class SmtpServer:
    def __init__(self, *, refuse_rcpt: bool = False, sock: socket.socket | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.refuse_rcpt = refuse_rcpt
        self.port = 0
        self._sock = sock  # a socket bound by the test (else a port the system picks)
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SmtpServer:
        if self._sock is not None:
            self._server = await asyncio.start_server(self._session, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        envelope: dict[str, Any] = {"rcpt": []}
        reply("220 test ESMTP")
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    reply("250-test")
                    reply("250-AUTH PLAIN")
                    reply("250 8BITMIME")
                elif verb == "AUTH":
                    self.auth.append(base64.b64decode(line.split(" ")[2]).decode())
                    reply("235 ok")
                elif verb == "MAIL":
                    envelope = {"from": line[10:], "rcpt": []}
                    reply("250 ok")
                elif verb == "RCPT":
                    if self.refuse_rcpt:
                        reply("550 no such user")
                    else:
                        envelope["rcpt"].append(line[8:])
                        reply("250 ok")
                elif verb == "DATA":
                    reply("354 go on")
                    lines: list[bytes] = []
                    while (chunk := await reader.readline()) != b".\r\n":
                        lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    envelope["data"] = b"".join(lines)
                    self.messages.append(envelope)
                    reply("250 queued")
                elif verb == "QUIT":
                    reply("221 bye")
                    await writer.drain()
                    break
                else:
                    reply("250 ok")
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


# --- tests --------------------------------------------------------------------------------------


def test_message_is_utf8_with_encoded_thai_headers() -> None:
    message = build_message(THAI, sender="เทศบาล <no-reply@maehia.go.th>", key="20260101T000000000000-7")
    wire = message.as_bytes(policy=email.policy.SMTP)
    wire.decode("ascii")  # Thai travels as encoded words and base64: 7-bit clean on the wire
    parsed = _parse(wire)
    assert parsed["Subject"] == THAI.subject
    assert parsed["To"].addresses[0].display_name == "สมชาย ใจดี"
    assert parsed["To"].addresses[0].addr_spec == "somchai@example.go.th"
    assert parsed["Message-ID"] == "<20260101T000000000000-7@maehia.go.th>"
    assert parsed.get_content() == THAI.text


def test_backend_is_chosen_by_the_mail_url(tmp_path: Path) -> None:
    files = backend_for(Settings(mail_url=f"file://{tmp_path}/out"))
    assert isinstance(files, FileBackend)
    assert files.folder == tmp_path / "out"
    default = backend_for(Settings(data_dir=str(tmp_path)))
    assert isinstance(default, FileBackend)
    assert default.folder == tmp_path / "mail"
    smtp = backend_for(Settings(mail_url="smtp://mailer%40lao:p%3Ass@relay.example:2525"))
    assert isinstance(smtp, SmtpBackend)
    assert (smtp.host, smtp.port, smtp.implicit_tls, smtp.username, smtp.password) == (
        "relay.example",
        2525,
        False,
        "mailer@lao",
        "p:ss",
    )
    tls = backend_for(Settings(mail_url="smtps://relay.example"))
    assert isinstance(tls, SmtpBackend)
    assert (tls.port, tls.implicit_tls, tls.username) == (465, True, None)
    for bad in ("http://relay.example", "smtp://", "file://"):
        with pytest.raises(ValueError, match="LOCALGOV_MAIL_URL"):
            backend_for(Settings(mail_url=bad))


async def test_smtp_backend_authenticates_and_sends() -> None:
    async with SmtpServer() as server:
        backend = SmtpBackend("127.0.0.1", server.port, implicit_tls=False, username="lao", password="secret")
        await backend.send(build_message(THAI, sender="no-reply@localgov.test", key="k-1"), "k-1")
    assert server.auth == ["\x00lao\x00secret"]
    [sent] = server.messages
    assert sent["rcpt"] == ["<somchai@example.go.th>"]
    message = _parse(sent["data"])
    assert message["Subject"] == THAI.subject
    assert message.get_content() == THAI.text


async def test_smtp_refusal_and_unreachable_server_are_errors() -> None:
    async with SmtpServer(refuse_rcpt=True) as server:
        backend = SmtpBackend("127.0.0.1", server.port, implicit_tls=False)
        with pytest.raises(Exception, match="no such user"):
            await backend.send(build_message(THAI, sender="no-reply@localgov.test", key="k"), "k")
    # A port bound and not listening refuses connections, and while it is bound here no other
    # process can take it (a port closed again could be another process's listener by the send).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            await SmtpBackend("127.0.0.1", closed_port, implicit_tls=False, timeout_s=2).send(
                build_message(THAI, sender="no-reply@localgov.test", key="k"), "k"
            )


def test_send_mail_refuses_header_injection() -> None:
    with pytest.raises(ValueError, match="not a mail address"):
        asyncio.run(send_mail(None, OutgoingMail(to="a@b.c\r\nBcc: x@evil", subject="s", text="t"), tenant_id=None))  # type: ignore[arg-type]


@pytest.fixture
async def fresh_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(fresh_database_url))
    yield eng
    await eng.dispose()


async def test_worker_sends_queued_mail_once_and_only_after_commit(
    fresh_engine: AsyncEngine, fresh_database_url: str, tmp_path: Path
) -> None:
    """The worker's own consumer map carries ``mail.send``: an entry is written with its change,
    a rolled-back change sends nothing, and a delivered entry is not sent again."""
    settings = make_settings(fresh_database_url, mail_url=f"file://{tmp_path}/mail")
    tenant = await make_tenant(fresh_engine)
    factory = session_factory(fresh_engine)
    async with tenant_session(factory, tenant) as session:
        entry = await send_mail(session, THAI, tenant_id=tenant.id)

    async def failing_change() -> None:
        async with tenant_session(factory, tenant) as session:
            await send_mail(session, OutgoingMail(to="x@example.go.th", subject="never", text="-"), tenant_id=tenant.id)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError, match="the change fails"):
        await failing_change()
    worker = Worker(settings, [])
    assert MAIL_TOPIC in worker.handlers
    catalog = Catalog(settings.base_domain)
    await catalog.load(fresh_engine)
    assert await worker.tick(factory, catalog) == 1
    assert await worker.tick(factory, catalog) == 0
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert [f.name.endswith(f"-{entry.id}.eml") for f in files] == [True]
    message = _parse(files[0].read_bytes())
    assert message["To"].addresses[0].addr_spec == "somchai@example.go.th"
    assert message["From"].addresses[0].addr_spec == "no-reply@localhost"
    assert message.get_content() == THAI.text
    async with fresh_engine.connect() as conn:
        status, payload = (
            await conn.execute(text("SELECT status, payload FROM platform.outbox WHERE id = :i"), {"i": entry.id})
        ).one()
    assert status == "delivered"
    # The body (one-time links) does not stay in the database once sent; the rest is the record.
    assert payload == {**msgspec.to_builtins(THAI), "text": SENT_BODY}


async def test_a_failing_send_is_retried_and_the_message_comes_out_once(
    fresh_engine: AsyncEngine, fresh_database_url: str, tmp_path: Path
) -> None:
    """An unreachable SMTP server leaves the entry pending with its error; once the server is up,
    the retry delivers it (at least once: the same entry, the same Message-ID)."""
    # The server's socket is bound from the start and listens only once the server is up: until
    # then connections are refused, and no other process can take the port meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        tenant = await make_tenant(fresh_engine)
        factory = session_factory(fresh_engine)
        async with tenant_session(factory, tenant) as session:
            entry = await send_mail(session, THAI, tenant_id=tenant.id)
        catalog = Catalog("localgov.test")
        await catalog.load(fresh_engine)
        worker = Worker(make_settings(fresh_database_url, mail_url=f"smtp://127.0.0.1:{port}"), [])
        assert await worker.tick(factory, catalog) == 1
        async with fresh_engine.begin() as conn:
            row = (
                await conn.execute(
                    text("SELECT status, attempts, last_error FROM platform.outbox WHERE id = :i"), {"i": entry.id}
                )
            ).one()
            assert (row.status, row.attempts) == ("pending", 1)
            assert "ConnectionRefusedError" in row.last_error
            await conn.execute(text("UPDATE platform.outbox SET available_at = now() WHERE id = :i"), {"i": entry.id})
        async with SmtpServer(sock=sock) as server:
            assert server.port == port
            assert await worker.tick(factory, catalog) == 1
            assert await worker.tick(factory, catalog) == 0
        [sent] = server.messages
        assert _parse(sent["data"])["Message-ID"].endswith(f"-{entry.id}@localhost>")
