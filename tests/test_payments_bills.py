"""Billing side of fee payments: payers, accounts, imports, tariffs, bill runs, advance payment,
late surcharges, cancellation, QR images, public lookup, citizens' bills, arrears, isolation."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import uuid
from decimal import Decimal
from typing import Any

import zxingcpp
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.kernel.auth.guards import AUTH_OPT, AuthPolicy
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.jobs import JobContext
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import add_months, period_of, thai_id_checksum_ok
from localgov.services.payments import PLUGIN, bills, qr
from localgov.services.payments.models import Bill, BillItem, FeeAccount, Payer, Tariff
from localgov.settings import Settings
from tests.conftest import ClientFactory, host
from tests.support.paging import walk_pages
from tests.support.payments import (
    BILLER_ID,
    MERCHANT,
    garbage_definition,
    make_account,
    make_bill,
    make_citizen,
    make_payer,
    make_tariff,
    next_thai_id,
    payments_db,
    payments_tenant,
    set_biller,
    thai_id,
)
from tests.support.routes import grants_of
from tests.support.tokens import bearer

FIN = ["payments.finance"]
API = "/v1/payments"
MY_TAGS = {
    "Payments: settings",
    "Payments: payers and accounts",
    "Payments: tariffs",
    "Payments: meter readings",
    "Payments: bills",
    "Payments: bill lookup",
    "Payments: my bills",
}


def fin(tenant: TenantInfo, **kwargs: Any) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=FIN, **kwargs)}


def as_citizen(tenant: TenantInfo, citizen_id: str) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, kind="citizen", subject=citizen_id)}


def month(offset: int) -> str:
    """The period ``offset`` months from the current one (Asia/Bangkok)."""
    return period_of(add_months(bangkok_today(), offset))


async def count(engine: AsyncEngine, tenant: TenantInfo, model: Any, *where: Any) -> int:
    async with payments_db(engine, tenant) as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- validation ----------------------------------------------------------------------------------


def test_thai_id_check_digit() -> None:
    valid = thai_id("110170023070")
    assert thai_id_checksum_ok(valid)
    for position in (0, 1, *range(3, 13)):  # digit 3 weighs 11 ≡ 0 (mod 11): the scheme cannot see it
        digits = list(valid)
        digits[position] = str((int(digits[position]) + 1) % 10)
        assert not thai_id_checksum_ok("".join(digits)), position
    # 1·13 + 1·12 + 0·11 + 1·10 + 7·9 + 0·8 + 0·7 + 2·6 + 3·5 + 0·4 + 7·3 + 0·2 = 146; 146 mod 11 = 3; 11 - 3 = 8
    assert thai_id_checksum_ok("1101700230708")
    assert not thai_id_checksum_ok("1101700230707")
    assert not thai_id_checksum_ok("12345")
    assert not thai_id_checksum_ok("๑๒๓๔๕๖๗๘๙๐๑๒๓")


# --- payers and accounts -----------------------------------------------------------------------------


async def test_payer_and_account_crud(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    tax_id = next_thai_id()
    thai_digits = tax_id.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    dashed = f"{thai_digits[0]}-{thai_digits[1:5]}-{thai_digits[5:10]}-{thai_digits[10:12]}-{thai_digits[12]}"
    body = {
        "kind": "person",
        "name": "นางสมศรี ใจงาม",
        "tax_id": dashed,
        "house_no": "12/3",
        "moo": "๕",
        "soi": "ซอยสุขใจ",
        "road": "ถนนคลองชลประทาน",
        "subdistrict": "แม่เหียะ",
        "district": "เมืองเชียงใหม่",
        "province": "เชียงใหม่",
        "postal_code": "๕๐๑๐๐",
        "phone": "053-123456",
    }
    async with client_for(plugins=[PLUGIN]) as http:
        created = await http.post(f"{API}/payers", json=body, headers=fin(tenant))
        assert created.status_code == 201, created.text
        payer = created.json()
        assert payer["tax_id"] == tax_id
        assert payer["postal_code"] == "50100"
        assert payer["citizen_linked"] is False
        wrong = await http.post(
            f"{API}/payers", json={**body, "tax_id": tax_id[:12] + str((int(tax_id[12]) + 1) % 10)}, headers=fin(tenant)
        )
        assert wrong.status_code == 422
        assert wrong.json()["code"] == "invalid_tax_id"
        duplicate = await http.post(f"{API}/payers", json=body, headers=fin(tenant))
        assert duplicate.status_code == 409
        assert duplicate.json()["data"]["payer_id"] == payer["id"]
        unknown_field = await http.post(f"{API}/payers", json={**body, "colour": "red"}, headers=fin(tenant))
        assert unknown_field.status_code == 400
        patched = await http.patch(
            f"{API}/payers/{payer['id']}", json={"phone": None, "name": "นางสมศรี ใจงามยิ่ง"}, headers=fin(tenant)
        )
        assert patched.status_code == 200
        assert patched.json()["phone"] is None
        assert patched.json()["name"] == "นางสมศรี ใจงามยิ่ง"
        assert patched.json()["soi"] == "ซอยสุขใจ"
        found = await http.get(f"{API}/payers", params={"q": "สมศรี"}, headers=fin(tenant))
        assert [p["id"] for p in found.json()["items"]] == [payer["id"]]
        by_id = await http.get(f"{API}/payers", params={"tax_id": dashed}, headers=fin(tenant))
        assert [p["id"] for p in by_id.json()["items"]] == [payer["id"]]

        missing = await http.post(
            f"{API}/accounts", json={"payer_id": payer["id"], "fee_type": "garbage"}, headers=fin(tenant)
        )
        assert missing.status_code == 422
        assert missing.json()["code"] == "required"
        misplaced = await http.post(
            f"{API}/accounts",
            json={
                "payer_id": payer["id"],
                "fee_type": "wastewater",
                "customer_class": "household",
                "litres_per_day": 5,
            },
            headers=fin(tenant),
        )
        assert misplaced.status_code == 422
        assert misplaced.json()["code"] == "not_applicable"
        garbage = await http.post(
            f"{API}/accounts",
            json={"payer_id": payer["id"], "fee_type": "garbage", "litres_per_day": "40", "start_date": "2026-01-01"},
            headers=fin(tenant),
        )
        assert garbage.status_code == 201, garbage.text
        account = garbage.json()
        assert re.fullmatch(r"G\d{6}", account["account_no"])
        assert account["litres_per_day"] == "40.00"
        taken = await http.post(
            f"{API}/accounts",
            json={
                "payer_id": payer["id"],
                "fee_type": "fixed",
                "fee_code": "stall",
                "account_no": account["account_no"],
            },
            headers=fin(tenant),
        )
        assert taken.status_code == 409
        assert taken.json()["code"] == "account_no_taken"
        close_without_date = await http.patch(
            f"{API}/accounts/{account['id']}", json={"status": "closed"}, headers=fin(tenant)
        )
        assert close_without_date.status_code == 422
        closed = await http.patch(
            f"{API}/accounts/{account['id']}",
            json={"status": "closed", "end_date": "2026-06-30", "litres_per_day": 120},
            headers=fin(tenant),
        )
        assert closed.status_code == 200
        assert closed.json()["status"] == "closed"
        assert closed.json()["litres_per_day"] == "120.00"
        listed = await http.get(f"{API}/accounts", params={"payer_id": payer["id"]}, headers=fin(tenant))
        assert [a["id"] for a in listed.json()["items"]] == [account["id"]]
        in_use = await http.delete(f"{API}/payers/{payer['id']}", headers=fin(tenant))
        assert in_use.status_code == 409
        assert in_use.json()["code"] == "payer_in_use"
        assert (await http.delete(f"{API}/accounts/{account['id']}", headers=fin(tenant))).status_code == 204
        assert (await http.delete(f"{API}/payers/{payer['id']}", headers=fin(tenant))).status_code == 204
        gone = await http.get(f"{API}/payers/{payer['id']}", headers=fin(tenant))
        assert gone.status_code == 404
        assert gone.json()["code"] == "payer_not_found"


async def test_payer_import_is_all_or_nothing_with_a_row_report(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    known_id = next_thai_id()
    async with payments_db(engine, tenant) as session:
        known = await make_payer(session, tax_id=known_id, name="บริษัท เดิม จำกัด", kind="juristic")
    good_id = next_thai_id()
    bad_id = good_id[:12] + str((int(good_id[12]) + 1) % 10)
    header = (
        "payer_ref,kind,name,tax_id,house_no,moo,subdistrict,district,province,postal_code,phone,"
        "account_no,fee_type,start_date,litres_per_day,customer_class,meter_no,fee_code,amount\n"
    )
    rows_ok = (
        f"h1,person,นายสมชาย ใจดี,{good_id},12,๓,แม่เหียะ,เมือง,เชียงใหม่,50100,0812345678,A-001,garbage,2026-01-01,๑๕,,,,\n"
        f"h1,person,นายสมชาย ใจดี,{good_id},12,๓,แม่เหียะ,เมือง,เชียงใหม่,50100,0812345678,"
        "W-001,wastewater,2026-01-01,,household,M123,,\n"
        ',person,นางมาลี ศรีสุข,,5,1,แม่เหียะ,เมือง,เชียงใหม่,50100,,,fixed,2026-01-01,,,,market_stall,"1,200.50"\n'
        f",juristic,บริษัท เดิม จำกัด,{known_id},,,,,,,,F-009,fixed,2026-01-01,,,,rent,\n"
        ",person,นายไม่มีบัญชี,,,,,,,,,,,,,,,,\n"
    )
    bad_rows = (
        f",person,นายผิด เลขบัตร,{bad_id},,,,,,,,,,,,,,,\n"
        ",person,,,,,,,,,,,,,,,,,\n"
        ",person,นายขยะ,,,,,,,,,A-001,garbage,,10,,,,\n"
        ",person,นายขยะน้อย,,,,,,,,,,garbage,,,,,,\n"
        ",person,นายถัง,,,,,,,,,,compost,,,,,,\n"
    )
    async with client_for(plugins=[PLUGIN]) as http:
        rejected = await http.post(
            f"{API}/payers/import",
            content=("\ufeff" + header + rows_ok + bad_rows).encode(),
            headers={**fin(tenant), "Content-Type": "text/csv"},
        )
        assert rejected.status_code == 422, rejected.text
        problem = rejected.json()
        assert problem["code"] == "import_rejected"
        errors = {(e["line"], e["key"], e["code"]) for e in problem["errors"]}
        assert (7, "tax_id", "invalid_tax_id") in errors
        assert any(line == 8 and column == "name" for line, column, _ in errors)
        assert (9, "account_no", "duplicate_account_no") in errors
        assert (10, "litres_per_day", "required") in errors
        assert (11, "fee_type", "invalid_value") in errors
        assert len(errors) == 5
        assert problem["data"]["rows"] == 10
        assert await count(engine, tenant, Payer) == 1  # nothing imported
        assert await count(engine, tenant, FeeAccount) == 0

        imported = await http.post(
            f"{API}/payers/import",
            content=(header + rows_ok).encode(),
            headers={**fin(tenant), "Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json() == {"rows": 5, "payers_created": 3, "payers_reused": 1, "accounts_created": 4}
        again = await http.post(
            f"{API}/payers/import",
            content=(header + rows_ok).encode(),
            headers={**fin(tenant), "Content-Type": "text/csv"},
        )
        assert again.status_code == 422
        assert {e["code"] for e in again.json()["errors"]} == {"account_no_taken"}
    async with payments_db(engine, tenant) as session:
        somchai = (await session.execute(select(Payer).where(Payer.tax_id == good_id))).scalar_one()
        accounts = (await session.execute(select(FeeAccount).order_by(FeeAccount.account_no))).scalars().all()
    by_no = {a.account_no: a for a in accounts}
    assert by_no["A-001"].payer_id == by_no["W-001"].payer_id == somchai.id
    assert by_no["A-001"].params == {"litres_per_day": "15.00"}
    assert by_no["W-001"].params == {"customer_class": "household", "meter_no": "M123"}
    assert by_no["F-009"].payer_id == known.id
    generated = [a for a in accounts if a.account_no.startswith("F0")]
    assert len(generated) == 1
    assert generated[0].params == {"fee_code": "market_stall", "amount": "1200.50"}
    assert somchai.moo == "3"  # Thai digits stored as Arabic


# --- tariffs and bill runs ----------------------------------------------------------------------------


async def test_tariff_change_mid_year_is_honoured_and_old_bills_keep_prices(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        account = await make_account(session, litres_per_day=15, start_date=dt.date(2025, 1, 1))
    # Both versions start before today: accepted only with a reason (audited) and while no bill of
    # the months they reprice exists (test_payments_finance covers the refusals).
    v1 = {
        "effective_from": "2025-01-01",
        "definition": garbage_definition((20, "50.00", "0.00"), (None, "90.00", "0.00")),
        "backdated_reason": "ข้อบัญญัติประกาศย้อนหลัง (test history)",
    }
    v2 = {
        "effective_from": "2025-07-01",
        "definition": garbage_definition((20, "40.00", "30.00"), (None, "120.00", "0.00"), separate_lines=True),
        "due_days": 15,
        "backdated_reason": "ข้อบัญญัติประกาศย้อนหลัง (test history)",
    }
    async with client_for(plugins=[PLUGIN]) as http:
        not_first = await http.post(f"{API}/tariffs", json={**v1, "effective_from": "2025-01-15"}, headers=fin(tenant))
        assert not_first.status_code == 422
        assert (await http.post(f"{API}/tariffs", json=v1, headers=fin(tenant))).status_code == 201
        june = await http.post(
            f"{API}/bill-runs", json={"fee_type": "garbage", "period": "2025-06"}, headers=fin(tenant)
        )
        assert june.status_code == 200, june.text
        assert june.json()["created"] == 1
        v2_created = await http.post(f"{API}/tariffs", json=v2, headers=fin(tenant))
        assert v2_created.status_code == 201, v2_created.text
        clash = await http.post(f"{API}/tariffs", json=v2, headers=fin(tenant))
        assert clash.status_code == 409
        assert clash.json()["code"] == "tariff_exists"
        in_force = await http.put(f"{API}/tariffs/{v2_created.json()['id']}", json=v2, headers=fin(tenant))
        assert in_force.status_code == 409
        assert in_force.json()["code"] == "tariff_in_force"
        assert (await http.delete(f"{API}/tariffs/{v2_created.json()['id']}", headers=fin(tenant))).status_code == 409
        july = await http.post(
            f"{API}/bill-runs", json={"fee_type": "garbage", "period": "2025-07"}, headers=fin(tenant)
        )
        assert july.json()["created"] == 1
        june_again = await http.post(
            f"{API}/bill-runs", json={"fee_type": "garbage", "period": "2025-06"}, headers=fin(tenant)
        )
        assert june_again.json()["created"] == 0
        assert june_again.json()["already_billed"] == 1
        listed = await http.get(f"{API}/tariffs", params={"fee_type": "garbage"}, headers=fin(tenant))
        assert [t["effective_from"] for t in listed.json()["items"]] == ["2025-01-01", "2025-07-01"]
        walked = await walk_pages(http, f"{API}/tariffs", fin(tenant), params={"fee_type": "garbage"})
        assert walked == listed.json()["items"]
        every = await walk_pages(http, f"{API}/tariffs", fin(tenant), limit=2)
        assert [(t["fee_type"], t["effective_from"]) for t in every] == sorted(
            (t["fee_type"], t["effective_from"]) for t in every
        )
        bills = (await http.get(f"{API}/bills", params={"account_id": str(account.id)}, headers=fin(tenant))).json()
    by_period = {b["period"]: b for b in bills["items"]}
    assert by_period["2025-06"]["total"] == "50.00"
    assert [i["fee_code"] for i in by_period["2025-06"]["items"]] == ["garbage"]
    assert by_period["2025-07"]["total"] == "70.00"
    assert sorted((i["fee_code"], i["amount"]) for i in by_period["2025-07"]["items"]) == [
        ("garbage.collection", "40.00"),
        ("garbage.disposal", "30.00"),
    ]
    issue = dt.date.fromisoformat(by_period["2025-07"]["issue_date"])
    assert dt.date.fromisoformat(by_period["2025-07"]["due_date"]) == issue + dt.timedelta(days=15)


async def test_future_tariff_versions_can_be_replaced_and_withdrawn(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    future = add_months(bangkok_today(), 2)
    body = {
        "effective_from": future.isoformat(),
        "definition": {"fee_type": "fixed", "fees": {"stall": {"description_th": "ค่าแผง", "amount": "30.00"}}},
    }
    async with client_for(plugins=[PLUGIN]) as http:
        created = (await http.post(f"{API}/tariffs", json=body, headers=fin(tenant))).json()
        replaced = await http.put(
            f"{API}/tariffs/{created['id']}",
            json={
                **body,
                "definition": {"fee_type": "fixed", "fees": {"stall": {"description_th": "ค่าแผง", "amount": "35.00"}}},
            },
            headers=fin(tenant),
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["definition"]["fees"]["stall"]["amount"] == "35.00"
        other_type = await http.put(
            f"{API}/tariffs/{created['id']}",
            json={**body, "definition": {"fee_type": "wastewater", "factor": "0.8", "rates": {"household": "2.00"}}},
            headers=fin(tenant),
        )
        assert other_type.status_code == 422
        bad_band = await http.post(
            f"{API}/tariffs",
            json={
                "effective_from": "2020-01-01",
                "definition": garbage_definition((100, "1.00", "0"), (20, "1.00", "0")),
            },
            headers=fin(tenant),
        )
        assert bad_band.status_code == 422
        float_money = await http.post(
            f"{API}/tariffs",
            json={"effective_from": "2020-01-01", "definition": garbage_definition((20, "1.005", "0"))},
            headers=fin(tenant),
        )
        assert float_money.status_code == 422
        assert (await http.delete(f"{API}/tariffs/{created['id']}", headers=fin(tenant))).status_code == 204
        assert (await http.get(f"{API}/tariffs/{created['id']}", headers=fin(tenant))).status_code == 404


async def test_bill_run_twice_makes_one_bill_per_account(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "garbage")
        accounts = [await make_account(session, litres_per_day=n) for n in (10, 50, 90)]
        await make_account(session, litres_per_day=10, start_date=dt.date(2031, 1, 1))  # not open yet
        closed = await make_account(session, litres_per_day=10)
        closed.end_date, closed.status = dt.date(2024, 12, 31), "closed"
        await make_account(session, litres_per_day=500)  # no band: reported, not guessed
    run = {"fee_type": "garbage", "period": "2025-03"}
    async with client_for(plugins=[PLUGIN]) as http:
        first, second = await asyncio.gather(
            http.post(f"{API}/bill-runs", json=run, headers=fin(tenant)),
            http.post(f"{API}/bill-runs", json=run, headers=fin(tenant)),
        )
        third = await http.post(f"{API}/bill-runs", json=run, headers=fin(tenant))
    results = sorted((first.json(), second.json()), key=lambda r: -r["created"])
    assert results[0]["created"] == 3
    assert results[1]["created"] == 0
    assert third.json()["created"] == 0
    assert third.json()["accounts"] == 4
    assert third.json()["already_billed"] == 3
    assert [s["code"] for s in third.json()["skipped"]] == ["no_band"]
    assert await count(engine, tenant, Bill) == 3
    async with payments_db(engine, tenant) as session:
        keys = set((await session.execute(select(Bill.source_key))).scalars())
        totals = sorted((await session.execute(select(Bill.total))).scalars())
    assert keys == {f"run:{a.id}:2025-03" for a in accounts}
    assert totals == [Decimal("50.00"), Decimal("80.00"), Decimal("80.00")]
    async with engine.connect() as conn:
        metered = await conn.scalar(
            text("SELECT count(*) FROM platform.usage_events WHERE tenant_id = :t AND meter = 'payments.bills_issued'"),
            {"t": tenant.id},
        )
    assert metered == 3


async def test_wastewater_run_uses_imported_readings(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "wastewater")
        home = await make_account(session, fee_type="wastewater", account_no="W-HOME")
        shop = await make_account(session, fee_type="wastewater", account_no="W-SHOP", customer_class="small_business")
        await make_account(session, fee_type="wastewater", account_no="W-NONE")
        await make_account(session, fee_type="garbage", account_no="G-1")
    csv_headers = {**fin(tenant), "Content-Type": "text/csv"}
    async with client_for(plugins=[PLUGIN]) as http:
        bad = await http.post(
            f"{API}/meter-readings/import",
            content=b"account_no,period,usage_m3\nW-HOME,2025-04,10\nW-X,2025-04,1\nG-1,2025-04,1\nW-SHOP,2025-13,1\nW-SHOP,2025-04,-3\n",
            headers=csv_headers,
        )
        assert bad.status_code == 422
        assert [(e["line"], e["code"]) for e in bad.json()["errors"]] == [
            (3, "unknown_account"),
            (4, "not_wastewater"),
            (5, "invalid_period"),
            (6, "invalid_quantity"),
        ]
        readings = "account_no,period,usage_m3\nW-HOME,๒๐๒๕-๐๔,12.5\nW-SHOP,2025-04,100\nW-HOME,2025-05,1\n"
        ok = await http.post(f"{API}/meter-readings/import", content=readings.encode(), headers=csv_headers)
        assert ok.json() == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0}
        same = await http.post(f"{API}/meter-readings/import", content=readings.encode(), headers=csv_headers)
        assert same.json() == {"rows": 3, "created": 0, "updated": 0, "unchanged": 3}
        run = await http.post(
            f"{API}/bill-runs", json={"fee_type": "wastewater", "period": "2025-04"}, headers=fin(tenant)
        )
        assert run.json()["created"] == 2
        assert [(s["account_no"], s["code"]) for s in run.json()["skipped"]] == [("W-NONE", "no_reading")]
        billed_change = await http.post(
            f"{API}/meter-readings/import",
            content=b"account_no,period,usage_m3\nW-HOME,2025-04,13\n",
            headers=csv_headers,
        )
        assert billed_change.status_code == 422
        assert billed_change.json()["errors"][0]["code"] == "already_billed"
        open_change = await http.post(
            f"{API}/meter-readings/import",
            content=b"account_no,period,usage_m3\nW-HOME,2025-05,2\n",
            headers=csv_headers,
        )
        assert open_change.json()["updated"] == 1
        listed = await http.get(f"{API}/meter-readings", params={"period": "2025-04"}, headers=fin(tenant))
        assert sorted(r["account_no"] for r in listed.json()["items"]) == ["W-HOME", "W-SHOP"]
        bills = (await http.get(f"{API}/bills", params={"period": "2025-04"}, headers=fin(tenant))).json()["items"]
    by_account = {b["account_id"]: b for b in bills}
    assert by_account[str(home.id)]["total"] == "20.00"  # 12.5 m³ × 0.8 × 2.00
    assert by_account[str(home.id)]["items"][0]["quantity"] == "10.000"
    assert by_account[str(shop.id)]["total"] == "320.00"  # 100 × 0.8 × 4.00


async def test_fixed_fees_and_seeded_defaults(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        own = await make_account(session, fee_type="fixed", fee_code="water_kiosk", amount="25.50")
        await make_account(session, fee_type="fixed", fee_code="market_stall")
        garbage = await make_account(session, fee_type="garbage", litres_per_day=150)
    async with client_for(plugins=[PLUGIN]) as http:
        missing = await http.post(
            f"{API}/bill-runs", json={"fee_type": "garbage", "period": month(-1)}, headers=fin(tenant)
        )
        assert missing.status_code == 409
        assert missing.json()["code"] == "tariff_missing"
        cashier = await http.post(
            f"{API}/tariffs/seed-defaults",
            json={},
            headers={**host(tenant.slug), **bearer(tenant, roles=["payments.cashier"])},
        )
        assert cashier.status_code == 403
        seeded = await http.post(
            f"{API}/tariffs/seed-defaults",
            json={"effective_from": "2020-01-01"},
            headers={**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])},
        )
        assert seeded.status_code == 200, seeded.text
        assert sorted(t["fee_type"] for t in seeded.json()["items"]) == ["fixed", "garbage", "wastewater"]
        wastewater = next(t for t in seeded.json()["items"] if t["fee_type"] == "wastewater")
        assert wastewater["definition"]["factor"] == "0.8"
        again = await http.post(f"{API}/tariffs/seed-defaults", json={}, headers=fin(tenant))
        assert again.json()["items"] == []
        assert (
            await http.post(f"{API}/bill-runs", json={"fee_type": "garbage", "period": "2025-01"}, headers=fin(tenant))
        ).json()["created"] == 1
        fixed = await http.post(
            f"{API}/bill-runs", json={"fee_type": "fixed", "period": "2025-01"}, headers=fin(tenant)
        )
        assert fixed.json()["created"] == 1
        assert [s["code"] for s in fixed.json()["skipped"]] == ["unknown_fee_code"]
        bills = (await http.get(f"{API}/bills", headers=fin(tenant))).json()["items"]
    totals = {b["account_id"]: b["total"] for b in bills}
    assert totals == {str(garbage.id): "100.00", str(own.id): "25.50"}


async def test_scheduled_job_bills_the_previous_month_once(engine: AsyncEngine) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "garbage")
        await make_tariff(session, "fixed")
        account = await make_account(session)
    jobs = {job.name: job for job in PLUGIN.jobs}
    assert jobs["payments.monthly_bill_run"].per_tenant
    now = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)  # 08:00 in Bangkok, 1 March
    for _ in range(2):
        async with payments_db(engine, tenant) as session:
            await jobs["payments.monthly_bill_run"].run(JobContext(session, tenant, now))
    async with payments_db(engine, tenant) as session:
        bills = (await session.execute(select(Bill))).scalars().all()
    assert [(b.account_id, b.period, b.issue_date) for b in bills] == [(account.id, "2026-02", dt.date(2026, 3, 1))]


# --- advance payment, surcharges, cancellation, manual bills ----------------------------------------


async def test_advance_payment_covers_future_months(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "garbage")
        await make_tariff(
            session,
            "garbage",
            effective_from=add_months(bangkok_today(), 2),
            definition=garbage_definition((20, "60.00", "0.00")),
        )
        account = await make_account(session)
        water = await make_account(session, fee_type="wastewater")
    url = f"{API}/accounts/{account.id}/advance-bills"
    async with client_for(plugins=[PLUGIN]) as http:
        no_key = await http.post(url, json={"months": 3}, headers=fin(tenant))
        assert no_key.status_code == 400
        created = await http.post(url, json={"months": 3}, headers={**fin(tenant), "Idempotency-Key": "adv-1"})
        assert created.status_code == 201, created.text
        bill = created.json()
        assert bill["source"] == "payments.advance"
        assert [i["period"] for i in bill["items"]] == [month(0), month(1), month(2)]
        assert [i["amount"] for i in bill["items"]] == ["50.00", "50.00", "60.00"]  # each month at its tariff
        assert bill["total"] == "160.00"
        overlap = await http.post(
            url, json={"months": 2, "from_period": month(2)}, headers={**fin(tenant), "Idempotency-Key": "adv-2"}
        )
        assert overlap.status_code == 409
        assert overlap.json()["data"]["periods"] == [month(2)]
        following = await http.post(url, json={"months": 1}, headers={**fin(tenant), "Idempotency-Key": "adv-3"})
        assert [i["period"] for i in following.json()["items"]] == [month(3)]
        for offset in (0, 1, 2, 3):
            run = await http.post(
                f"{API}/bill-runs", json={"fee_type": "garbage", "period": month(offset)}, headers=fin(tenant)
            )
            assert run.json()["created"] == 0
            assert run.json()["already_billed"] == 1
        past = await http.post(
            url, json={"months": 1, "from_period": month(-1)}, headers={**fin(tenant), "Idempotency-Key": "adv-4"}
        )
        assert past.status_code == 422
        wastewater = await http.post(
            f"{API}/accounts/{water.id}/advance-bills",
            json={"months": 2},
            headers={**fin(tenant), "Idempotency-Key": "adv-5"},
        )
        assert wastewater.status_code == 409
        assert wastewater.json()["code"] == "advance_not_possible"
        cancelled = await http.post(
            f"{API}/bills/{following.json()['id']}/cancel", json={"reason": "ผู้ชำระขอยกเลิก"}, headers=fin(tenant)
        )
        assert cancelled.status_code == 200
        rebilled = await http.post(
            f"{API}/bill-runs", json={"fee_type": "garbage", "period": month(3)}, headers=fin(tenant)
        )
        assert rebilled.json()["created"] == 1  # a cancelled advance no longer covers its months


async def test_late_surcharge_is_a_separate_bill_under_the_rule_of_issue(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    long_ago = dt.date(2025, 1, 10)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "garbage", late_surcharge={"percent": "20", "after_days": 5}, due_days=10)
        account = await make_account(session, litres_per_day=50)  # 80.00 a month
        await bills.run_bills(session, "garbage", "2024-12", today=long_ago)
        paid = await make_bill(session, amounts=["10.00"], issue_date=long_ago, late_surcharge_percent=Decimal("10"))
        paid.status = "paid"
        ruleless = await make_bill(session, amounts=["10.00"], issue_date=long_ago)
        recent = await make_bill(session, late_surcharge_percent=Decimal("20"))  # not overdue
        # A later tariff changes the rule; the bill already issued keeps 20 % after 5 days.
        await make_tariff(session, "garbage", effective_from=dt.date(2025, 2, 1), late_surcharge={"percent": "50"})
    async with client_for(plugins=[PLUGIN]) as http:
        issued = await http.post(f"{API}/late-surcharges", headers=fin(tenant))
        assert issued.status_code == 200, issued.text
        assert len(issued.json()["bill_ids"]) == 1
        again = await http.post(f"{API}/late-surcharges", headers=fin(tenant))
        assert again.json()["created"] == 0
        surcharge = (await http.get(f"{API}/bills/{issued.json()['bill_ids'][0]}", headers=fin(tenant))).json()
    assert surcharge["total"] == "16.00"
    assert surcharge["source"] == "payments.surcharge"
    assert surcharge["account_id"] == str(account.id)
    assert surcharge["late_surcharge_percent"] is None
    assert "20%" in surcharge["items"][0]["description_th"]
    async with payments_db(engine, tenant) as session:
        original = (await session.execute(select(Bill).where(Bill.source == "payments.bill_run"))).scalar_one()
        assert surcharge["surcharge_of"] == str(original.id)
        assert original.late_surcharge_percent == Decimal("20.00")
        assert original.late_surcharge_after_days == 5
        others = await session.scalar(
            select(func.count()).where(Bill.surcharge_of.in_([paid.id, ruleless.id, recent.id]))
        )
    assert others == 0


async def test_cancel_only_open_bills_with_a_reason(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        bill = await make_bill(session)
        paid = await make_bill(session)
        paid.status = "paid"
    async with client_for(plugins=[PLUGIN]) as http:
        no_reason = await http.post(f"{API}/bills/{bill.id}/cancel", json={"reason": " "}, headers=fin(tenant))
        assert no_reason.status_code == 400
        done = await http.post(
            f"{API}/bills/{bill.id}/cancel",
            json={"reason": "ออกซ้ำ / issued twice"},
            headers=fin(tenant, subject="staff-9"),
        )
        assert done.status_code == 200
        assert done.json()["status"] == "cancelled"
        assert done.json()["cancel_reason"] == "ออกซ้ำ / issued twice"
        assert done.json()["qr_payload"] is None
        twice = await http.post(f"{API}/bills/{bill.id}/cancel", json={"reason": "again"}, headers=fin(tenant))
        assert twice.status_code == 409
        assert twice.json()["code"] == "bill_not_open"
        not_open = await http.post(f"{API}/bills/{paid.id}/cancel", json={"reason": "paid"}, headers=fin(tenant))
        assert not_open.json()["data"]["status"] == "paid"
    async with payments_db(engine, tenant) as session:
        row = await session.get(Bill, bill.id)
        assert row is not None
        assert row.cancelled_by == "staff:staff-9"
        audit = (
            await session.execute(text("SELECT actor_id, target FROM audit_events WHERE action = 'bill.cancelled'"))
        ).all()
    assert audit == [("staff-9", f"bill:{bill.reference}")]


async def test_manual_bill(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
        other = await make_payer(session)
        account = await make_account(session, other)
    due = (bangkok_today() + dt.timedelta(days=10)).isoformat()
    body = {
        "payer_id": str(payer.id),
        "due_date": due,
        "lines": [
            {"fee_code": "permit.construct", "description_th": "ค่าธรรมเนียมใบอนุญาตก่อสร้าง", "amount": "200.00"},
            {
                "fee_code": "permit.plan_check",
                "description_th": "ค่าตรวจแบบ 120 ตร.ม.",
                "amount": "60",
                "quantity": "120",
            },
        ],
        "late_surcharge_percent": "20",
    }
    async with client_for(plugins=[PLUGIN]) as http:
        created = await http.post(f"{API}/bills", json=body, headers={**fin(tenant), "Idempotency-Key": "m-1"})
        assert created.status_code == 201, created.text
        assert created.json()["total"] == "260.00"
        assert created.json()["items"][1]["unit_price"] == "0.50"
        assert created.json()["late_surcharge_percent"] == "20.00"
        satang = await http.post(
            f"{API}/bills",
            json={**body, "lines": [{**body["lines"][0], "amount": "0.001"}]},
            headers={**fin(tenant), "Idempotency-Key": "m-2"},
        )
        assert satang.status_code == 422
        wrong_account = await http.post(
            f"{API}/bills",
            json={**body, "account_id": str(account.id)},
            headers={**fin(tenant), "Idempotency-Key": "m-3"},
        )
        assert wrong_account.status_code == 422
        client_token = {
            **host(tenant.slug),
            **bearer(tenant, kind="client", scopes=["payments.write"]),
            "Idempotency-Key": "m-1",
        }
        by_client = await http.post(f"{API}/bills", json=body, headers=client_token)
        assert by_client.status_code == 201
        assert by_client.json()["id"] != created.json()["id"]  # another caller's key space


# --- QR -----------------------------------------------------------------------------------------------


def decode_png(content: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(content)))
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(results[0].text)


async def test_bill_qr_png_decodes_to_exactly_the_payload(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        bill = await make_bill(session, amounts=["1234.50", "0.25"])
        cancelled = await make_bill(session)
        cancelled.status = "cancelled"
    async with client_for(plugins=[PLUGIN]) as http:
        unset = await http.get(f"{API}/bills/{bill.id}/qr.png", headers=fin(tenant))
        assert unset.status_code == 409
        assert unset.json()["code"] == "biller_not_configured"
        assert (await http.get(f"{API}/bills/{bill.id}", headers=fin(tenant))).json()["qr_payload"] is None
        wrong_check = await http.put(f"{API}/settings", json={"biller_id": BILLER_ID[:12] + "000"}, headers=fin(tenant))
        assert wrong_check.status_code == 422
        thai_name = await http.put(
            f"{API}/settings", json={"biller_id": BILLER_ID, "merchant_name": "อบต."}, headers=fin(tenant)
        )
        assert thai_name.status_code == 400
        settings = await http.put(
            f"{API}/settings",
            json={"biller_id": f"{BILLER_ID[:13]}-{BILLER_ID[13:]}", "merchant_name": MERCHANT},
            headers={**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])},
        )
        assert settings.status_code == 200, settings.text
        assert settings.json()["biller_id"] == BILLER_ID
        payload = (await http.get(f"{API}/bills/{bill.id}", headers=fin(tenant))).json()["qr_payload"]
        png = await http.get(f"{API}/bills/{bill.id}/qr.png", headers=fin(tenant))
        svg = await http.get(f"{API}/bills/{bill.id}/qr.svg", headers=fin(tenant))
        not_open = await http.get(f"{API}/bills/{cancelled.id}/qr.png", headers=fin(tenant))
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert decode_png(png.content) == payload
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    assert "<path" in svg.text
    parsed = qr.parse(payload)
    assert parsed == qr.BillPayment(
        biller_id=BILLER_ID, ref1=bill.reference, amount=Decimal("1234.75"), merchant_name=MERCHANT
    )
    assert payload == qr.build(parsed)
    assert not_open.status_code == 409
    assert not_open.json()["code"] == "bill_not_open"


# --- people ---------------------------------------------------------------------------------------------


async def test_public_lookup_shows_the_bill_and_nothing_about_the_payer(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await set_biller(session)
        bill = await make_bill(session, amounts=["80.00"])
        other = await make_bill(session)
    lookup = f"{API}/lookup"
    async with client_for(plugins=[PLUGIN]) as http:
        found = await http.post(
            lookup,
            json={"reference": bill.reference.lower(), "verification_code": bill.verification_code},
            headers=host(tenant.slug),
        )
        assert found.status_code == 200, found.text
        body = found.json()
        assert set(body) == {
            "reference",
            "total",
            "amount_due",
            "issue_date",
            "due_date",
            "period",
            "status",
            "qr_payload",
            "qr_svg",
        }
        assert body["total"] == "80.00"
        assert qr.parse(body["qr_payload"]).ref1 == bill.reference
        assert body["qr_svg"].startswith("<svg")
        wrong = await http.post(
            lookup,
            json={
                "reference": bill.reference,
                "verification_code": other.verification_code
                if other.verification_code != bill.verification_code
                else "000000",
            },
            headers=host(tenant.slug),
        )
        unknown = await http.post(
            lookup, json={"reference": "BZZZZZZZZZ", "verification_code": "123456"}, headers=host(tenant.slug)
        )
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.json()["code"] == unknown.json()["code"] == "bill_not_found"
        assert wrong.json()["detail"] == unknown.json()["detail"]
        statuses = [
            (
                await http.post(
                    lookup,
                    json={"reference": other.reference, "verification_code": "999999"},
                    headers=host(tenant.slug),
                )
            ).status_code
            for _ in range(11)
        ]
    assert statuses == [404] * 10 + [429]


async def test_citizen_links_a_payer_and_sees_its_bills(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await set_biller(session)
        somchai = await make_citizen(session)
        malee = await make_citizen(session)
        payer = await make_payer(session)
        first = await make_bill(session, payer)
        second = await make_bill(session, payer, amounts=["45.00"])
        stranger_bill = await make_bill(session)
    proof = {"reference": first.reference, "verification_code": first.verification_code}
    async with client_for(plugins=[PLUGIN]) as http:
        staff_token = await http.get(f"{API}/me/bills", headers=fin(tenant))
        assert staff_token.status_code == 403
        before = await http.get(f"{API}/me/bills", headers=as_citizen(tenant, somchai))
        assert before.json()["items"] == []
        bad = await http.post(
            f"{API}/me/payers", json={**proof, "verification_code": "1"}, headers=as_citizen(tenant, somchai)
        )
        assert bad.status_code == 404
        linked = await http.post(f"{API}/me/payers", json=proof, headers=as_citizen(tenant, somchai))
        assert linked.status_code == 200, linked.text
        assert linked.json()["id"] == str(payer.id)
        assert "tax_id" not in linked.json()
        again = await http.post(f"{API}/me/payers", json=proof, headers=as_citizen(tenant, somchai))
        assert again.status_code == 200
        taken = await http.post(f"{API}/me/payers", json=proof, headers=as_citizen(tenant, malee))
        assert taken.status_code == 409
        assert taken.json()["code"] == "payer_linked_elsewhere"
        ghost = await http.post(f"{API}/me/payers", json=proof, headers=as_citizen(tenant, str(uuid.uuid4())))
        assert ghost.status_code == 404
        mine = (await http.get(f"{API}/me/bills", headers=as_citizen(tenant, somchai))).json()["items"]
        assert {b["id"] for b in mine} == {str(first.id), str(second.id)}
        assert all(b["qr_payload"] for b in mine)
        one = await http.get(f"{API}/me/bills/{second.id}", headers=as_citizen(tenant, somchai))
        assert one.json()["total"] == "45.00"
        png = await http.get(f"{API}/me/bills/{second.id}/qr.png", headers=as_citizen(tenant, somchai))
        assert decode_png(png.content) == one.json()["qr_payload"]
        svg = await http.get(f"{API}/me/bills/{second.id}/qr.svg", headers=as_citizen(tenant, somchai))
        assert svg.status_code == 200
        for path in (f"/me/bills/{stranger_bill.id}", f"/me/bills/{stranger_bill.id}/qr.png"):
            assert (await http.get(API + path, headers=as_citizen(tenant, somchai))).status_code == 404
        assert (await http.get(f"{API}/me/bills/{first.id}", headers=as_citizen(tenant, malee))).status_code == 404
        payers_list = await http.get(f"{API}/me/payers", headers=as_citizen(tenant, somchai))
        assert [p["id"] for p in payers_list.json()["items"]] == [str(payer.id)]
        assert await walk_pages(http, f"{API}/me/payers", as_citizen(tenant, somchai)) == payers_list.json()["items"]
        staff_view = await http.get(f"{API}/payers/{payer.id}", headers=fin(tenant))
        assert staff_view.json()["citizen_linked"] is True
        assert (
            await http.delete(f"{API}/me/payers/{payer.id}", headers=as_citizen(tenant, somchai))
        ).status_code == 204
        after = await http.get(f"{API}/me/bills", headers=as_citizen(tenant, somchai))
        assert after.json()["items"] == []


async def test_arrears_totals_by_fee_type_and_payer(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    old = dt.date(2025, 1, 1)
    async with payments_db(engine, tenant) as session:
        await make_tariff(session, "garbage")
        rich = await make_payer(session, name="ก ผู้ค้างมาก")
        poor = await make_payer(session, name="ข ผู้ค้างน้อย")
        account = await make_account(session, rich, litres_per_day=50)
        await bills.run_bills(session, "garbage", "2024-11", today=old)
        await bills.run_bills(session, "garbage", "2024-12", today=old)
        await make_bill(session, rich, amounts=["500.00"], issue_date=old, source="permits")
        await make_bill(session, poor, amounts=["20.00"], issue_date=old, source="permits")
        await make_bill(session, poor, amounts=["999.00"])  # not overdue
        cancelled = await make_bill(session, poor, amounts=["777.00"], issue_date=old)
        cancelled.status = "cancelled"
    async with client_for(plugins=[PLUGIN]) as http:
        arrears = await http.get(f"{API}/arrears", headers=fin(tenant))
        cashier = await http.get(
            f"{API}/arrears", headers={**host(tenant.slug), **bearer(tenant, roles=["payments.cashier"])}
        )
        overdue = await http.get(f"{API}/bills", params={"overdue": "true"}, headers=fin(tenant))
    assert cashier.status_code == 403
    body = arrears.json()
    assert body["bills"] == 4
    assert body["amount"] == "680.00"
    assert body["by_fee_type"] == [
        {"fee_type": "garbage", "bills": 2, "amount": "160.00"},
        {"fee_type": "permits", "bills": 2, "amount": "520.00"},
    ]
    assert [(p["name"], p["bills"], p["amount"]) for p in body["by_payer"]] == [
        ("ก ผู้ค้างมาก", 3, "660.00"),
        ("ข ผู้ค้างน้อย", 1, "20.00"),
    ]
    assert body["payers"] == 2
    assert len(overdue.json()["items"]) == 4
    assert all(b["overdue"] for b in overdue.json()["items"])
    assert account.id


# --- isolation, roles, documentation ---------------------------------------------------------------------


def my_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in {"get", "post", "put", "patch", "delete"} and set(operation.get("tags", [])) & MY_TAGS
    ]


async def _world(engine: AsyncEngine, tenant: TenantInfo) -> dict[str, Any]:
    """One of everything in ``tenant``: ids for the path parameters, valid bodies for each operation."""
    async with payments_db(engine, tenant) as session:
        await set_biller(session)
        citizen_id = await make_citizen(session)
        await make_tariff(session, "garbage")
        future = await make_tariff(session, "fixed", effective_from=add_months(bangkok_today(), 3))
        payer = await make_payer(session, tax_id=next_thai_id())
        account = await make_account(session, payer, litres_per_day=10, account_no=f"ISO-{uuid.uuid4().hex[:8]}")
        bill = await make_bill(session, payer)
        await session.execute(text("UPDATE payers SET citizen_id = :c WHERE id = :p"), {"c": citizen_id, "p": payer.id})
    return {
        "ids": {"payer_id": payer.id, "account_id": account.id, "tariff_id": future.id, "bill_id": bill.id},
        "citizen": citizen_id,
        "bill": bill,
        "bodies": {
            "updatePayer": {"phone": "0812345678"},
            "updateAccount": {"litres_per_day": 12},
            "createAdvanceBill": {"months": 1},
            "replaceTariff": {
                "effective_from": add_months(bangkok_today(), 3).isoformat(),
                "definition": {"fee_type": "fixed", "fees": {}},
            },
            "cancelBill": {"reason": "isolation test"},
            "refundPayerCredit": {"amount": "1.00", "note": "isolation test"},
        },
    }


async def test_every_id_endpoint_from_another_lao_is_404(engine: AsyncEngine, client_for: ClientFactory) -> None:
    owner = await payments_tenant(engine)
    other = await payments_tenant(engine)
    world = await _world(engine, owner)
    await _world(engine, other)  # the other LAO has data of its own
    roles = ["payments.finance", "payments.cashier", "tenant_admin"]
    async with client_for(plugins=[PLUGIN]) as http:
        document = (await http.get("/schema/openapi.json", headers=host("any-lao"))).json()
        # Deletions last, so that on the owner's side every other call still finds its object.
        with_ids = sorted(
            ((m, p, op) for m, p, op in my_operations(document) if "{" in p),
            key=lambda item: (item[0] == "delete", item[2]["operationId"] == "cancelBill"),
        )
        assert len(with_ids) >= 18
        for tenant, expect_found in ((other, False), (owner, True)):
            async with payments_db(engine, tenant) as session:
                citizen_here = world["citizen"] if tenant is owner else await make_citizen(session)
            for method, path, operation in with_ids:
                url = path
                for name, value in world["ids"].items():
                    url = url.replace("{" + name + "}", str(value))
                assert "{" not in url, url
                citizen_route = "/me/" in path
                headers = (
                    as_citizen(tenant, citizen_here)
                    if citizen_route
                    else {**host(tenant.slug), **bearer(tenant, roles=roles)}
                )
                headers["Idempotency-Key"] = f"iso-{uuid.uuid4()}"
                body = world["bodies"].get(operation["operationId"])
                response = await http.request(method.upper(), url, json=body, headers=headers)
                where = f"{method.upper()} {path} on {'owner' if expect_found else 'other'}"
                if expect_found:  # found: done, or refused by a business rule (a payer with bills is kept)
                    assert response.status_code < 300 or response.json()["code"] in {
                        "payer_in_use",
                        "account_in_use",
                        "insufficient_credit",  # found, but this payer holds no credit
                    }, (
                        where,
                        response.text,
                    )
                else:
                    assert response.status_code == 404, (where, response.text)
                    assert response.headers["content-type"] == "application/problem+json"
        bill = world["bill"]
        proof = {"reference": bill.reference, "verification_code": bill.verification_code}
        assert (await http.post(f"{API}/lookup", json=proof, headers=host(other.slug))).status_code == 404
        async with payments_db(engine, other) as session:
            stranger = await make_citizen(session)
        assert (await http.post(f"{API}/me/payers", json=proof, headers=as_citizen(other, stranger))).status_code == 404
        for path in ("/payers", "/accounts", "/bills"):
            listed = await http.get(API + path, headers={**host(other.slug), **bearer(other, roles=roles)})
            ids = {item["id"] for item in listed.json()["items"]}
            assert not ids & {str(v) for v in world["ids"].values()}, path


CANDIDATES: list[dict[str, Any]] = [
    {"kind": "staff", "roles": []},
    {"kind": "staff", "roles": ["payments.cashier"]},
    {"kind": "staff", "roles": ["payments.finance"]},
    {"kind": "staff", "roles": ["tenant_admin"]},
    {"kind": "client", "scopes": []},
    {"kind": "client", "scopes": ["payments.read"]},
    {"kind": "client", "scopes": ["payments.write"]},
    {"kind": "citizen"},
]


def _principal(candidate: dict[str, Any]) -> Principal:
    return Principal(
        kind=candidate["kind"],
        subject="s",
        client_id="c",
        roles=frozenset(candidate.get("roles", ())),
        scopes=frozenset(candidate.get("scopes", ())),
        token_id="t",
    )


async def test_role_matrix(engine: AsyncEngine, client_for: ClientFactory, settings: Settings) -> None:
    """Every route: anonymous 401 (unless public), each principal its policy refuses 403, and the
    finance-only routes refuse cashiers and clients."""
    tenant = await payments_tenant(engine)
    app = create_app(settings, plugins=[PLUGIN])
    grants = grants_of(app)
    policies: dict[str, AuthPolicy] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            handler.resolve_opts()
            operation_id = getattr(handler, "operation_id", None)
            if isinstance(operation_id, str):
                policies[operation_id] = handler.opt[AUTH_OPT]
    finance_only = {
        "deletePayer", "importPayers", "deleteAccount", "createAdvanceBill", "createTariff", "replaceTariff",
        "deleteTariff", "runBills", "cancelBill", "issueLateSurcharges", "getArrears",
    }  # fmt: skip
    checked = 0
    async with client_for(plugins=[PLUGIN]) as http:
        document = (await http.get("/schema/openapi.json", headers=host("any-lao"))).json()
        for method, path, operation in my_operations(document):
            policy = policies[operation["operationId"]]
            url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)
            anonymous = await http.request(method.upper(), url, headers=host(tenant.slug))
            if policy.public:
                assert anonymous.status_code not in (401, 403)
                continue
            assert anonymous.status_code == 401, (method, path)
            for candidate in CANDIDATES:
                admitted = policy.admits(_principal(candidate), grants)
                token = bearer(tenant, **candidate)
                response = await http.request(method.upper(), url, headers={**host(tenant.slug), **token})
                if admitted:
                    assert response.status_code not in (401, 403), (method, path, candidate)
                else:
                    assert response.status_code == 403, (method, path, candidate, response.text)
                    assert response.json()["code"] == "forbidden"
                    checked += 1
            if operation["operationId"] in finance_only:
                assert not policy.admits(_principal({"kind": "staff", "roles": ["payments.cashier"]}), grants)
                refused_client = _principal({"kind": "client", "scopes": ["payments.read", "payments.write"]})
                assert not policy.admits(refused_client, grants)
                assert policy.admits(_principal({"kind": "staff", "roles": ["payments.finance"]}), grants)
    assert checked > 100


async def test_billing_operations_are_documented_products(client_for: ClientFactory) -> None:
    async with client_for(plugins=[PLUGIN]) as http:
        document = (await http.get("/schema/openapi.json", headers=host("any-lao"))).json()
    operations = my_operations(document)
    assert len(operations) >= 35
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation["operationId"], where
        assert len(operation["tags"]) == 1, where
        errors = {code: spec for code, spec in operation["responses"].items() if int(code) >= 400}
        assert {"400", "500"} <= set(errors), where
        for spec in errors.values():
            assert spec["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/ProblemDetails"
            }
        for code, spec in operation["responses"].items():
            if int(code) < 300 and "application/json" in spec.get("content", {}):
                assert "$ref" in spec["content"]["application/json"]["schema"], where
        if path.endswith(".png"):
            assert "image/png" in operation["responses"]["200"]["content"], where
        if operation["operationId"] in {"createBill", "createAdvanceBill"}:
            assert any(p["name"] == "Idempotency-Key" and p["required"] for p in operation["parameters"]), where


async def test_bill_items_keep_their_tariff_prices_in_the_database(engine: AsyncEngine) -> None:
    """A bill's amounts live in its items: changing the tariff row afterwards changes nothing."""
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        tariff = await make_tariff(session, "garbage")
        await make_account(session, litres_per_day=10)
        await bills.run_bills(session, "garbage", "2025-02")
        tariff.definition = {
            "fee_type": "garbage",
            "bands": [{"max_litres": None, "collection": "999.00", "disposal": "0"}],
        }
    async with payments_db(engine, tenant) as session:
        amounts = (await session.execute(select(BillItem.amount))).scalars().all()
        assert await session.scalar(select(func.count()).select_from(Tariff)) == 1
    assert amounts == [Decimal("50.00")]


async def test_lookup_needs_no_token_but_ignores_a_bad_one(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        bill = await make_bill(session)
    async with client_for(plugins=[PLUGIN]) as http:
        response = await http.post(
            f"{API}/lookup",
            json={"reference": bill.reference, "verification_code": bill.verification_code},
            headers={**host(tenant.slug), "Authorization": "Bearer nonsense"},
        )
    assert response.status_code == 200
    assert response.json()["qr_payload"] is None  # no biller set yet


def test_png_renderer_round_trips_many_payloads() -> None:
    for n in range(20):
        payload = qr.build(qr.BillPayment(biller_id=BILLER_ID, ref1=f"B{n:09d}", amount=Decimal(n + 1) / 4))
        assert decode_png(bills.qr_png(payload)) == payload


async def test_late_surcharge_job_charges_overdue_bills_once(engine: AsyncEngine) -> None:
    # (Expired idempotency keys are purged by a core job now: tests/test_jobs.py.)
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        overdue = await make_bill(
            session, amounts=["100.00"], issue_date=dt.date(2025, 1, 1), late_surcharge_percent=Decimal("12.5")
        )
    job = next(j for j in PLUGIN.jobs if j.name == "payments.late_surcharges")
    assert job.per_tenant
    for _ in range(2):
        async with payments_db(engine, tenant) as session:
            await job.run(JobContext(session, tenant, dt.datetime.now(dt.UTC)))
    async with payments_db(engine, tenant) as session:
        surcharges = (await session.execute(select(Bill).where(Bill.surcharge_of == overdue.id))).scalars().all()
    assert [s.total for s in surcharges] == [Decimal("12.50")]
    assert surcharges[0].due_date > bangkok_today()
