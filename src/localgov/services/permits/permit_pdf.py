"""The permit อ.1 as printed (``kernel.documents``' official layout, Sarabun, Buddhist-Era dates,
Thai digits when the LAO prints with them, its emblem when it uploaded one, the QR stamp of the
register). A pure function of its data; rendering is CPU work (``asyncio.to_thread``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from localgov.kernel.documents import (
    Block,
    Field,
    Fields,
    Image,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Signature,
    Watermark,
)
from localgov.kernel.tenancy import LaoProfile
from localgov.kernel.thai import thai_date, to_thai_digits
from localgov.services.permits.eligibility import KIND_TH, USE_TH
from localgov.services.permits.permits import PERMIT_TITLE_EN, PERMIT_TITLE_TH
from localgov.services.permits.schemas import STRUCTURE_TH, TITLE_TH, ApplicationForm

STATUS_MARK = {
    "revoked": Watermark(th="เพิกถอนแล้ว", en="REVOKED"),
    "expired": Watermark(th="หมดอายุ", en="EXPIRED"),
    "void": Watermark(th="ยกเลิก", en="VOID"),
}


class PermitPrint(msgspec.Struct, frozen=True, kw_only=True):
    """What the permit states."""

    number: str
    tracking_number: str
    form: ApplicationForm
    valid_from: dt.date
    valid_until: dt.date
    issued_on: dt.date
    renewals: int
    fee_total: Decimal | None
    receipt_number: str | None
    #: The register's public status (``valid``, ``expired``, ``revoked``).
    status: str


def _n(value: Decimal) -> str:
    return format(value.normalize(), "f")


def permit_fields(data: PermitPrint) -> list[tuple[str, str]]:
    """The permit's statements (label, value) in Arabic digits: what the PDF prints (and a test
    reads back from its text layer)."""
    form = data.form
    assert form.applicant is not None
    assert form.building is not None
    assert form.land is not None
    assert form.kind is not None
    b, land = form.building, form.land
    rows = [
        ("ผู้ได้รับอนุญาต", form.applicant.name_th),
        ("ได้รับอนุญาตให้", KIND_TH[form.kind]),
        ("ชนิดอาคาร", f"{USE_TH[b.use]} ({STRUCTURE_TH[b.structure]})"),
        ("จำนวนชั้น / ความสูง", f"{b.storeys} ชั้น สูง {_n(b.height_m)} เมตร"),
        ("พื้นที่อาคารรวม", f"{_n(b.floor_area_m2)} ตารางเมตร (พื้นที่ปกคลุมดิน {_n(b.footprint_m2)} ตารางเมตร)"),
        ("สถานที่ตั้ง", f"{b.location.address_th} (พิกัด {b.location.latitude:.6f}, {b.location.longitude:.6f})"),
        (
            "ที่ดิน",
            f"{TITLE_TH[land.title_type]} เลขที่ {land.number}"
            + (f" เลขที่ดิน {land.parcel_no}" if land.parcel_no else "")
            + f" เนื้อที่ {_n(land.area_sq_wa)} ตารางวา",
        ),
        (
            "ระยะร่น (หน้า/หลัง/ซ้าย/ขวา)",
            " / ".join(_n(d) for d in (b.setbacks.front_m, b.setbacks.back_m, b.setbacks.left_m, b.setbacks.right_m))
            + " เมตร",
        ),
    ]
    if form.landowner is not None and not form.landowner.is_applicant and form.landowner.name_th:
        rows.append(("เจ้าของที่ดิน", form.landowner.name_th))
    if form.engineer is not None:
        rows.append(("วิศวกรผู้ออกแบบ", f"{form.engineer.name_th} ใบอนุญาตเลขที่ {form.engineer.licence_no}"))
    if form.architect is not None:
        rows.append(("สถาปนิกผู้ออกแบบ", f"{form.architect.name_th} ใบอนุญาตเลขที่ {form.architect.licence_no}"))
    if data.fee_total:
        paid = f" ใบเสร็จรับเงินเลขที่ {data.receipt_number}" if data.receipt_number else " (ยังไม่ได้ชำระ)"
        rows.append(("ค่าธรรมเนียม", f"{data.fee_total:,.2f} บาท{paid}"))
    rows.append(
        (
            "ใบอนุญาตนี้ใช้ได้",
            f"ตั้งแต่วันที่ {thai_date(data.valid_from, digits='arabic')} "
            f"ถึงวันที่ {thai_date(data.valid_until, digits='arabic')}",
        )
    )
    if data.renewals:
        rows.append(("ต่ออายุแล้ว", f"{data.renewals} ครั้ง"))
    return rows


def permit_layout(
    data: PermitPrint, lao: LaoProfile, stamp: QrStamp, *, thai_digits: bool = False, emblem: bytes | None = None
) -> OfficialDocument:
    digits = to_thai_digits if thai_digits else (lambda text: text)
    fields = [Field(label, digits(value)) for label, value in permit_fields(data)]
    body: list[Block] = [
        Pairs(rows=[(digits(f"เลขที่ {data.number}"), digits(f"วันที่ {thai_date(data.issued_on, digits='arabic')}"))]),
        Paragraph(
            text=digits(
                f"อาศัยอำนาจตามความในพระราชบัญญัติควบคุมอาคาร พ.ศ. 2522 และตามคำขอเลขที่ {data.tracking_number} "
                "เจ้าพนักงานท้องถิ่นอนุญาตให้ดำเนินการตามรายละเอียดดังต่อไปนี้"
            )
        ),
        Fields(items=fields, numbered=True),
        Paragraph(
            text=(
                "ผู้ได้รับอนุญาตต้องปฏิบัติตามแบบแปลนและเงื่อนไขที่ได้รับอนุญาต และแสดงใบอนุญาตนี้ไว้ในที่เปิดเผย "
                "ณ สถานที่ก่อสร้าง หากประสงค์จะต่ออายุใบอนุญาตให้ยื่นคำขอก่อนใบอนุญาตสิ้นอายุ"
            ),
            size=13,
        ),
        Signature(lines=["(ลงชื่อ) ........................................ เจ้าพนักงานท้องถิ่น"]),
    ]
    return OfficialDocument(
        issuer_th=lao.name_th,
        issuer_address_th=lao.address_th,
        emblem=Image(data=emblem, width=18) if emblem else None,
        title_th=f"ใบอนุญาต{KIND_TH[data.form.kind]} (แบบ อ.1)" if data.form.kind else PERMIT_TITLE_TH,
        title_en=PERMIT_TITLE_EN,
        body=body,
        footer=f"{lao.name_th} · ใบอนุญาต อ.1 เลขที่ {data.number}",
        watermark=STATUS_MARK.get(data.status),
        stamp=stamp,
        pdf_title=f"ใบอนุญาต อ.1 เลขที่ {data.number}",
    )
