"""Events between services: payments publishes what became of a bill, other plugins react.

The demo plugin (tests/support/demo_plugin.py, written against the kernel and payments' public
``api`` only) issues a permit once its fee is paid. Tests that run the worker use a database of
their own: the worker claims every due entry of its database.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest
from litestar import Router
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.events import EventType, InvalidEventPayload, UnknownTenant, fan_out, publish
from localgov.kernel.outbox import Delivery, OutboxEntry, deliver_batch
from localgov.kernel.plugins import ServicePlugin
from localgov.platform.catalog import Catalog, TenantInfo
from localgov.services.payments import PLUGIN as PAYMENTS
from localgov.services.payments import bank, bills, receipts
from localgov.services.payments.api import (
    BILL_CANCELLED,
    BILL_PAID,
    RECEIPT_ISSUED,
    RECEIPT_VOIDED,
    BillCancelled,
    BillPaid,
    ReceiptVoided,
)
from localgov.services.payments.models import Bill, Receipt
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import ClientFactory, host, make_settings
from tests.support import demo_plugin
from tests.support.demo_plugin import DEMO, REMINDER_AFTER, REMINDER_TOPIC
from tests.support.factories import make_tenant
from tests.support.payments import BILLER_ID, make_payer, set_biller
from tests.support.tokens import TEST_SECRET, bearer

NOTIFY = "/v1/payments/bank/notifications"
FEE = Decimal("350.00")


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_settings(fresh_database_url: str) -> Settings:
    return make_settings(fresh_database_url)


@pytest.fixture
async def fresh_engine(fresh_settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(fresh_settings)
    yield eng
    await eng.dispose()


async def demo_lao(engine: AsyncEngine, *services: str) -> tuple[TenantInfo, str]:
    """A tenant with payments and the demo enabled (plus ``services``), a biller ID, a webhook
    secret and the demo's table; returns it and the secret."""
    tenant = await make_tenant(engine, services=["payments", "demo", *services])
    async with tenant_session(session_factory(engine), tenant) as session:
        await set_biller(session)
        secret, _ = await bank.rotate_webhook_secret(session, TEST_SECRET, actor=Actor("system"), origin=Origin())
    return tenant, secret


async def apply(engine: AsyncEngine, tenant: TenantInfo) -> tuple[int, Bill]:
    """A permit application of the demo plugin, and the bill payments made for its fee."""
    async with tenant_session(session_factory(engine), tenant) as session:
        payer = await make_payer(session)
        application = await demo_plugin.apply_for_permit(
            session, payer_id=payer.id, applicant="นายขออนุญาต ทดสอบ", fee=FEE
        )
        bill = (
            await session.execute(select(Bill).where(Bill.source_key == demo_plugin.source_key(application)))
        ).scalar_one()
    return application, bill


def notice(bill: Bill, amount: Decimal = FEE) -> dict[str, Any]:
    return {
        "transaction_id": f"TXN{uuid.uuid4().hex[:16].upper()}",
        "biller_id": BILLER_ID,
        "ref1": bill.reference,
        "amount": str(amount),
        "paid_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "payer_bank": "014",
    }


async def pay(session: AsyncSession, bill: Bill, amount: Decimal = FEE) -> bank.Outcome:
    """A bank payment recorded by the real matching code (what the webhook and statements call)."""
    fields = notice(bill, amount)
    paid = bank.normalise_notice(
        transaction_id=fields["transaction_id"],
        biller_id=fields["biller_id"],
        ref1=fields["ref1"],
        ref2=None,
        amount=Decimal(fields["amount"]),
        paid_at=dt.datetime.fromisoformat(fields["paid_at"]),
        raw=fields,
    )
    return await bank.record_notice(session, paid, channel="webhook", biller_id=BILLER_ID, book_size=100)


async def permit(engine: AsyncEngine, tenant: TenantInfo, application: int) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(text(f'SELECT * FROM "{tenant.schema}".demo_permits WHERE id = :i'), {"i": application})
        ).one()


async def outbox(engine: AsyncEngine, tenant: TenantInfo) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT id, topic, consumer, status, attempts, last_error, payload, available_at,"
                " available_at - now() AS due_in FROM platform.outbox WHERE tenant_id = :t ORDER BY id"
            ),
            {"t": tenant.id},
        )
        return list(result)


class Running(msgspec.Struct):
    worker: Worker
    factory: async_sessionmaker[AsyncSession]
    catalog: Catalog

    async def drain(self) -> int:
        """Ticks until nothing is left to deliver (an event is fanned out in one tick, its copies
        delivered in the next)."""
        total = 0
        for _ in range(10):
            handled = await self.worker.tick(self.factory, self.catalog)
            total += handled
            if handled == 0:
                return total
        raise AssertionError("the outbox never drained")


async def running(settings: Settings, engine: AsyncEngine, plugins: Sequence[ServicePlugin]) -> Running:
    catalog = Catalog(settings.base_domain)
    await catalog.load(engine)
    return Running(worker=Worker(settings, plugins), factory=session_factory(engine), catalog=catalog)


async def make_due(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE platform.outbox SET available_at = now() - interval '1 second' WHERE status = 'pending'")
        )


# --- a permit issued once its fee is paid -------------------------------------------------------


async def test_demo_plugin_issues_its_permit_only_after_the_bank_pays_the_bill(
    fresh_settings: Settings, fresh_engine: AsyncEngine, client_for: ClientFactory
) -> None:
    engine = fresh_engine
    tenant, secret = await demo_lao(engine)
    application, bill = await apply(engine, tenant)
    assert (bill.source, bill.status) == ("demo", "open")
    plugins = [PAYMENTS, DEMO]
    worker = await running(fresh_settings, engine, plugins)

    # Nothing is issued while the bill is open, whatever the worker does.
    await worker.drain()
    assert (await permit(engine, tenant, application)).status == "awaiting_fee"
    assert await outbox(engine, tenant) == []

    # The bank pays it through the signed webhook.
    body = json.dumps(notice(bill)).encode()
    async with client_for(plugins=plugins, settings_=fresh_settings) as client:
        response = await client.post(
            NOTIFY,
            content=body,
            headers={**host(tenant.slug), **bank_headers(secret, body)},
        )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "matched"
    receipt_number = "{book_no}/{receipt_no}/{fiscal_year}".format(**response.json()["receipt"])

    # Committed with the payment: the bill's event (and the receipt's, for payments' own e-receipt),
    # for nobody in particular yet; no permit before delivery.
    receipt_event, event = await outbox(engine, tenant)
    assert (receipt_event.topic, receipt_event.consumer) == (RECEIPT_ISSUED.code, None)
    assert (event.topic, event.consumer, event.status) == ("payments.bill_paid", None, "pending")
    paid = msgspec.convert(event.payload, BillPaid)
    assert (paid.bill_id, paid.reference, paid.source, paid.source_key) == (
        bill.id,
        bill.reference,
        "demo",
        demo_plugin.source_key(application),
    )
    assert (paid.amount, paid.receipt_number) == (FEE, receipt_number)
    assert (await permit(engine, tenant, application)).status == "awaiting_fee"

    await worker.drain()
    issued = await permit(engine, tenant, application)
    assert issued.status == "issued"
    assert issued.permit_no.startswith("1/")
    assert issued.receipt_number == receipt_number
    assert issued.reminded_at is None

    # The permit is a document: printed with its QR stamp, verified by anyone on the LAO's host.
    clerk = bearer(tenant, roles=["demo.clerk"])
    async with client_for(plugins=plugins, settings_=fresh_settings) as client:
        shown = await client.get(f"/v1/demo/permits/{application}", headers={**host(tenant.slug), **clerk})
        assert shown.status_code == 200, shown.text
        url = shown.json()["verification_url"]
        assert url.startswith(f"https://{tenant.slug}.")
        assert "/documents/verify/" in url
        code = url.rsplit("/", 1)[1]
        verified = await client.get(f"/v1/documents/verify/{code}", headers=host(tenant.slug))
        assert verified.status_code == 200, verified.text
        assert (verified.json()["number"], verified.json()["status"]) == (issued.permit_no, "valid")
        assert verified.json()["holder"] == "นายขออนุญาต ท***"
        pdf = await client.get(f"/v1/demo/permits/{application}/pdf", headers={**host(tenant.slug), **clerk})
        assert pdf.status_code == 200
        text_layer = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert f"เลขที่ {issued.permit_no}" in text_layer
        assert code in text_layer  # the code is printed under the QR stamp

    everything = await outbox(engine, tenant)
    # The receipt's event went to payments alone (its payer has no e-mail address: nothing mailed).
    assert [(e.consumer, e.status) for e in everything if e.topic == RECEIPT_ISSUED.code] == [
        (None, "delivered"),
        ("payments", "delivered"),
    ]
    entries = [e for e in everything if e.topic != RECEIPT_ISSUED.code]
    assert [(e.topic, e.consumer, e.status) for e in entries] == [
        ("payments.bill_paid", None, "delivered"),  # fanned out …
        ("payments.bill_paid", "demo", "delivered"),  # … to the one subscriber, which issued the permit
        (REMINDER_TOPIC, None, "pending"),  # and scheduled its reminder
    ]
    reminder = entries[2]
    assert reminder.available_at == issued.issued_at + REMINDER_AFTER

    # Delayed work waits for its time: the worker leaves it alone …
    assert await worker.drain() == 0
    assert (await permit(engine, tenant, application)).reminded_at is None
    # … until it is due.
    await make_due(engine)
    assert await worker.drain() == 1
    assert (await permit(engine, tenant, application)).reminded_at is not None

    # At least once: a redelivered copy issues nothing twice.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE platform.outbox SET status = 'pending' WHERE id = :i"), {"i": entries[1].id})
    assert await worker.drain() == 1
    again = await permit(engine, tenant, application)
    assert (again.status, again.permit_no, again.issued_at) == ("issued", issued.permit_no, issued.issued_at)
    assert len([e for e in await outbox(engine, tenant) if e.topic != RECEIPT_ISSUED.code]) == 3


def bank_headers(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(dt.datetime.now(dt.UTC).timestamp()))
    return {
        "X-Localgov-Timestamp": timestamp,
        "X-Localgov-Signature": bank.sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


async def test_a_payment_rolled_back_or_not_matched_publishes_nothing(engine: AsyncEngine) -> None:
    tenant, _ = await demo_lao(engine)
    _, bill = await apply(engine, tenant)

    class Crash(Exception):
        pass

    async def pay_then_crash() -> None:
        async with tenant_session(session_factory(engine), tenant) as session:
            outcome = await pay(session, bill)
            assert outcome.receipt is not None
            # Inside the payment's transaction the event is there …
            topics = (
                await session.execute(select(OutboxEntry.topic).where(OutboxEntry.tenant_id == tenant.id))
            ).scalars()
            assert sorted(topics) == ["payments.bill_paid", "payments.receipt_issued"]
            raise Crash  # … and the transaction fails after the payment was recorded

    with pytest.raises(Crash):
        await pay_then_crash()
    assert await outbox(engine, tenant) == []
    async with tenant_session(session_factory(engine), tenant) as session:
        assert (await session.get(Bill, bill.id)).status == "open"  # type: ignore[union-attr]

        # A payment that does not match (short) becomes an exception: the bill is not paid, no event.
        outcome = await pay(session, bill, FEE - 1)
        assert outcome.exception is not None
    assert await outbox(engine, tenant) == []


# --- subscribers ------------------------------------------------------------------------------


def listener(slug: str, *, fail: bool) -> tuple[ServicePlugin, list[int]]:
    """A plugin subscribing to ``payments.bill_paid`` that records (or fails on) what it gets."""
    seen: list[int] = []

    async def handle(delivery: Delivery) -> None:
        seen.append(delivery.id)
        assert BILL_PAID.decode(delivery).source == "demo"
        if fail:
            raise RuntimeError(f"{slug} is down")

    plugin = ServicePlugin(
        slug=slug,
        title_th="ผู้รับเหตุการณ์",
        title_en=f"Listener {slug}",
        router=Router(path=f"/v1/{slug}", route_handlers=[]),
        handlers={BILL_PAID.code: handle},
    )
    return plugin, seen


async def test_each_subscriber_gets_its_own_copy_and_one_failing_does_not_block_the_other(
    fresh_settings: Settings, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    flaky, flaky_seen = listener("flaky", fail=True)
    idle, idle_seen = listener("idle", fail=False)
    tenant, _ = await demo_lao(engine, "flaky")  # "idle" is not enabled here
    other, _ = await demo_lao(engine, "idle")  # and "flaky" not there
    application, bill = await apply(engine, tenant)
    other_application, other_bill = await apply(engine, other)
    async with tenant_session(session_factory(engine), tenant) as session:
        await pay(session, bill)
    async with tenant_session(session_factory(engine), other) as session:
        await pay(session, other_bill)

    settings = make_settings(fresh_settings.database_url, outbox_max_attempts=3)
    worker = await running(settings, engine, [PAYMENTS, DEMO, flaky, idle])
    await worker.drain()

    copies = [e for e in await outbox(engine, tenant) if e.topic == BILL_PAID.code]
    assert [(e.consumer, e.status, e.attempts) for e in copies] == [
        (None, "delivered", 1),
        ("demo", "delivered", 1),
        ("flaky", "pending", 1),
    ]
    assert copies[2].last_error == "RuntimeError: flaky is down"
    assert copies[1].payload == copies[2].payload == copies[0].payload
    assert (await permit(engine, tenant, application)).status == "issued"  # not held back by flaky
    # Only the subscribers whose service the tenant enabled get a copy.
    other_copies = [e for e in await outbox(engine, other) if e.topic == BILL_PAID.code]
    assert [(e.consumer, e.status) for e in other_copies] == [
        (None, "delivered"),
        ("demo", "delivered"),
        ("idle", "delivered"),
    ]
    assert (await permit(engine, other, other_application)).status == "issued"
    assert idle_seen == [other_copies[2].id]

    # The failing subscriber retries on its own until it is dead; the others are untouched.
    for _ in range(2):
        await make_due(engine)
        await worker.drain()
    copies = [e for e in await outbox(engine, tenant) if e.topic == BILL_PAID.code]
    assert [(e.consumer, e.status, e.attempts) for e in copies] == [
        (None, "delivered", 1),
        ("demo", "delivered", 1),
        ("flaky", "dead", 3),
    ]
    assert flaky_seen == [copies[2].id] * 3


async def test_an_event_of_a_tenant_the_worker_does_not_know_yet_is_retried(engine: AsyncEngine) -> None:
    """Fan-out needs the tenant's services; a catalog that is behind must not drop the event."""
    tenant, _ = await demo_lao(engine)
    _, bill = await apply(engine, tenant)
    async with tenant_session(session_factory(engine), tenant) as session:
        await pay(session, bill)
        event = (
            await session.execute(
                select(OutboxEntry).where(OutboxEntry.tenant_id == tenant.id, OutboxEntry.topic == BILL_PAID.code)
            )
        ).scalar_one()
        handler = fan_out(["demo"], lambda _tenant_id: None)
        with pytest.raises(UnknownTenant):
            await handler(Delivery(event, session, {}))
        known = fan_out(["demo", "absent"], {tenant.id: frozenset({"payments", "demo"})}.get)
        await known(Delivery(event, session, {}))
        copies = (
            await session.execute(
                select(OutboxEntry.consumer).where(
                    OutboxEntry.tenant_id == tenant.id,
                    OutboxEntry.id != event.id,
                    OutboxEntry.topic == BILL_PAID.code,
                )
            )
        ).scalars()
        assert list(copies) == ["demo"]


# --- the other two events of payments --------------------------------------------------------


async def copies_of(session: AsyncSession, tenant: TenantInfo, event: EventType[Any]) -> list[OutboxEntry]:
    query = select(OutboxEntry).where(OutboxEntry.tenant_id == tenant.id, OutboxEntry.topic == event.code)
    return list((await session.execute(query.order_by(OutboxEntry.id))).scalars())


async def test_cancelling_a_bill_and_voiding_a_receipt_publish_their_events(engine: AsyncEngine) -> None:
    tenant, _ = await demo_lao(engine)
    cancelled_application, to_cancel = await apply(engine, tenant)
    _, to_pay = await apply(engine, tenant)
    actor = Actor(kind="staff", id=str(uuid.uuid4()))
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        await bills.cancel_bill(session, to_cancel.id, reason="ยื่นคำขอซ้ำ", actor=actor, origin=Origin())
    async with tenant_session(factory, tenant) as session:
        (entry,) = await copies_of(session, tenant, BILL_CANCELLED)
        cancelled = BILL_CANCELLED.decode(Delivery(entry, session, {}))
        assert cancelled == BillCancelled(
            bill_id=to_cancel.id,
            reference=to_cancel.reference,
            source="demo",
            source_key=demo_plugin.source_key(cancelled_application),
            total=FEE,
            reason="ยื่นคำขอซ้ำ",
            cancelled_at=cancelled.cancelled_at,
        )
        assert (await session.get(Bill, to_cancel.id)).cancelled_at == cancelled.cancelled_at  # type: ignore[union-attr]
        with pytest.raises(ValueError, match=r"not a 'payments\.bill_paid'"):
            BILL_PAID.decode(Delivery(entry, session, {}))

        outcome = await pay(session, to_pay)
        assert outcome.receipt is not None
    async with tenant_session(factory, tenant) as session:
        await receipts.void_receipt(
            session, outcome.receipt.id, reason="รับเงินผิดบัญชี", staff_id=None, actor=Actor("system"), origin=Origin()
        )
    async with tenant_session(factory, tenant) as session:
        receipt = (await session.execute(select(Receipt).where(Receipt.id == outcome.receipt.id))).scalar_one()
        (entry,) = await copies_of(session, tenant, RECEIPT_VOIDED)
        assert RECEIPT_VOIDED.decode(Delivery(entry, session, {})) == ReceiptVoided(
            bill_id=to_pay.id,
            reference=to_pay.reference,
            source="demo",
            source_key=to_pay.source_key,
            receipt_id=receipt.id,
            receipt_number=receipts.receipt_label(receipt),
            amount=FEE,
            reason="รับเงินผิดบัญชี",
            voided_at=receipt.voided_at,  # type: ignore[arg-type]
            bill_reopened=True,
        )
        assert (await session.get(Bill, to_pay.id)).status == "open"  # type: ignore[union-attr]
        assert len(await copies_of(session, tenant, BILL_PAID)) == 1
        # A refused void (already void) rolls back and publishes nothing more.
    with pytest.raises(receipts.ReceiptAlreadyVoid):
        async with tenant_session(factory, tenant) as session:
            await receipts.void_receipt(
                session, receipt.id, reason="ซ้ำ", staff_id=None, actor=Actor("system"), origin=Origin()
            )
    async with tenant_session(factory, tenant) as session:
        assert len(await copies_of(session, tenant, RECEIPT_VOIDED)) == 1


async def test_the_demo_withdraws_its_application_when_the_bill_is_cancelled(
    fresh_settings: Settings, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    tenant, _ = await demo_lao(engine)
    application, bill = await apply(engine, tenant)
    async with tenant_session(session_factory(engine), tenant) as session:
        await bills.cancel_bill(session, bill.id, reason="ยกเลิกคำขอ", actor=Actor(kind="system"), origin=Origin())
    worker = await running(fresh_settings, engine, [PAYMENTS, DEMO])
    await worker.drain()
    assert (await permit(engine, tenant, application)).status == "withdrawn"
    assert [(e.consumer, e.status) for e in await outbox(engine, tenant)] == [
        (None, "delivered"),
        ("demo", "delivered"),
    ]


# --- publishing validates --------------------------------------------------------------------


class Reading(msgspec.Struct, frozen=True):
    meter: Annotated[str, msgspec.Meta(min_length=1)]
    litres: Annotated[int, msgspec.Meta(ge=0)]


READ = EventType(code="demo.read", title_th="อ่านมาตรแล้ว", title_en="Meter read", payload=Reading)


async def test_publish_checks_the_payload_and_needs_a_tenant(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        with pytest.raises(InvalidEventPayload, match="carries a Reading, not a BillPaid"):
            await publish(session, READ, _bill_paid())  # type: ignore[arg-type]
        with pytest.raises(InvalidEventPayload, match=r"demo.read: Expected `int` >= 0"):
            await publish(session, READ, Reading(meter="M1", litres=-5))
        entry = await publish(session, READ, Reading(meter="M1", litres=12))
        assert (entry.topic, entry.consumer, entry.tenant_id, entry.payload) == (
            "demo.read",
            None,
            tenant.id,
            {"meter": "M1", "litres": 12},
        )
        assert READ.decode(Delivery(entry, session, {})) == Reading(meter="M1", litres=12)
        await session.delete(entry)
    async with tenant_session(factory, None) as session:
        with pytest.raises(RuntimeError, match="tenant-bound session"):
            await publish(session, READ, Reading(meter="M1", litres=1))


def _bill_paid() -> BillPaid:
    return BillPaid(
        bill_id=uuid.uuid4(),
        reference="B000000000",
        source="demo",
        source_key="demo:1",
        amount=Decimal("1.00"),
        paid_at=dt.datetime.now(dt.UTC),
        receipt_number="1/1/2570",
        receipt_id=uuid.uuid4(),
        payment_id=uuid.uuid4(),
    )


async def test_a_subscriber_without_a_handler_in_this_worker_is_retried(fresh_engine: AsyncEngine) -> None:
    """A copy for a subscriber this (older) worker does not run is retried, never dropped."""
    tenant = await make_tenant(fresh_engine)
    factory = session_factory(fresh_engine)
    async with tenant_session(factory, tenant) as session:
        event = await publish(session, READ, Reading(meter="M1", litres=3))
    handled: list[str] = []

    async def on_read(delivery: Delivery) -> None:
        handled.append(str(delivery.consumer))

    subscribers = {READ.code: {"reader": on_read}}
    schemas = {tenant.id: tenant.schema}
    services = {tenant.id: frozenset({"reader", "gone"})}
    async with tenant_session(factory, None) as session:
        fan = {READ.code: fan_out(["reader", "gone"], services.get)}
        assert await deliver_batch(session, fan, schemas, batch_size=10, max_attempts=3) == 1
    async with tenant_session(factory, None) as session:
        assert await deliver_batch(session, {}, schemas, batch_size=10, max_attempts=3, subscribers=subscribers) == 2
    assert handled == ["reader"]
    rows = await outbox(fresh_engine, tenant)
    assert [(r.id == event.id, r.consumer, r.status) for r in rows] == [
        (True, None, "delivered"),
        (False, "gone", "pending"),
        (False, "reader", "delivered"),
    ]
    assert rows[1].last_error == "NoConsumer: no consumer of subscriber 'gone' for topic 'demo.read'"
