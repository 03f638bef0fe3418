"""The operator's invoice and credit note as a Thai PDF (kernel documents), VAT per line and in total."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from localgov.kernel.documents.template import (
    Block,
    Column,
    Field,
    Fields,
    Notice,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Space,
    Table,
    Watermark,
    render,
)
from localgov.kernel.thai import baht_text, thai_date
from localgov.platform.billing.models import OperatorInvoice, OperatorInvoiceLine
from localgov.platform.models import Tenant

ISSUER_TH = "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน) ผู้ให้บริการแพลตฟอร์ม"
ISSUER_ADDRESS_TH = "ผู้ให้บริการแพลตฟอร์มบริการสาธารณะขององค์กรปกครองส่วนท้องถิ่น"


def _baht(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _quantity(q: Decimal) -> str:
    return f"{q:,.0f}" if q == q.to_integral_value() else f"{q.normalize():,}"


def invoice_document(
    invoice: OperatorInvoice, lines: Sequence[OperatorInvoiceLine], tenant: Tenant, qr_payload: str | None = None
) -> OfficialDocument:
    """The document; ``qr_payload`` (a finalised, unpaid invoice's Thai QR) is stamped to pay by."""
    credit = invoice.kind == "credit_note"
    title_th = "ใบลดหนี้" if credit else "ใบแจ้งหนี้ค่าบริการแพลตฟอร์ม"
    title_en = "Credit note" if credit else "Platform service fee invoice"
    last_day = invoice.period_end - dt.timedelta(days=1)
    period = f"{thai_date(invoice.period_start, digits='arabic')} ถึง {thai_date(last_day, digits='arabic')}"
    rows = [
        [str(ln.position), ln.description_th, f"{_quantity(ln.quantity)} {ln.unit}", _baht(ln.amount), _baht(ln.vat)]
        for ln in lines
    ]
    body: list[Block] = [
        Pairs(
            rows=[
                (
                    f"เลขที่ {invoice.number or 'ร่าง (draft)'}",
                    f"วันที่ {thai_date(invoice.issued_on, digits='arabic')}" if invoice.issued_on else "",
                ),
                (
                    f"รหัส อปท. {tenant.dla_code}",
                    f"ครบกำหนดชำระ {thai_date(invoice.due_on, digits='arabic')}" if invoice.due_on else "",
                ),
            ]
        ),
        Fields(items=[Field("ผู้รับบริการ", tenant.name_th), Field("งวดบริการ", period)]),
        Table(
            columns=[
                Column(title="ที่", width=10, align="C"),
                Column(title="รายการ"),
                Column(title="จำนวน", width=30, align="R"),
                Column(title="จำนวนเงิน (บาท)", width=32, align="R"),
                Column(title="ภาษี 7%", width=24, align="R"),
            ],
            rows=rows,
        ),
        Fields(
            items=[
                Field("รวมก่อนภาษี", f"{_baht(invoice.subtotal)} บาท"),
                Field("ภาษีมูลค่าเพิ่ม 7%", f"{_baht(invoice.vat)} บาท"),
                Field("รวมทั้งสิ้น", f"{_baht(invoice.total)} บาท ({baht_text(invoice.total)})"),
            ]
        ),
        Space(4),
        Paragraph(
            text="ชำระโดยโอนเข้าบัญชีของผู้ให้บริการแพลตฟอร์ม โปรดระบุเลขที่ใบแจ้งหนี้ในการโอน"
            if not credit
            else "ใบลดหนี้นี้ลดยอดตามใบแจ้งหนี้ที่อ้างถึง",
            size=12,
        ),
    ]
    if invoice.status == "paid":
        body.append(Notice(text="ชำระแล้ว / Paid"))
    watermark = None
    if invoice.status == "void":
        watermark = Watermark("ยกเลิก", "CANCELLED")
    elif invoice.status == "draft":
        watermark = Watermark("ร่าง", "DRAFT")
    return OfficialDocument(
        issuer_th=ISSUER_TH,
        issuer_address_th=ISSUER_ADDRESS_TH,
        title_th=title_th,
        title_en=title_en,
        corner=invoice.number,
        body=body,
        footer=f"{title_th} {invoice.number or ''} · {tenant.name_th}",
        watermark=watermark,
        stamp=None
        if qr_payload is None or invoice.number is None
        else QrStamp(
            url=qr_payload,
            code=invoice.number.replace("-", ""),
            caption_th="สแกนชำระด้วย Thai QR",
            caption_en="Pay by Thai QR",
            code_label="เลขอ้างอิง (Ref1)",
            show_url=False,  # a payment payload, not an address: the QR alone carries it
        ),
    )


def render_invoice(
    invoice: OperatorInvoice, lines: Sequence[OperatorInvoiceLine], tenant: Tenant, qr_payload: str | None = None
) -> bytes:
    """PDF bytes (CPU work: call through ``asyncio.to_thread``)."""
    return render(invoice_document(invoice, lines, tenant, qr_payload))
