"""The printed receipt (ใบเสร็จรับเงิน): an A4 PDF in Sarabun whose Thai survives shaping and copying.

fpdf2 shapes the text with HarfBuzz (``set_text_shaping``), so tone marks and vowels above and
below sit where they belong (ReportLab drops them). One more step keeps the *text layer* exact:
HarfBuzz turns SARA AM (ำ) into two glyphs, NIKHAHIT and SARA AA, and a PDF maps each glyph to
its text on its own. fpdf2 gives such a cluster's text to its first glyph and leaves the others
unmapped, so extractors print a stray character (``กำ&นัน``) or a space. Here the whole cluster's
text goes to its last spacing glyph and the other glyphs of the cluster map to the empty string,
so ``กำนัน``, ``น้ำ`` and ``สำเนา`` extract exactly as written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import msgspec
from fpdf import FPDF
from fpdf.fonts import TTFFont

from localgov.kernel.thai import BANGKOK, thai_date

#: Sarabun (OFL) from the PyPI package ``fontpkg-sarabun``: an installed directory, not a zip.
FONT_DIR = Path(str(files("fontpkg_sarabun"))) / "files"
FONT = "Sarabun"
_RED = (190, 30, 30)
_GREY = (90, 90, 90)
_LEADING_VOWELS = frozenset("เแโใไ")
#: Thai combining marks: a line never breaks before one of these.
_MARKS = frozenset(chr(c) for c in (0x0E31, *range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F)))


class ReceiptLine(msgspec.Struct, frozen=True, kw_only=True):
    description: str
    amount: Decimal
    period: str | None = None


class ReceiptDocument(msgspec.Struct, frozen=True, kw_only=True):
    """Everything printed on a receipt."""

    lao_name_th: str
    lao_address_th: str | None
    fiscal_year: str
    book_no: int
    receipt_no: int
    issued_at: dt.datetime
    paid_at: dt.datetime
    payer_name: str
    payer_address: str | None
    lines: list[ReceiptLine]
    amount: Decimal
    amount_text_th: str
    collector: str
    bill_reference: str
    bank_txn_id: str
    void: bool = False
    void_reason: str | None = None
    voided_at: dt.datetime | None = None
    #: A reprint (สำเนา): which one (1 = the first reprint).
    copy_no: int | None = None


def money(amount: Decimal) -> str:
    """``1234.5`` → ``1,234.50``."""
    return f"{amount:,.2f}"


def _bangkok(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(BANGKOK)


def _be_datetime(moment: dt.datetime) -> str:
    local = _bangkok(moment)
    return f"{thai_date(local.date(), digits='arabic')} เวลา {local:%H:%M} น."


# --- text shaping with an exact text layer ---------------------------------------------------------


class _NoText(tuple[int, ...]):
    """The text of a glyph that carries none (a mark of a multi-glyph cluster).

    fpdf2 writes a ToUnicode entry for every glyph whose text tuple has a length, joining the
    code points it iterates: this one claims a length and iterates nothing, so the entry maps the
    glyph to the empty string instead of leaving it unmapped.
    """

    def __new__(cls) -> _NoText:
        return super().__new__(cls, ())

    def __len__(self) -> int:
        return 1

    def __hash__(self) -> int:
        return hash(())


_NO_TEXT = _NoText()


class _ExactTextFont(TTFFont):
    """A TTF font whose shaped glyphs carry their cluster's text exactly (see the module doc)."""

    __slots__ = ()

    def shape_text(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        return _shape_text(self, text, font_size_pt, text_shaping_params)


def _shape_text(font: TTFFont, text: str, font_size_pt: float, params: dict[str, Any] | None) -> list[dict[str, Any]]:
    """fpdf2's ``TTFFont.shape_text``, giving each cluster's text to its last spacing glyph."""
    if not text:
        return []
    infos, positions = font.perform_harfbuzz_shaping(text, font_size_pt, params)
    starts = sorted({int(info.cluster) for info in infos})
    cluster_text = {start: text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=True)}
    carrier: dict[int, int] = {}
    for index, info in enumerate(infos):
        cluster = int(info.cluster)
        if cluster not in carrier or positions[index].x_advance > 0:
            carrier[cluster] = index
    out: list[dict[str, Any]] = []
    for index, info in enumerate(infos):
        cluster = int(info.cluster)
        unicode: tuple[int, ...] = (
            tuple(ord(c) for c in cluster_text[cluster]) if carrier[cluster] == index else _NO_TEXT
        )
        name = font.ttfont.getGlyphName(info.codepoint)
        width = round(font.scale * font.ttfont["hmtx"].metrics[name][0])
        glyph = font.subset.get_glyph(glyph=info.codepoint, unicode=unicode, glyph_name=name, glyph_width=width)
        if glyph is None:
            continue
        pos = positions[index]
        out.append(
            {
                "mapped_char": font.subset.pick_glyph(glyph),
                "x_advance": pos.x_advance,
                "y_advance": pos.y_advance,
                "x_offset": pos.x_offset,
                "y_offset": pos.y_offset,
                "force_positioning": width != pos.x_advance or pos.x_offset or pos.y_offset or pos.y_advance,
            }
        )
    return out


class ThaiPDF(FPDF):
    """FPDF with Sarabun, HarfBuzz shaping and an exact Thai text layer."""

    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.set_creator("localgov")
        self.set_lang("th")
        for style, file in (("", "Sarabun-Regular.ttf"), ("B", "Sarabun-Bold.ttf")):
            self.add_font(FONT, style, str(FONT_DIR / file))
        for font in self.fonts.values():
            if type(font) is TTFFont:
                font.__class__ = _ExactTextFont  # same slots: only the shaping method differs
        self.set_text_shaping(use_shaping_engine=True, script="thai", language="tha")
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(18, 15, 18)

    def wrap(self, text: str, width: float) -> list[str]:
        """Lines of ``text`` that fit ``width``: at spaces, else between Thai syllable clusters."""
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.get_string_width(candidate) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for index, char in enumerate(word):
                    if (
                        line
                        and char not in _MARKS
                        and line[-1] not in _LEADING_VOWELS
                        and self.get_string_width(line + word[index:]) > width
                        and self.get_string_width(line + char) > width
                    ):
                        lines.append(line)
                        line = ""
                    line += char
            lines.append(line)
        return lines


def render_receipt(doc: ReceiptDocument) -> bytes:
    """The receipt as PDF bytes (original, copy, or cancelled)."""
    pdf = ThaiPDF()
    pdf.set_title(f"ใบเสร็จรับเงิน เล่มที่ {doc.book_no} เลขที่ {doc.receipt_no}/{doc.fiscal_year}")
    pdf.set_author(doc.lao_name_th)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    if doc.void:
        _watermark(pdf, "ยกเลิก", "CANCELLED")
    elif doc.copy_no is not None:
        _watermark(pdf, "สำเนา", "COPY")

    pdf.set_font(FONT, "B", 12)
    label = "ต้นฉบับ (ORIGINAL)" if doc.copy_no is None else f"สำเนา (COPY) พิมพ์ซ้ำครั้งที่ {doc.copy_no}"
    pdf.set_text_color(*(_GREY if doc.copy_no is None else _RED))
    pdf.cell(width, 6, label, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, "B", 18)
    for line in pdf.wrap(doc.lao_name_th, width):
        pdf.cell(width, 9, line, align="C", new_x="LMARGIN", new_y="NEXT")
    if doc.lao_address_th:
        pdf.set_font(FONT, "", 12)
        for line in pdf.wrap(doc.lao_address_th, width):
            pdf.cell(width, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 22)
    pdf.cell(width, 12, "ใบเสร็จรับเงิน", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    pdf.cell(width, 5, "RECEIPT", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font(FONT, "", 14)
    half = width / 2
    pdf.cell(half, 8, f"เล่มที่ {doc.book_no}")
    pdf.cell(half, 8, f"เลขที่ {doc.receipt_no}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(half, 8, f"ปีงบประมาณ พ.ศ. {doc.fiscal_year}")
    pdf.cell(half, 8, f"วันที่ {thai_date(_bangkok(doc.issued_at).date(), digits='arabic')}", align="R")
    pdf.ln(10)

    _field(pdf, width, "ได้รับเงินจาก", doc.payer_name)
    if doc.payer_address:
        _field(pdf, width, "ที่อยู่", doc.payer_address)
    _field(pdf, width, "เลขที่ใบแจ้งหนี้", doc.bill_reference)
    pdf.ln(2)

    amount_w = 45.0
    no_w = 14.0
    desc_w = width - amount_w - no_w
    pdf.set_font(FONT, "B", 14)
    pdf.set_fill_color(235, 235, 235)
    pdf.cell(no_w, 9, "ลำดับ", border=1, align="C", fill=True)
    pdf.cell(desc_w, 9, "รายการ", border=1, align="C", fill=True)
    pdf.cell(amount_w, 9, "จำนวนเงิน (บาท)", border=1, align="C", fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 14)
    for index, item in enumerate(doc.lines, start=1):
        text = item.description + (f" ({_period_th(item.period)})" if item.period else "")
        rows = pdf.wrap(text, desc_w - 3)
        height = 8 * len(rows)
        if pdf.will_page_break(height):
            pdf.add_page()
        x, y = pdf.get_x(), pdf.get_y()
        pdf.cell(no_w, height, str(index), border=1, align="C")
        pdf.rect(x + no_w, y, desc_w, height)
        for row_no, row in enumerate(rows):
            pdf.set_xy(x + no_w + 1.5, y + 8 * row_no)
            pdf.cell(desc_w - 3, 8, row)
        pdf.set_xy(x + no_w + desc_w, y)
        pdf.cell(amount_w, height, money(item.amount), border=1, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 14)
    pdf.cell(no_w + desc_w, 9, "รวมเป็นเงิน", border=1, align="R")
    pdf.cell(amount_w, 9, money(doc.amount), border=1, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 14)
    for line in pdf.wrap(f"จำนวนเงิน (ตัวอักษร) ({doc.amount_text_th})", width):
        pdf.cell(width, 9, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _field(pdf, width, "ชำระเมื่อ", _be_datetime(doc.paid_at))
    _field(pdf, width, "ช่องทาง", f"Thai QR ผ่านธนาคาร เลขที่รายการ {doc.bank_txn_id}")
    pdf.ln(6)
    pdf.cell(half, 8, "")
    pdf.cell(half, 8, f"ผู้รับเงิน {doc.collector}", align="C", new_x="LMARGIN", new_y="NEXT")

    if doc.void:
        pdf.ln(4)
        pdf.set_text_color(*_RED)
        pdf.set_font(FONT, "B", 14)
        when = _be_datetime(doc.voided_at) if doc.voided_at else ""
        for line in pdf.wrap(f"ใบเสร็จนี้ถูกยกเลิก (CANCELLED) {when} เหตุผล: {doc.void_reason or '-'}", width):
            pdf.cell(width, 8, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())


def _field(pdf: ThaiPDF, width: float, label: str, value: str) -> None:
    pdf.set_font(FONT, "B", 14)
    label_w = pdf.get_string_width(label) + 4
    pdf.cell(label_w, 8, label)
    pdf.set_font(FONT, "", 14)
    rows = pdf.wrap(value, width - label_w)
    for index, row in enumerate(rows):
        if index:
            pdf.set_x(pdf.l_margin + label_w)
        pdf.cell(width - label_w, 8, row, new_x="LMARGIN", new_y="NEXT")


def _period_th(period: str) -> str:
    """``2026-11`` → ``พฤศจิกายน 2569``."""
    year, month = period.split("-")
    return thai_date(dt.date(int(year), int(month), 1), digits="arabic").split(" ", 1)[1]


def _watermark(pdf: ThaiPDF, thai: str, english: str) -> None:
    """A large diagonal mark behind the page's text."""
    centre_x, centre_y = pdf.w / 2, pdf.h / 2
    with pdf.local_context(fill_opacity=0.18, text_color=_RED), pdf.rotation(35, centre_x, centre_y):
        pdf.set_font(FONT, "B", 110)
        pdf.text(centre_x - pdf.get_string_width(thai) / 2, centre_y + 10, thai)
        pdf.set_font(FONT, "B", 44)
        pdf.text(centre_x - pdf.get_string_width(english) / 2, centre_y + 32, english)
