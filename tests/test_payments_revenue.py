"""Revenue codes (รหัสบัญชีรายได้) and the remittance slip by payment day and revenue code (issue 17, item 4)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import bangkok_today
from localgov.plugins import REGISTRY
from localgov.services.payments import revenue
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import Payer, PaymentException, RevenueCode
from tests.conftest import ClientFactory
from tests.support.paging import walk_pages
from tests.test_payments_bank import FINANCE, Lao, deliver, notice, setup_lao, staff_headers
from tests.test_payments_finance import bill_issued

API = "/v1/payments"


async def bill_of(engine: AsyncEngine, lao: Lao, *lines: tuple[str, str]) -> str:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payer = Payer(kind="person", name="นายรายได้ ตามรหัส")
        session.add(payer)
        await session.flush()
        bill = await create_bill(
            session,
            payer_id=payer.id,
            lines=[BillLine(fee_code=code, description_th=code, amount=Decimal(amount)) for code, amount in lines],
            due_date=bangkok_today() + dt.timedelta(days=10),
            issue_date=bangkok_today(),
            source="test",
            source_key=uuid.uuid4().hex,
        )
        return bill.reference


async def test_remittance_by_revenue_code_seeded_edited_and_shared_for_partial_payments(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    garbage = await bill_of(engine, lao, ("garbage.collection", "40.00"), ("garbage.disposal", "40.00"))
    food = await bill_of(engine, lao, ("food.annual_fee", "100.00"))
    mixed = await bill_of(engine, lao, ("garbage", "50.00"), ("late_surcharge", "50.00"))
    finance = staff_headers(lao.tenant, FINANCE)
    today = bangkok_today().isoformat()
    async with client_for(plugins=REGISTRY) as client:
        seeded = (await client.get(f"{API}/revenue-codes", headers=finance)).json()["items"]
        assert await walk_pages(client, f"{API}/revenue-codes", finance, limit=2, key="prefix") == seeded
        assert {r["prefix"]: r["code"] for r in seeded}["garbage"] == "41210008"
        assert {r["prefix"]: r["code"] for r in seeded}["food"] is None
        edited = await client.put(
            f"{API}/revenue-codes/food",
            json={"code": "41210099", "name_th": "ค่าธรรมเนียมสถานที่จำหน่ายอาหาร"},
            headers=finance,
        )
        assert edited.status_code == 200, edited.text
        bad = await client.put(f"{API}/revenue-codes/food", json={"code": "4121", "name_th": "x"}, headers=finance)
        assert 400 <= bad.status_code < 500
        cashier = await client.put(
            f"{API}/revenue-codes/food",
            json={"code": None, "name_th": "x"},
            headers=staff_headers(lao.tenant, ["payments.cashier"]),
        )
        assert cashier.status_code == 403
        for reference, amount in ((garbage, "80.00"), (food, "100.00"), (mixed, "60.00")):
            await deliver(client, lao.tenant, lao.secret, notice(lao, reference, amount))
        async with tenant_session(session_factory(engine), lao.tenant) as session:
            short = (await session.execute(select(PaymentException.id))).scalar_one()
        applied = await client.post(
            f"{API}/bank/exceptions/{short}/apply", json={"note": "ชำระบางส่วน"}, headers=finance
        )
        assert applied.status_code == 200
        slip = await client.get(f"{API}/reports/remittance", params={"day": today}, headers=finance)
        assert slip.status_code == 200, slip.text
        exported = await client.get(
            f"{API}/reports/remittance.csv", params={"date_from": today, "date_to": today}, headers=finance
        )
    body = slip.json()
    assert (body["receipts"], body["amount"]) == (3, "240.00")
    assert [(t["revenue_code"], t["receipts"], t["amount"]) for t in body["by_revenue_code"]] == [
        ("41210008", 2, "110.00"),
        ("41210099", 1, "100.00"),
        ("unassigned", 1, "30.00"),
    ]
    text = exported.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("วันที่ (day),")
    assert "รหัสบัญชีรายได้ (revenue_code)" in text.splitlines()[0]
    assert f"{today}," in text
    assert ",41210008,ค่าธรรมเนียมเก็บขนขยะมูลฝอย,2,110.00" in text


def test_the_longest_prefix_wins() -> None:
    table = {
        "garbage": RevenueCode(prefix="garbage", code="41210008", name_th="ขยะ"),
        "garbage.disposal": RevenueCode(prefix="garbage.disposal", code="41210010", name_th="กำจัด"),
    }
    assert revenue.resolve("garbage.collection", table) is table["garbage"]
    assert revenue.resolve("garbage.disposal", table) is table["garbage.disposal"]
    assert revenue.resolve("garbage", table) is table["garbage"]
    assert revenue.resolve("garbagex", table) is None


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(st.integers(min_value=1, max_value=10**8), min_size=1, max_size=8),
    fraction=st.integers(min_value=1, max_value=1000),
)
def test_a_receipt_is_shared_among_lines_exactly(lines: list[int], fraction: int) -> None:
    amounts = [Decimal(n).scaleb(-2) for n in lines]
    total = sum(amounts, Decimal(0))
    paid = max((total * fraction / 1000).quantize(Decimal("0.01")), Decimal("0.01"))
    parts = revenue.share(paid, amounts)
    assert sum(parts, Decimal(0)) == paid
    assert all(p >= 0 for p in parts[:-1])
    assert len(parts) == len(amounts)


async def test_the_debtor_register_by_fiscal_year_with_the_carry_forward(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    old = await bill_issued(engine, lao, dt.date(2026, 9, 1), amount="80.00")
    first = await bill_issued(engine, lao, dt.date(2026, 10, 5), amount="100.00")
    await bill_issued(engine, lao, dt.date(2026, 10, 6), amount="120.00")
    paid = await bill_issued(engine, lao, dt.date(2026, 10, 7), amount="50.00")
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        await deliver(client, lao.tenant, lao.secret, notice(lao, paid.reference, "50.00"))
        year = await client.get(f"{API}/debtors", params={"fiscal_year": "2570"}, headers=finance)
        before = await client.get(f"{API}/debtors", params={"fiscal_year": "2569"}, headers=finance)
        bad = await client.get(f"{API}/debtors", params={"fiscal_year": "70"}, headers=finance)
    assert year.status_code == 200, year.text
    register = year.json()
    assert (register["year_from"], register["year_to"]) == ("2026-10-01", "2027-09-30")
    assert (register["bills"], register["amount_due"], register["payers"]) == (2, "220.00", 2)
    assert [d["amount_due"] for d in register["debtors"]] == ["120.00", "100.00"]
    assert register["debtors"][1]["payer_id"] == str(first.payer_id)
    assert (register["carried_forward_bills"], register["carried_forward_amount"]) == (1, "80.00")
    assert (before.json()["bills"], before.json()["debtors"][0]["payer_id"]) == (1, str(old.payer_id))
    assert bad.status_code == 400
