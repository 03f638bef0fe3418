"""Request-body examples of the payments operations (``kernel.examples``): what the reference shows
and "try it" sends. Ids are placeholders (:func:`example_id`); a bill's reference and verification
code are those printed on the bill (:data:`BILL_REFERENCE`, :data:`BILL_CODE`)."""

from __future__ import annotations

from typing import Any

from localgov.kernel.examples import ExampleTable, RequestExample, example_id

PAYER = example_id("payments.payer")
ACCOUNT = example_id("payments.account")
TARIFF = example_id("payments.tariff")
BILL = example_id("payments.bill")
RECEIPT = example_id("payments.receipt")
CASH_BOOK = example_id("payments.cash_book")
EXCEPTION = example_id("payments.exception")
#: A bill's reference (Ref.1 of its QR) and its verification code, as printed on the bill.
BILL_REFERENCE = "6912000042"
BILL_CODE = "4821"
#: The LAO's biller ID at the bank: its 13-digit tax ID (check digit right) and the suffix ``01``.
BILLER_ID = "099400015991901"

#: A payer that ``POST /payers`` accepts.
PAYER_EXAMPLE: dict[str, Any] = {
    "kind": "person",
    "name": "นางสาวสมศรี ใจดี",
    "house_no": "12/3",
    "moo": "4",
    "subdistrict": "แม่เหียะ",
    "district": "เมืองเชียงใหม่",
    "province": "เชียงใหม่",
    "postal_code": "50100",
    "phone": "0812345678",
}

_GARBAGE_TARIFF: dict[str, Any] = {
    "fee_type": "garbage",
    "separate_lines": False,
    "bands": [
        {"max_litres": "20", "collection": "40.00", "disposal": "0.00"},
        {"max_litres": "100", "collection": "60.00", "disposal": "20.00"},
        {"max_litres": None, "collection": "150.00", "disposal": "50.00"},
    ],
}

#: One payer of an import: rows with the same ``payer_ref`` repeat the payer's columns, one account each.
_IMPORTED_PAYER: dict[str, Any] = {
    "payer_ref": "R-0001",
    "kind": "person",
    "name": "นายประเสริฐ มั่นคง",
    "house_no": "45",
    "moo": "2",
    "subdistrict": "แม่เหียะ",
    "district": "เมืองเชียงใหม่",
    "province": "เชียงใหม่",
    "postal_code": "50100",
}

EXAMPLES: ExampleTable = {
    "setPaymentSettings": RequestExample(
        "ตั้งรหัสผู้รับชำระ — the LAO's biller ID at the bank",
        {
            "biller_id": BILLER_ID,
            "merchant_name": "MAE HIA MUNICIPALITY",
            "officer_name": "นางสาวมาลี รักงาน",
            "officer_position": "ผู้อำนวยการกองคลัง",
        },
    ),
    "createPayer": RequestExample("บุคคลธรรมดา — a person", PAYER_EXAMPLE),
    "updatePayer": RequestExample(
        "เปลี่ยนเบอร์โทรและอีเมล — new phone and e-mail",
        {"phone": "0891234567", "email": "somsri@example.com"},
        path={"payer_id": PAYER},
    ),
    "createAccount": RequestExample(
        "บัญชีค่าขยะ 40 ลิตรต่อวัน — a garbage account, 40 litres a day",
        {"payer_id": PAYER, "fee_type": "garbage", "start_date": "2026-10-01", "litres_per_day": "40"},
    ),
    "updateAccount": RequestExample(
        "ปริมาณขยะเพิ่มเป็น 60 ลิตรต่อวัน — now 60 litres a day",
        {"litres_per_day": "60"},
        path={"account_id": ACCOUNT},
    ),
    "createAdvanceBill": RequestExample(
        "ชำระล่วงหน้า 3 เดือน — three months in advance", {"months": 3}, path={"account_id": ACCOUNT}
    ),
    "seedDefaultTariffs": RequestExample(
        "อัตราตัวอย่างเริ่มใช้ 1 ต.ค. 2569 — the default tariffs from 1 October 2026",
        {"effective_from": "2026-10-01"},
    ),
    "createTariff": RequestExample(
        "อัตราค่าขยะใหม่ตามข้อบัญญัติ — a new garbage tariff from next fiscal year",
        {
            "effective_from": "2027-10-01",
            "definition": _GARBAGE_TARIFF,
            "due_days": 30,
            "late_surcharge": {"percent": "1.5", "after_days": 30},
        },
    ),
    "replaceTariff": RequestExample(
        "แก้อัตราที่ยังไม่มีผลบังคับ — correct a version not in force yet",
        {"effective_from": "2027-10-01", "definition": _GARBAGE_TARIFF, "due_days": 45},
        path={"tariff_id": TARIFF},
    ),
    "createBackdatedTariffAndRebill": RequestExample(
        "อัตราค่าน้ำเสียย้อนหลัง — a backdated wastewater tariff, re-billing the months it reprices",
        {
            "effective_from": "2026-11-01",
            "definition": {"fee_type": "wastewater", "factor": "0.8", "rates": {"household": "2.50"}},
            "due_days": 30,
            "backdated_reason": "เทศบัญญัติ เรื่องค่าบำบัดน้ำเสีย พ.ศ. 2569 มีผลย้อนหลัง",
        },
    ),
    "runBills": RequestExample(
        "ออกใบแจ้งหนี้ค่าขยะเดือน ธ.ค. 2569 — garbage bills of December 2026",
        {"fee_type": "garbage", "period": "2026-12"},
    ),
    "createBill": RequestExample(
        "ค่าเช่าแผงตลาด — a market stall's rent",
        {
            "payer_id": PAYER,
            "due_date": "2026-12-31",
            "lines": [
                {"fee_code": "market_stall", "description_th": "ค่าเช่าแผงตลาดสด เดือนธันวาคม 2569", "amount": "300.00"}
            ],
        },
    ),
    "cancelBill": RequestExample(
        "ออกซ้ำ — issued twice", {"reason": "ออกใบแจ้งหนี้ซ้ำ (duplicate bill)"}, path={"bill_id": BILL}
    ),
    "lookupBill": RequestExample(
        "ค้นหาใบแจ้งหนี้จากเลขอ้างอิง — a bill by its printed reference",
        {"reference": BILL_REFERENCE, "verification_code": BILL_CODE},
    ),
    "linkMyPayer": RequestExample(
        "ผูกใบแจ้งหนี้กับบัญชีของฉัน — link the payer of a bill I hold",
        {"reference": BILL_REFERENCE, "verification_code": BILL_CODE},
    ),
    "importPayers": RequestExample(
        "นำเข้าผู้ชำระจากทะเบียนเดิม — payers and their accounts from the old register (JSON rows; or the CSV file)",
        {
            "rows": [
                {
                    **_IMPORTED_PAYER,
                    "account_no": "G-2569-0001",
                    "fee_type": "garbage",
                    "start_date": "2026-10-01",
                    "litres_per_day": "20",
                },
                {
                    **_IMPORTED_PAYER,
                    "account_no": "W-2569-0001",
                    "fee_type": "wastewater",
                    "customer_class": "household",
                    "meter_no": "MT-88231",
                },
            ]
        },
    ),
    "importMeterReadings": RequestExample(
        "หน่วยน้ำใช้เดือนพฤศจิกายน — November's water use per account (JSON rows; or the CSV file)",
        {"rows": [{"account_no": "W-2569-0001", "period": "2026-11", "usage_m3": "18.5"}]},
    ),
    "importBankStatement": RequestExample(
        "รายการเดินบัญชีของธนาคาร — the bank's statement lines (JSON rows; or the CSV file)",
        {
            "rows": [
                {
                    "transaction_id": "KTB202612070004321",
                    "paid_at": "2026-12-07T09:12:00+07:00",
                    "biller_id": BILLER_ID,
                    "ref1": BILL_REFERENCE,
                    "amount": "300.00",
                }
            ]
        },
    ),
    "receiveBankPaymentNotification": RequestExample(
        "ธนาคารแจ้งการชำระด้วย Thai QR — the bank reports a Thai QR payment (signed: X-Localgov-Signature)",
        {
            "transaction_id": "KTB202612060001234",
            "biller_id": BILLER_ID,
            "ref1": BILL_REFERENCE,
            "amount": "300.00",
            "paid_at": "2026-12-06T16:45:00+07:00",
            "payer_bank": "006",
        },
    ),
    "applyPaymentException": RequestExample(
        "นำเงินไปชำระใบแจ้งหนี้ — apply the money to its bill",
        {"note": "ผู้ชำระยืนยันทางโทรศัพท์ ให้นำเงินชำระใบแจ้งหนี้ (confirmed by phone)"},
        path={"exception_id": EXCEPTION},
    ),
    "resolvePaymentException": RequestExample(
        "คืนเงินแล้ว — refunded by the bank",
        {"note": "โอนคืนผู้ชำระแล้ว ตามหนังสือธนาคาร เลขที่ 123/2569 (refunded)"},
        path={"exception_id": EXCEPTION},
    ),
    "voidReceipt": RequestExample(
        "รับเงินผิดราย เก็บเป็นเครดิต — wrong bill, the money kept as the payer's credit",
        {"reason": "รับชำระผิดใบแจ้งหนี้ (wrong bill)", "money_to": "credit"},
        path={"receipt_id": RECEIPT},
    ),
    "refundPayerCredit": RequestExample(
        "คืนเงินเครดิตเป็นเงินสด — pay part of the credit back in cash",
        {"amount": "100.00", "note": "คืนเงินสดตามคำขอ ลงวันที่ 7 ธ.ค. 2569 (cash refund)"},
        path={"payer_id": PAYER},
    ),
    "openCashBook": RequestExample("เงินทอนตั้งต้น 1,000 บาท — a float of 1,000 baht", {"opening_float": "1000.00"}),
    "takeCounterPayment": RequestExample(
        "รับเงินสด — cash at the counter",
        {"bill_ids": [BILL], "method": "cash", "tendered": "500.00"},
    ),
    "closeCashBook": RequestExample(
        "ปิดรอบ นับเงินได้ตรง — close the day, cash counted",
        {"counted_cash": "1300.00", "note": "นับเงินสดตรงกับรายงาน (counted)"},
        path={"book_id": CASH_BOOK},
    ),
    "setRevenueCode": RequestExample(
        "รหัสบัญชีรายได้ค่าขยะ — the revenue code of garbage fees",
        {"code": "41210003", "name_th": "ค่าธรรมเนียมเก็บและขนขยะมูลฝอย"},
        path={"prefix": "garbage"},
    ),
    "closeDebtorYear": RequestExample("ปิดปีงบประมาณ 2569 — close fiscal year 2569", {"fiscal_year": "2569"}),
    "setPaymentSandbox": RequestExample("เปิดโหมดทดสอบ — turn the sandbox on", {"enabled": True}),
    "sandboxPayBill": (
        RequestExample(
            "จำลองการชำระเต็มจำนวน — pay a bill in full through the simulator", {"reference": BILL_REFERENCE}
        ),
        RequestExample(
            "จำลองการโอนเกิน — an over-payment (an exception to resolve)",
            {"reference": BILL_REFERENCE, "amount": "350.00"},
        ),
    ),
}
