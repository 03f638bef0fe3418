"""Notifications: queued with the change through the outbox (only the id in the shared outbox, the
message in the LAO's schema), idempotent per key, validated, delivered by the worker's consumer
through the real e-mail channel (``.eml`` files, Thai first and English after), and a channel of
another kind plugged in through the registry as an SMS or LINE provider would be."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from collections.abc import AsyncIterator
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.mail import FileBackend
from localgov.kernel.notifications import (
    EMAIL,
    NOTIFICATION_TOPIC,
    ChannelMessage,
    ChannelSpec,
    EmailChannel,
    InvalidAddress,
    InvalidNotification,
    NotificationRecord,
    Queued,
    UnknownChannel,
    get_notification,
    notification_consumer,
    notify,
    register_channel,
    registered_channels,
)
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.tenancy import TenantInfo
from localgov.platform.catalog import Catalog
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import make_settings
from tests.support.factories import make_tenant

SUBJECT_TH = "แจ้งผลการพิจารณาคำขอ เลขที่ 6500101-2569-000001"
BODY_TH = "เรียน นางสาวสมศรี ใจดี\n\nเทศบาลได้พิจารณาคำขอของท่านแล้ว ผลการพิจารณา: อนุญาต\n"
SUBJECT_EN = "Decision on application 6500101-2569-000001"
BODY_EN = "Dear Ms Somsri Jaidee,\n\nYour application was approved.\n"


async def _notify(session: AsyncSession, key: str = "tests.result:1", **changes: str) -> Queued:
    values: dict[str, str] = {
        "key": key,
        "source": "tests.result_notice",
        "channel": "email",
        "to": "somsri@example.go.th",
        "to_name": "นางสาวสมศรี ใจดี",
        "subject_th": SUBJECT_TH,
        "body_th": BODY_TH,
        "subject_en": SUBJECT_EN,
        "body_en": BODY_EN,
    }
    values.update(changes)
    return await notify(session, **values)  # type: ignore[arg-type]


async def _outbox(engine: AsyncEngine, tenant: TenantInfo) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM platform.outbox WHERE tenant_id = :t AND topic = :topic ORDER BY id"),
            {"t": tenant.id, "topic": NOTIFICATION_TOPIC},
        )
        return [row.payload for row in rows]


async def test_a_notification_is_queued_with_the_change_and_only_its_id_leaves_the_schema(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        queued = await _notify(session)
        assert queued.created
        assert queued.status == "queued"
    # The change that fails takes its notification with it.

    async def failing_change() -> None:
        async with tenant_session(factory, tenant) as session:
            await _notify(session, key="tests.result:never")
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError, match="the change fails"):
        await failing_change()
    # The shared outbox carries the id only: the message (a citizen's name, the decision) stays in
    # the LAO's schema, exported and purged with it.
    assert await _outbox(engine, tenant) == [{"notification_id": str(queued.id)}]
    async with tenant_session(factory, tenant) as session:
        view = await get_notification(session, queued.id)
        assert view is not None
        assert (view.key, view.channel, view.address, view.status) == (
            "tests.result:1",
            "email",
            "somsri@example.go.th",
            "queued",
        )
        assert (view.subject_th, view.body_th, view.subject_en, view.body_en) == (
            SUBJECT_TH,
            BODY_TH,
            SUBJECT_EN,
            BODY_EN,
        )
        assert view.sent_at is None
        never = (
            await session.execute(select(NotificationRecord.id).where(NotificationRecord.key == "tests.result:never"))
        ).all()
        assert never == []


async def test_the_same_key_queues_once(engine: AsyncEngine) -> None:
    """A job that runs twice, or a retried request, sends one message."""
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        first = await _notify(session)
    async with tenant_session(factory, tenant) as session:
        again = await _notify(session, subject_th="เรื่องอื่น")
    assert again == Queued(id=first.id, created=False, status="queued")
    assert len(await _outbox(engine, tenant)) == 1
    # Keys are the LAO's own: another LAO may use the same key.
    other = await make_tenant(engine)
    async with tenant_session(factory, other) as session:
        theirs = await _notify(session)
        assert theirs.created
        assert theirs.id != first.id
        # ... and never sees this LAO's notification.
        assert await get_notification(session, first.id) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"to": "not an address"}, "to"),
        ({"to": "somsri@example.go.th\r\nBcc: x@evil.example"}, "to"),
        ({"key": "has spaces in it"}, "key"),
        ({"key": ""}, "key"),
        ({"key": "k" * 201}, "key"),
        ({"source": "NoDot"}, "source"),
        ({"subject_th": "สองบรรทัด\nเรื่อง"}, "subject_th"),
        ({"subject_th": "  "}, "subject_th"),
        ({"body_th": ""}, "body_th"),
        ({"body_en": "x" * 20_001}, "body_en"),
        ({"to_name": "ชื่อ\nสองบรรทัด"}, "to_name"),
    ],
)
async def test_bad_notifications_are_refused(engine: AsyncEngine, changes: dict[str, str], field: str) -> None:
    tenant = await make_tenant(engine)
    async with tenant_session(session_factory(engine), tenant) as session:
        with pytest.raises(InvalidNotification) as refused:
            await _notify(session, **changes)
    assert (refused.value.code, refused.value.status, refused.value.data["field"]) == (
        "notification_invalid",
        422,
        field,
    )
    assert await _outbox(engine, tenant) == []


async def test_an_unknown_channel_is_refused(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    async with tenant_session(session_factory(engine), tenant) as session:
        with pytest.raises(UnknownChannel) as refused:
            await _notify(session, channel="pigeon")
    assert (refused.value.code, refused.value.status) == ("notification_channel_unknown", 422)
    assert "email" in refused.value.data["known"]


def test_the_registry_knows_email_and_refuses_a_second_definition() -> None:
    assert registered_channels()["email"] is EMAIL
    register_channel(EMAIL)  # the same spec again: nothing changes
    with pytest.raises(ValueError, match="registered already"):
        register_channel(msgspec.structs.replace(EMAIL, title_en="Mail"))
    with pytest.raises(ValueError, match="must match"):
        register_channel(msgspec.structs.replace(EMAIL, code="E-Mail"))
    assert EMAIL.check_address(" somsri@example.go.th ") == "somsri@example.go.th"
    with pytest.raises(InvalidAddress):
        EMAIL.check_address("somsri at example")


def test_the_email_puts_thai_first_and_english_after() -> None:
    message = ChannelMessage(
        id=uuid.uuid4(),
        key="k",
        address="somsri@example.go.th",
        recipient_name="นางสาวสมศรี ใจดี",
        subject_th=SUBJECT_TH,
        body_th=BODY_TH,
        subject_en=SUBJECT_EN,
        body_en=BODY_EN,
    )
    mail = EmailChannel.mail(message)
    assert mail.subject == f"{SUBJECT_TH} / {SUBJECT_EN}"
    assert mail.text.index("เรียน") < mail.text.index("-----") < mail.text.index("Dear")
    thai_only = EmailChannel.mail(msgspec.structs.replace(message, subject_en=None, body_en=None))
    assert (thai_only.subject, thai_only.text) == (SUBJECT_TH, BODY_TH + "\n")


# --- delivery -------------------------------------------------------------------------------------------


@pytest.fixture
async def fresh_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(fresh_database_url))
    yield eng
    await eng.dispose()


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_the_worker_sends_the_email_once_and_marks_it_sent(
    fresh_engine: AsyncEngine, fresh_database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(fresh_database_url, mail_url=f"file://{tmp_path}/mail")
    tenant = await make_tenant(fresh_engine)
    factory = session_factory(fresh_engine)
    async with tenant_session(factory, tenant) as session:
        queued = await _notify(session)
    worker = Worker(settings, [])
    assert NOTIFICATION_TOPIC in worker.handlers
    catalog = Catalog(settings.base_domain)
    await catalog.load(fresh_engine)
    assert await worker.tick(factory, catalog) == 1
    assert await worker.tick(factory, catalog) == 0
    [sent] = sorted((tmp_path / "mail").glob("*.eml"))
    assert sent.name == f"notification-{queued.id}.eml"
    message = _parse(sent.read_bytes())
    assert message["Subject"] == f"{SUBJECT_TH} / {SUBJECT_EN}"
    assert message["To"].addresses[0].addr_spec == "somsri@example.go.th"
    # The name as RFC 2047 decodes it (the stdlib's address parser puts a space between two encoded
    # words of one Thai name; mail clients do not).
    raw_to = email.message_from_bytes(sent.read_bytes())["To"]
    assert str(make_header(decode_header(raw_to))) == "นางสาวสมศรี ใจดี <somsri@example.go.th>"
    assert message["Message-ID"] == f"<notification-{queued.id}@localhost>"
    body = message.get_content()
    assert body.startswith(BODY_TH)
    assert body.rstrip().endswith(BODY_EN.rstrip())
    async with tenant_session(factory, tenant) as session:
        view = await get_notification(session, queued.id)
    assert view is not None
    assert view.status == "sent"
    assert view.sent_at is not None
    async with fresh_engine.connect() as conn:
        status = (
            await conn.execute(text("SELECT status FROM platform.outbox WHERE tenant_id = :t"), {"t": tenant.id})
        ).scalar_one()
    assert status == "delivered"


async def _delivery(session: AsyncSession, tenant: TenantInfo) -> Delivery:
    entry = (
        await session.execute(
            select(OutboxEntry).where(OutboxEntry.tenant_id == tenant.id, OutboxEntry.topic == NOTIFICATION_TOPIC)
        )
    ).scalar_one()
    return Delivery(entry, session, {tenant.id: tenant.schema})


class Recorder:
    """A channel of another kind (what an SMS or LINE provider writes): it records what it sends,
    and fails while told to."""

    def __init__(self) -> None:
        self.sent: list[ChannelMessage] = []
        self.failing = False

    async def send(self, message: ChannelMessage) -> None:
        if self.failing:
            raise ConnectionError("the provider is down")
        self.sent.append(message)


def _phone(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw)
    if not re.fullmatch(r"0[689][0-9]{8}", digits):
        raise InvalidAddress("not a Thai mobile number")
    return digits


RECORDER = Recorder()
SMS = ChannelSpec(
    code="tests_sms",
    title_th="ข้อความสั้น (ทดสอบ)",
    title_en="SMS (test)",
    check_address=_phone,
    build=lambda settings: RECORDER,
)


async def _consume(factory: async_sessionmaker[AsyncSession], tenant: TenantInfo, settings: Settings) -> None:
    async with tenant_session(factory, None) as session:
        await notification_consumer(settings)(await _delivery(session, tenant))


async def test_a_provider_plugs_in_through_the_registry(engine: AsyncEngine, settings: Settings) -> None:
    """An SMS provider registers its spec (its address rule and its sender's factory) and nothing
    else changes: ``notify`` checks its addresses, the consumer builds its sender and calls it; a
    failure leaves the notification queued for the outbox's retry; a repeat sends nothing."""
    register_channel(SMS)
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        with pytest.raises(InvalidNotification):
            await _notify(session, channel="tests_sms", to="somsri@example.go.th")
        queued = await _notify(session, channel="tests_sms", to="081-234-5678")
    RECORDER.failing = True
    with pytest.raises(ConnectionError):
        await _consume(factory, tenant, settings)
    async with tenant_session(factory, tenant) as session:
        view = await get_notification(session, queued.id)
        assert view is not None
        assert view.status == "queued"
        assert view.address == "0812345678"
    RECORDER.failing = False
    await _consume(factory, tenant, settings)
    await _consume(factory, tenant, settings)  # at least once: a repeat of a sent notification sends nothing
    assert [(m.id, m.address, m.subject_th, m.body_en) for m in RECORDER.sent] == [
        (queued.id, "0812345678", SUBJECT_TH, BODY_EN)
    ]
    async with tenant_session(factory, tenant) as session:
        view = await get_notification(session, queued.id)
        assert view is not None
        assert view.status == "sent"


async def test_the_email_sender_is_built_from_the_settings(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """The consumer's e-mail sender is the kernel's mail backend (here: the file backend given)."""
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        queued = await _notify(session)
    consumer = notification_consumer(
        settings, {"email": EmailChannel(FileBackend(tmp_path), "อบต. <lao@example.go.th>")}
    )
    async with tenant_session(factory, None) as session:
        await consumer(await _delivery(session, tenant))
    message = _parse((tmp_path / f"notification-{queued.id}.eml").read_bytes())
    assert message["From"].addresses[0].addr_spec == "lao@example.go.th"
    assert message["Subject"].startswith(SUBJECT_TH)
