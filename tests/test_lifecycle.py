"""The life of a tenant after it exists: the operator suspends, reactivates and closes it (every
transition and refusal), a suspended LAO answers 403 on every route but the few its staff need,
and an LAO's administrators edit their contact details, services and custom domains."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import time
import uuid
import zipfile
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.tenancy import TenantInfo
from localgov.platform.lifecycle import EXPORT_TOPIC
from localgov.platform.tenant_admin import MAX_DOMAINS
from localgov.platform.tenants import TenantSpec, sync_tenants
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.dns_server import DnsServer
from tests.support.factories import make_tenant
from tests.support.lifecycle import (
    OPERATOR_ID,
    PASSWORD,
    add_staff,
    citizen_session,
    operator_headers,
    refresh_catalog,
    seed_everything,
)
from tests.support.payments import payments_tenant
from tests.support.routes import tenant_routes
from tests.support.tokens import bearer

PLUGINS = (*REGISTRY, DEMO)
ALL_ROLES = ["tenant_admin", *(r.code for p in PLUGINS for r in p.roles)]
#: What a suspended LAO still answers: its staff see why and export their data, and the bank's
#: notifications of money citizens already paid are recorded.
ALLOWED_WHEN_SUSPENDED = {
    ("POST", "/v1/payments/bank/notifications"),
    ("POST", "/v1/auth/staff/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("GET", "/v1/me"),
    ("GET", "/v1/tenant/status"),
    ("GET", "/v1/tenant/export"),
}


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> Settings:
    return make_settings(database_url, export_dir=str(tmp_path / "exports"), login_rate_limit=1000)


def admin(tenant: TenantInfo, *roles: str, subject: str | None = None) -> dict[str, str]:
    return {
        **host(tenant.slug),
        **bearer(tenant, roles=roles or ("tenant_admin",), subject=subject or str(uuid.uuid4())),
    }


async def tenant_audit(engine: AsyncEngine, tenant: TenantInfo, action: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f'SELECT actor_kind, actor_id, target, data FROM "{tenant.schema}".audit_events'
                " WHERE action = :a ORDER BY id"
            ),
            {"a": action},
        )
        return [dict(r._mapping) for r in rows]


async def operator_audit(engine: AsyncEngine, tenant: TenantInfo) -> list[tuple[str, str | None, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action, actor_id, data FROM platform.operator_audit_events WHERE target = :t ORDER BY id"),
            {"t": f"tenant:{tenant.id}"},
        )
        return [(r.action, r.actor_id, r.data) for r in rows]


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["code"]


# --- 1. the operator's transitions ---------------------------------------------------------------


async def test_every_transition_and_every_refusal(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    other = await make_tenant(engine)
    ops = operator_headers()
    base = f"/v1/tenants/{tenant.id}"
    async with client_for(plugins=PLUGINS, listen=False) as http:
        shown = await http.get(base, headers=ops)
        assert shown.status_code == 200, shown.text
        assert (shown.json()["status"], shown.json()["status_reason"], shown.json()["archives"]) == ("active", None, [])

        before = dt.datetime.now(dt.UTC)
        suspended = await http.post(f"{base}/suspend", json={"reason": " ค้างชำระค่าบริการ 3 เดือน "}, headers=ops)
        assert suspended.status_code == 200, suspended.text
        body = suspended.json()
        assert (body["status"], body["status_reason"], body["purge_after"]) == (
            "suspended",
            "ค้างชำระค่าบริการ 3 เดือน",
            None,
        )
        assert before <= dt.datetime.fromisoformat(body["status_changed_at"]) <= dt.datetime.now(dt.UTC)
        await refresh_catalog(http, engine)
        assert problem(await http.get("/v1/tenant", headers=host(tenant.slug))) == (403, "tenant_suspended")

        again = await http.post(f"{base}/suspend", json={"reason": "อีกครั้ง"}, headers=ops)
        assert problem(again) == (409, "tenant_wrong_state")
        assert again.json()["data"] == {"tenant_id": tenant.id, "status": "suspended", "action": "suspend"}

        reactivated = await http.post(f"{base}/reactivate", headers=ops)
        assert reactivated.status_code == 200, reactivated.text
        assert (reactivated.json()["status"], reactivated.json()["status_reason"]) == ("active", None)
        await refresh_catalog(http, engine)
        assert (await http.get("/v1/tenant", headers=host(tenant.slug))).status_code == 200
        assert problem(await http.post(f"{base}/reactivate", headers=ops)) == (409, "tenant_wrong_state")

        closed = await http.post(f"{base}/close", json={"reason": "ยุบรวม"}, headers=ops)
        assert closed.status_code == 200, closed.text
        assert (closed.json()["status"], closed.json()["status_reason"]) == ("closed", "ยุบรวม")
        purge_after = dt.datetime.fromisoformat(closed.json()["purge_after"])
        expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)  # LOCALGOV_CLOSED_RETENTION_DAYS default
        assert abs((purge_after - expected).total_seconds()) < 60
        await refresh_catalog(http, engine)
        assert problem(await http.get("/v1/tenant", headers=host(tenant.slug))) == (410, "tenant_closed")
        for action, payload in (("close", {"reason": "x"}), ("suspend", {"reason": "x"}), ("reactivate", None)):
            refused = await http.post(f"{base}/{action}", json=payload, headers=ops)
            assert problem(refused) == (409, "tenant_wrong_state"), action
            assert refused.json()["data"]["status"] == "closed"

        # Closing wrote exactly one export request in its own transaction.
        async with engine.connect() as conn:
            queued = (
                (
                    await conn.execute(
                        text("SELECT payload FROM platform.outbox WHERE tenant_id = :t AND topic = :topic"),
                        {"t": tenant.id, "topic": EXPORT_TOPIC},
                    )
                )
                .scalars()
                .all()
            )
        assert queued == [{"reason": "close", "requested_by": f"operator:{OPERATOR_ID}"}]
        # What makes sense on a closed tenant: its detail, and another (closing) export.
        assert (await http.get(base, headers=ops)).json()["status"] == "closed"
        export = await http.post(f"{base}/archives", headers=ops)
        assert (export.status_code, export.json()["reason"]) == (202, "close")

        # Suspended → closed also works; an active tenant's export is an ordinary request.
        assert (await http.post(f"/v1/tenants/{other.id}/archives", headers=ops)).json()["reason"] == "request"
        assert (
            await http.post(f"/v1/tenants/{other.id}/suspend", json={"reason": "r"}, headers=ops)
        ).status_code == 200
        assert (await http.post(f"/v1/tenants/{other.id}/close", json={"reason": "r"}, headers=ops)).status_code == 200

        for method, path in (
            ("GET", "/v1/tenants/999999999"),
            ("POST", "/v1/tenants/999999999/reactivate"),
            ("POST", "/v1/tenants/999999999/archives"),
            ("GET", "/v1/tenants/999999999/archives/1"),
        ):
            assert problem(await http.request(method, path, headers=ops)) == (404, "tenant_not_found"), path
        missing = await http.post("/v1/tenants/999999999/close", json={"reason": "x"}, headers=ops)
        assert problem(missing) == (404, "tenant_not_found")

    actions = [(a, actor, d.get("reason")) for a, actor, d in await operator_audit(engine, tenant)]
    assert actions == [
        ("tenant.suspended", OPERATOR_ID, "ค้างชำระค่าบริการ 3 เดือน"),
        ("tenant.reactivated", OPERATOR_ID, None),
        ("tenant.closed", OPERATOR_ID, "ยุบรวม"),
        ("tenant.export_requested", OPERATOR_ID, "close"),
    ]
    # The LAO's own log says who suspended it and why.
    [event] = await tenant_audit(engine, tenant, "tenant.suspended")
    assert (event["actor_kind"], event["actor_id"], event["data"]["reason"]) == (
        "operator",
        OPERATOR_ID,
        "ค้างชำระค่าบริการ 3 เดือน",
    )


async def test_bad_input_is_a_problem_never_a_500(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    ops = operator_headers()
    base = f"/v1/tenants/{tenant.id}"
    async with client_for(plugins=PLUGINS, listen=False) as http:
        for payload in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": 5},
                        {"reason": "ok", "extra": 1}, {"reason": "bad\x00byte"}, [], "text"):  # fmt: skip
            for action in ("suspend", "close"):
                response = await http.post(f"{base}/{action}", json=payload, headers=ops)
                assert problem(response) == (400, "validation_error"), (action, payload)
        malformed = await http.post(
            f"{base}/suspend", content=b"{nope", headers={**ops, "Content-Type": "application/json"}
        )
        assert problem(malformed)[0] == 400
        assert problem(await http.post(f"{base}/suspend", content=b"{nope", headers=ops)) == (
            415,
            "unsupported_media_type",
        )
        assert problem(await http.get("/v1/tenants/0", headers=ops)) == (400, "validation_error")
        assert problem(await http.get("/v1/tenants/abc", headers=ops))[0] == 404
        assert problem(await http.get(f"{base}/archives/0", headers=ops)) == (400, "validation_error")
        assert problem(await http.get(f"{base}/archives/12345678", headers=ops)) == (404, "archive_not_found")
        # Nothing changed.
        assert (await http.get(base, headers=ops)).json()["status"] == "active"


async def test_operator_role_matrix(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    base = f"/v1/tenants/{tenant.id}"
    billing = operator_headers("billing_admin")
    actions = [
        ("POST", f"{base}/suspend", {"reason": "x"}),
        ("POST", f"{base}/reactivate", None),
        ("POST", f"{base}/close", {"reason": "x"}),
        ("POST", f"{base}/archives", None),
        ("GET", f"{base}/archives/1", None),
    ]
    async with client_for(plugins=PLUGINS, listen=False) as http:
        assert (await http.get(base, headers=billing)).status_code == 200  # reading is for both operator roles
        for method, path, payload in actions:
            assert problem(await http.request(method, path, json=payload, headers=billing)) == (403, "forbidden")
            no_token = await http.request(method, path, json=payload, headers={"Host": BASE})
            assert problem(no_token) == (401, "missing_token"), path
            # A tenant's token (even its administrator's) is not an operator's.
            tenant_token = {"Host": BASE, **bearer(tenant, roles=["tenant_admin", "platform_admin"])}
            assert problem(await http.request(method, path, json=payload, headers=tenant_token))[0] == 401
            # The operator API is not served on a tenant host.
            on_tenant = await http.request(
                method, path, json=payload, headers={**operator_headers(), **host(tenant.slug)}
            )
            assert on_tenant.status_code == 404, path
    assert await operator_audit(engine, tenant) == []


# --- 2. a suspended tenant -------------------------------------------------------------------------


async def test_a_suspended_tenant_refuses_every_route_but_what_its_staff_need(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=[p.slug for p in PLUGINS])
    await add_staff(engine, tenant, "walk@example.go.th", "tenant_admin")
    async with client_for(plugins=PLUGINS, listen=False) as http:
        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        routes = tenant_routes(app)
        marked = {(m, t) for m, t, _ in routes if _allow_suspended(app, m, t)}
        assert marked == ALLOWED_WHEN_SUSPENDED
        assert len(routes) > 60  # the identity, tenant and payments routes are all walked

        async def walk(expect_suspended: bool) -> None:
            everyone = {**admin(tenant, *ALL_ROLES)}
            for method, template, path in routes:
                response = await http.request(method, path, headers=everyone)
                refused = response.status_code == 403 and response.json().get("code") == "tenant_suspended"
                should = expect_suspended and (method, template) not in ALLOWED_WHEN_SUSPENDED
                assert refused == should, (method, template, response.status_code, response.text[:200])
                assert response.status_code < 500, (method, template, response.text[:200])

        await walk(expect_suspended=False)  # the same requests are not refused while active
        ops = operator_headers()
        assert (
            await http.post(f"/v1/tenants/{tenant.id}/suspend", json={"reason": "ตรวจสอบ"}, headers=ops)
        ).status_code == 200
        await refresh_catalog(http, engine)
        await walk(expect_suspended=True)


def _allow_suspended(app: Litestar, method: str, template: str) -> bool:
    for route in app.routes:
        if re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path) != template:
            continue
        for handler in getattr(route, "route_handlers", ()):
            if method in getattr(handler, "http_methods", ()):
                return bool(handler.opt.get("allow_suspended", False))
    return False


async def test_suspended_staff_log_in_see_why_and_export_and_nothing_is_lost(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    await seed_everything(engine, tenant)
    admin_email = f"admin-{tenant.slug}@example.go.th"
    finance_email = f"finance-{tenant.slug}@example.go.th"
    citizen = await citizen_session(engine, tenant)
    tables = ["bills", "payers", "payments", "receipts", "staff_users", "staff_roles", "fee_accounts", "tariffs"]

    async def counts() -> dict[str, int]:
        async with engine.connect() as conn:
            return {
                t: (await conn.execute(text(f'SELECT count(*) FROM "{tenant.schema}".{t}'))).scalar_one()
                for t in tables
            }

    stored = await counts()
    ops = operator_headers()
    async with client_for(plugins=PLUGINS, listen=False) as http:
        reason = "ค้างชำระค่าบริการ / overdue invoices"
        assert (
            await http.post(f"/v1/tenants/{tenant.id}/suspend", json={"reason": reason}, headers=ops)
        ).status_code == 200
        await refresh_catalog(http, engine)
        assert problem(await http.get("/v1/payments/bills", headers=admin(tenant, *ALL_ROLES))) == (
            403,
            "tenant_suspended",
        )

        login = await http.post(
            "/v1/auth/staff/login", json={"email": admin_email, "password": PASSWORD}, headers=host(tenant.slug)
        )
        assert login.status_code == 200, login.text
        tokens = login.json()
        mine = {**host(tenant.slug), "Authorization": f"Bearer {tokens['access_token']}"}
        me = await http.get("/v1/me", headers=mine)
        assert (me.status_code, me.json()["email"]) == (200, admin_email)

        status = await http.get("/v1/tenant/status", headers=mine)
        assert status.status_code == 200, status.text
        body = status.json()
        assert (body["status"], body["reason"]) == ("suspended", reason)
        assert body["since"] is not None
        assert "ระงับ" in body["message_th"]
        assert "suspended" in body["message_en"]

        exported = await http.get("/v1/tenant/export", headers=mine)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"] == "application/zip"
        assert "attachment" in exported.headers["content-disposition"]
        assert exported.headers["repr-digest"].startswith("sha-256=:")
        with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            assert manifest["reason"] == "request"
            assert manifest["tenant"]["status"] == "suspended"
            rows = {f["table"]: f["rows"] for f in manifest["files"]}
        assert {t: rows[f"{tenant.schema}.{t}"] for t in tables} == stored
        [event] = await tenant_audit(engine, tenant, "tenant.exported")
        assert event["actor_id"] == me.json()["id"]

        # Other staff may log in and see why, but only an administrator exports.
        finance_login = await http.post(
            "/v1/auth/staff/login", json={"email": finance_email, "password": PASSWORD}, headers=host(tenant.slug)
        )
        finance = {**host(tenant.slug), "Authorization": f"Bearer {finance_login.json()['access_token']}"}
        assert (await http.get("/v1/tenant/status", headers=finance)).status_code == 200
        assert problem(await http.get("/v1/tenant/export", headers=finance)) == (403, "forbidden")
        assert problem(await http.get("/v1/tenant/export", headers=host(tenant.slug))) == (401, "missing_token")

        refreshed = await http.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=host(tenant.slug)
        )
        assert refreshed.status_code == 200, refreshed.text
        # A citizen's session is refused while suspended, without spending the refresh token.
        refused = await http.post("/v1/auth/refresh", json={"refresh_token": citizen.token}, headers=host(tenant.slug))
        assert problem(refused) == (403, "tenant_suspended")
        logout = await http.post(
            "/v1/auth/logout", json={"refresh_token": refreshed.json()["refresh_token"]}, headers=host(tenant.slug)
        )
        assert logout.status_code == 204

        # The operator API keeps working for a suspended tenant.
        detail = await http.get(f"/v1/tenants/{tenant.id}", headers=ops)
        assert (detail.json()["status"], detail.json()["status_reason"]) == ("suspended", reason)
        [archive_row] = detail.json()["archives"]
        assert (archive_row["reason"], archive_row["created_by"]) == ("request", f"staff:{me.json()['id']}")
        download = await http.get(f"/v1/tenants/{tenant.id}/archives/{archive_row['id']}", headers=ops)
        assert download.status_code == 200
        assert download.content == exported.content
        assert (await http.post(f"/v1/tenants/{tenant.id}/archives", headers=ops)).status_code == 202

        assert (await http.post(f"/v1/tenants/{tenant.id}/reactivate", headers=ops)).status_code == 200
        await refresh_catalog(http, engine)
        assert (await http.get("/v1/payments/bills", headers=admin(tenant, *ALL_ROLES))).status_code == 200
        again = await http.post("/v1/auth/refresh", json={"refresh_token": citizen.token}, headers=host(tenant.slug))
        assert again.status_code == 200, again.text
        status = await http.get("/v1/tenant/status", headers=finance)
        assert (status.json()["status"], status.json()["reason"]) == ("active", None)
    assert await counts() == stored


async def test_export_is_rate_limited(engine: AsyncEngine, client_for: ClientFactory) -> None:
    from localgov.platform.lifecycle_views import EXPORTS_PER_HOUR

    tenant = await make_tenant(engine)
    headers = admin(tenant)
    async with client_for(plugins=PLUGINS, listen=False) as http:
        for _ in range(EXPORTS_PER_HOUR):
            assert (await http.get("/v1/tenant/export", headers=headers)).status_code == 200
        limited = await http.get("/v1/tenant/export", headers=headers)
        assert problem(limited) == (429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0


# --- 3. the LAO's administrators --------------------------------------------------------------------


async def test_admin_edits_the_public_contact_details(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, phone="053-000-111")
    headers = admin(tenant)
    async with client_for(plugins=PLUGINS, listen=False) as http:
        changed = await http.patch(
            "/v1/tenant/contact",
            json={
                "address_th": "199 หมู่ 3 ตำบลแม่เหียะ\nอำเภอเมืองเชียงใหม่",
                "email": "saraban@maehia.go.th",
                "website": "https://www.maehia.go.th/",
                "office_hours_th": "จันทร์–ศุกร์ 08:30–16:30 น.",
            },
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["phone"] == "053-000-111"  # left out: unchanged
        public = (await http.get("/v1/tenant", headers=host(tenant.slug))).json()["contact"]
        assert public == {
            "address_th": "199 หมู่ 3 ตำบลแม่เหียะ\nอำเภอเมืองเชียงใหม่",
            "phone": "053-000-111",
            "email": "saraban@maehia.go.th",
            "website": "https://www.maehia.go.th/",
            "office_hours_th": "จันทร์–ศุกร์ 08:30–16:30 น.",
        }
        cleared = await http.patch(
            "/v1/tenant/contact", json={"website": None, "phone": "+66 53 000 222"}, headers=headers
        )
        assert (cleared.json()["website"], cleared.json()["phone"]) == (None, "+66 53 000 222")

        for payload, field in (
            ({"phone": "call us"}, "phone"),
            ({"email": "not-an-address"}, "email"),
            ({"website": "javascript:alert(1)"}, "website"),
            ({"website": "https://user:pw@example.go.th"}, "website"),
            ({"website": "https://bad host.example"}, "website"),
            ({"office_hours_th": "   "}, "office_hours_th"),
            ({"office_hours_th": "แปด\nโมง"}, "office_hours_th"),
        ):
            refused = await http.patch("/v1/tenant/contact", json=payload, headers=headers)
            assert problem(refused) == (400, "invalid_profile"), payload
            assert [e["key"] for e in refused.json()["errors"]] == [field]
        for payload in ({"fax": "02"}, {"phone": 5}, {"address_th": "x" * 501}, []):
            assert problem(await http.patch("/v1/tenant/contact", json=payload, headers=headers)) == (
                400,
                "validation_error",
            ), payload
        assert problem(await http.patch("/v1/tenant/contact", json={}, headers=admin(tenant, "payments.finance"))) == (
            403,
            "forbidden",
        )
        after = (await http.get("/v1/tenant", headers=host(tenant.slug))).json()["contact"]
        assert (after["website"], after["phone"]) == (None, "+66 53 000 222")
    events = await tenant_audit(engine, tenant, "profile.updated")
    assert [sorted(e["data"]["changed"]) for e in events] == [
        ["address_th", "email", "office_hours_th", "website"],
        ["phone", "website"],
    ]


async def test_admin_enables_services_within_the_plan(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    plan = f"test-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO platform.plans (code, name_th, name_en, services)"
                " VALUES (:c, 'ทดสอบ', 'Test', ARRAY['demo', 'landtax'])"
            ),
            {"c": plan},
        )
        await conn.execute(
            text("UPDATE platform.tenants SET plan_code = :c WHERE id = :i"), {"c": plan, "i": tenant.id}
        )
    headers = admin(tenant)
    async with client_for(plugins=PLUGINS, listen=False) as http:
        listed = await http.get("/v1/tenant/services", headers=headers)
        assert listed.status_code == 200, listed.text
        assert listed.json()["plan"]["code"] == plan
        # Only registered services are listed ("landtax" is in the plan but no plugin has that slug).
        # Every registered service is listed; the plan names only "demo" of them.
        assert {s["slug"]: (s["in_plan"], s["enabled"]) for s in listed.json()["items"]} == {
            p.slug: (p.slug == "demo", False) for p in PLUGINS
        }
        assert problem(await http.get("/v1/demo/whoami", headers=host(tenant.slug))) == (404, "service_not_enabled")

        for _ in range(2):  # idempotent
            enabled = await http.put("/v1/tenant/services/demo", headers=headers)
            assert enabled.status_code == 200, enabled.text
            assert {s["slug"]: s["enabled"] for s in enabled.json()["items"]}["demo"] is True
        await refresh_catalog(http, engine)
        assert (await http.get("/v1/demo/whoami", headers=host(tenant.slug))).status_code == 200

        not_in_plan = await http.put("/v1/tenant/services/payments", headers=headers)
        assert problem(not_in_plan) == (409, "service_not_in_plan")
        assert not_in_plan.json()["data"]["allowed"] == ["demo", "landtax"]
        assert problem(await http.put("/v1/tenant/services/landtax", headers=headers)) == (404, "unknown_service")
        assert problem(await http.put("/v1/tenant/services/nothing", headers=headers)) == (404, "unknown_service")
        assert problem(await http.put("/v1/tenant/services/demo", headers=admin(tenant, "demo.clerk"))) == (
            403,
            "forbidden",
        )

        disabled = await http.delete("/v1/tenant/services/demo", headers=headers)
        assert disabled.status_code == 200, disabled.text
        assert (await http.delete("/v1/tenant/services/payments", headers=headers)).status_code == 200
        await refresh_catalog(http, engine)
        assert problem(await http.get("/v1/demo/whoami", headers=host(tenant.slug))) == (404, "service_not_enabled")
    assert [e["target"] for e in await tenant_audit(engine, tenant, "service.enabled")] == ["service:demo"]
    assert [e["target"] for e in await tenant_audit(engine, tenant, "service.disabled")] == ["service:demo"]


async def _until(check: Any, limit_s: float = 3.0) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_admin_adds_and_removes_custom_domains_and_routing_follows(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    tenant = await make_tenant(engine)
    other = await make_tenant(engine, domains=[f"www.{uuid.uuid4().hex[:8]}.example"])
    domain = f"www.{tenant.slug}.go.th"
    headers = admin(tenant)
    dns = make_settings(database_url, dns_nameservers=dns_server.nameservers, dns_timeout_s=1.0)
    async with client_for(plugins=PLUGINS, settings_=dns) as http:  # the catalog follows by NOTIFY
        added = await http.put(f"/v1/tenant/domains/{domain}", headers=headers)
        assert added.status_code == 200, added.text
        [claim] = added.json()["claims"]
        assert (added.json()["domains"], claim["status"]) == ([], "pending")  # proven by DNS first
        dns_server.zone.set_txt(claim["challenge_record"], claim["challenge_value"])
        verified = await http.post(f"/v1/tenant/domains/{domain}/verify", headers=headers)
        assert verified.status_code == 200, verified.text
        assert verified.json()["platform_host"] == f"{tenant.slug}.{BASE}"
        assert verified.json()["domains"] == [domain]

        async def served() -> bool:
            response = await http.get("/v1/tenant", headers={"Host": domain})
            return response.status_code == 200 and response.json()["slug"] == tenant.slug

        await _until(served)
        assert (await http.put(f"/v1/tenant/domains/{domain}", headers=headers)).json()["domains"] == [domain]
        assert (await http.get("/v1/tenant/domains", headers=headers)).json()["domains"] == [domain]

        for bad in ("WWW.EXAMPLE.GO.TH", "localhost", f"x.{BASE}", BASE, "bad_name.example", "a..b", "127.0.0.1"):
            assert problem(await http.put(f"/v1/tenant/domains/{bad}", headers=headers)) == (400, "invalid_domain"), bad
        taken = await http.put(f"/v1/tenant/domains/{other.domains[0]}", headers=headers)
        assert problem(taken) == (409, "domain_taken")
        for n in range(MAX_DOMAINS - 1):
            assert (
                await http.put(f"/v1/tenant/domains/d{n}.{tenant.slug}.example", headers=headers)
            ).status_code == 200
        full = await http.put(f"/v1/tenant/domains/one-more.{tenant.slug}.example", headers=headers)
        assert problem(full) == (409, "too_many_domains")

        assert problem(await http.delete(f"/v1/tenant/domains/{other.domains[0]}", headers=headers)) == (
            404,
            "domain_not_found",
        )
        removed = await http.delete(f"/v1/tenant/domains/{domain}", headers=headers)
        assert removed.status_code == 200
        assert domain not in removed.json()["domains"]

        async def gone() -> bool:
            return (await http.get("/v1/tenant", headers={"Host": domain})).status_code == 404

        await _until(gone)
        # The other LAO still has its domain.
        assert (await http.get("/v1/tenant", headers={"Host": other.domains[0]})).json()["slug"] == other.slug
    assert len(await tenant_audit(engine, tenant, "domain.added")) == MAX_DOMAINS
    assert [e["target"] for e in await tenant_audit(engine, tenant, "domain.removed")] == [f"domain:{domain}"]


# --- 4. isolation and the role matrix of the tenant side -----------------------------------------------


async def test_isolation_and_role_matrix_of_tenant_routes(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    lao_a = await make_tenant(engine)
    lao_b = await make_tenant(engine)
    routes = [
        ("PATCH", "/v1/tenant/contact", {"phone": "053-111-222"}),
        ("GET", "/v1/tenant/services", None),
        ("PUT", "/v1/tenant/services/demo", None),
        ("DELETE", "/v1/tenant/services/demo", None),
        ("GET", "/v1/tenant/domains", None),
        ("PUT", "/v1/tenant/domains/www.isolation.example", None),
        ("DELETE", "/v1/tenant/domains/www.isolation.example", None),
        ("POST", "/v1/tenant/domains/www.isolation.example/verify", None),
        ("GET", "/v1/tenant/export", None),
    ]
    async with client_for(plugins=PLUGINS, listen=False) as http:
        for method, path, payload in routes:
            # LAO A's administrator at LAO B's host: the token is not for this host.
            a_on_b = {**host(lao_b.slug), **bearer(lao_a, roles=["tenant_admin"])}
            assert problem(await http.request(method, path, json=payload, headers=a_on_b))[0] == 401, path
            for principal in (
                bearer(lao_b, roles=["payments.finance", "demo.clerk"]),
                bearer(lao_b, kind="citizen"),
                bearer(lao_b, kind="client", scopes=["payments.read", "payments.write", "demo.write"]),
            ):
                forbidden = await http.request(method, path, json=payload, headers={**host(lao_b.slug), **principal})
                assert problem(forbidden) == (403, "forbidden"), path
            operator_token = {**operator_headers(), **host(lao_b.slug)}
            assert problem(await http.request(method, path, json=payload, headers=operator_token))[0] == 401
            # Tenant routes are not served on the operator host.
            assert (await http.request(method, path, json=payload, headers=operator_headers())).status_code == 404
        assert (
            await http.get("/v1/tenant/status", headers={**host(lao_b.slug), **bearer(lao_b, kind="citizen")})
        ).status_code == 403

        # An archive id of another tenant is not found under this one.
        ops = operator_headers()
        exported = await http.get("/v1/tenant/export", headers=admin(lao_a))
        assert exported.status_code == 200
        [archive] = (await http.get(f"/v1/tenants/{lao_a.id}", headers=ops)).json()["archives"]
        assert (await http.get(f"/v1/tenants/{lao_a.id}/archives/{archive['id']}", headers=ops)).status_code == 200
        wrong = await http.get(f"/v1/tenants/{lao_b.id}/archives/{archive['id']}", headers=ops)
        assert problem(wrong) == (404, "archive_not_found")
        # A recorded archive whose file is gone is a problem too, not a 500.
        (settings.export_path / archive["file_name"]).unlink()
        missing = await http.get(f"/v1/tenants/{lao_a.id}/archives/{archive['id']}", headers=ops)
        assert problem(missing) == (404, "archive_not_found")
    async with engine.connect() as conn:
        phones = (await conn.execute(text(f'SELECT phone FROM "{lao_b.schema}".profile'))).scalars().all()
    assert phones != ["053-111-222"]


async def test_sync_leaves_the_operators_status_alone(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    spec = TenantSpec(dla_code=tenant.dla_code, slug=tenant.slug, name_en=tenant.name_en)
    async with client_for(plugins=PLUGINS, listen=False) as http:
        response = await http.post(f"/v1/tenants/{tenant.id}/suspend", json={"reason": "r"}, headers=operator_headers())
        assert response.status_code == 200
    report = await sync_tenants(engine, [spec])
    assert report.unchanged == [tenant.slug]
    async with engine.connect() as conn:
        status = (
            await conn.execute(text("SELECT status FROM platform.tenants WHERE id = :i"), {"i": tenant.id})
        ).scalar()
    assert status == "suspended"
    # Without an operator's decision the file still sets the status.
    fresh = await make_tenant(engine)
    closed_spec = TenantSpec(dla_code=fresh.dla_code, slug=fresh.slug, name_en=fresh.name_en, status="suspended")
    assert (await sync_tenants(engine, [closed_spec])).updated == [fresh.slug]
