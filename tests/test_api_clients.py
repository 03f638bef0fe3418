"""Integrators' API clients: administration, the client-credentials token endpoint, isolation."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from joserfc import jwt
from litestar import Router, get
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.identity import clients as clients_module
from localgov.kernel.auth.guards import AUTH_OPT, client, guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.plugins import Scope, ServicePlugin
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.paging import walk_pages
from tests.support.tokens import TEST_KEY, bearer


@get(
    "/report",
    operation_id="extraReport",
    tags=["Demo"],
    responses=problem_responses(401, 403, 404),
    **guarded(client("extra.read")),
)
async def extra_report() -> dict[str, str]:
    return {"report": "ok"}


#: A second test plugin, so that a client can hold scopes of two services and ask for a subset.
EXTRA = ServicePlugin(
    slug="extra",
    title_th="บริการทดสอบเพิ่มเติม",
    title_en="Extra test service",
    router=Router(path="/v1/extra", route_handlers=[extra_report]),
    scopes=(
        Scope(code="extra.read", title_th="อ่านรายงาน", title_en="Read reports"),
        Scope(code="extra.write", title_th="เขียนรายงาน", title_en="Write reports"),
    ),
)
PLUGINS = (DEMO, EXTRA)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Every test here but the rate-limit one makes more token requests than the default limit."""
    return make_settings(database_url, login_rate_limit=1000)


def admin(tenant: TenantInfo) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def register(http: httpx.AsyncClient, tenant: TenantInfo, *scopes: str, name: str = "ERP") -> dict[str, Any]:
    response = await http.post("/v1/api-clients", json={"name": name, "scopes": list(scopes)}, headers=admin(tenant))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def token(
    http: httpx.AsyncClient, tenant: TenantInfo, client_id: str, secret: str, /, **form: str
) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers={**host(tenant.slug), **basic(client_id, secret)},
    )


async def ping(http: httpx.AsyncClient, tenant: TenantInfo, access_token: str, key: str) -> httpx.Response:
    return await http.post(
        "/v1/demo/pings",
        json={"message": "from an integrator"},
        headers={**host(tenant.slug), "Authorization": f"Bearer {access_token}", "Idempotency-Key": key},
    )


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2 inside RFC 9457: both vocabularies in one body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["code"] == error
    assert body["status"] == status
    assert body["error_description"]
    if error == "invalid_client":
        assert response.headers["www-authenticate"].startswith("Basic ")
    return body


async def audit_actions(engine: AsyncEngine, tenant: TenantInfo) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT action, actor_kind, actor_id, target, host(source_ip) AS ip, request_id, data"
                f" FROM {tenant.schema}.audit_events ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in rows]


async def test_client_lifecycle(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    elsewhere = await make_tenant(engine, services=["demo"])
    async with client_for(plugins=PLUGINS) as http:
        created = await http.post(
            "/v1/api-clients", json={"name": " ERP of the LAO ", "scopes": ["demo.write"]}, headers=admin(tenant)
        )
        assert created.status_code == 201, created.text
        assert created.headers["cache-control"] == "no-store"
        body = created.json()
        client_id, secret = body["client_id"], body["client_secret"]
        assert body["name"] == "ERP of the LAO"
        assert body["scopes"] == ["demo.write"]
        assert body["status"] == "active"
        assert client_id.startswith("lgc_")
        assert len(client_id) >= 26
        assert secret.startswith("lgs_")
        assert len(secret) >= 46
        other = await register(http, tenant, "demo.write", name="GIS")
        assert other["client_id"] != client_id
        assert other["client_secret"] != secret

        # The secret is shown once: neither the list nor the client shows it, the database holds argon2id.
        listed = await http.get("/v1/api-clients", headers=admin(tenant))
        assert listed.status_code == 200
        assert [c["client_id"] for c in listed.json()["items"]] == [client_id, other["client_id"]]
        walked = await walk_pages(http, "/v1/api-clients", admin(tenant), key="client_id")
        assert [c["client_id"] for c in walked] == [client_id, other["client_id"]]
        assert (await http.get("/v1/api-clients", headers=admin(elsewhere))).json()["items"] == []
        shown = await http.get(f"/v1/api-clients/{client_id}", headers=admin(tenant))
        assert shown.status_code == 200
        assert "client_secret" not in shown.json()
        assert secret not in listed.text + shown.text
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    text(f"SELECT secret_hash FROM {tenant.schema}.api_clients WHERE client_id = :c"),
                    {"c": client_id},
                )
            ).scalar_one()
        assert stored.startswith("$argon2id$")
        assert secret not in stored

        issued = await token(http, tenant, client_id, secret)
        assert issued.status_code == 200, issued.text
        assert issued.headers["cache-control"] == "no-store"
        grant = issued.json()
        assert grant["token_type"] == "Bearer"
        assert grant["expires_in"] == 300
        assert grant["scope"] == "demo.write"
        claims = jwt.decode(grant["access_token"], TEST_KEY).claims
        assert claims["lgv_kind"] == "client"
        assert claims["sub"] == claims["client_id"] == client_id
        assert claims["aud"] == f"urn:localgov:lao:{tenant.dla_code}"
        first_token = grant["access_token"]
        assert (await ping(http, tenant, first_token, "1")).status_code == 201

        rotated = await http.post(f"/v1/api-clients/{client_id}/rotate-secret", headers=admin(tenant))
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        new_secret = rotated.json()["client_secret"]
        assert new_secret != secret
        assert rotated.json()["rotated_at"] is not None
        assert_oauth_error(await token(http, tenant, client_id, secret), 401, "invalid_client")
        fresh = await token(http, tenant, client_id, new_secret)
        assert fresh.status_code == 200, fresh.text
        assert (await ping(http, tenant, fresh.json()["access_token"], "2")).status_code == 201
        # Tokens are verified locally: one issued before the rotation lives until it expires.
        assert (await ping(http, tenant, first_token, "3")).status_code == 201

        disabled = await http.post(f"/v1/api-clients/{client_id}/disable", headers=admin(tenant))
        assert disabled.status_code == 200
        assert disabled.json()["status"] == "disabled"
        assert_oauth_error(await token(http, tenant, client_id, new_secret), 401, "invalid_client")
        again = await http.post(f"/v1/api-clients/{client_id}/disable", headers=admin(tenant))
        assert again.status_code == 200
        cannot_rotate = await http.post(f"/v1/api-clients/{client_id}/rotate-secret", headers=admin(tenant))
        assert cannot_rotate.status_code == 409
        assert cannot_rotate.json()["code"] == "api_client_disabled"
        # The other client is untouched.
        assert (await token(http, tenant, other["client_id"], other["client_secret"])).status_code == 200
        missing = await http.get("/v1/api-clients/lgc_nobody", headers=admin(tenant))
        assert missing.status_code == 404
        assert missing.json()["code"] == "api_client_not_found"

    events = await audit_actions(engine, tenant)
    mine = [e for e in events if e["target"] == client_id]
    assert [e["action"] for e in mine] == [
        "api_client.created",
        "token.issued",
        "api_client.rotated",
        "token.refused",
        "token.issued",
        "api_client.disabled",
        "token.refused",
    ]
    assert mine[0]["actor_kind"] == "staff"
    assert mine[0]["data"] == {"name": "ERP of the LAO", "scopes": ["demo.write"]}
    assert mine[1]["actor_kind"] == "client"
    assert mine[1]["actor_id"] == client_id
    assert mine[1]["data"]["scopes"] == ["demo.write"]
    assert [e["data"]["reason"] for e in mine if e["action"] == "token.refused"] == ["wrong_secret", "disabled"]
    assert all(e["ip"] == "127.0.0.1" and e["request_id"] for e in mine)
    assert all(secret not in str(e) and new_secret not in str(e) for e in events)


async def test_client_secret_basic_and_client_secret_post(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    on_tenant = host(tenant.slug)
    async with client_for(plugins=PLUGINS) as http:
        c = await register(http, tenant, "demo.write")
        cid, secret = c["client_id"], c["client_secret"]
        by_post = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
            headers=on_tenant,
        )
        assert by_post.status_code == 200, by_post.text
        assert (await ping(http, tenant, by_post.json()["access_token"], "post")).status_code == 201
        by_basic = await token(http, tenant, cid, secret)
        assert by_basic.status_code == 200
        # RFC 6749 §2.3.1: the Basic user and password are form-urlencoded first.
        encoded = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={**on_tenant, **basic(cid.replace("_", "%5F"), secret.replace("_", "%5F"))},
        )
        assert encoded.status_code == 200, encoded.text
        # With the client id repeated in the body (harmless), Basic still authenticates.
        assert (await token(http, tenant, cid, secret, client_id=cid)).status_code == 200

        both = await token(http, tenant, cid, secret, client_secret=secret)
        assert_oauth_error(both, 400, "invalid_request")
        for headers, form in [
            ({}, {}),  # no credentials at all
            ({}, {"client_id": cid}),  # a public client: there are none
            ({"Authorization": "Basic !!!not-base64"}, {}),
            ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {}),
            (bearer(tenant, kind="client", scopes=["demo.write"]), {}),  # a bearer token is no client credential
            ({}, {"client_id": cid, "client_secret": secret + "x"}),
            ({}, {"client_id": "lgc_" + "x" * 200, "client_secret": secret}),
        ]:
            refused = await http.post(
                "/oauth/token", data={"grant_type": "client_credentials", **form}, headers={**on_tenant, **headers}
            )
            assert_oauth_error(refused, 401, "invalid_client")


async def test_grant_type_and_scope_rules(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo", "extra"])
    async with client_for(plugins=PLUGINS) as http:
        c = await register(http, tenant, "demo.write", "extra.read")
        cid, secret = c["client_id"], c["client_secret"]
        everything = await token(http, tenant, cid, secret)
        assert everything.json()["scope"] == "demo.write extra.read"

        subset = await token(http, tenant, cid, secret, scope="extra.read")
        assert subset.status_code == 200
        assert subset.json()["scope"] == "extra.read"
        reader = subset.json()["access_token"]
        report = await http.get("/v1/extra/report", headers={**host(tenant.slug), "Authorization": f"Bearer {reader}"})
        assert report.status_code == 200, report.text
        assert (await ping(http, tenant, reader, "subset")).status_code == 403  # demo.write was not asked for

        assert_oauth_error(await token(http, tenant, cid, secret, scope="extra.write"), 400, "invalid_scope")
        assert_oauth_error(await token(http, tenant, cid, secret, scope="extra.read admin"), 400, "invalid_scope")
        assert_oauth_error(await token(http, tenant, cid, secret, grant_type="password"), 400, "unsupported_grant_type")
        no_grant = await http.post("/oauth/token", data={}, headers={**host(tenant.slug), **basic(cid, secret)})
        assert_oauth_error(no_grant, 400, "invalid_request")
        twice = await http.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&grant_type=client_credentials",
            headers={
                **host(tenant.slug),
                **basic(cid, secret),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert_oauth_error(twice, 400, "invalid_request")

        # Registration: only scopes of the services this LAO has enabled.
        for scopes, unknown in ([["nope.read"], ["nope.read"]], [["demo.write", "other.x"], ["other.x"]]):
            refused = await http.post("/v1/api-clients", json={"name": "x", "scopes": scopes}, headers=admin(tenant))
            assert refused.status_code == 422
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "unknown_scope"
            assert refused.json()["data"] == {
                "unknown": unknown,
                # The kernel's webhooks scope is offered whichever services are enabled.
                "available": ["demo.write", "extra.read", "extra.write", "webhooks.manage"],
            }
        for invalid in (
            {"name": "", "scopes": ["demo.write"]},
            {"name": "  ", "scopes": ["demo.write"]},
            {"name": "x", "scopes": []},
            {"name": "x", "scopes": [""]},
            {"name": "x", "scopes": ["Payments read"]},
        ):
            bad = await http.post("/v1/api-clients", json=invalid, headers=admin(tenant))
            assert bad.status_code == 400
            assert bad.json()["code"] == "validation_error"

    # The LAO turns the extra service off: its scopes can be neither granted nor asked for.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE platform.tenants SET enabled_services = ARRAY['demo'] WHERE id = :i"), {"i": tenant.id}
        )
    async with client_for(plugins=PLUGINS, listen=False) as http:
        narrowed = await token(http, tenant, cid, secret)
        assert narrowed.json()["scope"] == "demo.write"
        assert_oauth_error(await token(http, tenant, cid, secret, scope="extra.read"), 400, "invalid_scope")
        refused = await http.post(
            "/v1/api-clients", json={"name": "x", "scopes": ["extra.read"]}, headers=admin(tenant)
        )
        assert refused.json()["data"]["available"] == ["demo.write", "webhooks.manage"]
        metadata = (await http.get("/.well-known/oauth-authorization-server", headers=host(tenant.slug))).json()
    assert metadata["scopes_supported"] == ["demo.write", "webhooks.manage"]
    assert metadata["token_endpoint"] == f"https://{tenant.slug}.{BASE}/oauth/token"
    assert metadata["grant_types_supported"] == ["client_credentials", "authorization_code", "refresh_token"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert metadata["response_types_supported"] == ["code"]  # citizens' apps (tests/test_citizens_certified.py)
    assert metadata["authorization_endpoint"] == f"https://{tenant.slug}.{BASE}/oauth/authorize"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True


async def test_a_client_of_one_lao_is_nobody_elsewhere(engine: AsyncEngine, client_for: ClientFactory) -> None:
    a = await make_tenant(engine, services=["demo"])
    b = await make_tenant(engine, services=["demo"])
    async with client_for(plugins=PLUGINS) as http:
        c = await register(http, a, "demo.write")
        assert_oauth_error(await token(http, b, c["client_id"], c["client_secret"]), 401, "invalid_client")
        on_operator = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Host": BASE, **basic(c["client_id"], c["client_secret"])},
        )
        assert on_operator.status_code == 404  # no token endpoint on the operator host
        access = (await token(http, a, c["client_id"], c["client_secret"])).json()["access_token"]
        assert (await ping(http, a, access, "a")).status_code == 201
        on_b = await ping(http, b, access, "b")
        assert on_b.status_code == 401
        assert on_b.json()["code"] == "invalid_token"
        operator_host = await http.get("/v1/operator/me", headers={"Host": BASE, "Authorization": f"Bearer {access}"})
        assert operator_host.status_code == 401
        # B's administrators cannot see or manage A's client.
        for method, path in [
            ("GET", f"/v1/api-clients/{c['client_id']}"),
            ("POST", f"/v1/api-clients/{c['client_id']}/rotate-secret"),
            ("POST", f"/v1/api-clients/{c['client_id']}/disable"),
        ]:
            response = await http.request(method, path, headers=admin(b))
            assert response.status_code == 404, (method, path)
        # And A's administrator token is worthless on B.
        assert (await http.get("/v1/api-clients", headers={**admin(a), **host(b.slug)})).status_code == 401
        assert (await token(http, a, c["client_id"], c["client_secret"])).status_code == 200


ADMIN_ROUTES = [
    ("POST", "/v1/api-clients", {"name": "x", "scopes": ["demo.write"]}, 201),
    ("GET", "/v1/api-clients", None, 200),
    ("GET", "/v1/api-clients/{id}", None, 200),
    ("POST", "/v1/api-clients/{id}/rotate-secret", None, 200),
    ("POST", "/v1/api-clients/{id}/disable", None, 200),
]


@pytest.mark.parametrize(
    ("method", "path", "payload", "ok"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ADMIN_ROUTES]
)
async def test_role_matrix_of_the_client_admin_routes(
    method: str, path: str, payload: dict[str, Any] | None, ok: int, engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for(plugins=PLUGINS) as http:
        c = await register(http, tenant, "demo.write")
        url = path.replace("{id}", c["client_id"])
        callers: list[tuple[str, dict[str, str], int]] = [
            ("anonymous", {}, 401),
            ("staff without roles", bearer(tenant, roles=[]), 403),
            ("staff with a service role", bearer(tenant, roles=["demo.clerk"]), 403),
            ("citizen", bearer(tenant, kind="citizen"), 403),
            ("API client", bearer(tenant, kind="client", scopes=["demo.write"]), 403),
            ("operator", bearer(None, kind="operator", roles=["platform_admin"]), 401),
            ("tenant admin", bearer(tenant, roles=["tenant_admin", "demo.clerk"], subject=str(uuid.uuid4())), ok),
        ]
        for who, auth, expected in callers:
            response = await http.request(method, url, json=payload, headers={**host(tenant.slug), **auth})
            assert response.status_code == expected, (who, response.text)
            if expected == 403:
                assert response.json()["data"]["required"] == "staff[tenant_admin]"


async def test_token_endpoint_is_rate_limited_per_address(
    engine: AsyncEngine, database_url: str, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    other = await make_tenant(engine, services=["demo"])
    async with client_for(plugins=PLUGINS, settings_=make_settings(database_url, login_rate_limit=3)) as http:
        c = await register(http, tenant, "demo.write")
        for _ in range(3):
            assert (await token(http, tenant, c["client_id"], c["client_secret"] + "x")).status_code == 401
        limited = await token(http, tenant, c["client_id"], c["client_secret"])
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # The count is per LAO and address: the same address is not limited at another LAO.
        d = await register(http, other, "demo.write")
        assert (await token(http, other, d["client_id"], d["client_secret"])).status_code == 200


async def test_unknown_client_ids_cost_one_argon2_verification(
    engine: AsyncEngine, client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    calls: list[str | None] = []
    real = clients_module.verify_secret_async

    async def counting(stored: str | None, candidate: str) -> bool:
        calls.append(stored)
        return await real(stored, candidate)

    monkeypatch.setattr(clients_module, "verify_secret_async", counting)
    async with client_for(plugins=PLUGINS) as http:
        c = await register(http, tenant, "demo.write")
        assert_oauth_error(await token(http, tenant, "lgc_unknown", c["client_secret"]), 401, "invalid_client")
        assert_oauth_error(await token(http, tenant, c["client_id"], "wrong"), 401, "invalid_client")
    assert calls[0] is None  # unknown: verified against the dummy hash
    assert calls[1] is not None
    assert calls[1].startswith("$argon2id$")


def test_openapi_declares_the_schemes_and_every_guarded_operation_needs_one(settings: Settings) -> None:
    app = create_app(settings, plugins=list(PLUGINS))
    document = app.openapi_schema.to_schema()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearer"]["description"],
    }
    # One scheme (two made typescript-fetch send the raw token): the token endpoint and the scopes
    # are in its description, and each scope an API client may hold is its own alternative.
    assert set(schemes) == {"bearer"}
    assert "/oauth/token" in schemes["bearer"]["description"]
    assert "`demo.write`" in schemes["bearer"]["description"]
    assert "`webhooks.manage`" in schemes["bearer"]["description"]
    operations = {
        op["operationId"]: op
        for ops in document["paths"].values()
        for method, op in ops.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }
    checked = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not handler.resolve_include_in_schema() or set(handler.http_methods) == {"OPTIONS"}:
                continue
            handler.resolve_opts()
            policy = handler.opt[AUTH_OPT]
            operation = operations[handler.operation_id]
            if policy.public:
                assert "security" not in operation, handler.operation_id
                continue
            checked += 1
            requirement = operation.get("security")
            assert requirement, handler.operation_id
            assert all(list(r) == ["bearer"] for r in requirement), handler.operation_id
            people = any(rule.kind != "client" for rule in policy.allow)
            assert ({"bearer": []} in requirement) == people, handler.operation_id
            client_scopes = sorted({s for rule in policy.allow if rule.kind == "client" for s in rule.scopes})
            for scope in client_scopes:
                assert {"bearer": [scope]} in requirement, handler.operation_id
    assert checked >= 8
    token_op = operations["requestAccessToken"]
    assert list(token_op["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    oauth_problem = document["components"]["schemas"]["OAuthProblemDetails"]
    assert {"error", "error_description"} <= set(oauth_problem["properties"])
    assert "invalid_client" in oauth_problem["properties"]["error"]["enum"]
    for status in ("400", "401"):
        schema = token_op["responses"][status]["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OAuthProblemDetails"}
