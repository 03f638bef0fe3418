"""Mail to payers (through the kernel's notifications, so the outbox): e-receipts and overdue notices.

* **E-receipts** (ใบเสร็จรับเงินอิเล็กทรอนิกส์). Every receipt publishes ``payments.receipt_issued``
  in the transaction that issued it (bank notification, statement, counter, credit, an exception
  applied); payments consumes its own event (:func:`on_receipt_issued`) and, when the bill's payer
  has an e-mail address, queues one notification keyed ``payments.e_receipt:<receipt id>``: a second
  delivery of the event (the outbox delivers at least once) finds the key taken and sends nothing.
  The mail names the receipt, the amount (with its Thai words) and links, on the LAO's host, to the
  receipt's PDF and the bill's pay page (both carry the bill's reference and verification code,
  as the paper bill does), and to the receipt's public verification page.
* **Overdue notices** (หนังสือแจ้งเตือนค้างชำระ). The per-tenant job ``payments.overdue_notices``
  (:func:`overdue_notice_job`) finds open bills past their due date whose payer has an e-mail
  address and sends one notice per bill and **stage** (:data:`OVERDUE_STAGES`: 1 and 30 days past
  due), keyed ``payments.overdue:<bill id>:<stage>``; a bill found late in a higher stage gets only
  that stage's notice. The notice, Thai first with the English after it, gives the amount still due
  and the pay-page link.

Both are listed by ``GET /v1/payments/notices`` (the LAO's record of notifications of these two
sources).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

import msgspec
import structlog
from sqlalchemy import ColumnElement, String, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.jobs import JobContext
from localgov.kernel.notifications import NotificationRecord, NotificationStatus, notify
from localgov.kernel.outbox import Delivery
from localgov.kernel.pagination import before_key, cut_page
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import baht_text, bangkok_today, english_datetime, thai_date, thai_datetime
from localgov.services.payments import receipts
from localgov.services.payments.api import RECEIPT_ISSUED
from localgov.services.payments.models import Bill, Payer, Receipt
from localgov.services.payments.pay_pages import PAY_PATH, pay_link
from localgov.settings import Settings

log = structlog.get_logger("localgov.payments.mailing")

CHANNEL = "email"
E_RECEIPT_SOURCE = "payments.e_receipt"
OVERDUE_SOURCE = "payments.overdue_notice"
#: Days past the due date at which a notice is sent (one per stage and bill).
OVERDUE_STAGES = (1, 30)
#: Notices queued per tenant and run at most (the next run continues).
OVERDUE_BATCH = 2000

_N = NotificationRecord.__table__.c

NoticeKind = Literal["e_receipt", "overdue"]
SOURCES: dict[str, str] = {"e_receipt": E_RECEIPT_SOURCE, "overdue": OVERDUE_SOURCE}


class LinksUnavailable(RuntimeError):
    """The consumer was called without the worker's settings or the tenant (retried by the outbox)."""


def _baht(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def receipt_link(settings: Settings, tenant: TenantInfo, bill: Bill, receipt_id: uuid.UUID) -> str:
    """The receipt's PDF on the LAO's pay page (the bill's reference and code are the credential)."""
    path = f"{PAY_PATH}/receipts/{receipt_id}?ref={bill.reference}&code={bill.verification_code}"
    return settings.public_url(path, slug=tenant.slug)


# --- e-receipts ---------------------------------------------------------------------------------


async def send_e_receipt(
    session: AsyncSession, receipt_id: uuid.UUID, *, settings: Settings, tenant: TenantInfo
) -> uuid.UUID | None:
    """Queue the e-receipt of a receipt (the session bound to ``tenant``): the notification's id, or
    None when nothing is sent (no e-mail address, the receipt cancelled or unknown). Once per receipt."""
    receipt = await session.get(Receipt, receipt_id)
    if receipt is None or receipt.status != "issued":
        return None
    bill = await session.get(Bill, receipt.bill_id)
    payer = await session.get(Payer, bill.payer_id) if bill is not None else None
    if bill is None or payer is None or not payer.email:
        return None
    label = receipts.receipt_label(receipt)
    issuer = receipts.issuer_name(tenant)
    pdf = receipt_link(settings, tenant, bill, receipt.id)
    page = pay_link(settings, tenant, bill.reference, bill.verification_code)
    stamp = await receipts.receipt_stamp(session, receipt, settings=settings, tenant=tenant)
    verify = stamp.url if stamp else None
    verify_th = f"\nตรวจสอบความถูกต้องของใบเสร็จ: {verify}" if verify else ""
    verify_en = f"\nVerify the receipt: {verify}" if verify else ""
    amount = _baht(receipt.amount)
    queued = await notify(
        session,
        key=f"payments.e_receipt:{receipt.id}",
        source=E_RECEIPT_SOURCE,
        channel=CHANNEL,
        to=payer.email,
        to_name=payer.name,
        subject_th=f"ใบเสร็จรับเงินเลขที่ {label} จาก{issuer}",
        body_th=(
            f"เรียน {payer.name}\n\n"
            f"{issuer} ได้รับชำระเงินตามใบแจ้งหนี้เลขอ้างอิง {bill.reference} แล้ว\n"
            f"ใบเสร็จรับเงิน เล่มที่/เลขที่/ปีงบประมาณ: {label}\n"
            f"จำนวนเงิน {amount} บาท ({receipt.amount_text_th})\n"
            f"ชำระเมื่อ {thai_datetime(receipt.issued_at)}\n\n"
            f"ดาวน์โหลดใบเสร็จรับเงิน (PDF): {pdf}\n"
            f"ดูใบแจ้งหนี้: {page}{verify_th}\n\n"
            f"อีเมลนี้ส่งโดยอัตโนมัติ โปรดอย่าตอบกลับ\n{issuer}"
        ),
        subject_en=f"Receipt {label} from {tenant.name_en}",
        body_en=(
            f"Dear {payer.name},\n\n"
            f"{tenant.name_en} has received your payment of bill {bill.reference}.\n"
            f"Receipt (book/number/fiscal year): {label}\n"
            f"Amount: {amount} baht\nPaid on {english_datetime(receipt.issued_at)}\n\n"
            f"The receipt (PDF): {pdf}\nThe bill: {page}{verify_en}\n\n"
            f"This message was sent automatically; please do not reply.\n{tenant.name_en}"
        ),
    )
    return queued.id


async def on_receipt_issued(delivery: Delivery) -> None:
    """``payments.receipt_issued``: mail the e-receipt when the payer has an address (idempotent:
    the notification's key is the receipt's)."""
    issued = RECEIPT_ISSUED.decode(delivery)
    if delivery.settings is None or delivery.tenant is None:
        raise LinksUnavailable("the e-receipt needs the worker's settings and the tenant")
    await delivery.use_tenant_schema()
    await send_e_receipt(delivery.session, issued.receipt_id, settings=delivery.settings, tenant=delivery.tenant)


# --- overdue notices ----------------------------------------------------------------------------


def stage_of(days_late: int) -> int | None:
    """The highest stage a bill ``days_late`` past due has reached (None: not yet the first)."""
    reached = [stage for stage in OVERDUE_STAGES if days_late >= stage]
    return reached[-1] if reached else None


class OverdueRun(msgspec.Struct, kw_only=True):
    """What one run of the overdue notices did."""

    sent: int
    #: Bills past due without an e-mail address on their payer (the LAO posts those itself).
    without_email: int


async def send_overdue_notices(
    session: AsyncSession, *, settings: Settings, tenant: TenantInfo, today: dt.date | None = None
) -> OverdueRun:
    """One notice per open, past-due bill and stage, to payers with an e-mail address (the session
    bound to ``tenant``). Bills already noticed at their stage are skipped in the query itself, so a
    run costs what is new; :func:`notify`'s key makes a repeat or a concurrent run send nothing twice."""
    day = today or bangkok_today()
    first = dt.timedelta(days=OVERDUE_STAGES[0])
    late = (Bill.status == "open", Bill.total > Bill.amount_paid, Bill.due_date <= day - first)
    key = func.concat("payments.overdue:", cast(Bill.id, String), ":", cast(_latest_stage_sql(day), String))
    rows = (
        await session.execute(
            select(Bill, Payer.email, Payer.name)
            .join(Payer, Payer.id == Bill.payer_id)
            .where(*late, Payer.email.is_not(None))
            .where(~select(_N.id).where(_N.key == key).exists())
            .order_by(Bill.due_date, Bill.reference)
            .limit(OVERDUE_BATCH)
        )
    ).all()
    sent = 0
    for bill, email, name in rows:
        reached = stage_of((day - bill.due_date).days)
        if reached is None or email is None:  # pragma: no cover - the query selects these out
            continue
        queued = await notify(session, **overdue_letter(settings, tenant, bill, email=email, name=name, stage=reached))
        sent += int(queued.created)
    without = await session.scalar(
        select(func.count())
        .select_from(Bill)
        .join(Payer, Payer.id == Bill.payer_id)
        .where(*late, Payer.email.is_(None))
    )
    return OverdueRun(sent=sent, without_email=int(without or 0))


def _latest_stage_sql(day: dt.date) -> ColumnElement[int]:
    """The highest stage reached by a bill, in SQL (mirrors :func:`stage_of`)."""
    whens = [(Bill.due_date <= day - dt.timedelta(days=value), value) for value in reversed(OVERDUE_STAGES)]
    return case(*whens, else_=0)


def overdue_letter(
    settings: Settings, tenant: TenantInfo, bill: Bill, *, email: str, name: str, stage: int
) -> dict[str, str]:
    """The notice of ``bill`` at ``stage`` as :func:`notify`'s arguments (Thai, then English)."""
    due = bill.total - bill.amount_paid
    issuer = receipts.issuer_name(tenant)
    link = pay_link(settings, tenant, bill.reference, bill.verification_code)
    days = stage
    return {
        "key": f"payments.overdue:{bill.id}:{stage}",
        "source": OVERDUE_SOURCE,
        "channel": CHANNEL,
        "to": email,
        "to_name": name,
        "subject_th": f"แจ้งเตือนค้างชำระ ใบแจ้งหนี้เลขอ้างอิง {bill.reference} เกินกำหนด {days} วัน",
        "body_th": (
            f"เรียน {name}\n\n"
            f"ใบแจ้งหนี้เลขอ้างอิง {bill.reference} ของ{issuer} ครบกำหนดชำระเมื่อวันที่ "
            f"{thai_date(bill.due_date, digits='arabic')} และยังค้างชำระอยู่\n"
            f"ยอดค้างชำระ {_baht(due)} บาท ({baht_text(due)})\n\n"
            f"ชำระได้ทันทีด้วยแอปธนาคารใดก็ได้ โดยสแกนคิวอาร์โค้ดที่หน้า: {link}\n"
            f"หรือชำระที่เคาน์เตอร์ของ{issuer}\n"
            f"หากท่านชำระแล้ว โปรดขออภัยและไม่ต้องดำเนินการใด ๆ\n\n{issuer}"
        ),
        "subject_en": f"Payment reminder: bill {bill.reference} is {days} day(s) overdue",
        "body_en": (
            f"Dear {name},\n\n"
            f"Bill {bill.reference} of {tenant.name_en} was due on {bill.due_date:%d %B %Y} and is still unpaid.\n"
            f"Amount due: {_baht(due)} baht\n\n"
            f"Pay now with any banking app by scanning the QR code on: {link}\n"
            f"or at the counter of {tenant.name_en}.\n"
            f"If you have paid already, please disregard this message.\n\n{tenant.name_en}"
        ),
    }


async def overdue_notice_job(ctx: JobContext) -> None:
    """The worker's job: one LAO's overdue notices (needs the worker's settings for the links)."""
    tenant = ctx.tenant
    if not isinstance(tenant, TenantInfo) or ctx.settings is None:
        raise TypeError("overdue notices run per tenant, with the catalog's TenantInfo and the settings")
    run = await send_overdue_notices(ctx.session, settings=ctx.settings, tenant=tenant, today=bangkok_today(ctx.now))
    if run.sent:
        log.info("payments_overdue_notices", tenant=tenant.slug, sent=run.sent, without_email=run.without_email)


# --- the record ---------------------------------------------------------------------------------


class NoticeRead(msgspec.Struct, kw_only=True):
    """A mail to a payer: an e-receipt or an overdue notice."""

    id: uuid.UUID
    kind: NoticeKind
    #: The receipt (e-receipt) or the bill (overdue notice) it is about.
    subject_id: uuid.UUID
    #: The overdue stage (days past due); null for an e-receipt.
    stage: int | None
    address: str
    subject_th: str
    status: NotificationStatus
    created_at: dt.datetime
    sent_at: dt.datetime | None


class NoticePage(msgspec.Struct, kw_only=True):
    items: list[NoticeRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


async def list_notices(
    session: AsyncSession,
    *,
    kind: NoticeKind | None,
    bill_id: uuid.UUID | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> NoticePage:
    """The payments mail in the LAO's record of notifications, newest first; ``after`` = the last
    notice's (created_at, id) of the previous page."""
    sources = [SOURCES[kind]] if kind else list(SOURCES.values())
    query = select(*_N).where(_N.source.in_(sources))
    if bill_id is not None:
        receipt_keys = select(func.concat("payments.e_receipt:", cast(Receipt.id, String))).where(
            Receipt.bill_id == bill_id
        )
        query = query.where(
            (_N.key.startswith(f"payments.overdue:{bill_id}:")) | _N.key.in_(receipt_keys.scalar_subquery())
        )
    if after is not None:
        query = query.where(before_key((_N.created_at, _N.id), after))
    rows = (await session.execute(query.order_by(_N.created_at.desc(), _N.id.desc()).limit(limit + 1))).all()
    items, next_cursor = cut_page([_notice(row) for row in rows], limit, key=lambda n: (n.created_at, n.id))
    return NoticePage(items=items, next_cursor=next_cursor)


def _notice(row: object) -> NoticeRead:
    data = row._mapping  # type: ignore[attr-defined]
    parts = data["key"].split(":")
    overdue = data["source"] == OVERDUE_SOURCE
    return NoticeRead(
        id=data["id"],
        kind="overdue" if overdue else "e_receipt",
        subject_id=uuid.UUID(parts[1]),
        stage=int(parts[2]) if overdue else None,
        address=data["address"],
        subject_th=data["subject_th"],
        status=data["status"],
        created_at=data["created_at"],
        sent_at=data["sent_at"],
    )
