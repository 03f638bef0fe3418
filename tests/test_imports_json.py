"""CSV imports also take their rows as JSON (``kernel.csv.ImportBody``): the payer, meter-reading and
bank-statement imports, through the same import logic and the same row errors (the row's index in
place of the file's line), and the OpenAPI document lists both media types, JSON first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import csv as kernel_csv
from localgov.kernel.openapi import DECIMAL_PATTERN
from localgov.plugins import REGISTRY
from localgov.services.payments import PLUGIN
from localgov.services.payments.bank import STATEMENT_COLUMNS, StatementRow
from localgov.services.payments.models import FeeAccount, MeterReading, Payer, Payment
from localgov.services.payments.payers import IMPORT_COLUMNS, PayerImportRow
from tests.conftest import ClientFactory, host
from tests.support.payments import make_account, next_thai_id, payments_db, payments_tenant
from tests.support.tokens import bearer
from tests.test_payments_bank import FINANCE, STATEMENTS, count, open_bills, setup_lao, staff_headers

API = "/v1/payments"
IMPORTS = {
    "/v1/payments/payers/import": "PayerImport",
    "/v1/payments/meter-readings/import": "MeterReadingImport",
    "/v1/payments/bank/statements": "BankStatementImport",
}


def _finance(tenant: Any) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=FINANCE)}


async def test_payers_import_as_json(engine: AsyncEngine, client_for: ClientFactory) -> None:
    assert PayerImportRow.__struct_fields__ == IMPORT_COLUMNS  # the JSON row is the CSV's columns
    tenant = await payments_tenant(engine)
    headers = _finance(tenant)
    good_id = next_thai_id()
    bad_id = good_id[:12] + str((int(good_id[12]) + 1) % 10)
    somchai = {"payer_ref": "h1", "name": "นายสมชาย ใจดี", "tax_id": good_id, "subdistrict": "แม่เหียะ"}
    rows = [
        {**somchai, "account_no": "A-001", "fee_type": "garbage", "start_date": "2026-01-01", "litres_per_day": "15"},
        {**somchai, "account_no": "W-001", "fee_type": "wastewater", "customer_class": "household"},
        {"kind": "person", "name": "นายไม่มีบัญชี"},
    ]
    url = f"{API}/payers/import"
    async with client_for(plugins=[PLUGIN]) as http:
        # A row the import refuses: the same 422 and row errors as a file's, the row's index as its line.
        bad = await http.post(
            url, json={"rows": [rows[2], {"name": "นายผิด เลขบัตร", "tax_id": bad_id}]}, headers=headers
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["code"] == "import_rejected"
        assert [(e["key"], e["line"], e["code"], e["source"]) for e in bad.json()["errors"]] == [
            ("tax_id", 2, "invalid_tax_id", "body")
        ]
        # What the schema refuses: an unknown member, a wrong type (400, the row and member named).
        unknown = await http.post(url, json={"rows": [{**rows[2], "colour": "red"}]}, headers=headers)
        assert (unknown.status_code, unknown.json()["code"]) == (400, "validation_error"), unknown.text
        assert [(e["key"], e.get("line"), e["code"]) for e in unknown.json()["errors"]] == [
            ("colour", 1, "unknown_column")
        ]
        wrong = await http.post(url, json={"rows": [rows[2], {"name": 5}]}, headers=headers)
        assert wrong.status_code == 400
        assert [(e["key"], e.get("line")) for e in wrong.json()["errors"]] == [("name", 2)]
        extra = await http.post(url, json={"rows": [rows[2]], "more": 1}, headers=headers)
        assert extra.status_code == 400
        empty = await http.post(url, json={"rows": []}, headers=headers)
        assert empty.status_code == 400
        # Neither JSON nor CSV.
        xml = await http.post(url, content=b"<rows/>", headers={**headers, "Content-Type": "application/xml"})
        assert (xml.status_code, xml.json()["code"]) == (415, "unsupported_media_type")
        assert xml.headers["content-type"] == "application/problem+json"
        assert await count(engine, tenant, Payer) == 0

        imported = await http.post(url, json={"rows": rows}, headers=headers)
        assert imported.status_code == 200, imported.text
        assert imported.json() == {"rows": 3, "payers_created": 2, "payers_reused": 0, "accounts_created": 2}
    assert await count(engine, tenant, FeeAccount) == 2
    async with payments_db(engine, tenant) as session:
        garbage = (await session.execute(select(FeeAccount).where(FeeAccount.account_no == "A-001"))).scalar_one()
    assert garbage.params == {"litres_per_day": "15.00"}


async def test_meter_readings_import_as_json(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        await make_account(session, fee_type="wastewater", account_no="W-HOME")
        await make_account(session, fee_type="garbage", account_no="G-1")
    headers = _finance(tenant)
    url = f"{API}/meter-readings/import"
    async with client_for(plugins=[PLUGIN]) as http:
        bad = await http.post(
            url,
            json={"rows": [{"account_no": "W-HOME", "period": "2025-04", "usage_m3": "10"},
                           {"account_no": "G-1", "period": "2025-04", "usage_m3": "1"}]},
            headers=headers,
        )  # fmt: skip
        assert bad.status_code == 422
        assert [(e["line"], e["key"], e["code"], e["source"]) for e in bad.json()["errors"]] == [
            (2, "account_no", "not_wastewater", "body")
        ]
        unknown = await http.post(
            url,
            json={"rows": [{"account_no": "W-HOME", "period": "2025-04", "usage_m3": "1", "x": 1}]},
            headers=headers,
        )
        assert unknown.status_code == 400
        xml = await http.post(url, content=b"<r/>", headers={**headers, "Content-Type": "text/xml"})
        assert (xml.status_code, xml.json()["code"]) == (415, "unsupported_media_type")
        rows = [
            {"account_no": "W-HOME", "period": "2025-04", "usage_m3": "12.5"},
            {"account_no": "W-HOME", "period": "2025-05", "usage_m3": 3},
        ]
        ok = await http.post(url, json={"rows": rows}, headers=headers)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0}
        # The same rows as a CSV file are the same readings: one code path after parsing.
        csv_file = b"account_no,period,usage_m3\nW-HOME,2025-04,12.5\nW-HOME,2025-05,3\n"
        same = await http.post(url, content=csv_file, headers={**headers, "Content-Type": "text/csv"})
        assert same.json() == {"rows": 2, "created": 0, "updated": 0, "unchanged": 2}
    assert await count(engine, tenant, MeterReading) == 2


async def test_bank_statement_import_as_json(engine: AsyncEngine, client_for: ClientFactory) -> None:
    assert StatementRow.__struct_fields__ == STATEMENT_COLUMNS
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant, 1)
    finance = staff_headers(lao.tenant, FINANCE)
    paid_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    row = {"transaction_id": "J1", "paid_at": paid_at, "biller_id": lao.biller_id, "ref1": bill.reference,
           "amount": "80.00"}  # fmt: skip
    async with client_for(plugins=REGISTRY) as client:
        refused = await client.post(
            STATEMENTS, json={"rows": [{**row, "transaction_id": "J0"}, {**row, "amount": "0.001"}]}, headers=finance
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_statement"), refused.text
        assert [(e["key"], e["line"], e["source"]) for e in refused.json()["errors"]] == [("row", 2, "body")]
        unknown = await client.post(STATEMENTS, json={"rows": [{**row, "narrative": "QR"}]}, headers=finance)
        assert (unknown.status_code, unknown.json()["errors"][0]["key"]) == (400, "narrative")
        wrong = await client.post(
            STATEMENTS,
            content=b"transaction_id",
            headers={**finance, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert wrong.status_code == 415
        keyed = {**finance, "Idempotency-Key": "stmt-json"}
        first = await client.post(STATEMENTS, json={"rows": [row]}, headers=keyed)
        assert first.status_code == 200, first.text
        assert [(x["line"], x["transaction_id"], x["outcome"]) for x in first.json()["lines"]] == [(1, "J1", "matched")]
        replay = await client.post(STATEMENTS, json={"rows": [row]}, headers=keyed)
        assert replay.headers["idempotent-replayed"] == "true"
    assert await count(engine, lao.tenant, Payment) == 1


async def test_the_document_lists_json_then_csv_for_every_import(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    assert DECIMAL_PATTERN == kernel_csv.DECIMAL_PATTERN
    tenant = await payments_tenant(engine)
    async with client_for(plugins=REGISTRY) as http:
        document = (await http.get("/schema/openapi.json", headers=host(tenant.slug))).json()
    schemas = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return schemas[ref.removeprefix("#/components/schemas/")] if ref else schema

    for path, title in IMPORTS.items():
        body = document["paths"][path]["post"]["requestBody"]
        assert list(body["content"]) == ["application/json", "text/csv"], path
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{title}"}
        schema = resolve(body["content"]["application/json"]["schema"])
        assert (schema["title"], schema["required"], schema["additionalProperties"]) == (title, ["rows"], False)
        rows = schema["properties"]["rows"]
        assert (rows["type"], rows["minItems"]) == ("array", 1)
        assert rows["maxItems"] >= 1000
        row = resolve(rows["items"])
        assert (row["type"], row["additionalProperties"]) == ("object", False)
        assert row["required"]
        assert body["content"]["text/csv"]["schema"]["type"] == "string"
        assert "415" in document["paths"][path]["post"]["responses"]
    columns = schemas["StatementRow"]["properties"]
    assert list(columns) == list(STATEMENT_COLUMNS)
    assert columns["amount"]["pattern"] == DECIMAL_PATTERN
    assert columns["biller_id"]["pattern"] == "^[0-9]{15}$"
    assert list(schemas["PayerImportRow"]["properties"]) == list(IMPORT_COLUMNS)
