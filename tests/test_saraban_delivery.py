"""Letters between two LAOs on the platform land exactly once: a copy delivered twice (one after
the other, and two copies at the same time) and a worker killed in the middle of a delivery
leave one letter in the recipient's receive register, with one copy of each of its documents (the
same bytes, SHA-256, names and types, read through the recipient's own endpoints), and one receipt
on the sender's side. A recipient closed or suspended on the platform fails the delivery at once,
with a typed reason the sender sees."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.documents import OfficialDocument, Paragraph, render
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.storage import BlobStore, blob_store, list_files, open_file
from localgov.kernel.storage.files import StoredFile
from localgov.kernel.usage import UsageEvent
from localgov.platform.models import Tenant
from localgov.plugins import REGISTRY
from localgov.services.saraban import delivery, documents, issuing, registers
from localgov.services.saraban.delivery import HANDLERS
from localgov.services.saraban.errors import InvalidLetter
from localgov.services.saraban.letters import DELIVER_TOPIC, RECEIPT_TOPIC
from localgov.services.saraban.models import Letter, LetterEvent, Recipient, RegisterEntry
from localgov.settings import Settings
from tests.conftest import ClientFactory
from tests.support.factories import make_tenant
from tests.support.saraban import ORIGIN, Lao, approved, deliver, issued, make_lao, pending


@functools.cache
def enclosures() -> tuple[tuple[str, bytes], ...]:
    """สิ่งที่ส่งมาด้วย: a PDF with Thai text and a scanned page (PNG)."""
    pdf = render(
        OfficialDocument(
            issuer_th="กองช่าง",
            title_th="ระเบียบวาระการประชุม",
            body=[Paragraph(text="วาระที่ ๑ พิจารณาโครงการขุดลอกคลองส่งน้ำเพื่อการเกษตร")],
        )
    )
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (180, 30, 30)).save(out, format="PNG")
    return (("ระเบียบวาระการประชุม.pdf", pdf), ("แผนที่ตั้ง.png", out.getvalue()))


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[BlobStore]:
    blobs = blob_store(settings)
    yield blobs
    await blobs.aclose()


async def documents_of(lao: Lao, store: BlobStore, letter_id: uuid.UUID) -> list[tuple[str, str, int, str, bytes]]:
    """(name, type, size, SHA-256, bytes) of a letter's files, read back from the LAO's storage."""
    out = []
    async with lao.db() as session:
        for item in await list_files(session, documents.attachment_owner(letter_id)):
            opened = await open_file(session, store, item.id, owner=documents.attachment_owner(letter_id))
            data = await opened.chunks.read_all()
            out.append((item.filename, item.content_type, item.size_bytes, item.sha256, data))
    return out


async def stored_files(lao: Lao) -> int:
    async with lao.db() as session:
        return int((await session.execute(select(func.count()).select_from(StoredFile))).scalar_one())


async def assert_documents_copied_once(
    sender: Lao, recipient: Lao, store: BlobStore, letter_id: uuid.UUID
) -> list[tuple[str, str, int, str, bytes]]:
    """The received letter holds one copy of each of the sender's documents: same names, types,
    sizes, SHA-256 and bytes (checked as read from the recipient's own storage)."""
    [copy] = await received_in(recipient)
    sent = await documents_of(sender, store, letter_id)
    got = await documents_of(recipient, store, copy.id)
    assert len(sent) == 2
    assert got == sent
    for _name, _type, size, sha256, data in got:
        assert len(data) == size
        assert hashlib.sha256(data).hexdigest() == sha256
    assert await stored_files(recipient) == 2  # nothing else stored: not twice, not half
    return got


def to_lao(recipient: Lao) -> dict[str, object]:
    return {"recipients": [{"kind": "lao", "dla_code": recipient.tenant.dla_code}]}


async def received_in(lao: Lao) -> list[Letter]:
    async with lao.db() as session:
        return list((await session.execute(select(Letter).where(Letter.direction == "incoming"))).scalars())


async def receive_lines(lao: Lao) -> list[RegisterEntry]:
    async with lao.db() as session:
        rows = await session.execute(select(RegisterEntry).where(RegisterEntry.register == "receive"))
        return list(rows.scalars())


async def recipient_row(lao: Lao, letter_id: uuid.UUID) -> Recipient:
    async with lao.db() as session:
        return (await session.execute(select(Recipient).where(Recipient.letter_id == letter_id))).scalar_one()


async def delivered_events(lao: Lao, letter_id: uuid.UUID) -> int:
    async with lao.db() as session:
        count = await session.execute(
            select(func.count()).where(LetterEvent.letter_id == letter_id, LetterEvent.action == "delivered")
        )
        return int(count.scalar_one())


async def assert_landed_once(sender: Lao, recipient: Lao, letter_id: uuid.UUID) -> None:
    landed = await received_in(recipient)
    assert len(landed) == 1
    copy = landed[0]
    assert copy.source_letter_id == letter_id
    assert copy.source_tenant_id == sender.tenant.id
    assert copy.subject == "ขอเชิญประชุมคณะกรรมการพัฒนาท้องถิ่น"
    assert copy.status == "received"
    lines = await receive_lines(recipient)
    assert [(line.seq, line.letter_id) for line in lines] == [(1, copy.id)]
    assert lines[0].letter_no.startswith("ที่ ขก 51301/")
    # The receipt is on the sender's addressee row (once) and names the recipient's receive number.
    row = await recipient_row(sender, letter_id)
    assert row.status == "delivered"
    assert row.receipt_no == f"1/{lines[0].year}"
    assert row.receipt_letter_id == copy.id
    assert await delivered_events(sender, letter_id) == 1
    # Both sides' chains are intact; the letters received are metered once.
    async with recipient.db() as session:
        assert all(report.ok for report in await registers.verify(session))
        usage = await session.execute(
            select(func.sum(UsageEvent.quantity)).where(
                UsageEvent.tenant_id == recipient.tenant.id, UsageEvent.meter == "saraban.letters_received"
            )
        )
        assert usage.scalar_one() == Decimal(1)


async def test_a_copy_delivered_twice_lands_once_with_its_documents(
    engine: AsyncEngine, settings: Settings, store: BlobStore, client_for: ClientFactory
) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51302")
    letter_id = await issued(sender, files_in=enclosures(), store=store, **to_lao(recipient))
    assert (await recipient_row(sender, letter_id)).status == "queued"
    assert len(await pending(engine, recipient.tenant, DELIVER_TOPIC)) == 1
    # The consumer runs and commits, but the entry stays pending (the worker died before marking
    # it): it is delivered again.
    assert await deliver(engine, [recipient], DELIVER_TOPIC, mark=False, settings=settings) == 1
    assert await deliver(engine, [recipient], DELIVER_TOPIC, settings=settings) == 1
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == []
    # Two receipts went back; the second changes nothing.
    assert len(await pending(engine, sender.tenant, RECEIPT_TOPIC)) == 2
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 2
    await assert_landed_once(sender, recipient, letter_id)
    copied = await assert_documents_copied_once(sender, recipient, store, letter_id)
    [copy] = await received_in(recipient)
    # The recipient's staff read them through the recipient's own endpoints; the sender's cannot.
    async with client_for(plugins=REGISTRY, listen=False) as http:
        listed = await http.get(f"/v1/saraban/letters/{copy.id}/files", headers=recipient.headers("clerk"))
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert [(i["filename"], i["content_type"], i["sha256"]) for i in items] == [
            (name, kind, sha256) for name, kind, _, sha256, _ in copied
        ]
        for item, (*_, data) in zip(items, copied, strict=True):
            got = await http.get(
                f"/v1/saraban/letters/{copy.id}/files/{item['id']}", headers=recipient.headers("clerk")
            )
            assert got.status_code == 200
            assert got.content == data
        foreign = await http.get(f"/v1/saraban/letters/{copy.id}/files", headers=sender.headers("clerk"))
        assert foreign.status_code == 404
        # The PDF's text is indexed in the recipient's search.
        hits = await http.get("/v1/saraban/search", params={"q": "ขุดลอกคลอง"}, headers=recipient.headers("clerk"))
        assert [item["id"] for item in hits.json()["items"]] == [str(copy.id)]


async def test_two_copies_at_the_same_time_land_once(engine: AsyncEngine, settings: Settings, store: BlobStore) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51303")
    letter_id = await issued(sender, files_in=enclosures(), store=store, **to_lao(recipient))
    # A second copy of the same entry (a producer retried, a message replayed).
    async with tenant_session(session_factory(engine), None) as session:
        original = (
            await session.execute(
                select(OutboxEntry).where(
                    OutboxEntry.tenant_id == recipient.tenant.id, OutboxEntry.topic == DELIVER_TOPIC
                )
            )
        ).scalar_one()
        session.add(OutboxEntry(topic=DELIVER_TOPIC, payload=dict(original.payload), tenant_id=recipient.tenant.id))
    ids = await pending(engine, recipient.tenant, DELIVER_TOPIC)
    assert len(ids) == 2
    schemas = {recipient.tenant.id: recipient.tenant.schema}

    async def worker(entry_id: int) -> None:
        async with tenant_session(session_factory(engine), None) as session:
            entry = (
                await session.execute(select(OutboxEntry).where(OutboxEntry.id == entry_id).with_for_update())
            ).scalar_one()
            async with session.begin_nested():
                await HANDLERS[DELIVER_TOPIC](Delivery(entry, session, schemas, settings=settings))
            entry.status = "delivered"

    await asyncio.gather(*(worker(entry_id) for entry_id in ids))
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 2
    await assert_landed_once(sender, recipient, letter_id)
    await assert_documents_copied_once(sender, recipient, store, letter_id)


async def test_a_worker_killed_midway_leaves_nothing_and_the_retry_lands_once(
    engine: AsyncEngine, settings: Settings, store: BlobStore
) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51304")
    letter_id = await issued(sender, files_in=enclosures(), store=store, **to_lao(recipient))
    [entry_id] = await pending(engine, recipient.tenant, DELIVER_TOPIC)
    schemas = {recipient.tenant.id: recipient.tenant.schema}

    # The consumer does all its work in the claiming transaction, then the worker's connection is
    # killed by the server before the commit.
    async def killed_before_commit() -> None:
        async with tenant_session(session_factory(engine), None) as session:
            entry = (
                await session.execute(select(OutboxEntry).where(OutboxEntry.id == entry_id).with_for_update())
            ).scalar_one()
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with session.begin_nested():
                await HANDLERS[DELIVER_TOPIC](Delivery(entry, session, schemas, settings=settings))
            # The documents were copied in this transaction (the copies' rows are not yet committed).
            copied = await session.execute(text("SELECT count(*) FROM stored_files"))
            assert copied.scalar_one() == 2
            entry.status = "delivered"
            async with engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with pytest.raises(DBAPIError):
        await killed_before_commit()
    # Nothing of the half-done delivery is left; the entry is still due.
    assert await received_in(recipient) == []
    assert await receive_lines(recipient) == []
    assert await stored_files(recipient) == 0
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == [entry_id]
    assert await pending(engine, sender.tenant, RECEIPT_TOPIC) == []
    # The next worker delivers it.
    assert await deliver(engine, [recipient], DELIVER_TOPIC, settings=settings) == 1
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 1
    await assert_landed_once(sender, recipient, letter_id)
    await assert_documents_copied_once(sender, recipient, store, letter_id)


async def test_letters_from_two_laos_delivered_by_parallel_workers_get_contiguous_receive_numbers(
    engine: AsyncEngine,
) -> None:
    first, second = await make_lao(engine), await make_lao(engine, agency_code="ขก 51305")
    recipient = await make_lao(engine, agency_code="ขก 51306")
    for sender in (first, second):
        for _ in range(6):
            await issued(sender, **to_lao(recipient))
    ids = await pending(engine, recipient.tenant, DELIVER_TOPIC)
    assert len(ids) == 12
    schemas = {recipient.tenant.id: recipient.tenant.schema}

    async def worker(share: list[int]) -> None:
        for entry_id in share:
            async with tenant_session(session_factory(engine), None) as session:
                entry = (
                    await session.execute(select(OutboxEntry).where(OutboxEntry.id == entry_id).with_for_update())
                ).scalar_one()
                async with session.begin_nested():
                    await HANDLERS[DELIVER_TOPIC](Delivery(entry, session, schemas))
                entry.status = "delivered"

    await asyncio.gather(*(worker(ids[i::4]) for i in range(4)))
    lines = await receive_lines(recipient)
    assert sorted(line.seq for line in lines) == list(range(1, 13))
    assert len({line.letter_id for line in lines}) == 12
    async with recipient.db() as session:
        assert [report.ok for report in await registers.verify(session)] == [True]
    assert await deliver(engine, [first, second], RECEIPT_TOPIC) == 12
    for sender in (first, second):
        async with sender.db() as session:
            statuses = (await session.execute(select(Recipient.status, Recipient.receipt_no))).all()
        assert {status for status, _ in statuses} == {"delivered"}
        assert all(no is not None for _, no in statuses)


async def test_a_recipient_without_saraban_tables_is_reported_failed_to_the_sender(engine: AsyncEngine) -> None:
    """The copy reaches an LAO whose schema no longer has the service (it was left since): the
    sender's addressee row says so instead of the entry retrying until it dies."""
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51307")
    gone = await make_tenant(engine, services=())
    letter_id = await issued(sender, **to_lao(recipient))
    async with tenant_session(session_factory(engine), None) as session:
        entry = (
            await session.execute(
                select(OutboxEntry).where(
                    OutboxEntry.tenant_id == recipient.tenant.id, OutboxEntry.topic == DELIVER_TOPIC
                )
            )
        ).scalar_one()
        entry.tenant_id = gone.id
    gone_lao = Lao(gone, engine, {}, uuid.uuid4(), uuid.uuid4())
    assert await deliver(engine, [gone_lao], DELIVER_TOPIC) == 1
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 1
    row = await recipient_row(sender, letter_id)
    assert (row.status, row.error, row.receipt_no) == ("failed", "recipient_not_running_saraban", None)
    assert await delivered_events(sender, letter_id) == 0


async def set_status(engine: AsyncEngine, lao: Lao, status: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Tenant).where(Tenant.id == lao.tenant.id).values(status=status))


async def audits(lao: Lao, action: str) -> list[dict[str, object]]:
    async with lao.engine.connect() as conn:
        rows = await conn.execute(
            text(f'SELECT data FROM "{lao.tenant.schema}".audit_events WHERE action = :a'), {"a": action}
        )
        return [dict(row[0]) for row in rows]


async def usage(lao: Lao, meter: str) -> Decimal:
    async with lao.db() as session:
        total = await session.execute(
            select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
                UsageEvent.tenant_id == lao.tenant.id, UsageEvent.meter == meter
            )
        )
        return Decimal(total.scalar_one())


async def test_a_recipient_closed_after_the_letter_was_sent_fails_the_delivery_at_once(
    engine: AsyncEngine, settings: Settings, store: BlobStore
) -> None:
    """The LAO closes while its copy waits in the outbox: the first delivery attempt (not the
    outbox's last) fails it with ``recipient_closed``; the sender's row, event and audit say so;
    nothing lands in the closed LAO; the letter stays metered as sent, nothing as received."""
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51308")
    letter_id = await issued(sender, files_in=enclosures()[:1], store=store, **to_lao(recipient))
    await set_status(engine, recipient, "closed")
    assert await deliver(engine, [recipient], DELIVER_TOPIC, settings=settings) == 1
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == []
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 1
    row = await recipient_row(sender, letter_id)
    assert (row.status, row.error, row.receipt_no, row.receipt_letter_id) == ("failed", "recipient_closed", None, None)
    async with sender.db() as session:
        events = await session.execute(
            select(LetterEvent.action, LetterEvent.note).where(
                LetterEvent.letter_id == letter_id, LetterEvent.action.in_(["delivery_failed", "delivered"])
            )
        )
        assert [(action, note) for action, note in events] == [("delivery_failed", f"{row.name_th}: recipient_closed")]
    assert await audits(sender, "saraban.delivery_failed") == [
        {"recipient_id": str(row.id), "recipient_tenant_id": recipient.tenant.id, "error": "recipient_closed"}
    ]
    assert await received_in(recipient) == []
    assert await receive_lines(recipient) == []
    assert await stored_files(recipient) == 0
    assert await usage(sender, "saraban.letters_sent_lao") == 1
    assert await usage(recipient, "saraban.letters_received") == 0
    # A receipt delivered again changes nothing (one event, one audit).
    async with tenant_session(session_factory(engine), None) as session:
        await session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.tenant_id == sender.tenant.id, OutboxEntry.topic == RECEIPT_TOPIC)
            .values(status="pending")
        )
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 1
    assert len(await audits(sender, "saraban.delivery_failed")) == 1


async def test_a_recipient_suspended_before_issue_fails_at_issue_and_nothing_is_queued(engine: AsyncEngine) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51309")
    letter_id = await approved(sender, **to_lao(recipient))
    await set_status(engine, recipient, "suspended")
    async with sender.db() as session:
        await issuing.issue_letter(
            session, letter_id, 3, tenant=sender.tenant, viewer=sender.viewer("clerk"), origin=ORIGIN
        )
    row = await recipient_row(sender, letter_id)
    assert (row.status, row.error) == ("failed", "recipient_suspended")
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == []
    assert [a["error"] for a in await audits(sender, "saraban.delivery_failed")] == ["recipient_suspended"]
    assert await usage(sender, "saraban.letters_sent_lao") == 0  # nothing was sent


async def test_documents_beyond_the_limits_are_refused_at_issue(
    engine: AsyncEngine, store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51310")
    monkeypatch.setattr(delivery, "MAX_DOCUMENTS", 1)
    letter_id = await approved(sender, files_in=enclosures(), store=store, **to_lao(recipient))
    with pytest.raises(InvalidLetter) as refused:
        async with sender.db() as session:
            await issuing.issue_letter(
                session, letter_id, 3, tenant=sender.tenant, viewer=sender.viewer("clerk"), origin=ORIGIN
            )
    assert refused.value.data is not None
    assert refused.value.data["reason"] == "documents_too_large"
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == []
