"""Letters between two LAOs on the platform land exactly once: a copy delivered twice (one after
the other, and two copies at the same time) and a worker killed in the middle of a delivery
leave one letter in the recipient's receive register and one receipt on the sender's side."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.usage import UsageEvent
from localgov.services.saraban import registers
from localgov.services.saraban.delivery import HANDLERS
from localgov.services.saraban.letters import DELIVER_TOPIC, RECEIPT_TOPIC
from localgov.services.saraban.models import Letter, LetterEvent, Recipient, RegisterEntry
from tests.support.factories import make_tenant
from tests.support.saraban import Lao, deliver, issued, make_lao, pending


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


async def test_a_copy_delivered_twice_lands_once(engine: AsyncEngine) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51302")
    letter_id = await issued(sender, **to_lao(recipient))
    assert (await recipient_row(sender, letter_id)).status == "queued"
    assert len(await pending(engine, recipient.tenant, DELIVER_TOPIC)) == 1
    # The consumer runs and commits, but the entry stays pending (the worker died before marking
    # it): it is delivered again.
    assert await deliver(engine, [recipient], DELIVER_TOPIC, mark=False) == 1
    assert await deliver(engine, [recipient], DELIVER_TOPIC) == 1
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == []
    # Two receipts went back; the second changes nothing.
    assert len(await pending(engine, sender.tenant, RECEIPT_TOPIC)) == 2
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 2
    await assert_landed_once(sender, recipient, letter_id)


async def test_two_copies_at_the_same_time_land_once(engine: AsyncEngine) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51303")
    letter_id = await issued(sender, **to_lao(recipient))
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
                await HANDLERS[DELIVER_TOPIC](Delivery(entry, session, schemas))
            entry.status = "delivered"

    await asyncio.gather(*(worker(entry_id) for entry_id in ids))
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 2
    await assert_landed_once(sender, recipient, letter_id)


async def test_a_worker_killed_midway_leaves_nothing_and_the_retry_lands_once(engine: AsyncEngine) -> None:
    sender, recipient = await make_lao(engine), await make_lao(engine, agency_code="ขก 51304")
    letter_id = await issued(sender, **to_lao(recipient))
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
                await HANDLERS[DELIVER_TOPIC](Delivery(entry, session, schemas))
            entry.status = "delivered"
            async with engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with pytest.raises(DBAPIError):
        await killed_before_commit()
    # Nothing of the half-done delivery is left; the entry is still due.
    assert await received_in(recipient) == []
    assert await receive_lines(recipient) == []
    assert await pending(engine, recipient.tenant, DELIVER_TOPIC) == [entry_id]
    assert await pending(engine, sender.tenant, RECEIPT_TOPIC) == []
    # The next worker delivers it.
    assert await deliver(engine, [recipient], DELIVER_TOPIC) == 1
    assert await deliver(engine, [sender], RECEIPT_TOPIC) == 1
    await assert_landed_once(sender, recipient, letter_id)


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
