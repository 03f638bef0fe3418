"""Request and response bodies of the payments endpoints, and how rows become responses.

Response structs are named ``<Thing>Read`` (the models keep the domain names), requests
``<Thing>Create``/``<Thing>Update``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.pagination import cut_page
from localgov.kernel.reads import Row
from localgov.kernel.thai import bangkok_today
from localgov.services.payments import bills, qr, tariffs
from localgov.services.payments.models import (
    AccountStatus,
    Bill,
    BillItem,
    BillStatus,
    FeeAccount,
    FeeType,
    Payer,
    PayerKind,
    Tariff,
)
from localgov.services.payments.params import Reason, Reference, VerificationCode


class PayerRead(msgspec.Struct, kw_only=True):
    """A payer (ผู้ชำระ) and a Thai address."""

    id: uuid.UUID
    kind: PayerKind
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
    #: Where e-receipts and overdue notices are mailed (none: nothing is mailed).
    email: str | None
    #: A citizen account has proved a bill of this payer and sees its bills.
    citizen_linked: bool
    created_at: dt.datetime


class PayerPage(msgspec.Struct, kw_only=True):
    items: list[PayerRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class AccountRead(msgspec.Struct, kw_only=True):
    """A fee account: a payer's recurring fee and its tariff parameters."""

    id: uuid.UUID
    account_no: str
    payer_id: uuid.UUID
    fee_type: FeeType
    status: AccountStatus
    start_date: dt.date
    end_date: dt.date | None
    litres_per_day: Decimal | None = None
    customer_class: str | None = None
    meter_no: str | None = None
    fee_code: str | None = None
    amount: Decimal | None = None
    created_at: dt.datetime


class AccountPage(msgspec.Struct, kw_only=True):
    items: list[AccountRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class TariffRead(msgspec.Struct, kw_only=True):
    """A tariff version, in force from ``effective_from`` until the next version of its fee type."""

    id: uuid.UUID
    fee_type: FeeType
    effective_from: dt.date
    definition: tariffs.TariffDefinition
    due_days: int
    late_surcharge: tariffs.LateSurcharge | None
    created_at: dt.datetime


class TariffList(msgspec.Struct, kw_only=True):
    items: list[TariffRead]


class TariffPage(msgspec.Struct, kw_only=True):
    items: list[TariffRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class SeedDefaults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """From which month the default tariffs apply (default: the current month)."""

    effective_from: dt.date | None = None


class MeterReadingRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    account_id: uuid.UUID
    account_no: str
    period: str
    usage_m3: Decimal
    imported_at: dt.datetime


class MeterReadingPage(msgspec.Struct, kw_only=True):
    items: list[MeterReadingRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class BillItemRead(msgspec.Struct, kw_only=True):
    fee_code: str
    description_th: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    period: str | None


class BillRead(msgspec.Struct, kw_only=True):
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
    status: BillStatus
    overdue: bool
    #: Received so far (a partial payment, the payer's credit) and what is left to pay.
    amount_paid: Decimal = Decimal("0.00")
    amount_due: Decimal = Decimal("0.00")
    cancel_reason: str | None
    cancelled_at: dt.datetime | None
    paid_at: dt.datetime | None
    late_surcharge_percent: Decimal | None
    late_surcharge_after_days: int
    #: For a surcharge bill: the overdue bill it charges.
    surcharge_of: uuid.UUID | None
    items: list[BillItemRead]
    qr_payload: str | None
    created_at: dt.datetime


class BillPage(msgspec.Struct, kw_only=True):
    items: list[BillRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class BillRunCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fee_type: FeeType
    #: ``YYYY-MM``: the month billed.
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]


class AdvanceBillCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Pay ``months`` months ahead in one bill (garbage and fixed fees)."""

    months: Annotated[int, msgspec.Meta(ge=1, le=bills.MAX_ADVANCE_MONTHS)]
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
    status: BillStatus
    #: Null unless the bill is open and the LAO's biller is set.
    qr_payload: str | None
    #: The same QR as an SVG image (null when there is no payload).
    qr_svg: str | None
    #: What is left to pay (the QR's amount) while open.
    amount_due: Decimal = Decimal("0.00")


class MyPayer(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: PayerKind
    name: str
    house_no: str | None
    moo: str | None
    soi: str | None
    road: str | None
    subdistrict: str | None
    district: str | None
    province: str | None
    postal_code: str | None


class MyPayerPage(msgspec.Struct, kw_only=True):
    items: list[MyPayer]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


def payer_read(row: Payer) -> PayerRead:
    return PayerRead(
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
        email=row.email,
        citizen_linked=row.citizen_id is not None,
        created_at=row.created_at,
    )


def my_payer_read(row: Payer) -> MyPayer:
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


def account_read(row: FeeAccount) -> AccountRead:
    params = row.params
    return AccountRead(
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


def tariff_read(row: Tariff) -> TariffRead:
    return TariffRead(
        id=row.id,
        fee_type=row.fee_type,
        effective_from=row.effective_from,
        definition=tariffs.definition_of(row),
        due_days=row.due_days,
        late_surcharge=tariffs.surcharge_of(row),
        created_at=row.created_at,
    )


def bill_read(row: Bill, items: list[BillItem], payload: str | None) -> BillRead:
    return BillRead(
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
        amount_paid=row.amount_paid,
        amount_due=row.total - row.amount_paid if row.status == "open" else Decimal("0.00"),
        cancel_reason=row.cancel_reason,
        cancelled_at=row.cancelled_at,
        paid_at=row.paid_at,
        late_surcharge_percent=row.late_surcharge_percent,
        late_surcharge_after_days=row.late_surcharge_after_days,
        surcharge_of=row.surcharge_of,
        items=[
            BillItemRead(
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


def bill_view_read(row: Row) -> BillRead:
    """A :data:`bills.BILL_VIEW` row (one statement: bill, lines, biller) as the response."""
    items = [
        BillItemRead(
            fee_code=i["fee_code"],
            description_th=i["description_th"],
            quantity=Decimal(i["quantity"]),
            unit_price=Decimal(i["unit_price"]),
            amount=Decimal(i["amount"]),
            period=i["period"],
        )
        for i in row["lines"]
    ]
    return BillRead(
        id=row["id"],
        reference=row["reference"],
        verification_code=row["verification_code"],
        payer_id=row["payer_id"],
        account_id=row["account_id"],
        source=row["source"],
        period=row["period"],
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        total=row["total"],
        status=row["status"],
        overdue=row["status"] == "open" and row["due_date"] < bangkok_today(),
        amount_paid=row["amount_paid"],
        amount_due=row["total"] - row["amount_paid"] if row["status"] == "open" else Decimal("0.00"),
        cancel_reason=row["cancel_reason"],
        cancelled_at=row["cancelled_at"],
        paid_at=row["paid_at"],
        late_surcharge_percent=row["late_surcharge_percent"],
        late_surcharge_after_days=row["late_surcharge_after_days"],
        surcharge_of=row["surcharge_of"],
        items=items,
        qr_payload=bills.view_qr_payload(row),
        created_at=row["created_at"],
    )


async def load_bill(session: AsyncSession, row: Bill) -> BillRead:
    items = await bills.bill_items(session, [row.id])
    return bill_read(row, items[row.id], await bills.qr_payload_or_none(session, row))


async def bill_page(session: AsyncSession, fetched: list[Bill], limit: int) -> BillPage:
    """A page of bills from ``limit + 1`` rows (newest first: the cursor is (issue_date, reference))."""
    rows, next_cursor = cut_page(fetched, limit, key=lambda b: (b.issue_date, b.reference))
    items = await bills.bill_items(session, [r.id for r in rows])
    settings = await bills.get_settings(session)
    out: list[BillRead] = []
    for row in rows:
        try:
            payload: str | None = qr.build(bills.bill_payment(row, settings))
        except (bills.BillerNotConfigured, bills.BillNotOpen):
            payload = None
        out.append(bill_read(row, items[row.id], payload))
    return BillPage(items=out, next_cursor=next_cursor)
