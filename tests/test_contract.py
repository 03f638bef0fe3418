"""Contracts: every registered plugin, the OpenAPI document, errors, health and metrics."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
import pytest
from litestar import Router
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.kernel.db import TenantBase
from localgov.kernel.events import EventType
from localgov.kernel.outbox import Delivery
from localgov.kernel.plugins import ServicePlugin, contract_violations, routes
from localgov.metadata import tenant_metadata
from localgov.platform.migrate import tenant_head
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

PLUGINS = [*REGISTRY, DEMO]


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.slug)
def test_plugin_fulfils_the_contract(plugin: ServicePlugin) -> None:
    assert contract_violations(plugin, tenant_metadata().tables, others=PLUGINS) == []


#: A well-formed value of a path parameter by its type or format (any other: a UUID).
PATH_SAMPLES = {"integer": "2026", "date": "2026-01-01"}


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.slug)
async def test_plugin_routes_are_documented_and_gated(
    plugin: ServicePlugin, engine: AsyncEngine, client_for: ClientFactory
) -> None:
    without = await make_tenant(engine, services=[])
    async with client_for(plugins=[plugin]) as client:
        document = (await client.get("/schema/openapi.json", headers=host(without.slug))).json()
        plugin_paths = {p: ops for p, ops in document["paths"].items() if p.startswith(plugin.path + "/")}
        assert plugin_paths, "a plugin must serve at least one documented route"
        for path, operations in plugin_paths.items():
            for method, operation in operations.items():
                # Path parameters get a well-formed value of their type (`{id:uuid}` matches nothing else).
                types = {
                    p["name"]: p.get("schema", {}).get("format") or p.get("schema", {}).get("type")
                    for p in operation.get("parameters", [])
                    if p.get("in") == "path"
                }
                url = re.sub(
                    r"\{([^}]+)\}",
                    lambda m, types=types: PATH_SAMPLES.get(types.get(m.group(1)) or "", str(uuid.UUID(int=0))),
                    path,
                )
                response = await client.request(method.upper(), url, headers=host(without.slug))
                assert response.status_code == 404, (method, path)
                assert response.json()["code"] == "service_not_enabled"


def test_contract_check_can_fail() -> None:
    bad = ServicePlugin(
        slug="Bad Slug",
        title_th="English only",
        title_en="",
        router=Router(path="/v2/x", route_handlers=[]),
        solo_topics=frozenset({"bad.unhandled"}),
    )
    problems = contract_violations(bad, TenantBase.metadata.tables)
    assert any("slug" in p for p in problems)
    assert any("title_th" in p for p in problems)
    assert any("router path" in p for p in problems)
    assert "solo topic 'bad.unhandled' has no handler" in problems


class _Payload(msgspec.Struct):
    n: int


async def _noop(delivery: Delivery) -> None:
    return None


def test_events_and_subscriptions_are_part_of_the_contract() -> None:
    """A handler names the plugin's own topic or an event some plugin declares, nothing else."""
    payments = next(p for p in REGISTRY if p.slug == "payments")
    assert {e.code for e in payments.events} == {
        "payments.bill_paid",
        "payments.bill_cancelled",
        "payments.receipt_issued",
        "payments.receipt_voided",
    }
    # Each is public: integrators subscribe to it by its webhook name (docs/kernel/webhooks.md).
    assert {e.webhook for e in payments.events} == {"bill.paid", "bill.cancelled", "receipt.issued", "receipt.voided"}
    listener = ServicePlugin(
        slug="listener",
        title_th="ผู้ฟัง",
        title_en="Listener",
        router=Router(path="/v1/listener", route_handlers=[]),
        events=(
            EventType(code="listener.heard", title_th="ได้ยินแล้ว", title_en="Heard", payload=_Payload),
            EventType(code="payments.bill_paid", title_th="ซ้ำ", title_en="Taken", payload=_Payload),
            EventType(code="listener.untitled", title_th="Untitled", title_en=" ", payload=dict),  # type: ignore[type-var]
        ),
        handlers={
            "payments.bill_paid": _noop,  # another plugin's event: fine
            "listener.heard": _noop,  # its own event: fine
            "listener.own_topic": _noop,  # its own topic: fine
            "payments.bill_refunded": _noop,  # nobody declares it
            "permits.issued": _noop,  # nobody declares it either
        },
    )
    problems = contract_violations(listener, TenantBase.metadata.tables, others=PLUGINS)
    assert sorted(p for p in problems if p.startswith("handler")) == [
        "handler topic 'payments.bill_refunded' must be listener.<name> or an event some plugin declares",
        "handler topic 'permits.issued' must be listener.<name> or an event some plugin declares",
    ]
    assert "event 'payments.bill_paid' must be listener.<name>" in problems
    assert "event 'payments.bill_paid' is also declared by payments" in problems
    assert "event listener.untitled: title_th must be Thai text" in problems
    assert "event listener.untitled: title_en is empty" in problems
    assert "event listener.untitled: the payload must be a msgspec.Struct type" in problems
    assert not any("listener.heard" in p or "listener.own_topic" in p for p in problems)
    # Without payments registered, its events are unknown: subscribing to them is refused too.
    deaf = ServicePlugin(
        slug="deaf",
        title_th="ไม่ได้ยิน",
        title_en="Deaf",
        router=Router(path="/v1/deaf", route_handlers=[]),
        handlers={"payments.bill_paid": _noop},
    )
    assert contract_violations(deaf, TenantBase.metadata.tables) == [
        "handler topic 'payments.bill_paid' must be deaf.<name> or an event some plugin declares"
    ]

    # The worker's routing: own topics by topic; events by event, then by subscriber.
    topics, subscribers = routes([*PLUGINS, listener])
    assert {"demo.pinged", "demo.permit_reminder", "listener.own_topic"} <= set(topics)
    assert "payments.bill_paid" not in topics
    registered = {p.slug for p in REGISTRY if "payments.bill_paid" in p.handlers}  # services charging fees
    assert set(subscribers["payments.bill_paid"]) == {"demo", "listener"} | registered
    assert set(subscribers["listener.heard"]) == {"listener"}


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


@pytest.mark.parametrize("surface", ["operator", "tenant"])
async def test_openapi_document_is_a_product(surface: str, engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    headers = {"Host": BASE} if surface == "operator" else host(tenant.slug)
    async with client_for() as client:
        response = await client.get("/schema/openapi.json", headers=headers)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert "type" not in problem.get("required", [])
    assert {"title", "status", "code"} <= set(problem["required"])
    operation_ids: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            operation_ids.append(operation["operationId"])
            assert len(operation.get("tags", [])) == 1, where
            errors = {code: r for code, r in operation["responses"].items() if int(code) >= 400}
            assert {"400", "500"} <= set(errors), where
            for code, spec in errors.items():
                assert list(spec["content"]) == ["application/problem+json"], (where, code)
                schema = spec["content"]["application/problem+json"]["schema"]
                if schema == {"$ref": "#/components/schemas/OAuthProblemDetails"}:
                    # The token endpoint's RFC 6749 errors: problem details plus `error` members.
                    assert (path, code) in {("/oauth/token", "400"), ("/oauth/token", "401")}, (where, code)
                    extended = document["components"]["schemas"]["OAuthProblemDetails"]
                    assert set(problem["properties"]) < set(extended["properties"]), where
                    continue
                assert schema == {"$ref": "#/components/schemas/ProblemDetails"}, (where, code)
            for code, spec in operation["responses"].items():
                if int(code) < 300 and "content" in spec:
                    if "application/json" not in spec["content"]:
                        # A download (the ZIP of an export archive): a binary body, not a JSON document.
                        assert [c["schema"]["type"] for c in spec["content"].values()] == ["string"], where
                        continue
                    schema = spec["content"]["application/json"]["schema"]
                    assert "$ref" in schema, f"{where} {code} must use a named component schema"
                    _resolve(document, schema["$ref"])
    assert len(operation_ids) == len(set(operation_ids))
    assert {"getLiveness", "getReadiness"} <= set(operation_ids)
    if surface == "operator":
        assert "listTenants" in operation_ids
        assert not {"getTenantProfile", "demoWhoAmI"} & set(operation_ids)
    else:
        assert {"getTenantProfile", "demoWhoAmI"} <= set(operation_ids)
        assert "listTenants" not in operation_ids


async def test_validation_error_is_a_problem(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        response = await client.post(
            "/v1/demo/pings",
            json={"message": ""},
            headers={**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"]), "Idempotency-Key": "k"},
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"]
        missing_header = await client.post(
            "/v1/demo/pings",
            json={"message": "x"},
            headers={**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"])},
        )
        assert missing_header.status_code == 400
        assert missing_header.json()["code"] == "validation_error"
        not_json = await client.post(
            "/v1/demo/pings",
            content=b"{not json",
            headers={
                **host(tenant.slug),
                **bearer(tenant, roles=["demo.clerk"]),
                "Idempotency-Key": "k",
                "Content-Type": "application/json",
            },
        )
        assert not_json.status_code == 400
        assert not_json.headers["content-type"] == "application/problem+json"
        wrong_method = await client.delete("/v1/tenant", headers=host(tenant.slug))
        assert wrong_method.status_code == 405
        assert wrong_method.json()["code"] == "method_not_allowed"


async def test_operator_tenant_list_is_guarded(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    admin = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin"])}
    async with client_for() as client:
        on_tenant_host = await client.get("/v1/tenants", headers={**admin, **host(tenant.slug)})
        assert on_tenant_host.status_code == 404
        anonymous = await client.get("/v1/tenants", headers={"Host": BASE})
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == "missing_token"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong_role = await client.get(
            "/v1/tenants", headers={"Host": BASE, **bearer(None, kind="operator", roles=["support"])}
        )
        assert wrong_role.status_code == 403
        assert wrong_role.json()["code"] == "forbidden"
        tenant_staff = await client.get(
            "/v1/tenants", headers={"Host": BASE, **bearer(tenant, kind="staff", roles=["platform_admin"])}
        )
        assert tenant_staff.status_code == 401
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
            page = await client.get("/v1/tenants", params=params, headers=admin)
            assert page.status_code == 200
            seen.extend(page.json()["items"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert tenant.slug in {t["slug"] for t in seen}
        assert len({t["id"] for t in seen}) == len(seen)
        bad = await client.get("/v1/tenants", params={"limit": 0}, headers=admin)
        assert bad.status_code == 400
        assert bad.json()["code"] == "validation_error"


async def test_health_and_metrics(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        assert (await client.get("/health/live", headers={"Host": "10.0.0.1"})).json() == {"status": "ok", "checks": {}}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        await client.get("/v1/tenant", headers=host(tenant.slug))
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE platform.tenants SET schema_revision = '0000' WHERE id = :i"), {"i": tenant.id}
            )
        try:
            not_ready = await client.get("/health/ready")
            assert not_ready.status_code == 503
            assert not_ready.json()["code"] == "not_ready"
            assert not_ready.json()["data"]["checks"]["tenant_schemas"] == "1 behind head"
        finally:
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE platform.tenants SET schema_revision = :r WHERE id = :i"),
                    {"r": tenant_head(), "i": tenant.id},
                )
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        body = metrics.text
        assert 'localgov_http_requests_total{method="GET",route="/v1/tenant",status="200"}' in body
        assert "tenant=" not in body
        assert tenant.slug not in body


def test_create_app_needs_a_database() -> None:
    with pytest.raises(ValueError, match="database URL"):
        create_app(Settings())
