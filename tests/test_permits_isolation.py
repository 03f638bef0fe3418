"""Tenant isolation of every building-permit endpoint: LAO A's applications, files and permits are
invisible from LAO B. Every route of the plugin with a path parameter is called on B's host, by
B's staff holding every permits role (the citizen's routes: by a citizen of B), with A's ids: each
answers 404 and A's data is unchanged. The walk reads the routes from the application, so a new
route with a path parameter fails this test until it is added here."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.pagination import encode_cursor
from localgov.plugins import REGISTRY
from localgov.services.permits import PLUGIN, applications
from tests.conftest import ClientFactory, host, make_settings
from tests.support.permits import (
    NOW_DEFAULT,
    application,
    approve,
    bill_paid_entries,
    deliver,
    make_permit_world,
    pay,
    png_bytes,
    submitted,
    to_decision,
)
from tests.support.routes import routes_of
from tests.support.tokens import bearer

APP = "/v1/permits/applications/{application_id}"
MINE = "/v1/permits/me/applications/{application_id}"
BODIES: dict[tuple[str, str], Any] = {
    ("GET", APP): None,
    ("PUT", APP): {"version": 1, "form": {}},
    ("POST", f"{APP}/submit"): None,
    ("POST", f"{APP}/files"): None,
    ("GET", f"{APP}/files/{{file_id}}"): None,
    ("POST", f"{APP}/actions/{{action}}"): {"version": 1},
    ("POST", f"{APP}/inspection"): {"version": 1, "at": "2030-01-07T10:00:00+07:00"},
    ("POST", f"{APP}/inspection/result"): {"version": 1, "passed": True, "note": "ผ่าน"},
    ("POST", f"{APP}/fees"): {"version": 1, "payer_id": str(uuid.UUID(int=1))},
    ("POST", f"{APP}/decision"): {"version": 1, "approve": True},
    ("POST", f"{APP}/extensions"): {"days": 1, "reason_th": "ขยาย"},
    ("GET", f"{APP}/permit/pdf"): None,
    ("POST", f"{APP}/permit/renew"): None,
    ("POST", f"{APP}/permit/revoke"): {"reason_th": "เพิกถอน"},
    ("GET", MINE): None,
    ("PUT", MINE): {"version": 1, "form": {}},
    ("POST", f"{MINE}/submit"): None,
    ("POST", f"{MINE}/files"): None,
    ("GET", f"{MINE}/files/{{file_id}}"): None,
    ("POST", f"{MINE}/actions/{{action}}"): {"version": 1},
    ("GET", f"{MINE}/permit/pdf"): None,
}
UPLOADS = {("POST", f"{APP}/files"), ("POST", f"{MINE}/files")}


async def test_every_permits_endpoint_hides_another_laos_data(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    a = await make_permit_world(engine, tmp_path / "files")
    b = await make_permit_world(engine, tmp_path / "files")
    app_id = await submitted(a, NOW_DEFAULT)
    await to_decision(a, app_id, NOW_DEFAULT)
    await approve(a, app_id, NOW_DEFAULT)
    await pay(a, app_id)
    (entry,) = await bill_paid_entries(a)
    await deliver(a, entry)
    issued = await application(a, app_id)
    assert issued.permit_number is not None
    async with a.db() as session:
        row = await applications.get_application(session, app_id)
    file_id = row["files"][0]["id"]

    b_staff = {
        **host(b.tenant.slug),
        **bearer(b.tenant, roles=[r.code for r in PLUGIN.roles], subject=str(b.staff["manager"])),
    }
    b_citizen = {**host(b.tenant.slug), **bearer(b.tenant, kind="citizen", subject=str(b.citizens["applicant"]))}
    values = {"application_id": str(app_id), "file_id": file_id, "action": "approve_plans"}
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        server: Litestar = http._transport.app  # type: ignore[attr-defined]
        walked = {
            (method, template)
            for method, template, _, _ in routes_of(server, "tenant")
            if template.startswith("/v1/permits/") and "{" in template
        }
        assert walked == set(BODIES), walked ^ set(BODIES)
        for (method, template), body in BODIES.items():
            path = template.format(**values)
            headers = b_citizen if template.startswith("/v1/permits/me/") else b_staff
            if (method, template) in UPLOADS:
                response = await http.request(
                    method,
                    path,
                    params={"document": "land_title"},
                    files={"data": ("scan.png", png_bytes(), "image/png")},
                    headers=headers,
                )
            else:
                response = await http.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (method, template, response.status_code, response.text[:200])

        # B's lists show nothing of A; A's id is no cursor on B.
        assert (await http.get("/v1/permits/applications", headers=b_staff)).json()["items"] == []
        assert (await http.get("/v1/permits/me/applications", headers=b_citizen)).json()["items"] == []
        after = await http.get(
            "/v1/permits/applications", params={"cursor": encode_cursor([str(app_id)])}, headers=b_staff
        )
        assert after.status_code == 404
        # B's own settings are B's: A's fee table change does not show.
        a_settings = (await http.get("/v1/permits/settings", headers=a.headers("manager"))).json()
        a_settings["issue_before_payment"] = True
        a_settings.pop("verify")
        put = await http.put("/v1/permits/settings", json=a_settings, headers=a.headers("manager"))
        assert put.status_code == 200, put.text
        assert (await http.get("/v1/permits/settings", headers=b_staff)).json()["issue_before_payment"] is False

        # A's data is as it was, and A's own staff and applicant still see it.
        shown = (await http.get(f"/v1/permits/applications/{app_id}", headers=a.headers("clerk"))).json()
        assert (shown["state"], shown["permit"]["status"]) == ("approved", "valid")
        assert len(shown["files"]) == len(row["files"])
        mine = await http.get(f"/v1/permits/me/applications/{app_id}", headers=a.headers("applicant"))
        assert mine.status_code == 200
        assert [
            i["id"] for i in (await http.get("/v1/permits/applications", headers=a.headers("clerk"))).json()["items"]
        ] == [str(app_id)]
