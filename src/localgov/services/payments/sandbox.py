"""The sandbox: an LAO whose bank is a simulator integrators drive (never in production).

With the flag on (``payment_settings.sandbox``, set by the LAO's administrators or finance
officers, refused when ``LOCALGOV_ENV=production``), ``POST /v1/payments/sandbox/pay`` pays a bill
exactly as a signed bank notification would: the same matching, receipt, metering and events
(``bill.paid``, ``receipt.issued`` webhooks), with a transaction id ``SANDBOX…``. Without the flag,
or in production, the route answers 404 ``sandbox_off`` (the simulator does not exist there).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import DomainError, NotFound
from localgov.services.payments import bank, receipts
from localgov.services.payments.bills import BillerNotConfigured
from localgov.services.payments.models import Bill, PaymentSettings


class SandboxOff(NotFound):
    code = "sandbox_off"
    title = "ไม่ได้เปิดโหมดทดสอบ (This LAO is not a sandbox)"


class SandboxRefused(DomainError):
    code = "sandbox_not_in_production"
    status = 403
    title = "เปิดโหมดทดสอบในระบบจริงไม่ได้ (No sandbox in production)"


class SandboxState(msgspec.Struct, kw_only=True):
    enabled: bool


class SandboxUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class SandboxPay(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A simulated Thai QR payment of one bill."""

    reference: Annotated[
        str, msgspec.Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$", description="The bill's reference")
    ]
    #: Default: what is left to pay (an exact payment). Another amount makes a short or over
    #: payment exception, as the real bank would.
    amount: Annotated[Decimal, msgspec.Meta(description="Baht, positive, at most 2 decimals")] | None = None
    #: Default: a new ``SANDBOX…`` id. The same id again replays (idempotent, like the bank's).
    transaction_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[!-~]+$")] | None = None


async def _row(session: AsyncSession) -> PaymentSettings | None:
    return (await session.execute(select(PaymentSettings).where(PaymentSettings.id == 1))).scalar_one_or_none()


async def get_state(session: AsyncSession, env: str) -> SandboxState:
    row = await _row(session)
    return SandboxState(enabled=env != "production" and row is not None and row.sandbox)


async def set_state(session: AsyncSession, enabled: bool, *, env: str, actor: Actor, origin: Origin) -> SandboxState:
    """Turn the sandbox on or off (audited); on is refused (403) in production."""
    if enabled and env == "production":
        raise SandboxRefused("The sandbox exists only outside production (LOCALGOV_ENV).")
    await session.execute(insert(PaymentSettings).values(id=1).on_conflict_do_nothing(index_elements=["id"]))
    row = await bank.settings_row(session, for_update=True)
    if row is None:  # pragma: no cover - inserted just above
        raise RuntimeError("payment settings row missing")
    if row.sandbox != enabled:
        row.sandbox = enabled
        row.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await record_audit(
            session,
            "payments.sandbox_changed",
            actor=actor,
            origin=origin,
            target="payment_settings",
            data={"enabled": enabled},
        )
    return SandboxState(enabled=enabled)


async def pay(session: AsyncSession, data: SandboxPay, *, env: str) -> bank.Outcome:
    """Record ``data`` as the bank's notification of a payment (404 ``sandbox_off`` outside a sandbox)."""
    row = await _row(session)
    if env == "production" or row is None or not row.sandbox:
        raise SandboxOff("The bank simulator exists only in a sandbox LAO.")
    if row.biller_id is None:
        raise BillerNotConfigured("Set the biller ID first (PUT /v1/payments/settings).")
    reference = data.reference.upper()
    bill = (await session.execute(select(Bill).where(Bill.reference == reference))).scalar_one_or_none()
    if bill is None:
        raise NotFound("No bill has this reference.", code="bill_not_found", data={"reference": reference})
    amount = data.amount
    if amount is None:
        left = bill.total - bill.amount_paid
        amount = left if left > 0 else bill.total  # a paid bill: a duplicate payment of its total
    txn = data.transaction_id or f"SANDBOX{uuid.uuid4().hex[:20].upper()}"
    paid_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    raw = {
        "sandbox": True,
        "transaction_id": txn,
        "biller_id": row.biller_id,
        "ref1": reference,
        "amount": str(amount),
        "paid_at": paid_at.isoformat(),
    }
    notice = bank.normalise_notice(
        transaction_id=txn, biller_id=row.biller_id, ref1=reference, ref2=None, amount=amount, paid_at=paid_at, raw=raw
    )
    return await bank.record_notice(
        session,
        notice,
        channel="webhook",
        biller_id=row.biller_id,
        book_size=row.receipt_book_size,
        officer=receipts.officer_of(row),
    )
