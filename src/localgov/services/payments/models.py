"""Fee payments (ค่าธรรมเนียม): payers, fee accounts, tariffs, bills, bank payments, receipts.

Money is ``numeric(12, 2)`` in baht and ``Decimal`` in Python, never a float.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase

_UUID = text("gen_random_uuid()")
Money = Numeric(12, 2)

# The codes the CHECK constraints below allow, as the types of the columns and of the API's fields
# (each an ``enum`` in the OpenAPI documents).
PayerKind = Literal["person", "juristic"]
FeeType = Literal["garbage", "wastewater", "fixed"]
AccountStatus = Literal["active", "closed"]
BillStatus = Literal["open", "paid", "cancelled"]
CashBookStatus = Literal["open", "closed"]
PaymentChannel = Literal["webhook", "statement", "credit", "counter"]
PaymentMethod = Literal["cash", "cheque", "transfer"]
PaymentStatus = Literal["matched", "exception"]
ExceptionKind = Literal[
    "unmatched",
    "short",
    "over",
    "duplicate",
    "bill_not_open",
    "biller_mismatch",
    "voided_receipt",
    "paid_before_issue",
]
ExceptionStatus = Literal["open", "resolved"]
ReceiptStatus = Literal["issued", "void"]
CreditKind = Literal["over", "voided_receipt", "exception", "applied", "refund", "rebill"]


class PaymentSettings(TenantBase):
    """The LAO's biller settings (one row): Biller ID, receipt books, bank webhook secrets.

    The webhook secrets must be usable to verify HMACs, so they are encrypted (like the signing
    keys, under ``LOCALGOV_SECRET_KEY``), not hashed. Two may be valid at once during rotation.
    """

    __tablename__ = "payment_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("biller_id IS NULL OR biller_id ~ '^[0-9]{15}$'", name="biller_id"),
        CheckConstraint("receipt_book_size BETWEEN 1 AND 10000", name="book_size"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="1")
    biller_id: Mapped[str | None] = mapped_column(String(15))
    merchant_name: Mapped[str | None] = mapped_column(String(25))
    receipt_book_size: Mapped[int] = mapped_column(Integer, server_default="100")
    webhook_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_previous: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The officer who receives money for the LAO (ผู้รับเงิน), printed on bank-paid receipts.
    officer_name: Mapped[str | None] = mapped_column(Text)
    officer_position: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Sandbox (never in production): the bank is a simulator integrators drive
    #: (``POST /v1/payments/sandbox/pay``); set by the LAO's administrators or finance officers.
    sandbox: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Payer(TenantBase):
    """Who pays (ผู้ชำระ): a person or a juristic person, with a Thai address."""

    __tablename__ = "payers"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'juristic')", name="kind"),
        CheckConstraint("tax_id IS NULL OR tax_id ~ '^[0-9]{13}$'", name="tax_id"),
        Index("ix_payers_tax_id", "tax_id"),
        Index("ix_payers_citizen_id", "citizen_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    kind: Mapped[PayerKind] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(Text)
    #: 13-digit national ID or juristic tax ID (checksum validated on input).
    tax_id: Mapped[str | None] = mapped_column(String(13))
    #: The citizen account that may see this payer's bills (set when identity proves the link).
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    house_no: Mapped[str | None] = mapped_column(String(40))
    moo: Mapped[str | None] = mapped_column(String(10))
    soi: Mapped[str | None] = mapped_column(Text)
    road: Mapped[str | None] = mapped_column(Text)
    subdistrict: Mapped[str | None] = mapped_column(Text)
    district: Mapped[str | None] = mapped_column(Text)
    province: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(String(5))
    phone: Mapped[str | None] = mapped_column(String(40))
    #: Lower-cased (``kernel.text.normalise_email``): e-receipts and overdue notices go here.
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FeeAccount(TenantBase):
    """A payer's subscription to a recurring fee, with the parameters its tariff needs."""

    __tablename__ = "fee_accounts"
    __table_args__ = (
        CheckConstraint("fee_type IN ('garbage', 'wastewater', 'fixed')", name="fee_type"),
        CheckConstraint("status IN ('active', 'closed')", name="status"),
        Index("uq_fee_accounts_account_no", "account_no", unique=True),
        Index("ix_fee_accounts_payer_id", "payer_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    account_no: Mapped[str] = mapped_column(String(30))
    payer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payers.id"))
    fee_type: Mapped[FeeType] = mapped_column(String(20))
    #: garbage: ``{"litres_per_day": 15}``; wastewater: ``{"customer_class": "household",
    #: "meter_no": "…"}``; fixed: ``{"fee_code": "…", "amount": "30.00"}``.
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[AccountStatus] = mapped_column(String(10), server_default="active")
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Tariff(TenantBase):
    """A fee schedule from the LAO's ordinance (ข้อบัญญัติ), effective from a date.

    A change is a new row with a later ``effective_from``: old bills keep their old prices.
    """

    __tablename__ = "tariffs"
    __table_args__ = (
        CheckConstraint("fee_type IN ('garbage', 'wastewater', 'fixed')", name="fee_type"),
        Index("uq_tariffs_fee_type_effective_from", "fee_type", "effective_from", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    fee_type: Mapped[FeeType] = mapped_column(String(20))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    #: garbage: ``{"bands": [{"max_litres": 20, "collection": "50.00", "disposal": "0.00"}, …]}``;
    #: wastewater: ``{"factor": "0.8", "rates": {"household": "2.00", …}}``.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: ``{"percent": "20", "after_days": 0}``: surcharge on an overdue amount.
    surcharge: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    due_days: Mapped[int] = mapped_column(Integer, server_default="30")
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MeterReading(TenantBase):
    """Tap water used by a wastewater account in a month, imported from the water utility."""

    __tablename__ = "meter_readings"
    __table_args__ = (Index("uq_meter_readings_account_id_period", "account_id", "period", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("fee_accounts.id"))
    #: ``YYYY-MM`` (Gregorian, as the utility sends it).
    period: Mapped[str] = mapped_column(String(7))
    usage_m3: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Bill(TenantBase):
    """A bill (ใบแจ้งหนี้): what a payer owes, payable by one dynamic Thai QR."""

    __tablename__ = "bills"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'paid', 'cancelled')", name="status"),
        CheckConstraint("total > 0", name="total_positive"),
        Index("uq_bills_reference", "reference", unique=True),
        #: The idempotency of bill runs and of other services' bills: one bill per source key.
        Index("uq_bills_source_key", "source_key", unique=True),
        Index("ix_bills_payer_id", "payer_id"),
        Index("ix_bills_status_due_date", "status", "due_date"),
        Index("ix_bills_account_id_period", "account_id", "period"),
        Index("ix_bills_surcharge_of", "surcharge_of"),
        CheckConstraint(
            "late_surcharge_percent IS NULL OR late_surcharge_percent > 0 AND late_surcharge_percent <= 100",
            name="late_surcharge_percent",
        ),
        CheckConstraint("late_surcharge_after_days >= 0", name="late_surcharge_after_days"),
        CheckConstraint("amount_paid >= 0 AND amount_paid <= total", name="amount_paid"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    #: Printed on paper and used as Ref1 (A-Z, 0-9).
    reference: Mapped[str] = mapped_column(String(15))
    #: A short code printed on paper bills; with the reference it unlocks the public lookup.
    verification_code: Mapped[str] = mapped_column(String(8))
    payer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payers.id"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("fee_accounts.id"))
    #: ``payments.bill_run``, ``permits``, ``food`` …: who created it.
    source: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(String(200))
    period: Mapped[str | None] = mapped_column(String(7))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[BillStatus] = mapped_column(String(10), server_default="open")
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    #: When and by whom (``<kind>:<subject>``) it was cancelled.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(String(150))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: What the bill has received so far (receipted payments: a finance officer's partial
    #: application, the payer's credit); what is left (``total - amount_paid``) is what its QR asks.
    amount_paid: Mapped[Decimal] = mapped_column(Money, server_default="0")
    #: A copy of the bill's lines (``bill_items``, which never change after the bill is made), in the
    #: order they are shown, numbers as text: what getBill serves in one row (``bills.BILL_VIEW``).
    #: Deferred: the ORM's reads of bills never load it.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, deferred=True)
    #: The late surcharge rule the bill was issued under (copied from its tariff, or given by the
    #: service that made it): once the bill is open ``after_days`` past its due date, a surcharge
    #: bill of ``percent`` of its total is issued. Null: no surcharge. Kept on the bill so a later
    #: tariff change never alters the terms of bills already issued.
    late_surcharge_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    late_surcharge_after_days: Mapped[int] = mapped_column(Integer, server_default="0")
    #: For a surcharge bill: the overdue bill it was charged on.
    surcharge_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("bills.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Last change (``?updated_since=`` of the list): set by every ORM or Core update of the row.
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), index=True
    )


class BillItem(TenantBase):
    """One line of a bill: a fee code, a description, an amount."""

    __tablename__ = "bill_items"
    __table_args__ = (Index("ix_bill_items_bill_id", "bill_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    bill_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bills.id", ondelete="CASCADE"))
    fee_code: Mapped[str] = mapped_column(String(60))
    description_th: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), server_default="1")
    unit_price: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)
    period: Mapped[str | None] = mapped_column(String(7))


class CashBook(TenantBase):
    """A cashier's cash book (สมุดเงินสด) for one Bangkok day: opened, counter payments, closed with the
    counted cash and the remittance total (the money handed to finance)."""

    __tablename__ = "cash_books"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("opening_float >= 0", name="opening_float"),
        Index("uq_cash_books_cashier_id_day", "cashier_id", "day", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    cashier_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    cashier_name: Mapped[str] = mapped_column(Text)
    cashier_position: Mapped[str | None] = mapped_column(Text)
    day: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[CashBookStatus] = mapped_column(String(10), server_default="open")
    #: Change money in the drawer at opening (not income).
    opening_float: Mapped[Decimal] = mapped_column(Money, server_default="0")
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Cash counted at closing (float included), the total remitted, and counted − expected.
    counted_cash: Mapped[Decimal | None] = mapped_column(Money)
    remitted: Mapped[Decimal | None] = mapped_column(Money)
    difference: Mapped[Decimal | None] = mapped_column(Money)
    close_note: Mapped[str | None] = mapped_column(Text)


class Payment(TenantBase):
    """Money the bank says it received (webhook or statement file), matched to a bill or not."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("channel IN ('webhook', 'statement', 'credit', 'counter')", name="channel"),
        CheckConstraint("method IS NULL OR method IN ('cash', 'cheque', 'transfer')", name="method"),
        Index("ix_payments_cash_book_id", "cash_book_id"),
        CheckConstraint("status IN ('matched', 'exception')", name="status"),
        #: Idempotency by the bank's transaction id.
        Index("uq_payments_bank_txn_id", "bank_txn_id", unique=True),
        Index("ix_payments_bill_id", "bill_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    bank_txn_id: Mapped[str] = mapped_column(String(100))
    channel: Mapped[PaymentChannel] = mapped_column(String(10))
    bill_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("bills.id"))
    biller_id: Mapped[str] = mapped_column(String(15))
    ref1: Mapped[str] = mapped_column(String(20))
    ref2: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[PaymentStatus] = mapped_column(String(10))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    #: Counter payments: the cashier's book of the day, how it was paid, the cheque or transfer number.
    cash_book_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("cash_books.id"))
    method: Mapped[PaymentMethod | None] = mapped_column(String(10))
    instrument_ref: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Last change (``?updated_since=``).
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), index=True
    )


class PaymentException(TenantBase):
    """A payment finance staff must resolve by hand: never corrected automatically."""

    __tablename__ = "payment_exceptions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('unmatched', 'short', 'over', 'duplicate', 'bill_not_open', 'biller_mismatch', "
            "'voided_receipt', 'paid_before_issue')",
            name="kind",
        ),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        Index("ix_payment_exceptions_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payments.id"))
    kind: Mapped[ExceptionKind] = mapped_column(String(20))
    status: Mapped[ExceptionStatus] = mapped_column(String(10), server_default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Receipt(TenantBase):
    """A receipt (ใบเสร็จรับเงิน): book/number without gaps per fiscal year; voided ones are kept."""

    __tablename__ = "receipts"
    __table_args__ = (
        CheckConstraint("status IN ('issued', 'void')", name="status"),
        Index("uq_receipts_payment_id", "payment_id", unique=True),
        Index("uq_receipts_fiscal_year_book_no_receipt_no", "fiscal_year", "book_no", "receipt_no", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payments.id"))
    bill_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bills.id"))
    #: The BE fiscal year the running number belongs to.
    fiscal_year: Mapped[str] = mapped_column(String(4))
    #: The n-th receipt of the fiscal year, and its book/number form.
    sequence: Mapped[int] = mapped_column(Integer)
    book_no: Mapped[int] = mapped_column(Integer)
    receipt_no: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    payer_name: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money)
    amount_text_th: Mapped[str] = mapped_column(Text)
    collector: Mapped[str] = mapped_column(Text)
    #: The receiving officer as at issue (copied from the settings: a later change never alters it).
    officer_name: Mapped[str | None] = mapped_column(Text)
    officer_position: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ReceiptStatus] = mapped_column(String(10), server_default="issued")
    void_reason: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Last change (``?updated_since=``): issued, voided, reprinted.
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), index=True
    )
    voided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reprints: Mapped[int] = mapped_column(Integer, server_default="0")


class PayerCredit(TenantBase):
    """One entry of a payer's credit ledger (เงินเกิน / เงินรับฝาก): positive money held for the payer
    (an over payment, a voided receipt's money, an exception's money), negative money used (applied
    to a bill) or refunded (with who approved it). The balance is the sum; never below zero."""

    __tablename__ = "payer_credits"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("kind IN ('over', 'voided_receipt', 'exception', 'applied', 'refund', 'rebill')", name="kind"),
        Index("ix_payer_credits_payer_id", "payer_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    payer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payers.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[CreditKind] = mapped_column(String(20))
    #: The payment the money came from (credit in) or the credit payment that used it.
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("payments.id"))
    bill_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("bills.id"))
    note: Mapped[str | None] = mapped_column(Text)
    #: The staff member who decided it (a finance officer's application, a refund's approver).
    approved_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RevenueCode(TenantBase):
    """The LAO's e-LAAS revenue code (รหัสบัญชีรายได้) of a fee code or a dotted prefix of fee codes."""

    __tablename__ = "revenue_codes"
    __table_args__ = (CheckConstraint("code IS NULL OR code ~ '^[0-9]{8}$'", name="code"),)

    prefix: Mapped[str] = mapped_column(String(60), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(8))
    name_th: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class YearEndClose(TenantBase):
    """The close of a BE fiscal year's debtors (ปิดบัญชีลูกหนี้สิ้นปีงบประมาณ): once per year, what was
    still open at the close is carried into the next year's register (:class:`CarriedForward`)."""

    __tablename__ = "year_end_closes"
    __table_args__ = (CheckConstraint("fiscal_year ~ '^25[0-9]{2}$'", name="fiscal_year"),)

    #: The year closed (``2569``); its open bills open the register of ``2570``.
    fiscal_year: Mapped[str] = mapped_column(String(4), primary_key=True)
    closed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Who closed it (the audit actor's id).
    closed_by: Mapped[str | None] = mapped_column(String(150))
    bills: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)


class CarriedForward(TenantBase):
    """One open bill's remainder at a year-end close (ยอดยกมา), carried into the next fiscal year."""

    __tablename__ = "debtor_carry_forwards"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        Index("uq_debtor_carry_forwards_fiscal_year_bill_id", "fiscal_year", "bill_id", unique=True),
        Index("ix_debtor_carry_forwards_payer_id", "payer_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID)
    #: The year closed (the carry opens the next one's register).
    fiscal_year: Mapped[str] = mapped_column(String(4), ForeignKey("year_end_closes.fiscal_year"))
    bill_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bills.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payers.id"))
    #: What was left of the bill at the close.
    amount: Mapped[Decimal] = mapped_column(Money)
