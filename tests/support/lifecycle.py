"""Helpers for the tenant-lifecycle and export tests: operator tokens, seeded data, the worker's
export consumer, and the running app's catalog."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from functools import cache
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.models import ApiClient, Citizen, OneTimeToken, RefreshToken, StaffRole, StaffUser
from localgov.identity.refresh import RefreshGrant, issue_refresh_token
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import hash_secret, token_digest
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.usage import record_usage
from localgov.platform.lifecycle import EXPORT_TOPIC
from localgov.services.payments import bank
from localgov.services.payments.models import MeterReading, PaymentSettings
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import BASE
from tests.support.payments import BILLER_ID, make_account, make_bill, make_payer, make_tariff
from tests.support.tokens import bearer

PASSWORD = "a long passphrase for lifecycle tests"
OPERATOR_ID = str(uuid.uuid4())
#: A payer name a CSV writer must quote: a comma, double quotes, Thai.
TRICKY_NAME = 'นายทดสอบ "ตัวอย่าง", ผู้ชำระ'
#: An address over two lines.
ADDRESS = "99 หมู่ 3\nตำบลแม่เหียะ"


@cache
def password_hash() -> str:
    return hash_secret(PASSWORD)


def operator_headers(*roles: str, subject: str = OPERATOR_ID) -> dict[str, str]:
    return {"Host": BASE, **bearer(None, kind="operator", roles=roles or ("platform_admin",), subject=subject)}


async def add_staff(engine: AsyncEngine, tenant: TenantInfo, email: str, *roles: str) -> str:
    """An active staff member with the test password (written directly; identity has its own tests)."""
    async with tenant_session(session_factory(engine), tenant) as session:
        user = StaffUser(email=email, full_name=f"เจ้าหน้าที่ {email}", status="active", password_hash=password_hash())
        session.add(user)
        await session.flush()
        for role in roles:
            session.add(StaffRole(user_id=user.id, role=role))
    return str(user.id)


async def citizen_session(engine: AsyncEngine, tenant: TenantInfo) -> RefreshGrant:
    """A citizen with a refresh token (as the citizen login leaves them)."""
    async with tenant_session(session_factory(engine), tenant) as session:
        citizen = Citizen(issuer="https://id.example", subject=f"sub-{uuid.uuid4().hex}", name="นางสาวพลเมือง ดีมาก")
        session.add(citizen)
        await session.flush()
        return await issue_refresh_token(
            session, RefreshToken, subject_kind="citizen", subject_id=citizen.id, ttl_s=3600
        )


async def refresh_catalog(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """Reload the running app's catalog now (tests that do not wait for NOTIFY)."""
    app: Any = client._transport.app  # type: ignore[attr-defined]
    await app.state.catalog.load(engine)


async def seed_everything(engine: AsyncEngine, tenant: TenantInfo) -> dict[str, str]:
    """Rows in many tables of a payments tenant, through the real service code where it exists.

    Returns the secrets written (in clear) so a test can check none of them leaks into an archive.
    """
    secrets: dict[str, str] = {}
    admin_id = await add_staff(engine, tenant, f"admin-{tenant.slug}@example.go.th", "tenant_admin")
    await add_staff(engine, tenant, f"finance-{tenant.slug}@example.go.th", "payments.finance", "payments.cashier")
    async with tenant_session(session_factory(engine), tenant) as session:
        admin = uuid.UUID(admin_id)
        grant = await issue_refresh_token(session, RefreshToken, subject_kind="staff", subject_id=admin, ttl_s=3600)
        secrets["refresh_token"] = grant.token
        secrets["refresh_token_digest"] = token_digest(grant.token)
        session.add(
            OneTimeToken(
                purpose="password_reset",
                user_id=admin,
                token_hash=token_digest("reset-secret"),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        )
        session.add(
            ApiClient(
                client_id="lgc_lifecycle",
                name='ระบบบัญชี, รุ่น "2"',
                secret_hash="$argon2id$not-a-real-hash$x",
                scopes=["payments.read"],
                status="active",
            )
        )
        secrets["client_secret_hash"] = "$argon2id$not-a-real-hash$x"
        await record_audit(
            session,
            "test.seeded",
            actor=Actor("staff", admin_id),
            origin=Origin("192.0.2.7", "req-1"),
            target="profile",
            data={"note": "ข้อมูล, ทดสอบ"},
        )
        await session.execute(text("UPDATE profile SET address_th = :a, website = NULL WHERE id = 1"), {"a": ADDRESS})

        session.add(PaymentSettings(id=1, biller_id=BILLER_ID, merchant_name="TEST LAO", receipt_book_size=50))
        await session.flush()
        webhook_secret, _ = await bank.rotate_webhook_secret(
            session, "test-secret-key-for-localgov-tests-only-0123456789", actor=Actor("system"), origin=Origin()
        )
        secrets["webhook_secret"] = webhook_secret
        await make_tariff(session, "garbage")
        await make_tariff(session, "wastewater")
        tricky = await make_payer(session, name=TRICKY_NAME)
        await make_account(session, tricky, "garbage")
        water = await make_account(session, None, "wastewater")
        session.add(MeterReading(account_id=water.id, period="2026-10", usage_m3=Decimal("12.500")))
        paid = await make_bill(session, tricky, amounts=("80.00", "20.50"))
        await make_bill(session, None, amounts=("30.00",))
        for ref1, amount in ((paid.reference, paid.total), ("NOSUCHREF", Decimal("5.00"))):
            notice = bank.normalise_notice(
                transaction_id=f"TXN{uuid.uuid4().hex[:12].upper()}",
                biller_id=BILLER_ID,
                ref1=ref1,
                ref2=None,
                amount=amount,
                paid_at=dt.datetime.now(dt.UTC),
                raw={"payer_bank": "014", "ชื่อ": "ผู้ชำระ, ทดสอบ"},
            )
            await bank.record_notice(session, notice, channel="webhook", biller_id=BILLER_ID, book_size=50)
        await record_usage(session, bank.BAHT_COLLECTED, Decimal("1.2500"), f"seed:{uuid.uuid4().hex}")
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO platform.tenant_domains (domain, tenant_id) VALUES (:d, :t)"),
            {"d": f"www.{tenant.slug}.example", "t": tenant.id},
        )
    return secrets


async def run_exports(engine: AsyncEngine, settings: Settings, tenant_id: int) -> list[int]:
    """Run the worker's own export consumer over this tenant's pending export messages.

    (``deliver_batch`` would claim every tenant's entries of the shared test database.)
    Returns the outbox ids handled.
    """
    consumer = Worker(settings, []).handlers[EXPORT_TOPIC]
    handled: list[int] = []
    async with tenant_session(session_factory(engine), None) as session:
        entries = (
            (
                await session.execute(
                    select(OutboxEntry)
                    .where(
                        OutboxEntry.tenant_id == tenant_id,
                        OutboxEntry.topic == EXPORT_TOPIC,
                        OutboxEntry.status == "pending",
                    )
                    .order_by(OutboxEntry.id)
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for entry in entries:
            async with session.begin_nested():
                await consumer(Delivery(entry, session, {}))
            entry.status = "delivered"
            handled.append(entry.id)
    return handled
