"""Request-body examples of the building-permit operations (``kernel.examples``): form ข.1 of a
house from draft to decision, the citizen's own application, the LAO's settings. Ids are
placeholders (:func:`example_id`); ``version`` is the draft's, or the case's once submitted, as the
caller last read it."""

from __future__ import annotations

from typing import Any

import msgspec

from localgov.kernel.examples import ExampleTable, RequestExample, example_id
from localgov.services.permits.config import DEFAULT_CONFIG

APPLICATION = example_id("permits.application")
PAYER = example_id("payments.payer")

#: Form ข.1: a two-storey house of 120 m² on the applicant's own land.
FORM: dict[str, Any] = {
    "kind": "construct",
    "applicant": {
        "kind": "person",
        "name_th": "นายสมชาย ใจดี",
        "id_number": "1101700203450",
        "address_th": "99/1 หมู่ 3 ตำบลแม่เหียะ อำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่ 50100",
        "phone": "081-234-5678",
        "email": "somchai@example.com",
    },
    "landowner": {"is_applicant": True},
    "land": {"title_type": "chanote", "number": "12345", "parcel_no": "67", "area_sq_wa": "100"},
    "building": {
        "use": "residence",
        "structure": "reinforced_concrete",
        "storeys": 2,
        "height_m": "7.5",
        "floor_area_m2": "120",
        "footprint_m2": "70",
        "location": {"address_th": "99/1 หมู่ 3 ตำบลแม่เหียะ", "latitude": 18.7469, "longitude": 98.9506},
        "setbacks": {"front_m": "3", "back_m": "2", "left_m": "1.5", "right_m": "1.5"},
    },
}

EXAMPLES: ExampleTable = {
    "replacePermitSettings": RequestExample(
        "ค่าเริ่มต้นของระบบ (กฎกระทรวง ฉบับที่ 56) — the platform's defaults (Ministerial Regulation 56)",
        msgspec.to_builtins(
            {
                "rules": DEFAULT_CONFIG.rules,
                "fees": DEFAULT_CONFIG.fees,
                "deadlines": DEFAULT_CONFIG.deadlines,
                "default_area_type": DEFAULT_CONFIG.default_area_type,
                "issue_before_payment": False,
                "validity_days": 365,
                "fee_due_days": 30,
                "thai_digits": True,
            }
        ),
    ),
    "checkPermitEligibility": RequestExample(
        "บ้านพักอาศัย 2 ชั้น 120 ตร.ม. — a two-storey house of 120 m²",
        {"kind": "construct", "use": "residence", "storeys": 2, "height_m": "7.5", "floor_area_m2": "120"},
    ),
    "createPermitApplication": RequestExample(
        "ขออนุญาตก่อสร้างบ้านพักอาศัย (ข.1) — to build a house (form ข.1)", {"form": FORM}
    ),
    "savePermitApplicationDraft": RequestExample(
        "แก้ระยะร่นด้านหน้า — a larger front setback",
        {
            "version": 1,
            "form": {
                **FORM,
                "building": {**FORM["building"], "setbacks": {**FORM["building"]["setbacks"], "front_m": "4"}},
            },
        },
        path={"application_id": APPLICATION},
    ),
    "takePermitApplicationAction": (
        RequestExample(
            "เอกสารครบถ้วน — the documents are complete",
            {"version": 2, "comment": "ตรวจเอกสารครบถ้วน"},
            path={"application_id": APPLICATION, "action": "accept_documents"},
        ),
        RequestExample(
            "แบบแปลนถูกต้อง — the plans are approved",
            {"version": 3, "comment": "แบบแปลนเป็นไปตามกฎกระทรวง"},
            path={"application_id": APPLICATION, "action": "approve_plans"},
        ),
    ),
    "schedulePermitInspection": RequestExample(
        "นัดตรวจสถานที่ — the site visit",
        {"version": 4, "at": "2026-12-09T10:00:00+07:00", "place_th": "แปลงที่ดินโฉนดเลขที่ 12345"},
        path={"application_id": APPLICATION},
    ),
    "recordPermitInspection": RequestExample(
        "ตรวจสถานที่ผ่าน — the site is as drawn",
        {"version": 5, "passed": True, "note": "ผังบริเวณตรงตามแบบ ระยะร่นถูกต้อง"},
        path={"application_id": APPLICATION},
    ),
    "assessPermitFees": RequestExample(
        "ประเมินค่าธรรมเนียม ออกใบแจ้งหนี้ถึงผู้ขอ — the fees, billed to the applicant",
        {"version": 6, "payer_id": PAYER, "comment": "ค่าธรรมเนียมใบอนุญาตและค่าตรวจแบบแปลน"},
        path={"application_id": APPLICATION},
    ),
    "extendPermitDecisionTime": RequestExample(
        "ขยายเวลาพิจารณา 45 วัน — 45 more days to decide",
        {"days": 45, "reason_th": "ต้องขอความเห็นจากสำนักงานโยธาธิการและผังเมืองจังหวัด"},
        path={"application_id": APPLICATION},
    ),
    "decidePermitApplication": RequestExample(
        "อนุญาต — approved", {"version": 7, "approve": True}, path={"application_id": APPLICATION}
    ),
    "revokePermit": RequestExample(
        "เพิกถอนใบอนุญาต — revoked",
        {"reason_th": "ก่อสร้างผิดไปจากแบบแปลนที่ได้รับอนุญาต และไม่แก้ไขตามคำสั่ง"},
        path={"application_id": APPLICATION},
    ),
    "createMyPermitApplication": RequestExample("ยื่นขออนุญาตออนไลน์ — applying online", {"form": FORM}),
    "saveMyPermitApplicationDraft": RequestExample(
        "แก้เบอร์โทร — a new phone number",
        {"version": 1, "form": {**FORM, "applicant": {**FORM["applicant"], "phone": "089-876-5432"}}},
        path={"application_id": APPLICATION},
    ),
    "takeMyPermitApplicationAction": RequestExample(
        "ถอนคำขอ — withdraw",
        {"version": 2, "comment": "เปลี่ยนแบบบ้าน จะยื่นใหม่"},
        path={"application_id": APPLICATION, "action": "withdraw"},
    ),
}
