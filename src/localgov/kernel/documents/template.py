"""The layout of an official document (หนังสือ/ใบอนุญาต/ใบเสร็จ), as data a service fills in.

A service describes its document as an :class:`OfficialDocument`: the issuer's header (emblem
image, name, address), a title in Thai and English, then a list of blocks in reading order
(pairs of short facts, labelled or numbered fields, a table with a total, paragraphs, signature
blocks, a notice), a footer on every page, an optional diagonal watermark (``ยกเลิก`` /
``CANCELLED``, ``สำเนา`` / ``COPY``) and an optional QR stamp linking to the document's public
verification page. :func:`render` turns it into PDF bytes with :class:`~.pdf.ThaiPDF`, so every
Thai string is shaped, broken between syllables, and extracts from the PDF exactly as written.

Rendering is CPU work of tens of milliseconds: handlers call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

import msgspec
import segno

from localgov.kernel.documents.pdf import FONT, GREY, RED, ThaiPDF

Align = Literal["L", "C", "R"]
#: Line height per font size (mm), as the receipt has always been printed.
_LINE = {11: 5.0, 12: 6.0, 14: 8.0, 18: 9.0, 22: 12.0}
_BODY = 14


class Image(msgspec.Struct, frozen=True, kw_only=True):
    """A PNG or JPEG placed in the flow (an emblem, a map, a photo), ``width`` mm wide."""

    data: bytes
    width: float = 25.0
    align: Align = "C"


class Pairs(msgspec.Struct, frozen=True, kw_only=True):
    """Short facts two to a line, left and right (``เล่มที่ 1`` … ``เลขที่ 17``)."""

    rows: Sequence[tuple[str, str]]


class Field(msgspec.Struct, frozen=True):
    label: str
    value: str


class Fields(msgspec.Struct, frozen=True, kw_only=True):
    """Labelled values, the label in bold; ``numbered`` prints ``1.``, ``2.`` … before each label
    (as forms do), starting at ``start``."""

    items: Sequence[Field]
    numbered: bool = False
    start: int = 1


class Column(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    #: Millimetres; ``None``: the rest of the line (one column should be).
    width: float | None = None
    align: Align = "L"


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A bordered table with a shaded header row; long cells of the flexible column wrap."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[str]]
    #: A last row in bold: its label spans every column but the last, which holds the value.
    total: tuple[str, str] | None = None


class Paragraph(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    bold: bool = False
    align: Align = "L"
    size: int = _BODY


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    """A signature block on the right half: its lines centred (``(ลงชื่อ) ....``, the name in
    brackets, the position)."""

    lines: Sequence[str]


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """A statement in red bold (``ใบเสร็จนี้ถูกยกเลิก …``)."""

    text: str


class Space(msgspec.Struct, frozen=True):
    mm: float


Block = Image | Pairs | Fields | Table | Paragraph | Signature | Notice | Space


class Watermark(msgspec.Struct, frozen=True):
    """A large diagonal mark behind the text of the first page, in both languages."""

    th: str
    en: str


class QrStamp(msgspec.Struct, frozen=True, kw_only=True):
    """A QR code of ``url`` with its caption: scanning it opens the verification page.

    For a QR that is not an address (a Thai QR payment payload), ``show_url=False`` leaves the
    encoded text off the page and ``code_label`` names the code printed beside it (``Ref1``).
    """

    url: str
    code: str
    caption_th: str = "ตรวจสอบความถูกต้องของเอกสาร"
    caption_en: str = "Verify this document"
    code_label: str = "รหัสตรวจสอบ (Code)"
    show_url: bool = True


class OfficialDocument(msgspec.Struct, frozen=True, kw_only=True):
    issuer_th: str
    issuer_address_th: str | None = None
    emblem: Image | None = None
    title_th: str
    title_en: str | None = None
    #: A small label at the top right (``ต้นฉบับ (ORIGINAL)``), in red when ``corner_alert``.
    corner: str | None = None
    corner_alert: bool = False
    body: Sequence[Block] = ()
    footer: str | None = None
    watermark: Watermark | None = None
    stamp: QrStamp | None = None
    #: The PDF's own title (document properties); default the Thai title.
    pdf_title: str | None = None


class _Page(ThaiPDF):
    """ThaiPDF with the document's footer on every page."""

    def __init__(self, footer: str | None) -> None:
        super().__init__()
        self._footer_text = footer

    def footer(self) -> None:
        if not self._footer_text:
            return
        self.set_y(-14)
        self.set_font(FONT, "", 9)
        self.set_text_color(*GREY)
        width = self.w - self.l_margin - self.r_margin
        self.cell(width - 20, 5, self._footer_text[:200])
        self.cell(20, 5, f"หน้า {self.page_no()}", align="R")
        self.set_text_color(0, 0, 0)


def render(doc: OfficialDocument) -> bytes:
    """The document as PDF bytes."""
    pdf = _Page(doc.footer)
    pdf.set_title(doc.pdf_title or doc.title_th)
    pdf.set_author(doc.issuer_th)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    if doc.watermark is not None:
        _watermark(pdf, doc.watermark)
    if doc.corner:
        pdf.set_font(FONT, "B", 12)
        pdf.set_text_color(*(RED if doc.corner_alert else GREY))
        pdf.cell(width, 6, doc.corner, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    if doc.emblem is not None:
        _image(pdf, doc.emblem, width)
    pdf.set_font(FONT, "B", 18)
    for line in pdf.wrap(doc.issuer_th, width):
        pdf.cell(width, 9, line, align="C", new_x="LMARGIN", new_y="NEXT")
    if doc.issuer_address_th:
        pdf.set_font(FONT, "", 12)
        for line in pdf.wrap(doc.issuer_address_th, width):
            pdf.cell(width, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 22)
    for line in pdf.wrap(doc.title_th, width):
        pdf.cell(width, 12, line, align="C", new_x="LMARGIN", new_y="NEXT")
    if doc.title_en:
        pdf.set_font(FONT, "", 11)
        pdf.cell(width, 5, doc.title_en, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for block in doc.body:
        _block(pdf, block, width)
    if doc.stamp is not None:
        _stamp(pdf, doc.stamp, width)
    return bytes(pdf.output())


def _block(pdf: ThaiPDF, block: Block, width: float) -> None:
    if isinstance(block, Space):
        pdf.ln(block.mm)
    elif isinstance(block, Image):
        _image(pdf, block, width)
    elif isinstance(block, Pairs):
        pdf.set_font(FONT, "", _BODY)
        half = width / 2
        for left, right in block.rows:
            pdf.cell(half, 8, left)
            pdf.cell(half, 8, right, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif isinstance(block, Fields):
        for index, item in enumerate(block.items, start=block.start):
            label = f"{index}. {item.label}" if block.numbered else item.label
            _field(pdf, width, label, item.value)
    elif isinstance(block, Table):
        _table(pdf, block, width)
    elif isinstance(block, Paragraph):
        pdf.set_font(FONT, "B" if block.bold else "", block.size)
        height = _LINE.get(block.size, block.size * 0.6)
        for line in pdf.wrap(block.text, width):
            pdf.cell(width, height, line, align=block.align, new_x="LMARGIN", new_y="NEXT")
    elif isinstance(block, Signature):
        pdf.set_font(FONT, "", _BODY)
        half = width / 2
        if pdf.will_page_break(8 * len(block.lines)):
            pdf.add_page()
        for line in block.lines:
            pdf.cell(half, 8, "")
            pdf.cell(half, 8, line, align="C", new_x="LMARGIN", new_y="NEXT")
    elif isinstance(block, Notice):
        pdf.set_text_color(*RED)
        pdf.set_font(FONT, "B", _BODY)
        for line in pdf.wrap(block.text, width):
            pdf.cell(width, 8, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)


def _field(pdf: ThaiPDF, width: float, label: str, value: str) -> None:
    pdf.set_font(FONT, "B", _BODY)
    label_w = min(pdf.get_string_width(label) + 4, width / 2)
    pdf.cell(label_w, 8, label)
    pdf.set_font(FONT, "", _BODY)
    for index, row in enumerate(pdf.wrap(value, width - label_w)):
        if index:
            pdf.set_x(pdf.l_margin + label_w)
        pdf.cell(width - label_w, 8, row, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: ThaiPDF, table: Table, width: float) -> None:
    fixed = sum(c.width for c in table.columns if c.width is not None)
    flexible = [c for c in table.columns if c.width is None]
    rest = (width - fixed) / len(flexible) if flexible else 0.0
    widths = [c.width if c.width is not None else rest for c in table.columns]
    pdf.set_font(FONT, "B", _BODY)
    pdf.set_fill_color(235, 235, 235)
    for index, (column, column_w) in enumerate(zip(table.columns, widths, strict=True)):
        last = index == len(widths) - 1
        pdf.cell(
            column_w,
            9,
            column.title,
            border=1,
            align="C",
            fill=True,
            new_x="LMARGIN" if last else "RIGHT",
            new_y="NEXT" if last else "TOP",
        )
    pdf.set_font(FONT, "", _BODY)
    for row in table.rows:
        wrapped = [
            pdf.wrap(text, column_w - 3) if column.width is None else [text]
            for text, column, column_w in zip(row, table.columns, widths, strict=True)
        ]
        height = 8 * max(len(lines) for lines in wrapped)
        if pdf.will_page_break(height):
            pdf.add_page()
        x, y = pdf.get_x(), pdf.get_y()
        for lines, column, column_w in zip(wrapped, table.columns, widths, strict=True):
            if column.width is None:
                pdf.rect(x, y, column_w, height)
                for line_no, line in enumerate(lines):
                    pdf.set_xy(x + 1.5, y + 8 * line_no)
                    pdf.cell(column_w - 3, 8, line, align=column.align)
            else:
                pdf.set_xy(x, y)
                pdf.cell(column_w, height, lines[0], border=1, align=column.align)
            x += column_w
        pdf.set_xy(pdf.l_margin, y + height)
    if table.total is not None:
        label, value = table.total
        pdf.set_font(FONT, "B", _BODY)
        pdf.cell(width - widths[-1], 9, label, border=1, align="R")
        pdf.cell(widths[-1], 9, value, border=1, align=table.columns[-1].align, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", _BODY)


def _image(pdf: ThaiPDF, image: Image, width: float) -> None:
    pdf.image(io.BytesIO(image.data), w=image.width, x=_x(pdf, image.width, width, image.align))
    pdf.set_y(pdf.get_y() + 2)


def _x(pdf: ThaiPDF, item_w: float, width: float, align: Align) -> float:
    if align == "C":
        return pdf.l_margin + (width - item_w) / 2
    if align == "R":
        return pdf.l_margin + width - item_w
    return pdf.l_margin


def qr_png(data: str, *, scale: int = 8) -> bytes:
    """A QR code as PNG (error correction M, quiet zone of 2 modules)."""
    out = io.BytesIO()
    segno.make(data, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def _stamp(pdf: ThaiPDF, stamp: QrStamp, width: float) -> None:
    """The QR code at the left, its caption, the code and the address beside it."""
    size = 28.0
    pdf.ln(4)
    if pdf.will_page_break(size + 2):
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    pdf.image(io.BytesIO(qr_png(stamp.url)), x=x, y=y, w=size, h=size)
    text_x = x + size + 4
    text_w = width - size - 4
    pdf.set_xy(text_x, y + 2)
    pdf.set_font(FONT, "B", 12)
    pdf.cell(text_w, 6, f"{stamp.caption_th} ({stamp.caption_en})", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "", 12)
    pdf.cell(text_w, 6, f"{stamp.code_label}: {stamp.code}", new_x="LEFT", new_y="NEXT")
    if stamp.show_url:
        pdf.set_font(FONT, "", 9)
        pdf.cell(text_w, 5, stamp.url, link=stamp.url, new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, y + size + 2)


def _watermark(pdf: ThaiPDF, mark: Watermark) -> None:
    """A large diagonal mark behind the page's text."""
    centre_x, centre_y = pdf.w / 2, pdf.h / 2
    with pdf.local_context(fill_opacity=0.18, text_color=RED), pdf.rotation(35, centre_x, centre_y):
        pdf.set_font(FONT, "B", 110)
        pdf.text(centre_x - pdf.get_string_width(mark.th) / 2, centre_y + 10, mark.th)
        pdf.set_font(FONT, "B", 44)
        pdf.text(centre_x - pdf.get_string_width(mark.en) / 2, centre_y + 32, mark.en)
