"""Request-body examples of the platform's operations (``kernel.examples``): an LAO administrator's
own tenant (contact, CORS), and the operator's tenants, signups and billing. The operator's objects
have integer ids: :data:`TENANT_ID`, :data:`SUBSCRIPTION_ID`, :data:`INVOICE_ID` and
:data:`SIGNUP_ID` stand for the caller's own."""

from __future__ import annotations

from localgov.kernel.examples import ExampleTable, RequestExample

TENANT_ID = 1001
SUBSCRIPTION_ID = 2001
INVOICE_ID = 3001
SIGNUP_ID = 4001
#: An LAO's signing certificate and its key as a PKCS#12 file (base64; this one is cut short: the
#: LAO's own file goes here) and the file's password.
PKCS12_BASE64 = "MIIKPAIBAzCCCfYGCSqGSIb3DQEHAaCCCecEggnjMIIJ3zCCBg8GCSqGSIb3DQEHBqCCBgAwggX8AgEAMIIF9QYJKoZIhvcNAQcB"
PKCS12_PASSWORD = "รหัสผ่านของไฟล์ใบรับรอง"  # noqa: S105  (an example shown in the reference)
#: An invoice's reference (Ref.1 of its Thai QR: its number without dashes).
INVOICE_REF = "INV2570000042"
#: The signup's contact address, and the secrets of the links e-mailed to it (verify, status).
SIGNUP_EMAIL = "palad@maehia.go.th"
VERIFY_TOKEN = "lgs_U2lnbnVwLXZlcmlmeS1leGFtcGxlLXRva2Vu"  # noqa: S105  (an example shown in the reference)
STATUS_TOKEN = "lgs_U2lnbnVwLXN0YXR1cy1leGFtcGxlLXRva2Vu"  # noqa: S105  (likewise)
#: A plan of the operator's offer (the catalogue seeds ``basic``, ``standard`` and ``premium``).
PLAN_CODE = "standard"

EXAMPLES: ExampleTable = {
    "updateTenantContact": RequestExample(
        "ที่อยู่และเวลาทำการ — address and office hours",
        {
            "address_th": "99 หมู่ 1 ตำบลแม่เหียะ อำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่ 50100",
            "phone": "053-123456",
            "email": "saraban@maehia.go.th",
            "website": "https://www.maehia.go.th",
            "office_hours_th": "จันทร์–ศุกร์ 08.30–16.30 น. เว้นวันหยุดราชการ",
        },
    ),
    "setTenantCorsOrigins": RequestExample(
        "เว็บไซต์ของเทศบาลเรียก API ได้ — the LAO's website may call the API",
        {"origins": ["https://www.maehia.go.th", "https://app.maehia.go.th"]},
    ),
    "installSigningCertificate": RequestExample(
        "ติดตั้งใบรับรองอิเล็กทรอนิกส์ของเทศบาล (.p12) — the LAO's signing certificate, as a PKCS#12 file",
        {"pkcs12_base64": PKCS12_BASE64, "password": PKCS12_PASSWORD},
        description="`pkcs12_base64`: the whole file in base64 (the value shown is cut short).",
    ),
    "suspendTenant": RequestExample(
        "ค้างชำระค่าบริการ — the subscription is unpaid",
        {"reason": "ค้างชำระค่าบริการเกิน 60 วัน (unpaid for over 60 days)"},
        path={"tenant_id": TENANT_ID},
    ),
    "closeTenant": RequestExample(
        "เลิกใช้บริการตามหนังสือแจ้ง — the LAO ends its subscription",
        {"reason": "เทศบาลแจ้งเลิกใช้บริการ ตามหนังสือที่ ชม 12345/678 (the LAO's letter)"},
        path={"tenant_id": TENANT_ID},
    ),
    "verifySignup": RequestExample("ยืนยันอีเมล — confirm the address, from the e-mailed link", {"token": VERIFY_TOKEN}),
    "getSignupStatus": RequestExample("สถานะคำขอ — the request's status, from its link", {"token": STATUS_TOKEN}),
    "rejectSignupRequest": RequestExample(
        "ผู้สมัครไม่ใช่เจ้าหน้าที่ของ อปท. — the applicant is not the LAO's staff",
        {"reason": "ไม่สามารถยืนยันได้ว่าผู้สมัครเป็นเจ้าหน้าที่ของ อปท. (could not verify the applicant)"},
        path={"signup_id": SIGNUP_ID},
    ),
    "setBillingSettings": RequestExample(
        "บัญชีรับชำระของผู้ให้บริการ — the operator's biller ID at the bank",
        {"biller_id": "099400016551001", "merchant_name": "LOCALGOV PLATFORM"},
    ),
    "addPlanPrice": RequestExample(
        "ราคาใหม่ปีงบประมาณ 2570 — the prices of fiscal year 2570",
        {
            "effective_from": "2026-10-01",
            "fixed_fee": "1500.00",
            "fixed_interval": "monthly",
            "charges": [
                {"meter": "core.active_staff_users", "model": "standard", "free_units": "20", "unit_price": "50.00"},
                {
                    "meter": "payments.bills_issued",
                    "model": "graduated",
                    "tiers": [{"up_to": "1000", "unit_price": "0.00"}, {"up_to": None, "unit_price": "0.50"}],
                },
            ],
        },
        path={"plan_code": PLAN_CODE},
    ),
    "setUsageThresholds": RequestExample(
        "แจ้งเตือนเมื่อใช้เกิน — warn when usage passes these",
        {"thresholds": [{"meter": "core.active_staff_users", "threshold": "50"}]},
        path={"plan_code": PLAN_CODE},
    ),
    "createSubscription": RequestExample(
        "สมัครแผนมาตรฐาน รายเดือน — the standard plan, billed monthly",
        {"tenant_id": TENANT_ID, "plan_code": PLAN_CODE, "billing_cycle": "monthly", "starts_on": "2026-10-01"},
    ),
    "changeSubscriptionPlan": RequestExample(
        "เปลี่ยนเป็นแผนครบชุด — to the complete plan",
        {"plan_code": "premium", "on": "2027-01-01"},
        path={"subscription_id": SUBSCRIPTION_ID},
    ),
    "endSubscription": RequestExample(
        "สิ้นสุดเมื่อสิ้นปีงบประมาณ — at the end of the fiscal year",
        {"on": "2027-09-30"},
        path={"subscription_id": SUBSCRIPTION_ID},
    ),
    "runInvoices": RequestExample("ออกใบแจ้งหนี้ของ อปท. เดียว — invoice one LAO", {"tenant_id": TENANT_ID}),
    "receiveOperatorBankNotification": RequestExample(
        "ธนาคารแจ้งการชำระใบแจ้งหนี้ด้วย Thai QR — the bank reports an invoice paid (signed: X-Localgov-Signature)",
        {
            "transaction_id": "KTB202612060009876",
            "ref1": INVOICE_REF,
            "amount": "1500.00",
            "paid_at": "2026-12-06T11:20:00+07:00",
        },
    ),
    "recordInvoicePayment": RequestExample(
        "รับโอนเงินแล้ว — paid by transfer",
        {"reference": "โอนผ่านธนาคารกรุงไทย เลขที่รายการ 20261204-000123", "paid_at": "2026-12-04T14:30:00+07:00"},
        path={"invoice_id": INVOICE_ID},
    ),
    "issueCreditNote": RequestExample(
        "ลดหนี้ค่าบริการช่วงระบบขัดข้อง — credit for an outage",
        {"amount": "100.00", "reason": "ระบบขัดข้อง 2 วัน (two days of outage)"},
        path={"invoice_id": INVOICE_ID},
    ),
    "voidInvoice": RequestExample(
        "ออกผิดแผน — issued for the wrong plan",
        {"reason": "ออกใบแจ้งหนี้ผิดแผนบริการ (wrong plan)"},
        path={"invoice_id": INVOICE_ID},
    ),
    "submitSignup": RequestExample(
        "เทศบาลขอสมัครใช้บริการ — an LAO asks to join",
        {
            "dla_code": "4500103",
            "slug": "maehia",
            "plan_code": PLAN_CODE,
            "contact_name": "นางสาวมาลี รักงาน",
            "contact_position": "ปลัดเทศบาล",
            "contact_email": SIGNUP_EMAIL,
            "contact_phone": "053-123456",
            "accept_terms": True,
        },
    ),
}
