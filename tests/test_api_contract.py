"""Issue 21, "one contract, held by tests": each finding of the integrator's review has a test here.

The OpenAPI document per surface, its security, strict request bodies, decimal patterns, tags and
names; one pagination style; Idempotency-Key on creates; ETag / If-Match on updates; rate-limit
headers and Retry-After; one field-error shape and a documented `type` per problem code; CORS per
LAO; OPTIONS; the interactive reference served from the package. Every example: tests/test_api_examples.py.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.staff import CORE_ROLES
from localgov.kernel.openapi import GENERATOR_RESERVED
from localgov.kernel.problems import problems_markdown
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

METHODS = ("get", "post", "put", "patch", "delete")
#: Request bodies that accept unknown members on purpose: RFC 6749 says a token endpoint ignores
#: parameters it does not know, and a bank's notification may carry fields of its own.
OPEN_BY_DESIGN = {"TokenRequest", "BankNotification"}
ALL_ROLES = sorted({r.code for p in REGISTRY for r in p.roles} | {r.code for r in CORE_ROLES})
SERVICES = [p.slug for p in REGISTRY]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, item in document["paths"].items() for m, op in item.items() if m in METHODS]


async def documents(client: httpx.AsyncClient, slug: str) -> dict[str, dict[str, Any]]:
    tenant_doc = (await client.get("/schema/openapi.json", headers=host(slug))).json()
    operator_doc = (await client.get("/schema/openapi.json", headers={"Host": BASE})).json()
    return {"tenant": tenant_doc, "operator": operator_doc}


async def test_each_surface_documents_only_its_operations(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        docs = await documents(client, tenant.slug)
        with_port = (await client.get("/schema/openapi.json", headers={"Host": f"{tenant.slug}.{BASE}:8443"})).json()
        tenant_ids = {op["operationId"] for _, _, op in operations(docs["tenant"])}
        operator_ids = {op["operationId"] for _, _, op in operations(docs["operator"])}
        assert {"getTenantProfile", "createBill", "listPayers", "getLiveness"} <= tenant_ids
        assert not {"listTenants", "listSignupRequests", "runInvoices"} & tenant_ids
        assert {"listTenants", "listSignupRequests", "runInvoices", "getLiveness"} <= operator_ids
        assert not {"getTenantProfile", "createBill"} & operator_ids
        # `servers` is the host asked, with its port: "try it" and generated clients call that host.
        assert docs["operator"]["servers"] == [{"url": f"http://{BASE}", "description": "This host"}]
        assert with_port["servers"][0]["url"] == f"http://{tenant.slug}.{BASE}:8443"
        # Each operation the tenant document lists is served on a tenant host (not a 404 of the surface).
        for path, method, _ in operations(docs["operator"]):
            if "{" in path or method != "get":
                continue
            response = await client.get(path, headers=host(tenant.slug))
            if path.startswith(("/health", "/problems", "/.well-known", "/metrics")):
                continue
            assert response.status_code == 404, path


async def test_security_is_one_bearer_scheme_with_scope_alternatives(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        docs = await documents(client, tenant.slug)
    for document in docs.values():
        assert set(document["components"]["securitySchemes"]) == {"bearer"}
        for path, method, op in operations(document):
            for requirement in op.get("security", []):
                # One scheme per requirement object: alternatives, never "bearer AND oauth2".
                assert list(requirement) == ["bearer"], (method, path)
                assert len(requirement["bearer"]) <= 1, (method, path)
    get_bill = docs["tenant"]["paths"]["/v1/payments/bills/{bill_id}"]["get"]
    assert {"bearer": ["payments.read"]} in get_bill["security"]
    assert {"bearer": ["payments.write"]} in get_bill["security"]
    assert get_bill["x-localgov-access"]


async def test_the_document_is_strict_and_generator_safe(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        docs = await documents(client, tenant.slug)
    for surface, document in docs.items():
        schemas = document["components"]["schemas"]
        assert not GENERATOR_RESERVED & set(schemas), surface
        assert not [name for name in schemas if "_" in name], surface  # no module-path names
        declared = {t["name"]: t.get("description") for t in document["tags"]}
        for path, method, op in operations(document):
            for tag in op.get("tags", []):
                assert declared.get(tag) not in (None, "", tag), (surface, method, path, tag)
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            ref = re.search(r"#/components/schemas/([^\"']+)", str(body["schema"]))
            if ref is not None and ref.group(1) not in OPEN_BY_DESIGN:
                assert schemas[ref.group(1)].get("additionalProperties") is False, (method, path)
    tenant_schemas = docs["tenant"]["components"]["schemas"]
    assert tenant_schemas["PayerCreate"]["additionalProperties"] is False
    total = tenant_schemas["BillRead"]["properties"]["total"]
    assert total["type"] == "string"
    assert re.fullmatch(total["pattern"], "1250.50")
    assert not re.fullmatch(total["pattern"], "1e3")
    assert "ApiClientRead" in tenant_schemas


async def test_every_list_pages_by_opaque_cursor(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        docs = await documents(client, tenant.slug)
    for document in docs.values():
        for path, method, op in operations(document):
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            assert not names & {"offset", "after", "after_id", "before_id"}, (method, path, names)
            if "limit" in names:
                assert "cursor" in names, (method, path)


async def test_payers_by_cursor_idempotent_create_and_if_match(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    staff = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    async with client_for(plugins=REGISTRY) as client:
        body = {"name": "นายทดสอบ หนึ่ง", "kind": "person"}
        first = await client.post("/v1/payments/payers", json=body, headers={**staff, "Idempotency-Key": "payer-1"})
        again = await client.post("/v1/payments/payers", json=body, headers={**staff, "Idempotency-Key": "payer-1"})
        assert first.status_code == again.status_code == 201, first.text
        assert first.json()["id"] == again.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        for name in ("นายทดสอบ สอง", "นายทดสอบ สาม"):
            assert (await client.post("/v1/payments/payers", json={"name": name}, headers=staff)).status_code == 201
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
            page = (await client.get("/v1/payments/payers", params=params, headers=staff)).json()
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 3
        bad_cursor = await client.get("/v1/payments/payers", params={"cursor": "bm90LWpzb24"}, headers=staff)
        assert bad_cursor.status_code == 404
        assert bad_cursor.json()["code"] == "invalid_cursor"

        payer = f"/v1/payments/payers/{first.json()['id']}"
        read = await client.get(payer, headers=staff)
        etag = read.headers["etag"]
        assert (await client.get(payer, headers={**staff, "If-None-Match": etag})).status_code == 304
        stale = await client.patch(payer, json={"phone": "0811111111"}, headers={**staff, "If-Match": '"bogus"'})
        assert stale.status_code == 412
        assert stale.json()["code"] == "etag_mismatch"
        assert stale.json()["data"]["current_etag"] == etag
        assert (await client.get(payer, headers=staff)).json()["phone"] is None  # not applied
        applied = await client.patch(payer, json={"phone": "0811111111"}, headers={**staff, "If-Match": etag})
        assert applied.status_code == 200
        assert applied.headers["etag"] != etag
        assert applied.headers["etag"] == (await client.get(payer, headers=staff)).headers["etag"]
        lost = await client.patch(payer, json={"phone": "0822222222"}, headers={**staff, "If-Match": etag})
        assert lost.status_code == 412


async def test_rate_limit_headers_and_retry_after(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    tight = make_settings(settings.database_url, login_rate_limit=2, login_rate_window_s=60)
    body = {"email": "nobody@example.go.th", "password": "wrong password, long enough"}
    async with client_for(settings_=tight) as client:
        first = await client.post("/v1/auth/staff/login", json=body, headers=host(tenant.slug))
        assert first.status_code == 401
        assert first.headers["ratelimit-policy"] == '"login";q=2;w=60'
        assert re.fullmatch(r'"login";r=1;t=[0-9]+', first.headers["ratelimit"])
        await client.post("/v1/auth/staff/login", json=body, headers=host(tenant.slug))
        refused = await client.post("/v1/auth/staff/login", json=body, headers=host(tenant.slug))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert re.fullmatch(r'"login";r=0;t=[0-9]+', refused.headers["ratelimit"])


async def test_503_carries_retry_after(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE platform.tenants SET schema_revision = '0000' WHERE id = :i"), {"i": tenant.id}
            )
        try:
            not_ready = await client.get("/health/ready")
        finally:
            from localgov.platform.migrate import tenant_head

            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE platform.tenants SET schema_revision = :r WHERE id = :i"),
                    {"r": tenant_head(), "i": tenant.id},
                )
    assert not_ready.status_code == 503
    assert int(not_ready.headers["retry-after"]) >= 1


async def test_problems_have_a_documented_type_and_one_field_error_shape(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        missing = await client.get(
            f"/v1/units/{uuid.uuid4()}", headers={**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
        )
        assert missing.status_code == 404
        assert missing.json()["type"] == f"https://{BASE}/problems/{missing.json()['code']}"
        page = await client.get(f"/problems/{missing.json()['code']}", headers=host(tenant.slug))
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        listed = (await client.get("/problems", headers={"Host": BASE})).json()["items"]
        assert {"not_found", "validation_error", "etag_mismatch", "invalid_cursor"} <= {p["code"] for p in listed}
        assert (await client.get("/problems/no_such_code", headers={"Host": BASE})).status_code == 404
        invalid = await client.post(
            "/v1/demo/pings",
            json={"message": ""},
            headers={**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"]), "Idempotency-Key": "k"},
        )
        assert invalid.status_code == 400
        for error in invalid.json()["errors"]:
            assert set(error) <= {"key", "message", "source", "code", "line", "message_th"}
            assert {"key", "message", "source"} <= set(error)
        admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
        origins = await client.put(
            "/v1/tenant/cors", json={"origins": ["ftp://x", "https://ok.example"]}, headers=admin
        )
        assert origins.status_code == 400
        assert origins.json()["code"] == "invalid_origin"
        assert origins.json()["errors"] == [
            {
                "key": "origins[0]",
                "message": origins.json()["errors"][0]["message"],
                "source": "body",
                "code": "invalid_origin",
            }
        ]
    assert (Path(__file__).parent.parent / "docs" / "problems.md").read_text(encoding="utf-8") == problems_markdown(), (
        "docs/problems.md is stale: python scripts/problems_doc.py"
    )


async def test_cors_per_lao_and_options(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    other = await make_tenant(engine, services=["payments"])
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
    app_origin = "https://app.example.org"
    preflight = {"Origin": app_origin, "Access-Control-Request-Method": "PATCH"}
    async with client_for(plugins=REGISTRY) as client:
        before = await client.options("/v1/payments/payers", headers={**host(tenant.slug), **preflight})
        assert before.status_code == 204
        assert "access-control-allow-origin" not in before.headers
        current = await client.get("/v1/tenant/cors", headers=admin)
        assert current.json() == {"origins": []}
        stale = await client.put(
            "/v1/tenant/cors", json={"origins": [app_origin]}, headers={**admin, "If-Match": '"x"'}
        )
        assert stale.status_code == 412
        saved = await client.put(
            "/v1/tenant/cors",
            json={"origins": [app_origin, app_origin.upper()]},
            headers={**admin, "If-Match": current.headers["etag"]},
        )
        assert saved.status_code == 200
        assert saved.json() == {"origins": [app_origin]}
    # A process started now has the change in its catalog (running ones follow the NOTIFY).
    async with client_for(plugins=REGISTRY, listen=False) as client:
        answer = await client.options(f"/v1/payments/payers/{uuid.uuid4()}", headers={**host(tenant.slug), **preflight})
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == app_origin
        assert {"GET", "PATCH", "DELETE", "OPTIONS"} <= set(answer.headers["access-control-allow-methods"].split(", "))
        assert "If-Match" in answer.headers["access-control-allow-headers"]
        # OPTIONS names every method of the path, whichever handler serves it.
        assert set(answer.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE", "OPTIONS"}
        simple = await client.get("/v1/tenant", headers={**host(tenant.slug), "Origin": app_origin})
        assert simple.headers["access-control-allow-origin"] == app_origin
        assert "ETag" in simple.headers["access-control-expose-headers"]
        foreign = await client.get("/v1/tenant", headers={**host(tenant.slug), "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers
        elsewhere = await client.get("/v1/tenant", headers={**host(other.slug), "Origin": app_origin})
        assert "access-control-allow-origin" not in elsewhere.headers  # another LAO did not allow it


async def test_options_lists_every_method_of_each_path(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        document = (await client.get("/schema/openapi.json", headers=host(tenant.slug))).json()
        for path, item in document["paths"].items():
            url = (
                re.sub(r"\{[^}]+\}", "2026", path)
                if "year" in path
                else re.sub(r"\{[^}]+\}", str(uuid.UUID(int=1)), path)
            )
            documented = {m.upper() for m in item if m in METHODS} | {"OPTIONS"}
            response = await client.options(url, headers=host(tenant.slug))
            if response.status_code == 404:
                continue  # a path parameter of another type (a code, a day): covered by the paths that match
            assert response.status_code == 204, (path, response.status_code)
            assert documented <= set(response.headers["allow"].split(", ")), (path, response.headers["allow"])


async def test_reference_page_is_served_from_the_package(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        for headers in (host(tenant.slug), {"Host": BASE}):
            page = await client.get("/reference", headers=headers)
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert "http" not in csp
            assert "<script>" not in page.text  # no inline script
            for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
                assert src.startswith("/reference/assets/"), src
                asset = await client.get(src, headers=headers)
                assert asset.status_code == 200, src
                assert len(asset.content) > 100
        bundle = await client.get("/reference/assets/swagger-ui-bundle.js", headers={"Host": BASE})
        assert b"SwaggerUIBundle" in bundle.content
        licence = await client.get("/reference/assets/LICENSE", headers={"Host": BASE})
        assert "Apache License" in licence.text


@pytest.mark.parametrize("plugin", [DEMO], ids=lambda p: p.slug)
def test_kernel_tags_are_declared_by_plugins(plugin: Any) -> None:
    for registered in REGISTRY:
        assert registered.tags, f"{registered.slug} declares the OpenAPI tags its routes use"


async def test_if_match_holds_on_every_update(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """An update without its own check (a unit, the payment settings) is refused with a stale tag too."""
    tenant = await make_tenant(engine, services=["payments"])
    admin = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    async with client_for(plugins=REGISTRY) as client:
        unit = await client.post(
            "/v1/units", json={"code": "ADM", "name_th": "สำนักปลัด", "kind": "secretary_office"}, headers=admin
        )
        assert unit.status_code == 201, unit.text
        path = f"/v1/units/{unit.json()['id']}"
        etag = (await client.get(path, headers=admin)).headers["etag"]
        stale = await client.patch(path, json={"name_th": "สำนักปลัดฯ"}, headers={**admin, "If-Match": '"old"'})
        assert stale.status_code == 412
        assert stale.json()["data"]["current_etag"] == etag
        fresh = await client.patch(path, json={"name_th": "สำนักปลัดฯ"}, headers={**admin, "If-Match": etag})
        assert fresh.status_code == 200, fresh.text
        settings = await client.get("/v1/payments/settings", headers=admin)
        body = {k: v for k, v in settings.json().items() if k in ("biller_id",)}
        refused = await client.put("/v1/payments/settings", json=body, headers={**admin, "If-Match": '"old"'})
        assert refused.status_code == 412
        # No current representation to match (a role grant has no GET): 412 as RFC 9110 says.
        staff_id = uuid.uuid4()
        grant = await client.put(f"/v1/staff/{staff_id}/roles/payments.finance", headers={**admin, "If-Match": '"x"'})
        assert grant.status_code == 412


async def test_idempotency_key_on_every_create(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """A create whose handler does not take the key (a unit) honours it through the middleware."""
    tenant = await make_tenant(engine)
    admin = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    body = {"code": "FIN", "name_th": "กองคลัง", "kind": "division"}
    async with client_for(plugins=REGISTRY) as client:
        first = await client.post("/v1/units", json=body, headers={**admin, "Idempotency-Key": "unit-1"})
        again = await client.post("/v1/units", json=body, headers={**admin, "Idempotency-Key": "unit-1"})
        assert first.status_code == 201, first.text
        assert again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        other = await client.post(
            "/v1/units", json={**body, "code": "ENG"}, headers={**admin, "Idempotency-Key": "unit-1"}
        )
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        units = (await client.get("/v1/units", headers=admin)).json()["items"]
        assert [u["code"] for u in units].count("fin") == 1
        bad_key = await client.post("/v1/units", json=body, headers={**admin, "Idempotency-Key": "has space"})
        assert bad_key.status_code == 400


async def test_a_date_out_of_range_is_the_callers_input(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """Found by schemathesis: a report from year 1 overflowed into a 500."""
    tenant = await make_tenant(engine, services=["oss"])
    staff = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    async with client_for(plugins=REGISTRY) as client:
        for report in ("sla-compliance", "time-per-step", "sla-compliance.csv", "time-per-step.csv"):
            response = await client.get(
                f"/v1/oss/reports/{report}", params={"date_from": "0001-01-01", "date_to": "0001-01-01"}, headers=staff
            )
            assert response.status_code == 400, (report, response.text)
            assert response.json()["code"] == "invalid_input"


async def test_a_form_without_a_file_is_refused_not_a_500(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """Found by schemathesis: a multipart body with no file part made Litestar's extractor fail (500)."""
    tenant = await make_tenant(engine, services=["permits"])
    staff = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    boundary = "f451ad4e60417725173403a48f4c9dfc"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\nnull\r\n--{boundary}--\r\n'.encode()
    async with client_for(plugins=REGISTRY) as client:
        response = await client.post(
            f"/v1/permits/applications/{uuid.uuid4()}/files",
            params={"document": "a0"},
            content=body,
            headers={**staff, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error", response.text
