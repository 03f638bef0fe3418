"""The billing API: the operator's billing administrators, an LAO's own view, tenant isolation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.platform.billing import service
from localgov.platform.billing.pricing import Charge
from localgov.plugins import REGISTRY
from tests.conftest import BASE, ClientFactory, host
from tests.support.billing import METERS, add_events, bkk, make_plan, shared
from tests.support.factories import make_tenant
from tests.support.paging import walk_pages
from tests.support.tokens import bearer

D = Decimal
CHARGES = (Charge(meter="oss.cases_opened", model="standard", unit_price=D(10)),)


async def test_billing_admin_and_tenant_views_with_isolation(engine: AsyncEngine, client_for: ClientFactory) -> None:
    a = await make_tenant(engine)
    b = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(1000), charges=CHARGES)
    other_plan = await make_plan(engine, fixed_fee=D(2000))
    october = bkk(2026, 10, 10, 10)
    admin = {"Host": BASE, **bearer(None, kind="operator", roles=["billing_admin"])}
    async with client_for(plugins=REGISTRY) as client:
        meters = await client.get("/v1/billing/meters", headers=admin)
        assert meters.status_code == 200
        assert {"code": "payments.baht_collected", "aggregation": "sum"}.items() <= next(
            m for m in meters.json()["items"] if m["code"] == "payments.baht_collected"
        ).items()

        # Prices: a new version; bad ones are refused with stable codes.
        price = {"effective_from": "2027-01-01", "fixed_fee": "1200", "fixed_interval": "monthly"}
        new = await client.post(
            f"/v1/billing/plans/{plan}/prices",
            json={
                **price,
                "charges": [
                    {"meter": "oss.cases_opened", "model": "package", "package_size": "50", "package_price": "100"}
                ],
            },
            headers=admin,
        )
        assert new.status_code == 201, new.text
        again = await client.post(f"/v1/billing/plans/{plan}/prices", json=price, headers=admin)
        assert (again.status_code, again.json()["code"]) == (409, "plan_price_exists")
        bad = await client.post(
            f"/v1/billing/plans/{plan}/prices",
            json={**price, "effective_from": "2027-02-01", "charges": [{"meter": "nope.nothing", "model": "standard"}]},
            headers=admin,
        )
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_price")
        tiers = await client.post(
            f"/v1/billing/plans/{plan}/prices",
            json={
                **price,
                "effective_from": "2027-03-01",
                "charges": [{"meter": "oss.cases_opened", "model": "graduated", "tiers": []}],
            },
            headers=admin,
        )
        assert tiers.status_code == 422
        missing = await client.post("/v1/billing/plans/no-such-plan/prices", json=price, headers=admin)
        assert (missing.status_code, missing.json()["code"]) == (404, "plan_not_found")
        listed = await client.get(f"/v1/billing/plans/{plan}/prices", headers=admin)
        assert [p["effective_from"] for p in listed.json()["items"]] == ["2027-01-01", "2020-01-01"]
        assert await walk_pages(client, f"/v1/billing/plans/{plan}/prices", admin) == listed.json()["items"]

        # Subscriptions.
        body = {"plan_code": plan, "billing_cycle": "monthly", "starts_on": "2026-10-01"}
        sub_a = await client.post("/v1/billing/subscriptions", json={**body, "tenant_id": a.id}, headers=admin)
        assert sub_a.status_code == 201, sub_a.text
        sub_b = await client.post("/v1/billing/subscriptions", json={**body, "tenant_id": b.id}, headers=admin)
        twice = await client.post("/v1/billing/subscriptions", json={**body, "tenant_id": a.id}, headers=admin)
        assert (twice.status_code, twice.json()["code"]) == (409, "subscription_conflict")
        nobody = await client.post("/v1/billing/subscriptions", json={**body, "tenant_id": 10**12}, headers=admin)
        assert nobody.status_code == 404
        cycle = await client.post(
            "/v1/billing/subscriptions", json={**body, "tenant_id": a.id, "billing_cycle": "weekly"}, headers=admin
        )
        assert (cycle.status_code, cycle.json()["code"]) == (400, "validation_error")
        change = await client.post(
            f"/v1/billing/subscriptions/{sub_b.json()['id']}/plan-changes",
            json={"plan_code": other_plan, "on": "2026-10-16"},
            headers=admin,
        )
        assert change.status_code == 201, change.text
        assert [p["plan_code"] for p in change.json()["phases"]] == [plan, other_plan]
        assert (await client.get("/v1/billing/subscriptions/999999999", headers=admin)).status_code == 404

        await add_events(engine, a.id, "oss.cases_opened", [(october, october, D(1))] * 4)
        await add_events(engine, b.id, "oss.cases_opened", [(october, october, D(1))] * 9)
        async with shared(engine) as session:
            for tenant in (a, b):
                await service.run_invoices(session, now=bkk(2026, 11, 1, 1), meters=METERS, tenant_id=tenant.id)
        # A draft is the operator's: the LAO sees nothing yet.
        a_admin = {**host(a.slug), **bearer(a, roles=["tenant_admin"])}
        b_admin = {**host(b.slug), **bearer(b, roles=["tenant_admin"])}
        assert (await client.get("/v1/tenant/billing/invoices", headers=a_admin)).json()["items"] == []
        async with shared(engine) as session:
            for tenant in (a, b):
                await service.run_invoices(session, now=bkk(2026, 11, 4, 1), meters=METERS, tenant_id=tenant.id)

        usage = await client.get(
            "/v1/billing/usage",
            params={"tenant_id": a.id, "date_from": "2026-10-01", "date_to": "2026-10-31"},
            headers=admin,
        )
        assert usage.status_code == 200
        assert [(m["meter"], m["quantity"]) for m in usage.json()["meters"]] == [("oss.cases_opened", "4")]
        backwards = await client.get(
            "/v1/billing/usage",
            params={"tenant_id": a.id, "date_from": "2026-10-31", "date_to": "2026-10-01"},
            headers=admin,
        )
        assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid_period")

        (inv_a,) = (await client.get("/v1/billing/invoices", params={"tenant_id": a.id}, headers=admin)).json()["items"]
        (inv_b,) = (await client.get("/v1/billing/invoices", params={"tenant_id": b.id}, headers=admin)).json()["items"]
        assert (inv_a["status"], inv_a["subtotal"], inv_a["vat"], inv_a["total"]) == (
            "finalised",
            "1040.00",
            "72.80",
            "1112.80",
        )
        detail = (await client.get(f"/v1/billing/invoices/{inv_a['id']}", headers=admin)).json()
        assert [(ln["kind"], ln["quantity"], ln["amount"], ln["vat"]) for ln in detail["lines"]] == [
            ("fixed", "31", "1000.00", "70.00"),
            ("usage", "4", "40.00", "2.80"),
        ]
        exported = await client.get("/v1/billing/invoices.csv", params={"tenant_id": a.id}, headers=admin)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert (rows[1][0], rows[1][8]) == (inv_a["number"], "1112.80")

        paid = await client.post(
            f"/v1/billing/invoices/{inv_a['id']}/payments",
            json={"reference": "KTB-778", "paid_at": "2026-11-20T10:00:00+07:00"},
            headers=admin,
        )
        assert (paid.status_code, paid.json()["status"]) == (200, "paid")
        void_paid = await client.post(f"/v1/billing/invoices/{inv_a['id']}/void", json={"reason": "ผิด"}, headers=admin)
        assert (void_paid.status_code, void_paid.json()["code"]) == (409, "invoice_wrong_state")
        credit = await client.post(
            f"/v1/billing/invoices/{inv_a['id']}/credit-notes",
            json={"amount": "40", "reason": "คืนค่าบริการ"},
            headers=admin,
        )
        assert credit.status_code == 201, credit.text
        assert (credit.json()["kind"], credit.json()["total"]) == ("credit_note", "42.80")
        void_b = await client.post(f"/v1/billing/invoices/{inv_b['id']}/void", json={"reason": "ออกใหม่"}, headers=admin)
        assert (void_b.status_code, void_b.json()["status"]) == (200, "void")
        naive = await client.post(
            f"/v1/billing/invoices/{inv_b['id']}/payments",
            json={"reference": "x", "paid_at": "2026-11-20T10:00:00"},
            headers=admin,
        )
        assert naive.status_code in (400, 422)

        run = await client.post("/v1/billing/invoice-runs", json={"tenant_id": a.id}, headers=admin)
        rerun = await client.post("/v1/billing/invoice-runs", json={"tenant_id": a.id}, headers=admin)
        assert (run.status_code, rerun.status_code) == (200, 200)
        assert rerun.json()["drafted"] == []

        # The LAO's own side: its plan and usage, its invoices only; another's by id is 404.
        just_now = datetime.now(UTC)
        await add_events(engine, b.id, "oss.cases_opened", [(just_now, just_now, D(1))] * 3)
        b_overview = await client.get("/v1/tenant/billing", headers=b_admin)
        assert [(m["meter"], m["quantity"]) for m in b_overview.json()["usage"]] == [("oss.cases_opened", "3")]
        overview = await client.get("/v1/tenant/billing", headers=a_admin)
        assert overview.status_code == 200, overview.text
        assert (overview.json()["plan_code"], overview.json()["subscription"]["id"]) == (plan, sub_a.json()["id"])
        assert overview.json()["usage"] == []  # B's events of this period are not A's
        mine = (await client.get("/v1/tenant/billing/invoices", headers=a_admin)).json()["items"]
        assert {i["tenant_id"] for i in mine} == {a.id}
        assert inv_a["id"] in {i["id"] for i in mine}
        own = await client.get(f"/v1/tenant/billing/invoices/{inv_a['id']}", headers=a_admin)
        assert own.status_code == 200
        pdf = await client.get(f"/v1/tenant/billing/invoices/{inv_a['id']}/pdf", headers=a_admin)
        assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        for expected in ("ใบแจ้งหนี้ค่าบริการแพลตฟอร์ม", inv_a["number"], "1,112.80", "ภาษีมูลค่าเพิ่ม", "ชำระแล้ว"):
            assert expected in text, expected
        assert (await client.get(f"/v1/tenant/billing/invoices/{inv_b['id']}/pdf", headers=a_admin)).status_code == 404
        operator_pdf = await client.get(f"/v1/billing/invoices/{inv_b['id']}/pdf", headers=admin)
        assert operator_pdf.status_code == 200
        theirs = await client.get(f"/v1/tenant/billing/invoices/{inv_b['id']}", headers=a_admin)
        assert (theirs.status_code, theirs.json()["code"]) == (404, "invoice_not_found")
        assert (await client.get(f"/v1/tenant/billing/invoices/{inv_a['id']}", headers=b_admin)).status_code == 404
        assert inv_a["id"] not in {
            i["id"] for i in (await client.get("/v1/tenant/billing/invoices", headers=b_admin)).json()["items"]
        }
        # Both lists page by cursor, newest period first, with their filters kept.
        every = (await client.get("/v1/billing/invoices", params={"limit": 500}, headers=admin)).json()["items"]
        assert len(every) >= 3
        walked = await walk_pages(client, "/v1/billing/invoices", admin, limit=2)
        assert [i["id"] for i in walked] == [i["id"] for i in every]
        assert [i["period_start"] for i in walked] == sorted((i["period_start"] for i in walked), reverse=True)
        of_a = await walk_pages(client, "/v1/billing/invoices", admin, params={"tenant_id": a.id})
        assert {i["tenant_id"] for i in of_a} == {a.id}
        assert {i["id"] for i in of_a} == {i["id"] for i in every if i["tenant_id"] == a.id}
        void = await walk_pages(client, "/v1/billing/invoices", admin, params={"tenant_id": b.id, "status": "void"})
        assert [i["id"] for i in void] == [inv_b["id"]]
        own = await walk_pages(client, "/v1/tenant/billing/invoices", a_admin)
        assert {i["id"] for i in own} == {i["id"] for i in of_a if i["status"] != "draft"}
        assert {i["id"] for i in own} == {i["id"] for i in mine}

        # Guards: the operator's billing API is for billing administrators on the operator host only.
        assert (await client.get("/v1/billing/invoices", headers={"Host": BASE})).status_code == 401
        platform_admin = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin"])}
        assert (await client.get("/v1/billing/invoices", headers=platform_admin)).status_code == 403
        console = await client.get("/billing/console", headers=admin)
        assert (console.status_code, console.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert console.text.count("<svg") >= 4
        assert "<script" not in console.text
        assert (await client.get("/billing/console", headers=platform_admin)).status_code == 403
        assert (await client.get("/v1/billing/invoices", headers={**admin, **host(a.slug)})).status_code == 404
        clerk = {**host(a.slug), **bearer(a, roles=["oss.clerk"])}
        assert (await client.get("/v1/tenant/billing/invoices", headers=clerk)).status_code == 403
