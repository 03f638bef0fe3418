"""The certificate of notification as printed (kernel official-document layout, Sarabun, BE dates,
Thai digits in dates, the QR stamp of the register). A pure function of its data; rendering is
CPU work (``asyncio.to_thread``)."""

from __future__ import annotations

from typing import Any

import msgspec

from localgov.kernel.documents import (
    Block,
    Field,
    Fields,
    Notice,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Signature,
    Space,
    Watermark,
)
from localgov.kernel.tenancy import LaoProfile
from localgov.kernel.thai import thai_date
from localgov.kernel.validation import ThaiAddress, address_line_th, format_money
from localgov.services.food.certificates import KIND_TH, title_of

HOLDER_ID_LABEL = {"person": "เลขประจำตัวประชาชน", "juristic": "เลขทะเบียนนิติบุคคล"}
ENDED = {
    "cancelled": ("ยกเลิกแล้ว", "CANCELLED", "หนังสือรับรองฉบับนี้ถูกยกเลิกแล้ว"),
    "revoked": ("เพิกถอนแล้ว", "REVOKED", "หนังสือรับรองฉบับนี้ถูกเพิกถอนแล้ว"),
}


def area_text(area: Any) -> str:
    return f"{area} ตารางเมตร"


def fee_text(amount: Any) -> str:
    return f"{format_money(amount)} บาทต่อปี"


def printed_fields(row: Any) -> list[Field]:
    """What the certificate states, label by label (the tests read them back from the PDF)."""
    holder_address = address_line_th(msgspec.convert(row["holder_address"], ThaiAddress)) or "-"
    fields = [
        Field("ผู้แจ้ง", row["holder_name"]),
        Field(HOLDER_ID_LABEL[row["holder_kind"]], row["holder_national_id"]),
        Field("ที่อยู่ผู้แจ้ง", holder_address),
        Field("โทรศัพท์", row["holder_phone"]),
        Field("ชื่อสถานประกอบการ", row["premises_name"]),
        Field("ประเภท", KIND_TH[row["premises_kind"]]),
        Field("พื้นที่ประกอบการ", area_text(row["area_m2"])),
        Field("ที่ตั้ง", row["premises_address_th"]),
        Field("ค่าธรรมเนียม", fee_text(row["annual_fee"])),
        Field("ออกให้ ณ วันที่", thai_date(row["issued_on"])),
    ]
    if row["opening_hours"]:
        fields.insert(8, Field("เวลาทำการ", row["opening_hours"]))
    return fields


def certificate_layout(row: Any, lao: LaoProfile, stamp: QrStamp) -> OfficialDocument:
    title_th, title_en = title_of(row["premises_kind"])
    ended = ENDED.get(row["status"])
    body: list[Block] = [
        Pairs(rows=[(f"เลขที่ {row['number']}", f"วันที่ {thai_date(row['issued_on'])}")]),
        Paragraph(
            text=(
                f"{lao.name_th} ได้รับแจ้งการจัดตั้ง{KIND_TH[row['premises_kind']]}ตามมาตรา 48"
                " แห่งพระราชบัญญัติการสาธารณสุข พ.ศ. 2535 ไว้แล้ว ดังนี้"
            )
        ),
        Fields(items=printed_fields(row), numbered=True),
        Paragraph(text="เงื่อนไข", bold=True),
        Paragraph(text=row["conditions_th"] or "-"),
        Space(4),
        Signature(lines=["(ลงชื่อ) ........................................", "เจ้าพนักงานท้องถิ่น"]),
    ]
    if ended is not None:
        body.insert(0, Notice(text=f"{ended[2]} เมื่อ {thai_date(row['ended_at'].date())}"))
    return OfficialDocument(
        issuer_th=lao.name_th,
        issuer_address_th=lao.address_th,
        title_th=title_th,
        title_en=title_en,
        corner="ต้นฉบับ (ORIGINAL)" if ended is None else ended[0],
        corner_alert=ended is not None,
        body=body,
        footer="ตรวจสอบความถูกต้องของหนังสือรับรองได้ด้วยคิวอาร์โค้ด / Verify this certificate with the QR code",
        watermark=Watermark(th=ended[0], en=ended[1]) if ended else None,
        stamp=stamp,
        pdf_title=f"{title_th} {row['number']}",
    )
