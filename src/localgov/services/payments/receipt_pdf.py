"""The printed receipt (ใบเสร็จรับเงิน): the kernel's official-document layout filled in for a receipt.

An original, a numbered copy (สำเนา) or a cancelled one (ยกเลิก), with the QR stamp that opens the
receipt's public verification page (:mod:`localgov.kernel.documents`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from localgov.kernel.documents import (
    Block,
    Column,
    Field,
    Fields,
    Notice,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Signature,
    Space,
    Table,
    Watermark,
    render,
)
from localgov.kernel.thai import BANGKOK, thai_date, thai_datetime
from localgov.kernel.validation import format_money


class ReceiptLine(msgspec.Struct, frozen=True, kw_only=True):
    description: str
    amount: Decimal
    period: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None


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
    #: The QR stamp to the receipt's verification page (receipts issued before the register: none).
    stamp: QrStamp | None = None
    #: The LAO's 13-digit tax ID (เลขประจำตัวผู้เสียภาษี).
    lao_tax_id: str | None = None
    #: The receiving officer (ผู้รับเงิน) and their position.
    officer_name: str | None = None
    officer_position: str | None = None
    #: How it was paid, as printed (default: Thai QR through the bank).
    channel_th: str | None = None


def _period_th(period: str) -> str:
    """``2026-11`` → ``พฤศจิกายน 2569``."""
    year, month = period.split("-")
    return thai_date(dt.date(int(year), int(month), 1), digits="arabic").split(" ", 1)[1]


def line_text(item: ReceiptLine) -> str:
    """A line as printed: the description, the period once (a description that already names its
    month is not given it again), and ``quantity × unit price`` when more than one unit."""
    text = item.description
    if item.period:
        label = _period_th(item.period)
        if label not in text:
            text += f" ({label})"
    # A description that already shows its arithmetic (wastewater: m³ × factor × rate) keeps it alone.
    if item.quantity != 1 and item.unit_price is not None and "×" not in text:
        text += f" {item.quantity.normalize():f} × {format_money(item.unit_price)}"
    return text


def receipt_layout(doc: ReceiptDocument) -> OfficialDocument:
    """The receipt as an official document of the kernel's layout."""
    issued = thai_date(doc.issued_at.astimezone(BANGKOK).date(), digits="arabic")
    payer = [Field("ได้รับเงินจาก", doc.payer_name)]
    if doc.payer_address:
        payer.append(Field("ที่อยู่", doc.payer_address))
    payer.append(Field("เลขที่ใบแจ้งหนี้", doc.bill_reference))
    rows = [[str(n), line_text(item), format_money(item.amount)] for n, item in enumerate(doc.lines, start=1)]
    body: list[Block] = [
        Pairs(
            rows=[
                (f"เล่มที่ {doc.book_no}", f"เลขที่ {doc.receipt_no}"),
                (f"ปีงบประมาณ พ.ศ. {doc.fiscal_year}", f"วันที่ {issued}"),
            ]
        ),
        Space(4),
        Fields(items=payer),
        Space(2),
        Table(
            columns=[
                Column(title="ลำดับ", width=14.0, align="C"),
                Column(title="รายการ"),
                Column(title="จำนวนเงิน (บาท)", width=45.0, align="R"),
            ],
            rows=rows,
            total=("รวมเป็นเงิน", format_money(doc.amount)),
        ),
        Paragraph(text=f"จำนวนเงิน (ตัวอักษร) ({doc.amount_text_th})"),
        Space(2),
        Fields(
            items=[
                Field("ชำระเมื่อ", thai_datetime(doc.paid_at)),
                Field("ช่องทาง", doc.channel_th or f"Thai QR ผ่านธนาคาร เลขที่รายการ {doc.bank_txn_id}"),
            ]
        ),
        Space(6),
        Signature(lines=_signature(doc)),
    ]
    if doc.void:
        when = thai_datetime(doc.voided_at) if doc.voided_at else ""
        body += [Space(4), Notice(text=f"ใบเสร็จนี้ถูกยกเลิก (CANCELLED) {when} เหตุผล: {doc.void_reason or '-'}")]
    watermark = None
    if doc.void:
        watermark = Watermark("ยกเลิก", "CANCELLED")
    elif doc.copy_no is not None:
        watermark = Watermark("สำเนา", "COPY")
    address = doc.lao_address_th
    if doc.lao_tax_id:
        address = f"{address + ' ' if address else ''}เลขประจำตัวผู้เสียภาษี {doc.lao_tax_id}"
    return OfficialDocument(
        issuer_th=doc.lao_name_th,
        issuer_address_th=address,
        title_th="ใบเสร็จรับเงิน",
        title_en="RECEIPT",
        corner="ต้นฉบับ (ORIGINAL)" if doc.copy_no is None else f"สำเนา (COPY) พิมพ์ซ้ำครั้งที่ {doc.copy_no}",
        corner_alert=doc.copy_no is not None,
        body=body,
        watermark=watermark,
        stamp=doc.stamp,
        pdf_title=f"ใบเสร็จรับเงิน เล่มที่ {doc.book_no} เลขที่ {doc.receipt_no}/{doc.fiscal_year}",
    )


def _signature(doc: ReceiptDocument) -> list[str]:
    """The receiving officer's name and position under the signature line, then the channel."""
    lines = [f"({doc.officer_name})"] if doc.officer_name else []
    if doc.officer_position:
        lines.append(f"ตำแหน่ง {doc.officer_position}")
    lines.append(f"ผู้รับเงิน {doc.collector}")
    return lines


def render_receipt(doc: ReceiptDocument) -> bytes:
    """The receipt as PDF bytes (original, copy, or cancelled)."""
    return render(receipt_layout(doc))
