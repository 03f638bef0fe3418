"""Request-body examples of the food-premises operations (``kernel.examples``): a notification from
filing to its certificate (หนังสือรับรองการแจ้งจัดตั้งสถานที่จำหน่ายอาหาร), the certificate's
changes and visits, the fees and the settings. Ids are placeholders (:func:`example_id`);
``version`` is the notification's or the certificate's as last read."""

from __future__ import annotations

from typing import Any

from localgov.kernel.examples import ExampleTable, RequestExample, example_id

NOTIFICATION = example_id("food.notification")
CERTIFICATE = example_id("food.certificate")

#: The one who notifies (ผู้แจ้ง) and the shop.
NOTIFIER: dict[str, Any] = {
    "kind": "person",
    "name": "นางสมศรี มีสุข",
    "national_id": "3100500123458",
    "address": {
        "house_no": "12/3",
        "moo": "4",
        "subdistrict": "แม่เหียะ",
        "district": "เมืองเชียงใหม่",
        "province": "เชียงใหม่",
        "postal_code": "50100",
    },
    "phone": "081-234-5678",
    "email": "somsri@example.com",
}
ESTABLISHMENT: dict[str, Any] = {
    "name": "ร้านข้าวซอยป้าศรี",
    "kind": "sale",
    "area_m2": "45.50",
    "address": {
        "house_no": "99",
        "moo": "2",
        "road": "เชียงใหม่–หางดง",
        "subdistrict": "แม่เหียะ",
        "district": "เมืองเชียงใหม่",
        "province": "เชียงใหม่",
        "postal_code": "50100",
    },
    "latitude": "18.746900",
    "longitude": "98.950600",
    "seats": 24,
    "opening_hours": "07.00–15.00 น. ทุกวัน",
}
#: The visit's checklist (the LAO's own list; these are the items :data:`EXAMPLES` sets).
CHECKLIST: list[dict[str, str]] = [
    {"code": "premises_clean", "title_th": "สถานที่ประกอบการสะอาด เป็นระเบียบ", "title_en": "Premises clean and tidy"},
    {
        "code": "prep_above_floor",
        "title_th": "เตรียมและปรุงอาหารสูงจากพื้นอย่างน้อย 60 ซม.",
        "title_en": "Food prepared 60 cm above the floor",
    },
    {"code": "waste_bins", "title_th": "มีถังขยะที่มีฝาปิด", "title_en": "Covered waste bins"},
]

EXAMPLES: ExampleTable = {
    "putFoodSettings": RequestExample(
        "ค่าธรรมเนียมรายปีครบกำหนด 31 มีนาคม — the annual fee falls due on 31 March",
        {
            "annual_due_month": 3,
            "annual_due_day": 31,
            "late_surcharge_percent": "20",
            "late_surcharge_after_days": 0,
            "first_fee_days": 15,
            "reminder_days": 30,
            "revisit_days": 180,
            "publish_register": True,
        },
    ),
    "putFoodChecklist": RequestExample("รายการตรวจสุขลักษณะ — the sanitation checklist", {"items": CHECKLIST}),
    "putFoodFeeBands": RequestExample(
        "อัตราค่าธรรมเนียมตามพื้นที่ — the annual fee by area (per the LAO's ordinance)",
        {
            "bands": [
                {"max_area_m2": "20", "annual_fee": "20.00"},
                {"max_area_m2": "100", "annual_fee": "50.00"},
                {"max_area_m2": "200", "annual_fee": "100.00"},
            ]
        },
    ),
    "addFoodFeeWaiver": RequestExample(
        "ยกเว้นค่าธรรมเนียมช่วงน้ำท่วม — no fee during the floods",
        {
            "starts_on": "2026-10-01",
            "ends_on": "2027-03-31",
            "percent": "100",
            "note_th": "มติสภาเทศบาล ยกเว้นค่าธรรมเนียมแก่ผู้ประกอบการที่ได้รับผลกระทบจากอุทกภัย",
        },
    ),
    "runFoodAnnualFees": RequestExample(
        "ออกใบแจ้งหนี้ค่าธรรมเนียมรายปี 2570 — the annual fees of 2570 (2027)", {"year": 2570}
    ),
    "fileFoodNotification": RequestExample(
        "แจ้งจัดตั้งร้านอาหาร — a food shop is notified",
        {"notifier": NOTIFIER, "establishment": ESTABLISHMENT, "note": "ยื่นที่ศูนย์บริการร่วม"},
    ),
    "requestFoodNotificationDocuments": RequestExample(
        "ขอเอกสารเพิ่ม — documents are missing",
        {"version": 1, "comment": "กรุณาแนบแผนที่ตั้งและแผนผังสถานที่"},
        path={"notification_id": NOTIFICATION},
    ),
    "resubmitFoodNotification": RequestExample(
        "ยื่นเอกสารครบแล้ว — the documents are here",
        {"version": 2, "comment": "แนบแผนผังสถานที่แล้ว"},
        path={"notification_id": NOTIFICATION},
    ),
    "certifyFoodNotification": RequestExample(
        "ออกหนังสือรับรอง — the certificate is issued",
        {"version": 3, "conditions_th": "ต้องรักษาความสะอาดตามหลักเกณฑ์สุขลักษณะตลอดเวลาที่ประกอบกิจการ"},
        path={"notification_id": NOTIFICATION},
    ),
    "refuseFoodNotification": RequestExample(
        "ไม่รับแจ้ง — refused",
        {"version": 1, "comment": "สถานที่ตั้งอยู่ในเขตห้ามจำหน่ายอาหารตามข้อบัญญัติ"},
        path={"notification_id": NOTIFICATION},
    ),
    "withdrawFoodNotification": RequestExample(
        "ผู้แจ้งขอถอน — the notifier withdraws",
        {"version": 1, "comment": "ผู้แจ้งเปลี่ยนสถานที่ตั้งร้าน"},
        path={"notification_id": NOTIFICATION},
    ),
    "changeFoodCertificate": RequestExample(
        "ขยายพื้นที่ร้าน — a larger shop",
        {"version": 1, "area_m2": "60.00", "seats": 32, "holder_phone": "089-765-4321"},
        path={"certificate_id": CERTIFICATE},
    ),
    "recordFoodInspection": RequestExample(
        "ตรวจสถานที่ผ่าน — a visit, every item passed",
        {
            "visited_on": "2026-12-07",
            "answers": [{"code": item["code"], "passed": True} for item in CHECKLIST],
            "note_th": "สถานที่สะอาด ถูกสุขลักษณะ",
        },
        path={"certificate_id": CERTIFICATE},
    ),
    "transferFoodCertificate": RequestExample(
        "โอนกิจการให้บุตร — the business passes to the holder's daughter",
        {
            "version": 2,
            "holder": {**NOTIFIER, "name": "นางสาวสมใจ มีสุข", "national_id": "1101700203450", "phone": "086-111-2222"},
        },
        path={"certificate_id": CERTIFICATE},
    ),
    "cancelFoodCertificate": RequestExample(
        "เลิกกิจการ — the shop closed",
        {"version": 1, "reason": "ผู้ได้รับหนังสือรับรองแจ้งเลิกกิจการ"},
        path={"certificate_id": CERTIFICATE},
    ),
    "revokeFoodCertificate": RequestExample(
        "เพิกถอน — revoked",
        {"version": 1, "reason": "ไม่ปฏิบัติตามคำแนะนำของเจ้าพนักงานสาธารณสุขหลังตรวจซ้ำ 2 ครั้ง"},
        path={"certificate_id": CERTIFICATE},
    ),
}
