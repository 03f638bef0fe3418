"""Request-body examples of the One Stop Service operations (``kernel.examples``). Ids are
placeholders (:func:`example_id`); ``version`` is the version of the service or the request as the
caller last read it; a request's tracking number and code are those printed on its receipt."""

from __future__ import annotations

from typing import Any

from localgov.kernel.examples import ExampleTable, RequestExample, example_id

SERVICE = example_id("oss.service")
POINT = example_id("oss.point")
CASE = example_id("oss.case")
DEFICIENCY = example_id("oss.deficiency")
NOTICE = example_id("oss.notice")
UNIT = example_id("identity.unit")
#: A catalogue service's code (in the manual's public address) and a request's receipt.
SERVICE_CODE = "official-information"
TRACKING_NUMBER = "5500101-2570-000042"
VERIFICATION_CODE = "7KQ2M-X9TRB"

#: A service manual (คู่มือสำหรับประชาชน): the request for official information.
MANUAL: dict[str, Any] = {
    "name_th": "การขอข้อมูลข่าวสารของราชการ",
    "name_en": "Request for official information",
    "owning_unit_th": "สำนักปลัด",
    "legal_basis": [
        {
            "title_th": "พระราชบัญญัติข้อมูลข่าวสารของราชการ พ.ศ. 2540",
            "title_en": "Official Information Act B.E. 2540 (1997)",
        }
    ],
    "legal_time_limit": {"value": 15, "unit": "days"},
    "channels": [
        {
            "kind": "counter",
            "place_th": "ศูนย์บริการร่วม ชั้น 1 สำนักงานเทศบาล",
            "place_en": "One Stop Service counter, ground floor of the municipal office",
            "hours_th": "จันทร์–ศุกร์ 08.30–16.30 น. (ยกเว้นวันหยุดราชการ)",
            "hours_en": "Monday to Friday 08:30–16:30 (except public holidays)",
        }
    ],
    "criteria_th": "ผู้ใดก็ได้ยื่นคำขอข้อมูลข่าวสารของราชการ โดยระบุข้อมูลที่ต้องการให้ชัดเจน",
    "criteria_en": "Anyone may ask for official information, saying clearly which information.",
    "steps": [
        {
            "title_th": "ตรวจสอบคำขอ",
            "title_en": "Checking the request",
            "duration": {"value": 1, "unit": "days"},
            "unit_th": "สำนักปลัด",
        },
        {
            "title_th": "จัดหาข้อมูลและแจ้งผล",
            "title_en": "Finding the information and answering",
            "duration": {"value": 14, "unit": "days"},
            "unit_th": "สำนักปลัด",
        },
    ],
    # Anyone may ask (the Act asks for no document): an identity card is not required.
    "documents": [],
    "no_fee": True,
    "fees": [],
    "complaint_channels": [
        {
            "name_th": "ศูนย์ดำรงธรรมจังหวัดเชียงใหม่",
            "name_en": "Chiang Mai Damrongdhama Centre",
            "contact_th": "สายด่วน 1567",
            "contact_en": "Hotline 1567",
        }
    ],
}

EXAMPLES: ExampleTable = {
    "createOssService": RequestExample(
        "การขอข้อมูลข่าวสารของราชการ — a request for official information",
        {"code": SERVICE_CODE, "manual": MANUAL, "note": "ตามประกาศคณะกรรมการข้อมูลข่าวสารของราชการ"},
    ),
    "updateOssService": RequestExample(
        "เพิ่มช่องทางออนไลน์ — an online channel as well",
        {
            "version": 1,
            "manual": {
                **MANUAL,
                "channels": [
                    *MANUAL["channels"],
                    {
                        "kind": "online",
                        "place_th": "เว็บไซต์เทศบาล",
                        "place_en": "The municipality's website",
                        "hours_th": "ตลอด 24 ชั่วโมง",
                        "hours_en": "Any time",
                        "url": "https://www.maehia.go.th/oss",
                    },
                ],
            },
            "note": "เพิ่มช่องทางยื่นคำขอออนไลน์",
        },
        path={"service_id": SERVICE},
    ),
    "publishOssService": RequestExample(
        "เผยแพร่ฉบับที่ 2 — publish version 2", {"version": 2}, path={"service_id": SERVICE}
    ),
    "createOssServicePoint": RequestExample(
        "จุดบริการงานทะเบียน — the civil registration desk",
        {
            "code": "B",
            "name_th": "งานทะเบียนราษฎร",
            "name_en": "Civil registration",
            "location_th": "อาคาร 2 ชั้น 1",
        },
    ),
    "updateOssServicePoint": RequestExample(
        "ย้ายที่ตั้ง — a new location", {"location_th": "อาคาร 1 ชั้น 1 ช่องบริการ 3"}, path={"point_id": POINT}
    ),
    "issueOssQueueTicket": RequestExample(
        "บัตรคิวสำหรับขอข้อมูลข่าวสาร — a ticket for a request for information",
        {"service_id": SERVICE},
        path={"point_id": POINT},
    ),
    "callNextOssQueueTicket": RequestExample(
        "เรียกคิวถัดไปที่ช่อง 2 — next, at desk 2", {"desk": "2"}, path={"point_id": POINT}
    ),
    "openOssWalkInRequest": RequestExample(
        "ยื่นคำขอที่เคาน์เตอร์ — a request filed at the counter",
        {
            "service_code": SERVICE_CODE,
            "applicant_name": "นายสมชาย ใจดี",
            "applicant_thai_id": "1101700203450",
            "phone": "081-234-5678",
            "address_th": "45 หมู่ 2 ตำบลแม่เหียะ อำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่ 50100",
            "details_th": "ขอสำเนาแผนพัฒนาท้องถิ่น พ.ศ. 2566–2570",
        },
    ),
    "assignOssRequest": RequestExample(
        "มอบหมายให้กองคลัง — to the finance division", {"version": 1, "unit_id": UNIT}, path={"case_id": CASE}
    ),
    "addOssRequestComment": RequestExample(
        "แจ้งผู้ยื่นคำขอ — a note the applicant sees",
        {"body": "เจ้าหน้าที่กำลังรวบรวมเอกสาร คาดว่าจะแล้วเสร็จภายใน 7 วันทำการ", "visible_to_applicant": True},
        path={"case_id": CASE},
    ),
    "takeOssRequestAction": (
        RequestExample(
            "เริ่มตรวจสอบคำขอที่ยื่นออนไลน์ — start checking a request filed online",
            {"version": 2, "comment": "เริ่มตรวจสอบเอกสาร"},
            path={"case_id": CASE, "action": "start_check"},
        ),
        RequestExample(
            "รับเรื่องไว้พิจารณา — complete: on to consideration",
            {"version": 3},
            path={"case_id": CASE, "action": "accept"},
        ),
        RequestExample(
            "อนุญาต — approve",
            {"version": 4, "comment": "จัดส่งสำเนาให้ผู้ยื่นคำขอแล้ว"},
            path={"case_id": CASE, "action": "approve"},
        ),
    ),
    "recordOssDeficiencies": RequestExample(
        "คำขอยังไม่ชัดเจน — the request is incomplete",
        {
            "version": 2,
            "items": [
                {"kind": "criterion", "criterion_th": "ระบุปีของแผนพัฒนาท้องถิ่นที่ต้องการ"},
                {"kind": "criterion", "criterion_th": "ลงลายมือชื่อผู้ยื่นคำขอในแบบคำขอ"},
            ],
            "deadline_working_days": 7,
            "note_th": "กรุณานำเอกสารมายื่นภายในกำหนด มิฉะนั้นจะคืนคำขอ",
            "applicant_signed": False,
        },
        path={"case_id": CASE},
    ),
    "recordOssDeficiencySignature": RequestExample(
        "ผู้ยื่นลงนามในบันทึกแล้ว (ฉบับกระดาษ) — the applicant signed the paper record",
        {},
        path={"case_id": CASE, "record_id": DEFICIENCY},
    ),
    "recordOssDeficiencySupplied": RequestExample(
        "ผู้ยื่นนำเอกสารมาครบ — supplied at the counter",
        {"version": 3, "comment": "ผู้ยื่นระบุปีและลงลายมือชื่อแล้ว"},
        path={"case_id": CASE, "record_id": DEFICIENCY},
    ),
    "setOssCaseStateSetting": RequestExample(
        "ตรวจสอบภายใน 2 วัน โดยสำนักปลัด — two days to check, by the secretary's office",
        {"case_type": "oss.request", "state": "checking", "sla_days": 2, "assignee_unit_id": UNIT},
    ),
    "fileMyOssRequest": RequestExample(
        "ยื่นคำขอออนไลน์ — a request filed online",
        {
            "service_code": SERVICE_CODE,
            "phone": "089-876-5432",
            "details_th": "ขอสำเนาข้อบัญญัติงบประมาณรายจ่ายประจำปี พ.ศ. 2570",
        },
    ),
    "addMyOssRequestComment": RequestExample(
        "สอบถามความคืบหน้า — asking how it goes",
        {"body": "ขอทราบว่าจะได้รับเอกสารประมาณวันใด"},
        path={"case_id": CASE},
    ),
    "supplyMyOssDeficiencyItems": RequestExample(
        "ส่งเอกสารเพิ่มเติมแล้ว — the missing items are sent",
        {"version": 3, "comment": "ระบุปี พ.ศ. 2570 และลงลายมือชื่อในแบบคำขอแล้ว"},
        path={"case_id": CASE, "record_id": DEFICIENCY},
    ),
    "withdrawMyOssRequest": RequestExample(
        "ขอถอนคำขอ — withdraw", {"version": 4, "comment": "ได้รับข้อมูลจากเว็บไซต์แล้ว"}, path={"case_id": CASE}
    ),
    "trackOssRequest": RequestExample(
        "ติดตามสถานะจากใบรับคำขอ — the status, from the receipt",
        {"tracking_number": TRACKING_NUMBER, "verification_code": VERIFICATION_CODE},
    ),
    "setOssCalendarDay": RequestExample(
        "วันหยุดพิเศษของเทศบาล — a day off of the LAO",
        {"working": False, "note_th": "วันหยุดชดเชยงานประเพณียี่เป็ง"},
        path={"day": "2026-11-25"},
    ),
    "updateOssNoticeSettings": RequestExample(
        "ส่งสำเนาถึง ก.พ.ร. — copies to the OPDC",
        {"opdc_email": "opdc-copies@maehia.go.th", "opdc_copies": True, "delay_every_days": 7, "result_within_days": 7},
    ),
    "recordOssNoticeHandDelivery": RequestExample(
        "ส่งหนังสือแจ้งผลทางไปรษณีย์ — the result notice sent by post",
        {"how": "letter", "on": "2026-12-07"},
        path={"notice_id": NOTICE},
    ),
}
