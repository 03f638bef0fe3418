"""Tenant isolation of every One Stop Service endpoint: what one LAO has is invisible from another.

Every route of the plugin that takes an id, a code or a token is called on LAO B's host, by B's
staff holding every OSS role (the citizen's routes: by a citizen of B), with A's values: each
answers 404 and A's data is unchanged. The list endpoints of B show nothing of A. The walk reads
the routes from the application, so a new route with a path parameter fails this test until it is
added here.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.pagination import encode_cursor
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.oss import manual, oss_tenant, point_a, staff
from tests.support.oss_cases import make_case_world, png_bytes, walk_in
from tests.support.oss_deadlines import late_case_notice
from tests.support.routes import routes_of
from tests.support.tokens import bearer

#: The body each route with a path parameter is sent (valid, so that a 404 is the lookup's answer).
BODIES: dict[tuple[str, str], Any] = {
    ("GET", "/v1/oss/services/{service_id}"): None,
    ("PUT", "/v1/oss/services/{service_id}"): {"version": 1, "manual": manual()},
    ("DELETE", "/v1/oss/services/{service_id}"): None,
    ("POST", "/v1/oss/services/{service_id}/publish"): {"version": 1},
    ("POST", "/v1/oss/services/{service_id}/unpublish"): None,
    ("GET", "/v1/oss/services/{service_id}/versions"): None,
    ("GET", "/v1/oss/services/{service_id}/versions/{version}"): None,
    ("GET", "/v1/oss/catalogue/{code}"): None,
    ("GET", "/v1/oss/points/{point_id}"): None,
    ("PATCH", "/v1/oss/points/{point_id}"): {"name_th": "เปลี่ยนชื่อ"},
    ("POST", "/v1/oss/points/{point_id}/tickets"): {},
    ("GET", "/v1/oss/points/{point_id}/tickets"): None,
    ("POST", "/v1/oss/points/{point_id}/call-next"): {"desk": "1"},
    ("GET", "/v1/oss/points/{point_id}/board"): None,
    ("GET", "/v1/oss/tickets/{ticket_id}"): None,
    ("POST", "/v1/oss/tickets/{ticket_id}/served"): None,
    ("POST", "/v1/oss/tickets/{ticket_id}/no-show"): None,
    ("POST", "/v1/oss/tickets/{ticket_id}/cancel"): None,
    ("GET", "/v1/oss/queue/{token}"): None,
    ("GET", "/v1/oss/pages/services/{code}"): None,
    ("GET", "/v1/oss/pages/queue/{token}"): None,
    ("GET", "/v1/oss/pages/queue/{token}/slip"): None,
    ("GET", "/v1/oss/pages/points/{point_id}/display"): None,
    # Requests (staff).
    ("GET", "/v1/oss/cases/{case_id}"): None,
    ("GET", "/v1/oss/cases/by-number/{number}"): None,
    ("GET", "/v1/oss/cases/{case_id}/actions"): None,
    ("POST", "/v1/oss/cases/{case_id}/actions/{action}"): {"version": 3},
    ("POST", "/v1/oss/cases/{case_id}/assign"): {"version": 3},
    ("GET", "/v1/oss/cases/{case_id}/comments"): None,
    ("POST", "/v1/oss/cases/{case_id}/comments"): {"body": "ดูได้ไหม"},
    ("GET", "/v1/oss/cases/{case_id}/files"): None,
    ("POST", "/v1/oss/cases/{case_id}/files"): None,
    ("GET", "/v1/oss/cases/{case_id}/files/{file_id}"): None,
    ("GET", "/v1/oss/cases/{case_id}/receipt"): None,
    ("POST", "/v1/oss/cases/{case_id}/verification-code"): None,
    ("POST", "/v1/oss/cases/{case_id}/deficiencies"): {
        "version": 3,
        "items": [{"kind": "criterion", "criterion_th": "ขาดหลักฐาน"}],
        "deadline_working_days": 3,
    },
    ("GET", "/v1/oss/cases/{case_id}/deficiencies/{record_id}"): None,
    ("GET", "/v1/oss/cases/{case_id}/deficiencies/{record_id}/pdf"): None,
    ("POST", "/v1/oss/cases/{case_id}/deficiencies/{record_id}/applicant-signature"): {},
    ("POST", "/v1/oss/cases/{case_id}/deficiencies/{record_id}/supplied"): {"version": 3},
    ("GET", "/v1/oss/inbox/units/{unit_id}"): None,
    ("GET", "/v1/oss/inbox/staff/{staff_id}"): None,
    # Requests (the citizen's own).
    ("GET", "/v1/oss/me/cases/{case_id}"): None,
    ("POST", "/v1/oss/me/cases/{case_id}/withdraw"): {"version": 3},
    ("POST", "/v1/oss/me/cases/{case_id}/comments"): {"body": "ดูได้ไหม"},
    ("POST", "/v1/oss/me/cases/{case_id}/files"): None,
    ("GET", "/v1/oss/me/cases/{case_id}/files/{file_id}"): None,
    ("GET", "/v1/oss/me/cases/{case_id}/receipt"): None,
    ("POST", "/v1/oss/me/cases/{case_id}/deficiencies/{record_id}/acknowledge"): None,
    ("POST", "/v1/oss/me/cases/{case_id}/deficiencies/{record_id}/supplied"): {"version": 3},
    ("GET", "/v1/oss/me/cases/{case_id}/deficiencies/{record_id}/pdf"): None,
    ("GET", "/v1/oss/notices/{notice_id}"): None,
    ("POST", "/v1/oss/notices/{notice_id}/hand-delivery"): {"how": "letter", "on": "2026-03-20"},
}
#: Routes whose path parameter is not an object of the LAO but a day or a year of its calendar:
#: B reads and sets its own days there (tests/test_oss_deadlines.py checks that they are B's own).
CALENDAR_ROUTES = {
    ("GET", "/v1/oss/calendar/{year}"),
    ("PUT", "/v1/oss/calendar/days/{day}"),
    ("DELETE", "/v1/oss/calendar/days/{day}"),
}
#: Upload routes: sent a valid multipart body.
UPLOADS = {("POST", "/v1/oss/cases/{case_id}/files"), ("POST", "/v1/oss/me/cases/{case_id}/files")}


async def test_every_oss_endpoint_hides_another_laos_data(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    world = await make_case_world(engine)
    a = world.tenant
    b = await oss_tenant(engine)
    a_point = await point_a(engine, a)
    b_point = await point_a(engine, b)
    b_citizen = {**host(b.slug), **bearer(b, kind="citizen", subject=str(uuid.uuid4()))}
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        created = await http.post("/v1/oss/services", json={"code": "only-in-a", "manual": manual()}, headers=staff(a))
        service = created.json()
        await http.post(f"/v1/oss/services/{service['id']}/publish", json={"version": 1}, headers=staff(a))
        waiting = (await http.post(f"/v1/oss/points/{a_point}/tickets", json={}, headers=staff(a))).json()
        await http.post(f"/v1/oss/points/{a_point}/tickets", json={}, headers=staff(a))
        # A's request: filed online by A's citizen, being checked, a file and a deficiency record.
        filed = await http.post(
            "/v1/oss/me/cases", json={"service_code": "test-request"}, headers=world.headers("applicant")
        )
        opened = filed.json()
        request = opened["case"]
        started = await http.post(
            f"/v1/oss/cases/{request['id']}/actions/start_check",
            json={"version": request["version"]},
            headers=world.headers("officer"),
        )
        uploaded = await http.post(
            f"/v1/oss/cases/{request['id']}/files",
            files={"data": ("id.png", png_bytes(), "image/png")},
            headers=world.headers("officer"),
        )
        recorded = await http.post(
            f"/v1/oss/cases/{request['id']}/deficiencies",
            json={
                "version": started.json()["version"],
                "items": [{"kind": "document", "document_code": "doc.1"}],
                "deadline_working_days": 5,
            },
            headers=world.headers("officer"),
        )
        assert recorded.status_code == 201, recorded.text
        await http.put(
            "/v1/oss/case-settings",
            json={"case_type": "oss.request", "state": "considering", "sla_days": 9},
            headers=world.headers("manager"),
        )
        values = {
            "service_id": service["id"],
            "version": "1",
            "code": "only-in-a",
            "point_id": str(a_point),
            "ticket_id": waiting["id"],
            "token": waiting["follow_path"].rsplit("/", 1)[1],
            "case_id": request["id"],
            "number": request["tracking_number"],
            "action": "accept",
            "file_id": uploaded.json()["id"],
            "record_id": recorded.json()["id"],
            "unit_id": str(world.units["counter"]),
            "staff_id": str(world.staff["officer"]),
            "notice_id": str(await late_case_notice(engine, a)),
        }

        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        walked = {
            (method, template)
            for method, template, _, _ in routes_of(app, "tenant")
            if template.startswith("/v1/oss/") and "{" in template and (method, template) not in CALENDAR_ROUTES
        }
        assert walked == set(BODIES), walked ^ set(BODIES)
        for (method, template), body in BODIES.items():
            path = template.format(**values)
            headers = b_citizen if template.startswith("/v1/oss/me/") else staff(b)
            if (method, template) in UPLOADS:
                files = {"data": ("scan.png", png_bytes(), "image/png")}
                response = await http.request(method, path, files=files, headers=headers)
            else:
                response = await http.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (method, template, response.status_code, response.text[:200])

        # The lists of B show nothing of A.
        b_services = (await http.get("/v1/oss/services", headers=staff(b))).json()["items"]
        assert "only-in-a" not in {s["code"] for s in b_services}
        assert service["id"] not in {s["id"] for s in b_services}
        assert (await http.get("/v1/oss/catalogue", headers=host(b.slug))).json()["items"] == []
        assert "only-in-a" not in (await http.get("/v1/oss/pages/services", headers=host(b.slug))).text
        assert [p["id"] for p in (await http.get("/v1/oss/points", headers=staff(b))).json()["items"]] == [str(b_point)]
        assert (await http.get(f"/v1/oss/points/{b_point}/tickets", headers=staff(b))).json()["items"] == []
        after = await http.get(
            f"/v1/oss/points/{b_point}/tickets", params={"cursor": encode_cursor([waiting["id"]])}, headers=staff(b)
        )
        assert after.status_code == 404
        board = (await http.get(f"/v1/oss/points/{b_point}/board", headers=host(b.slug))).json()
        assert (board["serving"], board["next"], board["waiting"]) == ([], [], 0)
        stats = await http.get(
            "/v1/oss/queue-stats",
            params={"date_from": waiting["service_day"], "date_to": waiting["service_day"], "point_id": str(a_point)},
            headers=staff(b),
        )
        assert stats.status_code == 404
        all_stats = await http.get(
            "/v1/oss/queue-stats",
            params={"date_from": waiting["service_day"], "date_to": waiting["service_day"]},
            headers=staff(b),
        )
        assert all_stats.json()["items"] == []
        # B's requests, inboxes and settings show nothing of A; A's number and code mean nothing on B.
        assert (await http.get("/v1/oss/me/cases", headers=b_citizen)).json()["items"] == []
        for inbox in ("/v1/oss/inbox/mine", "/v1/oss/inbox/actionable"):
            assert (await http.get(inbox, headers=staff(b))).json()["items"] == [], inbox
        assert (
            await http.get("/v1/oss/inbox/mine", params={"cursor": encode_cursor([request["id"]])}, headers=staff(b))
        ).status_code == 404
        settings_b = (await http.get("/v1/oss/case-settings", headers=staff(b))).json()["items"][0]
        assert all(state["setting"] is None for state in settings_b["states"])
        lookup = {"tracking_number": request["tracking_number"], "verification_code": opened["verification_code"]}
        assert (await http.post("/v1/oss/track", json=lookup, headers=host(b.slug))).status_code == 404
        assert (await http.post("/v1/oss/track", json=lookup, headers=host(a.slug))).status_code == 200
        page = await http.post("/v1/oss/pages/track", data=lookup, headers=host(b.slug))
        assert page.status_code == 404
        # B's first request is B's 000001: numbers are per LAO.
        b_request = await http.post("/v1/oss/cases", json=walk_in(service_code="building-permit"), headers=staff(b))
        assert b_request.json()["code"] == "service_not_published"  # B has not published A's service

        # B's first ticket is B's A001: numbers are per LAO too.
        own = (await http.post(f"/v1/oss/points/{b_point}/tickets", json={}, headers=staff(b))).json()
        assert own["number"] == "A001"

        # A's data is as it was.
        assert (await http.get(f"/v1/oss/services/{service['id']}", headers=staff(a))).json()["version"] == 1
        assert (await http.get("/v1/oss/catalogue/only-in-a", headers=host(a.slug))).status_code == 200
        point = (await http.get(f"/v1/oss/points/{a_point}", headers=staff(a))).json()
        assert point["name_th"] == "ศูนย์บริการร่วม"
        ticket = (await http.get(f"/v1/oss/tickets/{waiting['id']}", headers=staff(a))).json()
        assert ticket["status"] == "waiting"
        a_tickets = (await http.get(f"/v1/oss/points/{a_point}/tickets", headers=staff(a))).json()["items"]
        assert [t["number"] for t in a_tickets] == ["A001", "A002"]
        a_request = (await http.get(f"/v1/oss/cases/{request['id']}", headers=world.headers("officer"))).json()
        assert (a_request["state"], a_request["version"]) == ("deficient", started.json()["version"] + 1)
        assert [c["body"] for c in a_request["comments"]] == []
        assert len(a_request["files"]) == 1
        assert a_request["deficiencies"][0]["applicant_ack_at"] is None
        assert a_request["assigned_unit_id"] is None
        notice = (await http.get(f"/v1/oss/notices/{values['notice_id']}", headers=staff(a))).json()
        assert (notice["kind"], notice["hand_delivery"]) == ("delay", None)


async def test_a_tenant_without_the_service_gets_404_on_every_oss_route(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    a = await oss_tenant(engine)
    without = await make_tenant(engine, services=["payments"])
    async with client_for(plugins=REGISTRY, listen=False) as http:
        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        for method, template, path, _ in routes_of(app, "tenant"):
            if not template.startswith("/v1/oss/"):
                continue
            response = await http.request(method, path, headers=staff(without))
            assert response.status_code == 404, (method, template)
            assert response.json()["code"] == "service_not_enabled"
        assert (await http.get("/v1/oss/catalogue", headers=host(a.slug))).status_code == 200
