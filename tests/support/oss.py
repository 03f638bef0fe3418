"""Helpers for the One Stop Service tests: tenants with the service, headers, manuals, tickets.

Tickets with chosen times are made through the real service code (``counter.issue_ticket`` and
friends take ``now``), so a test freezes the clock by passing it, never by sleeping.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.kernel.audit import Actor
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.reads import Row
from localgov.kernel.tenancy import TenantInfo
from localgov.services.oss import counter
from tests.conftest import host
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

#: Every role of the plugin: a member holding them all may do everything.
ALL_ROLES = ("oss.manager", "oss.editor", "oss.officer", "oss.approver")
STAFF = Actor("staff", "00000000-0000-0000-0000-00000000000a")

#: A small valid manual: one of everything the rules look at.
MANUAL: dict[str, Any] = {
    "name_th": "การขอหนังสือรับรองทดสอบ",
    "name_en": "Test certificate",
    "owning_unit_th": "สำนักปลัด",
    "legal_basis": [{"title_th": "พระราชบัญญัติทดสอบ พ.ศ. 2569", "title_en": "Test Act B.E. 2569"}],
    "legal_time_limit": {"value": 1, "unit": "days"},
    "channels": [{"place_th": "ศูนย์บริการร่วม ชั้น 1", "hours_th": "จันทร์–ศุกร์ 08:30–16:30 น."}],
    "criteria_th": "1. มีภูมิลำเนาในเขต\n2. ยื่นด้วยตนเอง",
    "steps": [
        {"title_th": "ตรวจสอบเอกสาร", "duration": {"value": 30, "unit": "minutes"}, "unit_th": "สำนักปลัด"},
        {"title_th": "ออกหนังสือรับรอง", "duration": {"value": 2, "unit": "hours"}, "unit_th": "สำนักปลัด"},
    ],
    "documents": [
        {
            "name_th": "บัตรประจำตัวประชาชน",
            "issued_by_th": "กรมการปกครอง",
            "originals": 1,
            "copies": 1,
            "group": "identity",
        }
    ],
    "no_fee": False,
    "fees": [{"description_th": "ค่าธรรมเนียมหนังสือรับรอง", "amount": "20.00"}],
    "complaint_channels": [{"name_th": "ศูนย์ดำรงธรรม", "contact_th": "สายด่วน 1567"}],
}


def manual(**changes: Any) -> dict[str, Any]:
    """A copy of :data:`MANUAL` with ``changes`` (a value of ``...`` removes the field)."""
    out = copy.deepcopy(MANUAL)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def staff(tenant: TenantInfo, *roles: str, subject: str = "00000000-0000-0000-0000-00000000000a") -> dict[str, str]:
    """Host and bearer headers of a staff member holding ``roles`` (default: every OSS role)."""
    return {**host(tenant.slug), **bearer(tenant, roles=roles or ALL_ROLES, subject=subject)}


async def oss_tenant(engine: AsyncEngine, **kwargs: Any) -> TenantInfo:
    """A tenant with the One Stop Service enabled (seeded: the default catalogue and point A)."""
    return await make_tenant(engine, services=["oss", *kwargs.pop("services", ())], **kwargs)


@asynccontextmanager
async def oss_db(engine: AsyncEngine, tenant: TenantInfo) -> AsyncIterator[AsyncSession]:
    """One committed unit of work in the tenant's schema."""
    async with tenant_session(session_factory(engine), tenant) as session:
        yield session


async def point_a(engine: AsyncEngine, tenant: TenantInfo) -> uuid.UUID:
    """The id of the seeded service point ``A``."""
    async with oss_db(engine, tenant) as session:
        points = await counter.list_points(session)
    return next(p["id"] for p in points if p["code"] == "A")


async def issue(engine: AsyncEngine, tenant: TenantInfo, point_id: uuid.UUID, now: dt.datetime) -> Row:
    async with oss_db(engine, tenant) as session:
        return await counter.issue_ticket(session, point_id, None, actor=STAFF, now=now)


async def call(engine: AsyncEngine, tenant: TenantInfo, point_id: uuid.UUID, desk: str, now: dt.datetime) -> Row:
    async with oss_db(engine, tenant) as session:
        return await counter.call_next(session, point_id, desk, actor=STAFF, now=now)


async def finish(engine: AsyncEngine, tenant: TenantInfo, ticket_id: uuid.UUID, outcome: str, now: dt.datetime) -> Row:
    async with oss_db(engine, tenant) as session:
        return await counter.finish_ticket(session, ticket_id, outcome, actor=STAFF, now=now)  # type: ignore[arg-type]
