"""The One Stop Service catalogue: manuals checked, versioned, published; defaults; the public page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.tenancy import TenantInfo
from localgov.plugins import REGISTRY
from localgov.services.oss import api, catalogue
from localgov.services.oss.defaults import default_catalogue
from localgov.services.oss.schemas import ServicePublish
from tests.conftest import ClientFactory, host
from tests.support.oss import manual, oss_db, oss_tenant, staff
from tests.support.paging import walk_pages
from tests.support.tokens import bearer


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["code"]


async def create(http: httpx.AsyncClient, tenant: TenantInfo, code: str, **changes: Any) -> dict[str, Any]:
    response = await http.post(
        "/v1/oss/services", json={"code": code, "manual": manual(**changes)}, headers=staff(tenant)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def audit_actions(engine: AsyncEngine, tenant: TenantInfo) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT action FROM {tenant.schema}.audit_events WHERE action LIKE 'oss.%' ORDER BY id")
        )
        return list(rows.scalars())


async def test_a_new_lao_starts_with_default_drafts_and_an_empty_public_catalogue(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await oss_tenant(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        listed = await http.get("/v1/oss/services", headers=staff(tenant, "oss.officer"))
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert {i["code"] for i in items} == {code for code, _ in default_catalogue()}
        assert {i["status"] for i in items} == {"draft"}
        assert {i["version"] for i in items} == {1}
        walked = await walk_pages(http, "/v1/oss/services", staff(tenant, "oss.officer"), limit=2)
        assert walked == items
        drafts = await walk_pages(http, "/v1/oss/services", staff(tenant), limit=2, params={"status": "draft"})
        assert drafts == items
        # Nothing is public before the LAO checks and publishes it.
        public = await http.get("/v1/oss/catalogue", headers=host(tenant.slug))
        assert public.status_code == 200
        assert public.json() == {
            "lao_name_th": tenant.name_th,
            "lao_name_en": tenant.name_en,
            "items": [],
            "next_cursor": None,
        }
        draft = await http.get("/v1/oss/catalogue/building-permit", headers=host(tenant.slug))
        assert problem(draft) == (404, "service_not_found")

        # Every default passes the checks of a save and is publishable as it is.
        for item in items:
            published = await http.post(
                f"/v1/oss/services/{item['id']}/publish", json={"version": 1}, headers=staff(tenant)
            )
            assert published.status_code == 200, (item["code"], published.text)
        building = (await http.get("/v1/oss/catalogue/building-permit", headers=host(tenant.slug))).json()
    assert building["manual"]["owning_unit_th"] == "กองช่าง"
    assert building["legal_time_limit"] == {"minutes": 45 * 420, "text_th": "45 วัน", "text_en": "45 days"}
    assert building["total_time"]["text_th"] == "40 วัน"
    assert building["manual"]["no_fee"] is False
    assert building["manual"]["fees"][0]["amount"] == "200.00"
    assert "ค่าตั้งต้น" in building["manual"]["remarks_th"]  # the LAO is told to check it


async def test_the_seed_is_idempotent_and_every_default_is_a_valid_manual(engine: AsyncEngine) -> None:
    tenant = await oss_tenant(engine)
    async with oss_db(engine, tenant) as session:
        assert await catalogue.seed_catalogue(session, default_catalogue()) == 0
        for code, default in default_catalogue():
            checked = await catalogue.check_manual(session, default)
            assert checked == default, code
            assert catalogue.total_time(default).minutes > 0
            assert default.no_fee != bool(default.fees), code
        assert len(await catalogue.list_services(session, None)) == len(default_catalogue())


async def test_create_computes_the_total_time_and_keeps_a_draft(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await oss_tenant(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        body = await create(http, tenant, "test-certificate")
        assert body["status"] == "draft"
        assert (body["version"], body["published_version"], body["has_unpublished_changes"]) == (1, None, False)
        assert body["total_time"] == {"minutes": 150, "text_th": "2 ชั่วโมง 30 นาที", "text_en": "2 hours 30 minutes"}
        assert body["legal_time_limit"] == {"minutes": 420, "text_th": "1 วัน", "text_en": "1 day"}
        assert body["manual"]["fees"] == [
            {
                "description_th": "ค่าธรรมเนียมหนังสือรับรอง",
                "description_en": None,
                "amount": "20.00",
                "rate_th": None,
                "rate_en": None,
                "note_th": None,
            }
        ]
        assert body["created_by"] == "staff:00000000-0000-0000-0000-00000000000a"
        fetched = await http.get(f"/v1/oss/services/{body['id']}", headers=staff(tenant, "oss.editor"))
        assert fetched.json() == body
        again = await http.post(
            "/v1/oss/services", json={"code": "test-certificate", "manual": manual()}, headers=staff(tenant)
        )
        assert problem(again) == (409, "service_code_taken")
        assert problem(await http.get("/v1/oss/catalogue/test-certificate", headers=host(tenant.slug))) == (
            404,
            "service_not_found",
        )
    assert await audit_actions(engine, tenant) == ["oss.service.created"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code": "Bad Code", "manual": manual()}, "code"),
        ({"code": "x-1", "manual": manual(name_th=...)}, "name_th"),
        ({"code": "x-1", "manual": manual(legal_time_limit=...)}, "legal_time_limit"),  # explicit, even null
        ({"code": "x-1", "manual": manual(no_fee=...)}, "no_fee"),  # explicit, even false
        ({"code": "x-1", "manual": manual(legal_basis=[])}, "legal_basis"),
        ({"code": "x-1", "manual": manual(steps=[])}, "steps"),
        ({"code": "x-1", "manual": manual(complaint_channels=[])}, "complaint_channels"),
        ({"code": "x-1", "manual": manual(name_en="two\nlines")}, "name_en"),
        ({"code": "x-1", "manual": manual(criteria_th="   ")}, "criteria_th"),
        ({"code": "x-1", "manual": manual(legal_time_limit={"value": 0, "unit": "days"})}, "value"),
        ({"code": "x-1", "manual": manual(legal_time_limit={"value": 3, "unit": "weeks"})}, "unit"),
        (
            {"code": "x-1", "manual": manual(channels=[{"place_th": "x", "hours_th": "y", "url": "javascript:1"}])},
            "url",
        ),
        ({"code": "x-1", "manual": manual(documents=[{"name_th": "x", "issued_by_th": "y", "copies": 100}])}, "copies"),
        ({"code": "x-1", "manual": manual(colour="red")}, "colour"),
        ({"code": "x-1", "manual": manual(), "extra": 1}, "extra"),
    ],
)
async def test_malformed_manuals_are_refused_with_the_field(
    engine: AsyncEngine, client_for: ClientFactory, payload: dict[str, Any], field: str
) -> None:
    tenant = await oss_tenant(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        response = await http.post("/v1/oss/services", json=payload, headers=staff(tenant))
    assert problem(response) == (400, "validation_error")
    assert field in response.text


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"fees": []}, "fees_missing", "manual.fees"),
        ({"no_fee": True}, "fees_contradict", "manual.fees"),
        ({"fees": [{"description_th": "ค่าธรรมเนียม"}]}, "required", "manual.fees[0]"),
        ({"fees": [{"description_th": "ค่าธรรมเนียม", "amount": "0"}]}, "invalid_amount", "manual.fees[0].amount"),
        ({"fees": [{"description_th": "ค่าธรรมเนียม", "amount": "1.005"}]}, "invalid_amount", "manual.fees[0].amount"),
        ({"owning_unit_th": ...}, "required", "manual.owning_unit_th"),
        ({"owning_unit_id": str(uuid.uuid4())}, "unknown_unit", "manual.owning_unit_id"),
        (
            {"steps": [{"title_th": "ตรวจ", "duration": {"value": 1, "unit": "hours"}}]},
            "required",
            "manual.steps[0].unit_th",
        ),
        ({"documents": [{"name_th": "สำเนา", "issued_by_th": "ผู้ยื่น"}]}, "document_count", "manual.documents[0]"),
        (
            {"channels": [{"kind": "online", "place_th": "เว็บไซต์", "hours_th": "ตลอดเวลา"}]},
            "required",
            "manual.channels[0].url",
        ),
        ({"legal_time_limit": {"value": 2, "unit": "hours"}}, "time_exceeds_legal_limit", "manual.steps"),
    ],
)
async def test_rules_between_fields_are_422_with_the_field(
    engine: AsyncEngine, client_for: ClientFactory, changes: dict[str, Any], code: str, field: str
) -> None:
    tenant = await oss_tenant(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        response = await http.post(
            "/v1/oss/services", json={"code": "x-1", "manual": manual(**changes)}, headers=staff(tenant)
        )
    assert problem(response) == (422, code)
    assert response.json()["data"]["field"] == field
    if code == "time_exceeds_legal_limit":
        assert response.json()["data"] | {"field": field} == {
            "field": field,
            "total_minutes": 150,
            "limit_minutes": 120,
        }


async def test_units_of_the_lao_are_linked_by_id_and_their_names_copied(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await oss_tenant(engine)
    other = await oss_tenant(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
        unit = await http.post(
            "/v1/units", json={"code": "eng", "name_th": "กองช่าง", "kind": "division"}, headers=admin
        )
        assert unit.status_code == 201, unit.text
        unit_id = unit.json()["id"]
        step = {"title_th": "ตรวจแบบ", "duration": {"value": 1, "unit": "hours"}, "unit_id": unit_id, "unit_th": "x"}
        body = await create(http, tenant, "linked", owning_unit_id=unit_id, owning_unit_th=..., steps=[step])
        assert body["manual"]["owning_unit_id"] == unit_id
        assert body["manual"]["owning_unit_th"] == "กองช่าง"
        assert body["manual"]["steps"][0]["unit_th"] == "กองช่าง"
        # Another LAO cannot name this unit.
        foreign = await http.post(
            "/v1/oss/services",
            json={"code": "linked", "manual": manual(owning_unit_id=unit_id)},
            headers=staff(other),
        )
        assert problem(foreign) == (422, "unknown_unit")
        # A unit deactivated since the save: publishing refuses the manual.
        async with oss_db(engine, tenant) as session:
            await session.execute(text("UPDATE units SET active = false WHERE id = :i"), {"i": uuid.UUID(unit_id)})
        refused = await http.post(f"/v1/oss/services/{body['id']}/publish", json={"version": 1}, headers=staff(tenant))
        assert problem(refused) == (422, "unknown_unit")


async def test_versions_edits_and_publication(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await oss_tenant(engine)
    public = host(tenant.slug)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        body = await create(http, tenant, "test-certificate")
        sid = body["id"]
        url = f"/v1/oss/services/{sid}"

        # An editor cannot publish; a manager can, the version they read.
        editor = staff(tenant, "oss.editor")
        assert problem(await http.post(f"{url}/publish", json={"version": 1}, headers=editor)) == (403, "forbidden")
        assert problem(await http.post(f"{url}/publish", json={"version": 2}, headers=staff(tenant))) == (
            409,
            "version_conflict",
        )
        published = await http.post(f"{url}/publish", json={"version": 1}, headers=staff(tenant))
        assert published.status_code == 200, published.text
        assert (published.json()["status"], published.json()["published_version"]) == ("published", 1)
        first = (await http.get("/v1/oss/catalogue/test-certificate", headers=public)).json()
        assert (first["version"], first["manual"]["name_th"]) == (1, "การขอหนังสือรับรองทดสอบ")

        # An edit is a new version the public does not see until it is published.
        edit = {"version": 1, "manual": manual(name_th="การขอหนังสือรับรองฉบับปรับปรุง"), "note": "ชื่อใหม่"}
        saved = await http.put(url, json=edit, headers=editor)
        assert saved.status_code == 200, saved.text
        assert (saved.json()["version"], saved.json()["has_unpublished_changes"]) == (2, True)
        assert saved.json()["updated_by"] == "staff:00000000-0000-0000-0000-00000000000a"
        stale = await http.put(url, json=edit, headers=editor)  # a second editor who started from version 1
        assert problem(stale) == (409, "version_conflict")
        assert stale.json()["data"] == {"current_version": 2, "your_version": 1}
        same = await http.put(url, json={**edit, "version": 2}, headers=editor)  # nothing changed: no version
        assert same.json()["version"] == 2
        still = (await http.get("/v1/oss/catalogue/test-certificate", headers=public)).json()
        assert (still["version"], still["manual"]["name_th"]) == (1, "การขอหนังสือรับรองทดสอบ")

        versions = (await http.get(f"{url}/versions", headers=editor)).json()
        assert [(v["version"], v["note"], v["published"]) for v in versions["items"]] == [
            (2, "ชื่อใหม่", False),
            (1, None, True),
        ]
        walked = await walk_pages(http, f"{url}/versions", editor, key="version")
        assert [v["version"] for v in walked] == [2, 1]
        old = (await http.get(f"{url}/versions/1", headers=editor)).json()
        assert old["manual"]["name_th"] == "การขอหนังสือรับรองทดสอบ"
        assert problem(await http.get(f"{url}/versions/3", headers=editor)) == (404, "service_version_not_found")

        assert (await http.post(f"{url}/publish", json={"version": 2}, headers=staff(tenant))).status_code == 200
        now = (await http.get("/v1/oss/catalogue/test-certificate", headers=public)).json()
        assert (now["version"], now["manual"]["name_th"]) == (2, "การขอหนังสือรับรองฉบับปรับปรุง")
        listing = (await http.get("/v1/oss/catalogue", headers=public)).json()["items"]
        assert [(i["code"], i["no_fee"], i["total_time"]["minutes"]) for i in listing] == [
            ("test-certificate", False, 150)
        ]
        assert await walk_pages(http, "/v1/oss/catalogue", public, key="code") == listing

        # Withdrawn: gone from the public, kept for staff; a published service is never deleted.
        assert (await http.post(f"{url}/unpublish", headers=staff(tenant))).json()["status"] == "withdrawn"
        assert problem(await http.get("/v1/oss/catalogue/test-certificate", headers=public)) == (
            404,
            "service_not_found",
        )
        assert problem(await http.post(f"{url}/unpublish", headers=staff(tenant))) == (409, "service_not_published")
        assert problem(await http.delete(url, headers=staff(tenant))) == (409, "service_was_published")

        draft = await create(http, tenant, "mistake")
        assert (await http.delete(f"/v1/oss/services/{draft['id']}", headers=editor)).status_code == 204
        assert problem(await http.get(f"/v1/oss/services/{draft['id']}", headers=editor)) == (404, "service_not_found")
    assert await audit_actions(engine, tenant) == [
        "oss.service.created",
        "oss.service.published",
        "oss.service.updated",
        "oss.service.published",
        "oss.service.withdrawn",
        "oss.service.created",
        "oss.service.deleted",
    ]


async def test_other_services_reach_the_manuals_through_the_api_module(engine: AsyncEngine) -> None:
    tenant = await oss_tenant(engine)
    permit = catalogue.decode_manual(manual(name_th="การขออนุญาตทดสอบ"))
    async with oss_db(engine, tenant) as session:
        assert await api.ensure_service(session, "permits-test", permit) is True
        assert await api.ensure_service(session, "permits-test", permit) is False  # idempotent
        assert await api.published_manual(session, "permits-test") is None  # a draft until the LAO publishes
        service_id = next(r["id"] for r in await catalogue.list_services(session, None) if r["code"] == "permits-test")
        await catalogue.publish_service(
            session, service_id, ServicePublish(version=1), actor=Actor("staff", "x"), origin=Origin()
        )
        published = await api.published_manual(session, "permits-test")
    assert published is not None
    assert (published.version, published.manual, published.total_time.minutes) == (1, permit, 150)
    assert published.page_path == "/v1/oss/pages/services/permits-test"


def assert_page(response: httpx.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    body = response.text
    assert '<html lang="th">' in body
    assert "<script" not in body
    assert " style=" not in body
    return body


async def test_the_public_pages_of_the_catalogue(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await oss_tenant(engine)
    public = host(tenant.slug)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        empty = assert_page(await http.get("/v1/oss/pages/services", headers=public))
        assert "ยังไม่มีคู่มือที่เผยแพร่" in empty
        services = {s["code"]: s for s in (await http.get("/v1/oss/services", headers=staff(tenant))).json()["items"]}
        for code in ("building-permit", "elderly-allowance"):
            response = await http.post(
                f"/v1/oss/services/{services[code]['id']}/publish", json={"version": 1}, headers=staff(tenant)
            )
            assert response.status_code == 200
        index = await http.get("/v1/oss/pages/services", headers=public)
        body = assert_page(index)
        assert index.headers["x-robots-tag"] == "index, follow"  # published by law, for everyone
        assert "/v1/oss/pages/services/building-permit" in body
        assert "/v1/oss/pages/services/elderly-allowance" in body
        assert "food-premises-notification" not in body  # a draft

        page = await http.get("/v1/oss/pages/services/building-permit", headers=public)
        body = assert_page(page)
        assert "คู่มือสำหรับประชาชน: การขออนุญาตก่อสร้าง" in body
        assert "Permit to construct, alter, demolish or move a building" in body
        assert "ระยะเวลาดำเนินการรวม" in body
        assert "40 วัน" in body
        assert "200.00 บาท" in body
        assert "สภาวิศวกร" in body
        published_be = (await http.get("/v1/oss/catalogue/building-permit", headers=public)).json()["published_date_be"]
        assert f"เผยแพร่เมื่อ {published_be} (ฉบับที่ 1)" in body  # a Buddhist-Era date
        allowance = assert_page(await http.get("/v1/oss/pages/services/elderly-allowance", headers=public))
        assert "ไม่มีค่าธรรมเนียม" in allowance
        assert "ไม่ได้กำหนดไว้ในกฎหมาย" in allowance

        missing = await http.get("/v1/oss/pages/services/food-premises-notification", headers=public)
        assert "ไม่พบคู่มือบริการนี้" in assert_page(missing, 404)
        css = await http.get("/v1/oss/assets/oss.css", headers=public)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert "@media print" in css.text
