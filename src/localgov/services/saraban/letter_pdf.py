"""A letter as a PDF in the official layout (ระเบียบสำนักนายกรัฐมนตรีว่าด้วยงานสารบรรณ, appendices).

The layout is drawn from a plain :class:`LetterDocument` (no database row): the letter service
fills one from the letter and its LAO, :func:`render_letter` returns the PDF bytes, and
:mod:`localgov.kernel.documents.pades` signs them with the LAO's certificate on issue.

What the regulation fixes and this module follows:

* the emblem (ครุฑ) from the LAO's uploaded image: **3 cm** high on an external letter (หนังสือ
  ภายนอก), a stamped letter, an order or an announcement, centred at the top; **1.5 cm** at the top
  left of a memo (บันทึกข้อความ), whose title is **29 pt bold**;
* the text in Sarabun **16 pt**; first lines of paragraphs indented 2.5 cm; margins 3 cm left,
  2 cm right;
* the date ``๑๕ มีนาคม ๒๕๖๖`` (day, month name, Buddhist-Era year), in Thai digits when the LAO
  uses them (as are the number, the list numbers and the page numbers);
* urgency (ด่วน / ด่วนมาก / ด่วนที่สุด) stamped in red, **32 pt** bold, above the number;
* secrecy (ลับ / ลับมาก / ลับที่สุด) in red at the top and the bottom centre of every page;
* page 2 on carries its number at the top centre (``- ๒ -``).

Rendering is CPU work: handlers call :func:`render_letter` through ``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import msgspec

from localgov.kernel.documents import FONT, ThaiPDF
from localgov.kernel.search import words
from localgov.kernel.thai import thai_date, to_thai_digits
from localgov.services.saraban.models import LetterKind, Secrecy, Urgency

Kind = LetterKind

URGENCY_TH: dict[str, str] = {"normal": "", "urgent": "ด่วน", "very_urgent": "ด่วนมาก", "most_urgent": "ด่วนที่สุด"}
SECRECY_TH: dict[str, str] = {"normal": "", "confidential": "ลับ", "secret": "ลับมาก", "top_secret": "ลับที่สุด"}
#: Titles of the forms of orders and announcements (``คำสั่งองค์การบริหารส่วนตำบล…``).
SUBKIND_TH: dict[str, str] = {
    "order": "คำสั่ง",
    "regulation": "ระเบียบ",
    "bylaw": "ข้อบังคับ",
    "announcement": "ประกาศ",
    "statement": "แถลงการณ์",
    "news": "ข่าว",
}

#: Sizes the regulation fixes (points; millimetres for the emblem).
BODY_PT = 16
MEMO_TITLE_PT = 29
URGENCY_PT = 32
SECRECY_PT = 20
EMBLEM_EXTERNAL_MM = 30.0
EMBLEM_MEMO_MM = 15.0
_LINE_MM = 7.0
_INDENT_MM = 25.0
RED = (200, 0, 0)


class LetterDocument(msgspec.Struct, frozen=True, kw_only=True):
    """Everything printed on a letter, as the reader sees it (labels resolved, names spelled out)."""

    kind: Kind
    #: The form of an order or announcement (``order``, ``announcement`` …).
    subkind: str | None = None
    #: As stored (``ที่ มท 0805.2/3482``, ``12/2569``); Thai digits applied here when asked.
    number: str | None = None
    date: dt.date | None = None
    subject: str
    salutation: str | None = None
    references: Sequence[str] = ()
    enclosures: Sequence[str] = ()
    #: Paragraphs separated by line breaks.
    body: str = ""
    #: ``ขอแสดงความนับถือ`` on an external letter; ``None``: the form's default.
    closing: str | None = None
    signer_name: str | None = None
    #: One or more lines (``นายกองค์การบริหารส่วนตำบลแม่เหียะ``).
    signer_position: str | None = None
    #: The issuing agency (the LAO, or its unit on a memo: ``ส่วนราชการ``).
    issuer_name: str
    issuer_address: str | None = None
    #: ``ส่วนราชการเจ้าของเรื่อง`` and its telephone, at the foot of an external letter.
    owner_unit: str | None = None
    contact: str | None = None
    urgency: Urgency = "normal"
    secrecy: Secrecy = "normal"
    #: The emblem image (PNG or JPEG) uploaded by the LAO.
    emblem: bytes | None = None
    thai_digits: bool = True
    #: The PDF's creation date (the letter's issue, or its creation): with it the same letter
    #: renders to the same bytes (the file /ID is a hash of them), so a resent copy is identical.
    created_at: dt.datetime | None = None


class _LetterPDF(ThaiPDF):
    def __init__(self, doc: LetterDocument) -> None:
        super().__init__()
        self._doc = doc
        self.set_margins(30, 15, 20)
        self.set_auto_page_break(auto=True, margin=22)

    def digits(self, text: str) -> str:
        return to_thai_digits(text) if self._doc.thai_digits else text

    def header(self) -> None:
        mark = SECRECY_TH[self._doc.secrecy]
        if mark:
            self.set_xy(self.l_margin, 6)
            self.set_font(FONT, "B", SECRECY_PT)
            self.set_text_color(*RED)
            self.cell(self.epw, 8, mark, align="C")
            self.set_text_color(0, 0, 0)
        if self.page_no() > 1:
            self.set_xy(self.l_margin, 14)
            self.set_font(FONT, "", BODY_PT)
            self.cell(self.epw, _LINE_MM, self.digits(f"- {self.page_no()} -"), align="C")
            self.set_xy(self.l_margin, 24)

    def footer(self) -> None:
        mark = SECRECY_TH[self._doc.secrecy]
        if mark:
            self.set_xy(self.l_margin, -14)
            self.set_font(FONT, "B", SECRECY_PT)
            self.set_text_color(*RED)
            self.cell(self.epw, 8, mark, align="C")
            self.set_text_color(0, 0, 0)


class RenderedLetter(msgspec.Struct, frozen=True, kw_only=True):
    pdf: bytes
    #: Where the signature goes (0-based page; x1, y1, x2, y2 in PDF points from the lower left):
    #: the space above the signer's name, for a visible digital signature.
    signature_page: int
    signature_box: tuple[int, int, int, int]


def render_letter(doc: LetterDocument) -> bytes:
    """The letter as PDF bytes (A4)."""
    return render_letter_layout(doc).pdf


def render_letter_layout(doc: LetterDocument) -> RenderedLetter:
    """The letter as PDF bytes and the place of its signature."""
    doc = _with_digits(doc)
    pdf = _LetterPDF(doc)
    if doc.created_at is not None:
        pdf.set_creation_date(doc.created_at)
    pdf.set_title(doc.subject[:200])
    pdf.set_author(doc.issuer_name)
    pdf.add_page()
    if doc.kind == "internal":
        _memo_head(pdf, doc)
    elif doc.kind in ("directive", "public"):
        _order_head(pdf, doc)
    else:
        _letter_head(pdf, doc)
    _body(pdf, doc)
    page, top_mm = _signature(pdf, doc)
    if doc.kind in ("external", "stamped") and (doc.owner_unit or doc.contact):
        pdf.ln(_LINE_MM)
        pdf.set_font(FONT, "", BODY_PT)
        for line in (doc.owner_unit, doc.contact):
            if line:
                for row in _wrap(pdf, line, pdf.epw):
                    pdf.cell(pdf.epw, _LINE_MM, row, new_x="LMARGIN", new_y="NEXT")
    points = 72 / 25.4
    x1 = pdf.l_margin + pdf.epw * 0.45
    box = (
        round(x1 * points),
        round((pdf.h - top_mm - 2 * _LINE_MM) * points),
        round((x1 + pdf.epw * 0.5) * points),
        round((pdf.h - top_mm) * points),
    )
    return RenderedLetter(pdf=bytes(pdf.output()), signature_page=page - 1, signature_box=box)


def _with_digits(doc: LetterDocument) -> LetterDocument:
    """Thai digits in every printed text when the LAO uses them (the stored data keeps Arabic)."""
    if not doc.thai_digits:
        return doc

    def conv(value: str | None) -> str | None:
        return None if value is None else to_thai_digits(value)

    return msgspec.structs.replace(
        doc,
        number=conv(doc.number),
        subject=to_thai_digits(doc.subject),
        salutation=conv(doc.salutation),
        references=[to_thai_digits(r) for r in doc.references],
        enclosures=[to_thai_digits(e) for e in doc.enclosures],
        body=to_thai_digits(doc.body),
        signer_name=conv(doc.signer_name),
        signer_position=conv(doc.signer_position),
        issuer_name=to_thai_digits(doc.issuer_name),
        issuer_address=conv(doc.issuer_address),
        owner_unit=conv(doc.owner_unit),
        contact=conv(doc.contact),
    )


def _number(doc: LetterDocument) -> str:
    """The number without its ``ที่`` (the layout prints the label)."""
    number = (doc.number or "").strip()
    return number[3:].strip() if number.startswith("ที่ ") else number


def _wrap(pdf: ThaiPDF, text: str, width: float) -> list[str]:
    """Lines of ``text`` within ``width``, broken between Thai words (PyThaiNLP's newmm), else at
    syllable clusters inside a word longer than the line."""
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in words(paragraph, keep_whitespace=True):
            if pdf.get_string_width(line + token) <= width:
                line += token
                continue
            if line.strip():
                out.append(line.rstrip())
            line = token.lstrip()
            if pdf.get_string_width(line) > width:
                *full, line = pdf.wrap(line, width)
                out.extend(full)
        out.append(line.rstrip())
    return out


def _urgency(pdf: _LetterPDF, doc: LetterDocument) -> None:
    label = URGENCY_TH[doc.urgency]
    if not label:
        return
    pdf.set_font(FONT, "B", URGENCY_PT)
    pdf.set_text_color(*RED)
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), 16))
    pdf.cell(pdf.epw / 2, 13, label)
    pdf.set_text_color(0, 0, 0)


def _emblem(pdf: _LetterPDF, data: bytes | None, size: float, *, x: float, y: float) -> None:
    if data is not None:
        pdf.image(io.BytesIO(data), x=x, y=y, h=size)


def _date_text(pdf: _LetterPDF, day: dt.date | None) -> str:
    return thai_date(day, digits="thai" if pdf._doc.thai_digits else "arabic") if day is not None else ""


def _letter_head(pdf: _LetterPDF, doc: LetterDocument) -> None:
    """External and stamped letters: emblem 3 cm centred, the number left and the address right,
    the date from the middle, then เรื่อง / เรียน / อ้างถึง / สิ่งที่ส่งมาด้วย."""
    top = 15.0
    _urgency(pdf, doc)
    _emblem(pdf, doc.emblem, EMBLEM_EXTERNAL_MM, x=(pdf.w - EMBLEM_EXTERNAL_MM) / 2, y=top)
    pdf.set_y(top + EMBLEM_EXTERNAL_MM + 2)
    half = pdf.epw / 2
    pdf.set_font(FONT, "", BODY_PT)
    y = pdf.get_y()
    pdf.set_xy(pdf.l_margin, y)
    pdf.cell(half, _LINE_MM, f"ที่ {_number(doc)}".rstrip())
    right = [doc.issuer_name, *(doc.issuer_address or "").splitlines()]
    for index, line in enumerate(row for part in right if part for row in _wrap(pdf, part, half - 5)):
        pdf.set_xy(pdf.l_margin + half + 5, y + index * _LINE_MM)
        pdf.cell(half - 5, _LINE_MM, line)
    pdf.set_xy(pdf.l_margin, y + max(1, len([r for r in right if r])) * _LINE_MM + 2)
    if doc.date is not None:
        pdf.set_x(pdf.l_margin + half - 10)
        pdf.cell(half, _LINE_MM, _date_text(pdf, doc.date), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _labelled(pdf, "เรื่อง", doc.subject)
    if doc.kind == "stamped":
        pdf.ln(1)
    if doc.salutation:
        _labelled(pdf, "เรียน", doc.salutation)
    _lists(pdf, doc)


def _memo_head(pdf: _LetterPDF, doc: LetterDocument) -> None:
    """A memo: emblem 1.5 cm top left, บันทึกข้อความ 29 pt bold, ส่วนราชการ, ที่ and วันที่ on one
    line, เรื่อง, a rule, then เรียน."""
    _urgency(pdf, doc)
    top = max(pdf.get_y(), 15.0)
    _emblem(pdf, doc.emblem, EMBLEM_MEMO_MM, x=pdf.l_margin, y=top)
    pdf.set_xy(pdf.l_margin, top + 2)
    pdf.set_font(FONT, "B", MEMO_TITLE_PT)
    pdf.cell(pdf.epw, 12, "บันทึกข้อความ", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(top + EMBLEM_MEMO_MM + 2)
    _labelled(pdf, "ส่วนราชการ", doc.issuer_name)
    half = pdf.epw / 2
    y = pdf.get_y()
    _bold_then(pdf, "ที่", _number(doc), half)
    pdf.set_xy(pdf.l_margin + half, y)
    _bold_then(pdf, "วันที่", _date_text(pdf, doc.date), half)
    pdf.set_xy(pdf.l_margin, y + _LINE_MM)
    _labelled(pdf, "เรื่อง", doc.subject)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.l_margin + pdf.epw, pdf.get_y() + 1)
    pdf.ln(3)
    if doc.salutation:
        _labelled(pdf, "เรียน", doc.salutation)
    _lists(pdf, doc)


def _order_head(pdf: _LetterPDF, doc: LetterDocument) -> None:
    """Orders and announcements: emblem 3 cm centred, ``คำสั่ง<issuer>``, ``ที่ n/ปี``, ``เรื่อง``."""
    top = 15.0
    _urgency(pdf, doc)
    _emblem(pdf, doc.emblem, EMBLEM_EXTERNAL_MM, x=(pdf.w - EMBLEM_EXTERNAL_MM) / 2, y=top)
    pdf.set_y(top + EMBLEM_EXTERNAL_MM + 2)
    pdf.set_font(FONT, "B", BODY_PT)
    title = SUBKIND_TH.get(doc.subkind or "", "")
    for line in _wrap(pdf, f"{title}{doc.issuer_name}", pdf.epw):
        pdf.cell(pdf.epw, _LINE_MM, line, align="C", new_x="LMARGIN", new_y="NEXT")
    if doc.number:
        pdf.set_font(FONT, "", BODY_PT)
        pdf.cell(pdf.epw, _LINE_MM, f"ที่ {_number(doc)}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", BODY_PT)
    for line in _wrap(pdf, f"เรื่อง {doc.subject}", pdf.epw):
        pdf.cell(pdf.epw, _LINE_MM, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(pdf.epw, 4, "-" * 24, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _bold_then(pdf: _LetterPDF, label: str, value: str, width: float) -> None:
    pdf.set_font(FONT, "B", BODY_PT)
    label_w = pdf.get_string_width(label) + 3
    pdf.cell(label_w, _LINE_MM, label)
    pdf.set_font(FONT, "", BODY_PT)
    pdf.cell(width - label_w, _LINE_MM, value)


def _labelled(pdf: _LetterPDF, label: str, value: str) -> None:
    """``เรื่อง  ขอเชิญประชุม…``: the label, then the value wrapped under itself."""
    pdf.set_font(FONT, "B" if label in ("ส่วนราชการ", "เรื่อง") and pdf._doc.kind == "internal" else "", BODY_PT)
    label_w = max(pdf.get_string_width(label) + 4, 14.0)
    pdf.cell(label_w, _LINE_MM, label)
    pdf.set_font(FONT, "", BODY_PT)
    for index, line in enumerate(_wrap(pdf, value, pdf.epw - label_w)):
        if index:
            pdf.set_x(pdf.l_margin + label_w)
        pdf.cell(pdf.epw - label_w, _LINE_MM, line, new_x="LMARGIN", new_y="NEXT")


def _numbered(pdf: _LetterPDF, label: str, items: Sequence[str]) -> None:
    pdf.set_font(FONT, "", BODY_PT)
    label_w = pdf.get_string_width(label) + 4
    for index, item in enumerate(items, start=1):
        pdf.set_x(pdf.l_margin)
        pdf.cell(label_w, _LINE_MM, label if index == 1 else "")
        prefix = pdf.digits(f"{index}. ") if len(items) > 1 else ""
        for row_no, line in enumerate(_wrap(pdf, prefix + item, pdf.epw - label_w)):
            if row_no:
                pdf.set_x(pdf.l_margin + label_w)
            pdf.cell(pdf.epw - label_w, _LINE_MM, line, new_x="LMARGIN", new_y="NEXT")


def _lists(pdf: _LetterPDF, doc: LetterDocument) -> None:
    if doc.references:
        _numbered(pdf, "อ้างถึง", doc.references)
    if doc.enclosures:
        _numbered(pdf, "สิ่งที่ส่งมาด้วย", doc.enclosures)
    pdf.ln(2)


def _body(pdf: _LetterPDF, doc: LetterDocument) -> None:
    pdf.set_font(FONT, "", BODY_PT)
    for paragraph in doc.body.splitlines():
        text = paragraph.strip()
        if not text:
            continue
        lines = _wrap(pdf, text, pdf.epw - _INDENT_MM)
        # The first line is indented; the rest use the whole width.
        first, rest = lines[0], text[len(lines[0]) :].strip()
        pdf.set_x(pdf.l_margin + _INDENT_MM)
        pdf.cell(pdf.epw - _INDENT_MM, _LINE_MM, first, new_x="LMARGIN", new_y="NEXT")
        if rest:
            for line in _wrap(pdf, rest, pdf.epw):
                pdf.cell(pdf.epw, _LINE_MM, line, new_x="LMARGIN", new_y="NEXT")
    if doc.kind in ("directive", "public") and doc.date is not None:
        pdf.ln(_LINE_MM / 2)
        verb = "สั่ง" if doc.subkind == "order" else "ประกาศ"
        pdf.set_x(pdf.l_margin + pdf.epw / 3)
        pdf.cell(pdf.epw * 2 / 3, _LINE_MM, f"{verb} ณ วันที่ {_date_text(pdf, doc.date)}", new_x="LMARGIN", new_y="NEXT")


def _signature(pdf: _LetterPDF, doc: LetterDocument) -> tuple[int, float]:
    """The closing, the space to sign, the name and position; returns the page and the top (mm)
    of the space."""
    closing = doc.closing if doc.closing is not None else ("ขอแสดงความนับถือ" if doc.kind == "external" else "")
    positions = (doc.signer_position or "").splitlines()
    lines = 4 + len(positions)
    if pdf.will_page_break(lines * _LINE_MM):
        pdf.add_page()
    pdf.ln(_LINE_MM / 2)
    x = pdf.l_margin + pdf.epw * 0.4
    width = pdf.epw * 0.6
    pdf.set_font(FONT, "", BODY_PT)
    if closing:
        pdf.set_x(x)
        pdf.cell(width, _LINE_MM, closing, align="C", new_x="LMARGIN", new_y="NEXT")
    space = (pdf.page_no(), pdf.get_y())
    pdf.ln(_LINE_MM * 2)  # the space for the handwritten or the digital signature
    if doc.signer_name:
        pdf.set_x(x)
        pdf.cell(width, _LINE_MM, f"({doc.signer_name})", align="C", new_x="LMARGIN", new_y="NEXT")
    for line in positions:
        pdf.set_x(x)
        pdf.cell(width, _LINE_MM, line, align="C", new_x="LMARGIN", new_y="NEXT")
    return space
