"""HTTP endpoints of the billing side of fee payments: settings, payers and accounts, tariffs,
meter readings, bills and bill runs, QR images, arrears, the public bill lookup and citizens'
own bills. Thin: each handler checks who calls, hands over to a service function, shapes the answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import JSONBody, PathParameter, QueryParameter, RawBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.auth.guards import PUBLIC, citizen, client, guarded, staff
from localgov.kernel.errors import NotFound, problem_responses
from localgov.kernel.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Limit
from localgov.kernel.ratelimit import hit
from localgov.kernel.text import ONE_LINE
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import period_of, period_start
from localgov.kernel.web import current_actor, current_principal, current_tenant, request_origin
from localgov.services.payments import billing, payers, qr, tariffs
from localgov.services.payments.models import Bill as BillRow
from localgov.services.payments.models import BillItem as BillItemRow
from localgov.services.payments.models import FeeAccount as AccountRow
from localgov.services.payments.models import MeterReading as ReadingRow
from localgov.services.payments.models import Payer as PayerRow
from localgov.services.payments.models import Tariff as TariffRow

FINANCE = staff("payments.finance")
FINANCE_OR_ADMIN = staff("payments.finance", "tenant_admin")
READ = staff("payments.finance", "payments.cashier") | client("payments.read", "payments.write")
WRITE = staff("payments.finance") | client("payments.write")

#: Public bill lookups: per client address, and per bill reference (a 6-digit code must not be
#: guessable by many addresses together).
LOOKUP_LIMIT_PER_ADDRESS = (30, 300)
LOOKUP_LIMIT_PER_REFERENCE = (10, 3600)
#: A citizen linking payers.
LINK_LIMIT_PER_CITIZEN = (10, 3600)

PayerId = Annotated[uuid.UUID, PathParameter(description="The payer's id")]
AccountId = Annotated[uuid.UUID, PathParameter(description="The fee account's id")]
TariffId = Annotated[uuid.UUID, PathParameter(description="The tariff version's id")]
BillId = Annotated[uuid.UUID, PathParameter(description="The bill's id")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Rows to skip")]
PeriodParam = Annotated[str | None, QueryParameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
FeeTypeParam = Annotated[Literal["garbage", "wastewater", "fixed"] | None, QueryParameter(description="Fee type")]
_CSV_DESCRIPTION = "UTF-8 CSV (a BOM is accepted) with a header line; Thai digits accepted."


@dataclass
class CsvUpload(Operation):
    """An operation whose request body is a CSV file (sent as ``text/csv``, read raw)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
            description=_CSV_DESCRIPTION,
            required=True,
        )


Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
VerificationCode = Annotated[str, msgspec.Meta(min_length=1, max_length=8, pattern=r"^[0-9]+$")]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500, pattern=ONE_LINE)]

_STAFF_ERRORS = (401, 403, 404, 410, 422)
_QR_DESCRIPTION = (
    "The bill's Thai QR (bill payment, tag 30): the LAO's biller ID, Ref1 = the bill reference, the "
    "amount. 409 `biller_not_configured` until the biller ID is set; 409 `bill_not_open` for a paid "
    "or cancelled bill."
)


# --- structs ---------------------------------------------------------------------------------------


class Payer(msgspec.Struct, kw_only=True):
    """A payer (ผู้ชำระ) and a Thai address."""

    id: uuid.UUID
    kind: str
    name: str
    tax_id: str | None
    house_no: str | None
    moo: str | None
    soi: str | None
    road: str | None
    subdistrict: str | None
    district: str | None
    province: str | None
    postal_code: str | None
    phone: str | None
    #: A citizen account has proved a bill of this payer and sees its bills.
    citizen_linked: bool
    created_at: dt.datetime


class PayerPage(msgspec.Struct, kw_only=True):
    items: list[Payer]
    #: Pass as ``offset`` for the next page; null on the last page.
    next_offset: int | None


class Account(msgspec.Struct, kw_only=True):
    """A fee account: a payer's recurring fee and its tariff parameters."""

    id: uuid.UUID
    account_no: str
    payer_id: uuid.UUID
    fee_type: str
    status: str
    start_date: dt.date
    end_date: dt.date | None
    litres_per_day: Decimal | None = None
    customer_class: str | None = None
    meter_no: str | None = None
    fee_code: str | None = None
    amount: Decimal | None = None
    created_at: dt.datetime


class AccountPage(msgspec.Struct, kw_only=True):
    items: list[Account]
    next_offset: int | None


class Tariff(msgspec.Struct, kw_only=True):
    """A tariff version, in force from ``effective_from`` until the next version of its fee type."""

    id: uuid.UUID
    fee_type: str
    effective_from: dt.date
    definition: tariffs.TariffDefinition
    due_days: int
    late_surcharge: tariffs.LateSurcharge | None
    created_at: dt.datetime


class TariffList(msgspec.Struct, kw_only=True):
    items: list[Tariff]


class SeedDefaults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """From which month the default tariffs apply (default: the current month)."""

    effective_from: dt.date | None = None


class MeterReading(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    account_id: uuid.UUID
    account_no: str
    period: str
    usage_m3: Decimal
    imported_at: dt.datetime


class MeterReadingPage(msgspec.Struct, kw_only=True):
    items: list[MeterReading]
    next_offset: int | None


class BillItem(msgspec.Struct, kw_only=True):
    fee_code: str
    description_th: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    period: str | None


class Bill(msgspec.Struct, kw_only=True):
    """A bill (ใบแจ้งหนี้) with its lines and, while it is open and the biller is set, its QR payload."""

    id: uuid.UUID
    reference: str
    #: Printed on paper bills: with the reference it unlocks the public lookup.
    verification_code: str
    payer_id: uuid.UUID
    account_id: uuid.UUID | None
    source: str
    period: str | None
    issue_date: dt.date
    due_date: dt.date
    total: Decimal
    status: str
    overdue: bool
    cancel_reason: str | None
    cancelled_at: dt.datetime | None
    paid_at: dt.datetime | None
    late_surcharge_percent: Decimal | None
    late_surcharge_after_days: int
    #: For a surcharge bill: the overdue bill it charges.
    surcharge_of: uuid.UUID | None
    items: list[BillItem]
    qr_payload: str | None
    created_at: dt.datetime


class BillPage(msgspec.Struct, kw_only=True):
    items: list[Bill]
    next_offset: int | None


class BillRunCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fee_type: Literal["garbage", "wastewater", "fixed"]
    #: ``YYYY-MM``: the month billed.
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]


class AdvanceBillCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Pay ``months`` months ahead in one bill (garbage and fixed fees)."""

    months: Annotated[int, msgspec.Meta(ge=1, le=billing.MAX_ADVANCE_MONTHS)]
    #: First month covered (``YYYY-MM``); default: the first month not yet billed, from now on.
    from_period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None


class BillCancel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason


class BillLookup(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The reference and the verification code printed on a paper bill."""

    reference: Reference
    verification_code: VerificationCode


class PublicBill(msgspec.Struct, kw_only=True):
    """What a paper bill's holder may see: amount, dates, status, QR; nothing about the payer."""

    reference: str
    total: Decimal
    issue_date: dt.date
    due_date: dt.date
    period: str | None
    status: str
    #: Null unless the bill is open and the LAO's biller is set.
    qr_payload: str | None
    #: The same QR as an SVG image (null when there is no payload).
    qr_svg: str | None


class MyPayer(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    name: str
    house_no: str | None
    moo: str | None
    soi: str | None
    road: str | None
    subdistrict: str | None
    district: str | None
    province: str | None
    postal_code: str | None


class MyPayerList(msgspec.Struct, kw_only=True):
    items: list[MyPayer]


# --- conversions ------------------------------------------------------------------------------------


def _payer(row: PayerRow) -> Payer:
    return Payer(
        id=row.id,
        kind=row.kind,
        name=row.name,
        tax_id=row.tax_id,
        house_no=row.house_no,
        moo=row.moo,
        soi=row.soi,
        road=row.road,
        subdistrict=row.subdistrict,
        district=row.district,
        province=row.province,
        postal_code=row.postal_code,
        phone=row.phone,
        citizen_linked=row.citizen_id is not None,
        created_at=row.created_at,
    )


def _my_payer(row: PayerRow) -> MyPayer:
    return MyPayer(
        id=row.id,
        kind=row.kind,
        name=row.name,
        house_no=row.house_no,
        moo=row.moo,
        soi=row.soi,
        road=row.road,
        subdistrict=row.subdistrict,
        district=row.district,
        province=row.province,
        postal_code=row.postal_code,
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _account(row: AccountRow) -> Account:
    params = row.params
    return Account(
        id=row.id,
        account_no=row.account_no,
        payer_id=row.payer_id,
        fee_type=row.fee_type,
        status=row.status,
        start_date=row.start_date,
        end_date=row.end_date,
        litres_per_day=_decimal(params.get("litres_per_day")),
        customer_class=params.get("customer_class"),
        meter_no=params.get("meter_no"),
        fee_code=params.get("fee_code"),
        amount=_decimal(params.get("amount")),
        created_at=row.created_at,
    )


def _tariff(row: TariffRow) -> Tariff:
    return Tariff(
        id=row.id,
        fee_type=row.fee_type,
        effective_from=row.effective_from,
        definition=tariffs.definition_of(row),
        due_days=row.due_days,
        late_surcharge=tariffs.surcharge_of(row),
        created_at=row.created_at,
    )


def _bill(row: BillRow, items: list[BillItemRow], payload: str | None) -> Bill:
    return Bill(
        id=row.id,
        reference=row.reference,
        verification_code=row.verification_code,
        payer_id=row.payer_id,
        account_id=row.account_id,
        source=row.source,
        period=row.period,
        issue_date=row.issue_date,
        due_date=row.due_date,
        total=row.total,
        status=row.status,
        overdue=row.status == "open" and row.due_date < bangkok_today(),
        cancel_reason=row.cancel_reason,
        cancelled_at=row.cancelled_at,
        paid_at=row.paid_at,
        late_surcharge_percent=row.late_surcharge_percent,
        late_surcharge_after_days=row.late_surcharge_after_days,
        surcharge_of=row.surcharge_of,
        items=[
            BillItem(
                fee_code=i.fee_code,
                description_th=i.description_th,
                quantity=i.quantity,
                unit_price=i.unit_price,
                amount=i.amount,
                period=i.period,
            )
            for i in items
        ],
        qr_payload=payload,
        created_at=row.created_at,
    )


async def _bill_view(session: AsyncSession, row: BillRow) -> Bill:
    items = await billing.bill_items(session, [row.id])
    return _bill(row, items[row.id], await billing.qr_payload_or_none(session, row))


async def _bill_page(session: AsyncSession, rows: list[BillRow], limit: int, offset: int) -> BillPage:
    items = await billing.bill_items(session, [r.id for r in rows])
    settings = await billing.get_settings(session)
    out: list[Bill] = []
    for row in rows:
        try:
            payload: str | None = qr.build(billing.bill_payment(row, settings))
        except (billing.BillerNotConfigured, billing.BillNotOpen):
            payload = None
        out.append(_bill(row, items[row.id], payload))
    return BillPage(items=out, next_offset=offset + limit if len(rows) == limit else None)


def _staff_uuid(request: Request[Any, Any, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(current_principal(request).subject)
    except ValueError:
        return None


def _citizen_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(current_principal(request).subject)
    except ValueError:
        raise NotFound("Unknown citizen account.", code="citizen_not_found") from None


def _image(content: bytes, media_type: str) -> Response[bytes]:
    return Response(content, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})


def _png_responses() -> dict[int, Any]:
    return problem_responses(401, 403, 404, 409, 410)


# --- settings ------------------------------------------------------------------------------------------


class PaymentSettingsController(Controller):
    path = "/settings"
    tags = ["Payments: settings"]

    @get(
        "/",
        operation_id="getPaymentSettings",
        summary="The LAO's Thai QR biller ID and merchant name",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def get_settings(self, db_session: NamedDependency[AsyncSession]) -> billing.BillerSettings:
        row = await billing.get_settings(db_session)
        if row is None:
            return billing.BillerSettings(biller_id=None, merchant_name=None, updated_at=None)
        return billing.BillerSettings(
            biller_id=row.biller_id, merchant_name=row.merchant_name, updated_at=row.updated_at
        )

    @put(
        "/",
        operation_id="setPaymentSettings",
        summary="Set the biller ID (tax ID + 2-digit suffix, check digit verified) and merchant name",
        description="Every QR made from now on carries them; audited.",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def put_settings(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[billing.BillerSettingsUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> billing.BillerSettings:
        row = await billing.put_settings(db_session, data, actor=current_actor(request), origin=request_origin(request))
        return billing.BillerSettings(
            biller_id=row.biller_id, merchant_name=row.merchant_name, updated_at=row.updated_at
        )


# --- payers and accounts --------------------------------------------------------------------------------


class PayerController(Controller):
    path = "/payers"
    tags = ["Payments: payers and accounts"]

    @post(
        "/",
        operation_id="createPayer",
        summary="Add a payer (person or juristic person)",
        description="409 `payer_exists` when a payer has the same 13-digit ID; 422 for a wrong check digit.",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def create(self, data: JSONBody[payers.PayerCreate], db_session: NamedDependency[AsyncSession]) -> Payer:
        return _payer(await payers.create_payer(db_session, data))

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
        offset: Offset = 0,
    ) -> PayerPage:
        rows = await payers.list_payers(db_session, q=q, tax_id=tax_id, limit=limit, offset=offset)
        return PayerPage(items=[_payer(r) for r in rows], next_offset=offset + limit if len(rows) == limit else None)

    @get(
        "/{payer_id:uuid}",
        operation_id="getPayer",
        summary="One payer",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, payer_id: PayerId, db_session: NamedDependency[AsyncSession]) -> Payer:
        return _payer(await payers.get_payer(db_session, payer_id))

    @patch(
        "/{payer_id:uuid}",
        operation_id="updatePayer",
        summary="Change a payer (only the fields sent; null clears)",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def update(
        self, payer_id: PayerId, data: JSONBody[payers.PayerUpdate], db_session: NamedDependency[AsyncSession]
    ) -> Payer:
        return _payer(await payers.update_payer(db_session, payer_id, data))

    @delete(
        "/{payer_id:uuid}",
        operation_id="deletePayer",
        summary="Delete a payer entered by mistake (no account, no bill; else 409 `payer_in_use`)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(FINANCE),
    )
    async def remove(self, payer_id: PayerId, db_session: NamedDependency[AsyncSession]) -> None:
        await payers.delete_payer(db_session, payer_id)

    @post(
        "/import",
        status_code=200,
        operation_id="importPayers",
        operation_class=CsvUpload,
        summary="Import payers and fee accounts from CSV, all or nothing",
        description=(
            "Columns: " + ", ".join(payers.IMPORT_COLUMNS) + ". One row per account (or a payer alone); rows "
            "with the same `payer_ref` (else the same `tax_id`) are one payer, and a `tax_id` the LAO knows "
            "reuses that payer. Any error imports nothing: 422 `import_rejected` with `data.errors` "
            "`[{line, column, code, message}]` for every problem found."
        ),
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(FINANCE),
    )
    async def import_csv(self, body: RawBody, db_session: NamedDependency[AsyncSession]) -> payers.PayerImportResult:
        return await payers.import_payers(db_session, body)


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
    async def create(self, data: JSONBody[payers.AccountCreate], db_session: NamedDependency[AsyncSession]) -> Account:
        return _account(await payers.create_account(db_session, data))

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
        offset: Offset = 0,
    ) -> AccountPage:
        rows = await payers.list_accounts(
            db_session, payer_id=payer_id, fee_type=fee_type, account_no=account_no, limit=limit, offset=offset
        )
        return AccountPage(
            items=[_account(r) for r in rows], next_offset=offset + limit if len(rows) == limit else None
        )

    @get(
        "/{account_id:uuid}",
        operation_id="getAccount",
        summary="One fee account",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, account_id: AccountId, db_session: NamedDependency[AsyncSession]) -> Account:
        return _account(await payers.get_account(db_session, account_id))

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
    ) -> Account:
        return _account(await payers.update_account(db_session, account_id, data))

    @delete(
        "/{account_id:uuid}",
        operation_id="deleteAccount",
        summary="Delete an account entered by mistake (never billed nor read; else 409 `account_in_use`)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(FINANCE),
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
        **guarded(FINANCE),
    )
    async def advance(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        data: JSONBody[AdvanceBillCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKey,
    ) -> Response[Bill]:
        async def work() -> Bill:
            row = await billing.create_advance_bill(
                db_session, account_id, months=data.months, from_period=data.from_period
            )
            return await _bill_view(db_session, row)

        return await idempotent(request, db_session, idempotency_key, work)


# --- tariffs and meter readings ------------------------------------------------------------------------


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
    async def index(self, db_session: NamedDependency[AsyncSession], fee_type: FeeTypeParam = None) -> TariffList:
        return TariffList(items=[_tariff(r) for r in await tariffs.list_tariffs(db_session, fee_type)])

    @post(
        "/",
        operation_id="createTariff",
        summary="Add a tariff version, in force from the first day of a month",
        description=(
            "Bills already issued keep their prices; months from `effective_from` on are billed with this "
            "version. 409 `tariff_exists` when a version of the fee already starts on that date."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(FINANCE),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[tariffs.TariffCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> Tariff:
        return _tariff(await tariffs.create_tariff(db_session, data, created_by=_staff_uuid(request)))

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
        self, request: Request[Any, Any, Any], data: JSONBody[SeedDefaults], db_session: NamedDependency[AsyncSession]
    ) -> TariffList:
        start = data.effective_from or period_start(period_of(bangkok_today()))
        created = await tariffs.seed_defaults(db_session, start, created_by=_staff_uuid(request))
        return TariffList(items=[_tariff(r) for r in created])

    @get(
        "/{tariff_id:uuid}",
        operation_id="getTariff",
        summary="One tariff version",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, tariff_id: TariffId, db_session: NamedDependency[AsyncSession]) -> Tariff:
        return _tariff(await tariffs.get_tariff(db_session, tariff_id))

    @put(
        "/{tariff_id:uuid}",
        operation_id="replaceTariff",
        summary="Replace a version that is not in force yet (409 `tariff_in_force` otherwise)",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(FINANCE),
    )
    async def replace(
        self, tariff_id: TariffId, data: JSONBody[tariffs.TariffCreate], db_session: NamedDependency[AsyncSession]
    ) -> Tariff:
        return _tariff(await tariffs.replace_tariff(db_session, tariff_id, data))

    @delete(
        "/{tariff_id:uuid}",
        operation_id="deleteTariff",
        summary="Withdraw a version that is not in force yet (409 `tariff_in_force` otherwise)",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(FINANCE),
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
        operation_class=CsvUpload,
        summary="Import wastewater meter readings from the water utility (CSV), all or nothing",
        description=(
            "Columns `account_no,period,usage_m3` (period `YYYY-MM`). Idempotent per (account, period): the "
            "same value again changes nothing; a new value replaces an unbilled month's reading and is refused "
            "for a billed month. Any error imports nothing: 422 `import_rejected` with `data.errors`."
        ),
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(WRITE),
    )
    async def import_csv(self, body: RawBody, db_session: NamedDependency[AsyncSession]) -> tariffs.ReadingImportResult:
        return await tariffs.import_readings(db_session, body)

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
        offset: Offset = 0,
    ) -> MeterReadingPage:
        rows = await tariffs.list_readings(db_session, account_id=account_id, period=period, limit=limit, offset=offset)
        return MeterReadingPage(
            items=[_reading(r, n) for r, n in rows], next_offset=offset + limit if len(rows) == limit else None
        )


def _reading(row: ReadingRow, account_no: str) -> MeterReading:
    return MeterReading(
        id=row.id,
        account_id=row.account_id,
        account_no=account_no,
        period=row.period,
        usage_m3=row.usage_m3,
        imported_at=row.imported_at,
    )


# --- bills -------------------------------------------------------------------------------------------------


class BillRunController(Controller):
    path = "/bill-runs"
    tags = ["Payments: bills"]

    @post(
        "/",
        status_code=200,
        operation_id="runBills",
        summary="Bill one month of one fee type now (idempotent: a second run makes no second bill)",
        description=(
            "Every account open in the month without a bill for it gets one, priced by the tariff in force on "
            "the month's first day. Accounts the tariff cannot price (no reading, no band …) are listed in "
            "`skipped`. 409 `tariff_missing` without a tariff. The worker runs the previous month by itself. "
            "An `Idempotency-Key` may be sent."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(FINANCE),
    )
    async def run(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[BillRunCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[billing.RunResult]:
        async def work() -> billing.RunResult:
            return await billing.run_bills(db_session, data.fee_type, data.period)

        return await idempotent(request, db_session, idempotency_key, work, status_code=200)


class BillController(Controller):
    path = "/bills"
    tags = ["Payments: bills"]

    @post(
        "/",
        operation_id="createBill",
        summary="Make a bill by hand (a one-off fee, a corrected month)",
        description="Needs an `Idempotency-Key`: a retried request never makes a second bill.",
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(WRITE),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[billing.ManualBillCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKey,
    ) -> Response[Bill]:
        async def work() -> Bill:
            return await _bill_view(db_session, await billing.create_manual_bill(db_session, data))

        return await idempotent(request, db_session, idempotency_key, work)

    @get(
        "/",
        operation_id="listBills",
        summary="Bills, newest first, filtered",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        payer_id: Annotated[uuid.UUID | None, QueryParameter(description="Bills of this payer")] = None,
        account_id: Annotated[uuid.UUID | None, QueryParameter(description="Bills of this account")] = None,
        status: Annotated[
            Literal["open", "paid", "cancelled"] | None, QueryParameter(description="Only bills in this status")
        ] = None,
        period: PeriodParam = None,
        overdue: Annotated[bool, QueryParameter(description="Only open bills past their due date")] = False,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> BillPage:
        rows = await billing.list_bills(
            db_session,
            payer_id=payer_id,
            account_id=account_id,
            status=status,
            period=period,
            overdue=overdue,
            limit=limit,
            offset=offset,
        )
        return await _bill_page(db_session, list(rows), limit, offset)

    @get(
        "/{bill_id:uuid}",
        operation_id="getBill",
        summary="One bill, its lines and its QR payload",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def fetch(self, bill_id: BillId, db_session: NamedDependency[AsyncSession]) -> Bill:
        return await _bill_view(db_session, await billing.get_bill(db_session, bill_id))

    @post(
        "/{bill_id:uuid}/cancel",
        status_code=200,
        operation_id="cancelBill",
        summary="Cancel an open bill with a reason (409 `bill_not_open` for a paid or cancelled bill)",
        description="The bill is kept, marked cancelled with the reason, who and when; audited.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(FINANCE),
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        bill_id: BillId,
        data: JSONBody[BillCancel],
        db_session: NamedDependency[AsyncSession],
    ) -> Bill:
        row = await billing.cancel_bill(
            db_session, bill_id, reason=data.reason, actor=current_actor(request), origin=request_origin(request)
        )
        return await _bill_view(db_session, row)

    @get(
        "/{bill_id:uuid}/qr.png",
        operation_id="getBillQrPng",
        summary="The bill's Thai QR as a PNG image",
        description=_QR_DESCRIPTION,
        media_type="image/png",
        responses=_png_responses(),
        **guarded(READ),
    )
    async def qr_png(self, bill_id: BillId, db_session: NamedDependency[AsyncSession]) -> Response[bytes]:
        payload = await billing.qr_payload(db_session, await billing.get_bill(db_session, bill_id))
        return _image(billing.qr_png(payload), "image/png")

    @get(
        "/{bill_id:uuid}/qr.svg",
        operation_id="getBillQrSvg",
        summary="The bill's Thai QR as an SVG image",
        description=_QR_DESCRIPTION,
        media_type="image/svg+xml",
        responses=_png_responses(),
        **guarded(READ),
    )
    async def qr_svg(self, bill_id: BillId, db_session: NamedDependency[AsyncSession]) -> Response[bytes]:
        payload = await billing.qr_payload(db_session, await billing.get_bill(db_session, bill_id))
        return _image(billing.qr_svg(payload), "image/svg+xml")


class SurchargeController(Controller):
    path = "/late-surcharges"
    tags = ["Payments: bills"]

    @post(
        "/",
        status_code=200,
        operation_id="issueLateSurcharges",
        summary="Issue the surcharge bills now due (the worker does it by itself every few hours)",
        description=(
            "One surcharge bill per bill open past its due date plus its grace days, once: `percent` of its "
            "total, by the rule the bill was issued under. An `Idempotency-Key` may be sent."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(FINANCE),
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[billing.SurchargeResult]:
        async def work() -> billing.SurchargeResult:
            return await billing.issue_surcharges(db_session)

        return await idempotent(request, db_session, idempotency_key, work, status_code=200)


class ArrearsController(Controller):
    path = "/arrears"
    tags = ["Payments: bills"]

    @get(
        "/",
        operation_id="getArrears",
        summary="Arrears: open bills past their due date, totals by fee type and by payer",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(FINANCE),
    )
    async def arrears(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Payers listed (largest first)")] = 100,
    ) -> billing.Arrears:
        return await billing.arrears(db_session, limit=limit)


# --- people ----------------------------------------------------------------------------------------------------


class LookupController(Controller):
    path = "/lookup"
    tags = ["Payments: bill lookup"]

    @post(
        "/",
        status_code=200,
        operation_id="lookupBill",
        summary="Look up a paper bill by its reference and verification code: amount, due date, status, QR",
        description=(
            "Open to anyone holding the paper bill; nothing about the payer is shown. An unknown reference and "
            "a wrong code get the same 404 `bill_not_found`. Limited per client address and per reference "
            "(429 `rate_limited` with Retry-After)."
        ),
        responses=problem_responses(404, 410, 429),
        **guarded(PUBLIC),  # the verification code printed on the bill is the credential
    )
    async def lookup(
        self, request: Request[Any, Any, Any], data: JSONBody[BillLookup], db_session: NamedDependency[AsyncSession]
    ) -> PublicBill:
        tenant = current_tenant(request)
        engine = request.app.state.engine
        address = request_origin(request).source_ip or "unknown"
        per_address, window = LOOKUP_LIMIT_PER_ADDRESS
        await hit(engine, f"payments.lookup:{tenant.id}:{address}", limit=per_address, window_s=window)
        per_reference, window = LOOKUP_LIMIT_PER_REFERENCE
        await hit(
            engine, f"payments.lookup-ref:{tenant.id}:{data.reference.upper()}", limit=per_reference, window_s=window
        )
        row = await billing.find_by_reference(db_session, data.reference, data.verification_code)
        payload = await billing.qr_payload_or_none(db_session, row)
        return PublicBill(
            reference=row.reference,
            total=row.total,
            issue_date=row.issue_date,
            due_date=row.due_date,
            period=row.period,
            status=row.status,
            qr_payload=payload,
            qr_svg=billing.qr_svg(payload).decode() if payload else None,
        )


class MyBillsController(Controller):
    path = "/me"
    tags = ["Payments: my bills"]

    @post(
        "/payers",
        status_code=200,
        operation_id="linkMyPayer",
        summary="See a payer's bills: prove one of its paper bills (reference + verification code)",
        description=(
            "Links the payer of that bill to the calling citizen; his bills then appear under `/me/bills`. "
            "404 `bill_not_found` for a wrong reference or code; 409 `payer_linked_elsewhere` when another "
            "citizen account already holds the payer (ask the LAO). Rate limited."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 429),
        **guarded(citizen()),
    )
    async def link(
        self, request: Request[Any, Any, Any], data: JSONBody[BillLookup], db_session: NamedDependency[AsyncSession]
    ) -> MyPayer:
        citizen_id = _citizen_id(request)
        tenant = current_tenant(request)
        limit, window = LINK_LIMIT_PER_CITIZEN
        await hit(request.app.state.engine, f"payments.link:{tenant.id}:{citizen_id}", limit=limit, window_s=window)
        row = await billing.link_citizen(
            db_session,
            citizen_id,
            data.reference,
            data.verification_code,
            actor=current_actor(request),
            origin=request_origin(request),
        )
        return _my_payer(row)

    @get(
        "/payers",
        operation_id="listMyPayers",
        summary="The payers whose bills the calling citizen sees",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def payers(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> MyPayerList:
        rows = await billing.citizen_payers(db_session, _citizen_id(request))
        return MyPayerList(items=[_my_payer(r) for r in rows])

    @delete(
        "/payers/{payer_id:uuid}",
        operation_id="unlinkMyPayer",
        summary="Stop seeing a payer's bills",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def unlink(
        self, request: Request[Any, Any, Any], payer_id: PayerId, db_session: NamedDependency[AsyncSession]
    ) -> None:
        await billing.unlink_citizen(
            db_session, _citizen_id(request), payer_id, actor=current_actor(request), origin=request_origin(request)
        )

    @get(
        "/bills",
        operation_id="listMyBills",
        summary="The calling citizen's bills (of his linked payers), newest first, with QR payloads",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def bills(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        status: Annotated[
            Literal["open", "paid", "cancelled"] | None, QueryParameter(description="Only bills in this status")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> BillPage:
        rows = await billing.list_bills(
            db_session, citizen_id=_citizen_id(request), status=status, limit=limit, offset=offset
        )
        return await _bill_page(db_session, list(rows), limit, offset)

    @get(
        "/bills/{bill_id:uuid}",
        operation_id="getMyBill",
        summary="One of the calling citizen's bills",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def bill(
        self, request: Request[Any, Any, Any], bill_id: BillId, db_session: NamedDependency[AsyncSession]
    ) -> Bill:
        return await _bill_view(db_session, await billing.citizen_bill(db_session, _citizen_id(request), bill_id))

    @get(
        "/bills/{bill_id:uuid}/qr.png",
        operation_id="getMyBillQrPng",
        summary="The QR of one of the calling citizen's bills, as PNG",
        description=_QR_DESCRIPTION,
        media_type="image/png",
        responses=_png_responses(),
        **guarded(citizen()),
    )
    async def qr_png(
        self, request: Request[Any, Any, Any], bill_id: BillId, db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        row = await billing.citizen_bill(db_session, _citizen_id(request), bill_id)
        return _image(billing.qr_png(await billing.qr_payload(db_session, row)), "image/png")

    @get(
        "/bills/{bill_id:uuid}/qr.svg",
        operation_id="getMyBillQrSvg",
        summary="The QR of one of the calling citizen's bills, as SVG",
        description=_QR_DESCRIPTION,
        media_type="image/svg+xml",
        responses=_png_responses(),
        **guarded(citizen()),
    )
    async def qr_svg(
        self, request: Request[Any, Any, Any], bill_id: BillId, db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        row = await billing.citizen_bill(db_session, _citizen_id(request), bill_id)
        return _image(billing.qr_svg(await billing.qr_payload(db_session, row)), "image/svg+xml")


#: The billing side's controllers, in the order they are documented.
BILLING_HANDLERS: list[Any] = [
    PaymentSettingsController,
    PayerController,
    AccountController,
    TariffController,
    MeterReadingController,
    BillRunController,
    BillController,
    SurchargeController,
    ArrearsController,
    LookupController,
    MyBillsController,
]
