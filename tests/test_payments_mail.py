"""Mail to payers (issue 17, items 5 and 7): the payer's e-mail address, e-receipts once per receipt
(bank, counter, credit), overdue notices once per bill and stage, and the record of both."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import uuid
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.jobs import JobContext
from localgov.kernel.notifications import NOTIFICATION_TOPIC, NotificationRecord
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.thai import bangkok_today
from localgov.platform.catalog import Catalog
from localgov.plugins import REGISTRY
from localgov.services.payments import mailing
from localgov.services.payments.api import RECEIPT_ISSUED, BillLine, create_bill
from localgov.services.payments.models import Bill, Payer, Receipt
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import ClientFactory, host, make_settings
from tests.test_payments_bank import FINANCE, Lao, deliver, notice, setup_lao, staff_headers
from tests.test_payments_finance import bill_issued

API = "/v1/payments"
CASHIER = ["payments.cashier"]


async def set_email(engine: AsyncEngine, lao: Lao, payer_id: uuid.UUID, address: str | None) -> None:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        await session.execute(update(Payer).where(Payer.id == payer_id).values(email=address))


async def receipt_events(engine: AsyncEngine, lao: Lao) -> list[OutboxEntry]:
    async with tenant_session(session_factory(engine), None) as session:
        query = select(OutboxEntry).where(
            OutboxEntry.tenant_id == lao.tenant.id, OutboxEntry.topic == RECEIPT_ISSUED.code
        )
        return list((await session.execute(query.order_by(OutboxEntry.id))).scalars())


async def deliver_event(engine: AsyncEngine, lao: Lao, settings: Settings, entry: OutboxEntry) -> None:
    """One delivery of ``entry`` to payments' consumer, in a transaction of its own, as the worker does."""
    async with tenant_session(session_factory(engine), None) as session:
        delivery = Delivery(
            entry, session, {lao.tenant.id: lao.tenant.schema}, settings=settings, tenants={lao.tenant.id: lao.tenant}
        )
        await mailing.on_receipt_issued(delivery)


async def notifications(engine: AsyncEngine, lao: Lao, source: str) -> list[NotificationRecord]:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        query = select(NotificationRecord).where(NotificationRecord.source == source)
        return list((await session.execute(query.order_by(NotificationRecord.created_at))).scalars())


async def sends_queued(engine: AsyncEngine, lao: Lao) -> int:
    async with tenant_session(session_factory(engine), None) as session:
        query = select(func.count()).where(
            OutboxEntry.tenant_id == lao.tenant.id, OutboxEntry.topic == NOTIFICATION_TOPIC
        )
        return int((await session.execute(query)).scalar_one())


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def links(body: str) -> list[str]:
    return [word for word in body.split() if word.startswith("http")]


# --- the payer's address ------------------------------------------------------------------------


async def test_a_payers_email_is_checked_and_lower_cased(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        made = await client.post(
            f"{API}/payers", json={"name": "นางสาวน้ำฝน ใจดี", "email": " Namfon.J@Example.CO.TH "}, headers=finance
        )
        assert made.status_code == 201, made.text
        payer = made.json()
        assert payer["email"] == "namfon.j@example.co.th"
        for bad in ("namfon", "a@b", "two@@example.com", "a b@example.com", "x" * 250 + "@example.com"):
            refused = await client.patch(f"{API}/payers/{payer['id']}", json={"email": bad}, headers=finance)
            assert refused.status_code in (400, 422), bad
            assert refused.headers["content-type"].startswith("application/problem+json")
        refused = await client.patch(f"{API}/payers/{payer['id']}", json={"email": "namfon"}, headers=finance)
        assert refused.json()["code"] == "invalid_email"
        cleared = await client.patch(f"{API}/payers/{payer['id']}", json={"email": None}, headers=finance)
        assert cleared.json()["email"] is None
        bad_import = "name,email\r\nนายหนึ่ง ดี,one@example.com\r\nนายสอง ดี,not-an-address\r\n".encode()
        imported = await client.post(
            f"{API}/payers/import", content=bad_import, headers={**finance, "Content-Type": "text/csv"}
        )
        assert imported.status_code == 422, imported.text
        errors = imported.json()["errors"]  # the one field-error shape (kernel.csv.row_errors)
        assert [(e["line"], e["key"], e["code"]) for e in errors] == [(3, "email", "invalid_email")]


# --- e-receipts ---------------------------------------------------------------------------------


async def test_a_bank_receipt_mails_one_e_receipt_even_when_the_event_comes_twice(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="250.00")
    await set_email(engine, lao, bill.payer_id, "payer@example.com")
    quiet = await bill_issued(engine, lao, bangkok_today(), amount="90.00")  # its payer has no address
    async with client_for(plugins=REGISTRY) as client:
        paid = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "250.00"))
        assert paid.json()["status"] == "matched", paid.text
        other = await deliver(client, lao.tenant, lao.secret, notice(lao, quiet.reference, "90.00"))
        assert other.json()["status"] == "matched"
        first, second = await receipt_events(engine, lao)
        # Delivered twice at once, then once more (the outbox delivers at least once): one mail.
        await asyncio.gather(deliver_event(engine, lao, settings, first), deliver_event(engine, lao, settings, first))
        await deliver_event(engine, lao, settings, first)
        await deliver_event(engine, lao, settings, second)
        (mail,) = await notifications(engine, lao, mailing.E_RECEIPT_SOURCE)
        assert await sends_queued(engine, lao) == 1
        async with tenant_session(session_factory(engine), lao.tenant) as session:
            receipt = (await session.execute(select(Receipt).where(Receipt.bill_id == bill.id))).scalar_one()
        label = f"{receipt.book_no}/{receipt.receipt_no}/{receipt.fiscal_year}"
        assert (mail.key, mail.address, mail.channel) == (
            f"payments.e_receipt:{receipt.id}",
            "payer@example.com",
            "email",
        )
        assert label in mail.subject_th
        assert label in (mail.subject_en or "")
        assert "250.00 บาท (สองร้อยห้าสิบบาทถ้วน)" in mail.body_th
        assert mail.body_en is not None
        assert "Amount: 250.00 baht" in mail.body_en
        pdf, page, verify = links(mail.body_th)
        host_name = f"{lao.tenant.slug}.{settings.base_domain}"
        assert {urlsplit(u).netloc.split(":")[0] for u in (pdf, page, verify)} == {host_name}
        assert f"/pay/receipts/{receipt.id}?ref={bill.reference}&code={bill.verification_code}" in pdf
        # The links work without a login: the PDF and the verification page on the LAO's host.
        got = await client.get(path_of(pdf), headers=host(lao.tenant.slug))
        assert (got.status_code, got.headers["content-type"]) == (200, "application/pdf")
        bill_page = await client.get(path_of(page), headers=host(lao.tenant.slug))
        assert bill_page.status_code == 200
        assert bill.reference in bill_page.text
        checked = await client.get(urlsplit(verify).path, headers=host(lao.tenant.slug))
        assert checked.status_code == 200
        assert label in checked.text
        # The record: finance sees the e-receipt, for this bill.
        finance = staff_headers(lao.tenant, FINANCE)
        listed = (await client.get(f"{API}/notices", params={"kind": "e_receipt"}, headers=finance)).json()
        assert [(n["kind"], n["subject_id"], n["address"]) for n in listed["items"]] == [
            ("e_receipt", str(receipt.id), "payer@example.com")
        ]
        by_bill = (await client.get(f"{API}/notices", params={"bill_id": str(quiet.id)}, headers=finance)).json()
        assert by_bill["items"] == []


async def test_a_voided_receipt_is_not_mailed_and_counter_receipts_are(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    b1 = await bill_issued(engine, lao, bangkok_today(), amount="80.00")
    b2 = await bill_issued(engine, lao, bangkok_today(), amount="40.00")
    await set_email(engine, lao, b1.payer_id, "one@example.com")
    await set_email(engine, lao, b2.payer_id, "two@example.com")
    cashier = staff_headers(lao.tenant, CASHIER)
    async with client_for(plugins=REGISTRY) as client:
        opened = await client.post(f"{API}/counter/books", json={"opening_float": "0.00"}, headers=cashier)
        assert opened.status_code == 201, opened.text
        taken = await client.post(
            f"{API}/counter/payments",
            json={"bill_ids": [str(b1.id), str(b2.id)], "method": "cash", "tendered": "120.00"},
            headers=cashier,
        )
        assert taken.status_code == 201, taken.text
        first, second = await receipt_events(engine, lao)
        (voided_id,) = [r["receipt_id"] for r in taken.json()["receipts"] if r["bill_id"] == str(b2.id)]
        voided = await client.post(
            f"{API}/receipts/{voided_id}/void",
            json={"reason": "รับเงินผิดใบแจ้งหนี้"},
            headers=staff_headers(lao.tenant, ["payments.supervisor"]),
        )
        assert voided.status_code == 200, voided.text
    for entry in (first, second, first):
        await deliver_event(engine, lao, settings, entry)
    (mail,) = await notifications(engine, lao, mailing.E_RECEIPT_SOURCE)
    assert mail.address == "one@example.com"
    assert "ชำระเมื่อ" in mail.body_th


async def test_the_worker_mails_the_e_receipt_with_its_links(
    fresh_database_url: str, tmp_path: Path, client_for: ClientFactory
) -> None:
    settings = make_settings(fresh_database_url, mail_url=f"file://{tmp_path}/mail")
    engine = create_engine(settings)
    try:
        lao = await setup_lao(engine)
        bill = await bill_issued(engine, lao, bangkok_today(), amount="75.50")
        await set_email(engine, lao, bill.payer_id, "citizen@example.com")
        async with client_for(plugins=REGISTRY, settings_=settings, engine=engine) as client:
            paid = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "75.50"))
            assert paid.json()["status"] == "matched", paid.text
        worker = Worker(settings, REGISTRY)
        catalog = Catalog(settings.base_domain)
        await catalog.load(engine)
        factory = session_factory(engine)
        for _ in range(6):  # the event, its copy to payments, the notification, then nothing
            if await worker.tick(factory, catalog) == 0:
                break
        [sent] = sorted((tmp_path / "mail").glob("*.eml"))
        message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert message["To"].addresses[0].addr_spec == "citizen@example.com"
        body = message.get_content()
        assert "75.50 บาท" in body
        assert settings.public_url("/v1/payments/pay/receipts/", slug=lao.tenant.slug) in body
    finally:
        await engine.dispose()


# --- overdue notices ----------------------------------------------------------------------------


async def overdue_bill(engine: AsyncEngine, lao: Lao, *, due_days_ago: int, amount: str, address: str | None) -> Bill:
    today = bangkok_today()
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payer = Payer(kind="person", name=f"นายค้าง ชำระ{uuid.uuid4().hex[:4]}", email=address)
        session.add(payer)
        await session.flush()
        return await create_bill(
            session,
            payer_id=payer.id,
            lines=[BillLine(fee_code="garbage", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal(amount))],
            issue_date=today - dt.timedelta(days=due_days_ago + 15),
            due_date=today - dt.timedelta(days=due_days_ago),
            source="test",
            source_key=uuid.uuid4().hex,
        )


async def run_notices(engine: AsyncEngine, lao: Lao, settings: Settings, today: dt.date) -> mailing.OverdueRun:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        return await mailing.send_overdue_notices(session, settings=settings, tenant=lao.tenant, today=today)


async def test_overdue_notices_once_per_bill_and_stage(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    today = bangkok_today()
    late3 = await overdue_bill(engine, lao, due_days_ago=3, amount="120.00", address="late3@example.com")
    late40 = await overdue_bill(engine, lao, due_days_ago=40, amount="55.25", address="late40@example.com")
    due_today = await overdue_bill(engine, lao, due_days_ago=0, amount="10.00", address="today@example.com")
    no_mail = await overdue_bill(engine, lao, due_days_ago=5, amount="10.00", address=None)
    paid = await overdue_bill(engine, lao, due_days_ago=5, amount="30.00", address="paid@example.com")
    partly = await overdue_bill(engine, lao, due_days_ago=2, amount="100.00", address="part@example.com")
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        await session.execute(update(Bill).where(Bill.id == paid.id).values(status="paid", amount_paid=paid.total))
        await session.execute(update(Bill).where(Bill.id == partly.id).values(amount_paid=Decimal("60.00")))

    # Two runs at once, then another: one notice per bill at its stage.
    runs = await asyncio.gather(run_notices(engine, lao, settings, today), run_notices(engine, lao, settings, today))
    assert sorted(r.sent for r in runs) == [0, 3]
    assert runs[0].without_email == 1
    assert (await run_notices(engine, lao, settings, today)).sent == 0
    sent = {n.key: n for n in await notifications(engine, lao, mailing.OVERDUE_SOURCE)}
    assert set(sent) == {
        f"payments.overdue:{late3.id}:1",
        f"payments.overdue:{late40.id}:30",
        f"payments.overdue:{partly.id}:1",
    }
    assert due_today.id
    assert no_mail.id
    part = sent[f"payments.overdue:{partly.id}:1"]
    assert "ยอดค้างชำระ 40.00 บาท (สี่สิบบาทถ้วน)" in part.body_th
    assert part.body_en is not None
    assert "Amount due: 40.00 baht" in part.body_en
    assert "เกินกำหนด 1 วัน" in part.subject_th
    (link,) = links(part.body_th)
    assert link == settings.public_url(
        f"/v1/payments/pay?ref={partly.reference}&code={partly.verification_code}", slug=lao.tenant.slug
    )
    async with client_for(plugins=REGISTRY) as client:
        page = await client.get(path_of(link), headers=host(lao.tenant.slug))
        assert page.status_code == 200
        assert "40.00" in page.text

    # 30 days on, the bills of stage 1 reach stage 30 (one more notice each), the bill due today is
    # 30 days late (its first notice is that stage's), the one noticed at 30 gets nothing again.
    later = today + dt.timedelta(days=30)
    assert (await run_notices(engine, lao, settings, later)).sent == 3
    keys = {n.key for n in await notifications(engine, lao, mailing.OVERDUE_SOURCE)}
    assert {f"payments.overdue:{b.id}:30" for b in (late3, partly, due_today, late40)} <= keys
    assert len(keys) == 6

    # The worker's job runs it with its settings; refuses to run without them.
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        now = dt.datetime.now(dt.UTC)
        await mailing.overdue_notice_job(JobContext(session, lao.tenant, now, settings))
        with pytest.raises(TypeError):
            await mailing.overdue_notice_job(JobContext(session, lao.tenant, now))

    finance = staff_headers(lao.tenant, FINANCE)
    other = await setup_lao(engine)  # before the app starts: its catalog knows both hosts
    async with client_for(plugins=REGISTRY) as client:
        listed = (await client.get(f"{API}/notices", params={"kind": "overdue", "limit": 2}, headers=finance)).json()
        assert len(listed["items"]) == 2
        assert listed["next_cursor"] is not None
        rest = await client.get(
            f"{API}/notices", params={"kind": "overdue", "cursor": listed["next_cursor"]}, headers=finance
        )
        assert len(rest.json()["items"]) == 4
        mine = (await client.get(f"{API}/notices", params={"bill_id": str(late3.id)}, headers=finance)).json()
        assert sorted(n["stage"] for n in mine["items"]) == [1, 30]
        bad = await client.get(f"{API}/notices", params={"cursor": str(uuid.uuid4())}, headers=finance)
        assert (bad.status_code, bad.json()["code"]) == (404, "invalid_cursor")
        bad = await client.get(f"{API}/notices", params={"kind": "sms"}, headers=finance)
        assert bad.status_code == 400
        cashier = await client.get(f"{API}/notices", headers=staff_headers(lao.tenant, CASHIER))
        assert cashier.status_code == 403
        # Another LAO's finance sees none of it.
        theirs = await client.get(f"{API}/notices", headers=staff_headers(other.tenant, FINANCE))
        assert theirs.status_code == 200
        assert theirs.json()["items"] == []


async def test_an_open_bill_with_a_stage_a_day_away_is_not_noticed(engine: AsyncEngine, settings: Settings) -> None:
    lao = await setup_lao(engine)
    today = bangkok_today()
    bill = await overdue_bill(engine, lao, due_days_ago=0, amount="10.00", address="soon@example.com")
    assert (await run_notices(engine, lao, settings, today)).sent == 0
    assert (await run_notices(engine, lao, settings, today + dt.timedelta(days=1))).sent == 1
    assert mailing.stage_of(0) is None
    assert mailing.stage_of(29) == 1
    assert mailing.stage_of(30) == 30
    (sent,) = await notifications(engine, lao, mailing.OVERDUE_SOURCE)
    assert sent.key == f"payments.overdue:{bill.id}:1"
