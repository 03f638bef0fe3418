"""What other services call to charge a fee: :func:`create_bill`, the one way a bill is made,
and the events that tell them what became of it.

Building permits, food-premises certificates and the monthly bill runs all end here, so every
bill has the same reference, verification code, QR and metering, whoever issued it.

Events (published in the transaction of the change, see :mod:`localgov.kernel.events`): a
service subscribes by naming the code in its plugin's ``handlers`` and reads the payload with
``BILL_PAID.decode(delivery)``; it recognises its own bills by ``source`` and ``source_key``
(what it passed to :func:`create_bill`). Delivery is at least once: handlers must be idempotent.

* :data:`BILL_PAID` (``payments.bill_paid``, :class:`BillPaid`): the bank's payment matched the
  bill and a receipt was issued.
* :data:`BILL_CANCELLED` (``payments.bill_cancelled``, :class:`BillCancelled`): finance cancelled
  an open bill; it will never be paid.
* :data:`RECEIPT_VOIDED` (``payments.receipt_voided``, :class:`ReceiptVoided`): a receipt was
  cancelled; its bill is open again (``bill_reopened``), so what its payment unlocked should be
  held until a new ``payments.bill_paid``.
* :data:`RECEIPT_ISSUED` (``payments.receipt_issued``, :class:`ReceiptIssued`): a receipt was issued
  (bank, statement, counter, credit, an exception applied), for the whole bill or a part of it.
  Payments itself consumes it to mail the e-receipt.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import msgspec
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.errors import Conflict, DomainError
from localgov.kernel.events import EventType
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.kernel.validation import (
    ThaiAddress,
    normalise_thai_id,
)
from localgov.services.payments.models import Bill, BillItem, Payer

BILLS_ISSUED = UsageMeter(code="payments.bills_issued", unit="bill", title_th="ใบแจ้งหนี้ที่ออก", title_en="Bills issued")

# Crockford base32 without I, L, O, U: nothing to misread on paper, and valid in Ref1 (A-Z, 0-9).
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CENT = Decimal("0.01")


class BillPaid(msgspec.Struct, frozen=True, kw_only=True):
    """Payload of ``payments.bill_paid``."""

    bill_id: uuid.UUID
    reference: str
    #: What the issuing service passed to :func:`create_bill`.
    source: str
    source_key: str
    amount: Decimal
    #: When the payer paid (the bank's time).
    paid_at: dt.datetime
    #: The receipt's book/number/fiscal year (``3/17/2570``).
    receipt_number: str
    receipt_id: uuid.UUID
    payment_id: uuid.UUID


class BillCancelled(msgspec.Struct, frozen=True, kw_only=True):
    """Payload of ``payments.bill_cancelled``."""

    bill_id: uuid.UUID
    reference: str
    source: str
    source_key: str
    total: Decimal
    reason: str
    cancelled_at: dt.datetime


class ReceiptVoided(msgspec.Struct, frozen=True, kw_only=True):
    """Payload of ``payments.receipt_voided``."""

    bill_id: uuid.UUID
    reference: str
    source: str
    source_key: str
    receipt_id: uuid.UUID
    receipt_number: str
    amount: Decimal
    reason: str
    voided_at: dt.datetime
    #: The bill was paid by this receipt and is open (payable) again.
    bill_reopened: bool


class ReceiptIssued(msgspec.Struct, frozen=True, kw_only=True):
    """Payload of ``payments.receipt_issued`` (webhook ``receipt.issued``)."""

    receipt_id: uuid.UUID
    #: The receipt's book/number/fiscal year (``3/17/2570``).
    receipt_number: str
    bill_id: uuid.UUID
    reference: str
    source: str
    source_key: str
    payment_id: uuid.UUID
    #: What this payment paid toward the bill (a part payment pays less than the total).
    amount: Decimal
    issued_at: dt.datetime
    #: ``bank``, ``counter``, ``credit`` … (who collected the money).
    collector: str


# Every event below is public: integrators subscribe to it by its ``webhook`` name
# (docs/kernel/webhooks.md); its payload is part of the API and changes only compatibly.
BILL_PAID = EventType(
    code="payments.bill_paid",
    title_th="ชำระใบแจ้งหนี้แล้ว",
    title_en="Bill paid",
    payload=BillPaid,
    webhook="bill.paid",
)
BILL_CANCELLED = EventType(
    code="payments.bill_cancelled",
    title_th="ยกเลิกใบแจ้งหนี้",
    title_en="Bill cancelled",
    payload=BillCancelled,
    webhook="bill.cancelled",
)
RECEIPT_ISSUED = EventType(
    code="payments.receipt_issued",
    title_th="ออกใบเสร็จรับเงิน",
    title_en="Receipt issued",
    payload=ReceiptIssued,
    webhook="receipt.issued",
)
RECEIPT_VOIDED = EventType(
    code="payments.receipt_voided",
    title_th="ยกเลิกใบเสร็จรับเงิน",
    title_en="Receipt voided (bill open again)",
    payload=ReceiptVoided,
    webhook="receipt.voided",
)
#: Every event the service publishes (its plugin's ``events``).
EVENTS = (BILL_PAID, BILL_CANCELLED, RECEIPT_ISSUED, RECEIPT_VOIDED)


class BillLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line to charge: a fee code, a Thai description, an amount in baht."""

    fee_code: str
    description_th: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    period: str | None = None
    #: The price of one unit, when the line is priced per unit: ``amount`` must then be
    #: ``unit_price × quantity`` rounded to the satang (3.33 × 3 = 9.99). Without it the unit price
    #: stored is ``amount / quantity``.
    unit_price: Decimal | None = None


#: No amount on a bill reaches this (``numeric(12, 2)``); checked before any rounding.
AMOUNT_LIMIT = Decimal("1e10")


def _is_money(value: Decimal) -> bool:
    """Positive, finite, below the limit, at most 2 decimals (the range is checked before quantizing)."""
    return value.is_finite() and 0 < value < AMOUNT_LIMIT and value == value.quantize(_CENT)


class InvalidBill(DomainError):
    code = "invalid_bill"
    status = 400
    title = "The bill is not valid"


def new_reference() -> str:
    """``B`` + 9 random characters: unguessable, short enough for every bank's Ref1."""
    return "B" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(9))


def new_verification_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


class BillDraft(msgspec.Struct, frozen=True, kw_only=True):
    """Everything :func:`create_bills` needs to make one bill (see :func:`create_bill`)."""

    payer_id: uuid.UUID
    lines: list[BillLine]
    due_date: dt.date
    source: str
    source_key: str
    account_id: uuid.UUID | None = None
    period: str | None = None
    issue_date: dt.date | None = None
    #: Late surcharge rule (e.g. +20 % for annual food fees): percent of the total, charged as a
    #: surcharge bill once the bill is open ``late_surcharge_after_days`` past its due date.
    late_surcharge_percent: Decimal | None = None
    late_surcharge_after_days: int = 0
    #: For a surcharge bill: the overdue bill it charges.
    surcharge_of: uuid.UUID | None = None


async def create_bill(
    session: AsyncSession,
    *,
    payer_id: uuid.UUID,
    lines: list[BillLine],
    due_date: dt.date,
    source: str,
    source_key: str,
    account_id: uuid.UUID | None = None,
    period: str | None = None,
    issue_date: dt.date | None = None,
    late_surcharge_percent: Decimal | None = None,
    late_surcharge_after_days: int = 0,
    surcharge_of: uuid.UUID | None = None,
) -> Bill:
    """Create a bill in the caller's transaction, once per ``source_key``.

    Called again with the same ``source_key`` (a retried request, a bill run run twice) it
    returns the existing bill when the lines are the same, and refuses (409) when they differ.

    A new bill is paid first from the payer's credit, as far as it goes (a ``credit`` payment with
    its receipt; a bill covered whole is ``paid`` on return and ``payments.bill_paid`` is
    published): the caller reads ``status`` and ``amount_paid`` of what it gets back.
    """
    draft = BillDraft(
        payer_id=payer_id,
        lines=lines,
        due_date=due_date,
        source=source,
        source_key=source_key,
        account_id=account_id,
        period=period,
        issue_date=issue_date,
        late_surcharge_percent=late_surcharge_percent,
        late_surcharge_after_days=late_surcharge_after_days,
        surcharge_of=surcharge_of,
    )
    bills, _ = await create_bills(session, [draft])
    return bills[0]


def _check_draft(draft: BillDraft) -> Decimal:
    if not draft.lines:
        raise InvalidBill("A bill needs at least one line.")
    for line in draft.lines:
        if not _is_money(line.amount):
            raise InvalidBill(f"Line {line.fee_code}: the amount must be positive with at most 2 decimals.")
        if not line.quantity.is_finite() or not 0 < line.quantity < AMOUNT_LIMIT:
            raise InvalidBill(f"Line {line.fee_code}: the quantity must be positive.")
        if line.unit_price is not None and (
            not _is_money(line.unit_price)
            or (line.unit_price * line.quantity).quantize(_CENT, rounding=ROUND_HALF_UP) != line.amount
        ):
            raise InvalidBill(f"Line {line.fee_code}: the amount must be the unit price × the quantity.")
        if not line.fee_code or not line.description_th:
            raise InvalidBill("Every line needs a fee code and a description.")
    if len(draft.source_key) > 200 or not draft.source_key:
        raise InvalidBill("source_key must have 1-200 characters.")
    percent = draft.late_surcharge_percent
    if percent is not None and (
        not percent.is_finite() or not 0 < percent <= 100 or percent != percent.quantize(_CENT)
    ):
        raise InvalidBill("The late surcharge must be a percentage above 0 and at most 100.")
    if draft.late_surcharge_after_days < 0:
        raise InvalidBill("late_surcharge_after_days cannot be negative.")
    total = sum((line.amount for line in draft.lines), Decimal(0))
    if total >= AMOUNT_LIMIT:
        raise InvalidBill("The bill's total is too large.")
    return total


async def create_bills(session: AsyncSession, drafts: list[BillDraft]) -> tuple[list[Bill], int]:
    """The batch form of :func:`create_bill` (a bill run): the bills in the order of ``drafts``,
    and how many of them are new. Same rules (the payers' credit included), a few statements for
    the whole batch."""
    totals = [_check_draft(draft) for draft in drafts]
    keys = [draft.source_key for draft in drafts]
    if len(set(keys)) != len(keys):
        raise InvalidBill("Two drafts have the same source_key.")
    existing: dict[str, Bill] = {}
    for chunk in _chunks(keys):
        for bill in (await session.execute(select(Bill).where(Bill.source_key.in_(chunk)))).scalars():
            existing[bill.source_key] = bill
    for draft, total in zip(drafts, totals, strict=True):
        found = existing.get(draft.source_key)
        if found is not None and (found.total != total or found.payer_id != draft.payer_id):
            raise Conflict(
                "A different bill was already created for this source.",
                code="bill_source_conflict",
                data={"reference": found.reference},
            )
    new = [(draft, total) for draft, total in zip(drafts, totals, strict=True) if draft.source_key not in existing]
    if new:
        payer_ids = list({draft.payer_id for draft, _ in new})
        known: set[uuid.UUID] = set()
        for id_chunk in _chunks(payer_ids):
            known.update((await session.execute(select(Payer.id).where(Payer.id.in_(id_chunk)))).scalars())
        if len(known) != len(payer_ids):
            raise InvalidBill("Unknown payer.", code="unknown_payer", status=404)
        today = bangkok_today()
        for draft, _ in new:
            if draft.due_date < (draft.issue_date or today):
                raise InvalidBill("The due date is before the issue date.")
        references = await _fresh_references(session, len(new))
        lines_of = [
            [
                {
                    "fee_code": line.fee_code,
                    "description_th": line.description_th,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price
                    if line.unit_price is not None
                    else (line.amount / line.quantity).quantize(_CENT, rounding=ROUND_HALF_UP),
                    "amount": line.amount,
                    "period": line.period or draft.period,
                }
                for line in draft.lines
            ]
            for draft, _ in new
        ]
        rows = [
            {
                "reference": reference,
                "verification_code": new_verification_code(),
                "payer_id": draft.payer_id,
                "account_id": draft.account_id,
                "source": draft.source,
                "source_key": draft.source_key,
                "period": draft.period,
                "issue_date": draft.issue_date or today,
                "due_date": draft.due_date,
                "total": total,
                "late_surcharge_percent": draft.late_surcharge_percent,
                "late_surcharge_after_days": draft.late_surcharge_after_days,
                "surcharge_of": draft.surcharge_of,
                "lines": _lines_copy(lines),
            }
            for (draft, total), reference, lines in zip(new, references, lines_of, strict=True)
        ]
        created: list[Bill] = []
        for row_chunk in _chunks(rows):
            created.extend((await session.execute(insert(Bill).returning(Bill), row_chunk)).scalars())
        by_key = {bill.source_key: bill for bill in created}
        items = [
            {"bill_id": by_key[draft.source_key].id, **line}
            for (draft, _), lines in zip(new, lines_of, strict=True)
            for line in lines
        ]
        for item_chunk in _chunks(items):
            await session.execute(insert(BillItem), item_chunk)
        for bill in created:
            await record_usage(session, BILLS_ISSUED, 1, f"bill:{bill.id}")
        existing.update(by_key)
        # The payer's credit pays a new bill first, whichever service made it (late import: the bank
        # module imports this one). Its ``payments.bill_paid`` is delivered after the commit, when
        # the caller has stored the bill's id, so the issuing service's handler finds it.
        from localgov.services.payments.bank import pay_from_credit

        await pay_from_credit(session, created)
    return [existing[key] for key in keys], len(new)


_QUANTITY = Decimal("0.001")


def _lines_copy(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``bills.lines``: the bill's lines as getBill shows them, ordered as ``bill_items`` is read
    (period, no period last, then fee code) with numbers as PostgreSQL prints ``numeric(12, 3)`` and
    money (the text the read gives back, so a copy equals what migration 0014 made of older bills)."""
    ordered = sorted(lines, key=lambda line: (line["period"] is None, line["period"] or "", line["fee_code"]))
    return [
        {
            "fee_code": line["fee_code"],
            "description_th": line["description_th"],
            "quantity": str(Decimal(line["quantity"]).quantize(_QUANTITY, rounding=ROUND_HALF_UP)),
            "unit_price": str(Decimal(line["unit_price"]).quantize(_CENT, rounding=ROUND_HALF_UP)),
            "amount": str(Decimal(line["amount"]).quantize(_CENT, rounding=ROUND_HALF_UP)),
            "period": line["period"],
        }
        for line in ordered
    ]


async def payer_for(
    session: AsyncSession,
    *,
    kind: str,
    name: str,
    tax_id: str,
    address: ThaiAddress,
    phone: str | None = None,
) -> uuid.UUID:
    """The LAO's payer with this 13-digit ID, made from the given details when there is none yet
    (a service charging a person it knows by ID: a food-premises holder, a permit applicant).

    An existing payer is returned as it is (finance keeps payers' details). The ID, phone, house
    number, village and postal code are checked as ``POST /payers`` checks them (422). Two requests
    for a new ID at once make one payer (a transaction lock on the ID).
    """
    if kind not in ("person", "juristic") or not name.strip():
        raise InvalidBill("A payer is a person or a juristic person with a name.", code="invalid_payer")
    tax_id = normalise_thai_id(tax_id)
    # Advisory locks are database-wide: the schema is part of the key (one LAO never waits on another).
    key = func.concat(func.current_schema(), f":payments.payer:{tax_id}")
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
    found = await session.scalar(select(Payer.id).where(Payer.tax_id == tax_id).order_by(Payer.created_at).limit(1))
    if found is not None:
        return found
    # The fields are cleaned as ``POST /payers`` cleans them (payers.py imports this module: late import).
    from localgov.services.payments.payers import PayerCreate, payer_values

    values = payer_values(
        PayerCreate(
            kind=kind,  # type: ignore[arg-type]  # checked above
            name=name,
            tax_id=tax_id,
            house_no=address.house_no,
            moo=address.moo,
            soi=address.soi,
            road=address.road,
            subdistrict=address.subdistrict,
            district=address.district,
            province=address.province,
            postal_code=address.postal_code,
            phone=phone,
        )
    )
    payer = Payer(**values)
    session.add(payer)
    await session.flush()
    return payer.id


async def _fresh_references(session: AsyncSession, count: int) -> list[str]:
    """``count`` distinct references no bill of the LAO has (35 random bits each: collisions are
    rare, but a large LAO issues millions of bills, so they are checked rather than hoped away)."""
    out: set[str] = set()
    while len(out) < count:
        batch = {new_reference() for _ in range(count - len(out))} - out
        taken: set[str] = set()
        for chunk in _chunks(list(batch)):
            taken.update((await session.execute(select(Bill.reference).where(Bill.reference.in_(chunk)))).scalars())
        out.update(batch - taken)
    return list(out)


_T = TypeVar("_T")


def _chunks(values: list[_T], size: int = 2000) -> list[list[_T]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
