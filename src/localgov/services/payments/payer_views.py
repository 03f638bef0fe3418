"""HTTP endpoints of payers (ผู้ชำระ) and their fee accounts, with the CSV import."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.csv import ImportBody
from localgov.kernel.errors import problem_responses
from localgov.kernel.etags import IfMatch, require_match
from localgov.kernel.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.services.payments import bills, credits, payers
from localgov.services.payments.params import (
    MANAGE,
    READ,
    WRITE,
    AccountId,
    FeeTypeParam,
    PayerId,
    staff_uuid,
)
from localgov.services.payments.schemas import (
    AccountPage,
    AccountRead,
    AdvanceBillCreate,
    BillRead,
    PayerPage,
    PayerRead,
    account_read,
    load_bill,
    payer_read,
)
from localgov.services.payments.tariffs import MAX_IMPORT_ROWS, ImportRejected

#: The payer import's body: the CSV file, or its rows as JSON (``kernel.csv.ImportBody``).
PAYER_IMPORT = ImportBody(
    payers.PayerImportRow,
    name="PayerImport",
    required=("name",),
    max_rows=MAX_IMPORT_ROWS,
    refuse=lambda exc: ImportRejected(exc.detail, errors=exc.errors),
)


class PayerController(Controller):
    path = "/payers"
    tags = ["Payments: payers and accounts"]

    @post(
        "/",
        operation_id="createPayer",
        summary="Add a payer (person or juristic person)",
        description=(
            "409 `payer_exists` when a payer has the same 13-digit ID; 422 for a wrong check digit. With an "
            "`Idempotency-Key`, a retry replays the first answer instead of adding a second payer."
        ),
        status_code=201,
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[payers.PayerCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[PayerRead]:
        async def produce() -> PayerRead:
            return payer_read(await payers.create_payer(db_session, data))

        return await idempotent(request, db_session, idempotency_key, produce)

    @get(
        "/",
        operation_id="listPayers",
        summary="Payers by name, optionally searched by name/phone or by ID",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(READ),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        q: Annotated[str | None, QueryParameter(max_length=100, description="Part of the name or phone")] = None,
        tax_id: Annotated[str | None, QueryParameter(max_length=20, description="13-digit ID")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> PayerPage:
        after = decode_cursor(cursor, tuple[str, uuid.UUID])
        rows = await payers.list_payers(db_session, q=q, tax_id=tax_id, limit=limit + 1, after=after)
        page, next_cursor = cut_page(rows, limit, key=lambda r: (r.name, r.id))
        return PayerPage(items=[payer_read(r) for r in page], next_cursor=next_cursor)

    @get(
        "/{payer_id:uuid}",
        operation_id="getPayer",
        summary="One payer",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, payer_id: PayerId, db_session: NamedDependency[AsyncSession]) -> PayerRead:
        return payer_read(await payers.get_payer(db_session, payer_id))

    @patch(
        "/{payer_id:uuid}",
        operation_id="updatePayer",
        summary="Change a payer (only the fields sent; null clears)",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def update(
        self,
        payer_id: PayerId,
        data: JSONBody[payers.PayerUpdate],
        db_session: NamedDependency[AsyncSession],
        if_match: IfMatch = None,
    ) -> PayerRead:
        require_match(if_match, payer_read(await payers.get_payer(db_session, payer_id, for_update=True)))
        return payer_read(await payers.update_payer(db_session, payer_id, data))

    @get(
        "/{payer_id:uuid}/credit",
        operation_id="getPayerCredit",
        summary="The payer's credit: balance and ledger (over payments, voided receipts, applications, refunds)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def credit(self, payer_id: PayerId, db_session: NamedDependency[AsyncSession]) -> credits.CreditAccount:
        return await credits.credit_account(db_session, payer_id)

    @post(
        "/{payer_id:uuid}/refunds",
        operation_id="refundPayerCredit",
        summary="Record money paid back out of the payer's credit, approved by the caller (audited)",
        description="409 `insufficient_credit` when the balance is smaller; the approver is the calling officer.",
        status_code=201,
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def refund(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        payer_id: PayerId,
        data: JSONBody[credits.RefundCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> credits.CreditAccount:
        await credits.refund(db_session, payer_id, data, approved_by=staff_uuid(principal), actor=actor, origin=origin)
        return await credits.credit_account(db_session, payer_id)

    @delete(
        "/{payer_id:uuid}",
        operation_id="deletePayer",
        summary="Delete a payer entered by mistake (no account, no bill; else 409 `payer_in_use`)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def remove(self, payer_id: PayerId, db_session: NamedDependency[AsyncSession]) -> None:
        await payers.delete_payer(db_session, payer_id)

    @post(
        "/import",
        status_code=200,
        operation_id="importPayers",
        operation_class=PAYER_IMPORT.operation,
        summary="Import payers and fee accounts from CSV, all or nothing",
        description=(
            'The CSV file (`text/csv`), or the same rows as JSON (`application/json`, `{"rows": [...]}`). '
            "Columns: " + ", ".join(payers.IMPORT_COLUMNS) + ". One row per account (or a payer alone); rows "
            "with the same `payer_ref` (else the same `tax_id`) are one payer, and a `tax_id` the LAO knows "
            "reuses that payer. Any error imports nothing: 422 `import_rejected` with `errors` "
            "`[{key, line, code, message}]` for every problem found (`key` the column; `line` the file's line, or the "
            "JSON row's index from 1)."
        ),
        responses=problem_responses(401, 403, 404, 410, 415, 422),
        **guarded(MANAGE),
    )
    async def import_csv(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> payers.PayerImportResult:
        return await payers.import_payers(db_session, await PAYER_IMPORT.read(request))


class AccountController(Controller):
    path = "/accounts"
    tags = ["Payments: payers and accounts"]

    @post(
        "/",
        operation_id="createAccount",
        summary="Open a fee account for a payer",
        description=(
            "garbage needs `litres_per_day`; wastewater `customer_class` (and `meter_no`); fixed `fee_code` "
            "(and its own `amount`, else the tariff's). 422 `required`/`not_applicable` otherwise."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def create(
        self, data: JSONBody[payers.AccountCreate], db_session: NamedDependency[AsyncSession]
    ) -> AccountRead:
        return account_read(await payers.create_account(db_session, data))

    @get(
        "/",
        operation_id="listAccounts",
        summary="Fee accounts, by account number",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        payer_id: Annotated[uuid.UUID | None, QueryParameter(description="Accounts of this payer")] = None,
        fee_type: FeeTypeParam = None,
        account_no: Annotated[str | None, QueryParameter(max_length=30, description="Exact account number")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> AccountPage:
        after = decode_cursor(cursor, tuple[str, uuid.UUID])
        rows = await payers.list_accounts(
            db_session, payer_id=payer_id, fee_type=fee_type, account_no=account_no, limit=limit + 1, after=after
        )
        page, next_cursor = cut_page(rows, limit, key=lambda r: (r.account_no, r.id))
        return AccountPage(items=[account_read(r) for r in page], next_cursor=next_cursor)

    @get(
        "/{account_id:uuid}",
        operation_id="getAccount",
        summary="One fee account",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, account_id: AccountId, db_session: NamedDependency[AsyncSession]) -> AccountRead:
        return account_read(await payers.get_account(db_session, account_id))

    @patch(
        "/{account_id:uuid}",
        operation_id="updateAccount",
        summary="Change an account's parameters, or close it (status closed + end_date)",
        description="Bills already issued keep their amounts; the next run uses the new parameters.",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(WRITE),
    )
    async def update(
        self, account_id: AccountId, data: JSONBody[payers.AccountUpdate], db_session: NamedDependency[AsyncSession]
    ) -> AccountRead:
        return account_read(await payers.update_account(db_session, account_id, data))

    @delete(
        "/{account_id:uuid}",
        operation_id="deleteAccount",
        summary="Delete an account entered by mistake (never billed nor read; else 409 `account_in_use`)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def remove(self, account_id: AccountId, db_session: NamedDependency[AsyncSession]) -> None:
        await payers.delete_account(db_session, account_id)

    @post(
        "/{account_id:uuid}/advance-bills",
        operation_id="createAdvanceBill",
        summary="One bill paying several future months of an account in advance",
        description=(
            "Each month is priced by the tariff in force in it; the monthly run then skips those months. "
            "409 `period_already_billed` (with `data.periods`) when a month is already billed; "
            "409 `advance_not_possible` for wastewater. Needs an `Idempotency-Key`."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def advance(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        data: JSONBody[AdvanceBillCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKey,
    ) -> Response[BillRead]:
        async def work() -> BillRead:
            row = await bills.create_advance_bill(
                db_session, account_id, months=data.months, from_period=data.from_period
            )
            return await load_bill(db_session, row)

        return await idempotent(request, db_session, idempotency_key, work)
