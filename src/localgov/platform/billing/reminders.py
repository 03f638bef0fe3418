"""Overdue reminders e-mailed to the LAO through the outbox (kernel.mail), one per invoice per step.

Steps are days past the due date (``REMINDER_STEPS``). A run sends, for each finalised unpaid invoice,
the highest step it has reached if that step was not sent yet (after a worker outage the LAO gets
one reminder, not a burst of the steps it missed). The key is ``platform.billing_reminders``
(invoice, step): a row is claimed with ``INSERT … ON CONFLICT DO NOTHING`` in the transaction that
queues the mails, so a rerun or two racing runs send a step once.

Recipients: the LAO's profile e-mail (``profile.email`` in its schema); without one, its active
``tenant_admin`` staff. An LAO with neither gets the row (recipients ``[]``) and an operator audit
record, so the billing administrator sees that nobody could be told.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.db import quote_schema
from localgov.kernel.mail import OutgoingMail, send_mail
from localgov.kernel.thai import thai_date
from localgov.platform.billing import qrpay
from localgov.platform.billing.models import BillingReminder, OperatorInvoice
from localgov.platform.models import Tenant

#: Days past the due date at which a reminder is sent.
REMINDER_STEPS = (1, 15, 30)


def step_for(days_overdue: int) -> int | None:
    """The highest step reached after ``days_overdue`` days, or None before the first."""
    reached = [step for step in REMINDER_STEPS if days_overdue >= step]
    return reached[-1] if reached else None


async def recipients_of(session: AsyncSession, tenant: Tenant) -> list[str]:
    """The LAO's profile e-mail, or else its active tenant administrators' addresses."""
    # The schema name is validated and quoted by the kernel; the platform may not import identity's
    # models, so its two tables are named in SQL text.
    schema = quote_schema(tenant.schema_name)
    profile_sql = f"SELECT email FROM {schema}.profile WHERE id = 1"  # noqa: S608
    profile = (await session.execute(text(profile_sql))).scalar_one_or_none()
    if profile:
        return [str(profile)]
    admins_sql = (
        f"SELECT DISTINCT u.email FROM {schema}.staff_users u JOIN {schema}.staff_roles r ON r.user_id = u.id "  # noqa: S608
        "WHERE r.role = 'tenant_admin' AND u.status = 'active' ORDER BY u.email"
    )
    admins = await session.execute(text(admins_sql))
    return [str(email) for email in admins.scalars()]


def _baht(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _mail(invoice: OperatorInvoice, tenant: Tenant, to: str, days: int, qr_payload: str | None) -> OutgoingMail:
    assert invoice.due_on is not None
    number = invoice.number or ""
    pay_th = (
        f"ชำระด้วย Thai QR: รหัสอ้างอิง (Ref1) {qrpay.ref_of(number)}\n" if qr_payload else ""
    ) + "หรือโอนเข้าบัญชีของผู้ให้บริการแพลตฟอร์ม โดยระบุเลขที่ใบแจ้งหนี้\n"
    return OutgoingMail(
        to=to,
        subject=f"แจ้งเตือนค้างชำระใบแจ้งหนี้ {number} / Overdue invoice {number}",
        text=(
            f"เรียน ผู้บริหาร{tenant.name_th}\n\n"
            f"ใบแจ้งหนี้ค่าบริการแพลตฟอร์มเลขที่ {number} จำนวนเงิน {_baht(invoice.total)} บาท "
            f"ครบกำหนดชำระเมื่อ {thai_date(invoice.due_on)} และยังไม่ได้รับชำระ (เกินกำหนด {days} วัน)\n"
            f"{pay_th}\n"
            f"ดูใบแจ้งหนี้ได้ที่เมนูการเรียกเก็บค่าบริการของหน่วยงาน (/v1/tenant/billing/invoices/{invoice.id})\n\n"
            f"Dear {tenant.name_en},\n\n"
            f"Platform service fee invoice {number} for {_baht(invoice.total)} baht was due on "
            f"{invoice.due_on.isoformat()} and is not paid yet ({days} days overdue). Pay it by Thai QR "
            f"(Ref1 {qrpay.ref_of(number)}) or by transfer quoting the invoice number.\n\n"
            "หากชำระแล้ว โปรดเพิกเฉยต่ออีเมลนี้ / If you have paid, please ignore this message.\n"
        ),
    )


async def mail_reminders(
    session: AsyncSession, *, today: dt.date, actor: Actor, origin: Origin
) -> list[tuple[int, int]]:
    """E-mail the reminders due today; returns the (invoice id, step) pairs sent by this run."""
    overdue = (
        await session.execute(
            select(OperatorInvoice, Tenant)
            .join(Tenant, Tenant.id == OperatorInvoice.tenant_id)
            .where(
                OperatorInvoice.status == "finalised",
                OperatorInvoice.kind == "invoice",
                OperatorInvoice.due_on < today,
            )
            .order_by(OperatorInvoice.id)
        )
    ).all()
    settings = await qrpay.get_settings(session) if overdue else None
    sent: list[tuple[int, int]] = []
    for invoice, tenant in overdue:
        assert invoice.due_on is not None
        days = (today - invoice.due_on).days
        step = step_for(days)
        if step is None:
            continue
        claimed = await session.execute(
            insert(BillingReminder)
            .values(invoice_id=invoice.id, step=step)
            .on_conflict_do_nothing(index_elements=["invoice_id", "step"])
            .returning(BillingReminder.invoice_id)
        )
        if claimed.scalar_one_or_none() is None:
            continue
        to = await recipients_of(session, tenant)
        payload = qrpay.payload_of(invoice, settings)
        for address in to:
            await send_mail(session, _mail(invoice, tenant, address, days, payload), tenant_id=tenant.id)
        reminder = await session.get_one(BillingReminder, (invoice.id, step))
        reminder.recipients = to
        await record_audit(
            session,
            action="billing.reminder_sent" if to else "billing.reminder_undeliverable",
            actor=actor,
            origin=origin,
            target=f"operator_invoice:{invoice.id}",
            data={"number": invoice.number, "tenant_id": tenant.id, "step": step, "recipients": len(to)},
            operator=True,
        )
        sent.append((invoice.id, step))
    await session.flush()
    return sent
