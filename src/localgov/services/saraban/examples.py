"""Request-body examples of the e-Saraban operations (``kernel.examples``): the LAO's letters from
draft to issue, a letter received and routed, the settings; and the operator's directory of outside
agencies. Ids are placeholders (:func:`example_id`); ``version`` is the letter's as last read."""

from __future__ import annotations

from localgov.kernel.examples import ExampleTable, RequestExample, example_id

LETTER = example_id("saraban.letter")
UNIT = example_id("identity.unit")
#: The staff member who signs (the signer named on a letter approves it).
SIGNER = example_id("identity.signer")
#: The LAO's own agency code (รหัสตัวพยัญชนะและเลขประจำส่วนราชการ), printed before its letters' numbers.
AGENCY_CODE = "ชม 52101"
#: An agency outside the platform, by its integer id in the operator's directory, and its code.
OUTSIDE_AGENCY_ID = 5001
OUTSIDE_AGENCY_CODE = "มท 0810"

EXAMPLES: ExampleTable = {
    "putSarabanSettings": RequestExample(
        "รหัสส่วนราชการและผู้รับเรื่องลับ — the agency code and who opens secret letters",
        {"agency_code": AGENCY_CODE, "thai_digits": True, "secret_officer_ids": [SIGNER]},
    ),
    "createSarabanIssuingUnit": RequestExample(
        "กองคลังออกเลขหนังสือเอง — the finance division numbers its own letters",
        {"code": f"{AGENCY_CODE}.2", "name_th": "กองคลัง เทศบาลเมืองแม่เหียะ", "unit_id": UNIT},
    ),
    "putSarabanRetention": RequestExample(
        "อายุการเก็บหนังสือ — how long letters are kept",
        {
            "items": [
                {"kind": "external", "years": 10},
                {"kind": "internal", "years": 10},
                {"kind": "directive", "years": None},
            ]
        },
    ),
    "createSarabanLetter": RequestExample(
        "หนังสือภายนอก เชิญประชุม — an external letter: an invitation to a meeting",
        {
            "kind": "external",
            "subject": "ขอเชิญประชุมคณะกรรมการพัฒนาท้องถิ่น",
            "urgency": "urgent",
            "salutation": "นายอำเภอเมืองเชียงใหม่",
            "references": ["หนังสืออำเภอเมืองเชียงใหม่ ที่ ชม 0118/ว 123 ลงวันที่ 1 ธันวาคม 2569"],
            "enclosures": ["ระเบียบวาระการประชุม จำนวน 1 ฉบับ"],
            "body": (
                "ด้วยเทศบาลเมืองแม่เหียะจะจัดประชุมคณะกรรมการพัฒนาท้องถิ่น ในวันที่ 15 ธันวาคม 2569 "
                "เวลา 09.30 น. ณ ห้องประชุมเทศบาล จึงขอเรียนเชิญท่านเข้าร่วมประชุมตามวันและเวลาดังกล่าว"
            ),
            "signer_staff_id": SIGNER,
            "signer_position": "นายกเทศมนตรีเมืองแม่เหียะ",
            "recipients": [{"kind": "text", "name_th": "นายอำเภอเมืองเชียงใหม่"}],
        },
    ),
    "updateSarabanLetter": RequestExample(
        "แก้ชั้นความเร็ว — now very urgent",
        {"version": 1, "urgency": "very_urgent"},
        path={"letter_id": LETTER},
    ),
    "submitSarabanLetter": RequestExample(
        "เสนอตรวจทาน — for review", {"version": 2, "note": "เสนอเพื่อโปรดพิจารณา"}, path={"letter_id": LETTER}
    ),
    "returnSarabanLetter": RequestExample(
        "ส่งคืนแก้ไข — back for changes",
        {"version": 3, "note": "กรุณาแก้ไขวันประชุมให้ตรงกับปฏิทินของอำเภอ"},
        path={"letter_id": LETTER},
    ),
    "reviewSarabanLetter": RequestExample(
        "ตรวจทานแล้ว — initialled", {"version": 3, "note": "ตรวจทานแล้ว"}, path={"letter_id": LETTER}
    ),
    "approveSarabanLetter": RequestExample(
        "ผู้ลงนามอนุมัติ — approved by its signer", {"version": 4}, path={"letter_id": LETTER}
    ),
    "issueSarabanLetter": RequestExample(
        "ออกเลขและส่ง — number, register and send", {"version": 5}, path={"letter_id": LETTER}
    ),
    "cancelSarabanLetter": RequestExample(
        "ยกเลิกร่าง — the draft is not needed",
        {"version": 1, "note": "เลื่อนการประชุม ไม่ต้องส่งหนังสือ"},
        path={"letter_id": LETTER},
    ),
    "receiveSarabanLetter": RequestExample(
        "รับหนังสือจากจังหวัด — a letter from the province",
        {
            "kind": "external",
            "subject": "ขอความร่วมมือรายงานข้อมูลผู้สูงอายุ",
            "sender_name": "ศาลากลางจังหวัดเชียงใหม่",
            "sender_code": "ชม 0023.3",
            "number_text": "ชม 0023.3/ว 4567",
            "letter_date": "2026-12-01",
            "urgency": "urgent",
            "signer_name": "นายสมศักดิ์ ใจกว้าง",
            "signer_position": "ท้องถิ่นจังหวัดเชียงใหม่",
        },
    ),
    "routeSarabanLetter": RequestExample(
        "เกษียนหนังสือถึงกองคลัง — endorse it to the finance division",
        {"endorsement": "มอบกองคลังดำเนินการ และรายงานภายในกำหนด", "to_unit_id": UNIT, "due_on": "2026-12-15"},
        path={"letter_id": LETTER},
    ),
    "prepareSarabanDestructionList": RequestExample(
        "บัญชีหนังสือขอทำลาย ปี 2568 — the destruction list of 2568", {"year": 2568}
    ),
    "createSarabanOutsideAgency": RequestExample(
        "กรมส่งเสริมการปกครองท้องถิ่น — the Department of Local Administration",
        {
            "code": OUTSIDE_AGENCY_CODE,
            "name_th": "กรมส่งเสริมการปกครองท้องถิ่น",
            "name_en": "Department of Local Administration",
        },
    ),
    "updateSarabanOutsideAgency": RequestExample(
        "แก้ชื่อภาษาอังกฤษ — a new English name",
        {"name_en": "Department of Local Administration (DLA)"},
        path={"agency_id": OUTSIDE_AGENCY_ID},
    ),
}
