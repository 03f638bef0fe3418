"""Overpayments, partial payments and the payer's credit (issue 17, item 2).

The bank's mismatches still land in the exceptions queue (never corrected automatically); a finance
officer applies one: what the bill asks is receipted, the rest is the payer's credit, which their
next bill uses. A voided bank-paid receipt's money can go to that credit too. Refunds record who
approved them, and two refunds can never spend the same baht.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import bangkok_today
from localgov.plugins import REGISTRY
from localgov.services.payments.models import Bill, PayerCredit, Payment, PaymentException, Receipt
from tests.conftest import ClientFactory
from tests.test_payments_bank import FINANCE, Lao, deliver, notice, setup_lao, staff_headers
from tests.test_payments_finance import bill_issued

API = "/v1/payments"


async def manual_bill(client: httpx.AsyncClient, lao: Lao, payer_id: uuid.UUID, amount: str) -> dict[str, Any]:
    made = await client.post(
        f"{API}/bills",
        json={
            "payer_id": str(payer_id),
            "due_date": (bangkok_today() + dt.timedelta(days=15)).isoformat(),
            "lines": [{"fee_code": "misc.fee", "description_th": "ค่าธรรมเนียม", "amount": amount}],
        },
        headers={**staff_headers(lao.tenant, FINANCE), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def exception_of(engine: AsyncEngine, lao: Lao, payment_id: str) -> uuid.UUID:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        query = select(PaymentException.id).where(PaymentException.payment_id == uuid.UUID(payment_id))
        return (await session.execute(query)).scalar_one()


async def test_an_over_payment_pays_its_bill_and_the_surplus_pays_the_next_bill(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="100.00")
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        over = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "130.00"))).json()
        assert (over["status"], over["exception_kind"]) == ("exception", "over")
        exception_id = await exception_of(engine, lao, over["payment_id"])
        applied = await client.post(
            f"{API}/bank/exceptions/{exception_id}/apply", json={"note": "โอนเกิน เก็บไว้ใช้งวดหน้า"}, headers=finance
        )
        assert applied.status_code == 200, applied.text
        result = applied.json()
        assert (Decimal(result["applied"]), Decimal(result["credited"]), result["bill_status"]) == (
            Decimal("100.00"),
            Decimal("30.00"),
            "paid",
        )
        again = await client.post(f"{API}/bank/exceptions/{exception_id}/apply", json={"note": "ซ้ำ"}, headers=finance)
        assert again.status_code == 409
        credit = (await client.get(f"{API}/payers/{bill.payer_id}/credit", headers=finance)).json()
        assert Decimal(credit["balance"]) == Decimal("30.00")
        # The payer's next bill uses the credit: 80.00 asks for 50.00 more, and its QR says so.
        following = await manual_bill(client, lao, bill.payer_id, "80.00")
        assert (following["status"], following["amount_paid"], following["amount_due"]) == ("open", "30.00", "50.00")
        assert "540550.00" in following["qr_payload"]
        rest = (await deliver(client, lao.tenant, lao.secret, notice(lao, following["reference"], "50.00"))).json()
        assert rest["status"] == "matched"
        shown = (await client.get(f"{API}/bills/{following['id']}", headers=finance)).json()
        assert (shown["status"], shown["amount_due"]) == ("paid", "0.00")
        credit = (await client.get(f"{API}/payers/{bill.payer_id}/credit", headers=finance)).json()
        today = bangkok_today().isoformat()
        daily = await client.get(
            f"{API}/reports/daily-collection", params={"date_from": today, "date_to": today}, headers=finance
        )
    assert Decimal(credit["balance"]) == Decimal("0.00")
    assert [(e["kind"], e["amount"]) for e in credit["entries"]] == [("over", "30.00"), ("applied", "-30.00")]
    day = daily.json()["days"][0]
    # 130.00 reached the bank and 130.00 is receipted: 100 + 30 (from credit) + 50 ... for 180 of bills.
    assert Decimal(day["amount"]) == Decimal("180.00")
    assert (Decimal(day["credited_amount"]), Decimal(day["credit_used_amount"])) == (Decimal("30.00"), Decimal("30.00"))
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        amounts = sorted((await session.execute(select(Receipt.amount))).scalars())
        channels = sorted((await session.execute(select(Payment.channel))).scalars())
    assert amounts == [Decimal("30.00"), Decimal("50.00"), Decimal("100.00")]
    assert channels == ["credit", "webhook", "webhook"]


async def test_a_short_payment_applied_leaves_the_rest_open(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="100.00")
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        short = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "60.00"))).json()
        assert short["exception_kind"] == "short"
        exception_id = await exception_of(engine, lao, short["payment_id"])
        applied = await client.post(
            f"{API}/bank/exceptions/{exception_id}/apply", json={"note": "ชำระบางส่วน"}, headers=finance
        )
        assert applied.status_code == 200, applied.text
        assert (applied.json()["bill_status"], applied.json()["amount_due"]) == ("open", "40.00")
        shown = (await client.get(f"{API}/bills/{bill.id}", headers=finance)).json()
        assert (shown["amount_paid"], shown["amount_due"]) == ("60.00", "40.00")
        assert "540540.00" in shown["qr_payload"]
        partly = await client.post(f"{API}/bills/{bill.id}/cancel", json={"reason": "ยกเลิก"}, headers=finance)
        assert partly.status_code == 409
        assert partly.json()["code"] == "bill_partly_paid"
        rest = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "40.00"))).json()
        assert rest["status"] == "matched"
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        paid = await session.get(Bill, bill.id)
        amounts = sorted((await session.execute(select(Receipt.amount))).scalars())
    assert paid is not None
    assert (paid.status, paid.amount_paid) == ("paid", Decimal("100.00"))
    assert amounts == [Decimal("40.00"), Decimal("60.00")]


async def test_a_voided_bank_receipt_can_end_in_a_credit_that_the_next_bill_uses(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="1250.00")
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        paid = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "1250.00"))).json()
        voided = await client.post(
            f"{API}/receipts/{paid['receipt']['id']}/void",
            json={"reason": "ออกใบเสร็จผิดบิล", "money_to": "credit"},
            headers=finance,
        )
        assert voided.status_code == 200, voided.text
        credit = (await client.get(f"{API}/payers/{bill.payer_id}/credit", headers=finance)).json()
        assert Decimal(credit["balance"]) == Decimal("1250.00")
        following = await manual_bill(client, lao, bill.payer_id, "80.00")
        assert (following["status"], following["amount_due"]) == ("paid", "0.00")
        credit = (await client.get(f"{API}/payers/{bill.payer_id}/credit", headers=finance)).json()
        today = bangkok_today().isoformat()
        day = (
            await client.get(
                f"{API}/reports/daily-collection", params={"date_from": today, "date_to": today}, headers=finance
            )
        ).json()["days"][0]
    assert Decimal(credit["balance"]) == Decimal("1170.00")
    assert (Decimal(day["void_amount"]), Decimal(day["credited_amount"])) == (Decimal("1250.00"), Decimal("1250.00"))
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        exceptions = (await session.execute(select(PaymentException))).scalars().all()
    assert exceptions == []


async def test_refunds_record_the_approver_and_never_spend_the_same_baht_twice(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="100.00")
    approver = str(uuid.uuid4())
    finance = staff_headers(lao.tenant, FINANCE, subject=approver)
    async with client_for(plugins=REGISTRY) as client:
        paid = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "100.00"))).json()
        await client.post(
            f"{API}/receipts/{paid['receipt']['id']}/void",
            json={"reason": "ผู้ชำระขอคืนเงิน", "money_to": "credit"},
            headers=finance,
        )
        url = f"{API}/payers/{bill.payer_id}/refunds"
        body = {"amount": "100.00", "note": "โอนคืนบัญชีผู้ชำระ KTB 123"}
        answers = await asyncio.gather(*(client.post(url, json=body, headers=finance) for _ in range(4)))
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {"insufficient_credit"}
        too_much = await client.post(url, json={**body, "amount": "0.01"}, headers=finance)
        assert too_much.status_code == 409
        huge = await client.post(url, json={**body, "amount": "1e308"}, headers=finance)
        assert huge.status_code == 422
        cashier = await client.post(url, json=body, headers=staff_headers(lao.tenant, ["payments.cashier"]))
        assert cashier.status_code == 403
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        entries = (await session.execute(select(PayerCredit).order_by(PayerCredit.created_at))).scalars().all()
    assert [(e.kind, e.amount) for e in entries] == [
        ("voided_receipt", Decimal("100.00")),
        ("refund", Decimal("-100.00")),
    ]
    assert str(entries[1].approved_by) == approver


async def test_another_laos_payer_credit_is_not_found(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao, other = await setup_lao(engine), await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today())
    async with client_for(plugins=REGISTRY) as client:
        theirs = staff_headers(other.tenant, FINANCE)
        seen = await client.get(f"{API}/payers/{bill.payer_id}/credit", headers=theirs)
        refund = await client.post(
            f"{API}/payers/{bill.payer_id}/refunds", json={"amount": "1.00", "note": "ไม่ใช่ของเรา"}, headers=theirs
        )
        paid = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "81.00"))).json()
        exception_id = await exception_of(engine, lao, paid["payment_id"])
        apply = await client.post(f"{API}/bank/exceptions/{exception_id}/apply", json={"note": "ข้าม"}, headers=theirs)
    assert (seen.status_code, refund.status_code, apply.status_code) == (404, 404, 404)
