"""HTTP endpoints of money in: the bank's notification webhook, statement imports, the webhook
secret, and the payments and exceptions finance staff work with."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.csv import ImportBody
from localgov.kernel.errors import problem_responses
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, UpdatedSince, aware, id_cursor, next_id_cursor
from localgov.kernel.ratelimit import RateLimited, hit, refuse_if_spent
from localgov.kernel.tenancy import TenantInfo
from localgov.services.payments import bank as svc
from localgov.services.payments.models import (
    Bill,
    BillStatus,
    ExceptionKind,
    ExceptionStatus,
    Payment,
    PaymentChannel,
    PaymentException,
    PaymentStatus,
    ReceiptStatus,
)
from localgov.services.payments.params import BANK_READ, FINANCE_OR_ADMIN, MANAGE, staff_uuid
from localgov.settings import Settings

TAG = "Payments: bank"
NO_STORE = CacheControlHeader(no_store=True)
IdPath = Annotated[uuid.UUID, PathParameter(description="The id")]
DayFrom = Annotated[dt.date | None, QueryParameter(description="From this day (Bangkok time), inclusive")]
DayTo = Annotated[dt.date | None, QueryParameter(description="To this day (Bangkok time), inclusive")]


#: The statement import's body: the bank's CSV file, or its lines as JSON (``kernel.csv.ImportBody``).
STATEMENT_IMPORT = ImportBody(
    svc.StatementRow,
    name="BankStatementImport",
    required=[c for c in svc.STATEMENT_COLUMNS if c != "ref2"],
    lower_header=True,
    max_rows=svc.MAX_STATEMENT_ROWS,
    refuse=lambda exc: svc.InvalidStatement(exc.detail, data=exc.data),
)


class BankNotification(msgspec.Struct, kw_only=True):
    """What the bank sends for one Thai QR bill payment (fields it adds are kept, not read)."""

    transaction_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="The bank's id")]
    biller_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{15}$", description="Tag 30/01 of the QR")]
    ref1: Annotated[str, msgspec.Meta(min_length=1, max_length=20, description="Tag 30/02: the bill's reference")]
    amount: Annotated[Decimal, msgspec.Meta(description="Baht, at most 2 decimals (a JSON string or number)")]
    paid_at: Annotated[dt.datetime, msgspec.Meta(tz=True, description="When the payer paid (with offset)")]
    ref2: Annotated[str, msgspec.Meta(max_length=20, description="Tag 30/03")] | None = None


class ReceiptRef(msgspec.Struct):
    id: uuid.UUID
    fiscal_year: str
    book_no: int
    receipt_no: int
    status: ReceiptStatus


class NotificationResult(msgspec.Struct, kw_only=True):
    """What became of a notification: matched (with its receipt) or an exception to resolve."""

    payment_id: uuid.UUID
    status: PaymentStatus
    exception_kind: ExceptionKind | None
    bill_reference: str | None
    receipt: ReceiptRef | None
    #: The transaction was already recorded: this delivery changed nothing.
    replayed: bool
    #: Paid in a period already closed (``closed_month``, ``closed_fiscal_year``): the receipt is
    #: dated the payment day all the same; finance amends that period's figures.
    late: Literal["closed_month", "closed_fiscal_year"] | None = None


class WebhookSecretStatus(msgspec.Struct, kw_only=True):
    """How the bank must sign (never the secret itself)."""

    configured: bool
    rotated_at: dt.datetime | None
    #: Until then the previous secret verifies too.
    previous_valid_until: dt.datetime | None
    timestamp_header: str = svc.TIMESTAMP_HEADER
    signature_header: str = svc.SIGNATURE_HEADER
    signature_format: str = 'v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>'
    replay_window_s: int = int(svc.REPLAY_WINDOW.total_seconds())


class WebhookSecret(WebhookSecretStatus, kw_only=True):
    """The new secret: in this response only, never shown again."""

    secret: str


class PaymentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    bank_txn_id: str
    channel: PaymentChannel
    status: PaymentStatus
    biller_id: str
    ref1: str
    ref2: str | None
    amount: Decimal
    paid_at: dt.datetime
    received_at: dt.datetime
    bill_id: uuid.UUID | None
    bill_reference: str | None
    exception_id: uuid.UUID | None
    exception_kind: ExceptionKind | None
    exception_status: ExceptionStatus | None
    receipt: ReceiptRef | None


class PaymentList(msgspec.Struct):
    items: list[PaymentOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class PaymentExceptionOut(msgspec.Struct, kw_only=True):
    """A payment that needs a person: what the bank said, and the bill it seems to be about."""

    id: uuid.UUID
    kind: ExceptionKind
    status: ExceptionStatus
    created_at: dt.datetime
    resolution: str | None
    resolved_by: uuid.UUID | None
    resolved_at: dt.datetime | None
    payment_id: uuid.UUID
    bank_txn_id: str
    channel: PaymentChannel
    biller_id: str
    ref1: str
    ref2: str | None
    amount: Decimal
    paid_at: dt.datetime
    bill_id: uuid.UUID | None
    bill_reference: str | None
    bill_total: Decimal | None
    bill_status: BillStatus | None


class PaymentExceptionList(msgspec.Struct):
    items: list[PaymentExceptionOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class ExceptionResolution(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[
        str,
        msgspec.Meta(min_length=3, max_length=2000, description="What was done (refund, manual receipt no. …)"),
    ]


def _receipt_ref(receipt: Any) -> ReceiptRef | None:
    if receipt is None:
        return None
    return ReceiptRef(
        id=receipt.id,
        fiscal_year=receipt.fiscal_year,
        book_no=receipt.book_no,
        receipt_no=receipt.receipt_no,
        status=receipt.status,
    )


def _payment_out(row: svc.PaymentRead) -> PaymentOut:
    p = row.payment
    return PaymentOut(
        id=p.id,
        bank_txn_id=p.bank_txn_id,
        channel=p.channel,
        status=p.status,
        biller_id=p.biller_id,
        ref1=p.ref1,
        ref2=p.ref2,
        amount=p.amount,
        paid_at=p.paid_at,
        received_at=p.received_at,
        bill_id=p.bill_id,
        bill_reference=row.bill_reference,
        exception_id=row.exception.id if row.exception else None,
        exception_kind=row.exception.kind if row.exception else None,
        exception_status=row.exception.status if row.exception else None,
        receipt=_receipt_ref(row.receipt),
    )


def _exception_out(exception: PaymentException, payment: Payment, bill: Bill | None) -> PaymentExceptionOut:
    return PaymentExceptionOut(
        id=exception.id,
        kind=exception.kind,
        status=exception.status,
        created_at=exception.created_at,
        resolution=exception.resolution,
        resolved_by=exception.resolved_by,
        resolved_at=exception.resolved_at,
        payment_id=payment.id,
        bank_txn_id=payment.bank_txn_id,
        channel=payment.channel,
        biller_id=payment.biller_id,
        ref1=payment.ref1,
        ref2=payment.ref2,
        amount=payment.amount,
        paid_at=payment.paid_at,
        bill_id=bill.id if bill else None,
        bill_reference=bill.reference if bill else None,
        bill_total=bill.total if bill else None,
        bill_status=bill.status if bill else None,
    )


def _status(row: Any) -> WebhookSecretStatus:
    rotated = row.webhook_secret_rotated_at if row else None
    previous = rotated + svc.PREVIOUS_SECRET_VALID_FOR if rotated and row.webhook_secret_previous else None
    return WebhookSecretStatus(
        configured=bool(row and row.webhook_secret), rotated_at=rotated, previous_valid_until=previous
    )


class BankController(Controller):
    """The bank's side: notifications, statements, and the secret they are signed with."""

    path = "/bank"
    tags = [TAG]

    @post(
        "/notifications",
        operation_id="receiveBankPaymentNotification",
        summary="A Thai QR payment notification from the bank (HMAC-signed)",
        description=(
            "Public on purpose: the bank authenticates with `X-Localgov-Signature: v1=<hex HMAC-SHA256"
            "(secret, timestamp + '.' + raw body)>` and `X-Localgov-Timestamp` (Unix seconds, within 5 minutes). "
            "Idempotent by `transaction_id`: a retried delivery answers the same result with `replayed: true`; "
            "the same id with other details is 409 `bank_transaction_conflict`. A payment that does not match "
            "exactly one open bill of this LAO for its exact amount is recorded as an exception (200), never "
            "receipted. 401 `invalid_signature`, `missing_signature`, `invalid_timestamp`, `stale_timestamp` "
            "(each audited); after `LOCALGOV_LOGIN_RATE_LIMIT` refusals from one address in the window, further "
            "badly signed requests get 429 `rate_limited` until it ends. The signature is verified first: a "
            "correctly signed delivery is never limited (nor counted)."
        ),
        status_code=200,
        responses=problem_responses(401, 404, 409, 410, 429),
        # Money already paid by citizens (bills printed before a suspension) is recorded, never
        # bounced: the bank's retries are limited and a lost notification means a manual hunt.
        allow_suspended=True,
        **guarded(PUBLIC),  # authenticated by the HMAC signature, not by a bearer token
    )
    async def notification(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[BankNotification],
        db_session: NamedDependency[AsyncSession],
        timestamp: Annotated[str | None, HeaderParameter(name=svc.TIMESTAMP_HEADER, max_length=20)] = None,
        signature: Annotated[str | None, HeaderParameter(name=svc.SIGNATURE_HEADER, max_length=1000)] = None,
    ) -> NotificationResult:
        state, origin = request.app.state, origin
        settings = state.settings
        # Failed signatures have a budget per LAO and address (guessing secrets, probing). The
        # signature is always verified first: behind a proxy every delivery shares one address, so a
        # correctly signed notification passes however many bad ones came from there; only a
        # request that fails verification is counted, and answered 429 once the budget is spent.
        budget = f"bank-refused:{tenant.id}:{origin.source_ip}"
        try:
            outcome = await svc.process_notification(
                db_session,
                body=await request.body(),
                notice_fields={
                    "transaction_id": data.transaction_id,
                    "biller_id": data.biller_id,
                    "ref1": data.ref1,
                    "ref2": data.ref2,
                    "amount": data.amount,
                    "paid_at": data.paid_at,
                },
                timestamp=timestamp,
                signature=signature,
                secret_key=settings.secret_key,
            )
        except svc.SignatureRefused as refused:
            await refuse_if_spent(
                state.engine, budget, limit=settings.login_rate_limit, window_s=settings.login_rate_window_s
            )
            with contextlib.suppress(RateLimited):  # this one still answers 401; the next bad one, 429
                await hit(state.engine, budget, limit=settings.login_rate_limit, window_s=settings.login_rate_window_s)
            raise refused.audited(
                "payments.notification_refused",
                actor_kind="bank",
                target=f"bank-transaction:{data.transaction_id}",
                data={"code": refused.code},
            ) from None
        return _notification_result(outcome)

    @post(
        "/statements",
        operation_id="importBankStatement",
        summary="Reconcile the bank's daily statement (CSV): record what the webhook missed",
        description=(
            "The request body is the file (`Content-Type: text/csv`): UTF-8 CSV (a BOM is fine) with a header "
            'row naming the columns, or the same rows as JSON (`application/json`, `{"rows": [...]}`; a '
            "line is then the row's index from 1). Columns: "
            "`transaction_id, paid_at, biller_id, ref1, ref2, amount` (ISO 8601 `paid_at`; without an offset it "
            "is Bangkok time; `ref2` may be absent). Any invalid line refuses the whole file (422 "
            "`invalid_statement` with `errors`). Transactions already recorded are `known`; known ones "
            "whose details differ are `conflict` and change nothing; new ones are matched or exceptions exactly "
            "as webhook notifications are. `not_in_statement` lists webhook payments of the file's days that "
            "the file does not list. An optional `Idempotency-Key` replays the first report on a retry."
        ),
        status_code=200,
        operation_class=STATEMENT_IMPORT.operation,
        responses=problem_responses(401, 403, 404, 409, 410, 415, 422),
        **guarded(MANAGE),
    )
    async def statement(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[svc.StatementReport]:
        content = await STATEMENT_IMPORT.read(request)

        async def work() -> svc.StatementReport:
            report = await svc.import_statement(db_session, content, actor=actor, origin=origin)
            return report

        return await idempotent(request, db_session, idempotency_key, work, status_code=200)

    @get(
        "/webhook-secret",
        operation_id="getBankWebhookSecretStatus",
        summary="Whether the bank webhook secret is set, and how the bank must sign (never the secret)",
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def secret_status(self, db_session: NamedDependency[AsyncSession]) -> WebhookSecretStatus:
        return _status(await svc.settings_row(db_session))

    @post(
        "/webhook-secret/rotate",
        operation_id="rotateBankWebhookSecret",
        summary="A new webhook secret, shown once; the previous one keeps verifying for 7 days",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def rotate_secret(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> WebhookSecret:
        secret, row = await svc.rotate_webhook_secret(db_session, settings.secret_key, actor=actor, origin=origin)
        return WebhookSecret(secret=secret, **msgspec.structs.asdict(_status(row)))


def _notification_result(outcome: svc.Outcome) -> NotificationResult:
    return NotificationResult(
        payment_id=outcome.payment.id,
        status="exception" if outcome.exception else "matched",
        exception_kind=outcome.exception.kind if outcome.exception else None,
        bill_reference=outcome.bill.reference if outcome.bill else None,
        receipt=_receipt_ref(outcome.receipt),
        replayed=outcome.replayed,
        late=outcome.late,
    )


class PaymentController(Controller):
    """Payments the bank reported, for finance staff."""

    path = "/bank/payments"
    tags = [TAG]

    @get(
        "/",
        operation_id="listBankPayments",
        summary="Payments the bank reported, in the order received (filter by status, day, last change)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(BANK_READ),
    )
    async def list_payments(
        self,
        db_session: NamedDependency[AsyncSession],
        status: Annotated[PaymentStatus | None, QueryParameter()] = None,
        day_from: DayFrom = None,
        day_to: DayTo = None,
        cursor: Cursor = None,
        limit: Limit = 100,
        updated_since: UpdatedSince = None,
    ) -> PaymentList:
        rows = await svc.list_payments(
            db_session,
            status=status,
            day_from=day_from,
            day_to=day_to,
            after=id_cursor(cursor),
            limit=limit,
            updated_since=aware(updated_since),
        )
        items = [_payment_out(r) for r in rows]
        return PaymentList(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{payment_id:uuid}",
        operation_id="getBankPayment",
        summary="One payment, with its receipt or its exception",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(BANK_READ),
    )
    async def show(self, payment_id: IdPath, db_session: NamedDependency[AsyncSession]) -> PaymentOut:
        return _payment_out(await svc.get_payment(db_session, payment_id))


class PaymentExceptionController(Controller):
    """The exceptions list finance staff resolve by hand."""

    path = "/bank/exceptions"
    tags = [TAG]

    @get(
        "/",
        operation_id="listPaymentExceptions",
        summary="Payments that matched no bill exactly (unmatched, short, over, duplicate …), oldest first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def list_exceptions(
        self,
        db_session: NamedDependency[AsyncSession],
        status: Annotated[ExceptionStatus | None, QueryParameter()] = None,
        kind: Annotated[
            ExceptionKind | None,
            QueryParameter(),
        ] = None,
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> PaymentExceptionList:
        rows = await svc.list_exceptions(db_session, status=status, kind=kind, after=id_cursor(cursor), limit=limit)
        items = [_exception_out(r.exception, r.payment, r.bill) for r in rows]
        return PaymentExceptionList(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{exception_id:uuid}",
        operation_id="getPaymentException",
        summary="One payment exception",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def show(self, exception_id: IdPath, db_session: NamedDependency[AsyncSession]) -> PaymentExceptionOut:
        row = await svc.get_exception(db_session, exception_id)
        return _exception_out(row.exception, row.payment, row.bill)

    @post(
        "/{exception_id:uuid}/resolve",
        operation_id="resolvePaymentException",
        summary="Close an exception with a note of what was done (nothing is corrected automatically)",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def resolve(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        exception_id: IdPath,
        data: JSONBody[ExceptionResolution],
        db_session: NamedDependency[AsyncSession],
    ) -> PaymentExceptionOut:
        note = data.note.strip()
        row = await svc.resolve_exception(
            db_session, exception_id, note=note, staff_id=staff_uuid(principal), actor=actor, origin=origin
        )
        return _exception_out(row.exception, row.payment, row.bill)

    @post(
        "/{exception_id:uuid}/apply",
        operation_id="applyPaymentException",
        summary="Apply an exception's money to its bill (receipted) and hold the rest as the payer's credit",
        description=(
            "A finance officer's decision, with a note (audited): the payment pays what its bill still asks "
            "(a short payment leaves the rest open: the bill's `amount_due` and QR ask for it; an over payment "
            "pays it), that part is receipted, and the rest is held as the payer's credit, used by their next "
            "bill. A voided receipt's money, or money for a bill no longer open, all goes to the credit. 409 "
            "`exception_not_applicable` when the payment names no bill of this LAO (resolve it with a note)."
        ),
        status_code=200,
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def apply(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        exception_id: IdPath,
        data: JSONBody[ExceptionResolution],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.AppliedException:
        return await svc.apply_exception(
            db_session, exception_id, note=data.note.strip(), staff_id=staff_uuid(principal), actor=actor, origin=origin
        )
