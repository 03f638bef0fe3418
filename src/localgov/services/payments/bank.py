"""Money in from the bank: signed payment notifications, daily statements, matching, exceptions.

Confirmation comes from the bank only, never from the payer's browser. The bank calls
``POST /v1/payments/bank/notifications`` on the LAO's host, signing each request with the LAO's
webhook secret::

    X-Localgov-Timestamp: <unix seconds>
    X-Localgov-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Several ``v1=`` values may be sent, comma-separated (a bank that signs with the old and the new
secret during a rotation). A request older or newer than five minutes is refused, so a captured
request cannot be replayed later; one replayed within the window is harmless, because payments
are idempotent by the bank's transaction id.

Every notification becomes one :class:`Payment` (unique by transaction id). It is *matched* when
the Biller ID is this LAO's, Ref1 names one of its open bills (Ref1 is the bill's unique
reference, so it names the bill on its own; Ref2 is recorded as the bank sent it) and the amount
is exactly what the bill asks: the bill is paid, a receipt issued and ``payments.bill_paid``
published in the same transaction.
Anything else (unmatched, short, over, duplicate, a bill not open, another biller) is a payment
with status ``exception`` and a :class:`PaymentException` row that finance staff resolve by hand,
with a note: never a receipt, never corrected automatically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import msgspec
import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.keys import decrypt_private, encrypt_private
from localgov.kernel.csv import CsvRejected, CsvTable, read_csv
from localgov.kernel.errors import Conflict, DomainError, FieldError, NotFound
from localgov.kernel.events import publish
from localgov.kernel.numbering import fiscal_period
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.signing import DEFAULT_SCHEME, new_secret, secrets_in_force
from localgov.kernel.signing import SignatureRefused as SignatureRefused  # re-exported: bank_views, tests
from localgov.kernel.thai import BANGKOK
from localgov.kernel.usage import record_usage
from localgov.services.payments import credits, receipts
from localgov.services.payments.api import BILL_PAID, BillPaid
from localgov.services.payments.models import (
    Bill,
    BillStatus,
    ExceptionKind,
    Payment,
    PaymentException,
    PaymentSettings,
    Receipt,
)

log = structlog.get_logger("localgov.payments.bank")

PAYMENTS_CONFIRMED = UsageMeter(
    code="payments.payments_confirmed",
    unit="payment",
    title_th="การชำระเงินที่ยืนยันแล้ว",
    title_en="Payments confirmed",
)
BAHT_COLLECTED = UsageMeter(
    code="payments.baht_collected", unit="baht", title_th="จำนวนเงินที่รับชำระ (บาท)", title_en="Baht collected"
)

#: The bank signs with the platform's scheme (:mod:`localgov.kernel.signing`): these headers, ``v1``,
#: a five-minute replay window.
SIGNATURE = DEFAULT_SCHEME
TIMESTAMP_HEADER = SIGNATURE.timestamp_header
SIGNATURE_HEADER = SIGNATURE.signature_header
REPLAY_WINDOW = SIGNATURE.window
#: How long the previous secret keeps verifying after a rotation (the bank's time to switch).
PREVIOUS_SECRET_VALID_FOR = dt.timedelta(days=7)
_SECRET_KIND = "payments.webhook_secret"  # noqa: S105 (a label, not a secret)
#: A reference as stored: 1-20 printable characters. Only ``A-Z0-9`` can name a bill; anything else
#: (a Thai-character Ref1 typed at a counter) is still money received: an ``unmatched`` exception.
_REF = re.compile(r"^[^\x00-\x1f\x7f]{1,20}$")
_CENT = Decimal("0.01")
#: Amounts at or above this are refused before any rounding (a 32-digit or ``1e308`` amount cannot be
#: quantized to satang and is not a payment anyway).
AMOUNT_LIMIT = Decimal("1e10")

Channel = Literal["webhook", "statement", "credit"]
COLLECTORS: dict[str, str] = {
    "webhook": "รับชำระผ่านธนาคาร (Thai QR)",
    "statement": "รับชำระผ่านธนาคาร (Thai QR, รายการเดินบัญชี)",
    "credit": "หักจากเงินเครดิตของผู้ชำระ (payer credit)",
}


class InvalidNotification(DomainError):
    code = "invalid_notification"
    status = 400
    title = "The payment notification is not valid"


# --- secrets and signatures -------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value a bank sends: ``v1=<hex HMAC-SHA256(secret, timestamp "." body)>``."""
    return SIGNATURE.sign(secret, timestamp, body)


def new_webhook_secret() -> str:
    """256 random bits, printable (``lgwh_…``)."""
    return new_secret("lgwh_")


def _seal(secret_key: str, secret: str) -> bytes:
    return encrypt_private(secret_key, {"kind": _SECRET_KIND, "secret": secret})


def _unseal(secret_key: str, blob: bytes) -> str:
    data = decrypt_private(secret_key, blob)
    if data.get("kind") != _SECRET_KIND or not isinstance(data.get("secret"), str):
        raise ValueError("not a webhook secret")
    return str(data["secret"])


def valid_secrets(row: PaymentSettings | None, secret_key: str, now: dt.datetime) -> list[str]:
    """The secrets that verify now: the current one, and the previous one during its overlap."""
    if row is None or row.webhook_secret is None:
        return []
    previous = row.webhook_secret_previous
    return secrets_in_force(
        _unseal(secret_key, row.webhook_secret),
        _unseal(secret_key, previous) if previous is not None else None,
        row.webhook_secret_rotated_at,
        now,
        overlap=PREVIOUS_SECRET_VALID_FOR,
    )


def verify_signature(
    secrets_: list[str], timestamp: str | None, signature: str | None, body: bytes, now: dt.datetime
) -> None:
    """Refuse (401) unless ``signature`` holds an HMAC of ``timestamp.body`` under a valid secret."""
    SIGNATURE.verify(secrets_, timestamp, signature, body, now)


async def settings_row(session: AsyncSession, *, for_update: bool = False) -> PaymentSettings | None:
    query = select(PaymentSettings).where(PaymentSettings.id == 1)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def rotate_webhook_secret(
    session: AsyncSession, secret_key: str, *, actor: Actor, origin: Origin
) -> tuple[str, PaymentSettings]:
    """A new current secret (returned once, stored encrypted, audited); the current one becomes the previous."""
    await session.execute(insert(PaymentSettings).values(id=1).on_conflict_do_nothing(index_elements=["id"]))
    row = await settings_row(session, for_update=True)
    if row is None:  # pragma: no cover - inserted just above
        raise RuntimeError("payment settings row missing")
    secret = new_webhook_secret()
    now = dt.datetime.now(dt.UTC)
    row.webhook_secret_previous = row.webhook_secret
    row.webhook_secret = _seal(secret_key, secret)
    row.webhook_secret_rotated_at = now
    row.updated_at = now
    await session.flush()
    await record_audit(
        session, "payments.webhook_secret_rotated", actor=actor, origin=origin, target="payment_settings"
    )
    return secret, row


# --- notifications ----------------------------------------------------------------------------------


class BankNotice(msgspec.Struct, frozen=True, kw_only=True):
    """One payment as the bank reports it (webhook or statement line), normalised."""

    transaction_id: str
    biller_id: str
    ref1: str
    ref2: str | None
    amount: Decimal
    paid_at: dt.datetime
    raw: dict[str, Any]


class Outcome(msgspec.Struct, kw_only=True):
    payment: Payment
    exception: PaymentException | None
    receipt: Receipt | None
    bill: Bill | None
    #: True when the transaction was already known (a retried delivery, or a statement line the
    #: webhook had reported): nothing was written.
    replayed: bool
    #: A new payment paid in a period already closed when it was processed (see :func:`lateness`).
    late: Literal["closed_month", "closed_fiscal_year"] | None = None


def normalise_notice(
    *,
    transaction_id: str,
    biller_id: str,
    ref1: str,
    ref2: str | None,
    amount: Decimal,
    paid_at: dt.datetime,
    raw: dict[str, Any],
) -> BankNotice:
    """Check and normalise what the bank sent (400 ``invalid_notification`` with the field)."""
    txn = transaction_id.strip()
    if not txn or len(txn) > 100:
        raise InvalidNotification("transaction_id must have 1-100 characters.", data={"field": "transaction_id"})
    biller = biller_id.strip()
    if not re.fullmatch(r"[0-9]{15}", biller):
        raise InvalidNotification("biller_id must be 15 digits.", data={"field": "biller_id"})
    refs: list[str | None] = []
    for name, value in (("ref1", ref1), ("ref2", ref2)):
        norm = value.strip().upper() if value is not None else None
        if norm == "" and name == "ref2":
            norm = None
        if (norm is not None or name == "ref1") and not _REF.fullmatch(norm or ""):
            raise InvalidNotification(f"{name} must be 1-20 printable characters.", data={"field": name})
        refs.append(norm)
    # The range first: quantizing a 32-digit amount raises (and was a 500 the bank retried).
    if not amount.is_finite() or amount <= 0 or amount >= AMOUNT_LIMIT or amount != amount.quantize(_CENT):
        raise InvalidNotification("amount must be positive baht with at most 2 decimals.", data={"field": "amount"})
    if paid_at.tzinfo is None:
        raise InvalidNotification("paid_at needs a time zone offset.", data={"field": "paid_at"})
    return BankNotice(
        transaction_id=txn,
        biller_id=biller,
        ref1=refs[0] or "",
        ref2=refs[1],
        amount=amount.quantize(_CENT),
        paid_at=paid_at,
        raw=raw,
    )


def _same_transaction(payment: Payment, notice: BankNotice) -> bool:
    return (
        payment.biller_id == notice.biller_id
        and payment.ref1 == notice.ref1
        and (payment.ref2 or None) == notice.ref2
        and payment.amount == notice.amount
        and payment.paid_at == notice.paid_at
    )


async def _known(session: AsyncSession, payment: Payment, notice: BankNotice) -> Outcome:
    if not _same_transaction(payment, notice):
        raise Conflict(
            "The bank already reported this transaction id with other details; nothing was changed.",
            code="bank_transaction_conflict",
            data={"transaction_id": notice.transaction_id, "payment_id": str(payment.id)},
        )
    exception = (
        await session.execute(select(PaymentException).where(PaymentException.payment_id == payment.id))
    ).scalar_one_or_none()
    receipt = (await session.execute(select(Receipt).where(Receipt.payment_id == payment.id))).scalar_one_or_none()
    bill = await session.get(Bill, payment.bill_id) if payment.bill_id else None
    return Outcome(payment=payment, exception=exception, receipt=receipt, bill=bill, replayed=True)


async def _payment_by_txn(session: AsyncSession, transaction_id: str) -> Payment | None:
    query = select(Payment).where(Payment.bank_txn_id == transaction_id)
    return (await session.execute(query)).scalar_one_or_none()


def classify(biller_id: str | None, bill: Bill | None, notice: BankNotice) -> ExceptionKind | None:
    """Why a notice cannot be matched to ``bill`` (None: it matches exactly)."""
    if biller_id is None or notice.biller_id != biller_id:
        return "biller_mismatch"
    if bill is None:
        return "unmatched"
    if bill.status == "paid":
        return "duplicate"
    if bill.status != "open":
        return "bill_not_open"
    if notice.paid_at.astimezone(BANGKOK).date() < bill.issue_date:
        # Money dated before the bill existed paid something else (or the bank's date is wrong):
        # finance looks, it is never matched silently.
        return "paid_before_issue"
    due = bill.total - bill.amount_paid
    if notice.amount < due:
        return "short"
    if notice.amount > due:
        return "over"
    return None


async def record_notice(
    session: AsyncSession,
    notice: BankNotice,
    *,
    channel: Channel,
    biller_id: str | None,
    book_size: int,
    officer: receipts.Officer | None = None,
) -> Outcome:
    """Record one bank payment once (by transaction id), matched with a receipt or as an exception.

    The bill is locked (``FOR UPDATE``) before it is judged, so two payments of one bill, or fifty
    deliveries of one payment, are decided one after the other: the first pays it, the others find
    it paid (a duplicate) or find the transaction already recorded (a replay that writes nothing).
    """
    existing = await _payment_by_txn(session, notice.transaction_id)
    if existing is not None:
        return await _known(session, existing, notice)
    bill = (
        await session.execute(select(Bill).where(Bill.reference == notice.ref1).with_for_update())
    ).scalar_one_or_none()
    kind = classify(biller_id, bill, notice)
    linked = bill if kind not in ("unmatched", "biller_mismatch") else None
    inserted = (
        await session.execute(
            insert(Payment)
            .values(
                bank_txn_id=notice.transaction_id,
                channel=channel,
                bill_id=linked.id if linked else None,
                biller_id=notice.biller_id,
                ref1=notice.ref1,
                ref2=notice.ref2,
                amount=notice.amount,
                paid_at=notice.paid_at,
                status="exception" if kind else "matched",
                raw=notice.raw,
            )
            .on_conflict_do_nothing(index_elements=["bank_txn_id"])
            .returning(Payment.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        # Another delivery of the same transaction committed while this one waited: replay it.
        concurrent = await _payment_by_txn(session, notice.transaction_id)
        if concurrent is None:  # pragma: no cover - the conflicting row is committed by now
            raise RuntimeError("conflicting payment vanished")
        return await _known(session, concurrent, notice)
    payment = await session.get(Payment, inserted)
    if payment is None:  # pragma: no cover
        raise RuntimeError("inserted payment not found")
    if kind is not None:
        exception = PaymentException(payment_id=payment.id, kind=kind)
        session.add(exception)
        await session.flush()
        log.info("payment_exception", kind=kind, transaction_id=notice.transaction_id, channel=channel)
        return Outcome(payment=payment, exception=exception, receipt=None, bill=linked, replayed=False)
    if bill is None:  # pragma: no cover - classify() returns None only with a bill
        raise RuntimeError("matched without a bill")
    receipt = await settle(
        session, bill, payment, payment.amount, collector=COLLECTORS[channel], book_size=book_size, officer=officer
    )
    return Outcome(payment=payment, exception=None, receipt=receipt, bill=bill, replayed=False)


async def settle(
    session: AsyncSession,
    bill: Bill,
    payment: Payment,
    amount: Decimal,
    *,
    collector: str,
    book_size: int,
    officer: receipts.Officer | None,
) -> Receipt:
    """``amount`` of ``payment`` paid toward ``bill`` (locked by the caller, at most what is left):
    its receipt, metering, and once nothing is left the bill is paid and ``payments.bill_paid``
    published (its ``amount`` is the bill's total)."""
    bill.amount_paid = bill.amount_paid + amount
    if bill.amount_paid >= bill.total:
        bill.status = "paid"
        bill.paid_at = payment.paid_at
    if payment.channel != "credit":  # credit money was metered when the bank first reported it
        await record_usage(session, PAYMENTS_CONFIRMED, 1, f"payments.confirmed:{payment.id}")
        await record_usage(session, BAHT_COLLECTED, payment.amount, f"payments.baht:{payment.id}")
    receipt = await receipts.issue_receipt(
        session, payment=payment, bill=bill, collector=collector, book_size=book_size, officer=officer, amount=amount
    )
    if bill.status == "paid":
        paid = BillPaid(
            bill_id=bill.id,
            reference=bill.reference,
            source=bill.source,
            source_key=bill.source_key,
            amount=bill.total,
            paid_at=payment.paid_at,
            receipt_number=receipts.receipt_label(receipt),
            receipt_id=receipt.id,
            payment_id=payment.id,
        )
        await publish(session, BILL_PAID, paid)
    return receipt


async def process_notification(
    session: AsyncSession,
    *,
    body: bytes,
    notice_fields: dict[str, Any],
    timestamp: str | None,
    signature: str | None,
    secret_key: str,
    now: dt.datetime | None = None,
) -> Outcome:
    """Verify a webhook delivery's signature, then record its payment."""
    moment = now or dt.datetime.now(dt.UTC)
    row = await settings_row(session)
    try:
        verify_signature(valid_secrets(row, secret_key, moment), timestamp, signature, body, moment)
    except SignatureRefused as refused:
        log.warning("bank_notification_refused", code=refused.code)
        raise
    notice = normalise_notice(**notice_fields, raw=msgspec.json.decode(body))
    outcome = await record_notice(
        session,
        notice,
        channel="webhook",
        biller_id=row.biller_id if row else None,
        book_size=row.receipt_book_size if row else receipts.DEFAULT_BOOK_SIZE,
        officer=receipts.officer_of(row),
    )
    if not outcome.replayed:
        outcome.late = lateness(notice.paid_at, moment)
    return outcome


# --- daily statement files --------------------------------------------------------------------------

#: The statement columns (a header row names them; extra columns are kept in ``raw``).
STATEMENT_COLUMNS = ("transaction_id", "paid_at", "biller_id", "ref1", "ref2", "amount")
MAX_STATEMENT_ROWS = 50_000


#: An ISO 8601 date and time as a statement writes it (an offset optional).
_PAID_AT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"


class StatementRow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One line of a bank statement (the CSV's columns, :data:`STATEMENT_COLUMNS`)."""

    transaction_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    #: ISO 8601 (as in the file: text, read by the same parser); without an offset it is Bangkok time.
    paid_at: Annotated[
        str,
        msgspec.Meta(
            pattern=_PAID_AT,
            examples=["2026-12-01T10:15:00+07:00"],
        ),
    ]
    #: The LAO's 15-digit biller id.
    biller_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{15}$", examples=["099400012345601"])]
    ref1: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    ref2: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    amount: Decimal


class StatementRowError(msgspec.Struct):
    line: int
    message: str


class InvalidStatement(DomainError):
    code = "invalid_statement"
    status = 422  # as kernel.csv's csv_rejected: the file's content, which no schema of text/csv states
    title = "The statement file is not valid; nothing was imported"


class StatementLine(msgspec.Struct, kw_only=True):
    line: int
    transaction_id: str
    #: ``matched`` (new, receipt issued), ``exception`` (new, to resolve), ``known`` (already
    #: recorded, e.g. by the webhook), ``conflict`` (already recorded with other details: nothing
    #: changed; finance must look).
    outcome: Literal["matched", "exception", "known", "conflict"]
    payment_id: uuid.UUID | None
    exception_kind: ExceptionKind | None = None
    receipt: str | None = None
    #: A new line paid in a period already closed when the file came in: ``closed_month`` (an
    #: earlier Bangkok month) or ``closed_fiscal_year`` (an earlier fiscal year, 1 October). Its
    #: receipt still belongs to the payment's own date and fiscal year; finance must amend the
    #: closed period's figures.
    late: Literal["closed_month", "closed_fiscal_year"] | None = None


class StatementReport(msgspec.Struct, kw_only=True):
    rows: int
    new: int
    matched: int
    exceptions: int
    known: int
    conflicts: int
    amount_new: Decimal
    #: New lines paid in a closed period (see :attr:`StatementLine.late`).
    late: int
    #: Webhook payments of the days this file covers that the file does not list.
    not_in_statement: list[str]
    lines: list[StatementLine]


def _parse_paid_at(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.strip())
    # A time without an offset in a Thai bank's file is Bangkok time.
    return moment if moment.tzinfo else moment.replace(tzinfo=BANGKOK)


def parse_statement(content: bytes | CsvTable) -> list[tuple[int, BankNotice]]:
    """Every line of a statement as a notice; any bad line refuses the whole file (422).

    ``content`` is the CSV file, or its rows already read (``kernel.csv.ImportBody``: the file, or
    the same rows sent as JSON, whose ``line`` is the row's index)."""
    if isinstance(content, CsvTable):
        table = content
    else:
        try:
            table = read_csv(
                content,
                required=[c for c in STATEMENT_COLUMNS if c != "ref2"],
                lower_header=True,
                max_rows=MAX_STATEMENT_ROWS,
            )
        except CsvRejected as exc:
            # The file itself cannot be read: the same 422 as bad lines, with the reader's reasons.
            raise InvalidStatement(exc.detail, data=exc.data) from None
    errors: list[StatementRowError] = []
    notices: list[tuple[int, BankNotice]] = []
    seen: dict[str, int] = {}
    for row in table.rows:
        line = row.line
        fields = row.values
        try:
            amount = Decimal(fields.get("amount", "").replace(",", ""))
        except InvalidOperation:
            errors.append(StatementRowError(line, "amount is not a number"))
            continue
        try:
            paid_at = _parse_paid_at(fields.get("paid_at", ""))
        except ValueError:
            errors.append(StatementRowError(line, "paid_at is not an ISO 8601 date and time"))
            continue
        try:
            notice = normalise_notice(
                transaction_id=fields.get("transaction_id", ""),
                biller_id=fields.get("biller_id", ""),
                ref1=fields.get("ref1", ""),
                ref2=fields.get("ref2") or None,
                amount=amount,
                paid_at=paid_at,
                raw={"statement": fields},
            )
        except InvalidNotification as exc:
            errors.append(StatementRowError(line, exc.detail or exc.title))
            continue
        if notice.transaction_id in seen:
            errors.append(StatementRowError(line, f"transaction_id repeats line {seen[notice.transaction_id]}"))
            continue
        seen[notice.transaction_id] = line
        notices.append((line, notice))
    if errors:
        raise InvalidStatement(
            f"{len(errors)} line(s) are not valid.",
            errors=[FieldError(key="row", message=e.message, line=e.line, source=table.source) for e in errors[:200]],
        )
    if not notices:
        raise InvalidStatement("The file has no payment lines.")
    return notices


def lateness(paid_at: dt.datetime, processed_at: dt.datetime) -> Literal["closed_month", "closed_fiscal_year"] | None:
    """Whether a payment reported at ``processed_at`` falls in a period already closed."""
    paid = paid_at.astimezone(BANGKOK).date()
    today = processed_at.astimezone(BANGKOK).date()
    if fiscal_period(paid) < fiscal_period(today):
        return "closed_fiscal_year"
    if (paid.year, paid.month) < (today.year, today.month):
        return "closed_month"
    return None


async def import_statement(
    session: AsyncSession, content: bytes | CsvTable, *, actor: Actor, origin: Origin, now: dt.datetime | None = None
) -> StatementReport:
    """Reconcile a daily statement: record what the webhook missed, report what differs.

    Same matching, same idempotency (by transaction id) as the webhook. One transaction: the
    whole file or nothing. Imports of one LAO run one at a time, and every bill the file names is
    locked before any receipt number is taken, so an import and live webhooks never wait on each
    other in a cycle.
    """
    notices = parse_statement(content)
    digest = content.digest if isinstance(content, CsvTable) else hashlib.sha256(content).hexdigest()
    processed = now or dt.datetime.now(dt.UTC)
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("payments.statement_import"))))
    row = await settings_row(session)
    biller_id = row.biller_id if row else None
    book_size = row.receipt_book_size if row else receipts.DEFAULT_BOOK_SIZE
    officer = receipts.officer_of(row)
    refs = sorted({n.ref1 for _, n in notices})
    await session.execute(select(Bill.id).where(Bill.reference.in_(refs)).order_by(Bill.id).with_for_update())
    lines: list[StatementLine] = []
    amount_new = Decimal(0)
    for line, notice in notices:
        try:
            async with session.begin_nested():
                outcome = await record_notice(
                    session, notice, channel="statement", biller_id=biller_id, book_size=book_size, officer=officer
                )
        except Conflict as conflict:
            payment_id = (conflict.data or {}).get("payment_id")
            lines.append(
                StatementLine(
                    line=line,
                    transaction_id=notice.transaction_id,
                    outcome="conflict",
                    payment_id=uuid.UUID(payment_id) if payment_id else None,
                )
            )
            continue
        if outcome.replayed:
            result: Literal["matched", "exception", "known", "conflict"] = "known"
        else:
            result = "exception" if outcome.exception else "matched"
            amount_new += outcome.payment.amount
        lines.append(
            StatementLine(
                line=line,
                transaction_id=notice.transaction_id,
                outcome=result,
                payment_id=outcome.payment.id,
                exception_kind=outcome.exception.kind if outcome.exception else None,
                receipt=receipts.receipt_label(outcome.receipt) if outcome.receipt else None,
                late=None if outcome.replayed else lateness(notice.paid_at, processed),
            )
        )
    days = sorted({n.paid_at.astimezone(BANGKOK).date() for _, n in notices})
    listed = [n.transaction_id for _, n in notices]
    missing = (
        await session.execute(
            select(Payment.bank_txn_id)
            .where(
                Payment.channel == "webhook",
                func.date(func.timezone("Asia/Bangkok", Payment.paid_at)).in_(days),
                Payment.bank_txn_id.not_in(listed),
            )
            .order_by(Payment.paid_at)
        )
    ).scalars()
    count = {k: sum(1 for item in lines if item.outcome == k) for k in ("matched", "exception", "known", "conflict")}
    report = StatementReport(
        rows=len(lines),
        new=count["matched"] + count["exception"],
        matched=count["matched"],
        exceptions=count["exception"],
        known=count["known"],
        conflicts=count["conflict"],
        amount_new=amount_new,
        late=sum(1 for item in lines if item.late),
        not_in_statement=list(missing),
        lines=lines,
    )
    await record_audit(
        session,
        "payments.statement_imported",
        actor=actor,
        origin=origin,
        target="sha256:" + digest,
        data={
            "rows": report.rows,
            "matched": report.matched,
            "exceptions": report.exceptions,
            "known": report.known,
            "conflicts": report.conflicts,
            "amount_new": str(report.amount_new),
            "late": report.late,
            "not_in_statement": len(report.not_in_statement),
        },
    )
    return report


# --- payments and exceptions for finance staff ------------------------------------------------------


class ExceptionAlreadyResolved(Conflict):
    code = "exception_already_resolved"
    title = "This payment exception is already resolved"


class PaymentRead(msgspec.Struct, kw_only=True):
    """A payment with what became of it: its exception or its receipt, and its bill's reference."""

    payment: Payment
    exception: PaymentException | None
    receipt: Receipt | None
    bill_reference: str | None


def _payment_rows() -> Any:
    return (
        select(Payment, PaymentException, Receipt, Bill.reference)
        .outerjoin(PaymentException, PaymentException.payment_id == Payment.id)
        .outerjoin(Receipt, Receipt.payment_id == Payment.id)
        .outerjoin(Bill, Bill.id == Payment.bill_id)
    )


async def get_payment(session: AsyncSession, payment_id: uuid.UUID) -> PaymentRead:
    row = (await session.execute(_payment_rows().where(Payment.id == payment_id))).one_or_none()
    if row is None:
        raise NotFound("No such payment.", code="payment_not_found")
    return PaymentRead(payment=row[0], exception=row[1], receipt=row[2], bill_reference=row[3])


async def list_payments(
    session: AsyncSession,
    *,
    status: str | None,
    day_from: dt.date | None,
    day_to: dt.date | None,
    after: uuid.UUID | None,
    limit: int,
    updated_since: dt.datetime | None = None,
) -> list[PaymentRead]:
    """Payments in the order they were received, keyset-paged after a payment id."""
    query = _payment_rows()
    if updated_since is not None:
        query = query.where(Payment.updated_at >= updated_since)
    if status:
        query = query.where(Payment.status == status)
    bangkok_day = func.date(func.timezone("Asia/Bangkok", Payment.paid_at))
    if day_from:
        query = query.where(bangkok_day >= day_from)
    if day_to:
        query = query.where(bangkok_day <= day_to)
    if after:
        cursor = await session.get(Payment, after)
        if cursor is None:
            raise NotFound("Unknown cursor.", code="payment_not_found")
        query = query.where(
            (Payment.received_at > cursor.received_at)
            | ((Payment.received_at == cursor.received_at) & (Payment.id > cursor.id))
        )
    query = query.order_by(Payment.received_at, Payment.id).limit(limit)
    return [
        PaymentRead(payment=r[0], exception=r[1], receipt=r[2], bill_reference=r[3])
        for r in (await session.execute(query)).all()
    ]


class PaymentExceptionRead(msgspec.Struct, kw_only=True):
    exception: PaymentException
    payment: Payment
    bill: Bill | None


def _exception_rows() -> Any:
    return (
        select(PaymentException, Payment, Bill)
        .join(Payment, Payment.id == PaymentException.payment_id)
        .outerjoin(Bill, Bill.id == Payment.bill_id)
    )


async def get_exception(session: AsyncSession, exception_id: uuid.UUID) -> PaymentExceptionRead:
    row = (await session.execute(_exception_rows().where(PaymentException.id == exception_id))).one_or_none()
    if row is None:
        raise NotFound("No such payment exception.", code="payment_exception_not_found")
    return PaymentExceptionRead(exception=row[0], payment=row[1], bill=row[2])


async def list_exceptions(
    session: AsyncSession, *, status: str | None, kind: str | None, after: uuid.UUID | None, limit: int
) -> list[PaymentExceptionRead]:
    """Exceptions, oldest first (the queue finance works through), keyset-paged after an id."""
    query = _exception_rows()
    if status:
        query = query.where(PaymentException.status == status)
    if kind:
        query = query.where(PaymentException.kind == kind)
    if after:
        cursor = await session.get(PaymentException, after)
        if cursor is None:
            raise NotFound("Unknown cursor.", code="payment_exception_not_found")
        query = query.where(
            (PaymentException.created_at > cursor.created_at)
            | ((PaymentException.created_at == cursor.created_at) & (PaymentException.id > cursor.id))
        )
    query = query.order_by(PaymentException.created_at, PaymentException.id).limit(limit)
    return [PaymentExceptionRead(exception=r[0], payment=r[1], bill=r[2]) for r in (await session.execute(query)).all()]


async def resolve_exception(
    session: AsyncSession,
    exception_id: uuid.UUID,
    *,
    note: str,
    staff_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> PaymentExceptionRead:
    """Close an exception with what finance did about it (refund, manual receipt …): a note only.

    Nothing about the payment or the bill changes here: a person decided and wrote down what was
    done; the system never turns an exception into a receipt by itself.
    """
    row = await get_exception(session, exception_id)
    await session.refresh(row.exception, with_for_update=True)
    exception = row.exception
    if exception.status == "resolved":
        resolved_at = exception.resolved_at.isoformat() if exception.resolved_at else None
        raise ExceptionAlreadyResolved(data={"resolved_at": resolved_at})
    exception.status = "resolved"
    exception.resolution = note
    exception.resolved_by = staff_id
    exception.resolved_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(
        session,
        "payments.exception_resolved",
        actor=actor,
        origin=origin,
        target=str(exception_id),
        data={"kind": exception.kind, "payment_id": str(row.payment.id), "note": note},
    )
    return row


# --- applying an exception's money, and the payer's credit ----------------------------------------------


class ExceptionNotApplicable(Conflict):
    code = "exception_not_applicable"
    title = "This exception's money cannot be applied"


class AppliedException(msgspec.Struct, kw_only=True):
    """What a finance officer's application did with an exception's payment."""

    exception_id: uuid.UUID
    payment_id: uuid.UUID
    bill_id: uuid.UUID
    #: Paid toward the bill (with its receipt), and what the bill still asks.
    applied: Decimal
    receipt_id: uuid.UUID | None
    receipt: str | None
    bill_status: BillStatus
    amount_due: Decimal
    #: Held as the payer's credit (an over payment's surplus, money for a bill that is not open).
    credited: Decimal
    credit_balance: Decimal


async def apply_exception(
    session: AsyncSession,
    exception_id: uuid.UUID,
    *,
    note: str,
    staff_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> AppliedException:
    """A finance officer's decision on an exception whose payment names a bill: pay what the bill
    still asks (a short payment leaves the rest open, an over payment pays it), receipt that part,
    and hold the rest as the payer's credit. A voided receipt's money, or money for a bill that is
    no longer open, all goes to the credit. The exception is resolved with the note; audited.
    Never automatic: the bank's mismatches stay in the queue until a person decides."""
    row = await get_exception(session, exception_id)
    await session.refresh(row.exception, with_for_update=True)
    exception, payment = row.exception, row.payment
    if exception.status == "resolved":
        resolved_at = exception.resolved_at.isoformat() if exception.resolved_at else None
        raise ExceptionAlreadyResolved(data={"resolved_at": resolved_at})
    if payment.bill_id is None:
        raise ExceptionNotApplicable(
            "The payment names no bill of this LAO, so it has no payer: resolve it with a note (refund).",
            data={"kind": exception.kind},
        )
    bill = (await session.execute(select(Bill).where(Bill.id == payment.bill_id).with_for_update())).scalar_one()
    await credits.lock_payer(session, bill.payer_id)
    settings = await settings_row(session)
    applied = Decimal("0.00")
    receipt: Receipt | None = None
    if exception.kind != "voided_receipt" and bill.status == "open":
        applied = min(payment.amount, bill.total - bill.amount_paid)
        receipt = await settle(
            session,
            bill,
            payment,
            applied,
            collector=COLLECTORS[payment.channel],
            book_size=settings.receipt_book_size if settings else receipts.DEFAULT_BOOK_SIZE,
            officer=receipts.officer_of(settings),
        )
        payment.status = "matched"
    credited = payment.amount - applied
    if credited > 0:
        await credits.add_entry(
            session,
            payer_id=bill.payer_id,
            amount=credited,
            kind="over" if applied > 0 else ("voided_receipt" if exception.kind == "voided_receipt" else "exception"),
            payment_id=payment.id,
            bill_id=bill.id,
            note=note,
            approved_by=staff_id,
        )
    exception.status = "resolved"
    exception.resolution = note
    exception.resolved_by = staff_id
    exception.resolved_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(
        session,
        "payments.exception_applied",
        actor=actor,
        origin=origin,
        target=str(exception_id),
        data={
            "kind": exception.kind,
            "payment_id": str(payment.id),
            "applied": str(applied),
            "credited": str(credited),
            "note": note,
        },
    )
    return AppliedException(
        exception_id=exception.id,
        payment_id=payment.id,
        bill_id=bill.id,
        applied=applied,
        receipt_id=receipt.id if receipt else None,
        receipt=receipts.receipt_label(receipt) if receipt else None,
        bill_status=bill.status,
        amount_due=bill.total - bill.amount_paid,
        credited=credited,
        credit_balance=await credits.balance(session, bill.payer_id),
    )


async def pay_from_credit(session: AsyncSession, bills: Sequence[Bill]) -> list[Receipt]:
    """Use the payers' credit on their new bills (bill runs, advance bills, bills by hand): each bill
    whose payer holds credit gets a ``credit`` payment of what the credit covers, with its receipt;
    a bill the credit covers whole is paid. Oldest bills first; payers locked in id order."""
    open_bills = [b for b in bills if b.status == "open" and b.total > b.amount_paid]
    held = await credits.balances(session, sorted({b.payer_id for b in open_bills}))
    if not held:
        return []
    for payer_id in sorted(held):
        await credits.lock_payer(session, payer_id)
    held = await credits.balances(session, sorted(held))
    settings = await settings_row(session)
    out: list[Receipt] = []
    now = dt.datetime.now(dt.UTC)
    for bill in sorted(open_bills, key=lambda b: (b.due_date, b.reference)):
        available = held.get(bill.payer_id, Decimal(0))
        if available <= 0:
            continue
        await session.refresh(bill, with_for_update=True)
        use = min(available, bill.total - bill.amount_paid)
        if use <= 0:
            continue
        payment = Payment(
            bank_txn_id=f"CREDIT-{uuid.uuid4().hex[:20].upper()}",
            channel="credit",
            bill_id=bill.id,
            biller_id=(settings.biller_id if settings and settings.biller_id else "0" * 15),
            ref1=bill.reference,
            amount=use,
            paid_at=now,
            status="matched",
            raw={"credit": True},
        )
        session.add(payment)
        await session.flush()
        await credits.add_entry(
            session, payer_id=bill.payer_id, amount=-use, kind="applied", payment_id=payment.id, bill_id=bill.id
        )
        held[bill.payer_id] = available - use
        out.append(
            await settle(
                session,
                bill,
                payment,
                use,
                collector=COLLECTORS["credit"],
                book_size=settings.receipt_book_size if settings else receipts.DEFAULT_BOOK_SIZE,
                officer=receipts.officer_of(settings),
            )
        )
    return out
