"""The letter in the official layout (services/saraban/letter_pdf.py): what is printed, at which
size and colour, read back from the PDF (pypdf), and the letter signed with a CA made here."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ContentStream

from localgov.kernel.documents import pades
from localgov.services.saraban.letter_pdf import (
    BODY_PT,
    MEMO_TITLE_PT,
    URGENCY_PT,
    LetterDocument,
    render_letter,
    render_letter_layout,
)
from tests.support.ca import issue_signing_cert, make_ca

MM = 72 / 25.4
RED = (round(200 / 255, 3), 0.0, 0.0)


def _emblem() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 330), (160, 40, 30)).save(out, "PNG")
    return out.getvalue()


def _letter(**changes: Any) -> LetterDocument:
    fields: dict[str, Any] = {
        "kind": "external",
        "number": "ที่ ชม 72001/123",
        "date": dt.date(2023, 3, 15),
        "subject": "ขอความอนุเคราะห์ซ่อมแซมถนนลาดยางสายบ้านหนองบัว",
        "salutation": "นายอำเภอเมืองเชียงใหม่",
        "references": ["หนังสืออำเภอเมืองเชียงใหม่ ที่ ชม 0318/ว 45 ลงวันที่ 1 มีนาคม 2566"],
        "enclosures": ["ภาพถ่ายสภาพถนน จำนวน 4 ภาพ", "แผนที่สังเขป จำนวน 1 แผ่น"],
        "body": (
            "ด้วยถนนลาดยางสายบ้านหนองบัว หมู่ที่ 5 ชำรุดเป็นหลุมบ่อจำนวนมาก ประชาชนได้รับความเดือดร้อนในการสัญจร\nจึงเรียนมาเพื่อโปรดพิจารณา"
        ),
        "signer_name": "นายสมชาย ใจดี",
        "signer_position": "นายกองค์การบริหารส่วนตำบลแม่เหียะ",
        "issuer_name": "องค์การบริหารส่วนตำบลแม่เหียะ",
        "issuer_address": "199 หมู่ 3 ตำบลแม่เหียะ\nอำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่ 50100",
        "owner_unit": "กองช่าง",
        "contact": "โทร. 053-000-111",
        "emblem": _emblem(),
    }
    fields.update(changes)
    return LetterDocument(**fields)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _runs(pdf: bytes) -> list[tuple[str, float, str]]:
    """Each piece of text with its font size and font name."""
    out: list[tuple[str, float, str]] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:

        def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
            if text.strip():
                out.append((text.strip(), float(size), str(font.get("/BaseFont", "")) if font else ""))

        page.extract_text(visitor_text=visit)
    return out


def _drawn(pdf: bytes) -> tuple[list[tuple[tuple[float, ...], float]], list[tuple[float, float]]]:
    """(fill colour, font size) of every text-showing operation, and (width, height) of every image."""
    reader = PdfReader(io.BytesIO(pdf))
    texts: list[tuple[tuple[float, ...], float]] = []
    images: list[tuple[float, float]] = []
    for page in reader.pages:
        colour: tuple[float, ...] = (0.0, 0.0, 0.0)
        size = 0.0
        matrix: list[float] = []
        saved: list[tuple[float, ...]] = []
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"q":
                saved.append(colour)
            elif operator == b"Q":
                colour = saved.pop()
            elif operator == b"rg":
                colour = tuple(round(float(v), 3) for v in operands)
            elif operator == b"g":
                colour = (round(float(operands[0]), 3),) * 3
            elif operator == b"Tf":
                size = float(operands[1])
            elif operator in (b"Tj", b"TJ"):
                texts.append((colour, size))
            elif operator == b"cm":
                matrix = [float(v) for v in operands]
            elif operator == b"Do":
                images.append((matrix[0], matrix[3]))
    return texts, images


def test_an_external_letter_prints_every_part_in_thai_digits() -> None:
    text = _text(render_letter(_letter(urgency="most_urgent", secrecy="secret")))
    for part in (
        "ที่ ชม ๗๒๐๐๑/๑๒๓",
        "๑๕ มีนาคม ๒๕๖๖",
        "เรื่อง",
        "ขอความอนุเคราะห์ซ่อมแซมถนนลาดยางสายบ้านหนองบัว",
        "เรียน",
        "นายอำเภอเมืองเชียงใหม่",
        "อ้างถึง",
        "สิ่งที่ส่งมาด้วย",
        "๑. ภาพถ่ายสภาพถนน จำนวน ๔ ภาพ",
        "๒. แผนที่สังเขป จำนวน ๑ แผ่น",
        "หมู่ที่ ๕",
        "ขอแสดงความนับถือ",
        "(นายสมชาย ใจดี)",
        "นายกองค์การบริหารส่วนตำบลแม่เหียะ",
        "๑๙๙ หมู่ ๓ ตำบลแม่เหียะ",
        "กองช่าง",
        "โทร. ๐๕๓-๐๐๐-๑๑๑",
        "ด่วนที่สุด",
    ):
        assert part in text, part
    assert text.count("ลับมาก") == 2  # top and bottom of the page
    assert "15" not in text
    assert "2566" not in text


def test_sizes_and_colours_follow_the_regulation() -> None:
    external = render_letter(_letter(urgency="very_urgent", secrecy="confidential"))
    runs = _runs(external)
    assert {size for text, size, _ in runs if "ขอความอนุเคราะห์" in text} == {BODY_PT}
    assert [text for text, size, _ in runs if size == URGENCY_PT] == ["ด่วนมาก"]
    texts, images = _drawn(external)
    assert (RED, float(URGENCY_PT)) in texts  # urgency stamped in red, 32 pt
    assert {size for colour, size in texts if colour == RED} == {float(URGENCY_PT), 20.0}  # and secrecy
    assert [round(h / MM, 1) for _, h in images] == [30.0]  # the emblem is 3 cm on an external letter

    memo = render_letter(_letter(kind="internal", issuer_name="กองช่าง องค์การบริหารส่วนตำบลแม่เหียะ"))
    memo_runs = _runs(memo)
    [(_title, size, font)] = [r for r in memo_runs if r[0] == "บันทึกข้อความ"]
    assert size == MEMO_TITLE_PT
    assert "Bold" in font
    assert "ส่วนราชการ" in _text(memo)
    assert "วันที่" in _text(memo)
    _, memo_images = _drawn(memo)
    assert [round(h / MM, 1) for _, h in memo_images] == [15.0]  # 1.5 cm on a memo
    assert not any(colour == RED for colour, _ in _drawn(memo)[0])  # no urgency, no secrecy: no red


def test_the_same_letter_renders_to_the_same_bytes() -> None:
    moment = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    assert render_letter(_letter(created_at=moment)) == render_letter(_letter(created_at=moment))


def test_arabic_digits_when_the_lao_does_not_use_thai_digits() -> None:
    text = _text(render_letter(_letter(thai_digits=False)))
    assert "15 มีนาคม 2566" in text
    assert "ที่ ชม 72001/123" in text
    assert "๑๕" not in text


def test_orders_long_letters_and_no_emblem() -> None:
    order = _text(
        render_letter(
            _letter(kind="directive", subkind="order", number="12/2566", salutation=None, emblem=None, references=[])
        )
    )
    assert "คำสั่งองค์การบริหารส่วนตำบลแม่เหียะ" in order
    assert "ที่ ๑๒/๒๕๖๖" in order
    assert "สั่ง ณ วันที่ ๑๕ มีนาคม ๒๕๖๖" in order
    long_body = "\n".join(["ด้วยองค์การบริหารส่วนตำบลแม่เหียะได้ดำเนินโครงการพัฒนาถนนลาดยางในพื้นที่"] * 60)
    rendered = render_letter_layout(_letter(body=long_body, secrecy="top_secret"))
    reader = PdfReader(io.BytesIO(rendered.pdf))
    assert len(reader.pages) >= 2
    second = reader.pages[1].extract_text()
    assert "- ๒ -" in second
    assert second.count("ลับที่สุด") == 2
    assert "(นายสมชาย ใจดี)" in reader.pages[rendered.signature_page].extract_text()


@pytest.mark.parametrize("kind", ["external", "internal"])
async def test_the_letter_signed_with_the_lao_certificate_verifies(kind: str) -> None:
    ca = make_ca()
    material = pades.from_pkcs12(issue_signing_cert(ca).pkcs12("pw"), "pw")
    rendered = render_letter_layout(_letter(kind=kind))
    signed = await pades.asign_pdf(
        rendered.pdf,
        material,
        reason="ลงนามหนังสือราชการ",
        visible=pades.VisibleSignature(page=rendered.signature_page, box=rendered.signature_box),
    )
    [report] = await pades.averify_pdf(signed, [ca.root_der])
    assert report.ok
    assert report.covers_whole_file
    assert "ขอความอนุเคราะห์ซ่อมแซมถนนลาดยาง" in _text(signed)
    altered = bytearray(signed)
    altered[len(rendered.pdf) // 3] ^= 0x20
    [broken] = await pades.averify_pdf(bytes(altered), [ca.root_der])
    assert not broken.ok
