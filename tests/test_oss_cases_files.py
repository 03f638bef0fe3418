"""Attachments of requests (kernel storage): staff and the applicant upload, list and download;
size and type are checked by content; every download checks access again; another request's,
another citizen's and another LAO's files are not found."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import AuditEvent
from localgov.plugins import REGISTRY
from localgov.services.oss.cases import UPLOAD_LIMITS
from tests.conftest import ClientFactory, make_settings
from tests.support.oss_cases import HTML, CaseWorld, make_case_world, pdf_bytes, png_bytes, walk_in
from tests.support.paging import walk_pages

THAI_NAME = "สำเนาทะเบียนบ้าน ฉบับที่ ๒.pdf"


async def post_file(
    http: httpx.AsyncClient,
    w: CaseWorld,
    case_id: str,
    who: str,
    content: bytes,
    *,
    name: str = "scan.pdf",
    declared: str = "application/pdf",
    document: str | None = None,
) -> httpx.Response:
    prefix = "/v1/oss/me/cases" if who in w.citizens else "/v1/oss/cases"
    return await http.post(
        f"{prefix}/{case_id}/files",
        params={"document": document} if document else {},
        files={"data": (name, content, declared)},
        headers=w.headers(who),
    )


async def test_attachments_are_checked_by_content_and_downloads_recheck_access(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    w = await make_case_world(engine)
    other_lao = await make_case_world(engine)
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"))
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        filed = await http.post(
            "/v1/oss/me/cases", json={"service_code": "test-request"}, headers=w.headers("applicant")
        )
        case: dict[str, Any] = filed.json()["case"]
        walk = (await http.post("/v1/oss/cases", json=walk_in(), headers=w.headers("officer"))).json()["case"]
        theirs = (await http.post("/v1/oss/cases", json=walk_in(), headers=other_lao.headers("officer"))).json()["case"]

        # A real PDF declared as text, under a Thai name: accepted as what it is.
        content = pdf_bytes(50_000)
        created = await post_file(http, w, case["id"], "officer", content, name=THAI_NAME, declared="text/plain",
                                  document="doc.2")  # fmt: skip
        assert created.status_code == 201, created.text
        staff_file = created.json()
        assert (staff_file["content_type"], staff_file["size_bytes"]) == ("application/pdf", len(content))
        assert staff_file["sha256"] == hashlib.sha256(content).hexdigest()
        assert (staff_file["filename"], staff_file["document_code"]) == (THAI_NAME, "doc.2")
        assert staff_file["uploaded_by"] == f"staff:{w.staff['officer']}"
        assert staff_file["download_path"] == f"/v1/oss/cases/{case['id']}/files/{staff_file['id']}"
        # The applicant adds his own, by content a PNG.
        mine = await post_file(http, w, case["id"], "applicant", png_bytes(), name="id.png", declared="image/png",
                               document="doc.1")  # fmt: skip
        assert mine.status_code == 201, mine.text
        citizen_file = mine.json()
        assert citizen_file["download_path"] == f"/v1/oss/me/cases/{case['id']}/files/{citizen_file['id']}"

        # Refused: too large for the service, too large for the route, not an accepted type by its
        # content (HTML named and declared a PDF), empty, a document the manual does not list.
        too_big = await post_file(http, w, case["id"], "officer", b"%PDF-1.7\n" + b"0" * UPLOAD_LIMITS.max_bytes)
        assert (too_big.status_code, too_big.json()["code"]) == (413, "file_too_large")
        huge = await post_file(
            http, w, case["id"], "officer", b"%PDF-1.7\n" + b"0" * (UPLOAD_LIMITS.max_bytes + 200_000)
        )
        assert (huge.status_code, huge.json()["code"]) == (413, "payload_too_large")
        html = await post_file(http, w, case["id"], "applicant", HTML, name="form.pdf")
        assert (html.status_code, html.json()["code"]) == (415, "file_type_not_allowed")
        assert html.headers["content-type"] == "application/problem+json"
        empty = await post_file(http, w, case["id"], "officer", b"")
        assert (empty.status_code, empty.json()["code"]) == (400, "file_empty")
        unknown = await post_file(http, w, case["id"], "officer", pdf_bytes(), document="doc.7")
        assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_document")
        malformed = await post_file(http, w, case["id"], "officer", pdf_bytes(), document="../etc")
        assert malformed.status_code == 400
        missing_part = await http.post(f"/v1/oss/cases/{case['id']}/files", headers=w.headers("officer"))
        assert missing_part.status_code == 400
        editor = await post_file(http, w, case["id"], "editor", pdf_bytes())
        assert (editor.status_code, editor.json()["code"]) == (403, "forbidden")

        # Listed in upload order; the staff list and the applicant's view agree on the files.
        listed = (await http.get(f"/v1/oss/cases/{case['id']}/files", headers=w.headers("officer"))).json()["items"]
        assert [f["id"] for f in listed] == [staff_file["id"], citizen_file["id"]]
        assert await walk_pages(http, f"/v1/oss/cases/{case['id']}/files", w.headers("officer")) == listed
        seen = (await http.get(f"/v1/oss/me/cases/{case['id']}", headers=w.headers("applicant"))).json()
        assert [f["id"] for f in seen["files"]] == [staff_file["id"], citizen_file["id"]]
        assert seen["files"][0]["uploaded_by"] == "staff"  # not which member
        assert [d["on_file"] for d in seen["required_documents"]] == [True, True]

        # Downloads: the bytes as uploaded, with safe headers, for staff and the applicant.
        download = await http.get(staff_file["download_path"], headers=w.headers("approver"))
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["cache-control"] == "private, no-store"
        own = await http.get(f"/v1/oss/me/cases/{case['id']}/files/{staff_file['id']}", headers=w.headers("applicant"))
        assert (own.status_code, own.content) == (200, content)

        # Not found: another citizen; a file through another request's path; another LAO's file,
        # request and host; an unknown id.
        for who, path in (
            ("stranger", f"/v1/oss/me/cases/{case['id']}/files/{citizen_file['id']}"),
            ("officer", f"/v1/oss/cases/{walk['id']}/files/{staff_file['id']}"),
            ("officer", f"/v1/oss/cases/{theirs['id']}/files/{staff_file['id']}"),
            ("officer", f"/v1/oss/cases/{case['id']}/files/{walk['id']}"),
        ):
            refused = await http.get(path, headers=w.headers(who))
            assert refused.status_code == 404, (who, path, refused.text)
        stranger_upload = await post_file(http, w, case["id"], "stranger", pdf_bytes())
        assert (stranger_upload.status_code, stranger_upload.json()["code"]) == (404, "case_not_found")
        foreign = await http.get(staff_file["download_path"], headers=other_lao.headers("officer"))
        assert (foreign.status_code, foreign.json()["code"]) == (404, "case_not_found")
        foreign_upload = await post_file(http, other_lao, case["id"], "officer", pdf_bytes())
        assert foreign_upload.status_code == 404
        their_file = await post_file(http, other_lao, theirs["id"], "officer", pdf_bytes(seed=9))
        assert their_file.status_code == 201
        across = await http.get(
            f"/v1/oss/cases/{case['id']}/files/{their_file.json()['id']}", headers=w.headers("officer")
        )
        assert (across.status_code, across.json()["code"]) == (404, "file_not_found")

        # A closed request takes no more files.
        withdrawn = await http.post(
            f"/v1/oss/me/cases/{case['id']}/withdraw", json={"version": case["version"]}, headers=w.headers("applicant")
        )
        assert withdrawn.status_code == 200, withdrawn.text
        late = await post_file(http, w, case["id"], "applicant", pdf_bytes())
        assert (late.status_code, late.json()["code"]) == (409, "case_closed")
        # Its files stay readable.
        assert (await http.get(staff_file["download_path"], headers=w.headers("officer"))).status_code == 200
    async with w.db() as session:
        audited = (
            await session.execute(
                select(AuditEvent.actor_kind, AuditEvent.data["sha256"].astext)
                .where(AuditEvent.action == "oss.case.file_added", AuditEvent.target == f"case:{case['id']}")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [tuple(a) for a in audited] == [
        ("staff", staff_file["sha256"]),
        ("citizen", citizen_file["sha256"]),
    ]
