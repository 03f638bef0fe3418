"""Deficiency records (บันทึกความบกพร่อง): made by the checking officer with items and a deadline in
working days, acknowledged by the applicant online or by his signature at the counter, printed
with a verifiable QR, the clock stopped while the request waits, resumed when the items are
supplied, the request returned by the platform's job when the deadline passes (a frozen clock),
and a refusal that may cite only the items of the request's records."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import cases as engine_cases
from localgov.kernel.audit import Origin
from localgov.kernel.calendar import end_of_day, load_calendar
from localgov.kernel.jobs import JobContext
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import UsageEvent
from localgov.plugins import REGISTRY
from localgov.services.oss import PLUGIN, cases, deficiency
from localgov.services.oss.schemas import DeficiencyCreate, DeficiencyItemCreate, RefusalGrounds
from localgov.services.oss.workflow import CASE_DECIDE, CASE_INTAKE, CASE_READ
from localgov.settings import Settings
from tests.conftest import ClientFactory, make_settings
from tests.support.oss_cases import THAI_ID, CaseWorld, at, make_case_world, png_bytes, walk_in

STAMP_CODE = re.compile(r"\(Code\): ([0-9A-Z]+-[0-9A-Z]{16})")
ITEMS: list[dict[str, Any]] = [
    {"kind": "document", "document_code": "doc.2", "note_th": "สำเนาไม่ชัด"},
    {"kind": "criterion", "criterion_th": "ชื่อในบัตรไม่ตรงกับทะเบียนบ้าน", "note_th": "นำหลักฐานการเปลี่ยนชื่อมาแสดง"},
]


def settings_for(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, storage_dir=str(tmp_path / "files"))


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def upload(http: httpx.AsyncClient, w: CaseWorld, case_id: str, document: str | None, who: str) -> dict[str, Any]:
    prefix = "/v1/oss/me/cases" if who in w.citizens else "/v1/oss/cases"
    response = await http.post(
        f"{prefix}/{case_id}/files",
        params={"document": document} if document else {},
        files={"data": ("scan.png", png_bytes(), "image/png")},
        headers=w.headers(who),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def record(
    http: httpx.AsyncClient, w: CaseWorld, case: dict[str, Any], *, items: list[dict[str, Any]] = ITEMS, **extra: Any
) -> httpx.Response:
    body = {"version": case["version"], "items": items, "deadline_working_days": 5, **extra}
    return await http.post(f"/v1/oss/cases/{case['id']}/deficiencies", json=body, headers=w.headers("officer"))


async def current(http: httpx.AsyncClient, w: CaseWorld, case_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await http.get(f"/v1/oss/cases/{case_id}", headers=w.headers("officer"))).json()
    return body


# --- at the counter ----------------------------------------------------------------------------------


async def test_a_record_at_the_counter_signed_printed_and_supplied(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=settings_for(database_url, tmp_path), plugins=REGISTRY, listen=False) as http:
        opened = (await http.post("/v1/oss/cases", json=walk_in(), headers=w.headers("officer"))).json()
        case, code = opened["case"], opened["verification_code"]
        # Refused before anything is written: items not of the manual, malformed, the wrong people.
        for items, status, expected in (
            ([{"kind": "document", "document_code": "doc.9"}], 422, "unknown_document"),
            ([{"kind": "document", "document_code": "doc.1"}, {"kind": "document", "document_code": "doc.1"}], 422,
             "duplicate_item"),
            ([{"kind": "criterion"}], 422, "required"),
            ([{"kind": "document", "document_code": "doc.1", "criterion_th": "x"}], 422, "unexpected_field"),
            ([{"kind": "criterion", "criterion_th": "x", "document_code": "doc.1"}], 422, "unexpected_field"),
            ([{"kind": "document", "document_code": "../1"}], 400, "validation_error"),
            ([], 400, "validation_error"),
        ):  # fmt: skip
            refused = await record(http, w, case, items=items)
            assert (refused.status_code, refused.json()["code"]) == (status, expected), (items, refused.text)
        for extra in ({"deadline_working_days": 0}, {"deadline_working_days": 91}, {"version": 0}):
            assert (await record(http, w, case, **extra)).status_code == 400
        by_approver = await http.post(
            f"/v1/oss/cases/{case['id']}/deficiencies",
            json={"version": case["version"], "items": ITEMS, "deadline_working_days": 5},
            headers=w.headers("approver"),
        )
        assert (by_approver.status_code, by_approver.json()["code"]) == (403, "forbidden")

        made = await record(http, w, case, note_th="กรุณานำเอกสารมาภายในกำหนด")
        assert made.status_code == 201, made.text
        rec = made.json()
        async with w.db() as session:
            calendar = await load_calendar(session)
        deadline = calendar.add_working_days(bangkok_today(), 5)
        assert (rec["number"], rec["seq"], rec["status"]) == (f"{case['tracking_number']}/1", 1, "open")
        assert rec["deadline"] == deadline.isoformat()
        assert rec["staff_name"] == "นายofficer ใจดี"
        assert (rec["applicant_ack_at"], rec["applicant_ack_method"]) == (None, None)
        assert [(i["kind"], i["document_code"], i["label_th"], i["note_th"]) for i in rec["items"]] == [
            ("document", "doc.2", "สำเนาทะเบียนบ้าน", "สำเนาไม่ชัด"),
            ("criterion", None, "ชื่อในบัตรไม่ตรงกับทะเบียนบ้าน", "นำหลักฐานการเปลี่ยนชื่อมาแสดง"),
        ]
        waiting = await current(http, w, case["id"])
        assert (waiting["state"], waiting["due_at"]) == ("deficient", None)  # the clock stopped
        assert waiting["state_due_at"] is None
        assert waiting["history"][-1]["action"] == "record_deficiency"
        # One open record at a time: the request is no longer being checked.
        again = await record(http, w, waiting)
        assert (again.status_code, again.json()["code"]) == (409, "case_action_unavailable")

        # Printed with both signature blocks and a QR code of the register's verification page.
        pdf = await http.get(rec["pdf_path"], headers=w.headers("officer"))
        assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
        printed = pdf_text(pdf.content)
        for expected_text in (
            "บันทึกความบกพร่องของคำขอ",
            rec["number"],
            "สำเนาทะเบียนบ้าน",
            "ชื่อในบัตรไม่ตรงกับทะเบียนบ้าน",
            "(ลงชื่อ) นายofficer ใจดี",
            "(นายสมชาย ใจดี)",
        ):
            assert expected_text in printed, expected_text
        found = STAMP_CODE.search(printed)
        assert found is not None, printed
        verified = await http.get(f"/v1/documents/verify/{found.group(1)}", headers=w.public())
        assert verified.status_code == 200
        assert (verified.json()["kind"], verified.json()["number"]) == ("oss.deficiency_record", rec["number"])
        assert verified.json()["holder"] == "นายสมชาย ใจ***"

        # The public status shows what to bring and by when.
        status = await http.post(
            "/v1/oss/track",
            json={"tracking_number": case["tracking_number"], "verification_code": code},
            headers=w.public(),
        )
        assert status.json()["deficiency"] == {
            "deadline": deadline.isoformat(),
            "items_th": ["สำเนาทะเบียนบ้าน", "ชื่อในบัตรไม่ตรงกับทะเบียนบ้าน"],
        }

        # The applicant signs the paper; the officer records it with its scan.
        scan = await upload(http, w, case["id"], None, "officer")
        other = await make_other_case(http, w)
        foreign_scan = await upload(http, w, other["id"], None, "officer")
        signature_path = f"/v1/oss/cases/{case['id']}/deficiencies/{rec['id']}/applicant-signature"
        wrong_file = await http.post(
            signature_path, json={"signed_copy_file_id": foreign_scan["id"]}, headers=w.headers("officer")
        )
        assert (wrong_file.status_code, wrong_file.json()["code"]) == (422, "unknown_file")
        signed = await http.post(signature_path, json={"signed_copy_file_id": scan["id"]}, headers=w.headers("officer"))
        assert signed.status_code == 200, signed.text
        assert signed.json()["applicant_ack_method"] == "counter_signature"
        twice = await http.post(signature_path, json={}, headers=w.headers("officer"))
        assert (twice.status_code, twice.json()["code"]) == (409, "deficiency_already_acknowledged")
        reprinted = pdf_text((await http.get(rec["pdf_path"], headers=w.headers("officer"))).content)
        assert "ลงลายมือชื่อที่จุดบริการ" in reprinted

        # The items are brought to the counter: the check resumes.
        generic = await http.post(
            f"/v1/oss/cases/{case['id']}/actions/supply_at_counter",
            json={"version": waiting["version"]},
            headers=w.headers("officer"),
        )
        assert (generic.status_code, generic.json()["code"]) == (409, "case_action_has_own_endpoint")
        supplied_path = f"/v1/oss/cases/{case['id']}/deficiencies/{rec['id']}/supplied"
        stale = await http.post(supplied_path, json={"version": 1}, headers=w.headers("officer"))
        assert (stale.status_code, stale.json()["code"]) == (409, "case_version_conflict")
        resumed = await http.post(supplied_path, json={"version": waiting["version"]}, headers=w.headers("officer"))
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"] == "checking"
        assert resumed.json()["due_at"] is not None
        assert resumed.json()["deficiencies"][0]["status"] == "supplied"
        closed = await http.post(
            supplied_path, json={"version": resumed.json()["version"]}, headers=w.headers("officer")
        )
        assert (closed.status_code, closed.json()["code"]) == (409, "deficiency_record_not_open")
        # A second record of the same request is numbered /2.
        second = await record(http, w, resumed.json(), items=[ITEMS[1]])
        assert second.json()["number"] == f"{case['tracking_number']}/2"
        # Records of another request are not this one's.
        assert (
            await http.get(f"/v1/oss/cases/{other['id']}/deficiencies/{rec['id']}", headers=w.headers("officer"))
        ).status_code == 404


async def make_other_case(http: httpx.AsyncClient, w: CaseWorld) -> dict[str, Any]:
    created = await http.post("/v1/oss/cases", json=walk_in(applicant_name="นางสมศรี มีสุข"), headers=w.headers("officer"))
    body: dict[str, Any] = created.json()["case"]
    return body


# --- online ------------------------------------------------------------------------------------------


async def test_the_applicant_acknowledges_and_supplies_online(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=settings_for(database_url, tmp_path), plugins=REGISTRY, listen=False) as http:
        filed = await http.post(
            "/v1/oss/me/cases", json={"service_code": "test-request"}, headers=w.headers("applicant")
        )
        case = filed.json()["case"]
        started = (
            await http.post(
                f"/v1/oss/cases/{case['id']}/actions/start_check", json={"version": case["version"]},
                headers=w.headers("officer"),
            )
        ).json()  # fmt: skip
        rec = (await record(http, w, started)).json()
        mine = (await http.get(f"/v1/oss/me/cases/{case['id']}", headers=w.headers("applicant"))).json()
        assert mine["state"] == "deficient"
        assert mine["actions"] == ["supply", "withdraw"]
        assert mine["deficiencies"][0]["pdf_path"] == f"/v1/oss/me/cases/{case['id']}/deficiencies/{rec['id']}/pdf"
        assert mine["history"][-1]["comment"].startswith("บันทึกความบกพร่อง 2 รายการ")
        base = f"/v1/oss/me/cases/{case['id']}/deficiencies/{rec['id']}"
        # Another citizen cannot see, acknowledge, print or answer it.
        for method, path, body in (
            ("POST", f"{base}/acknowledge", None),
            ("GET", f"{base}/pdf", None),
            ("POST", f"{base}/supplied", {"version": mine["version"]}),
        ):
            response = await http.request(method, path, json=body, headers=w.headers("stranger"))
            assert response.status_code == 404, (path, response.text)
        printed = await http.get(f"{base}/pdf", headers=w.headers("applicant"))
        assert printed.status_code == 200
        assert "(ลงชื่อ) ...." in pdf_text(printed.content)  # not yet acknowledged: a line to sign
        acknowledged = await http.post(f"{base}/acknowledge", headers=w.headers("applicant"))
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["deficiencies"][0]["applicant_ack_method"] == "online"
        again = await http.post(f"{base}/acknowledge", headers=w.headers("applicant"))
        assert (
            again.json()["deficiencies"][0]["applicant_ack_at"]
            == (acknowledged.json()["deficiencies"][0]["applicant_ack_at"])
        )
        # He uploads the missing copy and says so: the check resumes.
        await upload(http, w, case["id"], "doc.2", "applicant")
        supplied = await http.post(
            f"{base}/supplied", json={"version": mine["version"], "comment": "แนบสำเนาใหม่แล้ว"},
            headers=w.headers("applicant"),
        )  # fmt: skip
        assert supplied.status_code == 200, supplied.text
        assert supplied.json()["state"] == "checking"
        assert supplied.json()["deficiencies"][0]["status"] == "supplied"
        assert supplied.json()["history"][-1]["comment"] == "แนบสำเนาใหม่แล้ว"
        assert [d["on_file"] for d in supplied.json()["required_documents"]] == [False, True]
        closed = await http.post(f"{base}/acknowledge", headers=w.headers("applicant"))
        assert closed.status_code == 200  # already acknowledged: nothing changes


# --- the clock and the deadline (frozen) --------------------------------------------------------------


async def _open(session: Any, w: CaseWorld, now: dt.datetime, name: str = "นายสมชาย ใจดี") -> engine_cases.Case:
    actor = await engine_cases.staff_actor(session, w.staff["officer"], {CASE_READ, CASE_INTAKE})
    applicant = cases.ApplicantInput(name=name, thai_id=THAI_ID)
    case_id, _ = await cases.open_request(
        session, tenant=w.tenant, service_code="test-request", applicant=applicant, citizen_id=None,
        channel="counter", actor=actor, now=now, origin=Origin(),
    )  # fmt: skip
    return await engine_cases.get_case(session, case_id)


async def _record(session: Any, w: CaseWorld, case: engine_cases.Case, now: dt.datetime, days: int) -> uuid.UUID:
    actor = await engine_cases.staff_actor(session, w.staff["officer"], {CASE_READ, CASE_INTAKE})
    body = DeficiencyCreate(
        version=case.version,
        items=[DeficiencyItemCreate(kind="document", document_code="doc.1")],
        deadline_working_days=days,
    )
    return await deficiency.record_deficiencies(session, case.id, body, actor=actor, now=now, origin=Origin())


async def test_the_clock_stops_while_the_applicant_supplies_the_items(engine: AsyncEngine) -> None:
    w = await make_case_world(engine)
    async with w.db() as session:
        # Thursday 26 February 2026, 3 p.m.; Tuesday 3 March is Makha Bucha. 4 working days: 5 March.
        case = await _open(session, w, at(2026, 2, 26, 15))
        assert (case.sla_days, case.due_at) == (4, end_of_day(dt.date(2026, 3, 5)))
        record_id = await _record(session, w, case, at(2026, 2, 27, 9), 10)
        waiting = await engine_cases.get_case(session, case.id)
        assert waiting.due_at is None
        # Supplied on Tuesday 10 March: 6 working days paused (2, 4, 5, 6, 9, 10 March).
        officer = await engine_cases.staff_actor(session, w.staff["officer"], {CASE_READ, CASE_INTAKE})
        resumed = await deficiency.mark_supplied(
            session, case.id, record_id, version=waiting.version, comment=None, actor=officer,
            now=at(2026, 3, 10, 13), origin=Origin(),
        )  # fmt: skip
        assert resumed.paused_days == 6
        assert resumed.due_at == end_of_day(dt.date(2026, 3, 13))  # 4 + 6 working days after 26 February


async def test_the_platform_returns_a_request_whose_deadline_passed(engine: AsyncEngine) -> None:
    w = await make_case_world(engine)
    async with w.db() as session:
        # Thursday 5 March 2026: 3 working days end on Tuesday 10 March.
        late = await _open(session, w, at(2026, 3, 5))
        late_record = await _record(session, w, late, at(2026, 3, 5, 11), 3)
        answered = await _open(session, w, at(2026, 3, 5), name="นางสมศรี มีสุข")
        answered_record = await _record(session, w, answered, at(2026, 3, 5, 11), 3)
        officer = await engine_cases.staff_actor(session, w.staff["officer"], {CASE_READ, CASE_INTAKE})
        current = await engine_cases.get_case(session, answered.id)
        await deficiency.mark_supplied(
            session, answered.id, answered_record, version=current.version, comment=None, actor=officer,
            now=at(2026, 3, 9), origin=Origin(),
        )  # fmt: skip
        withdrawn = await _open(session, w, at(2026, 3, 5), name="นายถอน คำขอ")
        await _record(session, w, withdrawn, at(2026, 3, 5, 11), 3)
        current = await engine_cases.get_case(session, withdrawn.id)
        await cases.staff_action(
            session, withdrawn.id, "withdraw_at_counter", version=current.version, comment="ผู้ยื่นขอถอน",
            refusal=None, actor=officer, now=at(2026, 3, 6), origin=Origin(),
        )  # fmt: skip
    deadline = end_of_day(dt.date(2026, 3, 10))
    (job,) = [job for job in PLUGIN.jobs if job.name == "oss.return_expired_requests"]
    assert job.per_tenant
    async with w.db() as session:
        await job.run(JobContext(session, w.tenant, deadline - dt.timedelta(seconds=1)))
        assert (await engine_cases.get_case(session, late.id)).state == "deficient"
    async with w.db() as session:
        await job.run(JobContext(session, w.tenant, deadline))
    async with w.db() as session:
        returned = await engine_cases.get_case(session, late.id)
        assert (returned.state, returned.closed_at) == ("returned", deadline)
        step = returned.history[-1]
        assert (step.action, step.actor_kind, step.actor_id) == ("expire", "system", None)
        assert step.comment is not None
        assert "10 มีนาคม 2569" in step.comment
        assert (await engine_cases.get_case(session, answered.id)).state == "checking"
        assert (await engine_cases.get_case(session, withdrawn.id)).state == "withdrawn"
        view = await cases.staff_view(session, late.id)
        assert [(r.id, r.status, r.resolved_at) for r in view.deficiencies] == [(late_record, "expired", deadline)]
        withdrawn_view = await cases.staff_view(session, withdrawn.id)
        assert withdrawn_view.deficiencies[0].status == "closed"
        # Run again: nothing more to return.
        assert await deficiency.return_expired(session, deadline + dt.timedelta(days=30)) == []


# --- refusals --------------------------------------------------------------------------------------------


async def _considering(http: httpx.AsyncClient, w: CaseWorld, *, with_record: bool) -> tuple[dict[str, Any], list[str]]:
    """A request under consideration; with a deficiency record (supplied), and its item ids."""
    case = (await http.post("/v1/oss/cases", json=walk_in(), headers=w.headers("officer"))).json()["case"]
    item_ids: list[str] = []
    if with_record:
        rec = (await record(http, w, case)).json()
        item_ids = [i["id"] for i in rec["items"]]
        case = await current(http, w, case["id"])
        supplied = await http.post(
            f"/v1/oss/cases/{case['id']}/deficiencies/{rec['id']}/supplied", json={"version": case["version"]},
            headers=w.headers("officer"),
        )  # fmt: skip
        case = supplied.json()
    for document in ("doc.1", "doc.2"):
        await upload(http, w, case["id"], document, "officer")
    accepted = await http.post(
        f"/v1/oss/cases/{case['id']}/actions/accept", json={"version": case["version"]}, headers=w.headers("officer")
    )
    assert accepted.status_code == 200, accepted.text
    body: dict[str, Any] = accepted.json()
    return body, item_ids


async def test_a_refusal_may_cite_only_recorded_items(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    w = await make_case_world(engine)
    async with client_for(settings_=settings_for(database_url, tmp_path), plugins=REGISTRY, listen=False) as http:
        case, items = await _considering(http, w, with_record=True)
        other, other_items = await _considering(http, w, with_record=True)
        path = f"/v1/oss/cases/{case['id']}/actions/refuse"

        async def refuse(**body: Any) -> httpx.Response:
            return await http.post(path, json={"version": case["version"], **body}, headers=w.headers("approver"))

        no_reason = await refuse(refusal={"items": [items[1]]})
        assert (no_reason.status_code, no_reason.json()["code"]) == (422, "case_comment_required")
        no_grounds = await refuse(comment="ไม่เข้าหลักเกณฑ์")
        assert (no_grounds.status_code, no_grounds.json()["code"]) == (422, "refusal_grounds_required")
        empty = await refuse(comment="ไม่เข้าหลักเกณฑ์", refusal={"items": []})
        assert empty.json()["code"] == "refusal_grounds_required"
        invented = str(uuid.uuid4())
        for cited in ([invented], [other_items[0]], [items[0], invented]):
            refused = await refuse(comment="ไม่เข้าหลักเกณฑ์", refusal={"items": cited})
            assert (refused.status_code, refused.json()["code"]) == (422, "refusal_item_not_recorded"), cited
            assert set(refused.json()["data"]["items"]) == set(cited) - set(items)
        # Nothing of the refused attempts stayed: the request is still under consideration.
        assert (await current(http, w, case["id"]))["version"] == case["version"]
        by_officer = await http.post(
            path, json={"version": case["version"], "comment": "x", "refusal": {"items": [items[1]]}},
            headers=w.headers("officer"),
        )  # fmt: skip
        assert (by_officer.status_code, by_officer.json()["data"]["reason"]) == (403, "missing_permission")
        refused = await refuse(comment="หลักฐานการเปลี่ยนชื่อไม่ครบ", refusal={"items": [items[1]]})
        assert refused.status_code == 200, refused.text
        body = refused.json()
        assert (body["state"], body["refusal"]) == ("refused", {"items": [items[1]], "legal_ground_th": None})
        assert body["history"][-1]["comment"] == "หลักฐานการเปลี่ยนชื่อไม่ครบ"

        # Without a deficiency record: a legal ground, and no item at all.
        plain, _ = await _considering(http, w, with_record=False)
        plain_path = f"/v1/oss/cases/{plain['id']}/actions/refuse"
        cited = await http.post(
            plain_path,
            json={"version": plain["version"], "comment": "x", "refusal": {"items": [items[0]],
                  "legal_ground_th": "ไม่เป็นไปตามข้อบัญญัติ"}},
            headers=w.headers("approver"),
        )  # fmt: skip
        assert (cited.status_code, cited.json()["code"]) == (422, "refusal_item_not_recorded")
        grounded = await http.post(
            plain_path,
            json={"version": plain["version"], "comment": "ที่ตั้งอยู่นอกเขตที่อนุญาต",
                  "refusal": {"legal_ground_th": "ข้อบัญญัติท้องถิ่น เรื่อง ... ข้อ 5"}},
            headers=w.headers("approver"),
        )  # fmt: skip
        assert grounded.status_code == 200, grounded.text
        assert grounded.json()["refusal"]["legal_ground_th"] == "ข้อบัญญัติท้องถิ่น เรื่อง ... ข้อ 5"
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
    assert sorted(decided) == sorted([f"oss.case_decided:{case['id']}", f"oss.case_decided:{plain['id']}"])
    assert other["state"] == "considering"


async def test_the_refusal_rule_holds_at_the_service_level(engine: AsyncEngine) -> None:
    """The rule is the service's, not the view's: ``staff_action`` refuses an unrecorded item, and
    the refusal leaves nothing behind (the caller's transaction rolls back)."""
    w = await make_case_world(engine)
    async with w.db() as session:
        case = await _open(session, w, at(2026, 3, 5))
        officer = await engine_cases.staff_actor(session, w.staff["officer"], {CASE_READ, CASE_INTAKE})
        # To consideration through the engine directly (the documents rule is not under test here).
        case = await engine_cases.act(
            session, case.id, "accept", actor=officer, expected_version=case.version, now=at(2026, 3, 6)
        )

    async def refuse_citing_an_unrecorded_item() -> None:
        async with w.db() as session:
            approver = await engine_cases.staff_actor(session, w.staff["approver"], {CASE_READ, CASE_DECIDE})
            await cases.staff_action(
                session, case.id, "refuse", version=case.version, comment="ไม่เข้าหลักเกณฑ์",
                refusal=RefusalGrounds(items=[uuid.uuid4()]), actor=approver, now=at(2026, 3, 9), origin=Origin(),
            )  # fmt: skip

    with pytest.raises(cases.RefusalItemNotRecorded) as refused:
        await refuse_citing_an_unrecorded_item()
    assert refused.value.status == 422
    async with w.db() as session:
        assert (await engine_cases.get_case(session, case.id)).state == "considering"
