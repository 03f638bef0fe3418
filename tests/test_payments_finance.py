"""Issue 17, finding by finding: the accounting around the money (a finance office's checks).

Year end by the payment's date, late statements flagged, backdated tariffs refused, a voided
bank-paid receipt traced to the exceptions, the receipt's issuer / tax ID / officer / lines, hostile
amounts in every money field, a Thai Ref1 and a payment dated before its bill.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, AuditEvent, Origin
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK, bangkok_today
from localgov.kernel.validation import MONEY_LIMIT, InvalidInput, add_months, parse_money
from localgov.plugins import REGISTRY
from localgov.services.payments import bank, receipts, reports
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import (
    Bill,
    FeeAccount,
    Payer,
    Payment,
    PaymentException,
    Receipt,
    Tariff,
)
from localgov.services.payments.receipt_pdf import ReceiptLine, line_text, render_receipt
from tests.conftest import ClientFactory, host
from tests.support.payments import BILLER_ID, make_account, make_tariff, payments_db, payments_tenant
from tests.test_payments_bank import (
    FINANCE,
    STATEMENTS,
    Lao,
    count,
    deliver,
    notice,
    setup_lao,
    signed_headers,
    staff_headers,
)

API = "/v1/payments"
HUGE = ("1e308", "12345678901234567890123456789012", "-1e308")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def bill_issued(engine: AsyncEngine, lao: Lao, issue: dt.date, amount: str = "80.00") -> Bill:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payer = Payer(kind="person", name="นายปีงบ ประมาณ", subdistrict="แม่เหียะ")
        session.add(payer)
        await session.flush()
        return await create_bill(
            session,
            payer_id=payer.id,
            lines=[BillLine(fee_code="garbage", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal(amount))],
            issue_date=issue,
            due_date=issue + dt.timedelta(days=60),
            source="test",
            source_key=uuid.uuid4().hex,
        )


def statement(lao: Lao, *lines: tuple[str, str, str, str]) -> bytes:
    rows = ["transaction_id,paid_at,biller_id,ref1,ref2,amount"]
    rows += [f"{txn},{paid_at},{lao.biller_id},{ref1},,{amount}" for txn, paid_at, ref1, amount in lines]
    return ("\r\n".join(rows) + "\r\n").encode()


# --- finding 1: the payment's date and fiscal year ---------------------------------------------------


async def test_year_end_payments_processed_on_2_october_go_to_their_own_fiscal_years(engine: AsyncEngine) -> None:
    lao = await setup_lao(engine)
    september = await bill_issued(engine, lao, dt.date(2026, 9, 1))
    october = await bill_issued(engine, lao, dt.date(2026, 9, 1))
    content = statement(
        lao,
        ("YE-0930-2350", "2026-09-30T23:50:00", september.reference, "80.00"),
        ("YE-1001-0010", "2026-10-01T00:10:00", october.reference, "80.00"),
    )
    processed = dt.datetime(2026, 10, 2, 9, 0, tzinfo=BANGKOK)
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        report = await bank.import_statement(session, content, actor=Actor("system"), origin=Origin(), now=processed)
    assert [(line.outcome, line.late) for line in report.lines] == [
        ("matched", "closed_fiscal_year"),
        ("matched", None),
    ]
    assert report.late == 1
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        rows = (await session.execute(select(Receipt).order_by(Receipt.issued_at))).scalars().all()
        # Two fiscal years, two series, each starting at 1; each receipt dated its payment.
        assert [(r.fiscal_year, r.sequence, receipts.receipt_label(r)) for r in rows] == [
            ("2569", 1, "1/1/2569"),
            ("2570", 1, "1/1/2570"),
        ]
        assert [r.issued_at.astimezone(BANGKOK).date() for r in rows] == [dt.date(2026, 9, 30), dt.date(2026, 10, 1)]
        daily = await reports.daily_collection(session, dt.date(2026, 9, 30), dt.date(2026, 10, 1))
        assert [(d.day, d.receipts, d.amount) for d in daily.days] == [
            (dt.date(2026, 9, 30), 1, Decimal("80.00")),
            (dt.date(2026, 10, 1), 1, Decimal("80.00")),
        ]
        # The payments CSV filters by the payment date, not by when the file was processed.
        last_day = (await reports.payments_csv(session, dt.date(2026, 9, 30), dt.date(2026, 9, 30))).decode("utf-8-sig")
        assert "YE-0930-2350" in last_day
        assert "YE-1001-0010" not in last_day
        year_end = (await reports.receipts_csv(session, dt.date(2026, 9, 30), dt.date(2026, 10, 1))).decode("utf-8-sig")
        assert "2569,1,1,2026-09-30" in year_end
        assert "2570,1,1,2026-10-01" in year_end


def test_lateness_of_a_statement_line() -> None:
    processed = dt.datetime(2026, 12, 7, 10, 0, tzinfo=BANGKOK)
    assert bank.lateness(dt.datetime(2026, 12, 1, 0, 5, tzinfo=BANGKOK), processed) is None
    assert bank.lateness(dt.datetime(2026, 11, 30, 23, 59, tzinfo=BANGKOK), processed) == "closed_month"
    assert bank.lateness(dt.datetime(2026, 9, 30, 23, 50, tzinfo=BANGKOK), processed) == "closed_fiscal_year"


@settings(max_examples=60, deadline=None)
@given(
    paid=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1)),
    delay=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=800)),
)
def test_lateness_is_none_exactly_within_the_same_bangkok_month(paid: dt.datetime, delay: dt.timedelta) -> None:
    moment = paid.replace(tzinfo=BANGKOK)
    later = moment + delay
    verdict = bank.lateness(moment, later)
    assert (verdict is None) == ((moment.year, moment.month) == (later.year, later.month))


# --- finding 2: backdated tariffs ---------------------------------------------------------------------


def fin(tenant: TenantInfo) -> dict[str, str]:
    return staff_headers(tenant, FINANCE)


async def test_backdated_tariff_versions_are_refused_unless_reasoned_and_nothing_is_billed(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "garbage", effective_from=dt.date(2020, 1, 1))
        await make_account(session, start_date=dt.date(2020, 1, 1))
    today = bangkok_today()
    this_month = today.replace(day=1)
    last_month = add_months(this_month, -1)
    next_month = add_months(this_month, 1)
    definition = {"fee_type": "garbage", "bands": [{"max_litres": None, "collection": "95.00", "disposal": "0"}]}
    async with client_for(plugins=REGISTRY) as http:
        run = await http.post(
            f"{API}/bill-runs", json={"fee_type": "garbage", "period": last_month.isoformat()[:7]}, headers=fin(tenant)
        )
        assert run.status_code == 200, run.text
        for start in (dt.date(2020, 1, 1), last_month):
            refused = await http.post(
                f"{API}/tariffs",
                json={"effective_from": start.isoformat(), "definition": definition},
                headers=fin(tenant),
            )
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "tariff_backdated"
        rebill = await http.post(
            f"{API}/tariffs",
            json={"effective_from": last_month.isoformat(), "definition": definition, "backdated_reason": "ประกาศช้า"},
            headers=fin(tenant),
        )
        assert rebill.status_code == 409
        assert rebill.json()["code"] == "tariff_rebill_required"
        assert rebill.json()["data"]["periods"] == [last_month.isoformat()[:7]]
        future = await http.post(
            f"{API}/tariffs",
            json={"effective_from": next_month.isoformat(), "definition": definition},
            headers=fin(tenant),
        )
        assert future.status_code == 201, future.text
        # Nothing billed for wastewater: a reasoned backdated first version is accepted, audited.
        water = {"fee_type": "wastewater", "factor": "0.8", "rates": {"household": "2.00"}}
        reasoned = await http.post(
            f"{API}/tariffs",
            json={"effective_from": last_month.isoformat(), "definition": water, "backdated_reason": "ประกาศช้า"},
            headers=fin(tenant),
        )
        assert reasoned.status_code == 201, reasoned.text
    async with payments_db(engine, tenant) as session:
        starts = (await session.execute(select(Tariff.fee_type, Tariff.effective_from))).all()
        audited = (
            await session.execute(select(AuditEvent.data).where(AuditEvent.action == "payments.tariff_backdated"))
        ).scalars()
        assert [a["reason"] for a in audited] == ["ประกาศช้า"]
    assert sorted(starts) == [
        ("garbage", dt.date(2020, 1, 1)),
        ("garbage", next_month),
        ("wastewater", last_month),
    ]


# --- finding 3: a voided bank-paid receipt ------------------------------------------------------------


async def test_void_of_a_bank_paid_receipt_moves_the_money_to_the_exceptions(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today(), amount="1250.00")
    today = bangkok_today().isoformat()
    async with client_for(plugins=REGISTRY) as client:
        paid = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "1250.00"))).json()
        assert paid["status"] == "matched"
        voided = await client.post(
            f"{API}/receipts/{paid['receipt']['id']}/void", json={"reason": "ออกผิดราย"}, headers=fin(lao.tenant)
        )
        assert voided.status_code == 200, voided.text
        queue = await client.get(f"{API}/bank/exceptions", params={"kind": "voided_receipt"}, headers=fin(lao.tenant))
        assert queue.status_code == 200
        items = queue.json()["items"]
        assert len(items) == 1
        assert (items[0]["kind"], Decimal(items[0]["amount"]), items[0]["bill_status"]) == (
            "voided_receipt",
            Decimal("1250.00"),
            "open",
        )
        daily = await client.get(
            f"{API}/reports/daily-collection", params={"date_from": today, "date_to": today}, headers=fin(lao.tenant)
        )
        day = daily.json()["days"][0]
    assert (day["void_receipts"], Decimal(day["void_amount"])) == (1, Decimal("1250.00"))
    assert (day["exceptions"], Decimal(day["exception_amount"])) == (1, Decimal("1250.00"))
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payment = (await session.execute(select(Payment))).scalar_one()
        exception = (await session.execute(select(PaymentException))).scalar_one()
        reopened = await session.get(Bill, bill.id)
    assert payment.status == "exception"
    assert (exception.kind, exception.status, exception.payment_id) == ("voided_receipt", "open", payment.id)
    assert reopened is not None
    assert reopened.status == "open"


# --- finding 5: what the receipt prints ---------------------------------------------------------------


def test_the_issuer_is_named_with_its_type() -> None:
    tenant = TenantInfo(
        id=1,
        dla_code="4500103",
        slug="maehia",
        schema="t_maehia",
        name_th="แม่เหียะ",
        name_en="Mae Hia",
        lao_type="town_municipality",
        province_code="50",
        province_th="เชียงใหม่",
        province_en="Chiang Mai",
        district_th="เมืองเชียงใหม่",
        status="active",
        plan_code="basic",
        enabled_services=frozenset({"payments"}),
    )
    assert receipts.issuer_name(tenant) == "เทศบาลเมืองแม่เหียะ"
    assert receipts.issuer_name(msgspec.structs.replace(tenant, name_th="เทศบาลเมืองแม่เหียะ")) == "เทศบาลเมืองแม่เหียะ"
    tambon = msgspec.structs.replace(tenant, name_th="ป่าแดด", lao_type="subdistrict_admin_org")
    assert receipts.issuer_name(tambon) == "องค์การบริหารส่วนตำบลป่าแดด"


async def test_receipt_prints_issuer_tax_id_officer_unit_prices_and_the_period_once(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine, biller_id=BILLER_ID)
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payer = Payer(kind="person", name="นางสาวใบเสร็จ ถูกต้อง", subdistrict="แม่เหียะ")
        session.add(payer)
    headers = fin(lao.tenant)
    async with client_for(plugins=REGISTRY) as client:
        settings_ = await client.put(
            f"{API}/settings",
            json={
                "biller_id": lao.biller_id,
                "officer_name": "นางสาวสมใจ รักงาน",
                "officer_position": "นักวิชาการเงินและบัญชีชำนาญการ",
            },
            headers=headers,
        )
        assert settings_.status_code == 200, settings_.text
        assert settings_.json()["officer_position"] == "นักวิชาการเงินและบัญชีชำนาญการ"
        made = await client.post(
            f"{API}/bills",
            json={
                "payer_id": str(payer.id),
                "due_date": (bangkok_today() + dt.timedelta(days=10)).isoformat(),
                "lines": [
                    {"fee_code": "copy.fee", "description_th": "ค่าถ่ายเอกสาร", "unit_price": "3.33", "quantity": "3"},
                    {
                        "fee_code": "garbage",
                        "description_th": "ค่าเก็บขยะมูลฝอย เดือนพฤศจิกายน 2569",
                        "amount": "40.00",
                        "period": "2026-11",
                    },
                ],
            },
            headers={**headers, "Idempotency-Key": "receipt-lines"},
        )
        assert made.status_code == 201, made.text
        bill = made.json()
        assert bill["total"] == "49.99"
        copies = next(i for i in bill["items"] if i["fee_code"] == "copy.fee")
        assert (copies["unit_price"], copies["amount"]) == ("3.33", "9.99")
        mismatch = await client.post(
            f"{API}/bills",
            json={
                "payer_id": str(payer.id),
                "due_date": (bangkok_today() + dt.timedelta(days=10)).isoformat(),
                "lines": [
                    {
                        "fee_code": "copy.fee",
                        "description_th": "x",
                        "unit_price": "3.33",
                        "quantity": "3",
                        "amount": "10.00",
                    }
                ],
            },
            headers={**headers, "Idempotency-Key": "receipt-mismatch"},
        )
        assert mismatch.status_code == 422
        paid = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill["reference"], "49.99"))).json()
        assert paid["status"] == "matched"
        pdf = await client.get(f"{API}/receipts/{paid['receipt']['id']}/pdf", headers=headers)
        assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert receipts.issuer_name(lao.tenant) in text
    assert f"เลขประจำตัวผู้เสียภาษี {lao.biller_id[:13]}" in text
    assert "(นางสาวสมใจ รักงาน)" in text
    assert "ตำแหน่ง นักวิชาการเงินและบัญชีชำนาญการ" in text
    assert "3 × 3.33" in text
    assert "9.99" in text
    assert "10.00" not in text
    assert text.count("พฤศจิกายน 2569") == 1
    # The issuer with its type, as a town municipality's receipt prints it.
    maehia = msgspec.structs.replace(lao.tenant, name_th="แม่เหียะ", lao_type="town_municipality")
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        receipt = await receipts.get_receipt(session, uuid.UUID(paid["receipt"]["id"]))
        doc = await receipts.receipt_document(session, receipt, lao_name_th=receipts.issuer_name(maehia))
    assert "เทศบาลเมืองแม่เหียะ" in pdf_text(render_receipt(doc))


# --- finding 6: hostile amounts, a Thai Ref1, a payment before its bill ------------------------------


def problem(answer: Any) -> None:
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text


async def test_hostile_amounts_in_every_money_field_are_problems_and_store_nothing(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today())
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payer = Payer(kind="person", name="นายตัวเลข ยาวมาก", subdistrict="แม่เหียะ")
        session.add(payer)
    headers = fin(lao.tenant)
    due = (bangkok_today() + dt.timedelta(days=10)).isoformat()
    next_month = add_months(bangkok_today().replace(day=1), 1)
    async with client_for(plugins=REGISTRY) as client:
        for n, huge in enumerate(HUGE):
            for field in ("amount", "unit_price"):
                line = {"fee_code": "x.fee", "description_th": "ค่าธรรมเนียม", field: huge}
                answer = await client.post(
                    f"{API}/bills",
                    json={"payer_id": str(payer.id), "due_date": due, "lines": [line]},
                    headers={**headers, "Idempotency-Key": f"huge-{n}-{field}"},
                )
                problem(answer)
            account = await client.post(
                f"{API}/accounts",
                json={
                    "payer_id": str(payer.id),
                    "fee_type": "fixed",
                    "fee_code": "market_stall",
                    "amount": huge,
                    "start_date": "2026-01-01",
                },
                headers=headers,
            )
            problem(account)
            tariff = await client.post(
                f"{API}/tariffs",
                json={
                    "effective_from": next_month.isoformat(),
                    "definition": {"fee_type": "fixed", "fees": {"stall": {"description_th": "แผง", "amount": huge}}},
                },
                headers=headers,
            )
            problem(tariff)
            file = statement(lao, (f"HUGE-S{n}", "2026-12-01T10:00:00", bill.reference, huge))
            imported = await client.post(STATEMENTS, content=file, headers={**headers, "Content-Type": "text/csv"})
            problem(imported)
            for as_number in (False, True):
                payload: dict[str, Any] = notice(lao, bill.reference, huge, txn=f"HUGE-W{n}-{as_number}")
                body = json.dumps(payload).encode()
                if as_number:
                    body = body.replace(f'"{huge}"'.encode(), huge.encode())
                answer = await client.post(
                    "/v1/payments/bank/notifications",
                    content=body,
                    headers={**host(lao.tenant.slug), **signed_headers(lao.secret, body)},
                )
                problem(answer)
    assert await count(engine, lao.tenant, Payment) == 0
    assert await count(engine, lao.tenant, Bill) == 1
    assert await count(engine, lao.tenant, FeeAccount) == 0
    assert await count(engine, lao.tenant, Tariff, Tariff.effective_from == next_month) == 0


async def test_a_thai_ref1_and_a_payment_before_its_bill_become_exceptions(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bill = await bill_issued(engine, lao, bangkok_today())
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    async with client_for(plugins=REGISTRY) as client:
        thai = await deliver(client, lao.tenant, lao.secret, notice(lao, "บิลค่าขยะ12", "80.00"))
        assert thai.status_code == 200, thai.text
        assert (thai.json()["status"], thai.json()["exception_kind"]) == ("exception", "unmatched")
        early = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00", paid_at=yesterday))
        assert early.status_code == 200, early.text
        assert (early.json()["status"], early.json()["exception_kind"]) == ("exception", "paid_before_issue")
        # A webhook delivery of a payment from an earlier month is flagged too.
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        late = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00", paid_at=old))
        assert late.json()["late"] in ("closed_month", "closed_fiscal_year")
        assert late.json()["exception_kind"] == "paid_before_issue"
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        kinds = sorted((await session.execute(select(PaymentException.kind))).scalars())
        refs = sorted((await session.execute(select(Payment.ref1))).scalars())
        receipts_made = (await session.execute(select(func.count()).select_from(Receipt))).scalar_one()
        still = await session.get(Bill, bill.id)
    assert kinds == ["paid_before_issue", "paid_before_issue", "unmatched"]
    assert "บิลค่าขยะ12" in refs
    assert receipts_made == 0
    assert still is not None
    assert still.status == "open"


_ANY_DECIMAL = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(
        lambda digits, exponent: Decimal(f"{digits}e{exponent}"),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.integers(min_value=-400, max_value=400),
    ),
)


@settings(max_examples=150, deadline=None)
@given(amount=_ANY_DECIMAL)
def test_any_amount_is_accepted_or_refused_never_an_arithmetic_error(amount: Decimal) -> None:
    """The range is checked before rounding: whatever the bank sends, a result or a 4xx error."""
    try:
        notice_ = bank.normalise_notice(
            transaction_id="T1",
            biller_id="0" * 15,
            ref1="REF1",
            ref2=None,
            amount=amount,
            paid_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
            raw={},
        )
    except bank.InvalidNotification:
        pass
    else:
        assert 0 < notice_.amount < bank.AMOUNT_LIMIT
        assert notice_.amount == amount
    try:
        money = parse_money(amount)
    except InvalidInput:
        pass
    else:
        assert 0 < money < MONEY_LIMIT


def test_receipt_line_text() -> None:
    copies = ReceiptLine(
        description="ค่าถ่ายเอกสาร", amount=Decimal("9.99"), quantity=Decimal("3.000"), unit_price=Decimal("3.33")
    )
    assert line_text(copies) == "ค่าถ่ายเอกสาร 3 × 3.33"
    named = ReceiptLine(description="ค่าเก็บขยะมูลฝอย เดือนพฤศจิกายน 2569", amount=Decimal("40.00"), period="2026-11")
    assert line_text(named) == "ค่าเก็บขยะมูลฝอย เดือนพฤศจิกายน 2569"
    unnamed = ReceiptLine(description="ค่าบำบัดน้ำเสีย", amount=Decimal("40.00"), period="2026-11")
    assert line_text(unnamed) == "ค่าบำบัดน้ำเสีย (พฤศจิกายน 2569)"
    water = ReceiptLine(
        description="ค่าบำบัดน้ำเสีย เดือนพฤศจิกายน 2569 (16 ลบ.ม. × 0.8 × 2.00 บาท)",
        amount=Decimal("25.60"),
        quantity=Decimal("12.800"),
        unit_price=Decimal("2.00"),
        period="2026-11",
    )
    assert line_text(water) == water.description
