"""The letter as a document in the running service: the PDF signed with the LAO's certificate on
issue (verifies with the CA made here, an altered byte breaks it), the emblem and the text of PDF files, and
the Thai search endpoint (a word inside running text; a secret letter never shown to others;
another LAO's letters never found)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.documents import OfficialDocument, Paragraph, pades, render
from localgov.kernel.storage import list_files
from localgov.kernel.thai import bangkok_today
from localgov.plugins import REGISTRY
from localgov.services.saraban import documents
from localgov.services.saraban.letters import DELIVER_TOPIC
from localgov.services.saraban.models import Letter
from localgov.settings import Settings
from tests.conftest import ClientFactory
from tests.support.ca import CertAuthority, issue_signing_cert, make_ca
from tests.support.saraban import ORIGIN, Lao, approved, deliver, draft, make_lao
from tests.support.tokens import TEST_SECRET


@pytest.fixture(scope="module")
def ca() -> CertAuthority:
    return make_ca()


async def _install(lao: Lao, ca: CertAuthority) -> None:
    material = pades.from_pkcs12(issue_signing_cert(ca).pkcs12("pw"), "pw")
    async with lao.db() as session:
        await pades.install_certificate(session, TEST_SECRET, material, actor=lao.viewer("admin").audit, origin=ORIGIN)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 130), (150, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def _audits(lao: Lao, action: str) -> int:
    async with lao.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(f'SELECT count(*) FROM "{lao.tenant.schema}".audit_events WHERE action = :a'), {"a": action}
                )
            ).scalar_one()
        )


async def test_an_issued_letter_is_signed_with_the_lao_certificate(
    engine: AsyncEngine, client_for: ClientFactory, ca: CertAuthority, settings: Settings
) -> None:
    lao = await make_lao(engine)
    other = await make_lao(engine)
    await _install(lao, ca)
    letter_id = await approved(
        lao,
        subject="ขอความอนุเคราะห์ซ่อมแซมถนนลาดยางสายบ้านหนองบัว",
        recipients=[{"kind": "lao", "dla_code": other.tenant.dla_code}],
    )
    async with client_for(plugins=REGISTRY, listen=False) as http:
        emblem = await http.put(
            "/v1/saraban/emblem", files={"data": ("garuda.png", _png(), "image/png")}, headers=lao.headers("admin")
        )
        assert emblem.status_code == 200, emblem.text
        not_image = await http.put(
            "/v1/saraban/emblem", files={"data": ("x.png", b"%PDF-1.4 not an image", "image/png")},
            headers=lao.headers("admin"),
        )  # fmt: skip
        assert not_image.status_code == 415
        assert (
            await http.put("/v1/saraban/emblem", files={"data": ("g.png", _png())}, headers=lao.headers("officer"))
        ).status_code == 403

        draft_pdf = await http.get(f"/v1/saraban/letters/{letter_id}/pdf", headers=lao.headers("clerk"))
        assert draft_pdf.status_code == 200
        assert draft_pdf.headers["x-localgov-signed"] == "false"

        issued = await http.post(
            f"/v1/saraban/letters/{letter_id}/issue", json={"version": 3}, headers=lao.headers("clerk")
        )
        assert issued.status_code == 200, issued.text
        number = issued.json()["number_text"]
        response = await http.get(f"/v1/saraban/letters/{letter_id}/pdf", headers=lao.headers("clerk"))
        assert response.status_code == 200, response.text
        assert response.headers["x-localgov-signed"] == "true"
        assert response.headers["content-type"] == "application/pdf"
        signed = response.content
        # Another LAO: 404, never the file.
        assert (
            await http.get(f"/v1/saraban/letters/{letter_id}/pdf", headers=other.headers("clerk"))
        ).status_code == 404

    [report] = await pades.averify_pdf(signed, [ca.root_der])
    assert report.ok
    assert report.covers_whole_file
    page = PdfReader(io.BytesIO(signed)).pages[0]
    assert "ขอความอนุเคราะห์ซ่อมแซมถนนลาดยางสายบ้านหนองบัว" in page.extract_text()
    assert number.split("/")[-1].translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")) in page.extract_text()
    assert len(page.images) == 1  # the uploaded emblem
    altered = bytearray(signed)
    altered[len(signed) // 4] ^= 0x01
    [broken] = await pades.averify_pdf(bytes(altered), [ca.root_der])
    assert not broken.ok
    assert await _audits(lao, "saraban.letter_signed") == 1
    # The signed PDF travels with the copy to the other LAO (signed before the copy was queued).
    assert await deliver(engine, [other], DELIVER_TOPIC, settings=settings) == 1
    async with other.db() as session:
        [received] = (await session.execute(select(Letter.id).where(Letter.direction == "incoming"))).scalars()
        [copy] = await list_files(session, documents.attachment_owner(received))
    assert (copy.sha256, copy.size_bytes, copy.content_type) == (
        hashlib.sha256(signed).hexdigest(),
        len(signed),
        "application/pdf",
    )


async def test_without_a_certificate_the_letter_is_issued_and_printed_unsigned(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await make_lao(engine)
    letter_id = await approved(lao)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        issued = await http.post(
            f"/v1/saraban/letters/{letter_id}/issue", json={"version": 3}, headers=lao.headers("clerk")
        )
        assert issued.status_code == 200, issued.text
        response = await http.get(f"/v1/saraban/letters/{letter_id}/pdf", headers=lao.headers("clerk"))
    assert response.status_code == 200
    assert response.headers["x-localgov-signed"] == "false"
    assert PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert await pades.averify_pdf(response.content, []) == []


async def test_thai_search_finds_words_inside_text_and_never_shows_a_secret_letter_to_others(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await make_lao(engine)
    other = await make_lao(engine)
    road = await draft(lao, subject="ขอความอนุเคราะห์ซ่อมแซมถนนลาดยาง", body="ถนนสายบ้านหนองบัวชำรุดเป็นหลุมบ่อ")
    meeting = await draft(lao, subject="ขอเชิญประชุม", body="วาระที่สามเรื่องการซ่อมแซมถนนลาดยางสายหลัก")
    secret = await draft(lao, subject="รายงานการสอบสวนข้อเท็จจริงเรื่องถนนลาดยาง", body="ผลการสอบสวนพบว่า", secrecy="secret")
    await draft(other, subject="ซ่อมแซมถนนลาดยางของอีกองค์กร")
    async with client_for(plugins=REGISTRY, listen=False) as http:

        async def found(q: str, who: str, on: Lao = lao) -> list[str]:
            response = await http.get("/v1/saraban/search", params={"q": q}, headers=on.headers(who))
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        # A word inside running text, ranked: the subject before the body.
        assert await found("ถนน", "outsider") == [str(road), str(meeting)]
        assert set(await found("ถนน", "officer")) == {str(road), str(meeting), str(secret)}  # the author
        assert await found("สอบสวน", "outsider") == []
        assert await found("สอบสวน", "clerk") == []
        assert await found("สอบสวน", "officer") == [str(secret)]
        assert await found("หนองบัว", "outsider") == [str(road)]
        assert await found("ถนน", "clerk", other) != []
        # Paged by cursor: one hit a page, the same order, then no next page.
        pages: list[str] = []
        cursor: str | None = None
        for _ in range(4):
            params = {"q": "ถนน", "limit": "1"} | ({"cursor": cursor} if cursor else {})
            page = (await http.get("/v1/saraban/search", params=params, headers=lao.headers("officer"))).json()
            pages += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == await found("ถนน", "officer")
        assert len(pages) == 3
        assert str(road) not in await found("ถนน", "clerk", other)  # another LAO's letters: never
        # created_before (a Bangkok day): tomorrow keeps every match, a day long past none; a bad date 400.
        tomorrow, past = (bangkok_today() + dt.timedelta(days=1)).isoformat(), "2001-01-01"
        for day, expected in ((tomorrow, [str(road), str(meeting)]), (past, [])):
            params = {"q": "ถนน", "created_before": day}
            answer = await http.get("/v1/saraban/search", params=params, headers=lao.headers("outsider"))
            assert [item["id"] for item in answer.json()["items"]] == expected, answer.text
        params = {"q": "ถนน", "created_before": "2026-13-01"}
        assert (await http.get("/v1/saraban/search", params=params, headers=lao.headers("clerk"))).status_code == 400
        bad = await http.get("/v1/saraban/search", params={"q": ""}, headers=lao.headers("clerk"))
        assert bad.status_code == 400
        assert (
            await http.get("/v1/saraban/search", params={"q": "x" * 201}, headers=lao.headers("clerk"))
        ).status_code == 400
        assert (
            await http.get("/v1/saraban/search", params={"q": "ถนน"}, headers=lao.headers("admin"))
        ).status_code == 200
        unauthorised = await http.get("/v1/saraban/search", params={"q": "ถนน"})
        assert unauthorised.status_code in (401, 404)
        # A revision is searchable at once.
        revised = await http.patch(
            f"/v1/saraban/letters/{road}",
            json={"version": 1, "subject": "ขอความอนุเคราะห์ปรับปรุงสะพานไม้"},
            headers=lao.headers("officer"),
        )
        assert revised.status_code == 200, revised.text
        assert await found("สะพาน", "outsider") == [str(road)]
    assert await _audits(lao, "saraban.secret_access") >= 1


async def test_the_text_of_a_letters_pdf_file_is_searched(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await make_lao(engine)
    other = await make_lao(engine)
    letter_id = await draft(lao, subject="ขอส่งเอกสารประกอบการพิจารณา")
    attachment = render(
        OfficialDocument(
            issuer_th="กองช่าง", title_th="ใบเสนอราคา", body=[Paragraph(text="ค่าวัสดุก่อสร้างสะพานคอนกรีตเสริมเหล็ก")]
        )
    )
    async with client_for(plugins=REGISTRY, listen=False) as http:
        uploaded = await http.post(
            f"/v1/saraban/letters/{letter_id}/files",
            files={"data": ("quote.pdf", attachment, "application/pdf")},
            headers=lao.headers("officer"),
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["id"]
        listed = await http.get(f"/v1/saraban/letters/{letter_id}/files", headers=lao.headers("clerk"))
        assert [item["id"] for item in listed.json()["items"]] == [file_id]
        download = await http.get(f"/v1/saraban/letters/{letter_id}/files/{file_id}", headers=lao.headers("clerk"))
        assert download.status_code == 200
        assert download.content == attachment
        hits = await http.get("/v1/saraban/search", params={"q": "สะพาน"}, headers=lao.headers("clerk"))
        assert [item["id"] for item in hits.json()["items"]] == [str(letter_id)]
        assert (
            await http.get(f"/v1/saraban/letters/{letter_id}/files/{file_id}", headers=other.headers("clerk"))
        ).status_code == 404
        assert (
            await http.get(f"/v1/saraban/letters/{letter_id}/files", headers=other.headers("clerk"))
        ).status_code == 404
        empty = await http.post(
            f"/v1/saraban/letters/{letter_id}/files",
            files={"data": ("empty.pdf", b"", "application/pdf")},
            headers=lao.headers("officer"),
        )
        assert empty.status_code == 400
        assert uuid.UUID(file_id)


async def test_search_ranks_the_newest_matches_whichever_pass_finds_them(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pass of the bounded search (the sample read in date order, a longer read in date
    order, a window, the GIN index over everything) returns the newest CANDIDATES matches the
    caller may see — here with the bounds made small (3 candidates, a sample of 4 rows)."""
    from localgov.services.saraban import letters, search_index

    monkeypatch.setattr(search_index, "CANDIDATES", 3)
    monkeypatch.setattr(search_index, "SAMPLE", 4)
    lao = await make_lao(engine)
    # Twelve letters, oldest first; which words each holds decides the pass a query takes.
    words_of = [
        "สะพาน ขุดลอก",  # 0: สะพาน only in old letters (not in the newest 4: the GIN pass)
        "สะพาน ขุดลอก",
        "สะพาน",
        "สะพาน ขุดลอก",
        "ขุดลอก",
        "ขุดลอก",
        "ขุดลอก",
        "",
        "ขุดลอก",  # 8: ขุดลอก in 2 of the newest 4 (share 0.5)
        "",
        "ขุดลอก",
        "",
    ]
    ids = []
    for n, words in enumerate(words_of):
        ids.append(
            await draft(
                lao,
                subject=f"หนังสือที่ {n} เรื่องถนน {words}",
                body="ขอความร่วมมือ",
                secrecy="secret" if n == 10 else "normal",
            )
        )

    async def found(q: str, who: str = "outsider", before: Any = None) -> set[int]:
        async with lao.db() as session:
            viewer = lao.viewer(who)
            _, hits = await search_index.search_letters(
                session,
                q,
                letters.visible_clause(viewer),
                letters.visible_search_rows(viewer),
                limit=20,
                before=before,
            )
        return {ids.index(hit.id) for hit in hits}

    # ถนน is in every letter: the sample of the newest 4 holds 3 matches.
    assert await found("ถนน") == {11, 9, 8}  # 10 is secret: not a candidate for the outsider
    # ขุดลอก: 1 visible match of the newest 4 for the outsider (10 is secret): share 0.25 < DENSE
    # (0.5 here) → a window of the newest 2 × 3 / 0.25 = 24 rows: more than there are → every row.
    monkeypatch.setattr(search_index, "DENSE", 0.5)
    assert await found("ขุดลอก") == {8, 6, 5}
    # The secretary (named on every secret letter) sees 10: share 0.5 ≥ DENSE → a longer read
    # in date order (1.5 × 3 / 0.5 = 9 rows).
    assert await found("ขุดลอก", "secretary") == {10, 8, 6}
    # With DENSE above 0.5 the same search takes a window of the newest 2 × 3 / 0.5 = 12 rows.
    monkeypatch.setattr(search_index, "DENSE", 0.9)
    assert await found("ขุดลอก", "secretary") == {10, 8, 6}
    # สะพาน: none in the newest 4 → the GIN index over every row.
    assert await found("สะพาน") == {3, 2, 1}
    assert await found("ไดโนเสาร์") == set()
    # Older matches of a common word: the newest CANDIDATES matches created before a moment.
    async with lao.db() as session:
        rows = (await session.execute(text("SELECT letter_id, created_at FROM saraban_letter_search"))).all()
        created = {letter_id: at for letter_id, at in rows}
    assert await found("ถนน", before=created[ids[4]]) == {3, 2, 1}  # the sample pass, moved back
    assert await found("ขุดลอก", before=created[ids[8]]) == {6, 5, 4}  # a longer read / window, moved back
    assert await found("สะพาน", before=created[ids[2]]) == {1, 0}  # the GIN pass, bounded too
    assert await found("ถนน", before=created[ids[0]]) == set()
