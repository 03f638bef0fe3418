"""Operator invoices paid by Thai QR over HTTP: settings, the QR in both invoice views and on the
PDF, the signed bank notification endpoint, payment exceptions, guards and tenant isolation."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import thaiqr
from localgov.kernel.signing import DEFAULT_SCHEME
from localgov.plugins import REGISTRY
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.paging import walk_pages
from tests.support.tokens import bearer
from tests.test_billing_qr import BILLER, _finalised_invoice

RATE_LIMIT = 4


def _signed(secret: str, payload: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    headers = DEFAULT_SCHEME.headers([secret], body, datetime.now(UTC))
    return body, {"Host": BASE, "Content-Type": "application/json", **headers}


async def test_pay_an_operator_invoice_by_thai_qr_over_http(
    engine: AsyncEngine, database_url: str, client_for: ClientFactory
) -> None:
    lao = await make_tenant(engine)
    other = await make_tenant(engine)
    invoice = await _finalised_invoice(engine, lao)
    admin = {"Host": BASE, **bearer(None, kind="operator", roles=["billing_admin"])}
    settings = make_settings(database_url, login_rate_limit=RATE_LIMIT)
    async with client_for(plugins=REGISTRY, settings_=settings) as client:
        bad = await client.put("/v1/billing/settings", json={"biller_id": "099400016551101"}, headers=admin)
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_biller_id")
        put = await client.put(
            "/v1/billing/settings", json={"biller_id": "0994000165510 01", "merchant_name": "DGA"}, headers=admin
        )
        assert put.status_code == 200
        assert put.json()["biller_id"] == BILLER
        secret = (await client.post("/v1/billing/settings/notification-secret", headers=admin)).json()["secret"]
        shown = (await client.get("/v1/billing/settings", headers=admin)).json()
        assert shown["notification_secret_set"] is True
        assert "secret" not in shown

        detail = (await client.get(f"/v1/billing/invoices/{invoice.id}", headers=admin)).json()
        parsed = thaiqr.parse(detail["qr_payload"])
        assert (parsed.biller_id, parsed.ref1, parsed.amount) == (
            BILLER,
            detail["number"].replace("-", ""),
            Decimal("1070.00"),
        )
        lao_admin = {**host(lao.slug), **bearer(lao, roles=["tenant_admin"])}
        own = (await client.get(f"/v1/tenant/billing/invoices/{invoice.id}", headers=lao_admin)).json()
        assert own["qr_payload"] == detail["qr_payload"]
        pdf = await client.get(f"/v1/tenant/billing/invoices/{invoice.id}/pdf", headers=lao_admin)
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Thai QR" in text
        assert f"(Ref1): {parsed.ref1}" in text
        assert detail["qr_payload"] not in text  # the payload is in the QR, not printed as text
        other_admin = {**host(other.slug), **bearer(other, roles=["tenant_admin"])}
        theirs = await client.get(f"/v1/tenant/billing/invoices/{invoice.id}", headers=other_admin)
        assert (theirs.status_code, theirs.json()["code"]) == (404, "invoice_not_found")

        txn = f"SCB{uuid.uuid4().hex[:16]}"
        payload = {
            "transaction_id": txn,
            "ref1": parsed.ref1,
            "amount": "1070.00",
            "paid_at": "2026-10-10T09:00:00+07:00",
        }
        body, headers = _signed(secret, payload)
        wrong_body, wrong = _signed("lgbill_wrong", payload)
        refused = await client.post("/v1/billing/bank-notifications", content=wrong_body, headers=wrong)
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_signature")
        unsigned = await client.post("/v1/billing/bank-notifications", json=payload, headers={"Host": BASE})
        assert (unsigned.status_code, unsigned.json()["code"]) == (401, "missing_signature")
        first = await client.post("/v1/billing/bank-notifications", content=body, headers=headers)
        again = await client.post("/v1/billing/bank-notifications", content=body, headers=headers)
        assert first.json() == {"outcome": "paid", "invoice_id": invoice.id, "reason": None, "replayed": False}
        assert again.json() == {"outcome": "paid", "invoice_id": invoice.id, "reason": None, "replayed": True}
        body, headers = _signed(secret, {**payload, "amount": "1.00"})
        conflict = await client.post("/v1/billing/bank-notifications", content=body, headers=headers)
        assert (conflict.status_code, conflict.json()["code"]) == (409, "bank_transaction_conflict")
        paid = (await client.get(f"/v1/billing/invoices/{invoice.id}", headers=admin)).json()
        assert paid["status"] == "paid"
        assert paid["qr_payload"] is None

        mismatch = {**payload, "transaction_id": txn + "X", "amount": "1000.00"}
        body, headers = _signed(secret, mismatch)
        answer = (await client.post("/v1/billing/bank-notifications", content=body, headers=headers)).json()
        assert (answer["outcome"], answer["reason"]) == ("exception", "invoice_not_payable")
        body, headers = _signed(secret, {**mismatch, "transaction_id": txn + "Z"})
        assert (await client.post("/v1/billing/bank-notifications", content=body, headers=headers)).status_code == 200
        listed = (await client.get("/v1/billing/payment-exceptions", headers=admin)).json()["items"]
        assert txn + "X" in {row["transaction_id"] for row in listed}
        walked = await walk_pages(client, "/v1/billing/payment-exceptions", admin)
        assert [row["id"] for row in walked] == [row["id"] for row in listed]
        assert [row["transaction_id"] for row in walked][:2] == [txn + "Z", txn + "X"]  # newest first
        body, headers = _signed(secret, {**payload, "ref1": "bad ref"})
        invalid = await client.post("/v1/billing/bank-notifications", content=body, headers=headers)
        assert invalid.status_code == 400
        body, headers = _signed(secret, {**payload, "transaction_id": txn + "Y", "amount": "-1"})
        negative = await client.post("/v1/billing/bank-notifications", content=body, headers=headers)
        assert (negative.status_code, negative.json()["code"]) == (422, "invalid_amount")

        # Badly signed deliveries have a budget per address (the two above were counted): then 429,
        # while a correctly signed one still passes.
        codes = [
            (await client.post("/v1/billing/bank-notifications", content=wrong_body, headers=wrong)).status_code
            for _ in range(RATE_LIMIT)
        ]
        assert codes[-1] == 429
        assert set(codes) <= {401, 429}
        replay = await client.post("/v1/billing/bank-notifications", content=body, headers=headers)
        assert replay.status_code == 422  # the last signed body (negative amount): verified, not limited

        platform_admin = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin"])}
        for path in ("/v1/billing/settings", "/v1/billing/payment-exceptions"):
            assert (await client.get(path, headers=platform_admin)).status_code == 403
            assert (await client.get(path, headers={"Host": BASE})).status_code == 401
