"""Helpers for the food-premises tests: an LAO with the food and payments services and real staff
members (the case engine reads a member to decide who may act), request bodies, and the service
calls that file a notification, attach its documents and certify it with a frozen clock.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.identity.models import StaffUser
from localgov.kernel import cases as engine_cases
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.storage import FilesystemBlobStore
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK
from localgov.services.food import certificates, notifications
from localgov.services.food.models import Certificate
from localgov.services.food.schemas import NotificationCreate
from localgov.services.food.workflow import DECIDE, FINANCE, INSPECT, INTAKE, MANAGE, READ
from tests.conftest import host
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

#: Valid Thai IDs (the check digit is right).
THAI_ID = "1101700203450"
OTHER_ID = "3100600123450"
#: Who works at the LAO, with which roles.
PEOPLE: dict[str, tuple[str, ...]] = {
    "officer": ("food.officer",),
    "inspector": ("food.inspector",),
    "authority": ("food.authority",),
    "finance": ("food.finance",),
    "manager": ("food.manager",),
}
ALL_PERMISSIONS = frozenset({READ, INTAKE, INSPECT, DECIDE, FINANCE, MANAGE})
ORIGIN = Origin()


def at(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    """A moment in Bangkok (a frozen clock)."""
    return dt.datetime(year, month, day, hour, tzinfo=BANGKOK)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 90, 30)).save(out, format="PNG")
    return out.getvalue()


def notifier(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "person",
        "name": "นางสมศรี มีสุข",
        "national_id": THAI_ID,
        "address": {
            "house_no": "12/3",
            "moo": "4",
            "road": "มิตรภาพ",
            "subdistrict": "ในเมือง",
            "district": "เมืองขอนแก่น",
            "province": "ขอนแก่น",
            "postal_code": "40000",
        },
        "phone": "081-234-5678",
        "email": "somsri@example.com",
    }
    body.update(changes)
    return body


def establishment(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "ร้านข้าวแกงป้าศรี",
        "kind": "sale",
        "area_m2": "45.50",
        "address": {
            "house_no": "99",
            "moo": "2",
            "soi": "ตลาดเก่า",
            "road": "ศรีจันทร์",
            "subdistrict": "ในเมือง",
            "district": "เมืองขอนแก่น",
            "province": "ขอนแก่น",
            "postal_code": "40000",
        },
        "latitude": "16.432100",
        "longitude": "102.823600",
        "seats": 24,
        "opening_hours": "06:00–14:00 น. ทุกวัน",
    }
    body.update(changes)
    return body


def notification_body(**establishment_changes: Any) -> dict[str, Any]:
    return {"notifier": notifier(), "establishment": establishment(**establishment_changes)}


@dataclass
class FoodWorld:
    tenant: TenantInfo
    engine: AsyncEngine
    staff: dict[str, uuid.UUID]
    store: FilesystemBlobStore

    def headers(self, name: str) -> dict[str, str]:
        return {**host(self.tenant.slug), **bearer(self.tenant, roles=PEOPLE[name], subject=str(self.staff[name]))}

    def actor(self, name: str = "manager") -> engine_cases.CaseActor:
        """A member as the case engine sees him (every food permission: the manager)."""
        return engine_cases.CaseActor(kind="staff", id=self.staff[name], permissions=ALL_PERMISSIONS)

    def audit_actor(self, name: str = "manager") -> Actor:
        return Actor("staff", str(self.staff[name]))

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """One committed unit of work in the LAO's schema."""
        async with tenant_session(session_factory(self.engine), self.tenant) as session:
            yield session


async def food_world(
    engine: AsyncEngine, storage: Path, *, services: tuple[str, ...] = ("payments", "food")
) -> FoodWorld:
    tenant = await make_tenant(engine, services=services)
    staff: dict[str, uuid.UUID] = {}
    async with tenant_session(session_factory(engine), tenant) as session:
        for name in PEOPLE:
            user = StaffUser(email=f"{name}@{tenant.slug}.example", full_name=f"นาย{name} ใจดี", status="active")
            session.add(user)
            await session.flush()
            staff[name] = user.id
    return FoodWorld(tenant, engine, staff, FilesystemBlobStore(storage))


async def file_notification(world: FoodWorld, now: dt.datetime, **establishment_changes: Any) -> uuid.UUID:
    """A notification filed at the counter (no documents yet)."""
    data = msgspec.convert(notification_body(**establishment_changes), NotificationCreate)
    async with world.db() as session:
        return await notifications.open_notification(
            session, data, tenant=world.tenant, actor=world.actor(), now=now, origin=ORIGIN
        )


async def attach_documents(world: FoodWorld, notification_id: uuid.UUID, *codes: str) -> None:
    async with world.db() as session:
        for code in codes or ("id_copy", "site_plan"):
            await notifications.attach(
                session,
                world.store,
                notification_id,
                document_code=code,
                data=png_bytes() + code.encode(),
                filename=f"{code}.png",
                actor=world.actor(),
                origin=ORIGIN,
            )


async def version_of(world: FoodWorld, notification_id: uuid.UUID) -> int:
    async with world.db() as session:
        return (await notifications.notification_view(session, notification_id)).version


async def certify(world: FoodWorld, notification_id: uuid.UUID, now: dt.datetime) -> Certificate:
    async with world.db() as session:
        version = (await notifications.notification_view(session, notification_id)).version
        return await certificates.certify(
            session,
            notification_id,
            tenant=world.tenant,
            actor=world.actor(),
            version=version,
            conditions_th=None,
            now=now,
            origin=ORIGIN,
        )


async def issued(world: FoodWorld, now: dt.datetime, **establishment_changes: Any) -> Certificate:
    """A certificate, issued the way the counter issues one: file, attach, certify."""
    notification_id = await file_notification(world, now, **establishment_changes)
    await attach_documents(world, notification_id)
    return await certify(world, notification_id, now)
