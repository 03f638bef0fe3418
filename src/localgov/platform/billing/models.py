"""Shared-schema tables of the operator's billing: plan prices, subscriptions, invoices, counters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase

InvoiceStatus = Literal["draft", "finalised", "paid", "void"]
INVOICE_STATUSES: tuple[InvoiceStatus, ...] = get_args(InvoiceStatus)
InvoiceKind = Literal["invoice", "credit_note"]
INVOICE_KINDS: tuple[InvoiceKind, ...] = get_args(InvoiceKind)
#: An invoice line: the plan's fixed fee, a meter's usage, or a credit.
LineKind = Literal["fixed", "usage", "credit"]
#: A bank notification: it paid an invoice, or it is an exception for a person to look at.
BankOutcome = Literal["paid", "exception"]


class PlanPrice(SharedBase):
    """One version of a plan's prices, in force from ``effective_from`` until the next version."""

    __tablename__ = "plan_prices"
    __table_args__ = (
        UniqueConstraint("plan_code", "effective_from"),
        CheckConstraint("fixed_fee >= 0", name="fixed_fee"),
        CheckConstraint("fixed_interval IN ('monthly', 'yearly')", name="fixed_interval"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_code: Mapped[str] = mapped_column(String(40), ForeignKey("platform.plans.code"))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    #: The fixed fee is per month or per (Thai fiscal) year; prorated to the day on other periods.
    fixed_fee: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    fixed_interval: Mapped[str] = mapped_column(String(10))
    #: ``[Charge, …]`` as JSON (see :mod:`localgov.platform.billing.pricing`).
    charges: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Subscription(SharedBase):
    """An LAO's subscription: billing cycle, trial, start and end; its plans are its phases."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("billing_cycle IN ('monthly', 'yearly')", name="billing_cycle"),
        CheckConstraint("ends_on IS NULL OR ends_on > starts_on", name="ends_after_start"),
        Index("uq_subscriptions_open_tenant", "tenant_id", unique=True, postgresql_where=text("ends_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"))
    billing_cycle: Mapped[str] = mapped_column(String(10))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    #: Days before this date are free (no fixed fee, no usage charges).
    trial_ends_on: Mapped[dt.date | None] = mapped_column(Date)
    #: Exclusive; ``None`` while it runs.
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SubscriptionPhase(SharedBase):
    """From ``starts_on`` the subscription is on ``plan_code`` (a plan change adds a phase)."""

    __tablename__ = "subscription_phases"
    __table_args__ = (UniqueConstraint("subscription_id", "starts_on"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("platform.subscriptions.id", ondelete="CASCADE")
    )
    plan_code: Mapped[str] = mapped_column(String(40), ForeignKey("platform.plans.code"))
    starts_on: Mapped[dt.date] = mapped_column(Date)


class OperatorInvoice(SharedBase):
    """The operator's invoice (ใบแจ้งหนี้) or credit note (ใบลดหนี้) to one LAO for one period."""

    __tablename__ = "operator_invoices"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'finalised', 'paid', 'void')", name="status"),
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind"),
        CheckConstraint("(number IS NULL) = (status = 'draft')", name="numbered_when_final"),
        # The invoice run is idempotent: one invoice per subscription and period, whatever the races.
        Index(
            "uq_operator_invoices_period",
            "subscription_id",
            "period_start",
            unique=True,
            postgresql_where=text("kind = 'invoice'"),
        ),
        UniqueConstraint("number"),
        # The lists page newest period first by (period_start, id), all LAOs' or one LAO's.
        Index("ix_operator_invoices_period_start_id", "period_start", "id"),
        Index("ix_operator_invoices_tenant_id_period_start_id", "tenant_id", "period_start", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.subscriptions.id"))
    kind: Mapped[InvoiceKind] = mapped_column(String(12), server_default="invoice")
    #: The invoice a credit note reduces.
    credit_of_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("platform.operator_invoices.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[InvoiceStatus] = mapped_column(String(10), server_default="draft")
    #: ``INV-2570-000001`` / ``CN-2570-000001``: gap-free per operator fiscal year, given at finalisation.
    number: Mapped[str | None] = mapped_column(String(30))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    vat: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    finalised_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    payment_reference: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OperatorInvoiceLine(SharedBase):
    """One charge on an invoice: the fixed fee of a plan phase or one meter's usage."""

    __tablename__ = "operator_invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.operator_invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    #: ``fixed``, ``usage`` or ``credit``.
    kind: Mapped[LineKind] = mapped_column(String(10))
    plan_code: Mapped[str | None] = mapped_column(String(40))
    meter: Mapped[str | None] = mapped_column(String(80))
    description_th: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    billable: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    unit: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    vat: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    #: Tiers used, proration days, the charge definition: what the line's amount came from.
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class InvoiceCounter(SharedBase):
    """The operator's gap-free invoice numbers: last number per series and BE fiscal year."""

    __tablename__ = "invoice_counters"
    __table_args__ = (PrimaryKeyConstraint("series", "fiscal_year"),)

    series: Mapped[str] = mapped_column(String(10))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[int] = mapped_column(BigInteger)


class BillingSettings(SharedBase):
    """The operator's own payment details: one row (id 1). Its Thai QR biller id (the DGA's tax ID
    and suffix) and the secrets its bank signs payment notifications with (kernel.signing)."""

    __tablename__ = "billing_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    biller_id: Mapped[str | None] = mapped_column(String(15))
    merchant_name: Mapped[str | None] = mapped_column(String(25))
    notification_secret: Mapped[str | None] = mapped_column(Text)
    previous_notification_secret: Mapped[str | None] = mapped_column(Text)
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BillingBankNotification(SharedBase):
    """Every bank payment notification the operator received, once per bank transaction id: what it
    paid, or why it is an exception for the billing administrator (never silently accepted)."""

    __tablename__ = "billing_bank_notifications"
    __table_args__ = (
        UniqueConstraint("transaction_id"),
        CheckConstraint("outcome IN ('paid', 'exception')", name="outcome"),
        # The exceptions list pages newest first by (received_at, id).
        Index(
            "ix_billing_bank_notifications_exceptions",
            "received_at",
            "id",
            postgresql_where=text("outcome = 'exception'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(100))
    ref1: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    invoice_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("platform.operator_invoices.id"))
    #: ``paid`` or ``exception``.
    outcome: Mapped[BankOutcome] = mapped_column(String(10))
    #: Why an exception: ``unknown_reference``, ``amount_mismatch``, ``invoice_not_payable``.
    reason: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BillingReminder(SharedBase):
    """One overdue reminder e-mailed for one invoice at one step (days past due): the idempotent key
    of the reminder run (a rerun, or two racing runs, send a step once)."""

    __tablename__ = "billing_reminders"
    __table_args__ = (PrimaryKeyConstraint("invoice_id", "step"),)

    invoice_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.operator_invoices.id", ondelete="CASCADE"))
    #: Days past the due date at which this reminder is sent (``REMINDER_STEPS``).
    step: Mapped[int] = mapped_column(Integer)
    recipients: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UsageThreshold(SharedBase):
    """A level of one meter in one billing period that, once reached, is announced (per plan)."""

    __tablename__ = "usage_thresholds"
    __table_args__ = (PrimaryKeyConstraint("plan_code", "meter"), CheckConstraint("threshold > 0", name="positive"))

    plan_code: Mapped[str] = mapped_column(String(40), ForeignKey("platform.plans.code", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(80))
    threshold: Mapped[Decimal] = mapped_column(Numeric(20, 4))


class UsageThresholdCrossing(SharedBase):
    """A threshold reached by one tenant's meter in one period: announced once (the key)."""

    __tablename__ = "usage_threshold_crossings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "meter", "period_start"),)

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(80))
    period_start: Mapped[dt.date] = mapped_column(Date)
    threshold: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    crossed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
