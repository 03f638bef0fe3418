"""Counter payments and cash books (issue 17, item 3): the cashier's day opened, receipts at once,
closed with the right remittance; voids by a supervisor only; two cashiers on one bill make one receipt."""

from __future__ import annotations

import asyncio
import io
import uuid
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import bangkok_today
from localgov.plugins import REGISTRY
from localgov.services.payments.models import Bill, Payment, Receipt
from tests.conftest import ClientFactory
from tests.test_payments_bank import FINANCE, setup_lao, staff_headers
from tests.test_payments_finance import bill_issued

API = "/v1/payments"
CASHIER = ["payments.cashier"]


async def test_a_counter_day_opened_receipted_and_closed_with_the_right_total(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    b1 = await bill_issued(engine, lao, bangkok_today(), amount="80.00")
    b2 = await bill_issued(engine, lao, bangkok_today(), amount="120.50")
    b3 = await bill_issued(engine, lao, bangkok_today(), amount="300.00")
    b4 = await bill_issued(engine, lao, bangkok_today(), amount="45.00")
    cashier_id = str(uuid.uuid4())
    cashier = staff_headers(lao.tenant, CASHIER, subject=cashier_id)
    async with client_for(plugins=REGISTRY) as client:
        before = await client.post(
            f"{API}/counter/payments", json={"bill_ids": [str(b1.id)], "method": "cash"}, headers=cashier
        )
        assert before.status_code == 409
        assert before.json()["code"] == "cash_book_not_open"
        opened = await client.post(f"{API}/counter/books", json={"opening_float": "500.00"}, headers=cashier)
        assert opened.status_code == 201, opened.text
        book_id = opened.json()["id"]
        twice = await client.post(f"{API}/counter/books", json={}, headers=cashier)
        assert twice.json()["code"] == "cash_book_exists"
        cash = await client.post(
            f"{API}/counter/payments",
            json={"bill_ids": [str(b1.id), str(b2.id)], "method": "cash", "tendered": "300.00"},
            headers={**cashier, "Idempotency-Key": "counter-1"},
        )
        assert cash.status_code == 201, cash.text
        assert (cash.json()["total"], cash.json()["change"]) == ("200.50", "99.50")
        assert len(cash.json()["receipts"]) == 2
        replay = await client.post(
            f"{API}/counter/payments",
            json={"bill_ids": [str(b1.id), str(b2.id)], "method": "cash", "tendered": "300.00"},
            headers={**cashier, "Idempotency-Key": "counter-1"},
        )
        assert replay.json() == cash.json()
        no_ref = await client.post(
            f"{API}/counter/payments", json={"bill_ids": [str(b3.id)], "method": "cheque"}, headers=cashier
        )
        assert no_ref.status_code == 422
        cheque = await client.post(
            f"{API}/counter/payments",
            json={"bill_ids": [str(b3.id)], "method": "cheque", "instrument_ref": "KTB 0012345"},
            headers=cashier,
        )
        assert cheque.status_code == 201, cheque.text
        again = await client.post(
            f"{API}/counter/payments", json={"bill_ids": [str(b1.id)], "method": "cash"}, headers=cashier
        )
        assert again.status_code == 409
        assert again.json()["data"]["references"] == [b1.reference]
        short = await client.post(
            f"{API}/counter/payments",
            json={"bill_ids": [str(b4.id)], "method": "cash", "tendered": "40.00"},
            headers=cashier,
        )
        assert short.status_code == 422
        receipt_id = cheque.json()["receipts"][0]["receipt_id"]
        pdf = await client.get(f"{API}/receipts/{receipt_id}/pdf", headers=cashier)
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "ชำระที่เคาน์เตอร์ (เช็ค) เลขที่ KTB 0012345" in text
        current = (await client.get(f"{API}/counter/books/current", headers=cashier)).json()
        assert (current["total"], current["expected_cash"], current["receipts"]) == ("500.50", "700.50", 3)
        closed = await client.post(
            f"{API}/counter/books/{book_id}/close",
            json={"counted_cash": "700.00", "note": "ขาด 50 สตางค์"},
            headers=cashier,
        )
        assert closed.status_code == 200, closed.text
        slip = closed.json()
        late = await client.post(
            f"{API}/counter/payments", json={"bill_ids": [str(b4.id)], "method": "cash"}, headers=cashier
        )
        assert late.json()["code"] == "cash_book_closed"
        finance = staff_headers(lao.tenant, FINANCE)
        listed = (
            await client.get(f"{API}/counter/books", params={"day": bangkok_today().isoformat()}, headers=finance)
        ).json()
        other_cashier = staff_headers(lao.tenant, CASHIER)
        not_theirs = await client.post(
            f"{API}/counter/books/{book_id}/close", json={"counted_cash": "0"}, headers=other_cashier
        )
    assert (slip["status"], slip["remitted"], slip["counted_cash"], slip["difference"]) == (
        "closed",
        "500.50",
        "700.00",
        "-0.50",
    )
    assert {(m["method"], m["payments"], m["amount"]) for m in slip["by_method"]} == {
        ("cash", 2, "200.50"),
        ("cheque", 1, "300.00"),
    }
    assert [b["id"] for b in listed["items"]] == [book_id]
    assert not_theirs.status_code == 404
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        paid = {b.reference: b.status for b in (await session.execute(select(Bill))).scalars()}
        methods = sorted((p.method, p.amount) for p in (await session.execute(select(Payment))).scalars())
    assert paid == {b1.reference: "paid", b2.reference: "paid", b3.reference: "paid", b4.reference: "open"}
    assert methods == [("cash", Decimal("80.00")), ("cash", Decimal("120.50")), ("cheque", Decimal("300.00"))]


async def test_voids_are_for_a_supervisor_never_the_cashier(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="80.00")
    cashier_id = str(uuid.uuid4())
    cashier = staff_headers(lao.tenant, CASHIER, subject=cashier_id)
    async with client_for(plugins=REGISTRY) as client:
        await client.post(f"{API}/counter/books", json={}, headers=cashier)
        taken = await client.post(
            f"{API}/counter/payments", json={"bill_ids": [str(bill.id)], "method": "cash"}, headers=cashier
        )
        receipt_id = taken.json()["receipts"][0]["receipt_id"]
        url = f"{API}/receipts/{receipt_id}/void"
        body = {"reason": "รับเงินผิดบิล"}
        by_cashier = await client.post(url, json=body, headers=cashier)
        # A finance officer who took the money at the counter cannot cancel it either.
        self_void = await client.post(
            url, json=body, headers=staff_headers(lao.tenant, [*FINANCE, *CASHIER], subject=cashier_id)
        )
        by_supervisor = await client.post(url, json=body, headers=staff_headers(lao.tenant, ["payments.supervisor"]))
    assert by_cashier.status_code == 403
    assert self_void.status_code == 403
    assert self_void.json()["code"] == "void_own_receipt"
    assert by_supervisor.status_code == 200, by_supervisor.text
    assert by_supervisor.json()["status"] == "void"


async def test_two_cashiers_taking_the_same_bill_make_one_receipt(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bills = [await bill_issued(engine, lao, bangkok_today(), amount="80.00") for _ in range(6)]
    cashiers = [staff_headers(lao.tenant, CASHIER, subject=str(uuid.uuid4())) for _ in range(3)]
    async with client_for(plugins=REGISTRY) as client:
        for headers in cashiers:
            assert (await client.post(f"{API}/counter/books", json={}, headers=headers)).status_code == 201
        # Every cashier tries every bill at once, in a different order.
        answers = await asyncio.gather(
            *(
                client.post(f"{API}/counter/payments", json={"bill_ids": [str(b.id)], "method": "cash"}, headers=h)
                for n, h in enumerate(cashiers)
                for b in (bills if n % 2 == 0 else list(reversed(bills)))
            )
        )
        books = [(await client.get(f"{API}/counter/books/current", headers=h)).json() for h in cashiers]
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 6 + [409] * 12
    assert sum(Decimal(b["total"]) for b in books) == Decimal("480.00")
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        receipts = (await session.execute(select(Receipt))).scalars().all()
    assert len(receipts) == 6
    assert sorted(r.sequence for r in receipts) == [1, 2, 3, 4, 5, 6]
    assert len({r.bill_id for r in receipts}) == 6


async def test_another_laos_cash_book_and_bills_are_not_found(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao, other = await setup_lao(engine), await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="80.00")
    cashier_id = str(uuid.uuid4())
    async with client_for(plugins=REGISTRY) as client:
        book = (
            await client.post(
                f"{API}/counter/books", json={}, headers=staff_headers(lao.tenant, CASHIER, subject=cashier_id)
            )
        ).json()
        theirs = staff_headers(other.tenant, CASHIER, subject=cashier_id)
        await client.post(f"{API}/counter/books", json={}, headers=theirs)
        shown = await client.get(f"{API}/counter/books/{book['id']}", headers=staff_headers(other.tenant, FINANCE))
        closed = await client.post(
            f"{API}/counter/books/{book['id']}/close", json={"counted_cash": "0"}, headers=theirs
        )
        paid = await client.post(
            f"{API}/counter/payments", json={"bill_ids": [str(bill.id)], "method": "cash"}, headers=theirs
        )
    assert (shown.status_code, closed.status_code, paid.status_code) == (404, 404, 404)
    assert paid.headers["content-type"] == "application/problem+json"
