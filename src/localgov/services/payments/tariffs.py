"""Tariffs (อัตราค่าธรรมเนียม) from the LAO's ordinance, and what they charge an account.

A tariff is a version of one fee type's schedule, in force from ``effective_from`` (the first day
of a month) until the next version: a change is a new version, so bills already issued keep the
prices they were issued with (their lines are stored), and a bill for a month uses the version in
force on the first day of that month. Versions already in force are never edited; a version still
in the future may be replaced or withdrawn.

Defaults (DOMAIN.md §4) are seeded whenever the payments tables are created for an LAO (the
plugin's ``seed``: signup, ``tenants.yaml``, bulk provisioning, or enabling the service later), as
editable defaults its finance staff review, or when an LAO asks for them (:func:`seed_defaults`).
They are examples marked "verify"; nothing is billed before accounts exist, and a bill run
without a tariff says so (``tariff_missing``).

Meter readings (m³ of tap water per wastewater account and month) come from the water utility as
CSV and are imported idempotently per (account, period).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.csv import CsvRejected, CsvRowError, CsvTable, read_csv, row_errors
from localgov.kernel.errors import Conflict, DomainError, FieldSource, NotFound
from localgov.kernel.pagination import after_key
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import (
    CENT,
    InvalidInput,
    parse_money,
    parse_period,
    parse_quantity,
    period_label_th,
    period_start,
    round_baht,
)
from localgov.services.payments.api import BillLine
from localgov.services.payments.models import Bill, FeeAccount, FeeType, MeterReading, Tariff

#: Baht as a JSON string or number ("50.00"); checked by the service (at most 2 decimals).
Money = Decimal
Code = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["household"])]
FeeCode = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_.-]{0,59}$", examples=["market_stall"])]


class GarbageBand(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Up to ``max_litres`` litres a day (null: no upper bound), per month."""

    max_litres: Decimal | None
    collection: Money
    disposal: Money = Decimal("0.00")


class GarbageTariff(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag="garbage", tag_field="fee_type"):
    """ค่าเก็บขนและกำจัดขยะมูลฝอย: monthly, banded by litres per day."""

    bands: Annotated[list[GarbageBand], msgspec.Meta(min_length=1, max_length=50)]
    #: Collection and disposal as two bill lines (else one line with their sum).
    separate_lines: bool = False


class WastewaterTariff(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag="wastewater", tag_field="fee_type"
):
    """ค่าบำบัดน้ำเสีย: m³ of tap water × ``factor`` × the rate of the customer class."""

    factor: Decimal
    rates: Annotated[dict[Code, Money], msgspec.Meta(min_length=1, max_length=20)]


class FixedFee(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description_th: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    amount: Money


class FixedTariff(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag="fixed", tag_field="fee_type"):
    """Fixed monthly fees by fee code (an account may carry its own amount instead)."""

    fees: Annotated[dict[FeeCode, FixedFee], msgspec.Meta(max_length=200)]


TariffDefinition = GarbageTariff | WastewaterTariff | FixedTariff


class LateSurcharge(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A surcharge of ``percent`` of an overdue bill, due once it is ``after_days`` past its due date."""

    percent: Decimal
    after_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0


class TariffCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A tariff version. ``definition.fee_type`` says which fee it prices."""

    #: The first day of a month: the first month billed at these prices.
    effective_from: dt.date
    definition: TariffDefinition
    #: Days from the issue date to the due date of the bills.
    due_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    late_surcharge: LateSurcharge | None = None
    #: Why a version starts before today (an ordinance published late …): required for a backdated
    #: version, audited. A backdated version is refused while bills of its fee type exist for the
    #: months it would reprice (``tariff_rebill_required``).
    backdated_reason: Annotated[str, msgspec.Meta(min_length=3, max_length=1000)] | None = None


class TariffMissing(DomainError):
    code = "tariff_missing"
    status = 409
    title = "No tariff is in force for this fee and month"


class TariffNotFound(NotFound):
    code = "tariff_not_found"
    title = "No such tariff"


class TariffBackdated(DomainError):
    code = "tariff_backdated"
    status = 422
    title = "A tariff version starts today or later"


class TariffRebillRequired(Conflict):
    code = "tariff_rebill_required"
    title = "Bills already issued for the months this version would reprice"


async def check_backdating(
    session: AsyncSession, data: TariffCreate, *, actor: Actor, origin: Origin, today: dt.date | None = None
) -> None:
    """A new version starts today or later. One that starts earlier needs ``backdated_reason`` and
    is refused while any uncancelled bill of its fee type exists for a month from its start: those
    accounts would keep the old price while the rest of the month is billed at the new one. The
    accepted backdating is audited (``payments.tariff_backdated``)."""
    day = today or bangkok_today()
    if data.effective_from >= day:
        return
    if not data.backdated_reason:
        raise TariffBackdated(
            "A tariff version starts today or later; give backdated_reason for a version that must start earlier.",
            data={"effective_from": data.effective_from.isoformat(), "today": day.isoformat()},
        )
    fee_type = fee_type_of(data.definition)
    first = f"{data.effective_from.year:04d}-{data.effective_from.month:02d}"
    periods = sorted(
        p
        for p in (
            await session.execute(
                select(Bill.period)
                .join(FeeAccount, FeeAccount.id == Bill.account_id)
                .where(FeeAccount.fee_type == fee_type, Bill.period >= first, Bill.status != "cancelled")
                .distinct()
            )
        ).scalars()
        if p is not None
    )
    if periods:
        raise TariffRebillRequired(
            "Bills of this fee were already issued for months the version would reprice: add it with "
            "POST /v1/payments/tariffs/rebill (re-bills those months in the same call, audited), or cancel "
            "and rebill them by hand first.",
            data={"periods": periods, "rebill": "/v1/payments/tariffs/rebill"},
        )
    await record_audit(
        session,
        "payments.tariff_backdated",
        actor=actor,
        origin=origin,
        target=f"tariff:{fee_type}:{data.effective_from.isoformat()}",
        data={"reason": data.backdated_reason, "today": day.isoformat()},
    )


class TariffInForce(Conflict):
    code = "tariff_in_force"
    title = "A tariff already in force cannot be changed; add a new version from a later month"


class NotChargeable(DomainError):
    """An account a tariff cannot price (no band for its litres, an unknown class …)."""

    code = "not_chargeable"
    status = 422
    title = "The tariff does not price this account"


def _check_money(value: Decimal, field: str, *, allow_zero: bool = False) -> None:
    parse_money(value, field, allow_zero=allow_zero)


def _check_definition(definition: TariffDefinition) -> None:
    if isinstance(definition, GarbageTariff):
        limits = [band.max_litres for band in definition.bands]
        bounded = [m for m in limits if m is not None]
        if None in limits[:-1]:
            raise InvalidInput("definition.bands", "only the last band may be unbounded (max_litres null)")
        if any(not m.is_finite() or m <= 0 for m in bounded):
            raise InvalidInput("definition.bands", "max_litres must be positive")
        if bounded != sorted(bounded) or len(set(bounded)) != len(bounded):
            raise InvalidInput("definition.bands", "bands must be in increasing order of max_litres")
        for n, band in enumerate(definition.bands):
            _check_money(band.collection, f"definition.bands[{n}].collection", allow_zero=True)
            _check_money(band.disposal, f"definition.bands[{n}].disposal", allow_zero=True)
            if band.collection + band.disposal <= 0:
                raise InvalidInput(f"definition.bands[{n}]", "every band must charge something")
    elif isinstance(definition, WastewaterTariff):
        factor = definition.factor
        if not factor.is_finite() or not 0 < factor <= 1 or factor != factor.quantize(Decimal("0.0001")):
            raise InvalidInput("definition.factor", "above 0, at most 1, at most 4 decimals")
        for customer_class, rate in definition.rates.items():
            _check_money(rate, f"definition.rates.{customer_class}")
    else:
        for fee_code, fee in definition.fees.items():
            _check_money(fee.amount, f"definition.fees.{fee_code}.amount")


def check_surcharge(percent: Decimal, field: str = "late_surcharge.percent") -> None:
    if not percent.is_finite() or not 0 < percent <= 100 or percent != percent.quantize(CENT):
        raise InvalidInput(field, "a percentage above 0 and at most 100, at most 2 decimals")


def _check(data: TariffCreate) -> None:
    if data.effective_from.day != 1:
        raise InvalidInput(
            "effective_from", "must be the first day of a month / ต้องเป็นวันที่ 1 ของเดือน", code="invalid_date"
        )
    _check_definition(data.definition)
    if data.late_surcharge is not None:
        check_surcharge(data.late_surcharge.percent)


def fee_type_of(definition: TariffDefinition) -> FeeType:
    if isinstance(definition, GarbageTariff):
        return "garbage"
    if isinstance(definition, WastewaterTariff):
        return "wastewater"
    return "fixed"


def definition_of(tariff: Tariff) -> TariffDefinition:
    definition: TariffDefinition = msgspec.convert(tariff.definition, TariffDefinition)
    return definition


def surcharge_of(tariff: Tariff) -> LateSurcharge | None:
    return msgspec.convert(tariff.surcharge, LateSurcharge) if tariff.surcharge else None


def _row_values(data: TariffCreate) -> dict[str, Any]:
    return {
        "fee_type": fee_type_of(data.definition),
        "effective_from": data.effective_from,
        "definition": msgspec.to_builtins(data.definition),
        "surcharge": msgspec.to_builtins(data.late_surcharge) if data.late_surcharge else {},
        "due_days": data.due_days,
    }


async def create_tariff(session: AsyncSession, data: TariffCreate, *, created_by: uuid.UUID | None) -> Tariff:
    _check(data)
    values = _row_values(data)
    clash = await session.scalar(
        select(Tariff.id).where(Tariff.fee_type == values["fee_type"], Tariff.effective_from == data.effective_from)
    )
    if clash is not None:
        raise Conflict(
            "A version of this tariff already starts on that date; replace it instead.",
            code="tariff_exists",
            data={"tariff_id": str(clash)},
        )
    tariff = Tariff(**values, created_by=created_by)
    session.add(tariff)
    await session.flush()
    await session.refresh(tariff)
    return tariff


async def get_tariff(session: AsyncSession, tariff_id: uuid.UUID, *, for_update: bool = False) -> Tariff:
    query = select(Tariff).where(Tariff.id == tariff_id)
    if for_update:
        query = query.with_for_update()
    tariff = (await session.execute(query)).scalar_one_or_none()
    if tariff is None:
        raise TariffNotFound()
    return tariff


async def list_tariffs(
    session: AsyncSession,
    fee_type: str | None = None,
    *,
    after: tuple[str, dt.date, uuid.UUID] | None = None,
    limit: int = 500,
) -> Sequence[Tariff]:
    """By fee type and date (unique index), then id; ``after``: the (fee_type, effective_from, id)
    of the last version of the previous page."""
    query = select(Tariff).order_by(Tariff.fee_type, Tariff.effective_from, Tariff.id).limit(limit)
    if fee_type is not None:
        query = query.where(Tariff.fee_type == fee_type)
    if after is not None:
        query = query.where(after_key([Tariff.fee_type, Tariff.effective_from, Tariff.id], after))
    return (await session.execute(query)).scalars().all()


def _ensure_future(tariff: Tariff) -> None:
    if tariff.effective_from <= bangkok_today():
        raise TariffInForce(data={"effective_from": tariff.effective_from.isoformat()})


async def replace_tariff(session: AsyncSession, tariff_id: uuid.UUID, data: TariffCreate) -> Tariff:
    """Replace a version that is not yet in force (its date and content may both change)."""
    tariff = await get_tariff(session, tariff_id, for_update=True)
    _ensure_future(tariff)
    _check(data)
    values = _row_values(data)
    if values["fee_type"] != tariff.fee_type:
        raise InvalidInput("definition.fee_type", "a version cannot change its fee type")
    if data.effective_from <= bangkok_today():
        raise InvalidInput("effective_from", "a replacement must still start in the future", code="invalid_date")
    clash = await session.scalar(
        select(Tariff.id).where(
            Tariff.fee_type == tariff.fee_type, Tariff.effective_from == data.effective_from, Tariff.id != tariff.id
        )
    )
    if clash is not None:
        raise Conflict("Another version starts on that date.", code="tariff_exists", data={"tariff_id": str(clash)})
    for key, value in values.items():
        setattr(tariff, key, value)
    await session.flush()
    return tariff


async def delete_tariff(session: AsyncSession, tariff_id: uuid.UUID) -> None:
    tariff = await get_tariff(session, tariff_id, for_update=True)
    _ensure_future(tariff)
    await session.delete(tariff)
    await session.flush()


async def tariff_for(session: AsyncSession, fee_type: str, period: str) -> Tariff:
    """The version in force on the first day of ``period``."""
    tariff = (
        await session.execute(
            select(Tariff)
            .where(Tariff.fee_type == fee_type, Tariff.effective_from <= period_start(period))
            .order_by(Tariff.effective_from.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if tariff is None:
        raise TariffMissing(
            f"No {fee_type} tariff is in force in {period}: add one, or seed the defaults "
            f"(ไม่มีอัตราค่าธรรมเนียมที่ใช้บังคับในเดือน {period_label_th(period)})",
            data={"fee_type": fee_type, "period": period},
        )
    return tariff


# --- pricing -------------------------------------------------------------------------------------

_TITLES_TH = {"garbage": "ค่าเก็บขนขยะมูลฝอย", "wastewater": "ค่าบำบัดน้ำเสีย", "fixed": "ค่าธรรมเนียม"}


def lines_for(
    account: FeeAccount, definition: TariffDefinition, period: str, usage_m3: Decimal | None = None
) -> list[BillLine]:
    """The bill lines of one account for one month under ``definition``.

    An empty list means nothing is owed (no water used); :class:`NotChargeable` means the tariff
    cannot price the account (the bill run reports it rather than guessing).
    """
    params = account.params
    label = period_label_th(period)
    if isinstance(definition, GarbageTariff):
        litres = Decimal(str(params.get("litres_per_day", "0")))
        band = next((b for b in definition.bands if b.max_litres is None or litres <= b.max_litres), None)
        if band is None:
            raise NotChargeable(f"No garbage band covers {litres} litres a day.", code="no_band")
        if definition.separate_lines:
            lines = [
                BillLine(
                    fee_code="garbage.collection",
                    description_th=f"ค่าเก็บขนขยะมูลฝอย เดือน{label}",
                    amount=band.collection,
                    period=period,
                ),
                BillLine(
                    fee_code="garbage.disposal",
                    description_th=f"ค่ากำจัดขยะมูลฝอย เดือน{label}",
                    amount=band.disposal,
                    period=period,
                ),
            ]
            return [line for line in lines if line.amount > 0]
        return [
            BillLine(
                fee_code="garbage",
                description_th=f"ค่าเก็บขนและกำจัดขยะมูลฝอย เดือน{label}",
                amount=band.collection + band.disposal,
                period=period,
            )
        ]
    if isinstance(definition, WastewaterTariff):
        customer_class = str(params.get("customer_class", ""))
        rate = definition.rates.get(customer_class)
        if rate is None:
            raise NotChargeable(f"The tariff has no rate for class {customer_class!r}.", code="unknown_class")
        if usage_m3 is None:
            raise NotChargeable(f"No meter reading for {period}.", code="no_reading")
        billed_m3 = (usage_m3 * definition.factor).quantize(Decimal("0.001"))
        amount = round_baht(usage_m3 * definition.factor * rate)
        if amount <= 0:
            return []
        return [
            BillLine(
                fee_code=f"wastewater.{customer_class}",
                description_th=(
                    f"ค่าบำบัดน้ำเสีย เดือน{label} ({usage_m3.normalize():f} ลบ.ม. × {definition.factor.normalize():f}"
                    f" × {rate} บาท)"
                ),
                amount=amount,
                quantity=billed_m3 if billed_m3 > 0 else Decimal(1),
                period=period,
            )
        ]
    fee_code = str(params.get("fee_code", ""))
    fee = definition.fees.get(fee_code)
    own = params.get("amount")
    if own is not None:
        amount = Decimal(str(own))
        description = fee.description_th if fee is not None else f"{_TITLES_TH['fixed']} {fee_code}"
    elif fee is not None:
        amount, description = fee.amount, fee.description_th
    else:
        raise NotChargeable(f"The tariff has no fixed fee {fee_code!r}.", code="unknown_fee_code")
    return [BillLine(fee_code=fee_code, description_th=f"{description} เดือน{label}", amount=amount, period=period)]


# --- defaults --------------------------------------------------------------------------------------


def default_tariffs(effective_from: dt.date) -> list[TariffCreate]:
    """DOMAIN.md §4 examples (marked "verify" there): review them against the LAO's ordinance."""
    return [
        TariffCreate(
            effective_from=effective_from,
            definition=GarbageTariff(
                bands=[
                    GarbageBand(max_litres=Decimal(20), collection=Decimal("50.00")),
                    GarbageBand(max_litres=Decimal(100), collection=Decimal("80.00")),
                    GarbageBand(max_litres=Decimal(200), collection=Decimal("100.00")),
                    GarbageBand(max_litres=Decimal(400), collection=Decimal("200.00")),
                    GarbageBand(max_litres=Decimal(600), collection=Decimal("300.00")),
                ]
            ),
        ),
        TariffCreate(
            effective_from=effective_from,
            definition=WastewaterTariff(
                factor=Decimal("0.8"),
                rates={
                    "household": Decimal("2.00"),
                    "small_business": Decimal("4.00"),
                    "large_business": Decimal("8.00"),
                },
            ),
        ),
        TariffCreate(effective_from=effective_from, definition=FixedTariff(fees={})),
    ]


async def seed_defaults(
    session: AsyncSession, effective_from: dt.date, *, created_by: uuid.UUID | None
) -> list[Tariff]:
    """Create the default version of every fee type that has no tariff at all (idempotent)."""
    present = set((await session.execute(select(Tariff.fee_type).distinct())).scalars())
    created: list[Tariff] = []
    for data in default_tariffs(effective_from):
        if fee_type_of(data.definition) not in present:
            created.append(await create_tariff(session, data, created_by=created_by))
    return created


# --- meter readings --------------------------------------------------------------------------------


#: One problem of an imported file: its line (1 = the header), column and what is wrong.
ImportRowError = CsvRowError


class ImportRejected(DomainError):
    code = "import_rejected"
    status = 422
    title = "The file has errors; nothing was imported"


def read_import(content: bytes | CsvTable, required: Sequence[str]) -> CsvTable:
    """The rows of an import: a CSV file's (:func:`localgov.kernel.csv.read_csv`; a file that cannot
    be read is refused as 422 ``import_rejected`` with its problems by line and column), or a table
    already read (``kernel.csv.ImportBody``: the file, or the same rows sent as JSON)."""
    if isinstance(content, CsvTable):
        return content
    try:
        return read_csv(content, required=required)
    except CsvRejected as exc:
        raise ImportRejected(exc.detail, errors=exc.errors) from None


def reject(errors: list[ImportRowError], rows: int, *, source: FieldSource = "csv") -> ImportRejected:
    return ImportRejected(
        f"{len(errors)} problem(s) in {rows} row(s); nothing was imported.",
        data={"rows": rows},
        errors=row_errors(errors[:1000], source=source),
    )


#: The most rows one import takes (a file, or a JSON body).
MAX_IMPORT_ROWS = 50_000


class MeterReadingImportRow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One row of a meter-reading import (the CSV's columns)."""

    account_no: Annotated[str, msgspec.Meta(min_length=1, max_length=30, examples=["W000123"])]
    #: ``YYYY-MM``.
    period: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
    #: Cubic metres, at most 3 decimals.
    usage_m3: Decimal


class ReadingImportResult(msgspec.Struct, kw_only=True):
    rows: int
    created: int
    updated: int
    unchanged: int


async def import_readings(session: AsyncSession, content: bytes | CsvTable) -> ReadingImportResult:
    """Import ``account_no,period,usage_m3`` rows, all or nothing.

    Idempotent per (account, period): the same value again changes nothing; a new value replaces
    the old one only while that month is not yet billed (a billed month is refused).
    """
    table = read_import(content, ("account_no", "period", "usage_m3"))
    rows = table.rows
    errors: list[ImportRowError] = []
    parsed: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for csv_row in rows:
        line, row = csv_row.line, csv_row.values
        if csv_row.extra:
            errors.append(
                ImportRowError(line=line, column=None, code="too_many_fields", message="more fields than the header")
            )
            continue
        try:
            period = parse_period(row["period"])
            usage = parse_quantity(row["usage_m3"], "usage_m3", maximum=10**8)
        except InvalidInput as exc:
            errors.append(ImportRowError(line=line, column=exc.field, code=exc.code, message=exc.message))
            continue
        key = (row["account_no"], period)
        if not row["account_no"]:
            errors.append(ImportRowError(line=line, column="account_no", code="required", message="required"))
        elif key in parsed and parsed[key][1] != usage:
            errors.append(
                ImportRowError(
                    line=line, column="usage_m3", code="conflicting_rows", message=f"line {parsed[key][0]} differs"
                )
            )
        else:
            parsed[key] = (line, usage)
    numbers = sorted({account_no for account_no, _ in parsed})
    accounts = {
        a.account_no: a
        for a in (await session.execute(select(FeeAccount).where(FeeAccount.account_no.in_(numbers)))).scalars()
    }
    existing: dict[tuple[uuid.UUID, str], MeterReading] = {}
    billed: set[tuple[uuid.UUID, str]] = set()
    ids = [a.id for a in accounts.values()]
    if ids:
        for found in (await session.execute(select(MeterReading).where(MeterReading.account_id.in_(ids)))).scalars():
            existing[(found.account_id, found.period)] = found
        billed = {
            (account_id, period)
            for account_id, period in (
                await session.execute(
                    select(Bill.account_id, Bill.period).where(
                        Bill.account_id.in_(ids), Bill.source == "payments.bill_run", Bill.status != "cancelled"
                    )
                )
            ).all()
            if account_id is not None and period is not None
        }
    created = updated = unchanged = 0
    changes: list[tuple[FeeAccount, str, Decimal, MeterReading | None]] = []
    for (account_no, period), (line, usage) in parsed.items():
        account = accounts.get(account_no)
        if account is None:
            errors.append(ImportRowError(line=line, column="account_no", code="unknown_account", message=account_no))
            continue
        if account.fee_type != "wastewater":
            errors.append(
                ImportRowError(
                    line=line, column="account_no", code="not_wastewater", message="not a wastewater account"
                )
            )
            continue
        reading = existing.get((account.id, period))
        if reading is not None and reading.usage_m3 == usage:
            unchanged += 1
            continue
        if reading is not None and (account.id, period) in billed:
            errors.append(
                ImportRowError(
                    line=line,
                    column="usage_m3",
                    code="already_billed",
                    message=f"{period} is billed with {reading.usage_m3} m³; cancel that bill first",
                )
            )
            continue
        changes.append((account, period, usage, reading))
    if errors:
        raise reject(sorted(errors, key=lambda e: e.line), len(rows), source=table.source)
    for account, period, usage, reading in changes:
        if reading is None:
            session.add(MeterReading(account_id=account.id, period=period, usage_m3=usage))
            created += 1
        else:
            reading.usage_m3 = usage
            updated += 1
    await session.flush()
    return ReadingImportResult(rows=len(rows), created=created, updated=updated, unchanged=unchanged)


async def list_readings(
    session: AsyncSession,
    *,
    account_id: uuid.UUID | None,
    period: str | None,
    limit: int,
    after: tuple[str, str] | None,
) -> Sequence[tuple[MeterReading, str]]:
    """Newest period first, then account number; ``after`` = the last reading's (period, account_no)."""
    query = (
        select(MeterReading, FeeAccount.account_no)
        .join(FeeAccount, FeeAccount.id == MeterReading.account_id)
        .order_by(MeterReading.period.desc(), FeeAccount.account_no)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            or_(
                MeterReading.period < after[0],
                and_(MeterReading.period == after[0], FeeAccount.account_no > after[1]),
            )
        )
    if account_id is not None:
        query = query.where(MeterReading.account_id == account_id)
    if period is not None:
        query = query.where(MeterReading.period == period)
    return [(reading, number) for reading, number in (await session.execute(query)).all()]
