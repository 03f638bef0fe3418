"""What integrators' API clients get from payments: receipts and bank payments by scope,
``updated_since`` on bills, receipts and payments, and the sandbox's bank simulator."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.tenancy import TenantInfo
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.tokens import bearer
from tests.test_payments_bank import deliver, notice, open_bills, setup_lao

RECEIPTS = "/v1/payments/receipts"
PAYMENTS = "/v1/payments/bank/payments"
BILLS = "/v1/payments/bills"
SANDBOX = "/v1/payments/sandbox"


def api_client(tenant: TenantInfo, *scopes: str) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, kind="client", subject="lgc_erp", scopes=scopes)}


def staff(tenant: TenantInfo, *roles: str) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=roles, subject=str(uuid.uuid4()))}


async def db_now(engine: AsyncEngine) -> dt.datetime:
    """The database's clock between two transactions: later transactions stamp at or after it."""
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT now()"))).scalar_one()  # type: ignore[no-any-return]


async def test_api_clients_read_receipts_and_bank_payments_with_their_scopes(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    async with client_for(plugins=REGISTRY) as client:
        paid = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))
        receipt_id = paid.json()["receipt"]["id"]
        payment_id = paid.json()["payment_id"]
        # payments.read (payers, bills) opens neither: unchanged.
        for path in (RECEIPTS + "/", f"{RECEIPTS}/{receipt_id}", PAYMENTS + "/", f"{PAYMENTS}/{payment_id}"):
            assert (await client.get(path, headers=api_client(lao.tenant, "payments.read"))).status_code == 403
        receipts = await client.get(RECEIPTS + "/", headers=api_client(lao.tenant, "payments.receipts.read"))
        assert receipts.status_code == 200, receipts.text
        assert [r["id"] for r in receipts.json()["items"]] == [receipt_id]
        one = await client.get(f"{RECEIPTS}/{receipt_id}", headers=api_client(lao.tenant, "payments.receipts.read"))
        assert one.status_code == 200
        payments = await client.get(PAYMENTS + "/", headers=api_client(lao.tenant, "payments.bank.read"))
        assert payments.status_code == 200, payments.text
        assert [p["id"] for p in payments.json()["items"]] == [payment_id]
        shown = await client.get(f"{PAYMENTS}/{payment_id}", headers=api_client(lao.tenant, "payments.bank.read"))
        assert shown.status_code == 200
        # One scope does not open the other.
        assert (
            await client.get(PAYMENTS + "/", headers=api_client(lao.tenant, "payments.receipts.read"))
        ).status_code == 403
        assert (
            await client.get(RECEIPTS + "/", headers=api_client(lao.tenant, "payments.bank.read"))
        ).status_code == 403
        # The receipt PDF and voiding stay with staff.
        pdf = await client.get(f"{RECEIPTS}/{receipt_id}/pdf", headers=api_client(lao.tenant, "payments.receipts.read"))
        assert pdf.status_code == 403
        # Another LAO's receipt and payment: 404 for a client of that LAO.
        other = await setup_lao(engine)
        assert (
            await client.get(f"{RECEIPTS}/{receipt_id}", headers=api_client(other.tenant, "payments.receipts.read"))
        ).status_code == 404
        assert (
            await client.get(f"{PAYMENTS}/{payment_id}", headers=api_client(other.tenant, "payments.bank.read"))
        ).status_code == 404


async def test_the_new_scopes_can_be_granted_to_an_api_client(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    async with client_for(plugins=REGISTRY) as client:
        created = await client.post(
            "/v1/api-clients/",
            json={"name": "ERP", "scopes": ["payments.receipts.read", "payments.bank.read", "webhooks.manage"]},
            headers=staff(tenant, "tenant_admin"),
        )
        assert created.status_code == 201, created.text
        meta = await client.get("/.well-known/oauth-authorization-server", headers=host(tenant.slug))
        assert {"payments.receipts.read", "payments.bank.read", "webhooks.manage"} <= set(
            meta.json()["scopes_supported"]
        )


async def test_updated_since_lists_only_what_changed(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    first, second, third = await open_bills(engine, lao.tenant, count=3)
    headers_bills = api_client(lao.tenant, "payments.read")
    async with client_for(plugins=REGISTRY) as client:
        paid_first = await deliver(client, lao.tenant, lao.secret, notice(lao, first.reference, "80.00"))
        since = await db_now(engine)
        paid_second = await deliver(client, lao.tenant, lao.secret, notice(lao, second.reference, "80.00"))
        cancelled = await client.post(
            f"{BILLS}/{third.id}/cancel", json={"reason": "ออกซ้ำ"}, headers=staff(lao.tenant, "payments.finance")
        )
        assert cancelled.status_code == 200, cancelled.text

        bills = await client.get(BILLS + "/", params={"updated_since": since.isoformat()}, headers=headers_bills)
        assert bills.status_code == 200, bills.text
        assert {b["id"] for b in bills.json()["items"]} == {str(second.id), str(third.id)}
        everything = await client.get(BILLS + "/", headers=headers_bills)
        assert len(everything.json()["items"]) == 3

        receipts = await client.get(
            RECEIPTS + "/",
            params={"updated_since": since.isoformat()},
            headers=api_client(lao.tenant, "payments.receipts.read"),
        )
        assert [r["id"] for r in receipts.json()["items"]] == [paid_second.json()["receipt"]["id"]]
        payments = await client.get(
            PAYMENTS + "/",
            params={"updated_since": since.isoformat()},
            headers=api_client(lao.tenant, "payments.bank.read"),
        )
        assert [p["id"] for p in payments.json()["items"]] == [paid_second.json()["payment_id"]]

        # Voiding the first receipt later changes it (and its bill, open again).
        later = await db_now(engine)
        voided = await client.post(
            f"{RECEIPTS}/{paid_first.json()['receipt']['id']}/void",
            json={"reason": "ชำระผิดใบ"},
            headers=staff(lao.tenant, "payments.supervisor"),
        )
        assert voided.status_code == 200, voided.text
        receipts = await client.get(
            RECEIPTS + "/",
            params={"updated_since": later.isoformat()},
            headers=api_client(lao.tenant, "payments.receipts.read"),
        )
        assert [(r["id"], r["status"]) for r in receipts.json()["items"]] == [
            (paid_first.json()["receipt"]["id"], "void")
        ]
        bills = await client.get(BILLS + "/", params={"updated_since": later.isoformat()}, headers=headers_bills)
        assert [(b["id"], b["status"]) for b in bills.json()["items"]] == [(str(first.id), "open")]

        for bad in ("2026-12-07T06:00:00", "yesterday", "2026-13-01T00:00:00Z"):
            refused = await client.get(BILLS + "/", params={"updated_since": bad}, headers=headers_bills)
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["code"] in ("invalid_updated_since", "validation_error")


# --- the sandbox ------------------------------------------------------------------------------------------


async def test_the_sandbox_bank_simulator_pays_a_bill_like_the_bank(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    writer = api_client(lao.tenant, "payments.write")
    async with client_for(plugins=REGISTRY) as client:
        off = await client.post(SANDBOX + "/pay", json={"reference": bill.reference}, headers=writer)
        assert off.status_code == 404
        assert off.json()["code"] == "sandbox_off"
        assert (await client.get(SANDBOX + "/", headers=writer)).json() == {"enabled": False}
        # Integrators cannot turn it on; the LAO's administrators can.
        assert (await client.put(SANDBOX + "/", json={"enabled": True}, headers=writer)).status_code == 403
        turned = await client.put(SANDBOX + "/", json={"enabled": True}, headers=staff(lao.tenant, "tenant_admin"))
        assert turned.status_code == 200, turned.text
        assert turned.json() == {"enabled": True}

        reader = api_client(lao.tenant, "payments.read")
        assert (
            await client.post(SANDBOX + "/pay", json={"reference": bill.reference}, headers=reader)
        ).status_code == 403
        paid = await client.post(SANDBOX + "/pay", json={"reference": bill.reference.lower()}, headers=writer)
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "matched"
        assert paid.json()["receipt"] is not None
        shown = await client.get(f"{BILLS}/{bill.id}", headers=reader)
        assert shown.json()["status"] == "paid"
        again = await client.post(SANDBOX + "/pay", json={"reference": bill.reference}, headers=writer)
        assert (again.json()["status"], again.json()["exception_kind"]) == ("exception", "duplicate")
        unknown = await client.post(SANDBOX + "/pay", json={"reference": "NOSUCHBILL"}, headers=writer)
        assert unknown.status_code == 404
        for body in (
            {"reference": "x y"},
            {"reference": bill.reference, "amount": "-1"},
            {"reference": bill.reference, "x": 1},
        ):
            assert (await client.post(SANDBOX + "/pay", json=body, headers=writer)).status_code == 400

        # Another LAO is no sandbox because this one is.
        other = await setup_lao(engine)
        (other_bill,) = await open_bills(engine, other.tenant)
        refused = await client.post(
            SANDBOX + "/pay",
            json={"reference": other_bill.reference},
            headers=api_client(other.tenant, "payments.write"),
        )
        assert refused.status_code == 404


@pytest.fixture
def production_settings(database_url: str) -> Settings:
    return make_settings(database_url, env="production")


async def test_no_sandbox_in_production(
    engine: AsyncEngine, client_for: ClientFactory, production_settings: Settings
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    async with engine.begin() as conn:  # even a flag set behind the application's back
        await conn.execute(text(f'UPDATE "{lao.tenant.schema}".payment_settings SET sandbox = true'))
    async with client_for(plugins=REGISTRY, settings_=production_settings) as client:
        refused = await client.put(SANDBOX + "/", json={"enabled": True}, headers=staff(lao.tenant, "tenant_admin"))
        assert refused.status_code == 403
        assert refused.json()["code"] == "sandbox_not_in_production"
        assert (await client.get(SANDBOX + "/", headers=staff(lao.tenant, "tenant_admin"))).json() == {"enabled": False}
        pay = await client.post(
            SANDBOX + "/pay", json={"reference": bill.reference}, headers=api_client(lao.tenant, "payments.write")
        )
        assert pay.status_code == 404
        assert pay.json()["code"] == "sandbox_off"
