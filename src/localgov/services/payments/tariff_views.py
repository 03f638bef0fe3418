"""HTTP endpoints of tariffs (อัตราค่าธรรมเนียม) and meter readings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.csv import ImportBody
from localgov.kernel.errors import problem_responses
from localgov.kernel.idempotency import IdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import period_of, period_start
from localgov.services.payments import rebill, tariffs
from localgov.services.payments.models import MeterReading
from localgov.services.payments.params import (
    FINANCE_OR_ADMIN,
    MANAGE,
    READ,
    WRITE,
    FeeTypeParam,
    PeriodParam,
    TariffId,
    staff_uuid,
)
from localgov.services.payments.schemas import (
    MeterReadingPage,
    MeterReadingRead,
    SeedDefaults,
    TariffList,
    TariffPage,
    TariffRead,
    tariff_read,
)

#: The meter-reading import's body: the CSV file, or its rows as JSON (``kernel.csv.ImportBody``).
READING_IMPORT = ImportBody(
    tariffs.MeterReadingImportRow,
    name="MeterReadingImport",
    required=("account_no", "period", "usage_m3"),
    max_rows=tariffs.MAX_IMPORT_ROWS,
    refuse=lambda exc: tariffs.ImportRejected(exc.detail, errors=exc.errors),
)


class TariffController(Controller):
    path = "/tariffs"
    tags = ["Payments: tariffs"]

    @get(
        "/",
        operation_id="listTariffs",
        summary="Every tariff version, by fee type and date",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        fee_type: FeeTypeParam = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> TariffPage:
        after = decode_cursor(cursor, tuple[str, dt.date, uuid.UUID])
        rows = await tariffs.list_tariffs(db_session, fee_type, after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda t: (t.fee_type, t.effective_from, t.id))
        return TariffPage(items=[tariff_read(r) for r in page], next_cursor=next_cursor)

    @post(
        "/",
        operation_id="createTariff",
        summary="Add a tariff version, in force from the first day of a month",
        description=(
            "Bills already issued keep their prices; months from `effective_from` on are billed with this "
            "version. 409 `tariff_exists` when a version of the fee already starts on that date. A version "
            "starts today or later: an earlier one is 422 `tariff_backdated` unless `backdated_reason` is "
            "given (audited), and 409 `tariff_rebill_required` while bills of the fee exist for the months "
            "it would reprice."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def create(
        self,
        principal: NamedDependency[Principal],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[tariffs.TariffCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> TariffRead:
        await tariffs.check_backdating(db_session, data, actor=actor, origin=origin)
        return tariff_read(await tariffs.create_tariff(db_session, data, created_by=staff_uuid(principal)))

    @post(
        "/rebill",
        status_code=201,
        operation_id="createBackdatedTariffAndRebill",
        summary="Add a backdated tariff version and re-bill the months it reprices, in one audited call",
        description=(
            "`backdated_reason` is required. Unpaid bill-run bills of the months the version now prices are "
            "cancelled and re-issued at the new price; paid (or partly paid) ones stay and get a difference "
            "bill (higher price) or the difference as the payer's credit (lower). 422 `tariff_not_backdated` "
            "for a version from today or later, 409 `period_closed` for a month of a closed fiscal year, "
            "409 `tariff_rebill_advance_bills` while advance bills cover those months. Needs "
            "`Idempotency-Key`."
        ),
        responses=problem_responses(400, 401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def create_and_rebill(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[tariffs.TariffCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKey,
    ) -> Response[rebill.RebillResult]:
        async def work() -> rebill.RebillResult:
            return await rebill.rebill_backdated(
                db_session, data, created_by=staff_uuid(principal), actor=actor, origin=origin
            )

        return await idempotent(request, db_session, idempotency_key, work, status_code=201)

    @post(
        "/seed-defaults",
        status_code=200,
        operation_id="seedDefaultTariffs",
        summary="Create the platform's default tariffs (DOMAIN examples) for fee types that have none",
        description=(
            "Idempotent: a fee type that already has a tariff is left alone. The defaults are examples to "
            "check against the LAO's ordinance (ข้อบัญญัติ); nothing is seeded without this call."
        ),
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def seed(
        self,
        principal: NamedDependency[Principal],
        data: JSONBody[SeedDefaults],
        db_session: NamedDependency[AsyncSession],
    ) -> TariffList:
        start = data.effective_from or period_start(period_of(bangkok_today()))
        created = await tariffs.seed_defaults(db_session, start, created_by=staff_uuid(principal))
        return TariffList(items=[tariff_read(r) for r in created])

    @get(
        "/{tariff_id:uuid}",
        operation_id="getTariff",
        summary="One tariff version",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, tariff_id: TariffId, db_session: NamedDependency[AsyncSession]) -> TariffRead:
        return tariff_read(await tariffs.get_tariff(db_session, tariff_id))

    @put(
        "/{tariff_id:uuid}",
        operation_id="replaceTariff",
        summary="Replace a version that is not in force yet (409 `tariff_in_force` otherwise)",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def replace(
        self, tariff_id: TariffId, data: JSONBody[tariffs.TariffCreate], db_session: NamedDependency[AsyncSession]
    ) -> TariffRead:
        return tariff_read(await tariffs.replace_tariff(db_session, tariff_id, data))

    @delete(
        "/{tariff_id:uuid}",
        operation_id="deleteTariff",
        summary="Withdraw a version that is not in force yet (409 `tariff_in_force` otherwise)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def remove(self, tariff_id: TariffId, db_session: NamedDependency[AsyncSession]) -> None:
        await tariffs.delete_tariff(db_session, tariff_id)


class MeterReadingController(Controller):
    path = "/meter-readings"
    tags = ["Payments: meter readings"]

    @post(
        "/import",
        status_code=200,
        operation_id="importMeterReadings",
        operation_class=READING_IMPORT.operation,
        summary="Import wastewater meter readings from the water utility (CSV), all or nothing",
        description=(
            'The CSV file (`text/csv`), or the same rows as JSON (`application/json`, `{"rows": [...]}`). '
            "Columns `account_no,period,usage_m3` (period `YYYY-MM`). Idempotent per (account, period): the "
            "same value again changes nothing; a new value replaces an unbilled month's reading and is refused "
            "for a billed month. Any error imports nothing: 422 `import_rejected` with `errors`."
        ),
        responses=problem_responses(401, 403, 404, 410, 415, 422),
        **guarded(WRITE),
    )
    async def import_csv(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> tariffs.ReadingImportResult:
        return await tariffs.import_readings(db_session, await READING_IMPORT.read(request))

    @get(
        "/",
        operation_id="listMeterReadings",
        summary="Meter readings, newest month first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        account_id: Annotated[uuid.UUID | None, QueryParameter(description="One account")] = None,
        period: PeriodParam = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> MeterReadingPage:
        after = decode_cursor(cursor, tuple[str, str])
        rows = await tariffs.list_readings(
            db_session, account_id=account_id, period=period, limit=limit + 1, after=after
        )
        page, next_cursor = cut_page(rows, limit, key=lambda pair: (pair[0].period, pair[1]))
        return MeterReadingPage(items=[_reading(r, n) for r, n in page], next_cursor=next_cursor)


def _reading(row: MeterReading, account_no: str) -> MeterReadingRead:
    return MeterReadingRead(
        id=row.id,
        account_id=row.account_id,
        account_no=account_no,
        period=row.period,
        usage_m3=row.usage_m3,
        imported_at=row.imported_at,
    )
