"""Printed papers of a request, in the kernel's official-document layout (``kernel.documents``):
the receipt (ใบรับคำขอ) with the tracking number, the verification code and a QR to the public
status page; and the deficiency record (บันทึกความบกพร่อง) with its items, deadline, the two
signatures and the QR stamp of the register of issued documents.

Layouts are pure functions of their data; rendering is CPU work (``asyncio.to_thread``).
"""

from __future__ import annotations

import datetime as dt

from localgov.kernel.documents import (
    Block,
    Column,
    Field,
    Fields,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Signature,
    Space,
    Table,
)
from localgov.kernel.tenancy import LaoProfile
from localgov.kernel.thai import BANGKOK, thai_date, thai_datetime
from localgov.services.oss.cases import CaseView, RecordRow

CHANNEL_TH = {"online": "ยื่นทางออนไลน์", "counter": "ยื่นที่จุดบริการ"}
STATUS_TH = {
    "open": "รอการแก้ไข",
    "supplied": "แก้ไขแล้ว",
    "expired": "พ้นกำหนด คืนคำขอแล้ว",
    "closed": "ปิดแล้ว (ถอนคำขอ)",
}
ACK_TH = {"online": "รับทราบทางออนไลน์", "counter_signature": "ลงลายมือชื่อที่จุดบริการ"}


def _day(moment: dt.datetime) -> str:
    return thai_date(moment.astimezone(BANGKOK).date(), digits="arabic")


def receipt_layout(case: CaseView, lao: LaoProfile, *, code: str, track_url: str) -> OfficialDocument:
    """The receipt given to the applicant when his request is received."""
    data = case.data
    fields = [
        Field("ผู้ยื่นคำขอ", case.applicant_name),
        Field("เรื่อง", data.service.name_th),
        Field("ช่องทาง", CHANNEL_TH[case.channel]),
        Field("รับคำขอเมื่อ", thai_datetime(case.opened_at)),
    ]
    if case.sla_days is not None:
        fields.append(Field("ระยะเวลาตามคู่มือ", f"{case.sla_days} วันทำการ"))
    if case.due_at is not None:
        fields.append(Field("กำหนดแล้วเสร็จ", _day(case.due_at - dt.timedelta(seconds=1))))
    body: list[Block] = [
        Pairs(rows=[(f"เลขที่คำขอ {case.tracking_number}", f"วันที่ {_day(case.opened_at)}")]),
        Fields(items=fields),
    ]
    if data.documents:
        body.append(Paragraph(text="เอกสารหลักฐานตามคู่มือสำหรับประชาชน", bold=True))
        body.append(
            Table(
                columns=[
                    Column(title="ลำดับ", width=15, align="C"),
                    Column(title="เอกสาร"),
                    Column(title="ยื่นแล้ว", width=30, align="C"),
                ],
                rows=[
                    [str(n), d.name_th, "มี" if d.code in case.on_file else "-"]
                    for n, d in enumerate(data.documents, start=1)
                ],
            )
        )
    body += [
        Space(3),
        Paragraph(
            text=("ติดตามสถานะคำขอได้ตลอดเวลาด้วยเลขที่คำขอและรหัสตรวจสอบด้านล่าง (สแกน QR) โปรดเก็บรหัสตรวจสอบไว้เป็นความลับ")
        ),
        Paragraph(text="Follow this request with its number and the verification code below.", size=12),
    ]
    return OfficialDocument(
        issuer_th=lao.name_th,
        issuer_address_th=lao.address_th,
        title_th="ใบรับคำขอ",
        title_en="Receipt of a request",
        body=body,
        footer=f"{lao.name_th} · ใบรับคำขอ {case.tracking_number}",
        stamp=QrStamp(url=track_url, code=code, caption_th="ติดตามสถานะคำขอ", caption_en="Follow this request"),
        pdf_title=f"ใบรับคำขอ {case.tracking_number}",
    )


def deficiency_layout(case: CaseView, record: RecordRow, lao: LaoProfile, stamp: QrStamp) -> OfficialDocument:
    """The deficiency record as printed, signed by the officer, for the applicant to acknowledge."""
    deadline = thai_date(record.deadline, digits="arabic")
    staff_lines = [
        f"(ลงชื่อ) {record.staff_name}",
        f"({record.staff_name})",
        "เจ้าหน้าที่ผู้ตรวจสอบคำขอ",
        f"ลงนามเมื่อ {thai_datetime(record.created_at)}",
    ]
    if record.applicant_ack_at is not None and record.applicant_ack_method is not None:
        applicant_lines = [
            f"(ลงชื่อ) {case.applicant_name}",
            f"({case.applicant_name})",
            "ผู้ยื่นคำขอ",
            f"{ACK_TH[record.applicant_ack_method]} {thai_datetime(record.applicant_ack_at)}",
        ]
    else:
        applicant_lines = [
            "(ลงชื่อ) ..........................................",
            f"({case.applicant_name})",
            "ผู้ยื่นคำขอ",
            "วันที่ ..........................",
        ]
    body: list[Block] = [
        Pairs(rows=[(f"เลขที่ {record.number}", f"วันที่ {_day(record.created_at)}")]),
        Fields(
            items=[
                Field("เลขที่คำขอ", case.tracking_number),
                Field("ผู้ยื่นคำขอ", case.applicant_name),
                Field("เรื่อง", case.data.service.name_th),
            ]
        ),
        Paragraph(
            text=(
                "เจ้าหน้าที่ได้ตรวจสอบคำขอและเอกสารหลักฐานตามคู่มือสำหรับประชาชนแล้ว ปรากฏว่ายังไม่ครบถ้วน "
                "ผู้ยื่นคำขอจะต้องแก้ไขหรือยื่นเอกสารเพิ่มเติม ดังรายการต่อไปนี้"
            )
        ),
        Table(
            columns=[
                Column(title="ลำดับ", width=15, align="C"),
                Column(title="รายการ"),
                Column(title="หมายเหตุ", width=55),
            ],
            rows=[[str(item.seq), item.label_th, item.note_th or "-"] for item in record.items],
        ),
        Space(2),
        Paragraph(
            text=(
                f"ผู้ยื่นคำขอต้องแก้ไขหรือยื่นเอกสารเพิ่มเติมให้ครบถ้วนภายในวันที่ {deadline} "
                "หากพ้นกำหนด ถือว่าผู้ยื่นคำขอไม่ประสงค์จะดำเนินการต่อ และจะคืนคำขอ"
            ),
            bold=True,
        ),
        Paragraph(text="รายการที่ไม่ได้ระบุไว้ในบันทึกนี้ ไม่อาจใช้เป็นเหตุในการไม่อนุญาตตามคำขอนี้ได้"),
        Paragraph(
            text=(
                f"Missing items to be supplied by {record.deadline.isoformat()}, after which the request is returned. "
                "Items not listed here cannot be grounds for refusing this request."
            ),
            size=12,
        ),
    ]
    if record.note_th:
        body.append(Fields(items=[Field("หมายเหตุ", record.note_th)]))
    body += [Space(6), Signature(lines=staff_lines), Space(4), Signature(lines=applicant_lines)]
    return OfficialDocument(
        issuer_th=lao.name_th,
        issuer_address_th=lao.address_th,
        title_th="บันทึกความบกพร่องของคำขอ",
        title_en="Record of the deficiencies of a request",
        corner=f"สถานะ: {STATUS_TH[record.status]}",
        corner_alert=record.status == "open",
        body=body,
        footer=f"{lao.name_th} · บันทึกความบกพร่อง {record.number}",
        stamp=stamp,
        pdf_title=f"บันทึกความบกพร่อง {record.number}",
    )
