"""The food service over HTTP: the counter's flow, refusals as problem details, the public
verification of valid / cancelled / revoked certificates, the published register (opt-in, no
personal data, keyset pages), and tenant isolation through every endpoint."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.pagination import encode_cursor
from localgov.kernel.thai import bangkok_today, be_year
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host, make_settings
from tests.support.food import FoodWorld, food_world, notification_body, notifier, png_bytes
from tests.support.paging import walk_pages
from tests.support.routes import routes_of


async def certified(http: httpx.AsyncClient, world: FoodWorld, **changes: Any) -> dict[str, Any]:
    """File, attach both documents, certify: the certificate as the API shows it."""
    filed = await http.post(
        "/v1/food/notifications", json=notification_body(**changes), headers=world.headers("officer")
    )
    assert filed.status_code == 201, filed.text
    notification = filed.json()
    for code in ("id_copy", "site_plan"):
        uploaded = await http.post(
            f"/v1/food/notifications/{notification['id']}/files",
            params={"document": code},
            files={"data": (f"{code}.png", png_bytes() + code.encode(), "image/png")},
            headers=world.headers("officer"),
        )
        assert uploaded.status_code == 201, uploaded.text
    done = await http.post(
        f"/v1/food/notifications/{notification['id']}/certify",
        json={"version": notification["version"]},
        headers=world.headers("officer"),
    )
    assert done.status_code == 200, done.text
    certificate_id = done.json()["certificate_id"]
    read = await http.get(f"/v1/food/certificates/{certificate_id}", headers=world.headers("officer"))
    assert read.status_code == 200, read.text
    body: dict[str, Any] = read.json()
    return body


def verification_path(certificate: dict[str, Any]) -> str:
    code = certificate["verification_url"].rsplit("/", 1)[1]
    return f"/v1/documents/verify/{code}"


async def test_the_counter_flow_refusals_verification_and_register(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    world = await food_world(engine, tmp_path / "files")
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        # Refusals are problem details with stable codes.
        too_big = await http.post(
            "/v1/food/notifications", json=notification_body(area_m2="250"), headers=world.headers("officer")
        )
        assert too_big.status_code == 422
        assert too_big.headers["content-type"].startswith("application/problem+json")
        problem = too_big.json()
        assert problem["code"] == "food_area_requires_licence"
        assert "ใบอนุญาต" in problem["title"]
        assert "licence" in problem["title"]
        assert problem["data"]["route"] == "licence"
        bad = notification_body()
        bad["notifier"] = notifier(national_id="1101700203451")
        bad_id = await http.post("/v1/food/notifications", json=bad, headers=world.headers("officer"))
        assert (bad_id.status_code, bad_id.json()["code"]) == (422, "invalid_tax_id")
        inspector = await http.post(
            "/v1/food/notifications", json=notification_body(), headers=world.headers("inspector")
        )
        assert inspector.status_code == 403

        # A retried filing with the same Idempotency-Key is the same notification.
        retried = [
            await http.post(
                "/v1/food/notifications",
                json=notification_body(name="ร้านลองซ้ำ"),
                headers={**world.headers("officer"), "Idempotency-Key": "counter-7-0001"},
            )
            for _ in range(2)
        ]
        assert [r.status_code for r in retried] == [201, 201]
        assert retried[0].json()["id"] == retried[1].json()["id"]
        assert retried[1].headers.get("Idempotent-Replayed") == "true"

        first = await certified(http, world)
        second = await certified(http, world, name="ร้านน้ำแข็งใสลุงชม", kind="storage", area_m2="15")
        year = be_year(bangkok_today())
        assert (first["number"], second["number"]) == (f"1/{year}", f"2/{year}")
        assert [e["kind"] for e in first["history"]] == ["issued"]
        assert [(f["kind"], f["amount"]) for f in first["fees"]] == [("first", "100.00")]
        pdf = await http.get(f"/v1/food/certificates/{first['id']}/pdf", headers=world.headers("officer"))
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")

        # Change of details crossing 200 m² is refused; the certificate stays as it was.
        crossing = await http.patch(
            f"/v1/food/certificates/{first['id']}",
            json={"version": 1, "area_m2": "200.5"},
            headers=world.headers("officer"),
        )
        assert (crossing.status_code, crossing.json()["code"]) == (422, "food_area_requires_licence")

        # Verification: valid, then cancelled by the holder, revoked by the authority.
        assert (await http.get(verification_path(first), headers=host(world.tenant.slug))).json()["status"] == "valid"
        officer_revokes = await http.post(
            f"/v1/food/certificates/{second['id']}/revoke",
            json={"version": 1, "reason": "x"},
            headers=world.headers("officer"),
        )
        assert officer_revokes.status_code == 403
        revoked = await http.post(
            f"/v1/food/certificates/{second['id']}/revoke",
            json={"version": 1, "reason": "ไม่ปฏิบัติตามคำแนะนำของเจ้าพนักงาน"},
            headers=world.headers("authority"),
        )
        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"
        cancelled = await http.post(
            f"/v1/food/certificates/{first['id']}/cancel",
            json={"version": 1, "reason": "เลิกกิจการ"},
            headers=world.headers("officer"),
        )
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        again = await http.post(
            f"/v1/food/certificates/{first['id']}/cancel",
            json={"version": 2, "reason": "ซ้ำ"},
            headers=world.headers("officer"),
        )
        assert (again.status_code, again.json()["code"]) == (409, "food_certificate_not_active")
        assert (await http.get(verification_path(first), headers=host(world.tenant.slug))).json()["status"] == "void"
        assert (await http.get(verification_path(second), headers=host(world.tenant.slug))).json()[
            "status"
        ] == "revoked"

        # The register is published only when the LAO says so, and shows no personal data.
        public = host(world.tenant.slug)
        assert (await http.get("/v1/food/register", headers=public)).json()["code"] == "food_register_not_published"
        put = await http.put("/v1/food/settings", json={"publish_register": True}, headers=world.headers("manager"))
        assert put.status_code == 200
        assert put.json()["publish_register"] is True
        third = await certified(http, world, name="ร้านก๋วยเตี๋ยวเรือ")
        page_one = await http.get("/v1/food/register", params={"limit": 2}, headers=public)
        assert page_one.status_code == 200, page_one.text
        items = page_one.json()["items"]
        assert len(items) == 2
        assert page_one.json()["next_cursor"] == encode_cursor([items[-1]["id"]])
        page_two = (
            await http.get(
                "/v1/food/register", params={"limit": 2, "cursor": encode_cursor([items[-1]["id"]])}, headers=public
            )
        ).json()
        listed = {entry["number"]: entry for entry in items + page_two["items"]}
        assert page_two["next_cursor"] is None
        assert {n: e["status"] for n, e in listed.items()} == {
            first["number"]: "cancelled",
            second["number"]: "revoked",
            third["number"]: "active",
        }
        assert listed[second["number"]]["kind_th"] == "สถานที่สะสมอาหาร"
        text = page_one.text + str(page_two)
        for personal in ("นางสมศรี", "1101700203450", "081-234-5678", "somsri@example.com"):
            assert personal not in text

        # Fees: the table, a quote, the annual run (twice: nothing billed twice).
        table = (await http.get("/v1/food/fees", headers=world.headers("finance"))).json()
        assert [(b["max_area_m2"], b["annual_fee"]) for b in table["bands"]] == [
            ("20.00", "20.00"),
            ("200.00", "100.00"),
        ]
        quote = (
            await http.get("/v1/food/fees/quote", params={"area_m2": "20"}, headers=world.headers("finance"))
        ).json()
        assert (quote["amount"], quote["late_surcharge"]) == ("20.00", "4.00")
        for _ in range(2):
            run = await http.post("/v1/food/fees/annual-run", json={"year": 2570}, headers=world.headers("finance"))
            assert run.status_code == 200, run.text
        assert (run.json()["bills_created"], run.json()["already_billed"]) == (0, run.json()["certificates"])
        officer_runs = await http.post("/v1/food/fees/annual-run", json={}, headers=world.headers("officer"))
        assert officer_runs.status_code == 403


#: The body each food route with a path parameter is sent (valid, so that a 404 is the lookup's answer).
BODIES: dict[tuple[str, str], Any] = {
    ("GET", "/v1/food/notifications/{notification_id}"): None,
    ("POST", "/v1/food/notifications/{notification_id}/files"): None,
    ("GET", "/v1/food/notifications/{notification_id}/files/{file_id}"): None,
    ("POST", "/v1/food/notifications/{notification_id}/request-documents"): {"version": 1, "comment": "ขาดเอกสาร"},
    ("POST", "/v1/food/notifications/{notification_id}/resubmit"): {"version": 1},
    ("POST", "/v1/food/notifications/{notification_id}/withdraw"): {"version": 1},
    ("POST", "/v1/food/notifications/{notification_id}/refuse"): {"version": 1, "comment": "ไม่รับแจ้ง"},
    ("POST", "/v1/food/notifications/{notification_id}/certify"): {"version": 1},
    ("GET", "/v1/food/certificates/{certificate_id}"): None,
    ("PATCH", "/v1/food/certificates/{certificate_id}"): {"version": 1, "seats": 3},
    ("GET", "/v1/food/certificates/{certificate_id}/pdf"): None,
    ("POST", "/v1/food/certificates/{certificate_id}/transfer"): {"version": 1, "holder": notifier()},
    ("POST", "/v1/food/certificates/{certificate_id}/cancel"): {"version": 1, "reason": "เลิกกิจการ"},
    ("POST", "/v1/food/certificates/{certificate_id}/revoke"): {"version": 1, "reason": "ฝ่าฝืน"},
    ("GET", "/v1/food/certificates/{certificate_id}/inspections"): None,
    ("POST", "/v1/food/certificates/{certificate_id}/inspections"): {
        "visited_on": "2026-12-01",
        "answers": [{"code": "premises_clean", "passed": True}],
    },
    ("GET", "/v1/food/inspections/{inspection_id}"): None,
    ("POST", "/v1/food/inspections/{inspection_id}/photos"): None,
    ("GET", "/v1/food/inspections/{inspection_id}/photos/{file_id}"): None,
    ("DELETE", "/v1/food/fees/waivers/{waiver_id}"): None,
}
UPLOADS = {
    ("POST", "/v1/food/notifications/{notification_id}/files"),
    ("POST", "/v1/food/inspections/{inspection_id}/photos"),
}


async def test_every_food_endpoint_hides_another_laos_data(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    a = await food_world(engine, tmp_path / "files")
    b = await food_world(engine, tmp_path / "files")
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        certificate = await certified(http, a)
        notification = (
            await http.get(f"/v1/food/notifications/{certificate['notification_id']}", headers=a.headers("officer"))
        ).json()
        checklist = (await http.get("/v1/food/checklist", headers=a.headers("inspector"))).json()["items"]
        visit = await http.post(
            f"/v1/food/certificates/{certificate['id']}/inspections",
            json={
                "visited_on": certificate["issued_on"],
                "answers": [{"code": i["code"], "passed": True} for i in checklist],
            },
            headers=a.headers("inspector"),
        )
        assert visit.status_code == 201, visit.text
        for _ in range(2):  # more visits the same day: the list pages by (visited_on, id)
            again = await http.post(
                f"/v1/food/certificates/{certificate['id']}/inspections",
                json={
                    "visited_on": certificate["issued_on"],
                    "answers": [{"code": i["code"], "passed": True} for i in checklist],
                },
                headers=a.headers("inspector"),
            )
            assert again.status_code == 201, again.text
        visits_path = f"/v1/food/certificates/{certificate['id']}/inspections"
        every = (await http.get(visits_path, headers=a.headers("officer"))).json()["items"]
        assert len(every) == 3
        assert await walk_pages(http, visits_path, a.headers("officer"), limit=2) == every
        photo = await http.post(
            f"/v1/food/inspections/{visit.json()['id']}/photos",
            files={"data": ("shop.png", png_bytes(), "image/png")},
            headers=a.headers("inspector"),
        )
        assert photo.status_code == 201, photo.text
        waiver = await http.post(
            "/v1/food/fees/waivers",
            json={"starts_on": "2030-01-01", "ends_on": "2030-12-31", "percent": "50", "note_th": "ลดครึ่งหนึ่ง"},
            headers=a.headers("finance"),
        )
        assert waiver.status_code == 201, waiver.text
        values = {
            "notification_id": notification["id"],
            "file_id": notification["files"][0]["id"],
            "certificate_id": certificate["id"],
            "inspection_id": visit.json()["id"],
            "waiver_id": waiver.json()["id"],
        }
        photo_path = f"/v1/food/inspections/{values['inspection_id']}/photos/{photo.json()['id']}"

        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        walked = {
            (method, template)
            for method, template, _, _ in routes_of(app, "tenant")
            if template.startswith("/v1/food/") and "{" in template
        }
        assert walked == set(BODIES), walked ^ set(BODIES)
        for (method, template), body in BODIES.items():
            path = template.format(**values)
            if template.endswith("/photos/{file_id}"):
                path = photo_path
            if (method, template) in UPLOADS:
                files = {"data": ("scan.png", png_bytes(), "image/png")}
                response = await http.request(
                    method, path, params={"document": "id_copy"}, files=files, headers=b.headers("manager")
                )
            else:
                response = await http.request(method, path, json=body, headers=b.headers("manager"))
            assert response.status_code == 404, (method, template, response.status_code, response.text[:200])

        # B's lists show nothing of A's; A's data is unchanged.
        assert (await http.get("/v1/food/certificates", headers=b.headers("manager"))).json()["items"] == []
        assert (await http.get("/v1/food/fees", headers=b.headers("manager"))).json()["waivers"] == []
        await http.put("/v1/food/settings", json={"publish_register": True}, headers=b.headers("manager"))
        assert (await http.get("/v1/food/register", headers=host(b.tenant.slug))).json()["items"] == []
        unchanged = (await http.get(f"/v1/food/certificates/{certificate['id']}", headers=a.headers("officer"))).json()
        assert unchanged["status"] == "active"
        assert unchanged["version"] == 1
        assert (await http.get(photo_path, headers=a.headers("officer"))).status_code == 200
        other = uuid.uuid4()
        assert (await http.get(f"/v1/food/certificates/{other}", headers=a.headers("officer"))).status_code == 404
