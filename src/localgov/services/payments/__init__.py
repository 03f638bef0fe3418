"""Fee payments by Thai QR (ชำระค่าธรรมเนียม): the ``payments`` service plugin.

The package has the rooms every service has (docs/adding-a-service.md):

* ``models.py`` — its tenant tables; ``api.py`` — what other services may call and the events it
  publishes (the only module another service imports);
* one service module per resource, owning its queries, rules and audit: ``payers.py``,
  ``tariffs.py``, ``bills.py``, ``bank.py`` (money in), ``receipts.py``, ``reports.py``, ``qr.py``;
* one ``*_views.py`` per resource with its thin controllers: ``settings_views``, ``payer_views``
  (payers and accounts), ``tariff_views`` (tariffs and meter readings), ``bill_views`` (runs, bills,
  surcharges, arrears), ``citizen_views`` (the public lookup and citizens' own bills),
  ``pay_pages`` (the citizens' server-rendered pay page, templates in ``localgov/templates/payments``),
  ``bank_views``, ``receipt_views``, ``report_views`` (reports and the payers' mail record);
* ``rebill.py`` — a backdated tariff with the re-billing of the months it reprices;
* ``yearend.py`` — the year-end close of the debtor register and its carry forward;
* ``mailing.py`` — e-receipts and overdue notices by e-mail (kernel notifications);
* ``schemas.py`` (request and ``<Thing>Read`` response bodies) and ``params.py`` (who may call,
  path and query parameters) shared by the views.

The reference of the endpoints is docs/services/payments.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar import Router
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.db import TenantBase
from localgov.kernel.plugins import Role, ScheduledJob, Scope, ServicePlugin, UsageMeter
from localgov.services.payments import (
    models,  # noqa: F401  (defines the tables below)
    revenue,
)
from localgov.services.payments.api import BILLS_ISSUED, EVENTS, RECEIPT_ISSUED
from localgov.services.payments.bank import BAHT_COLLECTED, PAYMENTS_CONFIRMED
from localgov.services.payments.bank_views import BankController, PaymentController, PaymentExceptionController
from localgov.services.payments.bill_views import (
    ArrearsController,
    BillController,
    BillRunController,
    DebtorController,
    SurchargeController,
)
from localgov.services.payments.bills import late_surcharge_job, monthly_bill_run
from localgov.services.payments.citizen_views import LookupController, MyBillsController
from localgov.services.payments.counter_views import CashBookController, CounterPaymentController
from localgov.services.payments.examples import EXAMPLES
from localgov.services.payments.mailing import on_receipt_issued, overdue_notice_job
from localgov.services.payments.pay_pages import PayPagesController
from localgov.services.payments.payer_views import AccountController, PayerController
from localgov.services.payments.receipt_views import ReceiptController
from localgov.services.payments.report_views import NoticeController, ReportController, RevenueCodeController
from localgov.services.payments.sandbox_views import SandboxController
from localgov.services.payments.settings_views import PaymentSettingsController
from localgov.services.payments.tariff_views import MeterReadingController, TariffController
from localgov.services.payments.tariffs import seed_defaults

#: Every controller of the service, mounted under ``/v1/payments``, in the order they are documented.
HANDLERS: list[Any] = [
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
    BankController,
    PaymentController,
    PaymentExceptionController,
    ReceiptController,
    ReportController,
    CashBookController,
    CounterPaymentController,
    RevenueCodeController,
    DebtorController,
    NoticeController,
    PayPagesController,
    SandboxController,
]

#: What the service meters for the platform operator's invoices.
METERS: tuple[UsageMeter, ...] = (BILLS_ISSUED, PAYMENTS_CONFIRMED, BAHT_COLLECTED)

ROLES = (
    Role(
        code="payments.finance",
        title_th="เจ้าหน้าที่การเงิน",
        title_en="Finance officer",
        permissions=("payments.read", "payments.write", "payments.manage", "payments.void"),
    ),
    Role(
        code="payments.cashier",
        title_th="เจ้าหน้าที่รับชำระเงิน",
        title_en="Cashier",
        permissions=("payments.read", "payments.collect"),
    ),
    Role(
        code="payments.supervisor",
        title_th="หัวหน้าฝ่ายการเงิน",
        title_en="Finance supervisor",
        permissions=("payments.read", "payments.void"),
    ),
)

SCOPES = (
    Scope(code="payments.read", title_th="อ่านข้อมูลผู้ชำระและใบแจ้งหนี้", title_en="Read payers, accounts and bills"),
    Scope(code="payments.write", title_th="สร้างและแก้ไขผู้ชำระและใบแจ้งหนี้", title_en="Create payers, accounts and bills"),
    Scope(code="payments.receipts.read", title_th="อ่านใบเสร็จรับเงิน", title_en="Read receipts"),
    Scope(
        code="payments.bank.read",
        title_th="อ่านรายการชำระเงินที่ธนาคารแจ้ง",
        title_en="Read the payments the bank reported",
    ),
)

JOBS = (
    #: Bills the previous month; idempotent, so running every few hours only bills what became
    #: billable since (a late meter reading, a new account).
    ScheduledJob(name="payments.monthly_bill_run", every=dt.timedelta(hours=6), run=monthly_bill_run, per_tenant=True),
    ScheduledJob(name="payments.late_surcharges", every=dt.timedelta(hours=6), run=late_surcharge_job, per_tenant=True),
    #: One overdue notice per bill and stage (1 and 30 days past due) to payers with an e-mail address.
    ScheduledJob(name="payments.overdue_notices", every=dt.timedelta(hours=6), run=overdue_notice_job, per_tenant=True),
)


async def seed_tariffs(session: AsyncSession, today: dt.date) -> None:
    """A new LAO starts with the default tariffs of DOMAIN.md §4, in force from this month, and the
    revenue codes of the fees the platform knows."""
    await seed_defaults(session, today.replace(day=1), created_by=None)
    await revenue.seed(session)


#: The service's tables (defined in :mod:`localgov.services.payments.models`).
TABLES = tuple(
    TenantBase.metadata.tables[name]
    for name in (
        "payment_settings",
        "payers",
        "fee_accounts",
        "cash_books",
        "tariffs",
        "meter_readings",
        "bills",
        "bill_items",
        "payments",
        "payment_exceptions",
        "receipts",
        "payer_credits",
        "revenue_codes",
        "year_end_closes",
        "debtor_carry_forwards",
    )
)

PLUGIN = ServicePlugin(
    slug="payments",
    tags={
        "Payments: bank": "Bank payment notifications, statements, exceptions and the bank webhook secret",
        "Payments: bill lookup": "Anyone looks up a bill by its reference (a paper bill's holder)",
        "Payments: bills": "Bills of the LAO: issued, billed in runs, cancelled; their Thai QR",
        "Payments: counter": "Cash books and payments taken at the LAO's counter",
        "Payments: meter readings": "Water meter readings, imported and listed",
        "Payments: my bills": "The logged-in citizen's own bills and linked payers",
        "Payments: payers and accounts": "Payers (ผู้ชำระ) and their service accounts",
        "Payments: receipts": "Receipts (ใบเสร็จรับเงิน): listed, printed, reprinted, voided",
        "Payments: reports": "Daily collection, remittance and CSV exports",
        "Payments: sandbox": "The sandbox LAO's test switches: simulate a bank payment (never in production)",
        "Payments: settings": "The LAO's payment settings, revenue codes and debtor register",
        "Payments: tariffs": "Fee tariffs (อัตราค่าธรรมเนียม) per fee type",
    },
    title_th="ชำระค่าธรรมเนียม",
    title_en="Fee payments",
    router=Router("/v1/payments", route_handlers=HANDLERS),
    tables=TABLES,
    roles=ROLES,
    scopes=SCOPES,
    meters=METERS,
    jobs=JOBS,
    events=EVENTS,
    #: Its own event: the e-receipt is mailed after the receipt's transaction committed.
    handlers={RECEIPT_ISSUED.code: on_receipt_issued},
    seed=seed_tariffs,
    examples=EXAMPLES,
    migrations=Path(__file__).parent / "migrations",
)
