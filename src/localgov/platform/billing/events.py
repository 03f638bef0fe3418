"""Events of the operator's billing, written to the outbox in the transaction of the change
(kernel events): invoice finalised, paid, overdue. Outbound webhooks for integrators and the DGA's
systems will deliver them once they exist; until then the worker marks them delivered."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from localgov.kernel.events import EventType


class InvoiceEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One operator invoice as the event carries it."""

    invoice_id: int
    tenant_id: int
    number: str
    period_start: dt.date
    period_end: dt.date
    total: Decimal
    due_on: dt.date | None


INVOICE_FINALISED: EventType[InvoiceEvent] = EventType(
    code="billing.invoice_finalised",
    title_th="ออกใบแจ้งหนี้ค่าบริการแล้ว",
    title_en="Operator invoice finalised",
    payload=InvoiceEvent,
)
INVOICE_PAID: EventType[InvoiceEvent] = EventType(
    code="billing.invoice_paid",
    title_th="ชำระใบแจ้งหนี้ค่าบริการแล้ว",
    title_en="Operator invoice paid",
    payload=InvoiceEvent,
)
INVOICE_OVERDUE: EventType[InvoiceEvent] = EventType(
    code="billing.invoice_overdue",
    title_th="ใบแจ้งหนี้ค่าบริการเกินกำหนดชำระ",
    title_en="Operator invoice overdue",
    payload=InvoiceEvent,
)


class ThresholdEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's meter reached its plan's threshold in a billing period (announced once)."""

    tenant_id: int
    plan_code: str
    meter: str
    period_start: dt.date
    period_end: dt.date
    threshold: Decimal
    quantity: Decimal


USAGE_THRESHOLD_CROSSED: EventType[ThresholdEvent] = EventType(
    code="billing.usage_threshold_crossed",
    title_th="การใช้งานถึงเกณฑ์ที่กำหนด",
    title_en="Usage threshold crossed",
    payload=ThresholdEvent,
)
EVENTS = (INVOICE_FINALISED, INVOICE_PAID, INVOICE_OVERDUE, USAGE_THRESHOLD_CROSSED)
EVENT_CODES = tuple(e.code for e in EVENTS)
