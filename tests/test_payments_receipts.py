"""Receipts: gap-free numbering under concurrency, the Thai PDF, void and reprint, isolation."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import baht_text, thai_date
from localgov.plugins import REGISTRY
from localgov.services.payments import receipts
from localgov.services.payments.api import BillLine
from localgov.services.payments.models import Bill, Payment, Receipt
from tests.conftest import ClientFactory, host, make_settings
from tests.test_payments_bank import (
    CASHIER,
    FINANCE,
    deliver,
    get_bill,
    notice,
    open_bills,
    setup_lao,
    staff_headers,
)


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_book_and_number() -> None:
    assert receipts.book_and_number(1, 50) == (1, 1)
    assert receipts.book_and_number(50, 50) == (1, 50)
    assert receipts.book_and_number(51, 50) == (2, 1)
    assert receipts.book_and_number(200, 50) == (4, 50)
    with pytest.raises(ValueError, match="start at 1"):
        receipts.book_and_number(0, 50)


async def test_200_concurrent_payments_get_contiguous_receipt_numbers(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str
) -> None:
    lao = await setup_lao(engine, book_size=50)
    bills = await open_bills(engine, lao.tenant, 200)
    wide = make_settings(database_url, db_pool_size=20)
    async with client_for(plugins=REGISTRY, settings_=wide) as client:
        answers = await asyncio.gather(
            *(deliver(client, lao.tenant, lao.secret, notice(lao, b.reference, "80.00")) for b in bills)
        )
    assert [a.status_code for a in answers] == [200] * 200
    assert {a.json()["status"] for a in answers} == {"matched"}
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        rows = (await session.execute(select(Receipt).order_by(Receipt.sequence))).scalars().all()
        paid = (await session.execute(select(Bill).where(Bill.status == "paid"))).scalars().all()
    assert [r.sequence for r in rows] == list(range(1, 201))
    assert len({(r.fiscal_year, r.book_no, r.receipt_no) for r in rows}) == 200
    assert [(r.book_no, r.receipt_no) for r in rows] == [(n // 50 + 1, n % 50 + 1) for n in range(200)]
    assert len({r.payment_id for r in rows}) == 200
    assert len(paid) == 200


async def test_a_rolled_back_payment_gives_its_number_back(engine: AsyncEngine) -> None:
    lao = await setup_lao(engine)
    b1, b2 = await open_bills(engine, lao.tenant, 2)
    factory = session_factory(engine)

    async def pay(bill: Bill, txn: str) -> Receipt:
        async with tenant_session(factory, lao.tenant) as session:
            payment = Payment(
                bank_txn_id=txn,
                channel="webhook",
                bill_id=bill.id,
                biller_id=lao.biller_id,
                ref1=bill.reference,
                amount=Decimal("80.00"),
                paid_at=dt.datetime.now(dt.UTC),
                status="matched",
            )
            session.add(payment)
            await session.flush()
            receipt = await receipts.issue_receipt(session, payment=payment, bill=bill, collector="test")
            if txn == "FAIL":
                raise RuntimeError("the transaction fails after numbering")
            return receipt

    with pytest.raises(RuntimeError):
        await pay(b1, "FAIL")
    first = await pay(b1, "OK1")
    second = await pay(b2, "OK2")
    assert (first.sequence, second.sequence) == (1, 2)


async def test_receipts_restart_at_one_each_fiscal_year(engine: AsyncEngine) -> None:
    lao = await setup_lao(engine)
    bills = await open_bills(engine, lao.tenant, 3)
    # 1 October 00:00 in Bangkok is 30 September 17:00 UTC: the first receipt of FY 2570.
    moments = [
        dt.datetime(2026, 9, 30, 16, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 9, 30, 17, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 2, 3, 0, tzinfo=dt.UTC),
    ]
    out = []
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        for index, (bill, moment) in enumerate(zip(bills, moments, strict=True)):
            payment = Payment(
                bank_txn_id=f"FY{index}",
                channel="webhook",
                bill_id=bill.id,
                biller_id=lao.biller_id,
                ref1=bill.reference,
                amount=bill.total,
                paid_at=moment,
                status="matched",
            )
            session.add(payment)
            await session.flush()
            receipt = await receipts.issue_receipt(session, payment=payment, bill=bill, collector="x")
            out.append((receipt.fiscal_year, receipt.sequence))
    assert out == [("2569", 1), ("2570", 1), ("2570", 2)]


async def test_the_pdf_receipt_renders_thai_exactly(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    lines = [
        BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal("40.00")),
        BillLine(fee_code="wastewater", description_th="ค่าบำบัดน้ำเสีย", amount=Decimal("80.50"), period="2026-11"),
    ]
    (bill,) = await open_bills(engine, lao.tenant, lines=lines, payer_name="นายกำนัน ผู้ใหญ่บ้าน")
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        await session.execute(text("UPDATE profile SET address_th = 'ที่ทำการ หมู่ 4 ตำบลแม่เหียะ' WHERE id = 1"))
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        result = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "120.50"))).json()
        receipt_id = result["receipt"]["id"]
        shown = await client.get(f"/v1/payments/receipts/{receipt_id}", headers=finance)
        assert shown.status_code == 200
        assert shown.json()["amount_text_th"] == "หนึ่งร้อยยี่สิบบาทห้าสิบสตางค์"
        answer = await client.get(f"/v1/payments/receipts/{receipt_id}/pdf", headers=finance)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    content = answer.content
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()  # type: ignore[index, union-attr]
    }
    assert all("Sarabun" in name for name in fonts), fonts
    extracted = pdf_text(content)
    issued = thai_date(dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date(), digits="arabic")
    for expected in (
        "ใบเสร็จรับเงิน",
        "ที่",
        lao.tenant.name_th,
        "ที่ทำการ หมู่ 4 ตำบลแม่เหียะ",
        "ได้รับเงินจาก",
        "นายกำนัน ผู้ใหญ่บ้าน",
        "ค่าเก็บขยะมูลฝอย",
        "ค่าบำบัดน้ำเสีย (พฤศจิกายน 2569)",
        "120.50",
        baht_text(Decimal("120.50")),
        f"วันที่ {issued}",
        "เล่มที่ 1",
        "เลขที่ 1",
        "ต้นฉบับ",
        bill.reference,
        "ผู้รับเงิน รับชำระผ่านธนาคาร (Thai QR)",
    ):
        assert expected in extracted, expected
    assert "สำเนา" not in extracted
    assert "ยกเลิก" not in extracted


async def test_void_keeps_the_receipt_marked_cancelled_and_reprints_are_copies(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    finance_id = str(uuid.uuid4())
    finance = staff_headers(lao.tenant, FINANCE, subject=finance_id)
    cashier = staff_headers(lao.tenant, CASHIER)
    async with client_for(plugins=REGISTRY) as client:
        result = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))).json()
        receipt_id = result["receipt"]["id"]
        first_copy = await client.post(f"/v1/payments/receipts/{receipt_id}/reprint", headers=cashier)
        assert first_copy.status_code == 200
        assert first_copy.headers["content-type"] == "application/pdf"
        assert "สำเนา (COPY) พิมพ์ซ้ำครั้งที่ 1" in pdf_text(first_copy.content)
        second_copy = await client.post(f"/v1/payments/receipts/{receipt_id}/reprint", headers=finance)
        assert "พิมพ์ซ้ำครั้งที่ 2" in pdf_text(second_copy.content)
        denied = await client.post(
            f"/v1/payments/receipts/{receipt_id}/void", json={"reason": "ออกผิดราย"}, headers=cashier
        )
        assert denied.status_code == 403
        reason = "ผู้ชำระแจ้งว่าชื่อผิด ต้องออกใหม่"
        voided = await client.post(f"/v1/payments/receipts/{receipt_id}/void", json={"reason": reason}, headers=finance)
        assert voided.status_code == 200, voided.text
        body = voided.json()
        assert (body["status"], body["void_reason"], body["voided_by"], body["reprints"]) == (
            "void",
            reason,
            finance_id,
            2,
        )
        again = await client.post(f"/v1/payments/receipts/{receipt_id}/void", json={"reason": reason}, headers=finance)
        assert again.status_code == 409
        assert again.json()["code"] == "receipt_already_void"
        void_pdf = pdf_text((await client.get(f"/v1/payments/receipts/{receipt_id}/pdf", headers=cashier)).content)
        assert "ยกเลิก" in void_pdf
        assert "CANCELLED" in void_pdf
        assert reason in void_pdf
        listed = await client.get("/v1/payments/receipts", params={"status": "void"}, headers=cashier)
        assert [r["id"] for r in listed.json()["items"]] == [receipt_id]
        # The bill is open again: a new payment gets a new receipt, the next number.
        repaid = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))).json()
        assert repaid["status"] == "matched"
        assert repaid["receipt"]["receipt_no"] == 2
    assert (await get_bill(engine, lao.tenant, bill.id)).status == "paid"
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        actions = (
            await session.execute(
                text("SELECT action FROM audit_events WHERE action LIKE 'payments.receipt_%' ORDER BY id")
            )
        ).scalars()
        assert list(actions) == [
            "payments.receipt_reprinted",
            "payments.receipt_reprinted",
            "payments.receipt_voided",
        ]
        assert len((await session.execute(select(Receipt))).scalars().all()) == 2


async def test_isolation_and_role_matrix_of_receipts(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao_a = await setup_lao(engine)
    lao_b = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao_a.tenant)
    async with client_for(plugins=REGISTRY) as client:
        result = (await deliver(client, lao_a.tenant, lao_a.secret, notice(lao_a, bill.reference, "80.00"))).json()
        rid = result["receipt"]["id"]
        paths = [
            ("GET", f"/v1/payments/receipts/{rid}", None),
            ("GET", f"/v1/payments/receipts/{rid}/pdf", None),
            ("POST", f"/v1/payments/receipts/{rid}/reprint", None),
            ("POST", f"/v1/payments/receipts/{rid}/void", {"reason": "ทดสอบการแยกข้อมูล"}),
        ]
        for method, path, body in paths:
            other = await client.request(method, path, json=body, headers=staff_headers(lao_b.tenant, FINANCE))
            assert other.status_code == 404, (path, other.text)
            assert (await client.request(method, path, json=body, headers=host(lao_a.tenant.slug))).status_code == 401
            none = await client.request(method, path, json=body, headers=staff_headers(lao_a.tenant, ["tenant_admin"]))
            assert none.status_code == 403, path
        b_list = await client.get("/v1/payments/receipts", headers=staff_headers(lao_b.tenant, FINANCE))
        assert b_list.json()["items"] == []
        for method, path, body in paths:
            own = await client.request(method, path, json=body, headers=staff_headers(lao_a.tenant, FINANCE))
            assert own.status_code == 200, (path, own.text)
