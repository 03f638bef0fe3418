"""Issue 21, "one contract, held by tests": each finding of the integrator's review has a test here.

The OpenAPI document per surface, its security, strict request bodies, decimal patterns, tags and
names; one pagination style; Idempotency-Key on creates; ETag / If-Match on updates; rate-limit
headers and Retry-After; one field-error shape and a documented `type` per problem code; CORS per
LAO; OPTIONS; the interactive reference served from the package. Every example: tests/test_api_examples.py.
"""

from __future__ import annotations

import re
import sys
import typing
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import CheckConstraint, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.staff import CORE_ROLES
from localgov.kernel.db import SharedBase, TenantBase
from localgov.kernel.openapi import GENERATOR_RESERVED
from localgov.kernel.problems import problems_markdown
from localgov.metadata import shared_metadata, tenant_metadata
from localgov.platform.models import SignupStatus
from localgov.platform.registry import LAO_TYPES, LaoType, registry
from localgov.platform.signup import STATUS_TEXT
from localgov.plugins import REGISTRY
from localgov.services.oss.workflow import OPEN_STATES, REQUEST
from localgov.services.saraban.models import Subkind
from localgov.services.saraban.rules import SUBKINDS
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.billing import make_plan
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.oss_cases import make_case_world, pdf_bytes, walk_in
from tests.support.paging import walk_pages
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


#: GET operations whose answer is a JSON array or an ``items`` list but not a list of records, so
#: nothing to page: (surface, path) → why. Anything that grows with use pages.
NOT_RECORD_LISTS: dict[tuple[str, str], str] = {
    ("tenant", "/problems"): "the catalogue of problem codes: documentation, fixed by the release",
    ("operator", "/problems"): "the catalogue of problem codes: documentation, fixed by the release",
    ("tenant", "/v1/staff/roles"): "a fixed enumeration: the roles the installed services define",
    ("tenant", "/v1/webhooks/event-types"): "a fixed enumeration: the event types the installed services publish",
    ("tenant", "/v1/tenant/services"): "a fixed enumeration: the platform's installed services, with flags",
    ("operator", "/v1/billing/meters"): "a fixed enumeration: the usage meters the installed services define",
    ("tenant", "/v1/oss/case-settings"): "a fixed enumeration: the case types of the OSS, with the LAO's settings",
    ("tenant", "/v1/units"): "one tree (depth first, with depths): the LAO's structure shown whole, tens of units",
    ("operator", "/v1/signup/plans"): "the public offer in the operator's display order: a handful of plans",
    ("tenant", "/v1/saraban/retention"): "one rule per letter kind (an enumeration), replaced whole by PUT",
    ("tenant", "/v1/food/checklist"): "the LAO's checklist as one document, replaced whole by PUT",
    ("operator", "/v1/billing/plans/{plan_code}/thresholds"): "one per meter of a plan, replaced whole by PUT",
    ("tenant", "/v1/payments/bills/{bill_id}"): "one bill: `items` are its lines",
    ("tenant", "/v1/payments/me/bills/{bill_id}"): "one bill: `items` are its lines",
    ("tenant", "/v1/oss/cases/{case_id}/deficiencies/{record_id}"): "one record: `items` are its missing documents",
    ("tenant", "/v1/food/inspections/{inspection_id}"): "one visit: `items` are its checklist answers",
    ("tenant", "/v1/saraban/registers/verify"): "a report: one line per register checked",
    ("tenant", "/v1/oss/queue-stats"): "a report: figures per service point and day (aggregates)",
    ("tenant", "/v1/oss/reports/cases-by-state"): "a report of a period: aggregates (CSV alongside)",
    ("tenant", "/v1/oss/reports/sla-compliance"): "a report of a period: aggregates (CSV alongside)",
    ("tenant", "/v1/oss/reports/time-per-step"): "a report of a period: aggregates (CSV alongside)",
    ("tenant", "/v1/oss/reports/delay-notices"): "a report of a period with its totals (CSV alongside)",
}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def list_shape(document: dict[str, Any], op: dict[str, Any]) -> str | None:
    """``"array"`` for a top-level JSON array answer, ``"items"`` for an object with an ``items``
    array, None for anything else (one record, a file, no body)."""
    content = op.get("responses", {}).get("200", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    schema = _resolve(document, schema)
    if schema.get("type") == "array":
        return "array"
    items = schema.get("properties", {}).get("items")
    if items is not None and _resolve(document, items).get("type") == "array":
        return "items"
    return None


#: String fields whose name says they hold one of a fixed set of codes: each declares its ``enum``.
CLOSED_NAMES = frozenset(
    {"status", "kind", "subkind", "state", "type", "urgency", "secrecy", "channel", "method", "outcome"}
    | {"decision", "role", "source", "direction", "result", "trigger", "register"}
)
CLOSED_SUFFIXES = ("_status", "_kind", "_type", "_state")
#: The few such fields that are open by nature, each with its reason ("Schema.field", or
#: "?name" for a query parameter of any operation).
OPEN_CODES = {
    "ProblemDetails.type": "a problem type URI (RFC 9457), per code and per host",
    "OAuthProblemDetails.type": "a problem type URI (RFC 9457), per code and per host",
    "CaseFileRead.content_type": "the MIME type of an uploaded file",
    "StoredFileRead.content_type": "the MIME type of an uploaded file",
    "FoodFileRead.media_type": "the MIME type of an uploaded file",
    "PermitsFileRead.media_type": "the MIME type of an uploaded file",
    "PermitsEmblemRead.media_type": "the MIME type of an uploaded image",
    "PhotoRead.media_type": "the MIME type of an uploaded photo",
    "WebhookDeliveryRead.event_type": "event types are added by each plugin (the catalogue is listWebhookEventTypes)",
    "BillRead.source": "the service (plugin) or import that issued the bill",
    "ArrearsByFeeType.fee_type": "a fee type, or for bills without an account the service (plugin) that issued them",
    "DocumentVerification.kind": "`<service>.<kind>`: each plugin issues documents of kinds of its own",
    "StoredFileRead.owner_kind": "`<service>.<record>`: each plugin names the records its files belong to",
    "DelayNoticeRow.channel": "a notification channel's code: channels are registered at start (email …)",
    "OssNoticeRead.channel": "a notification channel's code: channels are registered at start (email …)",
    "*.area_type": "an area type of the LAO's own permit rules (its settings)",
    "*.default_area_type": "an area type of the LAO's own permit rules (its settings)",
    "?role": "a role code: the core roles and each installed plugin's (listGrantableRoles)",
    "?state": "OAuth's opaque `state`, echoed back to the client",
    "?response_type": "RFC 6749 §4.1.2.1: an unsupported value is answered by a redirect, not a 400",
}


def open_codes(document: dict[str, Any]) -> list[str]:
    """Every string property or query parameter named like a code (status, kind …) without an
    ``enum`` (inline, through a ``$ref`` or as ``const``) and not in :data:`OPEN_CODES`."""
    schemas = document["components"]["schemas"]

    def closed(schema: dict[str, Any]) -> bool:
        options = schema.get("oneOf") or schema.get("anyOf") or [schema]
        for option in options:
            option = option.get("items", option) if option.get("type") == "array" else option
            if "$ref" in option:
                option = schemas[option["$ref"].rsplit("/", 1)[1]]
            if option.get("type") == "string" and "enum" not in option and "const" not in option:
                return False
        return True

    def coded(name: str) -> bool:
        return name in CLOSED_NAMES or name.endswith(CLOSED_SUFFIXES)

    found = [
        f"{name}.{prop}"
        for name, schema in schemas.items()
        for prop, spec in schema.get("properties", {}).items()
        if coded(prop) and not closed(spec) and not {f"{name}.{prop}", f"*.{prop}"} & set(OPEN_CODES)
    ]
    found += [
        f"?{p['name']} ({method.upper()} {path})"
        for path, method, op in operations(document)
        for p in op.get("parameters", [])
        if p["in"] in ("query", "path")
        and coded(p["name"])
        and not closed(p.get("schema", {}))
        and f"?{p['name']}" not in OPEN_CODES
    ]
    return sorted(set(found))


async def test_every_code_field_declares_its_enum(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """Issue 21: a status, kind, state … is one of a fixed set of codes, and the document says which,
    so a generated client has an enum and a fuzzer sends only what the server can hold."""
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        docs = await documents(client, tenant.slug)
    offenders = {surface: open_codes(document) for surface, document in docs.items()}
    for surface, names in offenders.items():
        for name in names:
            print(f"{surface}: {name} has no enum")
    assert offenders == {"tenant": [], "operator": []}
    bill_status = docs["tenant"]["components"]["schemas"]["BillRead"]["properties"]["status"]
    assert set(bill_status["enum"]) == {"open", "paid", "cancelled"}


def literal_columns() -> list[tuple[str, str, set[str], set[str] | None]]:
    """Every mapped column typed by a ``Literal`` (table, column, the type's codes, the codes of its
    ``<column> IN (…)`` CHECK constraint or None)."""
    shared_metadata()
    tenant_metadata()
    found = []
    for base in (SharedBase, TenantBase):
        for mapper in base.registry.mappers:
            cls = mapper.class_
            annotations = {k: v for c in reversed(cls.__mro__) for k, v in getattr(c, "__annotations__", {}).items()}
            for attr in mapper.column_attrs:
                annotation = annotations.get(attr.key)
                if not isinstance(annotation, str) or not annotation.startswith("Mapped["):
                    continue
                resolved = eval(annotation, vars(sys.modules[cls.__module__]))  # noqa: S307  (our own annotations)
                options = typing.get_args(typing.get_args(resolved)[0]) or (typing.get_args(resolved)[0],)
                literal = [o for o in options if typing.get_origin(o) is typing.Literal]
                if not literal and typing.get_origin(typing.get_args(resolved)[0]) is typing.Literal:
                    literal = [typing.get_args(resolved)[0]]
                if not literal:
                    continue
                column = attr.columns[0]
                checks = [
                    re.search(rf"(?:^|\bOR |\()\s*{column.name} IN \(([^)]*)\)", str(c.sqltext))
                    for c in column.table.constraints
                    if isinstance(c, CheckConstraint)
                ]
                allowed = next(({v.strip().strip("'") for v in m.group(1).split(",")} for m in checks if m), None)
                found.append((column.table.name, column.name, set(typing.get_args(literal[0])), allowed))
    return found


#: Literal-typed columns without a CHECK constraint, each with what holds it to its codes.
UNCHECKED_CODES = {
    ("tenants", "source"): "written only by create_tenant, whose `source` is typed",
    ("tenants", "lao_type"): "copied from the DLA registry, whose rows msgspec validates at load",
    ("operator_invoice_lines", "kind"): "written only from billing.service.Line, whose `kind` is typed",
    ("saraban_letters", "subkind"): "checked against the letter's kind (saraban.rules.SUBKINDS) on every write",
}


def test_literal_columns_hold_what_their_check_allows() -> None:
    """The API's enums are the columns' types: each equals the codes its CHECK constraint allows, so
    a response never carries a code its schema refuses, nor refuses one the database holds."""
    columns = literal_columns()
    assert len(columns) >= 20
    unchecked = {(t, c) for t, c, _, allowed in columns if allowed is None}
    assert unchecked == set(UNCHECKED_CODES)
    assert [
        (t, c, codes, allowed) for t, c, codes, allowed in columns if allowed is not None and codes != allowed
    ] == []


async def test_a_code_outside_its_enum_is_a_validation_error(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """A filter or a member given a code its enum does not list is refused as malformed input: 400
    ``validation_error`` with the one field-error shape naming it (one example per service)."""
    tenant = await make_tenant(engine, services=SERVICES)
    staff = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    operator = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin", "billing_admin"])}
    async with client_for(plugins=REGISTRY) as client:
        for path, headers in (
            ("/v1/payments/bills?status=unpaid", staff),
            ("/v1/staff?status=retired", staff),
            ("/v1/saraban/letters?status=lost", staff),
            ("/v1/oss/services?status=gone", staff),
            ("/v1/tenants?status=asleep", operator),
            ("/v1/billing/invoices?status=unpaid", operator),
            ("/v1/signups?status=waiting", operator),
        ):
            refused = await client.get(path, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (400, "validation_error"), (path, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert [(e["key"], e["source"]) for e in refused.json()["errors"]] == [("status", "query")], path
        # A request member: an unknown form of a letter, before any rule of the service.
        letter = {"kind": "directive", "subkind": "memo", "subject": "x", "recipients": []}
        refused = await client.post(
            "/v1/saraban/letters", json=letter, headers={**staff, "Idempotency-Key": uuid.uuid4().hex}
        )
        assert (refused.status_code, refused.json()["code"]) == (400, "validation_error"), refused.text
        assert [(e["key"], e["source"]) for e in refused.json()["errors"]] == [("subkind", "body")]
        # A state the engine refuses keeps its own code (the enum lists the open states only).
        setting = {"case_type": "oss.request", "state": "approved", "sla_days": 3}
        refused = await client.put("/v1/oss/case-settings", json=setting, headers=staff)
        assert (refused.status_code, refused.json()["code"]) == (400, "case_invalid"), refused.text


def test_code_types_equal_the_definitions_they_mirror() -> None:
    """Where a type lists codes another definition also holds (a workflow's states, a table of
    titles, the registry file), the two say the same."""
    assert set(OPEN_STATES) == {s.code for s in REQUEST.states if not s.terminal}
    assert set(typing.get_args(Subkind)) == {form for forms in SUBKINDS.values() for form in forms}
    assert set(typing.get_args(LaoType)) == set(LAO_TYPES) == {entry.type for entry in registry().values()}
    assert set(typing.get_args(SignupStatus)) == set(STATUS_TEXT)


async def test_every_list_pages_by_opaque_cursor(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """One pagination style: every list (a GET answering an array of records) takes `cursor` and
    `limit` and answers an object `{items, next_cursor}`; never a bare JSON array, never an offset."""
    tenant = await make_tenant(engine, services=SERVICES)
    async with client_for(plugins=REGISTRY) as client:
        docs = await documents(client, tenant.slug)
    offenders: list[str] = []
    allowed_seen: set[tuple[str, str]] = set()
    for surface, document in docs.items():
        for path, method, op in operations(document):
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            if names & {"offset", "after", "after_id", "before_id"}:
                offenders.append(f"{surface} {method.upper()} {path}: old paging {sorted(names)}")
            if "limit" in names and "cursor" not in names:
                offenders.append(f"{surface} {method.upper()} {path}: limit without cursor")
            if "cursor" in names and "404" not in op.get("responses", {}):
                offenders.append(f"{surface} {method.upper()} {path}: a cursor it never gave (404) not documented")
            shape = list_shape(document, op) if method == "get" else None
            if shape is None:
                continue
            if (surface, path) in NOT_RECORD_LISTS:
                allowed_seen.add((surface, path))
                continue
            problems = []
            if shape == "array":
                problems.append("answers a bare JSON array")
            missing = {"cursor", "limit"} - names
            if missing:
                problems.append(f"no {'/'.join(sorted(missing))} parameter")
            if shape == "items":
                body = _resolve(document, op["responses"]["200"]["content"]["application/json"]["schema"])
                if "next_cursor" not in body.get("properties", {}):
                    problems.append("no next_cursor")
            if problems:
                offenders.append(f"{surface} GET {path}: {', '.join(problems)}")
    assert not offenders, "lists that do not page by cursor:\n" + "\n".join(offenders)
    # Each allowlisted operation still exists and is still an array (no stale entries).
    assert allowed_seen == set(NOT_RECORD_LISTS), set(NOT_RECORD_LISTS) - allowed_seen


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


async def test_citizen_apps_page_by_cursor_on_both_surfaces(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant, other = await make_tenant(engine), await make_tenant(engine)
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
    operator = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin"])}
    async with client_for() as client:
        for path, headers in (("/v1/citizen-apps", admin), ("/v1/operator/citizen-apps", operator)):
            made = []
            for name in ("แอปหนึ่ง", "แอปสอง", "แอปสาม"):
                body = {"name": name, "kind": "native", "redirect_uris": ["th.go.localgov.app:/callback"]}
                created = await client.post(path, json=body, headers=headers)
                assert created.status_code == 201, created.text
                made.append(created.json()["client_id"])
            walked = await walk_pages(client, path, headers, limit=2, key="client_id")
            mine = [a["client_id"] for a in walked if a["client_id"] in made]
            assert mine == made  # oldest first, each once
        # Another LAO's list shows none of this LAO's apps (the operator's are not an LAO's either).
        theirs = await client.get(
            "/v1/citizen-apps", headers={**host(other.slug), **bearer(other, roles=["tenant_admin"])}
        )
        assert theirs.json()["items"] == []


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


async def test_idempotency_key_on_every_create(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    """A create whose handler does not take the key honours it through the middleware: a JSON create
    (a unit), a multipart upload (an attachment) and a create on the operator host (a plan price)."""
    tenant = await make_tenant(engine)
    world = await make_case_world(engine)
    plan = await make_plan(engine, fixed_fee=Decimal(1000))
    admin = {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES)}
    body = {"code": "FIN", "name_th": "กองคลัง", "kind": "division"}
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as client:
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

        # An upload: hashed as it streams by (httpx picks a new multipart boundary each time: the
        # boundary is not part of the hash), replayed, one attachment; another file with the key: 422.
        officer = {**world.headers("officer"), "Idempotency-Key": "scan-1"}
        case = (await client.post("/v1/oss/cases", json=walk_in(), headers=world.headers("officer"))).json()["case"]
        files = f"/v1/oss/cases/{case['id']}/files"
        scan = pdf_bytes(300_000)
        uploads = [await client.post(files, files={"data": ("scan.pdf", scan, "application/pdf")}, headers=officer)]
        uploads.append(await client.post(files, files={"data": ("scan.pdf", scan, "application/pdf")}, headers=officer))
        assert [u.status_code for u in uploads] == [201, 201], uploads[0].text
        assert uploads[1].json() == uploads[0].json()
        assert "idempotent-replayed" not in uploads[0].headers
        assert uploads[1].headers["idempotent-replayed"] == "true"
        another = await client.post(
            files, files={"data": ("scan.pdf", pdf_bytes(300_000, seed=2), "application/pdf")}, headers=officer
        )
        assert (another.status_code, another.json()["code"]) == (422, "idempotency_key_reused")
        listed = await client.get(files, headers=world.headers("officer"))
        assert [f["id"] for f in listed.json()["items"]] == [uploads[0].json()["id"]]

        # The operator host: without the key a second identical price is 409; with it, a replay.
        billing = {"Host": BASE, **bearer(None, kind="operator", roles=["billing_admin"]), "Idempotency-Key": "p-1"}
        price = {"effective_from": "2027-01-01", "fixed_fee": "1200", "fixed_interval": "monthly"}
        prices = [await client.post(f"/v1/billing/plans/{plan}/prices", json=price, headers=billing) for _ in "ab"]
        assert [p.status_code for p in prices] == [201, 201], prices[0].text
        assert prices[1].json() == prices[0].json()
        assert prices[1].headers["idempotent-replayed"] == "true"
        unkeyed = {k: v for k, v in billing.items() if k != "Idempotency-Key"}
        duplicate = await client.post(f"/v1/billing/plans/{plan}/prices", json=price, headers=unkeyed)
        assert (duplicate.status_code, duplicate.json()["code"]) == (409, "plan_price_exists")
        listed_prices = await client.get(f"/v1/billing/plans/{plan}/prices", headers=unkeyed)
        assert [p["effective_from"] for p in listed_prices.json()["items"]].count("2027-01-01") == 1
    async with engine.connect() as connection:
        kept = (
            await connection.execute(text("SELECT principal FROM platform.idempotency_keys WHERE key = 'p-1'"))
        ).scalars()
        assert [principal.split(":")[0] for principal in kept] == ["operator"]


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
