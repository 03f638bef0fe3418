"""Kernel documents: a Thai document rendered and read back exactly, the register, public verification."""

from __future__ import annotations

import ast
import datetime as dt
import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import documents
from localgov.kernel.documents import (
    Column,
    Field,
    Fields,
    Image,
    Notice,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Signature,
    Table,
    Watermark,
    views,
)
from localgov.kernel.pages import PAGE_HEADERS
from localgov.kernel.thai import bangkok_today, thai_date
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host
from tests.support.certs_plugin import CERTS
from tests.support.factories import make_tenant
from tests.support.tokens import bearer
from tests.test_payments_bank import FINANCE, deliver, notice, open_bills, setup_lao, staff_headers

CODE_IN_PDF = re.compile(r"รหัสตรวจสอบ \(Code\): ([0-9A-Z]+-[0-9A-Z]{16})")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def emblem_png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (60, 60), (20, 60, 160)).save(out, format="PNG")
    return out.getvalue()


def test_a_thai_document_renders_and_its_text_extracts_exactly() -> None:
    doc = OfficialDocument(
        issuer_th="เทศบาลตำบลแม่เหียะ",
        issuer_address_th="ที่ทำการ หมู่ 4 ตำบลแม่เหียะ อำเภอเมืองเชียงใหม่",
        emblem=Image(data=emblem_png(), width=20),
        title_th="ใบอนุญาตประกอบกิจการที่เป็นอันตรายต่อสุขภาพ",
        title_en="Licence for a business hazardous to health",
        corner="สำเนา (COPY)",
        body=[
            Pairs(rows=[("เลขที่ 12/2569", "วันที่ 6 ธันวาคม 2569")]),
            Fields(
                numbered=True,
                items=[
                    Field("ผู้รับใบอนุญาต", "นายกำนัน ผู้ใหญ่บ้าน"),
                    Field("สถานที่", "ร้านน้ำแข็งใส ซอยสำราญ"),
                    Field("ประเภทกิจการ", "การผลิตน้ำดื่ม น้ำแข็ง"),
                ],
            ),
            Table(
                columns=[
                    Column(title="ลำดับ", width=14, align="C"),
                    Column(title="รายการ"),
                    Column(title="บาท", width=30),
                ],
                rows=[["1", "ค่าธรรมเนียมใบอนุญาต", "500.00"], ["2", "ค่าบำรุงรักษาถนนในหมู่บ้านที่ใช้ร่วมกัน", "1,200.50"]],
                total=("รวมเป็นเงิน", "1,700.50"),
            ),
            Paragraph(text="ให้ปฏิบัติตามเงื่อนไขที่กำหนดไว้ท้ายใบอนุญาตนี้โดยเคร่งครัด"),
            Signature(lines=["(ลงชื่อ) ..............................", "(นายสำราญ ใจดี)", "นายกเทศมนตรีตำบลแม่เหียะ"]),
            Notice(text="ใบอนุญาตนี้ใช้ได้ถึงวันที่ 31 ธันวาคม 2570"),
        ],
        footer="เอกสารฉบับนี้ออกโดยระบบสารสนเทศของเทศบาลตำบลแม่เหียะ",
        watermark=Watermark("สำเนา", "COPY"),
        stamp=QrStamp(
            url="https://maehia.localgov.test/documents/verify/1-ABCDEFGHJKMNPQRS", code="1-ABCDEFGHJKMNPQRS"
        ),
    )
    content = documents.render(doc)
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages[0].images) == 2  # the emblem and the QR stamp
    lines = pdf_text(content).splitlines()
    for expected in (
        "เทศบาลตำบลแม่เหียะ",
        "ใบอนุญาตประกอบกิจการที่เป็นอันตรายต่อสุขภาพ",
        "Licence for a business hazardous to health",
        "สำเนา (COPY)",
        "1. ผู้รับใบอนุญาต นายกำนัน ผู้ใหญ่บ้าน",
        "2. สถานที่ ร้านน้ำแข็งใส ซอยสำราญ",
        "3. ประเภทกิจการ การผลิตน้ำดื่ม น้ำแข็ง",
        "ลำดับ รายการ บาท",
        "1 ค่าธรรมเนียมใบอนุญาต 500.00",
        "2 ค่าบำรุงรักษาถนนในหมู่บ้านที่ใช้ร่วมกัน 1,200.50",
        "รวมเป็นเงิน 1,700.50",
        "ให้ปฏิบัติตามเงื่อนไขที่กำหนดไว้ท้ายใบอนุญาตนี้โดยเคร่งครัด",
        "(นายสำราญ ใจดี)",
        "นายกเทศมนตรีตำบลแม่เหียะ",
        "ใบอนุญาตนี้ใช้ได้ถึงวันที่ 31 ธันวาคม 2570",
        "ตรวจสอบความถูกต้องของเอกสาร (Verify this document)",
        "รหัสตรวจสอบ (Code): 1-ABCDEFGHJKMNPQRS",
        "https://maehia.localgov.test/documents/verify/1-ABCDEFGHJKMNPQRS",
    ):
        assert any(line.strip().endswith(expected) or line.strip() == expected for line in lines), (expected, lines)
    text = "\n".join(lines)
    assert "\ufffd" not in text
    assert "&" not in text


def test_holder_names_are_masked() -> None:
    assert documents.mask_name("นายสมชาย ใจดี") == "นายสมชาย ใจ***"
    assert documents.mask_name("นางสาวน้ำฝน ศรีสุข") == "นางสาวน้ำฝน ศ***"
    assert documents.mask_name("บริษัท เดิม จำกัด") == "บริษัท เด*** จ***"
    assert documents.mask_name("Somchai") == "Somchai"
    assert documents.mask_name("  ") == ""


def test_the_test_plugin_imports_the_kernel_only() -> None:
    source = Path(__file__).parent / "support" / "certs_plugin.py"
    modules = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    ours = {m for m in modules if m.split(".")[0] == "localgov"}
    assert ours
    assert all(m.startswith("localgov.kernel") or m == "localgov.settings" for m in ours), ours


async def _issue(client: httpx.AsyncClient, tenant: object, key: str, **overrides: object) -> dict[str, str]:
    today = bangkok_today()
    body = {
        "key": key,
        "number": f"อภ.{key}/2569",
        "holder": "นายสมชาย ใจดี",
        "premises": "ร้านข้าวแกง",
        "valid_from": (today - dt.timedelta(days=1)).isoformat(),
        "valid_until": (today + dt.timedelta(days=365)).isoformat(),
        **overrides,
    }
    answer = await client.post("/v1/certs/certificates", json=body, headers=_clerk(tenant))
    assert answer.status_code == 201, answer.text
    result: dict[str, str] = answer.json()
    return result


def _clerk(tenant: object) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["certs.clerk"])}  # type: ignore[attr-defined, arg-type]


async def test_a_kernel_only_plugin_renders_and_verifies_its_documents(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await make_tenant(engine, services=["certs"])
    other = await make_tenant(engine, services=["certs"])
    today = bangkok_today()
    async with client_for(plugins=(CERTS,)) as client:
        issued = await _issue(client, lao, "c1")
        code = issued["code"]
        assert issued["url"] == f"https://{lao.slug}.localgov.test/documents/verify/{code}"

        pdf = await client.get("/v1/certs/certificates/c1/pdf", headers=_clerk(lao))
        assert pdf.status_code == 200, pdf.text
        text = pdf_text(pdf.content)
        assert CODE_IN_PDF.search(text)
        assert CODE_IN_PDF.search(text).group(1) == code  # type: ignore[union-attr]
        assert "1. ผู้แจ้ง นายสมชาย ใจ***" in text
        assert "หนังสือรับทราบการแจ้งจัดตั้งสถานที่จำหน่ายอาหาร" in text

        checked = await client.get(f"/v1/documents/verify/{code}", headers=host(lao.slug))
        assert checked.status_code == 200, checked.text
        body = checked.json()
        assert body["status"] == "valid"
        assert body["number"] == "อภ.c1/2569"
        assert body["kind"] == "certs.food_premises"
        assert body["holder"] == "นายสมชาย ใจ***"
        assert body["issuer"] == {"name_th": lao.name_th, "name_en": lao.name_en}
        assert body["valid_until"] == (today + dt.timedelta(days=365)).isoformat()
        assert body["valid_until_be"] == thai_date(today + dt.timedelta(days=365), digits="arabic")
        assert body["issued_date_be"] == thai_date(today, digits="arabic")
        assert body["status_changed_at"] is None
        # Lower case and blanks around the code are forgiven (typed from paper).
        assert (await client.get(f"/v1/documents/verify/{code.lower()}", headers=host(lao.slug))).status_code == 200

        page = await client.get(f"/documents/verify/{code}", headers=host(lao.slug))
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == PAGE_HEADERS["Content-Security-Policy"]
        assert "เอกสารนี้ถูกต้องและยังมีผลใช้ได้" in page.text
        assert "This document is genuine" in page.text
        assert "นายสมชาย ใจ***" in page.text
        assert "ใจดี" not in page.text

        # Unknown, forged, malformed: one 404, JSON and page alike.
        serial, mac = code.split("-")
        forged = f"{serial}-{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
        for bad in ("9Z-ABCDEFGHJKMNPQRS", forged, "not-a-code", f"{serial}{mac}"):
            missing = await client.get(f"/v1/documents/verify/{bad}", headers=host(lao.slug))
            assert missing.status_code == 404, bad
            assert missing.json()["code"] == "document_not_found"
            assert (await client.get(f"/documents/verify/{bad}", headers=host(lao.slug))).status_code == 404

        # Another LAO's document (the same serial there) is unknown on this LAO's host, and vice versa.
        theirs = await _issue(client, other, "c1")
        assert theirs["code"].split("-")[0] == serial
        assert (await client.get(f"/v1/documents/verify/{theirs['code']}", headers=host(lao.slug))).status_code == 404
        assert (await client.get(f"/v1/documents/verify/{code}", headers=host(other.slug))).status_code == 404
        assert (await client.get(f"/v1/documents/verify/{theirs['code']}", headers=host(other.slug))).status_code == 200

        # Revoked and void documents are shown as such, with the date.
        ended = await client.post("/v1/certs/certificates/c1/end", json={"reason": "ย้ายกิจการ"}, headers=_clerk(lao))
        assert ended.status_code == 204, ended.text
        revoked = (await client.get(f"/v1/documents/verify/{code}", headers=host(lao.slug))).json()
        assert revoked["status"] == "revoked"
        assert revoked["status_changed_date_be"] == thai_date(today, digits="arabic")
        assert "reason" not in revoked
        assert "ย้ายกิจการ" not in str(revoked)
        page = await client.get(f"/documents/verify/{code}", headers=host(lao.slug))
        assert page.status_code == 200
        assert "เอกสารนี้ถูกเพิกถอนแล้ว" in page.text
        again = await client.post(
            "/v1/certs/certificates/c1/end", json={"reason": "x", "void": True}, headers=_clerk(lao)
        )
        assert again.status_code == 409
        assert again.json()["code"] == "document_not_valid"

        second = await _issue(client, lao, "c2")
        await client.post("/v1/certs/certificates/c2/end", json={"reason": "ออกผิด", "void": True}, headers=_clerk(lao))
        void = (await client.get(f"/v1/documents/verify/{second['code']}", headers=host(lao.slug))).json()
        assert void["status"] == "void"
        assert (
            "เอกสารนี้ถูกยกเลิกแล้ว"
            in (await client.get(f"/documents/verify/{second['code']}", headers=host(lao.slug))).text
        )

        old = await _issue(
            client,
            lao,
            "c3",
            valid_from=(today - dt.timedelta(days=400)).isoformat(),
            valid_until=(today - dt.timedelta(days=35)).isoformat(),
        )
        assert (await client.get(f"/v1/documents/verify/{old['code']}", headers=host(lao.slug))).json()["status"] == (
            "expired"
        )

        # The endpoint is documented for integrators.
        schema = (await client.get("/schema/openapi.json", headers=host(lao.slug))).json()
        operation = schema["paths"]["/v1/documents/verify/{code}"]["get"]
        assert operation["operationId"] == "verifyDocument"
        assert "security" not in operation or operation["security"] == []


async def test_receipts_are_registered_stamped_and_voided(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant, payer_name="นางสาวน้ำฝน ใจดี")
    finance = staff_headers(lao.tenant, FINANCE)
    async with client_for(plugins=REGISTRY) as client:
        result = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))).json()
        receipt = result["receipt"]
        pdf = await client.get(f"/v1/payments/receipts/{receipt['id']}/pdf", headers=finance)
        found = CODE_IN_PDF.search(pdf_text(pdf.content))
        assert found is not None
        code = found.group(1)
        checked = (await client.get(f"/v1/documents/verify/{code}", headers=host(lao.tenant.slug))).json()
        assert checked["status"] == "valid"
        assert checked["kind"] == "payments.receipt"
        assert checked["number"] == f"{receipt['book_no']}/{receipt['receipt_no']}/{receipt['fiscal_year']}"
        assert checked["holder"] == "นางสาวน้ำฝน ใจ***"
        assert checked["title_th"] == "ใบเสร็จรับเงิน"
        # A reprint carries the same code.
        copy = await client.post(f"/v1/payments/receipts/{receipt['id']}/reprint", headers=finance)
        assert f"รหัสตรวจสอบ (Code): {code}" in pdf_text(copy.content)

        voided = await client.post(
            f"/v1/payments/receipts/{receipt['id']}/void", json={"reason": "รับเงินซ้ำ"}, headers=finance
        )
        assert voided.status_code == 200, voided.text
        after = (await client.get(f"/v1/documents/verify/{code}", headers=host(lao.tenant.slug))).json()
        assert after["status"] == "void"
        assert after["status_changed_at"] is not None


async def test_verification_is_limited_per_address(
    engine: AsyncEngine, client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "VERIFY_LIMIT_PER_ADDRESS", (3, 300))
    lao = await make_tenant(engine, services=["certs"])
    async with client_for(plugins=(CERTS,)) as client:
        code = (await _issue(client, lao, "r1"))["code"]
        answers = [await client.get(f"/v1/documents/verify/{code}", headers=host(lao.slug)) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        limited = await client.get(f"/v1/documents/verify/{code}", headers=host(lao.slug))
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) > 0
        page = await client.get(f"/documents/verify/{code}", headers=host(lao.slug))
        assert page.status_code == 429
        assert "มากเกินไป" in page.text
        assert page.headers["retry-after"]
