"""One Stop Service requests over HTTP: intake at the counter and online, tracking numbers and
verification codes, the receipt, the public status (JSON and page), actions with their rules,
assignment, inboxes, comments, the citizen's view, metering, the LAO's settings of the workflow."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.calendar import end_of_day, load_calendar
from localgov.kernel.pagination import encode_cursor
from localgov.kernel.thai import bangkok_today, fiscal_year
from localgov.kernel.usage import UsageEvent
from localgov.plugins import REGISTRY
from localgov.services.oss import cases
from localgov.services.oss.params import TRACK_LIMIT_PER_NUMBER
from localgov.settings import Settings
from tests.conftest import ClientFactory, make_settings
from tests.support.oss import point_a
from tests.support.oss_cases import THAI_ID, CaseWorld, make_case_world, png_bytes, walk_in
from tests.support.paging import walk_pages

CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")


@pytest.fixture
def case_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, storage_dir=str(tmp_path / "files"))


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def open_walk_in(http: httpx.AsyncClient, w: CaseWorld, **changes: Any) -> dict[str, Any]:
    response = await http.post("/v1/oss/cases", json=walk_in(**changes), headers=w.headers("officer"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(http: httpx.AsyncClient, w: CaseWorld, case_id: str, document: str, who: str = "officer") -> None:
    prefix = "/v1/oss/me/cases" if who in w.citizens else "/v1/oss/cases"
    response = await http.post(
        f"{prefix}/{case_id}/files",
        params={"document": document},
        files={"data": (f"{document}.png", png_bytes(), "image/png")},
        headers=w.headers(who),
    )
    assert response.status_code == 201, response.text


async def act(
    http: httpx.AsyncClient, w: CaseWorld, case: dict[str, Any], action: str, who: str, **body: Any
) -> httpx.Response:
    return await http.post(
        f"/v1/oss/cases/{case['id']}/actions/{action}",
        json={"version": case["version"], **body},
        headers=w.headers(who),
    )


# --- intake ---------------------------------------------------------------------------------------------


async def test_a_walk_in_is_numbered_checked_and_metered(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        point = await point_a(engine, w.tenant)
        issued = await http.post(f"/v1/oss/points/{point}/tickets", json={}, headers=w.headers("officer"))
        assert issued.status_code == 201, issued.text
        ticket = issued.json()
        opened = await open_walk_in(http, w, ticket_id=ticket["id"], note="ผู้ยื่นมาด้วยตนเอง")
        case = opened["case"]
        today = bangkok_today()
        assert case["tracking_number"] == f"{w.tenant.dla_code}-{fiscal_year(today)}-000001"
        assert CODE_RE.fullmatch(opened["verification_code"]), opened["verification_code"]
        assert opened["track_url"] == (
            f"https://{w.tenant.slug}.localgov.test/v1/oss/pages/track?number={case['tracking_number']}"
        )
        # Received and checked at once by the officer at the counter.
        assert (case["state"], case["channel"], case["ticket_id"]) == ("checking", "counter", ticket["id"])
        assert [(s["action"], s["to_state"], s["actor_id"]) for s in case["history"]] == [
            ("open", "received", str(w.staff["officer"])),
            ("start_check", "checking", str(w.staff["officer"])),
        ]
        assert case["history"][0]["comment"] == "ผู้ยื่นมาด้วยตนเอง"
        # The manual at intake: its documents (coded) and its total time (3 days 2 hours: 4 working days).
        assert case["service"]["code"] == "test-request"
        assert case["service"]["version"] == 1
        assert [(d["code"], d["name_th"], d["on_file"]) for d in case["required_documents"]] == [
            ("doc.1", "บัตรประจำตัวประชาชน", False),
            ("doc.2", "สำเนาทะเบียนบ้าน", False),
        ]
        assert case["sla_days"] == 4
        async with w.db() as session:
            calendar = await load_calendar(session)
        assert case["due_at"] == end_of_day(calendar.add_working_days(today, 4)).isoformat().replace("+00:00", "Z")
        assert case["applicant"] == {
            "name": "นายสมชาย ใจดี",
            "citizen_id": None,
            "thai_id": THAI_ID,
            "phone": "081-234-5678",
            "email": None,
            "address_th": None,
        }
        second = await open_walk_in(http, w, applicant_thai_id="1-1017-00203-45-0")  # separators are forgiven
        assert second["case"]["tracking_number"].endswith("-000002")
        # One usage event per opened request (key per case), none decided yet.
        async with w.db() as session:
            events = (
                await session.execute(
                    select(UsageEvent.meter, UsageEvent.key)
                    .where(UsageEvent.tenant_id == w.tenant.id)
                    .order_by(UsageEvent.id)
                )
            ).all()
        assert [tuple(e) for e in events] == [
            ("oss.cases_opened", f"oss.case_opened:{case['id']}"),
            ("oss.cases_opened", f"oss.case_opened:{second['case']['id']}"),
        ]


async def test_intake_checks_its_input(engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings) -> None:
    w = await make_case_world(engine)
    other = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        foreign_ticket = (
            await http.post(
                f"/v1/oss/points/{await point_a(engine, other.tenant)}/tickets",
                json={},
                headers=other.headers("officer"),
            )
        ).json()
        refusals: list[tuple[dict[str, Any], int, str]] = [
            (walk_in(applicant_thai_id="1101700203451"), 422, "invalid_tax_id"),
            (walk_in(applicant_thai_id="12345"), 400, "validation_error"),
            (walk_in(phone="12"), 400, "validation_error"),
            (walk_in(phone="123456789"), 422, "invalid_phone"),
            (walk_in(email="not an address"), 400, "invalid_email"),
            (walk_in(service_code="no-such-service"), 422, "service_not_published"),
            (walk_in(service_code="building-permit"), 422, "service_not_published"),  # a seeded draft
            (walk_in(ticket_id=foreign_ticket["id"]), 422, "unknown_ticket"),
            (walk_in(applicant_name="สมชาย\nใจดี"), 400, "validation_error"),
            (walk_in(extra="x"), 400, "validation_error"),
            ({"service_code": "test-request"}, 400, "validation_error"),
        ]
        for body, status, code in refusals:
            response = await http.post("/v1/oss/cases", json=body, headers=w.headers("officer"))
            assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        # Nothing was opened, and no number was spent: the next one is the first.
        assert (await open_walk_in(http, w))["case"]["tracking_number"].endswith("-000001")
        # An editor of manuals does not receive requests.
        refused = await http.post("/v1/oss/cases", json=walk_in(), headers=w.headers("editor"))
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


async def test_a_retried_walk_in_with_its_key_opens_one_request(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        headers = {**w.headers("officer"), "Idempotency-Key": "walk-in-1"}
        first = await http.post("/v1/oss/cases", json=walk_in(), headers=headers)
        again = await http.post("/v1/oss/cases", json=walk_in(), headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["case"]["id"] == first.json()["case"]["id"]
        assert (await open_walk_in(http, w))["case"]["tracking_number"].endswith("-000002")


async def test_a_citizen_files_online_and_follows_his_own_requests(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        created = await http.post(
            "/v1/oss/me/cases",
            json={"service_code": "test-request", "details_th": "ขอรับรอง"},
            headers=w.headers("applicant"),
        )
        assert created.status_code == 201, created.text
        case = created.json()["case"]
        assert (case["state"], case["channel"]) == ("received", "online")
        assert case["applicant"]["name"] == "นายapplicant รักดี"  # the account's name
        assert case["applicant"]["email"] == "applicant@example.com"
        assert case["applicant"]["citizen_id"] == str(w.citizens["applicant"])
        mine = await http.get("/v1/oss/me/cases", headers=w.headers("applicant"))
        assert [c["id"] for c in mine.json()["items"]] == [case["id"]]
        assert mine.json()["items"][0]["service_name_th"] == "การขอหนังสือรับรองทดสอบ"
        assert (await http.get("/v1/oss/me/cases", headers=w.headers("stranger"))).json()["items"] == []
        theirs = await http.get(f"/v1/oss/me/cases/{case['id']}", headers=w.headers("stranger"))
        assert (theirs.status_code, theirs.json()["code"]) == (404, "case_not_found")
        # Staff take it from there: the check starts.
        started = await act(http, w, case, "start_check", "officer")
        assert started.status_code == 200, started.text
        assert started.json()["state"] == "checking"
        # A note of staff stays internal; a message to the applicant reaches him; his own reaches them.
        internal = await http.post(
            f"/v1/oss/cases/{case['id']}/comments", json={"body": "โทรแจ้งแล้ว ไม่รับสาย"}, headers=w.headers("officer")
        )
        assert internal.status_code == 201, internal.text
        visible = await http.post(
            f"/v1/oss/cases/{case['id']}/comments",
            json={"body": "โปรดนำบัตรประชาชนตัวจริงมาแสดง", "visible_to_applicant": True},
            headers=w.headers("officer"),
        )
        assert visible.json()["visible_to_applicant"] is True
        reply = await http.post(
            f"/v1/oss/me/cases/{case['id']}/comments", json={"body": "จะนำไปวันจันทร์ครับ"}, headers=w.headers("applicant")
        )
        assert (reply.status_code, reply.json()["author_kind"], reply.json()["author_id"]) == (
            201,
            "citizen",
            str(w.citizens["applicant"]),
        )
        assert (
            await http.post(
                f"/v1/oss/me/cases/{case['id']}/comments", json={"body": "แอบดู"}, headers=w.headers("stranger")
            )
        ).status_code == 404
        seen = (await http.get(f"/v1/oss/me/cases/{case['id']}", headers=w.headers("applicant"))).json()
        assert [c["body"] for c in seen["comments"]] == ["โปรดนำบัตรประชาชนตัวจริงมาแสดง", "จะนำไปวันจันทร์ครับ"]
        assert seen["comments"][0]["author_id"] is None  # no member's identity
        assert all(s["actor_id"] is None for s in seen["history"] if s["actor_kind"] == "staff")
        assert seen["actions"] == ["withdraw"]
        staff_comments = (await http.get(f"/v1/oss/cases/{case['id']}/comments", headers=w.headers("officer"))).json()
        assert [c["body"] for c in staff_comments["items"]] == [
            "โทรแจ้งแล้ว ไม่รับสาย",
            "โปรดนำบัตรประชาชนตัวจริงมาแสดง",
            "จะนำไปวันจันทร์ครับ",
        ]
        walked = await walk_pages(http, f"/v1/oss/cases/{case['id']}/comments", w.headers("officer"), limit=2)
        assert walked == staff_comments["items"]
        # He withdraws it; it is closed for him and for staff.
        withdrawn = await http.post(
            f"/v1/oss/me/cases/{case['id']}/withdraw",
            json={"version": started.json()["version"], "comment": "ยื่นผิดเรื่อง"},
            headers=w.headers("applicant"),
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert (withdrawn.json()["state"], withdrawn.json()["actions"]) == ("withdrawn", [])
        assert withdrawn.json()["history"][-1]["comment"] == "ยื่นผิดเรื่อง"
        again = await http.post(
            f"/v1/oss/me/cases/{case['id']}/withdraw", json={"version": withdrawn.json()["version"]},
            headers=w.headers("applicant"),
        )  # fmt: skip
        assert (again.status_code, again.json()["code"]) == (409, "case_action_unavailable")


# --- the receipt and the public status -------------------------------------------------------------------


async def test_the_receipt_and_the_public_status(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    other = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        opened = await open_walk_in(http, w)
        case, code = opened["case"], opened["verification_code"]
        receipt = await http.get(f"/v1/oss/cases/{case['id']}/receipt", headers=w.headers("officer"))
        assert (receipt.status_code, receipt.headers["content-type"]) == (200, "application/pdf")
        printed = pdf_text(receipt.content)
        assert "ใบรับคำขอ" in printed
        assert case["tracking_number"] in printed
        assert code in printed
        reprint = await http.get(f"/v1/oss/cases/{case['id']}/receipt", headers=w.headers("officer"))
        assert pdf_text(reprint.content) == printed  # the same code on every print

        number = case["tracking_number"]
        status = await http.post("/v1/oss/track", json={"tracking_number": number, "verification_code": code},
                                 headers=w.public())  # fmt: skip
        assert status.status_code == 200, status.text
        body = status.json()
        assert (body["state"], body["state_title_th"]) == ("checking", "ตรวจสอบคำขอและเอกสาร")
        assert body["applicant_masked"] == "นายสมชาย ใจ***"
        assert [s["title_en"] for s in body["steps"]] == ["Request filed", "Being checked"]
        assert body["service_name_th"] == "การขอหนังสือรับรองทดสอบ"
        assert "thai_id" not in status.text
        assert THAI_ID not in status.text
        # Typed sloppily from paper: Thai digits, lower case, no hyphen, O for 0.
        thai_digits = number.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
        sloppy = " ".join(code.replace("-", "").lower().replace("0", "o").replace("1", "l"))
        forgiving = await http.post(
            "/v1/oss/track", json={"tracking_number": thai_digits, "verification_code": sloppy}, headers=w.public()
        )
        assert forgiving.status_code == 200
        # A wrong code and an unknown number are the same 404.
        wrong = await http.post(
            "/v1/oss/track", json={"tracking_number": number, "verification_code": "00000-00000"}, headers=w.public()
        )
        unknown = await http.post(
            "/v1/oss/track",
            json={"tracking_number": number[:-6] + "999999", "verification_code": code},
            headers=w.public(),
        )
        malformed = await http.post(
            "/v1/oss/track", json={"tracking_number": "x", "verification_code": "y"}, headers=w.public()
        )
        for refused in (wrong, unknown, malformed):
            assert refused.status_code == 404
            assert {k: refused.json()[k] for k in ("code", "title")} == {k: wrong.json()[k] for k in ("code", "title")}
        assert wrong.json()["code"] == "tracking_not_found"
        # Another LAO's host does not know the number.
        elsewhere = await http.post(
            "/v1/oss/track", json={"tracking_number": number, "verification_code": code}, headers=other.public()
        )
        assert elsewhere.status_code == 404

        # The page: the QR's address fills the number in; the code is posted.
        form = await http.get(f"/v1/oss/pages/track?number={number}", headers=w.public())
        assert form.status_code == 200
        assert f'value="{number}"' in form.text
        assert "default-src 'none'" in form.headers["content-security-policy"]
        shown = await http.post(
            "/v1/oss/pages/track", data={"tracking_number": number, "verification_code": code}, headers=w.public()
        )
        assert shown.status_code == 200
        assert "ตรวจสอบคำขอและเอกสาร" in shown.text
        assert "นายสมชาย ใจ***" in shown.text
        assert code not in shown.text
        missing = await http.post(
            "/v1/oss/pages/track", data={"tracking_number": number, "verification_code": "AAAAA-AAAAA"},
            headers=w.public(),
        )  # fmt: skip
        assert missing.status_code == 404
        assert "ไม่พบคำขอที่มีเลขที่และรหัสตรวจสอบนี้" in missing.text
        empty = await http.post("/v1/oss/pages/track", data={"tracking_number": number}, headers=w.public())
        assert empty.status_code == 400

        # A lost receipt: a new code; the old one stops working.
        renewed = await http.post(f"/v1/oss/cases/{case['id']}/verification-code", headers=w.headers("officer"))
        assert renewed.status_code == 200
        new_code = renewed.json()["verification_code"]
        assert new_code != code
        assert CODE_RE.fullmatch(new_code)
        old = await http.post(
            "/v1/oss/track", json={"tracking_number": number, "verification_code": code}, headers=w.public()
        )
        assert old.status_code == 404
        new = await http.post(
            "/v1/oss/track", json={"tracking_number": number, "verification_code": new_code}, headers=w.public()
        )
        assert new.status_code == 200
        # Nothing stored gives the code: neither the code nor its digest is in the database.
        async with w.db() as session:
            dump = (
                await session.execute(
                    text(
                        "SELECT row_to_json(c)::text || row_to_json(o)::text"
                        " FROM cases c JOIN oss_cases o ON o.case_id = c.id"
                    )
                )
            ).scalar_one()
        assert new_code.replace("-", "") not in dump
        assert new_code not in dump


async def test_status_lookups_are_rate_limited_per_number(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        opened = await open_walk_in(http, w)
        number = opened["case"]["tracking_number"]
        limit, _ = TRACK_LIMIT_PER_NUMBER
        for _ in range(limit):
            response = await http.post(
                "/v1/oss/track",
                json={"tracking_number": number, "verification_code": "AAAAA-AAAAA"},
                headers=w.public(),
            )
            assert response.status_code == 404
        blocked = await http.post(
            "/v1/oss/track",
            json={"tracking_number": number, "verification_code": opened["verification_code"]},
            headers=w.public(),
        )
        assert (blocked.status_code, blocked.json()["code"]) == (429, "rate_limited")
        assert int(blocked.headers["retry-after"]) > 0


# --- acting on requests ----------------------------------------------------------------------------------


async def test_accepting_needs_the_manuals_documents_and_deciding_is_metered(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        case = (await open_walk_in(http, w))["case"]
        offered = await http.get(f"/v1/oss/cases/{case['id']}/actions", headers=w.headers("officer"))
        assert [(a["code"], a["endpoint"]) for a in offered.json()["actions"]] == [
            ("record_deficiency", "POST /v1/oss/cases/{case_id}/deficiencies"),
            ("accept", None),
            ("withdraw_at_counter", None),
        ]
        assert [a["code"] for a in (await http.get(
            f"/v1/oss/cases/{case['id']}/actions", headers=w.headers("approver"))).json()["actions"]] == []  # fmt: skip
        missing = await act(http, w, case, "accept", "officer")
        assert (missing.status_code, missing.json()["code"]) == (422, "case_documents_missing")
        assert missing.json()["data"]["missing"] == ["doc.1", "doc.2"]
        await upload(http, w, case["id"], "doc.1")
        still = await act(http, w, case, "accept", "officer")
        assert still.json()["data"]["missing"] == ["doc.2"]
        await upload(http, w, case["id"], "doc.2")
        # The deficiency record has its own endpoint; an action of another state is unavailable; the
        # approver may not accept; a refusal's grounds go with a refusal only.
        own = await act(http, w, case, "record_deficiency", "officer")
        assert (own.status_code, own.json()["code"]) == (409, "case_action_has_own_endpoint")
        early = await act(http, w, case, "approve", "approver")
        assert (early.status_code, early.json()["code"]) == (409, "case_action_unavailable")
        forbidden = await act(http, w, case, "accept", "approver")
        assert (forbidden.status_code, forbidden.json()["data"]["reason"]) == (403, "missing_permission")
        misplaced = await act(http, w, case, "accept", "officer", refusal={"legal_ground_th": "x"})
        assert (misplaced.status_code, misplaced.json()["code"]) == (422, "refusal_not_expected")
        unknown = await act(http, w, case, "fly", "officer")
        assert (unknown.status_code, unknown.json()["code"]) == (409, "case_action_unavailable")
        stale = await http.post(
            f"/v1/oss/cases/{case['id']}/actions/accept",
            json={"version": case["version"] - 1},
            headers=w.headers("officer"),
        )
        assert (stale.status_code, stale.json()["code"]) == (409, "case_version_conflict")
        accepted = await act(http, w, case, "accept", "officer")
        assert accepted.status_code == 200, accepted.text
        case = accepted.json()
        assert case["state"] == "considering"
        assert all(d["on_file"] for d in case["required_documents"])
        approved = await act(http, w, case, "approve", "approver", comment="อนุญาตตามคำขอ")
        assert approved.status_code == 200, approved.text
        assert (approved.json()["state"], approved.json()["closed_at"] is not None) == ("approved", True)
        async with w.db() as session:
            decided = (
                (
                    await session.execute(
                        select(UsageEvent.key).where(
                            UsageEvent.tenant_id == w.tenant.id, UsageEvent.meter == "oss.cases_decided"
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert decided == [f"oss.case_decided:{case['id']}"]


async def test_assignment_and_the_inboxes(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        first = (await open_walk_in(http, w))["case"]
        second = (await open_walk_in(http, w))["case"]
        assigned = await http.post(
            f"/v1/oss/cases/{first['id']}/assign",
            json={
                "version": first["version"],
                "unit_id": str(w.units["counter"]),
                "staff_id": str(w.staff["officer2"]),
            },
            headers=w.headers("manager"),
        )
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["assigned_staff_id"] == str(w.staff["officer2"])
        assert (await http.post(
            f"/v1/oss/cases/{first['id']}/assign", json={"version": first["version"]}, headers=w.headers("manager")
        )).json()["code"] == "case_version_conflict"  # fmt: skip
        wrong_unit = await http.post(
            f"/v1/oss/cases/{second['id']}/assign",
            json={
                "version": second["version"],
                "unit_id": str(w.units["engineering"]),
                "staff_id": str(w.staff["officer2"]),
            },
            headers=w.headers("manager"),
        )
        assert (wrong_unit.status_code, wrong_unit.json()["code"]) == (409, "case_assignee_invalid")
        officer_may_not = await http.post(
            f"/v1/oss/cases/{second['id']}/assign", json={"version": second["version"]}, headers=w.headers("officer")
        )
        assert (officer_may_not.status_code, officer_may_not.json()["code"]) == (403, "forbidden")

        unit = (await http.get(f"/v1/oss/inbox/units/{w.units['counter']}", headers=w.headers("officer"))).json()
        assert [c["id"] for c in unit["items"]] == [first["id"]]
        assert unit["items"][0]["state_title_th"] == "ตรวจสอบคำขอและเอกสาร"
        mine = (await http.get("/v1/oss/inbox/mine", headers=w.headers("officer2"))).json()
        assert [c["id"] for c in mine["items"]] == [first["id"]]
        member = (await http.get(f"/v1/oss/inbox/staff/{w.staff['officer2']}", headers=w.headers("manager"))).json()
        assert [c["id"] for c in member["items"]] == [first["id"]]
        assert (
            await http.get(f"/v1/oss/inbox/staff/{w.staff['officer2']}", headers=w.headers("officer"))
        ).status_code == 403
        # What each may act on: officers check both; the approver has nothing to decide yet.
        actionable = (await http.get("/v1/oss/inbox/actionable", headers=w.headers("officer"))).json()
        assert {c["id"] for c in actionable["items"]} == {first["id"], second["id"]}
        page_one = (
            await http.get("/v1/oss/inbox/actionable", params={"limit": 1}, headers=w.headers("officer"))
        ).json()
        page_two = (
            await http.get(
                "/v1/oss/inbox/actionable", params={"limit": 1, "cursor": encode_cursor([page_one["items"][0]["id"]])},
                headers=w.headers("officer"),
            )
        ).json()  # fmt: skip
        assert [page_one["items"][0]["id"], page_two["items"][0]["id"]] == [first["id"], second["id"]]
        assert (await http.get("/v1/oss/inbox/actionable", headers=w.headers("approver"))).json()["items"] == []
        unknown_unit = await http.get(f"/v1/oss/inbox/units/{uuid.uuid4()}", headers=w.headers("officer"))
        assert (unknown_unit.status_code, unknown_unit.json()["code"]) == (404, "unit_not_found")
        bad_cursor = await http.get(
            "/v1/oss/inbox/mine", params={"cursor": encode_cursor([str(uuid.uuid4())])}, headers=w.headers("officer")
        )
        assert bad_cursor.status_code == 404
        by_number = await http.get(f"/v1/oss/cases/by-number/{second['tracking_number']}", headers=w.headers("officer"))
        assert by_number.json()["id"] == second["id"]
        assert (await http.get("/v1/oss/cases/by-number/nonsense", headers=w.headers("officer"))).status_code == 404


async def test_the_lao_sets_its_own_limits_and_assignees(
    engine: AsyncEngine, client_for: ClientFactory, case_settings: Settings
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=case_settings, plugins=REGISTRY, listen=False) as http:
        listed = (await http.get("/v1/oss/case-settings", headers=w.headers("officer"))).json()
        request_type = listed["items"][0]
        assert request_type["code"] == "oss.request"
        states = {s["code"]: s for s in request_type["states"]}
        assert (states["checking"]["sla_days"], states["deficient"]["pauses_clock"]) == (1, True)
        assert states["considering"]["setting"] is None
        setting = {
            "case_type": "oss.request",
            "state": "considering",
            "sla_days": 3,
            "assignee_unit_id": str(w.units["engineering"]),
        }
        officer = await http.put("/v1/oss/case-settings", json=setting, headers=w.headers("officer"))
        assert officer.status_code == 403
        saved = await http.put("/v1/oss/case-settings", json=setting, headers=w.headers("manager"))
        assert saved.status_code == 200, saved.text
        considering = next(s for s in saved.json()["states"] if s["code"] == "considering")
        assert considering["setting"] == {
            "sla_days": 3,
            "assignee_unit_id": str(w.units["engineering"]),
            "assignee_staff_id": None,
        }
        for bad, code in (
            ({**setting, "state": "approved"}, "case_invalid"),
            ({**setting, "state": "nowhere"}, "case_invalid"),
            ({**setting, "case_type": "oss.other"}, "unknown_case_type"),
            ({**setting, "assignee_unit_id": str(uuid.uuid4())}, "case_assignee_invalid"),
            ({**setting, "sla_days": 0}, "validation_error"),
        ):
            response = await http.put("/v1/oss/case-settings", json=bad, headers=w.headers("manager"))
            assert response.json()["code"] == code, (bad, response.text)
        # A request accepted now goes to the engineering division, due in 3 working days in that state.
        case = (await open_walk_in(http, w))["case"]
        await upload(http, w, case["id"], "doc.1")
        await upload(http, w, case["id"], "doc.2")
        accepted = (await act(http, w, case, "accept", "officer")).json()
        assert accepted["assigned_unit_id"] == str(w.units["engineering"])
        async with w.db() as session:
            calendar = await load_calendar(session)
        due = end_of_day(calendar.add_working_days(bangkok_today(), 3))
        assert accepted["state_due_at"] == due.isoformat().replace("+00:00", "Z")
        unit_inbox = (
            await http.get(f"/v1/oss/inbox/units/{w.units['engineering']}", headers=w.headers("approver"))
        ).json()
        assert [c["id"] for c in unit_inbox["items"]] == [case["id"]]


async def test_the_verification_code_is_derived_not_stored() -> None:
    case_id = uuid.UUID(int=7)
    code = cases.verification_code("k" * 40, 1, case_id, "salt")
    assert code == cases.verification_code("k" * 40, 1, case_id, "salt")
    assert CODE_RE.fullmatch(code)
    assert code != cases.verification_code("k" * 40, 2, case_id, "salt")  # another LAO
    assert code != cases.verification_code("k" * 40, 1, case_id, "pepper")  # a renewed salt
    assert code != cases.verification_code("j" * 40, 1, case_id, "salt")  # another secret
    assert cases.normalise_tracking_number(" 5500101 - 2570 - 000042 ") == "5500101-2570-000042"
    assert cases.normalise_tracking_number("5500101-2570-42") is None
    assert cases.sla_days_of(30) == 1
    assert cases.sla_days_of(420) == 1
    assert cases.sla_days_of(421) == 2
