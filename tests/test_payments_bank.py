"""Bank confirmation: signed notifications, idempotency, matching and exceptions, statements, isolation."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, AuditEvent, Origin
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.pagination import encode_cursor
from localgov.kernel.tenancy import TenantInfo
from localgov.plugins import REGISTRY
from localgov.services.payments import bank
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import Bill, Payer, Payment, PaymentException, PaymentSettings, Receipt
from localgov.settings import Settings
from tests.conftest import ClientFactory, host
from tests.support.factories import make_tenant, set_status
from tests.support.tokens import TEST_SECRET, bearer

FINANCE = ["payments.finance"]
CASHIER = ["payments.cashier"]
NOTIFY = "/v1/payments/bank/notifications"
STATEMENTS = "/v1/payments/bank/statements"
_billers = iter(range(10**6))


class Lao(msgspec.Struct):
    tenant: TenantInfo
    biller_id: str
    secret: str


async def setup_lao(engine: AsyncEngine, *, book_size: int = 100, biller_id: str | None = None) -> Lao:
    """A tenant with payments enabled, a Biller ID, a receipt book size and a webhook secret."""
    tenant = await make_tenant(engine, services=["payments"])
    biller = biller_id or f"0994000{next(_billers):06d}01"
    async with tenant_session(session_factory(engine), tenant) as session:
        session.add(PaymentSettings(id=1, biller_id=biller, receipt_book_size=book_size))
        await session.flush()
        secret, _ = await bank.rotate_webhook_secret(session, TEST_SECRET, actor=Actor("system"), origin=Origin())
    return Lao(tenant=tenant, biller_id=biller, secret=secret)


async def open_bills(
    engine: AsyncEngine,
    tenant: TenantInfo,
    count: int = 1,
    *,
    lines: list[BillLine] | None = None,
    payer_name: str = "นางสาวน้ำฝน ใจดี",
) -> list[Bill]:
    """``count`` open bills of one payer (default: one garbage line of 80 baht)."""
    lines = lines or [BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal("80.00"))]
    out: list[Bill] = []
    async with tenant_session(session_factory(engine), tenant) as session:
        payer = Payer(kind="person", name=payer_name, house_no="99/1", moo="3", subdistrict="แม่เหียะ")
        session.add(payer)
        await session.flush()
        for _ in range(count):
            bill = await create_bill(
                session,
                payer_id=payer.id,
                lines=lines,
                due_date=dt.date.today() + dt.timedelta(days=30),
                source="test",
                source_key=uuid.uuid4().hex,
            )
            out.append(bill)
    return out


def notice(
    lao: Lao, bill_ref: str, amount: Decimal | str, *, txn: str | None = None, paid_at: dt.datetime | None = None
) -> dict[str, Any]:
    return {
        "transaction_id": txn or f"TXN{uuid.uuid4().hex[:16].upper()}",
        "biller_id": lao.biller_id,
        "ref1": bill_ref,
        "amount": str(amount),
        "paid_at": (paid_at or dt.datetime.now(dt.UTC)).isoformat(),
        "payer_bank": "014",
    }


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(dt.datetime.now(dt.UTC).timestamp()))
    return {
        "X-Localgov-Timestamp": ts,
        "X-Localgov-Signature": bank.sign(secret, ts, body),
        "Content-Type": "application/json",
    }


async def deliver(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    secret: str,
    payload: dict[str, Any],
    *,
    timestamp: int | None = None,
) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {**host(tenant.slug), **signed_headers(secret, body, timestamp=timestamp)}
    return await client.post(NOTIFY, content=body, headers=headers)


async def count(engine: AsyncEngine, tenant: TenantInfo, model: Any, *where: Any) -> int:
    async with tenant_session(session_factory(engine), tenant) as session:
        return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def get_bill(engine: AsyncEngine, tenant: TenantInfo, bill_id: uuid.UUID) -> Bill:
    async with tenant_session(session_factory(engine), tenant) as session:
        bill = await session.get(Bill, bill_id)
        assert bill is not None
        return bill


def staff_headers(tenant: TenantInfo, roles: list[str], subject: str | None = None) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=roles, subject=subject or str(uuid.uuid4()))}


async def test_matched_notification_pays_the_bill_with_a_receipt_and_meters(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    payload = notice(lao, bill.reference, "80.00")
    async with client_for(plugins=REGISTRY) as client:
        first = await deliver(client, lao.tenant, lao.secret, payload)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["status"] == "matched"
        assert body["exception_kind"] is None
        assert body["bill_reference"] == bill.reference
        assert body["replayed"] is False
        assert (body["receipt"]["book_no"], body["receipt"]["receipt_no"]) == (1, 1)
        again = await deliver(client, lao.tenant, lao.secret, payload)
        assert again.status_code == 200
        assert again.json() == {**body, "replayed": True}
    paid = await get_bill(engine, lao.tenant, bill.id)
    assert paid.status == "paid"
    assert paid.paid_at == dt.datetime.fromisoformat(payload["paid_at"])
    assert await count(engine, lao.tenant, Payment) == 1
    assert await count(engine, lao.tenant, Receipt) == 1
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        receipt = (await session.execute(select(Receipt))).scalar_one()
        payment = (await session.execute(select(Payment))).scalar_one()
    assert receipt.amount == Decimal("80.00")
    assert receipt.amount_text_th == "แปดสิบบาทถ้วน"
    assert receipt.payer_name == "นางสาวน้ำฝน ใจดี"
    assert payment.raw["payer_bank"] == "014"
    async with engine.connect() as conn:
        meters = dict(
            (
                await conn.execute(
                    text(
                        "SELECT meter, sum(quantity) FROM platform.usage_events WHERE tenant_id = :t"
                        " AND meter LIKE 'payments.%' AND meter <> 'payments.bills_issued' GROUP BY meter"
                    ),
                    {"t": lao.tenant.id},
                )
            ).all()
        )
    assert meters == {"payments.payments_confirmed": Decimal(1), "payments.baht_collected": Decimal("80.00")}


async def test_fifty_concurrent_deliveries_make_one_payment_and_one_receipt(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    payload = notice(lao, bill.reference, "80.00")
    async with client_for(plugins=REGISTRY) as client:
        answers = await asyncio.gather(*(deliver(client, lao.tenant, lao.secret, payload) for _ in range(50)))
    assert [a.status_code for a in answers] == [200] * 50, [a.text for a in answers if a.status_code != 200]
    bodies = [a.json() for a in answers]
    assert len({b["payment_id"] for b in bodies}) == 1
    assert len({b["receipt"]["id"] for b in bodies}) == 1
    assert sum(1 for b in bodies if not b["replayed"]) == 1
    assert {b["status"] for b in bodies} == {"matched"}
    assert await count(engine, lao.tenant, Payment) == 1
    assert await count(engine, lao.tenant, Receipt) == 1
    assert await count(engine, lao.tenant, PaymentException) == 0


async def test_bad_signatures_and_stale_timestamps_are_refused_and_change_nothing(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    payload = notice(lao, bill.reference, "80.00")
    body = json.dumps(payload).encode()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    async with client_for(plugins=REGISTRY) as client:
        plain = await client.post(
            NOTIFY, content=body, headers={**host(lao.tenant.slug), "Content-Type": "application/json"}
        )
        assert plain.status_code == 401
        assert plain.json()["code"] == "missing_signature"
        wrong = await deliver(client, lao.tenant, "lgwh_not-the-secret", payload)
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "invalid_signature"
        tampered = {**payload, "amount": "8.00"}
        headers = {**host(lao.tenant.slug), **signed_headers(lao.secret, body)}
        moved = await client.post(NOTIFY, content=json.dumps(tampered).encode(), headers=headers)
        assert moved.status_code == 401
        assert moved.json()["code"] == "invalid_signature"
        for skew in (-360, 360):
            stale = await deliver(client, lao.tenant, lao.secret, payload, timestamp=now + skew)
            assert stale.status_code == 401
            assert stale.json()["code"] == "stale_timestamp"
        malformed = {**headers, "X-Localgov-Timestamp": "soon"}
        bad_ts = await client.post(NOTIFY, content=body, headers=malformed)
        assert bad_ts.status_code == 401
        assert bad_ts.json()["code"] == "invalid_timestamp"
        within = await deliver(client, lao.tenant, lao.secret, payload, timestamp=now - 240)
        assert within.status_code == 200
    assert await count(engine, lao.tenant, Payment) == 1


async def test_refused_signatures_are_audited_and_have_a_budget_per_address(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    lao, other = await setup_lao(engine), await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    tight = msgspec.structs.replace(settings, login_rate_limit=3)
    async with client_for(plugins=REGISTRY, settings_=tight) as client:
        good = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))
        assert good.status_code == 200  # correct deliveries cost nothing
        codes = [
            (await deliver(client, lao.tenant, "lgwh_guess", notice(lao, bill.reference, "80.00"))).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        # The badly signed ones from that address wait for the window to end ...
        waiting = await deliver(client, lao.tenant, "lgwh_guess", notice(lao, bill.reference, "80.00"))
        assert waiting.status_code == 429
        assert int(waiting.headers["retry-after"]) > 0
        # ... but a correctly signed delivery from the same address (a proxy every bank delivery
        # shares) is verified first and always passes: nobody can pause an LAO's notifications.
        (second,) = await open_bills(engine, lao.tenant)
        passes = await deliver(client, lao.tenant, lao.secret, notice(lao, second.reference, "80.00"))
        assert passes.status_code == 200
        assert passes.json()["status"] == "matched"
        # Another LAO's budget is its own.
        (theirs,) = await open_bills(engine, other.tenant)
        assert (
            await deliver(client, other.tenant, other.secret, notice(other, theirs.reference, "80.00"))
        ).status_code == 200
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        refused = (
            (await session.execute(select(AuditEvent.data).where(AuditEvent.action == "payments.notification_refused")))
            .scalars()
            .all()
        )
    assert refused == [{"code": "invalid_signature"}] * 3
    assert await count(engine, lao.tenant, Payment) == 2


async def test_a_suspended_lao_still_records_what_citizens_paid(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    await set_status(engine, lao.tenant, "suspended")
    async with client_for(plugins=REGISTRY) as client:
        paid = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))
        assert paid.status_code == 200, paid.text
        # The rest of the service stays closed while suspended.
        listed = await client.get(
            "/v1/payments/bills", headers={**host(lao.tenant.slug), **staff_headers(lao.tenant, ["payments.finance"])}
        )
        assert (listed.status_code, listed.json()["code"]) == (403, "tenant_suspended")
    assert await count(engine, lao.tenant, Payment) == 1
    assert await count(engine, lao.tenant, Receipt) == 1


async def test_the_previous_secret_verifies_for_seven_days_after_a_rotation(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    bills = await open_bills(engine, lao.tenant, 4)
    admin = staff_headers(lao.tenant, ["tenant_admin"])
    async with client_for(plugins=REGISTRY) as client:
        status = await client.get("/v1/payments/bank/webhook-secret", headers=admin)
        assert status.status_code == 200
        assert status.json()["configured"] is True
        assert "secret" not in status.json()
        denied = await client.post(
            "/v1/payments/bank/webhook-secret/rotate", headers=staff_headers(lao.tenant, CASHIER)
        )
        assert denied.status_code == 403
        rotated = await client.post("/v1/payments/bank/webhook-secret/rotate", headers=admin)
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        new = rotated.json()["secret"]
        assert new.startswith("lgwh_")
        assert new != lao.secret
        valid_until = dt.datetime.fromisoformat(rotated.json()["previous_valid_until"])
        assert dt.timedelta(days=6, hours=23) < valid_until - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
        old_ok = await deliver(client, lao.tenant, lao.secret, notice(lao, bills[0].reference, "80.00"))
        new_ok = await deliver(client, lao.tenant, new, notice(lao, bills[1].reference, "80.00"))
        assert (old_ok.status_code, new_ok.status_code) == (200, 200)
        # A bank signing with both during its switch is accepted as well.
        payload = notice(lao, bills[2].reference, "80.00")
        body = json.dumps(payload).encode()
        ts = str(int(dt.datetime.now(dt.UTC).timestamp()))
        both = f"{bank.sign('lgwh_wrong', ts, body)}, {bank.sign(new, ts, body)}"
        headers = {
            **host(lao.tenant.slug),
            "X-Localgov-Timestamp": ts,
            "X-Localgov-Signature": both,
            "Content-Type": "application/json",
        }
        assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 200
        async with tenant_session(session_factory(engine), lao.tenant) as session:
            await session.execute(
                update(PaymentSettings).values(
                    webhook_secret_rotated_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=7, minutes=1)
                )
            )
        expired = await deliver(client, lao.tenant, lao.secret, notice(lao, bills[3].reference, "80.00"))
        assert expired.status_code == 401
        assert (await deliver(client, lao.tenant, new, notice(lao, bills[3].reference, "80.00"))).status_code == 200
        # Two rotations: only the two newest secrets verify.
        second = (await client.post("/v1/payments/bank/webhook-secret/rotate", headers=admin)).json()["secret"]
        third = (await client.post("/v1/payments/bank/webhook-secret/rotate", headers=admin)).json()["secret"]
        probe = notice(lao, "NOSUCHBILL", "1.00")
        assert (await deliver(client, lao.tenant, new, probe)).status_code == 401
        assert (await deliver(client, lao.tenant, second, probe)).status_code == 200
        assert (await deliver(client, lao.tenant, third, notice(lao, "NOSUCHBILL", "1.00"))).status_code == 200
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        row = await session.get(PaymentSettings, 1)
        assert row is not None
        assert row.webhook_secret is not None
        assert third.encode() not in row.webhook_secret  # stored encrypted
        audits = (
            await session.execute(
                text(
                    "SELECT actor_kind, count(*) FROM audit_events"
                    " WHERE action = 'payments.webhook_secret_rotated' GROUP BY actor_kind"
                )
            )
        ).all()
    # the three rotations by the LAO's admin, and the first secret the test set-up made
    assert sorted(map(tuple, audits)) == [("staff", 3), ("system", 1)]


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("short", "short"),
        ("over", "over"),
        ("unknown_ref", "unmatched"),
        ("other_biller", "biller_mismatch"),
        ("paid_twice", "duplicate"),
        ("cancelled", "bill_not_open"),
    ],
)
async def test_mismatches_become_exceptions_never_receipts(
    engine: AsyncEngine, client_for: ClientFactory, case: str, kind: str
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    payload = notice(lao, bill.reference, "80.00")
    receipts_before = 0
    async with client_for(plugins=REGISTRY) as client:
        if case == "short":
            payload["amount"] = "79.99"
        elif case == "over":
            payload["amount"] = "80.01"
        elif case == "unknown_ref":
            payload["ref1"] = "BZZZZZZZZZ"
        elif case == "other_biller":
            payload["biller_id"] = "099400099999901"
        elif case == "paid_twice":
            first = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))
            assert first.json()["status"] == "matched"
            receipts_before = 1
        elif case == "cancelled":
            async with tenant_session(session_factory(engine), lao.tenant) as session:
                await session.execute(update(Bill).where(Bill.id == bill.id).values(status="cancelled"))
        answer = await deliver(client, lao.tenant, lao.secret, payload)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "exception"
    assert body["exception_kind"] == kind
    assert body["receipt"] is None
    assert await count(engine, lao.tenant, Receipt) == receipts_before
    assert await count(engine, lao.tenant, PaymentException, PaymentException.kind == kind) == 1
    after = await get_bill(engine, lao.tenant, bill.id)
    assert after.status == {"paid_twice": "paid", "cancelled": "cancelled"}.get(case, "open")
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payment = await session.get(Payment, uuid.UUID(body["payment_id"]))
        assert payment is not None
        assert payment.status == "exception"
        assert payment.amount == Decimal(payload["amount"])
        # Linked to the bill when one was found, so finance sees what the payer meant to pay.
        assert (payment.bill_id == bill.id) is (kind in ("short", "over", "duplicate", "bill_not_open"))


async def test_the_same_transaction_id_with_other_details_is_a_conflict(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    payload = notice(lao, bill.reference, "80.00")
    async with client_for(plugins=REGISTRY) as client:
        assert (await deliver(client, lao.tenant, lao.secret, payload)).status_code == 200
        changed = await deliver(client, lao.tenant, lao.secret, {**payload, "amount": "90.00"})
        assert changed.status_code == 409
        assert changed.json()["code"] == "bank_transaction_conflict"
        invalid = await deliver(client, lao.tenant, lao.secret, {**payload, "transaction_id": "X2", "amount": "1.005"})
        assert invalid.status_code == 400
        assert invalid.json()["code"] == "invalid_notification"
    assert await count(engine, lao.tenant, Payment) == 1


async def test_a_notification_for_another_laos_bill_changes_nothing_there(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao_a = await setup_lao(engine)
    lao_b = await setup_lao(engine)
    (bill_a,) = await open_bills(engine, lao_a.tenant)
    payload = notice(lao_a, bill_a.reference, "80.00")
    async with client_for(plugins=REGISTRY) as client:
        # Signed for A, sent to B: B's secret does not verify it.
        refused = await deliver(client, lao_b.tenant, lao_a.secret, payload)
        assert refused.status_code == 401
        # Signed with B's secret (a bank serving both): B records an exception about another biller.
        at_b = await deliver(client, lao_b.tenant, lao_b.secret, payload)
        assert at_b.status_code == 200
        assert at_b.json()["exception_kind"] == "biller_mismatch"
        # Even with B's own Biller ID, A's reference is no bill of B's.
        unmatched = await deliver(client, lao_b.tenant, lao_b.secret, {**notice(lao_b, bill_a.reference, "80.00")})
        assert unmatched.json()["exception_kind"] == "unmatched"
    assert (await get_bill(engine, lao_a.tenant, bill_a.id)).status == "open"
    assert await count(engine, lao_a.tenant, Payment) == 0
    assert await count(engine, lao_b.tenant, Receipt) == 0
    assert await count(engine, lao_b.tenant, PaymentException) == 2


async def test_finance_lists_and_resolves_exceptions_by_hand(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    finance_id = str(uuid.uuid4())
    finance = staff_headers(lao.tenant, FINANCE, subject=finance_id)
    async with client_for(plugins=REGISTRY) as client:
        short = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "50.00"))).json()
        over = (await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "90.00"))).json()
        listed = await client.get("/v1/payments/bank/exceptions", params={"status": "open"}, headers=finance)
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert [i["kind"] for i in items] == ["short", "over"]
        assert items[0]["bill_reference"] == bill.reference
        assert Decimal(items[0]["bill_total"]) == Decimal("80.00")
        assert Decimal(items[0]["amount"]) == Decimal("50.00")
        page = await client.get(
            "/v1/payments/bank/exceptions",
            params={"cursor": encode_cursor([items[0]["id"]]), "limit": 1},
            headers=finance,
        )
        assert [i["kind"] for i in page.json()["items"]] == ["over"]
        exception_id = items[0]["id"]
        too_short = await client.post(
            f"/v1/payments/bank/exceptions/{exception_id}/resolve", json={"note": "x"}, headers=finance
        )
        assert too_short.status_code == 400
        note = "คืนเงินส่วนที่ขาดไม่ได้ ติดต่อผู้ชำระให้ชำระเพิ่ม 30 บาท"
        resolved = await client.post(
            f"/v1/payments/bank/exceptions/{exception_id}/resolve", json={"note": note}, headers=finance
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved"
        assert resolved.json()["resolution"] == note
        assert resolved.json()["resolved_by"] == finance_id
        twice = await client.post(
            f"/v1/payments/bank/exceptions/{exception_id}/resolve", json={"note": note}, headers=finance
        )
        assert twice.status_code == 409
        assert twice.json()["code"] == "exception_already_resolved"
        still_open = await client.get("/v1/payments/bank/exceptions", params={"status": "open"}, headers=finance)
        assert [i["payment_id"] for i in still_open.json()["items"]] == [over["payment_id"]]
        shown = await client.get(f"/v1/payments/bank/payments/{short['payment_id']}", headers=finance)
        assert shown.json()["exception_status"] == "resolved"
        assert shown.json()["receipt"] is None
        listed_payments = await client.get(
            "/v1/payments/bank/payments", params={"status": "exception"}, headers=finance
        )
        assert len(listed_payments.json()["items"]) == 2
    # Resolving is a note: the bill stays open, no receipt appears.
    assert (await get_bill(engine, lao.tenant, bill.id)).status == "open"
    assert await count(engine, lao.tenant, Receipt) == 0


def statement_csv(rows: list[dict[str, str]]) -> bytes:
    columns = ["transaction_id", "paid_at", "biller_id", "ref1", "ref2", "amount", "narrative"]
    lines = [",".join(columns)] + [",".join(row.get(c, "") for c in columns) for row in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


async def test_statement_import_reconciles_what_the_webhook_missed(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    b1, b2, b3 = await open_bills(engine, lao.tenant, 3)
    finance = staff_headers(lao.tenant, FINANCE)
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).replace(microsecond=0)
    seen = notice(lao, b1.reference, "80.00", txn="T1", paid_at=today)
    unlisted = notice(lao, "BNOTINFILE", "5.00", txn="T9", paid_at=today)
    local = today.replace(tzinfo=None).isoformat(sep=" ")
    rows = [
        {"transaction_id": "T1", "paid_at": today.isoformat(), "biller_id": lao.biller_id, "ref1": b1.reference,
         "amount": "80.00"},
        {"transaction_id": "T2", "paid_at": local, "biller_id": lao.biller_id, "ref1": b2.reference.lower(),
         "amount": "80.00", "narrative": "QR"},
        {"transaction_id": "T3", "paid_at": local, "biller_id": lao.biller_id, "ref1": b3.reference,
         "amount": "40.00"},
    ]  # fmt: skip
    content = statement_csv(rows)
    async with client_for(plugins=REGISTRY) as client:
        assert (await deliver(client, lao.tenant, lao.secret, seen)).json()["status"] == "matched"
        assert (await deliver(client, lao.tenant, lao.secret, unlisted)).json()["status"] == "exception"
        csv_body = {"content": content, "headers": {**finance, "Content-Type": "text/csv"}}
        first = await client.post(STATEMENTS, **csv_body)
        assert first.status_code == 200, first.text
        report = first.json()
        assert (report["rows"], report["new"], report["matched"], report["exceptions"], report["known"]) == (
            3,
            2,
            1,
            1,
            1,
        )
        assert Decimal(report["amount_new"]) == Decimal("120.00")
        assert [(x["transaction_id"], x["outcome"]) for x in report["lines"]] == [
            ("T1", "known"),
            ("T2", "matched"),
            ("T3", "exception"),
        ]
        assert report["lines"][1]["receipt"] == f"1/2/{report['lines'][1]['receipt'].split('/')[2]}"
        assert report["lines"][2]["exception_kind"] == "short"
        assert report["not_in_statement"] == ["T9"]
        again = await client.post(STATEMENTS, **csv_body)
        assert [x["outcome"] for x in again.json()["lines"]] == ["known", "known", "known"]
        assert again.json()["new"] == 0
        # An Idempotency-Key replays the first report of a retried upload.
        keyed = {**finance, "Content-Type": "text/csv", "Idempotency-Key": "stmt-1"}
        once = await client.post(STATEMENTS, content=content, headers=keyed)
        replay = await client.post(STATEMENTS, content=content, headers=keyed)
        assert replay.status_code == 200, replay.text
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == once.json()
        # A line that disagrees with what the webhook said is reported, and changes nothing.
        disagree = statement_csv([{**rows[0], "amount": "81.00"}])
        conflict = await client.post(STATEMENTS, content=disagree, headers=csv_body["headers"])
        assert [x["outcome"] for x in conflict.json()["lines"]] == ["conflict"]
        # One bad line refuses the whole file.
        bad = statement_csv([{**rows[0], "transaction_id": "T4"}, {**rows[1], "transaction_id": "T5", "amount": "x"}])
        refused = await client.post(STATEMENTS, content=bad, headers=csv_body["headers"])
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_statement"
        assert refused.json()["errors"] == [
            {"key": "row", "line": 3, "message": "amount is not a number", "source": "csv"}
        ]
        cashier = await client.post(STATEMENTS, content=content, headers=staff_headers(lao.tenant, CASHIER))
        assert cashier.status_code == 403
    assert await count(engine, lao.tenant, Payment) == 4
    assert await count(engine, lao.tenant, Payment, Payment.bank_txn_id.in_(["T4", "T5"])) == 0
    assert await count(engine, lao.tenant, Receipt) == 2
    assert (await get_bill(engine, lao.tenant, b2.id)).status == "paid"
    assert (await get_bill(engine, lao.tenant, b3.id)).status == "open"


def test_signature_verification_is_over_timestamp_and_raw_body() -> None:
    now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
    ts = str(int(now.timestamp()))
    body = b'{"a": 1}'
    good = bank.sign("s3cret", ts, body)
    assert good.startswith("v1=")
    assert len(good) == 67
    bank.verify_signature(["other", "s3cret"], ts, good, body, now)
    for seconds in (-300, 300):
        bank.verify_signature(["s3cret"], ts, good, body, now + dt.timedelta(seconds=seconds))
    for seconds in (-301, 301):
        with pytest.raises(bank.SignatureRefused, match="5-minute window"):
            bank.verify_signature(["s3cret"], ts, good, body, now + dt.timedelta(seconds=seconds))
    for secrets_, t, sig, b in (
        (["s3cret"], ts, good, b'{"a": 2}'),
        (["s3cret"], str(int(ts) + 1), good, body),
        ([], ts, good, body),
        (["s3cret"], ts, "v0=" + good[3:], body),
        (["s3cret"], ts, good[:-1], body),
    ):
        with pytest.raises(bank.SignatureRefused):
            bank.verify_signature(secrets_, t, sig, b, now)


BANK_PATHS_WITH_IDS = [
    ("GET", "/v1/payments/bank/payments/{payment}"),
    ("GET", "/v1/payments/bank/exceptions/{exception}"),
    ("POST", "/v1/payments/bank/exceptions/{exception}/resolve"),
]
FINANCE_ONLY = [
    ("GET", "/v1/payments/bank/payments"),
    ("GET", "/v1/payments/bank/exceptions"),
    ("POST", "/v1/payments/bank/statements"),
    *BANK_PATHS_WITH_IDS,
]


async def test_isolation_and_role_matrix_of_bank_endpoints(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao_a = await setup_lao(engine)
    lao_b = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao_a.tenant)
    plain = await make_tenant(engine)
    async with client_for(plugins=REGISTRY) as client:
        short = (await deliver(client, lao_a.tenant, lao_a.secret, notice(lao_a, bill.reference, "1.00"))).json()
        async with tenant_session(session_factory(engine), lao_a.tenant) as session:
            exception_id = (await session.execute(select(PaymentException.id))).scalar_one()
        ids = {"payment": short["payment_id"], "exception": str(exception_id)}
        for method, template in BANK_PATHS_WITH_IDS:
            path = template.format(**ids)
            body = {"note": "ปิดรายการ"} if method == "POST" else None
            own = await client.request(method, path, json=body, headers=staff_headers(lao_a.tenant, FINANCE))
            assert own.status_code == 200, (path, own.text)
            other = await client.request(method, path, json=body, headers=staff_headers(lao_b.tenant, FINANCE))
            assert other.status_code == 404, (path, other.text)
        b_lists = await client.get("/v1/payments/bank/payments", headers=staff_headers(lao_b.tenant, FINANCE))
        assert b_lists.json()["items"] == []
        for method, template in FINANCE_ONLY:
            path = template.format(**ids)
            for roles, expected in (([], 403), (CASHIER, 403), (["tenant_admin"], 403)):
                answer = await client.request(method, path, headers=staff_headers(lao_a.tenant, roles))
                assert answer.status_code == expected, (path, roles, answer.text)
            anonymous = await client.request(method, path, headers=host(lao_a.tenant.slug))
            assert anonymous.status_code == 401, path
            citizen = await client.request(
                method, path, headers={**host(lao_a.tenant.slug), **bearer(lao_a.tenant, kind="citizen")}
            )
            assert citizen.status_code == 403, path
        for method, path in (
            ("GET", "/v1/payments/bank/webhook-secret"),
            ("POST", "/v1/payments/bank/webhook-secret/rotate"),
        ):
            assert (await client.request(method, path, headers=staff_headers(lao_a.tenant, CASHIER))).status_code == 403
            assert (await client.request(method, path, headers=staff_headers(lao_a.tenant, FINANCE))).status_code == 200
        # A LAO that has not enabled the service: 404 for everything, the webhook included.
        off = await client.post(NOTIFY, json={}, headers=host(plain.slug))
        assert off.status_code == 404
        assert off.json()["code"] == "service_not_enabled"
