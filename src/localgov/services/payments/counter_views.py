"""HTTP endpoints of the counter: cash books and counter payments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import NotFound, problem_responses
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.services.payments import counter as svc
from localgov.services.payments.params import COLLECT, MANAGE, staff_uuid

TAG = "Payments: counter"
BookId = Annotated[uuid.UUID, PathParameter(description="The cash book's id")]


class CashBookList(msgspec.Struct):
    items: list[svc.CashBookRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


def _cashier_id(principal: Principal) -> uuid.UUID:
    staff_id = staff_uuid(principal)
    if staff_id is None:  # pragma: no cover - COLLECT admits staff only
        raise NotFound("Unknown member of staff.", code="staff_not_found")
    return staff_id


class CashBookController(Controller):
    """A cashier's cash book of the day; the remittance slips for finance."""

    path = "/counter/books"
    tags = [TAG]

    @post(
        "/",
        operation_id="openCashBook",
        summary="Open the caller's cash book for today (with the change float)",
        description="409 `cash_book_exists` when today's book was already opened (or closed).",
        status_code=201,
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(COLLECT),
    )
    async def open(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        data: JSONBody[svc.CashBookOpen],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.CashBookRead:
        book = await svc.open_book(db_session, _cashier_id(principal), data, actor=actor, origin=origin)
        return await svc.book_read(db_session, book)

    @get(
        "/current",
        operation_id="getCurrentCashBook",
        summary="The caller's cash book of today with its totals (409 `cash_book_not_open` before opening)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(COLLECT),
    )
    async def current(
        self, principal: NamedDependency[Principal], db_session: NamedDependency[AsyncSession]
    ) -> svc.CashBookRead:
        return await svc.book_read(db_session, await svc.current_book(db_session, _cashier_id(principal)))

    @post(
        "/{book_id:uuid}/close",
        operation_id="closeCashBook",
        summary="Close the caller's cash book with the cash counted: the remittance and the difference",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(COLLECT),
    )
    async def close(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        book_id: BookId,
        data: JSONBody[svc.CashBookClose],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.CashBookRead:
        return await svc.close_book(db_session, book_id, _cashier_id(principal), data, actor=actor, origin=origin)

    @get(
        "/",
        operation_id="listCashBooks",
        summary="Cash books (remittance slips) of a day, for finance",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        day: Annotated[dt.date | None, QueryParameter(description="Bangkok day")] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> CashBookList:
        after = decode_cursor(cursor, tuple[dt.date, str, uuid.UUID])
        fetched = await svc.list_books(db_session, day, limit + 1, after)
        books, next_cursor = cut_page(fetched, limit, key=lambda b: (b.day, b.cashier_name, b.id))
        return CashBookList(items=[await svc.book_read(db_session, b) for b in books], next_cursor=next_cursor)

    @get(
        "/{book_id:uuid}",
        operation_id="getCashBook",
        summary="A cash book with its totals (the remittance slip), for finance",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def show(self, book_id: BookId, db_session: NamedDependency[AsyncSession]) -> svc.CashBookRead:
        return await svc.book_read(db_session, await svc.get_book(db_session, book_id))


class CounterPaymentController(Controller):
    path = "/counter/payments"
    tags = [TAG]

    @post(
        "/",
        operation_id="takeCounterPayment",
        summary="Take a payment at the counter for one or several open bills: one receipt per bill, at once",
        description=(
            "Cash (optional `tendered`: the change is answered), cheque or transfer (`instrument_ref` "
            "required). Every bill is paid in full (what is left of it). Needs the caller's cash book of "
            "today open (409 `cash_book_not_open`, `cash_book_closed`); 409 `bill_not_open` with the "
            "references of bills already paid or cancelled. An optional `Idempotency-Key` replays the answer."
        ),
        status_code=201,
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(COLLECT),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        principal: NamedDependency[Principal],
        data: JSONBody[svc.CounterPaymentCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[Any]:
        cashier = _cashier_id(principal)

        async def work() -> svc.CounterPaymentResult:
            return await svc.pay(db_session, cashier, data, actor=actor, origin=origin)

        return await idempotent(request, db_session, idempotency_key, work)
