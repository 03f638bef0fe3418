"""Request-body examples of the webhook endpoints' operations (``kernel.examples``)."""

from __future__ import annotations

from localgov.kernel.examples import ExampleTable, RequestExample, example_id

ENDPOINT = example_id("webhooks.endpoint")
#: The integrator's receiver (a public https address).
WEBHOOK_URL = "https://hooks.example.com/localgov"

EXAMPLES: ExampleTable = {
    "createWebhookEndpoint": RequestExample(
        "แจ้งระบบบัญชีเมื่อมีการชำระ — tell the accounting system of each payment",
        {
            "url": WEBHOOK_URL,
            "event_types": ["bill.paid", "receipt.issued", "receipt.voided"],
            "description": "ระบบบัญชีของสำนักงาน (accounting system)",
        },
    ),
    "updateWebhookEndpoint": RequestExample(
        "รับการยกเลิกใบแจ้งหนี้ด้วย — also bills cancelled",
        {"event_types": ["bill.paid", "bill.cancelled", "receipt.issued", "receipt.voided"]},
        path={"endpoint_id": ENDPOINT},
    ),
    "rotateWebhookSecret": RequestExample(
        "เปลี่ยนรหัสลับ ใช้คู่กัน 1 วัน — a new secret, the old one signing too for a day",
        {"overlap_s": 86400},
        path={"endpoint_id": ENDPOINT},
    ),
}
