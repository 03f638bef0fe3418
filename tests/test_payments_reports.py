"""Finance reports: the daily collection report and the e-LAAS CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import BANGKOK
from localgov.plugins import REGISTRY
from localgov.services.payments import reports
from localgov.services.payments.api import BillLine
from localgov.services.payments.models import Payment, Receipt
from tests.conftest import ClientFactory, host
from tests.test_payments_bank import CASHIER, FINANCE, deliver, notice, open_bills, setup_lao, staff_headers

TWO_LINES = [
    BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal("40.00")),
    BillLine(fee_code="garbage.disposal", description_th="ค่ากำจัดขยะมูลฝอย", amount=Decimal("40.00")),
]


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


async def test_daily_collection_report_by_bangkok_day(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    b1, b2, b3 = await open_bills(engine, lao.tenant, 3, lines=TWO_LINES)
    finance = staff_headers(lao.tenant, FINANCE)
    today = dt.datetime.now(dt.UTC).astimezone(BANGKOK).date()
    yesterday = today - dt.timedelta(days=1)
    async with client_for(plugins=REGISTRY) as client:
        r1 = (await deliver(client, lao.tenant, lao.secret, notice(lao, b1.reference, "80.00"))).json()
        r2 = (await deliver(client, lao.tenant, lao.secret, notice(lao, b2.reference, "80.00"))).json()
        await deliver(client, lao.tenant, lao.secret, notice(lao, b3.reference, "12.34"))
        voided = await client.post(
            f"/v1/payments/receipts/{r2['receipt']['id']}/void", json={"reason": "ออกผิดราย"}, headers=finance
        )
        assert voided.status_code == 200
        # The first receipt was issued yesterday 23:30 Bangkok time (16:30 UTC): it counts yesterday.
        late = dt.datetime.combine(yesterday, dt.time(23, 30), tzinfo=BANGKOK)
        async with tenant_session(session_factory(engine), lao.tenant) as session:
            await session.execute(
                update(Receipt).where(Receipt.id == r1["receipt"]["id"]).values(issued_at=late.astimezone(dt.UTC))
            )
        answer = await client.get(
            "/v1/payments/reports/daily-collection",
            params={"date_from": (today - dt.timedelta(days=2)).isoformat(), "date_to": today.isoformat()},
            headers=finance,
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        days = {d["day"]: d for d in report["days"]}
        assert list(days) == [(today - dt.timedelta(days=n)).isoformat() for n in (2, 1, 0)]
        before = days[(today - dt.timedelta(days=2)).isoformat()]
        assert (before["receipts"], Decimal(before["amount"]), before["by_fee"]) == (0, Decimal(0), [])
        day1 = days[yesterday.isoformat()]
        assert (day1["receipts"], Decimal(day1["amount"])) == (1, Decimal("80.00"))
        assert [(f["fee_code"], Decimal(f["amount"])) for f in day1["by_fee"]] == [
            ("garbage.collection", Decimal("40.00")),
            ("garbage.disposal", Decimal("40.00")),
        ]
        day2 = days[today.isoformat()]
        assert (day2["receipts"], day2["void_receipts"], Decimal(day2["void_amount"])) == (0, 1, Decimal("80.00"))
        # The voided receipt's 80.00 reached the bank: it is in the exceptions (voided_receipt), not lost.
        assert (day2["exceptions"], Decimal(day2["exception_amount"])) == (2, Decimal("92.34"))
        assert (report["receipts"], Decimal(report["amount"]), report["void_receipts"]) == (1, Decimal("80.00"), 1)
        backwards = await client.get(
            "/v1/payments/reports/daily-collection",
            params={"date_from": today.isoformat(), "date_to": yesterday.isoformat()},
            headers=finance,
        )
        assert backwards.status_code == 422
        assert backwards.json()["code"] == "invalid_date_range"
        too_long = await client.get(
            "/v1/payments/reports/daily-collection",
            params={"date_from": "2024-01-01", "date_to": "2025-12-31"},
            headers=finance,
        )
        assert too_long.status_code == 422


async def test_csv_exports_for_elaas(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    b1, b2 = await open_bills(engine, lao.tenant, 2, lines=TWO_LINES, payer_name="นางน้ำอ้อย ใจดี")
    finance = staff_headers(lao.tenant, FINANCE)
    today = dt.datetime.now(dt.UTC).astimezone(BANGKOK).date()
    span = {"date_from": today.isoformat(), "date_to": today.isoformat()}
    async with client_for(plugins=REGISTRY) as client:
        paid = (await deliver(client, lao.tenant, lao.secret, notice(lao, b1.reference, "80.00", txn="P1"))).json()
        await deliver(client, lao.tenant, lao.secret, notice(lao, b2.reference, "1234.50", txn="P2"))
        payments_csv = await client.get("/v1/payments/reports/payments.csv", params=span, headers=finance)
        receipts_csv = await client.get("/v1/payments/reports/receipts.csv", params=span, headers=finance)
        too_long = await client.get(
            "/v1/payments/reports/receipts.csv",
            params={"date_from": (today - dt.timedelta(days=31)).isoformat(), "date_to": today.isoformat()},
            headers=finance,
        )
        assert too_long.status_code == 422
        denied = await client.get("/v1/payments/reports/payments.csv", params=span, headers=host(lao.tenant.slug))
        assert denied.status_code == 401
    assert payments_csv.status_code == 200, payments_csv.text
    assert payments_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in payments_csv.headers["content-disposition"]
    rows = read_csv(payments_csv.content)
    assert rows[0] == [f"{thai} ({english})" for english, thai in reports.PAYMENT_COLUMNS]
    assert rows[0][3] == "เลขที่รายการธนาคาร (bank_txn_id)"
    by_txn = {r[3]: dict(zip([e for e, _ in reports.PAYMENT_COLUMNS], r, strict=True)) for r in rows[1:]}
    assert set(by_txn) == {"P1", "P2"}
    assert by_txn["P1"]["status"] == "matched"
    assert by_txn["P1"]["amount"] == "80.00"
    assert by_txn["P1"]["receipt_no"] == str(paid["receipt"]["receipt_no"])
    assert by_txn["P1"]["received_date_be"].endswith(str(today.year + 543))
    assert (by_txn["P2"]["status"], by_txn["P2"]["exception_kind"], by_txn["P2"]["amount"]) == (
        "exception",
        "over",
        "1234.50",
    )
    assert by_txn["P2"]["receipt_no"] == ""
    lines = read_csv(receipts_csv.content)
    assert lines[0][0] == "ปีงบประมาณ (fiscal_year)"
    records = [dict(zip([e for e, _ in reports.RECEIPT_COLUMNS], r, strict=True)) for r in lines[1:]]
    assert [(r["line_no"], r["fee_code"], r["line_amount"]) for r in records] == [
        ("1", "garbage.collection", "40.00"),
        ("2", "garbage.disposal", "40.00"),
    ]
    assert {r["payer_name"] for r in records} == {"นางน้ำอ้อย ใจดี"}
    assert {r["amount_text_th"] for r in records} == {"แปดสิบบาทถ้วน"}
    assert {r["bank_txn_id"] for r in records} == {"P1"}


async def test_reports_are_for_finance_and_per_lao(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao_a = await setup_lao(engine)
    lao_b = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao_a.tenant)
    today = dt.datetime.now(dt.UTC).astimezone(BANGKOK).date().isoformat()
    span = {"date_from": today, "date_to": today}
    paths = [
        "/v1/payments/reports/daily-collection",
        "/v1/payments/reports/payments.csv",
        "/v1/payments/reports/receipts.csv",
    ]
    async with client_for(plugins=REGISTRY) as client:
        await deliver(client, lao_a.tenant, lao_a.secret, notice(lao_a, bill.reference, "80.00"))
        for path in paths:
            for roles in ([], CASHIER, ["tenant_admin"]):
                answer = await client.get(path, params=span, headers=staff_headers(lao_a.tenant, roles))
                assert answer.status_code == 403, (path, roles)
        b_report = (await client.get(paths[0], params=span, headers=staff_headers(lao_b.tenant, FINANCE))).json()
        assert (b_report["receipts"], b_report["exceptions"]) == (0, 0)
        for path in paths[1:]:
            b_csv = await client.get(path, params=span, headers=staff_headers(lao_b.tenant, FINANCE))
            assert len(read_csv(b_csv.content)) == 1  # the header only
        a_report = (await client.get(paths[0], params=span, headers=staff_headers(lao_a.tenant, FINANCE))).json()
        assert a_report["receipts"] == 1
    async with tenant_session(session_factory(engine), lao_b.tenant) as session:
        assert (await session.get(Payment, bill.id)) is None
