"""e-Saraban over HTTP: the draft → review → approval → issue flow with its refusals, registers
and their exports, receiving and routing with inboxes and read receipts, the secrecy matrix
(lists, search, by id, audit), retention and destruction lists, the directory and the operator's
outside agencies, metering, and tenant isolation through every endpoint (404 by id)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import AuditEvent
from localgov.kernel.pagination import encode_cursor
from localgov.kernel.thai import bangkok_today, be_year, to_thai_digits
from localgov.kernel.usage import UsageEvent
from localgov.plugins import REGISTRY
from tests.conftest import BASE as BASE_DOMAIN
from tests.conftest import ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.paging import walk_pages
from tests.support.routes import routes_of
from tests.support.saraban import Lao, deliver, letter_body, make_lao
from tests.support.tokens import bearer

BASE = "/v1/saraban"


async def create(http: httpx.AsyncClient, lao: Lao, who: str = "officer", **changes: Any) -> dict[str, Any]:
    response = await http.post(f"{BASE}/letters", json=letter_body(lao, **changes), headers=lao.headers(who))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(
    http: httpx.AsyncClient, lao: Lao, letter: dict[str, Any], action: str, who: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"{BASE}/letters/{letter['id']}/{action}",
        json={"version": letter["version"], **extra},
        headers=lao.headers(who),
    )


async def through(http: httpx.AsyncClient, lao: Lao, letter: dict[str, Any], *steps: tuple[str, str]) -> dict[str, Any]:
    for action, who in steps:
        response = await act(http, lao, letter, action, who)
        assert response.status_code == 200, (action, response.text)
        letter = response.json()
    return letter


ISSUE = (("submit", "officer"), ("approve", "signer"), ("issue", "clerk"))


async def test_the_flow_registers_routing_and_metering(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao, other = await make_lao(engine), await make_lao(engine, agency_code="ขก 51399")
    year = be_year(bangkok_today())
    async with client_for(plugins=REGISTRY, listen=False) as http:
        # Refusals are problem details with stable codes.
        bad = await http.post(
            f"{BASE}/letters", json=letter_body(lao, kind="directive"), headers=lao.headers("officer")
        )
        assert (bad.status_code, bad.json()["code"]) == (422, "saraban_invalid_letter")
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "ไม่ถูกต้อง" in bad.json()["title"]
        unknown = await http.post(
            f"{BASE}/letters",
            json=letter_body(lao, recipients=[{"kind": "lao", "dla_code": "9999999"}]),
            headers=lao.headers("officer"),
        )
        assert (unknown.status_code, unknown.json()["code"]) == (422, "saraban_invalid_recipient")
        malformed = await http.post(
            f"{BASE}/letters", json={**letter_body(lao), "urgency": "asap"}, headers=lao.headers("officer")
        )
        assert malformed.status_code == 400
        admin = await http.post(f"{BASE}/letters", json=letter_body(lao), headers=lao.headers("admin"))
        assert admin.status_code == 403

        # A draft to the other LAO, a unit and a member of this one; revised once.
        letter = await create(
            http,
            lao,
            recipients=[
                {"kind": "lao", "dla_code": other.tenant.dla_code},
                {"kind": "unit", "unit_id": str(lao.other_unit_id)},
                {"kind": "staff", "staff_id": str(lao.staff["reviewer"])},
            ],
        )
        assert (letter["status"], letter["kind_th"], letter["urgency_th"]) == ("draft", "หนังสือภายนอก", "ด่วน")
        assert letter["revisions"] == 1
        assert letter["signer_position"] == "นายกองค์การบริหารส่วนตำบล"
        revised = await http.patch(
            f"{BASE}/letters/{letter['id']}",
            json={"version": 1, "body": "ข้อความที่แก้ไขแล้ว", "note": "แก้ตามที่หัวหน้าแนะนำ"},
            headers=lao.headers("officer"),
        )
        assert revised.status_code == 200, revised.text
        letter = revised.json()
        assert (letter["version"], letter["revisions"], letter["body"]) == (2, 2, "ข้อความที่แก้ไขแล้ว")
        stale = await http.patch(
            f"{BASE}/letters/{letter['id']}", json={"version": 1, "body": "x"}, headers=lao.headers("officer")
        )
        assert (stale.status_code, stale.json()["code"]) == (409, "saraban_version_conflict")
        history = await http.get(f"{BASE}/letters/{letter['id']}/revisions", headers=lao.headers("officer"))
        assert [r["revision"] for r in history.json()["items"]] == [1, 2]
        walked = await walk_pages(
            http, f"{BASE}/letters/{letter['id']}/revisions", lao.headers("officer"), key="revision"
        )
        assert [r["revision"] for r in walked] == [1, 2]
        assert history.json()["items"][0]["content"]["body"].startswith("ด้วยองค์การบริหารส่วนตำบล")

        # Review and approval: only the signer named on the letter approves.
        letter = await through(http, lao, letter, ("submit", "officer"), ("review", "reviewer"))
        early = await act(http, lao, letter, "issue", "clerk")
        assert (early.status_code, early.json()["code"]) == (409, "saraban_wrong_status")
        officer_approves = await act(http, lao, letter, "approve", "officer")
        assert officer_approves.status_code == 403
        returned = await act(http, lao, letter, "return", "reviewer")
        assert (returned.status_code, returned.json()["code"]) == (422, "saraban_invalid_letter")
        letter = await through(http, lao, letter, ("approve", "signer"), ("issue", "clerk"))
        assert letter["status"] == "issued"
        assert letter["number_text"] == "ที่ ขก 51301/1"
        assert [e["action"] for e in letter["events"]] == [
            "created",
            "revised",
            "submitted",
            "reviewed",
            "approved",
            "issued",
        ]
        statuses = {r["kind"]: r["status"] for r in letter["recipients"]}
        assert statuses == {"lao": "queued", "unit": "delivered", "staff": "delivered"}

        # The member and the unit find it in their inboxes; the read receipt is kept.
        mine = await http.get(f"{BASE}/inbox", headers=lao.headers("reviewer"))
        assert [i["letter_id"] for i in mine.json()["items"]] == [letter["id"]]
        unit = await http.get(f"{BASE}/inbox/units/{lao.other_unit_id}", headers=lao.headers("outsider"))
        assert [i["letter_id"] for i in unit.json()["items"]] == [letter["id"]]
        not_mine = await http.get(f"{BASE}/inbox/units/{lao.other_unit_id}", headers=lao.headers("officer"))
        assert (not_mine.status_code, not_mine.json()["code"]) == (403, "saraban_not_allowed")
        route_id = mine.json()["items"][0]["route_id"]
        read = await http.post(f"{BASE}/routes/{route_id}/read", headers=lao.headers("reviewer"))
        assert read.status_code == 200
        assert read.json()["read_at"] is not None
        foreign = await http.post(f"{BASE}/routes/{route_id}/read", headers=lao.headers("officer"))
        assert (foreign.status_code, foreign.json()["code"]) == (404, "saraban_route_not_found")
        done = await http.post(f"{BASE}/routes/{route_id}/done", headers=lao.headers("reviewer"))
        assert done.json()["status"] == "done"

        # The other LAO receives it (worker), endorses and routes it with a due date.
        assert await deliver(engine, [other], "saraban.deliver") == 1
        assert await deliver(engine, [lao], "saraban.receipt") == 1
        sent = (await http.get(f"{BASE}/letters/{letter['id']}", headers=lao.headers("officer"))).json()
        receipt = next(r for r in sent["recipients"] if r["kind"] == "lao")
        assert (receipt["status"], receipt["receipt_no"]) == ("delivered", f"1/{year}")
        incoming = await http.get(f"{BASE}/letters", params={"direction": "incoming"}, headers=other.headers("clerk"))
        [copy] = incoming.json()["items"]
        assert copy["number_text"] == "ที่ ขก 51301/1"
        due = (bangkok_today() + dt.timedelta(days=7)).isoformat()
        routed = await http.post(
            f"{BASE}/letters/{copy['id']}/routes",
            json={"to_staff_id": str(other.staff["officer"]), "endorsement": "มอบงานธุรการดำเนินการ", "due_on": due},
            headers=other.headers("signer"),
        )
        assert routed.status_code == 201, routed.text
        assert routed.json()["items"][0]["endorsement"] == "มอบงานธุรการดำเนินการ"
        inbox = (await http.get(f"{BASE}/inbox", headers=other.headers("officer"))).json()["items"]
        assert [(i["letter_id"], i["due_on"], i["overdue"]) for i in inbox] == [(copy["id"], due, False)]
        past = await http.post(
            f"{BASE}/letters/{copy['id']}/routes",
            json={"to_staff_id": str(other.staff["officer"]), "due_on": "2000-01-01"},
            headers=other.headers("signer"),
        )
        assert (past.status_code, past.json()["code"]) == (422, "saraban_invalid_letter")
        again = await http.post(
            f"{BASE}/letters/{copy['id']}/routes",
            json={"to_unit_id": str(other.unit_id), "endorsement": "ทราบ"},
            headers=other.headers("signer"),
        )
        assert again.status_code == 201, again.text
        routes = await walk_pages(http, f"{BASE}/letters/{copy['id']}/routes", other.headers("signer"))
        assert [r["endorsement"] for r in routes] == ["มอบงานธุรการดำเนินการ", "ทราบ"]

        # A letter received on paper: the receive stamp is the next receive number.
        paper_body = {
            "kind": "external",
            "subject": "แจ้งการจัดสรรงบประมาณ",
            "sender_name": "จังหวัดขอนแก่น",
            "number_text": "ที่ ขก 0023.3/ว 456",
            "letter_date": "2026-11-30",
            "urgency": "most_urgent",
        }
        once = {**other.headers("clerk"), "Idempotency-Key": "paper-0023-456"}
        paper = await http.post(f"{BASE}/incoming", json=paper_body, headers=once)
        assert paper.status_code == 201, paper.text
        retried = await http.post(f"{BASE}/incoming", json=paper_body, headers=once)
        assert retried.headers.get("Idempotent-Replayed") == "true"
        assert retried.json()["id"] == paper.json()["id"]
        assert paper.json()["receive_no"] == f"2/{year}"

        # Orders are numbered n/BE-year; the send register has both lines, chained.
        order = await create(http, lao, kind="directive", subkind="order", subject="แต่งตั้งคณะกรรมการ", recipients=[])
        order = await through(http, lao, order, *ISSUE)
        assert order["number_text"] == f"1/{year}"
        page = await http.get(f"{BASE}/registers/send/{year}", params={"limit": 1}, headers=lao.headers("clerk"))
        assert [line["seq"] for line in page.json()["items"]] == [1]
        rest = await http.get(
            f"{BASE}/registers/send/{year}", params={"cursor": page.json()["next_cursor"]}, headers=lao.headers("clerk")
        )
        assert [line["letter_no"] for line in rest.json()["items"]] == [f"1/{year}"]
        csv = await http.get(f"{BASE}/registers/send/{year}/csv", headers=lao.headers("clerk"))
        assert csv.status_code == 200
        text_csv = csv.content.decode("utf-8-sig")
        assert text_csv.splitlines()[0] == "เลขทะเบียน,ที่,ลงวันที่,จาก,ถึง,เรื่อง,การปฏิบัติ,หมายเหตุ"
        assert "แต่งตั้งคณะกรรมการ" in text_csv
        pdf = await http.get(f"{BASE}/registers/receive/{year}/pdf", headers=other.headers("clerk"))
        assert pdf.status_code == 200
        page = PdfReader(io.BytesIO(pdf.content)).pages[0]
        assert page.mediabox.width > page.mediabox.height  # landscape A4
        printed = page.extract_text()
        assert f"ทะเบียนหนังสือรับ ประจำปี {to_thai_digits(str(year))}" in printed
        assert "เลขทะเบียน" in printed
        assert "การปฏิบัติ" in printed
        assert to_thai_digits(f"2/{year}") in printed
        assert "จังหวัดขอนแก่น" in printed
        officer_pdf = await http.get(f"{BASE}/registers/send/{year}/pdf", headers=lao.headers("officer"))
        assert officer_pdf.status_code == 403
        verify = await http.get(f"{BASE}/registers/verify", headers=lao.headers("admin"))
        assert [(r["register"], r["entries"], r["ok"]) for r in verify.json()["items"]] == [("send", 2, True)]
        bad_register = await http.get(f"{BASE}/registers/other/{year}", headers=lao.headers("clerk"))
        assert bad_register.status_code == 400

    # Metering: one letter to another LAO, two inside, two received by the other LAO.
    async with lao.db() as session:
        usage = dict(
            (
                await session.execute(
                    select(UsageEvent.meter, func.sum(UsageEvent.quantity))
                    .where(UsageEvent.tenant_id.in_([lao.tenant.id, other.tenant.id]))
                    .group_by(UsageEvent.meter)
                )
            ).all()
        )
    assert usage == {
        "saraban.letters_sent_lao": Decimal(1),
        "saraban.letters_sent_internal": Decimal(2),
        "saraban.letters_received": Decimal(2),
    }


async def test_secrecy_matrix(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """A secret letter: who sees it in lists, in searches and by id; every access audited."""
    lao = await make_lao(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        secret = await create(
            http,
            lao,
            subject="รายงานการสอบสวนข้อเท็จจริงลับเฉพาะ",
            secrecy="secret",
            named_staff_ids=[str(lao.staff["reviewer"])],
        )
        plain = await create(http, lao, subject="รายงานการประชุมประจำเดือน")
        # Named: the author (officer), the signer, the named reviewer. Not named: clerk, outsider, admin.
        expected = {
            "officer": True,
            "signer": True,
            "reviewer": True,
            "clerk": False,
            "outsider": False,
            "admin": False,
        }
        for who, sees in expected.items():
            listed = await http.get(f"{BASE}/letters", headers=lao.headers(who))
            ids = {i["id"] for i in listed.json()["items"]}
            assert (secret["id"] in ids) is sees, who
            assert plain["id"] in ids, who
            found = await http.get(f"{BASE}/letters", params={"q": "รายงาน"}, headers=lao.headers(who))
            assert (secret["id"] in {i["id"] for i in found.json()["items"]}) is sees, who
            by_id = await http.get(f"{BASE}/letters/{secret['id']}", headers=lao.headers(who))
            assert by_id.status_code == (200 if sees else 404), who
            revisions = await http.get(f"{BASE}/letters/{secret['id']}/revisions", headers=lao.headers(who))
            assert revisions.status_code == (200 if sees else 404), who
        # The secret-letter officer (named on every secret letter) issues it, not another clerk.
        secret = await through(http, lao, secret, *ISSUE[:2])
        issue_by_clerk = await act(http, lao, secret, "issue", "clerk")
        assert issue_by_clerk.status_code == 404
        secret = await through(http, lao, secret, ("issue", "secretary"))
        assert secret["number_text"] == "ที่ ขก 51301/1"
        # The register line of a secret letter hides its subject.
        year = be_year(bangkok_today())
        lines = (await http.get(f"{BASE}/registers/send/{year}", headers=lao.headers("clerk"))).json()["items"]
        assert [line["subject"] for line in lines] == ["(หนังสือลับ)"]
    async with lao.db() as session:
        granted = (
            await session.execute(
                select(func.count()).where(
                    AuditEvent.action == "saraban.secret_access", AuditEvent.target == f"saraban_letter:{secret['id']}"
                )
            )
        ).scalar_one()
        refused = (
            await session.execute(
                select(AuditEvent.actor_id).where(
                    AuditEvent.action == "saraban.secret_access_refused",
                    AuditEvent.target == f"saraban_letter:{secret['id']}",
                )
            )
        ).scalars()
        refused_by = set(refused)
        listed = (
            await session.execute(
                select(AuditEvent.actor_id).where(
                    AuditEvent.action == "saraban.secret_access",
                    AuditEvent.target == f"saraban_letter:{secret['id']}",
                    AuditEvent.data["what"].astext == "list",
                )
            )
        ).scalars()
        listed_by = sorted(listed)
    assert granted >= 6  # each read and revisions list of the three named members, and the workflow
    assert refused_by == {str(lao.staff[w]) for w in ("clerk", "outsider", "admin")}
    # Shown in a list and in a search: each named member twice; nobody else.
    assert listed_by == sorted(str(lao.staff[w]) for w in ("officer", "signer", "reviewer") for _ in range(2))


async def test_a_secret_letter_received_is_seen_by_the_secret_officer_and_those_routed_to(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await make_lao(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        received = await http.post(
            f"{BASE}/incoming",
            json={
                "kind": "external",
                "subject": "ลับมาก: ผลการตรวจสอบ",
                "sender_name": "สำนักงานตรวจเงินแผ่นดิน",
                "number_text": "ที่ ตผ 0001/1",
                "letter_date": "2026-11-01",
                "secrecy": "top_secret",
            },
            headers=lao.headers("clerk"),
        )
        assert received.status_code == 201, received.text
        letter_id = received.json()["id"]
        assert (await http.get(f"{BASE}/letters/{letter_id}", headers=lao.headers("secretary"))).status_code == 200
        assert (await http.get(f"{BASE}/letters/{letter_id}", headers=lao.headers("officer"))).status_code == 404
        routed = await http.post(
            f"{BASE}/letters/{letter_id}/routes",
            json={"to_staff_id": str(lao.staff["officer"]), "endorsement": "ดำเนินการด่วน"},
            headers=lao.headers("clerk"),
        )
        assert routed.status_code == 201, routed.text
        assert (await http.get(f"{BASE}/letters/{letter_id}", headers=lao.headers("officer"))).status_code == 200
        inbox = (await http.get(f"{BASE}/inbox", headers=lao.headers("officer"))).json()["items"]
        assert [i["letter_id"] for i in inbox] == [letter_id]
        year = be_year(bangkok_today())
        lines = (await http.get(f"{BASE}/registers/receive/{year}", headers=lao.headers("clerk"))).json()["items"]
        assert [line["subject"] for line in lines] == ["(หนังสือลับ)"]


async def test_retention_destruction_lists_directory_and_outside_agencies(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao, other = await make_lao(engine), await make_lao(engine, agency_code="ขก 51398")
    operator = {"Host": BASE_DOMAIN, **bearer(None, kind="operator", roles=("platform_admin",), subject="op-1")}
    this_year = be_year(bangkok_today())
    async with client_for(plugins=REGISTRY, listen=False) as http:
        for code, name in (("ขก 51301.2", "กองช่าง"), ("ขก 51301.1", "กองคลัง")):
            made = await http.post(
                f"{BASE}/issuing-units", json={"code": code, "name_th": name}, headers=lao.headers("admin")
            )
            assert made.status_code == 201, made.text
        units = await walk_pages(http, f"{BASE}/issuing-units", lao.headers("officer"))
        assert [u["code"] for u in units] == ["ขก 51301.1", "ขก 51301.2"]
        assert (await http.get(f"{BASE}/issuing-units", headers=other.headers("officer"))).json()["items"] == []
        rules = await http.get(f"{BASE}/retention", headers=lao.headers("admin"))
        assert {r["kind"]: r["years"] for r in rules.json()["items"]}["directive"] is None
        changed = await http.put(
            f"{BASE}/retention", json={"items": [{"kind": "stamped", "years": 2}]}, headers=lao.headers("admin")
        )
        assert {r["kind"]: r["years"] for r in changed.json()["items"]}["stamped"] == 2
        # A letter received in 2557 with the 1-year rule is due for destruction by the end of 2568.
        old = await http.post(
            f"{BASE}/incoming",
            json={
                "kind": "external",
                "subject": "หนังสือเก่า",
                "sender_name": "อำเภอ",
                "number_text": "ที่ ขก 0118/1",
                "letter_date": "2014-05-01",
            },
            headers=lao.headers("clerk"),
        )
        assert old.status_code == 201
        async with lao.db() as session:
            from localgov.services.saraban.models import Letter

            letter = await session.get(Letter, uuid.UUID(old.json()["id"]))
            assert letter is not None
            letter.retention_years = 1
        open_year = await http.post(f"{BASE}/destruction-lists", json={"year": this_year}, headers=lao.headers("admin"))
        assert (open_year.status_code, open_year.json()["code"]) == (422, "saraban_destruction_list_year_open")
        prepared = await http.post(
            f"{BASE}/destruction-lists", json={"year": this_year - 1}, headers=lao.headers("admin")
        )
        assert prepared.status_code == 201, prepared.text
        assert prepared.json()["letter_ids"] == [old.json()["id"]]
        assert prepared.json()["due_on"] == f"{this_year - 543}-03-01"
        again = await http.post(f"{BASE}/destruction-lists", json={"year": this_year - 1}, headers=lao.headers("admin"))
        assert (again.status_code, again.json()["code"]) == (409, "saraban_destruction_list_exists")
        approved = await http.post(
            f"{BASE}/destruction-lists/{prepared.json()['id']}/approve", headers=lao.headers("admin")
        )
        assert approved.json()["status"] == "approved"

        # The operator adds an outside agency; the directory lists it beside the platform's LAOs.
        created = await http.post(
            "/v1/outside-agencies",
            json={"code": "มท 0808", "name_th": "กรมส่งเสริมการปกครองท้องถิ่น", "endpoint_url": "https://dla.example/x"},
            headers=operator,
        )
        assert created.status_code == 201, created.text
        dup = await http.post("/v1/outside-agencies", json={"code": "มท 0808", "name_th": "ซ้ำ"}, headers=operator)
        assert (dup.status_code, dup.json()["code"]) == (409, "saraban_agency_exists")
        insecure = await http.post(
            "/v1/outside-agencies", json={"code": "x1", "name_th": "x", "endpoint_url": "http://a"}, headers=operator
        )
        assert insecure.status_code == 400
        second = await http.post(
            "/v1/outside-agencies", json={"code": "มท 0809", "name_th": "กรมที่สอง"}, headers=operator
        )
        assert second.status_code == 201, second.text
        listed = await walk_pages(http, "/v1/outside-agencies", operator)
        # The operator's list is the whole platform's (other tests add agencies to it): these two, in order.
        assert [a["code"] for a in listed if a["code"] in ("มท 0808", "มท 0809")] == ["มท 0808", "มท 0809"]
        on_tenant = await http.get("/v1/outside-agencies", headers=lao.headers("admin"))
        assert on_tenant.status_code == 404
        patched = await http.patch(
            f"/v1/outside-agencies/{created.json()['id']}", json={"name_en": "DLA"}, headers=operator
        )
        assert patched.json()["name_en"] == "DLA"
        directory = await http.get(
            f"{BASE}/agencies", params={"q": other.tenant.dla_code}, headers=lao.headers("officer")
        )
        outside = await http.get(f"{BASE}/agencies", params={"q": "มท 0808"}, headers=lao.headers("officer"))
        codes = {(a["kind"], a["code"], a["electronic"]) for a in directory.json()["items"] + outside.json()["items"]}
        # The directory pages by cursor: one at a time gives the same addressees as a page of six.
        six = (await http.get(f"{BASE}/agencies", params={"limit": 6}, headers=lao.headers("officer"))).json()["items"]
        walked: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(walked) < 6:
            params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (await http.get(f"{BASE}/agencies", params=params, headers=lao.headers("officer"))).json()
            walked += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == six
        assert ("lao", other.tenant.dla_code, True) in codes
        assert ("outside", "มท 0808", True) in codes
        # An LAO without e-Saraban is listed, not electronic, and a letter to it is refused.
        paper_only = await make_tenant(engine, services=())
        found = await http.get(f"{BASE}/agencies", params={"q": paper_only.dla_code}, headers=lao.headers("officer"))
        assert [(a["code"], a["electronic"]) for a in found.json()["items"]] == [(paper_only.dla_code, False)]
        refused = await http.post(
            f"{BASE}/letters",
            json=letter_body(lao, recipients=[{"kind": "lao", "dla_code": paper_only.dla_code}]),
            headers=lao.headers("officer"),
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "saraban_invalid_recipient")
        # A letter to the outside agency waits for the exchange adapter, metered as sent outside.
        letter = await create(http, lao, recipients=[{"kind": "outside", "agency_code": "มท 0808"}])
        letter = await through(http, lao, letter, *ISSUE)
        assert [r["status"] for r in letter["recipients"]] == ["awaiting_exchange"]


async def test_tenant_isolation_through_every_endpoint(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    """Ids of one LAO are unknown to another: 404 on every route that takes one (the walk covers
    every templated route of the plugin); lists and registers show nothing of the other LAO."""
    lao, other = await make_lao(engine), await make_lao(engine, agency_code="ขก 51397")
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        draft_letter = await create(http, lao)
        stored = await http.post(
            f"{BASE}/letters/{draft_letter['id']}/files",
            files={"data": ("a.pdf", pdf, "application/pdf")},
            headers=lao.headers("officer"),
        )
        letter = await create(http, lao, recipients=[{"kind": "staff", "staff_id": str(lao.staff["reviewer"])}])
        letter = await through(http, lao, letter, *ISSUE)
        route_id = (await http.get(f"{BASE}/inbox", headers=lao.headers("reviewer"))).json()["items"][0]["route_id"]
        year = be_year(bangkok_today())
        prepared = await http.post(f"{BASE}/destruction-lists", json={"year": year - 1}, headers=lao.headers("admin"))
        values = {
            "letter_id": draft_letter["id"],
            "route_id": route_id,
            "list_id": prepared.json()["id"],
            "file_id": stored.json()["id"],
            "unit_id": str(lao.unit_id),
            "register": "send",
            "year": str(year),
        }
        act_body = {"version": draft_letter["version"], "note": "ทดสอบ"}
        letter_path = f"{BASE}/letters/{{letter_id}}"
        # (method, template) -> (body, who); a register is the caller's own (200, empty), the rest 404.
        calls: dict[tuple[str, str], tuple[Any, str]] = {
            ("GET", letter_path): (None, "clerk"),
            ("PATCH", letter_path): ({"version": 1, "body": "x"}, "officer"),
            ("GET", f"{letter_path}/revisions"): (None, "clerk"),
            ("GET", f"{letter_path}/routes"): (None, "clerk"),
            ("POST", f"{letter_path}/routes"): ({"to_unit_id": str(other.unit_id)}, "clerk"),
            ("POST", f"{letter_path}/submit"): (act_body, "officer"),
            ("POST", f"{letter_path}/review"): (act_body, "reviewer"),
            ("POST", f"{letter_path}/return"): (act_body, "reviewer"),
            ("POST", f"{letter_path}/approve"): (act_body, "signer"),
            ("POST", f"{letter_path}/issue"): (act_body, "clerk"),
            ("POST", f"{letter_path}/cancel"): (act_body, "officer"),
            ("POST", f"{letter_path}/files"): ("upload", "officer"),
            ("GET", f"{letter_path}/files"): (None, "clerk"),
            ("GET", f"{letter_path}/files/{{file_id}}"): (None, "clerk"),
            ("GET", f"{letter_path}/pdf"): (None, "clerk"),
            ("POST", f"{BASE}/routes/{{route_id}}/read"): (None, "reviewer"),
            ("POST", f"{BASE}/routes/{{route_id}}/done"): (None, "reviewer"),
            ("GET", f"{BASE}/destruction-lists/{{list_id}}"): (None, "admin"),
            ("POST", f"{BASE}/destruction-lists/{{list_id}}/approve"): (None, "admin"),
            ("GET", f"{BASE}/inbox/units/{{unit_id}}"): (None, "clerk"),
            ("GET", f"{BASE}/registers/{{register}}/{{year}}"): (None, "clerk"),
            ("GET", f"{BASE}/registers/{{register}}/{{year}}/csv"): (None, "clerk"),
            ("GET", f"{BASE}/registers/{{register}}/{{year}}/pdf"): (None, "clerk"),
        }
        server: Litestar = http._transport.app  # type: ignore[attr-defined]
        walked = {
            (method, template)
            for method, template, _, _ in routes_of(server, "tenant")
            if template.startswith(BASE + "/") and "{" in template
        }
        assert walked == set(calls), walked ^ set(calls)
        for (method, template), (payload, who) in calls.items():
            path = template.format(**values)
            headers = other.headers(who)
            if payload == "upload":
                response = await http.post(path, files={"data": ("a.pdf", pdf, "application/pdf")}, headers=headers)
            else:
                response = await http.request(method, path, json=payload, headers=headers)
            if "/registers/" in template:
                assert response.status_code == 200, (method, template, response.text)
                if template.endswith("{year}"):
                    assert response.json()["items"] == []
                elif template.endswith("/csv"):
                    assert len(response.content.decode("utf-8-sig").splitlines()) == 1  # the header only
            else:
                assert response.status_code == 404, (method, template, response.text)
            # The same call at home is no 404 (the route works; only the tenant differs).
            if method == "GET":
                home = await http.get(path, headers=lao.headers(who))
                assert home.status_code == 200, (template, home.text)
        # A cursor naming the first LAO's letter is no page of the second's list.
        listed = await http.get(
            f"{BASE}/letters", params={"cursor": encode_cursor([letter["id"]])}, headers=other.headers("clerk")
        )
        assert listed.status_code == 404
        assert (await http.get(f"{BASE}/letters", headers=other.headers("clerk"))).json()["items"] == []
        assert (await http.get(f"{BASE}/inbox", headers=other.headers("reviewer"))).json()["items"] == []
        assert host(lao.tenant.slug) != host(other.tenant.slug)


async def test_files_of_a_letter_follow_its_secrecy_and_its_tenant(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    lao, other = await make_lao(engine), await make_lao(engine, agency_code="ขก 51396")
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        secret = await create(http, lao, secrecy="confidential")
        uploaded = await http.post(
            f"{BASE}/letters/{secret['id']}/files",
            files={"data": ("agenda.pdf", pdf, "application/pdf")},
            headers=lao.headers("officer"),
        )
        assert uploaded.status_code == 201, uploaded.text
        stored = uploaded.json()
        assert stored["sha256"] == hashlib.sha256(pdf).hexdigest()
        listed = await http.get(f"{BASE}/letters/{secret['id']}/files", headers=lao.headers("signer"))
        assert [f["id"] for f in listed.json()["items"]] == [stored["id"]]
        path = f"{BASE}/letters/{secret['id']}/files/{stored['id']}"
        download = await http.get(path, headers=lao.headers("signer"))
        assert download.status_code == 200
        assert download.content == pdf
        for who in ("clerk", "outsider"):
            assert (await http.get(path, headers=lao.headers(who))).status_code == 404
            listed_by = await http.get(f"{BASE}/letters/{secret['id']}/files", headers=lao.headers(who))
            assert listed_by.status_code == 404
        assert (await http.get(path, headers=other.headers("clerk"))).status_code == 404
        foreign_upload = await http.post(
            f"{BASE}/letters/{secret['id']}/files",
            files={"data": ("x.pdf", pdf, "application/pdf")},
            headers=other.headers("officer"),
        )
        assert foreign_upload.status_code == 404
        # The files of a letter page by cursor, in upload order.
        draft = await create(http, lao)
        names = ["one.pdf", "two.pdf", "three.pdf"]
        for name in names:
            one = await http.post(
                f"{BASE}/letters/{draft['id']}/files",
                files={"data": (name, pdf, "application/pdf")},
                headers=lao.headers("officer"),
            )
            assert one.status_code == 201, one.text
        walked = await walk_pages(http, f"{BASE}/letters/{draft['id']}/files", lao.headers("officer"), limit=2)
        assert [f["filename"] for f in walked] == names
        # Once issued, the letter's files are final.
        plain = await through(http, lao, await create(http, lao), *ISSUE)
        late = await http.post(
            f"{BASE}/letters/{plain['id']}/files",
            files={"data": ("late.pdf", pdf, "application/pdf")},
            headers=lao.headers("officer"),
        )
        assert (late.status_code, late.json()["code"]) == (409, "saraban_wrong_status")
    async with lao.db() as session:
        audited = (
            await session.execute(
                select(func.count()).where(
                    AuditEvent.action == "saraban.secret_access",
                    AuditEvent.target == f"saraban_letter:{secret['id']}",
                    AuditEvent.data["what"].astext == f"file:{stored['id']}",
                )
            )
        ).scalar_one()
    assert audited == 1
