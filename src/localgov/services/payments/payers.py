"""Payers (ผู้ชำระ) and their fee accounts, kept by finance staff or imported from CSV."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, get_args

import msgspec
from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.csv import CsvTable
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.numbering import next_number
from localgov.kernel.pagination import after_key
from localgov.kernel.text import ONE_LINE, InvalidEmail, normalise_email
from localgov.kernel.thai import bangkok_today, to_arabic_digits
from localgov.kernel.validation import (
    InvalidInput,
    check_code,
    normalise_house_no,
    normalise_moo,
    normalise_phone,
    normalise_postal_code,
    normalise_thai_id,
    parse_money,
    parse_quantity,
)
from localgov.services.payments.models import AccountStatus, Bill, FeeAccount, FeeType, MeterReading, Payer, PayerKind
from localgov.services.payments.tariffs import ImportRowError, read_import, reject

Text = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Short = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$")]
AccountNo = Annotated[str, msgspec.Meta(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^[^\x00-\x1f\x7f]*$")]
_ADDRESS = ("house_no", "moo", "soi", "road", "subdistrict", "district", "province", "postal_code")
#: The field a msgspec validation message names (``… at `$.name```, ``missing required field `name```).
_FIELD_IN_MESSAGE = re.compile(r"`\$\.([a-z_]+)|required field `([a-z_]+)`")
_ACCOUNT_PREFIX = {"garbage": "G", "wastewater": "W", "fixed": "F"}
#: The recurring fees an account may have.
FEE_TYPES: tuple[FeeType, ...] = get_args(FeeType)


#: A wastewater account's customer class and a fixed account's fee code, as the account create,
#: update and the import's rows take them (one definition for the three).
CustomerClass = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
FeeCodeText = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_.-]{0,59}$")]


class PayerCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person (บุคคลธรรมดา) or a juristic person (นิติบุคคล) and a Thai address."""

    kind: PayerKind = "person"
    name: Name
    #: 13-digit national ID or tax ID; Thai digits and dashes accepted; the check digit is verified.
    tax_id: Short | None = None
    house_no: Short | None = None
    moo: Short | None = None
    soi: Text | None = None
    road: Text | None = None
    subdistrict: Text | None = None
    district: Text | None = None
    province: Text | None = None
    postal_code: Short | None = None
    phone: Short | None = None
    #: Where e-receipts and overdue notices go (``kernel.text.normalise_email``: lower-cased; 422
    #: ``invalid_email`` otherwise). No address: nothing is mailed.
    email: Email | None = None


class PayerUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields present change; null clears an optional field."""

    kind: PayerKind | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    tax_id: Short | msgspec.UnsetType | None = msgspec.UNSET
    house_no: Short | msgspec.UnsetType | None = msgspec.UNSET
    moo: Short | msgspec.UnsetType | None = msgspec.UNSET
    soi: Text | msgspec.UnsetType | None = msgspec.UNSET
    road: Text | msgspec.UnsetType | None = msgspec.UNSET
    subdistrict: Text | msgspec.UnsetType | None = msgspec.UNSET
    district: Text | msgspec.UnsetType | None = msgspec.UNSET
    province: Text | msgspec.UnsetType | None = msgspec.UNSET
    postal_code: Short | msgspec.UnsetType | None = msgspec.UNSET
    phone: Short | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET


class AccountCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A payer's recurring fee and what its tariff needs: garbage ``litres_per_day``; wastewater
    ``customer_class`` (and ``meter_no``); fixed ``fee_code`` (and its own ``amount``, else the
    tariff's)."""

    payer_id: uuid.UUID
    fee_type: FeeType
    #: Generated (``G000001`` …) when absent.
    account_no: AccountNo | None = None
    #: The first month billed is the month of this date; default today.
    start_date: dt.date | None = None
    litres_per_day: Decimal | None = None
    customer_class: CustomerClass | None = None
    meter_no: Short | None = None
    fee_code: FeeCodeText | None = None
    amount: Decimal | None = None


class AccountUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Change an account's parameters, or close it (``status: closed`` with an ``end_date``)."""

    litres_per_day: Decimal | msgspec.UnsetType = msgspec.UNSET
    customer_class: CustomerClass | msgspec.UnsetType = msgspec.UNSET
    meter_no: Short | msgspec.UnsetType | None = msgspec.UNSET
    amount: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    status: AccountStatus | msgspec.UnsetType = msgspec.UNSET
    #: The last day billed; required to close.
    end_date: dt.date | msgspec.UnsetType | None = msgspec.UNSET


class PayerNotFound(NotFound):
    code = "payer_not_found"
    title = "No such payer"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "No such fee account"


# --- payers -------------------------------------------------------------------------------------


def _clean(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = to_arabic_digits(value.strip())  # Thai digits parse; Arabic digits are stored
    if not value:
        return None
    if field == "tax_id":
        return normalise_thai_id(value)
    if field == "postal_code":
        return normalise_postal_code(value)
    if field == "phone":
        return normalise_phone(value)
    if field == "email":
        try:
            return normalise_email(value)
        except InvalidEmail:
            raise InvalidInput("email", "not an e-mail address", code="invalid_email") from None
    if field == "moo":
        return normalise_moo(value)
    if field == "house_no":
        return normalise_house_no(value)
    return value


async def _ensure_unique_tax_id(session: AsyncSession, tax_id: str | None, exclude: uuid.UUID | None = None) -> None:
    if tax_id is None:
        return
    query = select(Payer.id).where(Payer.tax_id == tax_id)
    if exclude is not None:
        query = query.where(Payer.id != exclude)
    other = await session.scalar(query.limit(1))
    if other is not None:
        raise Conflict("A payer with this ID already exists.", code="payer_exists", data={"payer_id": str(other)})


def payer_values(data: PayerCreate) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": data.kind, "name": data.name.strip()}
    for field in ("tax_id", *_ADDRESS, "phone", "email"):
        values[field] = _clean(field, getattr(data, field))
    return values


async def create_payer(session: AsyncSession, data: PayerCreate) -> Payer:
    values = payer_values(data)
    await _ensure_unique_tax_id(session, values["tax_id"])
    payer = Payer(**values)
    session.add(payer)
    await session.flush()
    await session.refresh(payer)
    return payer


async def get_payer(session: AsyncSession, payer_id: uuid.UUID, *, for_update: bool = False) -> Payer:
    query = select(Payer).where(Payer.id == payer_id)
    if for_update:
        query = query.with_for_update()
    payer = (await session.execute(query)).scalar_one_or_none()
    if payer is None:
        raise PayerNotFound()
    return payer


async def update_payer(session: AsyncSession, payer_id: uuid.UUID, data: PayerUpdate) -> Payer:
    payer = await get_payer(session, payer_id, for_update=True)
    for field in msgspec.structs.fields(data):
        value = getattr(data, field.name)
        if value is msgspec.UNSET:
            continue
        if field.name == "name":
            payer.name = value.strip()
        elif field.name == "kind":
            payer.kind = value
        else:
            setattr(payer, field.name, _clean(field.name, value))
    await _ensure_unique_tax_id(session, payer.tax_id, exclude=payer.id)
    await session.flush()
    return payer


async def delete_payer(session: AsyncSession, payer_id: uuid.UUID) -> None:
    """Only a payer with no account and no bill (a mistake) may be deleted; others are kept."""
    payer = await get_payer(session, payer_id, for_update=True)
    used = await session.scalar(
        select(exists().where(FeeAccount.payer_id == payer.id) | exists().where(Bill.payer_id == payer.id))
    )
    if used:
        raise Conflict("The payer has accounts or bills and is kept.", code="payer_in_use")
    await session.delete(payer)
    await session.flush()


async def list_payers(
    session: AsyncSession, *, q: str | None, tax_id: str | None, limit: int, after: tuple[str, uuid.UUID] | None
) -> Sequence[Payer]:
    """By name, then id; ``after`` = the last payer's (name, id)."""
    query = select(Payer).order_by(Payer.name, Payer.id).limit(limit)
    if after is not None:
        query = query.where(after_key([Payer.name, Payer.id], after))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Payer.name.ilike(pattern, escape="\\"), Payer.phone.ilike(pattern, escape="\\")))
    if tax_id:
        query = query.where(Payer.tax_id == normalise_thai_id(tax_id))
    return (await session.execute(query)).scalars().all()


# --- accounts -----------------------------------------------------------------------------------


def account_params(data: AccountCreate) -> dict[str, Any]:
    """The tariff parameters of a new account, checked for its fee type."""
    fields = {"litres_per_day", "customer_class", "meter_no", "fee_code", "amount"}
    wanted = {"garbage": {"litres_per_day"}, "wastewater": {"customer_class"}, "fixed": {"fee_code"}}[data.fee_type]
    allowed = wanted | {"wastewater": {"meter_no"}, "fixed": {"amount"}}.get(data.fee_type, set())
    for name in sorted(fields):
        value = getattr(data, name)
        if name in wanted and value is None:
            raise InvalidInput(name, f"required for a {data.fee_type} account", code="required")
        if name not in allowed and value is not None:
            raise InvalidInput(name, f"not used by a {data.fee_type} account", code="not_applicable")
    if data.fee_type == "garbage":
        litres = parse_quantity(Decimal(str(data.litres_per_day)), "litres_per_day", places=2, maximum=100_000)
        if litres <= 0:
            raise InvalidInput("litres_per_day", "must be positive", code="invalid_quantity")
        return {"litres_per_day": str(litres)}
    if data.fee_type == "wastewater":
        params: dict[str, Any] = {"customer_class": data.customer_class}
        if data.meter_no:
            params["meter_no"] = data.meter_no.strip()
        return params
    params = {"fee_code": check_code(str(data.fee_code), "fee_code")}
    if data.amount is not None:
        params["amount"] = str(parse_money(data.amount))
    return params


async def _new_account_no(session: AsyncSession, fee_type: str) -> str:
    while True:
        number = f"{_ACCOUNT_PREFIX[fee_type]}{await next_number(session, 'payments.account.' + fee_type):06d}"
        if await session.scalar(select(FeeAccount.id).where(FeeAccount.account_no == number)) is None:
            return number


async def _ensure_unique_account_no(session: AsyncSession, account_no: str) -> None:
    other = await session.scalar(select(FeeAccount.id).where(FeeAccount.account_no == account_no))
    if other is not None:
        raise Conflict("This account number is taken.", code="account_no_taken", data={"account_id": str(other)})


async def create_account(session: AsyncSession, data: AccountCreate) -> FeeAccount:
    params = account_params(data)
    await get_payer(session, data.payer_id)
    if data.account_no is not None:
        await _ensure_unique_account_no(session, data.account_no)
    account = FeeAccount(
        account_no=data.account_no or await _new_account_no(session, data.fee_type),
        payer_id=data.payer_id,
        fee_type=data.fee_type,
        params=params,
        start_date=data.start_date or bangkok_today(),
    )
    session.add(account)
    await session.flush()
    await session.refresh(account)
    return account


async def get_account(session: AsyncSession, account_id: uuid.UUID, *, for_update: bool = False) -> FeeAccount:
    query = select(FeeAccount).where(FeeAccount.id == account_id)
    if for_update:
        query = query.with_for_update()
    account = (await session.execute(query)).scalar_one_or_none()
    if account is None:
        raise AccountNotFound()
    return account


async def update_account(session: AsyncSession, account_id: uuid.UUID, data: AccountUpdate) -> FeeAccount:
    account = await get_account(session, account_id, for_update=True)
    params = dict(account.params)
    allowed = {"garbage": {"litres_per_day"}, "wastewater": {"customer_class", "meter_no"}, "fixed": {"amount"}}
    for name in ("litres_per_day", "customer_class", "meter_no", "amount"):
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if name not in allowed[account.fee_type]:
            raise InvalidInput(name, f"not used by a {account.fee_type} account", code="not_applicable")
        if value is None:
            params.pop(name, None)
        elif name == "litres_per_day":
            litres = parse_quantity(value, name, places=2, maximum=100_000)
            if litres <= 0:
                raise InvalidInput(name, "must be positive", code="invalid_quantity")
            params[name] = str(litres)
        elif name == "amount":
            params[name] = str(parse_money(value))
        else:
            params[name] = value.strip() if name == "meter_no" else value
    account.params = params
    if data.end_date is not msgspec.UNSET:
        if data.end_date is not None and data.end_date < account.start_date:
            raise InvalidInput("end_date", "before the start date", code="invalid_date")
        account.end_date = data.end_date
    if data.status is not msgspec.UNSET:
        if data.status == "closed" and account.end_date is None:
            raise InvalidInput("end_date", "required to close an account (the last day billed)", code="required")
        account.status = data.status
    await session.flush()
    return account


async def list_accounts(
    session: AsyncSession,
    *,
    payer_id: uuid.UUID | None,
    fee_type: str | None,
    account_no: str | None,
    limit: int,
    after: tuple[str, uuid.UUID] | None,
) -> Sequence[FeeAccount]:
    """By account number, then id; ``after`` = the last account's (account_no, id)."""
    query = select(FeeAccount).order_by(FeeAccount.account_no, FeeAccount.id).limit(limit)
    if after is not None:
        query = query.where(after_key([FeeAccount.account_no, FeeAccount.id], after))
    if payer_id is not None:
        query = query.where(FeeAccount.payer_id == payer_id)
    if fee_type is not None:
        query = query.where(FeeAccount.fee_type == fee_type)
    if account_no is not None:
        query = query.where(FeeAccount.account_no == account_no)
    return (await session.execute(query)).scalars().all()


async def delete_account(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Only an account never billed nor read (a mistake) may be deleted; others are closed."""
    account = await get_account(session, account_id, for_update=True)
    used = await session.scalar(
        select(exists().where(Bill.account_id == account.id) | exists().where(MeterReading.account_id == account.id))
    )
    if used:
        raise Conflict("The account has bills or readings: close it instead.", code="account_in_use")
    await session.delete(account)
    await session.flush()


# --- CSV import ---------------------------------------------------------------------------------

#: Columns of the payer/account import; ``name`` is required, the others may be empty.
IMPORT_COLUMNS = (
    "payer_ref", "kind", "name", "tax_id", "house_no", "moo", "soi", "road", "subdistrict", "district",
    "province", "postal_code", "phone", "email", "account_no", "fee_type", "start_date", "litres_per_day",
    "customer_class", "meter_no", "fee_code", "amount",
)  # fmt: skip


class PayerImportRow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One row of a payer import (the CSV's columns, :data:`IMPORT_COLUMNS`): a payer, and optionally
    one fee account of theirs. Rows with the same ``payer_ref`` (else ``tax_id``) are one payer."""

    payer_ref: Short | None = None
    kind: PayerKind | None = None
    name: Name
    tax_id: Short | None = None
    house_no: Short | None = None
    moo: Short | None = None
    soi: Text | None = None
    road: Text | None = None
    subdistrict: Text | None = None
    district: Text | None = None
    province: Text | None = None
    postal_code: Short | None = None
    phone: Short | None = None
    email: Email | None = None
    account_no: AccountNo | None = None
    fee_type: FeeType | None = None
    start_date: dt.date | None = None
    litres_per_day: Decimal | None = None
    customer_class: CustomerClass | None = None
    meter_no: Short | None = None
    fee_code: FeeCodeText | None = None
    amount: Decimal | None = None


class PayerImportResult(msgspec.Struct, kw_only=True):
    rows: int
    payers_created: int
    payers_reused: int
    accounts_created: int


def _row_error(line: int, exc: InvalidInput | msgspec.ValidationError) -> ImportRowError:
    if isinstance(exc, InvalidInput):
        return ImportRowError(line=line, column=exc.field, code=exc.code, message=exc.message)
    message = str(exc)
    found = _FIELD_IN_MESSAGE.search(message)
    return ImportRowError(
        line=line, column=(found.group(1) or found.group(2)) if found else None, code="invalid_value", message=message
    )


async def import_payers(session: AsyncSession, content: bytes | CsvTable) -> PayerImportResult:
    """Payers and their accounts from CSV (one account per row, or none), all or nothing.

    Rows with the same ``payer_ref`` (else the same ``tax_id``) are one payer; a ``tax_id``
    already known to the LAO reuses that payer. Any error in any row imports nothing and answers
    422 ``import_rejected`` with every problem found, by line and column.
    """
    table = read_import(content, ("name",))
    rows = table.rows
    errors: list[ImportRowError] = []
    payers: dict[str, tuple[int, dict[str, Any]]] = {}
    accounts: list[tuple[int, str, AccountCreate]] = []
    numbers: dict[str, int] = {}
    for csv_row in rows:
        line, row = csv_row.line, csv_row.values
        if csv_row.extra:
            errors.append(
                ImportRowError(line=line, column=None, code="too_many_fields", message="more fields than the header")
            )
            continue
        unknown = sorted(set(row) - set(IMPORT_COLUMNS))
        if unknown and line == rows[0].line:
            errors.append(ImportRowError(line=1, column=unknown[0], code="unknown_column", message=", ".join(unknown)))
        try:
            payer = msgspec.convert(
                {k: row[k] for k in ("kind", "name", "tax_id", *_ADDRESS, "phone", "email") if row.get(k)}, PayerCreate
            )
            values = payer_values(payer)
        except (InvalidInput, msgspec.ValidationError) as exc:
            errors.append(_row_error(line, exc))
            continue
        if row.get("payer_ref"):
            key = f"ref:{row['payer_ref']}"
        else:
            key = f"tax:{values['tax_id']}" if values["tax_id"] else f"line:{line}"
        first = payers.get(key)
        if first is None:
            payers[key] = (line, values)
        elif first[1] != values:
            errors.append(
                ImportRowError(
                    line=line, column="name", code="conflicting_payer", message=f"differs from line {first[0]}"
                )
            )
            continue
        if not row.get("fee_type"):
            if any(row.get(c) for c in ("account_no", "litres_per_day", "customer_class", "fee_code", "amount")):
                errors.append(ImportRowError(line=line, column="fee_type", code="required", message="required"))
            continue
        if row["fee_type"] not in FEE_TYPES:
            errors.append(ImportRowError(line=line, column="fee_type", code="invalid_value", message=row["fee_type"]))
            continue
        raw: dict[str, Any] = {"payer_id": str(uuid.UUID(int=0)), "fee_type": row["fee_type"]}
        for name in ("account_no", "start_date", "litres_per_day", "customer_class", "meter_no", "fee_code", "amount"):
            if row.get(name):
                raw[name] = row[name]
        try:
            for name in ("litres_per_day", "amount", "start_date"):
                if name in raw:
                    raw[name] = to_arabic_digits(raw[name]).replace(",", "")
            account = msgspec.convert(raw, AccountCreate, strict=False)
            account_params(account)
        except (InvalidInput, msgspec.ValidationError) as exc:
            errors.append(_row_error(line, exc))
            continue
        if account.account_no is not None:
            if account.account_no in numbers:
                errors.append(
                    ImportRowError(
                        line=line,
                        column="account_no",
                        code="duplicate_account_no",
                        message=f"also on line {numbers[account.account_no]}",
                    )
                )
                continue
            numbers[account.account_no] = line
        accounts.append((line, key, account))
    if numbers:
        taken = set(
            (await session.execute(select(FeeAccount.account_no).where(FeeAccount.account_no.in_(numbers)))).scalars()
        )
        errors.extend(
            ImportRowError(line=numbers[n], column="account_no", code="account_no_taken", message=n) for n in taken
        )
    tax_ids = [values["tax_id"] for _, values in payers.values() if values["tax_id"]]
    known: dict[str, uuid.UUID] = {}
    if tax_ids:
        known = {
            tax_id: payer_id
            for tax_id, payer_id in (
                await session.execute(select(Payer.tax_id, Payer.id).where(Payer.tax_id.in_(tax_ids)))
            ).all()
            if tax_id is not None
        }
    seen_tax: dict[str, int] = {}
    for line, values in payers.values():
        tax_id = values["tax_id"]
        if tax_id and tax_id in seen_tax:
            errors.append(
                ImportRowError(
                    line=line, column="tax_id", code="conflicting_payer", message=f"same ID as line {seen_tax[tax_id]}"
                )
            )
        elif tax_id:
            seen_tax[tax_id] = line
    if errors:
        raise reject(sorted(errors, key=lambda e: (e.line, e.column or "")), len(rows), source=table.source)
    payer_ids: dict[str, uuid.UUID] = {}
    created = reused = 0
    for key, (_, values) in payers.items():
        tax_id = values["tax_id"]
        if tax_id and tax_id in known:
            payer_ids[key] = known[tax_id]
            reused += 1
            continue
        new_payer = Payer(**values)
        session.add(new_payer)
        await session.flush()
        payer_ids[key] = new_payer.id
        created += 1
    # Accounts with their own number first, so a generated number can never take one of theirs.
    for _, key, account in sorted(accounts, key=lambda item: item[2].account_no is None):
        session.add(
            FeeAccount(
                account_no=account.account_no or await _new_account_no(session, account.fee_type),
                payer_id=payer_ids[key],
                fee_type=account.fee_type,
                params=account_params(account),
                start_date=account.start_date or bangkok_today(),
            )
        )
    await session.flush()
    return PayerImportResult(
        rows=len(rows), payers_created=created, payers_reused=reused, accounts_created=len(accounts)
    )


async def count_accounts(session: AsyncSession, payer_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).where(FeeAccount.payer_id == payer_id)) or 0)
