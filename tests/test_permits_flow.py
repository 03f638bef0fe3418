"""Building permits end to end against the real database: drafts, the eligibility refusal at
submission (problem+json with Thai reasons), the workflow with its paused clock, extensions, fees
billed through payments, the permit issued exactly once when ``payments.bill_paid`` is delivered
twice (also at the same time), the PDF whose text is the data, verification, revocation, renewal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from pathlib import Path

import msgspec
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import cases as engine_api
from localgov.kernel import documents
from localgov.kernel.calendar import load_calendar
from localgov.kernel.cases import CaseVersionConflict, CommentRequired
from localgov.kernel.documents import QrStamp, Watermark
from localgov.kernel.notifications import NotificationRecord
from localgov.kernel.numbering import fiscal_period
from localgov.kernel.tenancy import LaoProfile
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import UsageEvent
from localgov.plugins import REGISTRY
from localgov.services.payments.models import Bill, Payer
from localgov.services.permits import applications, permits
from localgov.services.permits.applications import PERMIT_KIND
from localgov.services.permits.config import load_config, save_config
from localgov.services.permits.deadlines import ExtensionRefused
from localgov.services.permits.permit_pdf import permit_fields, permit_layout
from localgov.services.permits.permit_views import permit_print
from tests.conftest import ClientFactory, make_settings
from tests.support.permits import (
    APPLICANT_ID,
    ORIGIN,
    PermitWorld,
    application,
    approve,
    at,
    attach_checklist,
    bill_paid_entries,
    deliver,
    draft,
    form,
    make_permit_world,
    pay,
    pdf_bytes,
    png_bytes,
    step,
    submitted,
    to_decision,
    version_of,
)

NOW = at(2026, 12, 4)
LAO = LaoProfile(name_th="องค์การบริหารส่วนตำบลทดสอบ", name_en="Test SAO", dla_code="0", province_th="-", district_th="-")
STAMP = QrStamp(url="https://t.localgov.test/documents/verify/1-X", code="1-X")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def squeeze(value: str) -> str:
    return re.sub(r"\s+", "", value)


@pytest.fixture
async def world(engine: AsyncEngine, tmp_path: Path) -> PermitWorld:
    return await make_permit_world(engine, tmp_path / "files")


async def test_application_to_paid_issued_verified_and_revoked_permit(
    world: PermitWorld, database_url: str, tmp_path: Path, client_for: ClientFactory
) -> None:
    app_id = await submitted(world, NOW)
    await to_decision(world, app_id, NOW)
    await approve(world, app_id, NOW)
    app = await application(world, app_id)
    assert (app.approved_at is not None, app.permit_number, app.fee_total) == (True, None, 260)
    assert app.bill_reference is not None

    # The bank pays the bill: payments publishes payments.bill_paid; nothing is issued before delivery.
    outcome = await pay(world, app_id)
    assert outcome.receipt is not None
    (entry,) = await bill_paid_entries(world)
    assert (await application(world, app_id)).permit_number is None
    # Delivered twice at the same time, then once more: exactly one permit.
    await asyncio.gather(deliver(world, entry), deliver(world, entry))
    await deliver(world, entry)
    app = await application(world, app_id)
    assert app.permit_issued_at is not None
    assert app.permit_number == f"1/{fiscal_period(bangkok_today(app.permit_issued_at))}"
    assert app.paid_at is not None
    assert app.receipt_number is not None
    async with world.db() as session:
        registered = await session.scalar(
            select(func.count())
            .select_from(documents.IssuedDocument)
            .where(documents.IssuedDocument.kind == PERMIT_KIND)
        )
        metered = await session.scalar(
            select(func.count())
            .select_from(UsageEvent)
            .where(UsageEvent.tenant_id == world.tenant.id, UsageEvent.meter == "permits.permit_issued")
        )
        submitted_metered = await session.scalar(
            select(func.count())
            .select_from(UsageEvent)
            .where(UsageEvent.tenant_id == world.tenant.id, UsageEvent.meter == "permits.application_submitted")
        )
        told = set((await session.execute(select(NotificationRecord.key))).scalars())
    assert (registered, metered, submitted_metered) == (1, 1, 1)
    assert {f"permits:{app_id}:{what}" for what in ("submitted", "complete", "approved", "issued")} <= told

    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        shown = await http.get(f"/v1/permits/applications/{app_id}", headers=world.headers("official"))
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert (body["state"], body["permit"]["status"], body["permit"]["number"]) == (
            "approved",
            "valid",
            app.permit_number,
        )
        assert [step["action"] for step in body["history"]] == [
            "open", "accept_documents", "approve_plans", "schedule_inspection", "record_inspection", "assess_fees",
            "approve",
        ]  # fmt: skip
        code = body["permit"]["verification_url"].rsplit("/", 1)[1]
        verified = (await http.get(f"/v1/documents/verify/{code}", headers=world.headers("stranger"))).json()
        assert (verified["number"], verified["status"], verified["holder"]) == (
            f"อ.1 {app.permit_number}", "valid", "นายสมชาย ใจ***",
        )  # fmt: skip
        assert verified["issuer"]["name_th"] == world.tenant.name_th
        assert "อาคารอยู่อาศัย 2 ชั้น" in verified["title_th"]  # the building, on the public page
        assert verified["valid_until"] == app.valid_until.isoformat()  # type: ignore[union-attr]

        # The LAO's emblem, once uploaded, heads the permit.
        emblem = await http.put(
            "/v1/permits/settings/emblem",
            files={"data": ("emblem.png", png_bytes((180, 30, 40)), "image/png")},
            headers=world.headers("manager"),
        )
        assert emblem.status_code == 200, emblem.text
        # The PDF's text is the permit's data.
        pdf = await http.get(f"/v1/permits/applications/{app_id}/permit/pdf", headers=world.headers("clerk"))
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        pages = PdfReader(io.BytesIO(pdf.content)).pages
        assert sum(len(page.images) for page in pages) == 2  # the emblem and the QR stamp
        assert len(pages) == 1, len(pages)
        layer = squeeze(pdf_text(pdf.content))
        async with world.db() as session:
            data = permit_print(await applications.get_application(session, app_id))
        for label, value in permit_fields(data):
            assert squeeze(label) in layer, label
            assert squeeze(value) in layer, (label, value)
        assert squeeze(f"เลขที่ {app.permit_number}") in layer
        assert squeeze(f"คำขอเลขที่ {app.tracking_number}") in layer
        assert code in layer  # printed under the QR stamp
        mine = await http.get(f"/v1/permits/me/applications/{app_id}/permit/pdf", headers=world.headers("applicant"))
        assert mine.status_code == 200
        theirs = await http.get(f"/v1/permits/me/applications/{app_id}/permit/pdf", headers=world.headers("stranger"))
        assert theirs.status_code == 404

        # Revoked: the same QR verifies as revoked, the PDF says so.
        revoked = await http.post(
            f"/v1/permits/applications/{app_id}/permit/revoke",
            json={"reason_th": "ก่อสร้างผิดไปจากแบบที่ได้รับอนุญาต"},
            headers=world.headers("official"),
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["permit"]["status"] == "revoked"
        verified = (await http.get(f"/v1/documents/verify/{code}", headers=world.headers("stranger"))).json()
        assert verified["status"] == "revoked"
        assert verified["status_changed_at"] is not None
        again = await http.post(
            f"/v1/permits/applications/{app_id}/permit/revoke",
            json={"reason_th": "ซ้ำ"},
            headers=world.headers("official"),
        )
        assert (again.status_code, again.json()["code"]) == (409, "permits_permit_revoked")
        renew = await http.post(f"/v1/permits/applications/{app_id}/permit/renew", headers=world.headers("official"))
        assert (renew.status_code, renew.json()["code"]) == (409, "permits_permit_revoked")
        printed = await http.get(f"/v1/permits/applications/{app_id}/permit/pdf", headers=world.headers("clerk"))
        assert "เพิกถอนแล้ว" in pdf_text(printed.content)


async def test_submission_refuses_with_reasons_in_thai(
    world: PermitWorld, database_url: str, tmp_path: Path, client_for: ClientFactory
) -> None:
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        me = world.headers("applicant")
        # Too large for this service: a pointer to the general route.
        big = await http.post(
            "/v1/permits/me/applications", json={"form": form(building={"floor_area_m2": "180"})}, headers=me
        )
        assert big.status_code == 201, big.text
        assert big.json()["eligibility"]["eligible"] is False
        refused = await http.post(f"/v1/permits/me/applications/{big.json()['id']}/submit", headers=me)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["code"] == "permits_not_eligible"
        assert "180 ตารางเมตร เกิน 150 ตารางเมตร" in problem["data"]["reasons"][0]["th"]
        assert "มาตรา 21" in problem["data"]["route_th"]
        # Incomplete: what is missing.
        partial = await http.post("/v1/permits/me/applications", json={"form": {"kind": "construct"}}, headers=me)
        missing = (await http.post(f"/v1/permits/me/applications/{partial.json()['id']}/submit", headers=me)).json()
        assert missing["code"] == "permits_application_incomplete"
        assert missing["data"]["missing"] == ["applicant", "landowner", "land", "building"]
        # A municipality's two-storey house needs a licensed engineer.
        town = form(area_type="municipal")
        created = await http.post("/v1/permits/me/applications", json={"form": town}, headers=me)
        app_id = created.json()["id"]
        assert created.json()["eligibility"]["engineer_required"] is True
        assert "structural_calculations" in {item["code"] for item in created.json()["checklist"]}
        lacking = (await http.post(f"/v1/permits/me/applications/{app_id}/submit", headers=me)).json()
        assert (lacking["code"], lacking["data"]["missing"]) == ("permits_professional_required", ["engineer"])
        assert "วิศวกร" in lacking["data"]["reasons"][0]["th"]
        # With the engineer: submitted, with a tracking number and a case.
        saved = await http.put(
            f"/v1/permits/me/applications/{app_id}",
            json={"version": 1, "form": {**town, "engineer": {"name_th": "นายวิศว กรรม", "licence_no": "สย.12345"}}},
            headers=me,
        )
        assert saved.status_code == 200, saved.text
        stale = await http.put(f"/v1/permits/me/applications/{app_id}", json={"version": 1, "form": town}, headers=me)
        assert (stale.status_code, stale.json()["code"]) == (409, "permits_version_conflict")
        done = await http.post(f"/v1/permits/me/applications/{app_id}/submit", headers=me)
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "submitted"
        assert re.fullmatch(rf"{world.tenant.dla_code}-25\d\d-B00001", done.json()["tracking_number"])
        # A submitted application is no longer a draft; a bad ID is refused on save.
        late = await http.put(f"/v1/permits/me/applications/{app_id}", json={"version": 3, "form": town}, headers=me)
        assert (late.status_code, late.json()["code"]) == (409, "permits_application_submitted")
        bad = form()
        bad["applicant"]["id_number"] = "1101700203451"
        wrong = await http.post("/v1/permits/me/applications", json={"form": bad}, headers=me)
        assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_tax_id")
        # Another citizen sees none of it.
        other = world.headers("stranger")
        assert (await http.get(f"/v1/permits/me/applications/{app_id}", headers=other)).status_code == 404
        assert (await http.get("/v1/permits/me/applications", headers=other)).json()["items"] == []


async def test_document_check_pauses_and_the_deadline_runs_from_a_complete_application(world: PermitWorld) -> None:
    app_id = await draft(world)
    async with world.db() as session:
        case = await applications.submit(
            session, app_id, tenant=world.tenant, actor=await world.actor(session, "applicant"), origin=ORIGIN, now=NOW,
            citizen_id=world.citizens["applicant"],
        )  # fmt: skip
    assert case.state == "submitted"
    assert case.data["applicant"] == {"email": "somchai@example.com"}  # One Stop Service's notices write there
    with pytest.raises(applications.DocumentsIncomplete) as lacking:
        await step(world, app_id, "clerk", "accept_documents", NOW)
    assert lacking.value.data == {"missing": ["form_kh1", "applicant_id", "land_title", "site_plan_rough"]}
    with pytest.raises(CommentRequired):
        await step(world, app_id, "clerk", "request_documents", NOW)
    await step(world, app_id, "clerk", "request_documents", NOW, comment="ขาดสำเนาโฉนดและแผนผังบริเวณ")
    await attach_checklist(world, app_id)
    await step(world, app_id, "applicant", "resubmit", at(2026, 12, 9), citizen_id=world.citizens["applicant"])
    complete = at(2026, 12, 11)
    await step(world, app_id, "clerk", "accept_documents", complete)
    app = await application(world, app_id)
    assert app.complete_on == dt.date(2026, 12, 11)
    async with world.db() as session:
        calendar = await engine_api.get_case(session, app.case_id)  # type: ignore[arg-type]
        assert calendar.paused_days == 2  # 8 and 9 December waited for the applicant
        working = await load_calendar(session)
    assert app.decision_due_on == working.add_working_days(dt.date(2026, 12, 11), 45)

    # Two extensions with reasons, each notified; a third is refused, as is one after the deadline.
    async with world.db() as session:
        first = await applications.extend_deadline(
            session, app_id, days=45, reason_th="รอผลตรวจสอบแนวเขตที่ดินจากสำนักงานที่ดิน", actor=world.audit("official"),
            origin=ORIGIN, now=complete,
        )  # fmt: skip
    assert (first.seq, first.previous_due_on, first.due_on) == (
        1,
        app.decision_due_on,
        working.add_working_days(dt.date(2026, 12, 11), 90),
    )
    async with world.db() as session:
        with pytest.raises(ExtensionRefused) as late:
            await applications.extend_deadline(
                session, app_id, days=10, reason_th="ช้า", actor=world.audit("official"), origin=ORIGIN,
                now=at(first.due_on.year, first.due_on.month, first.due_on.day) + dt.timedelta(days=1),
            )  # fmt: skip
    assert late.value.data is not None
    assert late.value.data["reason"] == "deadline_passed"
    async with world.db() as session:
        await applications.extend_deadline(
            session, app_id, days=5, reason_th="รอความเห็นวิศวกรโยธา", actor=world.audit("official"), origin=ORIGIN,
            now=complete,
        )  # fmt: skip
    async with world.db() as session:
        with pytest.raises(ExtensionRefused) as third:
            await applications.extend_deadline(
                session, app_id, days=1, reason_th="อีกครั้ง", actor=world.audit("official"), origin=ORIGIN, now=complete
            )
    assert third.value.data is not None
    assert third.value.data["reason"] == "no_extensions_left"
    app = await application(world, app_id)
    assert app.decision_due_on == working.add_working_days(dt.date(2026, 12, 11), 95)
    async with world.db() as session:
        told = set((await session.execute(select(NotificationRecord.key))).scalars())
    assert {f"permits:{app_id}:extension:1", f"permits:{app_id}:extension:2"} <= told


async def test_refusal_needs_reasons_and_a_stale_version_is_refused(world: PermitWorld) -> None:
    app_id = await submitted(world, NOW)
    await step(world, app_id, "clerk", "accept_documents", NOW)
    async with world.db() as session:
        with pytest.raises(CaseVersionConflict):
            await permits.decide(
                session, app_id, approve=False, reasons_th="x", actor=await world.actor(session, "official"), version=1,
                now=NOW, origin=ORIGIN,
            )  # fmt: skip
    async with world.db() as session:
        with pytest.raises(CommentRequired):
            await permits.decide(
                session, app_id, approve=False, reasons_th=None, actor=await world.actor(session, "official"),
                version=await version_of(session, app_id), now=NOW, origin=ORIGIN,
            )  # fmt: skip
    async with world.db() as session:
        case = await permits.decide(
            session, app_id, approve=False, reasons_th="ระยะร่นด้านหน้าไม่เป็นไปตามกฎกระทรวง",
            actor=await world.actor(session, "official"), version=await version_of(session, app_id), now=NOW,
            origin=ORIGIN,
        )  # fmt: skip
    assert case.state == "refused"
    assert case.history[-1].comment == "ระยะร่นด้านหน้าไม่เป็นไปตามกฎกระทรวง"
    # The clerk may not take the official's step (the engine checks the permission).
    other = await submitted(world, NOW)
    await step(world, other, "clerk", "accept_documents", NOW)
    with pytest.raises(engine_api.ActionForbidden):
        await step(world, other, "clerk", "approve_plans", NOW)


async def test_issue_then_pay_and_renewal_before_expiry(world: PermitWorld) -> None:
    async with world.db() as session:
        config = await load_config(session)
        await save_config(
            session,
            msgspec.structs.replace(config, issue_before_payment=True),
            actor=world.audit("manager"),
            origin=ORIGIN,
        )
    app_id = await submitted(world, NOW)
    await to_decision(world, app_id, NOW)
    await approve(world, app_id, NOW)
    app = await application(world, app_id)
    assert app.permit_number is not None  # issued on approval
    assert app.paid_at is None
    assert app.valid_until == app.valid_from + dt.timedelta(days=364)  # type: ignore[operator]
    # Paid later: recorded, nothing issued again.
    await pay(world, app_id)
    (entry,) = await bill_paid_entries(world)
    await deliver(world, entry)
    paid = await application(world, app_id)
    assert (paid.permit_number, paid.paid_at is not None) == (app.permit_number, True)

    assert app.valid_until is not None
    before = dt.datetime.combine(app.valid_until, dt.time(12), tzinfo=NOW.tzinfo)
    async with world.db() as session:
        renewed = await permits.renew(session, app_id, actor=world.audit("official"), origin=ORIGIN, now=before)
        assert (renewed.renewals, renewed.valid_until) == (1, app.valid_until + dt.timedelta(days=365))
        entry_doc = await documents.get_by_source(session, PERMIT_KIND, f"{app_id}:renewal:1")
        assert entry_doc.valid_from == app.valid_until + dt.timedelta(days=1)
    after = before + dt.timedelta(days=400)
    async with world.db() as session:
        with pytest.raises(permits.PermitNotRenewable):
            await permits.renew(session, app_id, actor=world.audit("official"), origin=ORIGIN, now=after)

    # Once past its validity, the permit shows (and prints) as expired.
    async with world.db() as session:
        await session.execute(
            text(
                "UPDATE issued_documents SET valid_from = current_date - 800, valid_until = current_date - 1"
                " WHERE kind = :k"
            ),
            {"k": PERMIT_KIND},
        )
    async with world.db() as session:
        row = await applications.get_application(session, app_id)
    printed = permit_print(row)
    assert printed.status == "expired"
    assert permit_layout(printed, LAO, STAMP).watermark == Watermark(th="หมดอายุ", en="EXPIRED")


async def test_inspection_needs_an_appointment_and_photos(world: PermitWorld) -> None:
    app_id = await submitted(world, NOW)
    await step(world, app_id, "clerk", "accept_documents", NOW)
    await step(world, app_id, "engineer", "approve_plans", NOW)
    async with world.db() as session:
        with pytest.raises(applications.InspectionNotScheduled):
            await applications.record_inspection(
                session, app_id, passed=True, note="ผ่าน", actor=await world.actor(session, "engineer"),
                version=await version_of(session, app_id), now=NOW, origin=ORIGIN,
            )  # fmt: skip
    async with world.db() as session:
        await applications.schedule_inspection(
            session, app_id, at=NOW + dt.timedelta(days=1), place_th="หน้างาน",
            actor=await world.actor(session, "engineer"),
            version=await version_of(session, app_id), now=NOW, origin=ORIGIN,
        )  # fmt: skip
    async with world.db() as session:
        with pytest.raises(applications.InspectionPhotosMissing):
            await applications.record_inspection(
                session, app_id, passed=True, note="ผ่าน", actor=await world.actor(session, "engineer"),
                version=await version_of(session, app_id), now=NOW, origin=ORIGIN,
            )  # fmt: skip
    # A failed inspection is kept; the case stays for the official (who may refuse).
    async with world.db() as session:
        await applications.attach_file(
            session, world.store, app_id, png_bytes(), filename="site.png", document_code=applications.INSPECTION_PHOTO,
            uploaded_by=world.audit("engineer"), origin=ORIGIN,
        )  # fmt: skip
        case = await applications.record_inspection(
            session, app_id, passed=False, note="ระยะร่นด้านข้างไม่ถึง 1 เมตร", actor=await world.actor(session, "engineer"),
            version=await version_of(session, app_id), now=NOW, origin=ORIGIN,
        )  # fmt: skip
    assert case.state == "site_inspection"
    app = await application(world, app_id)
    assert (app.inspection_passed, app.inspection_place_th) == (False, "หน้างาน")
    async with world.db() as session:
        rows = (
            await session.execute(text("SELECT count(*) FROM permits_files WHERE document_code = 'inspection_photo'"))
        ).scalar()
    assert rows == 1
    # Photos are images, added by staff while the site is inspected.
    async with world.db() as session:
        with pytest.raises(applications.WrongState):
            await applications.attach_file(
                session, world.store, app_id, png_bytes(), filename="x.png",
                document_code=applications.INSPECTION_PHOTO,
                uploaded_by=world.audit("applicant"), origin=ORIGIN, citizen_id=world.citizens["applicant"],
            )  # fmt: skip


async def test_counter_intake_and_every_step_through_the_endpoints(
    world: PermitWorld, database_url: str, tmp_path: Path, client_for: ClientFactory
) -> None:
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    base = "/v1/permits/applications"
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        clerk, engineer = world.headers("clerk"), world.headers("engineer")
        checked = await http.post(
            "/v1/permits/eligibility",
            json={"kind": "construct", "use": "residence", "storeys": 2, "height_m": "7", "floor_area_m2": "120"},
            headers=clerk,
        )
        assert (checked.status_code, checked.json()["simplified"], checked.json()["area_type"]) == (200, True, "sao")
        walk_in = form()
        walk_in["applicant"].pop("email")
        created = await http.post(base, json={"form": walk_in}, headers=clerk)
        assert created.status_code == 201, created.text
        app = created.json()
        assert (app["status"], app["channel"], app["missing"]) == ("draft", "counter", [])
        for item in app["checklist"]:
            uploaded = await http.post(
                f"{base}/{app['id']}/files",
                params={"document": item["code"]},
                files={"data": (f"{item['code']}.pdf", pdf_bytes(len(item["code"])), "application/pdf")},
                headers=clerk,
            )
            assert uploaded.status_code == 201, uploaded.text
        unknown = await http.post(
            f"{base}/{app['id']}/files",
            params={"document": "drawings"},
            files={"data": ("x.pdf", pdf_bytes(99), "application/pdf")},
            headers=clerk,
        )
        assert (unknown.status_code, unknown.json()["code"]) == (422, "permits_unknown_document")
        shown = (await http.post(f"{base}/{app['id']}/submit", headers=clerk)).json()
        assert shown["state"] == "submitted"
        assert all(item["on_file"] for item in shown["checklist"])
        download = await http.get(shown["files"][0]["download_path"], headers=clerk)
        assert (download.status_code, download.content[:5]) == (200, b"%PDF-")

        async def act(action: str, who: dict[str, str], **body: object) -> dict[str, object]:
            response = await http.post(
                f"{base}/{app['id']}/actions/{action}", json={"version": shown["case_version"], **body}, headers=who
            )
            assert response.status_code == 200, response.text
            result: dict[str, object] = response.json()
            return result

        shown = await act("accept_documents", clerk)
        assert shown["complete_on"] == bangkok_today().isoformat()
        own = await http.post(
            f"{base}/{app['id']}/actions/approve", json={"version": shown["case_version"]}, headers=clerk
        )
        assert (own.status_code, own.json()["code"]) == (409, "permits_action_has_own_endpoint")
        forbidden = await http.post(
            f"{base}/{app['id']}/actions/approve_plans", json={"version": shown["case_version"]}, headers=clerk
        )
        assert (forbidden.status_code, forbidden.json()["code"]) == (403, "case_action_forbidden")
        shown = await act("approve_plans", engineer)
        extended = await http.post(
            f"{base}/{app['id']}/extensions", json={"days": 10, "reason_th": "รอความเห็นกรมทางหลวง"},
            headers=world.headers("official"),
        )  # fmt: skip
        assert extended.status_code == 201, extended.text
        assert extended.json()["seq"] == 1
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
        scheduled = await http.post(
            f"{base}/{app['id']}/inspection", json={"version": shown["case_version"], "at": when}, headers=engineer
        )
        assert scheduled.status_code == 200, scheduled.text
        shown = scheduled.json()
        photo = await http.post(
            f"{base}/{app['id']}/files",
            params={"document": "inspection_photo"},
            files={"data": ("site.png", png_bytes(), "image/png")},
            headers=engineer,
        )
        assert photo.status_code == 201, photo.text
        result = await http.post(
            f"{base}/{app['id']}/inspection/result",
            json={"version": shown["case_version"], "passed": True, "note": "ตรงตามแบบ"},
            headers=engineer,
        )
        shown = result.json()
        assert (shown["state"], shown["inspection_passed"]) == ("fee_assessment", True)
        billed = await http.post(  # no payer_id: the bill goes to the applicant's payer record
            f"{base}/{app['id']}/fees",
            json={"version": shown["case_version"]},
            headers=world.headers("assessor"),
        )
        assert billed.status_code == 200, billed.text
        shown = billed.json()
        assert (shown["state"], shown["fee_total"]) == ("decision", "260.00")
        assert shown["bill_reference"]
        async with world.db() as session:
            payer = (
                await session.execute(
                    select(Payer.tax_id, Payer.name, Payer.kind)
                    .join(Bill, Bill.payer_id == Payer.id)
                    .where(Bill.reference == shown["bill_reference"])
                )
            ).one()
        assert tuple(payer) == (APPLICANT_ID, "นายสมชาย ใจดี", "person")  # made from the application
        decided = await http.post(
            f"{base}/{app['id']}/decision",
            json={"version": shown["case_version"], "approve": True},
            headers=world.headers("official"),
        )
        assert decided.status_code == 200, decided.text
        assert (decided.json()["state"], decided.json()["permit"]) == ("approved", None)  # issued once paid
        late = await http.post(
            f"{base}/{app['id']}/extensions",
            json={"days": 5, "reason_th": "หลังตัดสิน"},
            headers=world.headers("official"),
        )
        assert (late.status_code, late.json()["data"]["reason"]) == (409, "not_under_consideration")
        listed = (await http.get(base, headers=clerk)).json()["items"]
        assert [(i["id"], i["state"], i["applicant_name"]) for i in listed] == [(app["id"], "approved", "นายสมชาย ใจดี")]
        settings_read = (await http.get("/v1/permits/settings", headers=clerk)).json()
        assert settings_read["fees"]["permit_fee"]["construct"] == "200"
        assert any("MR 7" in line for line in settings_read["verify"])
