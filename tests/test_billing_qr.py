"""Paying an operator invoice by Thai QR: the payload, and the signed bank notification that marks
the invoice paid exactly once (duplicates, concurrency, wrong signature, mismatches)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import thaiqr
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.signing import DEFAULT_SCHEME, SignatureRefused
from localgov.kernel.tenancy import TenantInfo
from localgov.platform.billing import qrpay, service
from localgov.platform.billing.models import BillingBankNotification, OperatorInvoice
from tests.support.billing import METERS, bkk, make_plan, shared
from tests.support.factories import make_tenant

D = Decimal
ORIGIN = Origin(source_ip="203.0.113.9", request_id="bank")
ACTOR = Actor(kind="operator", id="billing-admin-1")
#: A tax ID with a correct check digit, and the suffix 01.
BILLER = "099400016551001"


def _tax_id_ok(digits: str) -> bool:
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


async def _finalised_invoice(engine: AsyncEngine, tenant: TenantInfo | None = None) -> OperatorInvoice:
    """September 2026's invoice (1,000 baht + VAT) of a new subscription, finalised on 4 October."""
    tenant = tenant or await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(1000))
    async with shared(engine) as session:
        await service.subscribe(session, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 9, 1))
    for now in (bkk(2026, 10, 1, 1), bkk(2026, 10, 4, 1)):
        async with shared(engine) as session:
            await service.run_invoices(session, now=now, meters=METERS, tenant_id=tenant.id)
    async with shared(engine) as session:
        query = select(OperatorInvoice).where(OperatorInvoice.tenant_id == tenant.id)
        invoice = (await session.execute(query)).scalar_one()
    assert invoice.status == "finalised"
    assert invoice.number
    return invoice


async def _settle(engine: AsyncEngine, invoice_id: int) -> None:
    """Void an invoice a test left unpaid: no other test's global overdue run sees it."""
    async with shared(engine) as session:
        invoice = await service.get_invoice(session, invoice_id)
        if invoice.status == "finalised":
            await service.void_invoice(
                session, invoice_id, reason="test done", now=dt.datetime.now(dt.UTC), actor=ACTOR, origin=ORIGIN
            )


async def _configure(engine: AsyncEngine) -> str:
    async with shared(engine) as session:
        await qrpay.set_biller(session, BILLER, "DGA")
        return await qrpay.rotate_secret(session, dt.datetime.now(dt.UTC))


def test_the_biller_fixture_is_a_valid_tax_id() -> None:
    assert _tax_id_ok(BILLER[:13])


@settings(max_examples=60, deadline=None)
@given(year=st.integers(2500, 2999), seq=st.integers(1, 10**9 - 1))
def test_ref1_names_its_invoice_number_back(year: int, seq: int) -> None:
    number = f"INV-{year}-{seq:06d}"
    ref = qrpay.ref_of(number)
    assert len(ref) <= 20
    assert ref.isalnum()
    assert qrpay.number_of(ref) == number


async def test_a_finalised_invoice_has_a_thai_qr_that_parses_back(engine: AsyncEngine) -> None:
    invoice = await _finalised_invoice(engine)
    async with shared(engine) as session:
        assert qrpay.payload_of(invoice, None) is None
        row = await qrpay.set_biller(session, "0-9940-00165-51-0 01", "DGA")
        payload = qrpay.payload_of(invoice, row)
    assert payload is not None
    parsed = thaiqr.parse(payload)  # checks the CRC
    assert parsed.biller_id == BILLER
    assert parsed.ref1 == (invoice.number or "").replace("-", "")
    assert parsed.amount == invoice.total == D("1070.00")
    assert payload[-4:] == f"{thaiqr.crc16_ccitt_false(payload[:-4].encode()):04X}"
    await _settle(engine, invoice.id)


async def test_a_notification_delivered_twice_and_concurrently_pays_once(engine: AsyncEngine) -> None:
    secret = await _configure(engine)
    invoice = await _finalised_invoice(engine)
    note = qrpay.Notification(
        transaction_id=f"KTB{uuid.uuid4().hex[:12]}",
        ref1=qrpay.ref_of(invoice.number or ""),
        amount=invoice.total,
        paid_at=bkk(2026, 10, 10, 9),
    )
    body = json.dumps({"transaction_id": note.transaction_id}).encode()
    now = dt.datetime.now(dt.UTC)
    headers = DEFAULT_SCHEME.headers([secret], body, now)
    async with shared(engine) as session:
        await qrpay.verify(
            session,
            timestamp=headers["X-Localgov-Timestamp"],
            signature=headers["X-Localgov-Signature"],
            body=body,
            now=now,
        )

    async def deliver() -> qrpay.Outcome:
        async with shared(engine) as session:
            return await qrpay.receive(session, note, origin=ORIGIN)

    outcomes = await asyncio.gather(deliver(), deliver(), deliver())
    assert sorted(o.duplicate for o in outcomes) == [False, True, True]
    assert {(o.outcome, o.invoice_id) for o in outcomes} == {("paid", invoice.id)}
    again = await deliver()
    assert (again.outcome, again.duplicate) == ("paid", True)
    async with shared(engine) as session:
        paid = await service.get_invoice(session, invoice.id)
        assert paid.status == "paid"
        assert paid.payment_reference == f"QR {note.transaction_id}"
        count = await session.scalar(
            select(func.count()).where(BillingBankNotification.transaction_id == note.transaction_id)
        )
        assert count == 1
    # The same transaction id with other details: a conflict, nothing recorded.
    async with shared(engine) as session:
        with pytest.raises(qrpay.TransactionConflict):
            await qrpay.receive(session, msgspec.structs.replace(note, amount=D(1)), origin=ORIGIN)
    # The same invoice paid again by another transaction: an exception, not a second payment.
    async with shared(engine) as session:
        other = await qrpay.receive(
            session, msgspec.structs.replace(note, transaction_id=note.transaction_id + "B"), origin=ORIGIN
        )
    assert (other.outcome, other.reason, other.invoice_id) == ("exception", "invoice_not_payable", invoice.id)


async def test_a_wrong_signature_is_refused(engine: AsyncEngine) -> None:
    secret = await _configure(engine)
    body = b'{"transaction_id": "X"}'
    now = dt.datetime.now(dt.UTC)
    good = DEFAULT_SCHEME.headers([secret], body, now)
    bad = DEFAULT_SCHEME.headers(["lgbill_not-the-secret"], body, now)
    async with shared(engine) as session:
        with pytest.raises(SignatureRefused) as refused:
            await qrpay.verify(
                session,
                timestamp=bad["X-Localgov-Timestamp"],
                signature=bad["X-Localgov-Signature"],
                body=body,
                now=now,
            )
        assert refused.value.code == "invalid_signature"
        with pytest.raises(SignatureRefused):
            await qrpay.verify(
                session,
                timestamp=good["X-Localgov-Timestamp"],
                signature=good["X-Localgov-Signature"],
                body=body + b" ",
                now=now,
            )


async def test_an_amount_mismatch_or_unknown_reference_is_an_exception(engine: AsyncEngine) -> None:
    await _configure(engine)
    invoice = await _finalised_invoice(engine)
    ref = qrpay.ref_of(invoice.number or "")
    async with shared(engine) as session:
        short = await qrpay.receive(
            session,
            qrpay.Notification(
                transaction_id=f"T{uuid.uuid4().hex}", ref1=ref, amount=D("1069.99"), paid_at=bkk(2026, 10, 9)
            ),
            origin=ORIGIN,
        )
        unknown = await qrpay.receive(
            session,
            qrpay.Notification(
                transaction_id=f"T{uuid.uuid4().hex}", ref1="INV2999999999", amount=D(5), paid_at=bkk(2026, 10, 9)
            ),
            origin=ORIGIN,
        )
    assert (short.outcome, short.reason, short.invoice_id) == ("exception", "amount_mismatch", invoice.id)
    assert (unknown.outcome, unknown.reason, unknown.invoice_id) == ("exception", "unknown_reference", None)
    async with shared(engine) as session:
        assert (await service.get_invoice(session, invoice.id)).status == "finalised"
        listed = {(row.ref1, row.reason) for row in await qrpay.exceptions(session)}
    assert {(ref, "amount_mismatch"), ("INV2999999999", "unknown_reference")} <= listed
    await _settle(engine, invoice.id)
