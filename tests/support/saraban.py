"""Helpers for the e-Saraban tests: LAOs running the service with real members in units, request
bodies, the service calls that draft, approve and issue a letter, and the worker's own saraban
consumers run over one tenant's pending entries (``deliver_batch`` would claim every tenant's
entries of the shared test database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.identity.models import OrgUnit, StaffPosition, StaffUser
from localgov.kernel.audit import Origin
from localgov.kernel.cases import CaseActor
from localgov.kernel.db import bind_session, session_binding, session_factory, set_search_path, tenant_session
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.storage import BlobStore
from localgov.kernel.tenancy import TenantInfo
from localgov.services.saraban import files, issuing, letters
from localgov.services.saraban.delivery import HANDLERS
from localgov.services.saraban.rules import DRAFT, MANAGE, READ, REGISTRY, REVIEW, ROUTE, SIGN
from localgov.services.saraban.schemas import LetterCreate
from localgov.settings import Settings
from tests.conftest import host
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

ORIGIN = Origin()
#: Who works at the LAO, with which roles (``outsider``: a member named on nothing).
PEOPLE: dict[str, tuple[str, ...]] = {
    "officer": ("saraban.officer",),
    "clerk": ("saraban.clerk",),
    "reviewer": ("saraban.reviewer",),
    "signer": ("saraban.signer",),
    "admin": ("saraban.admin",),
    "outsider": ("saraban.clerk",),
    "secretary": ("saraban.clerk",),
}
PERMISSIONS = {
    "saraban.officer": {READ, DRAFT},
    "saraban.clerk": {READ, DRAFT, REGISTRY, ROUTE},
    "saraban.reviewer": {READ, DRAFT, REVIEW, ROUTE},
    "saraban.signer": {READ, REVIEW, SIGN, ROUTE},
    "saraban.admin": {READ, MANAGE},
}


@dataclass
class Lao:
    tenant: TenantInfo
    engine: AsyncEngine
    staff: dict[str, uuid.UUID]
    unit_id: uuid.UUID
    other_unit_id: uuid.UUID

    def headers(self, name: str) -> dict[str, str]:
        return {**host(self.tenant.slug), **bearer(self.tenant, roles=PEOPLE[name], subject=str(self.staff[name]))}

    def viewer(self, name: str) -> CaseActor:
        perms = frozenset(p for role in PEOPLE[name] for p in PERMISSIONS[role])
        unit = self.other_unit_id if name == "outsider" else self.unit_id
        return CaseActor(kind="staff", id=self.staff[name], permissions=perms, unit_ids=(unit,))

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """One committed unit of work in the LAO's schema."""
        async with tenant_session(session_factory(self.engine), self.tenant) as session:
            yield session


async def make_lao(engine: AsyncEngine, *, agency_code: str = "ขก 51301") -> Lao:
    tenant = await make_tenant(engine, services=("saraban",))
    staff: dict[str, uuid.UUID] = {}
    async with tenant_session(session_factory(engine), tenant) as session:
        unit = OrgUnit(code="palad", name_th="สำนักปลัด", kind="secretary_office")
        other = OrgUnit(code="finance", name_th="กองคลัง", kind="division")
        position = StaffPosition(title_th="นายกองค์การบริหารส่วนตำบล")
        session.add_all([unit, other, position])
        await session.flush()
        for name in PEOPLE:
            user = StaffUser(
                email=f"{name}@{tenant.slug}.example",
                full_name=f"นาย{name} ใจดี",
                status="active",
                unit_id=other.id if name == "outsider" else unit.id,
                position_id=position.id if name == "signer" else None,
            )
            session.add(user)
            await session.flush()
            staff[name] = user.id
        settings = await letters.settings_row(session)
        settings.agency_code = agency_code
        settings.secret_officer_ids = [staff["secretary"]]
    return Lao(tenant, engine, staff, unit.id, other.id)


def letter_body(lao: Lao, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "external",
        "subject": "ขอเชิญประชุมคณะกรรมการพัฒนาท้องถิ่น",
        "salutation": "นายอำเภอเมืองขอนแก่น",
        "references": ["หนังสืออำเภอเมืองขอนแก่น ที่ ขก 0118/ว 123 ลงวันที่ 1 มีนาคม 2569"],
        "enclosures": ["ระเบียบวาระการประชุม จำนวน 1 ฉบับ"],
        "body": "ด้วยองค์การบริหารส่วนตำบลจะจัดประชุมคณะกรรมการพัฒนาท้องถิ่น จึงขอเรียนเชิญเข้าร่วมประชุม",
        "signer_staff_id": str(lao.staff["signer"]),
        "urgency": "urgent",
        "recipients": [{"kind": "text", "name_th": "นายอำเภอเมืองขอนแก่น"}],
    }
    body.update(changes)
    return body


async def draft(lao: Lao, **changes: Any) -> uuid.UUID:
    data = msgspec.convert(letter_body(lao, **changes), LetterCreate)
    async with lao.db() as session:
        return await letters.create_draft(session, data, tenant=lao.tenant, viewer=lao.viewer("officer"), origin=ORIGIN)


async def version_of(lao: Lao, letter_id: uuid.UUID, name: str = "signer") -> int:
    async with lao.db() as session:
        return (await letters.letter_view(session, letter_id, lao.viewer(name), ORIGIN)).version


async def approved(
    lao: Lao, *, files_in: Sequence[tuple[str, bytes]] = (), store: BlobStore | None = None, **changes: Any
) -> uuid.UUID:
    """A draft (with ``files_in`` attached, (name, bytes), kept in ``store``) submitted and
    approved by its signer."""
    letter_id = await draft(lao, **changes)
    for filename, data in files_in:
        assert store is not None
        async with lao.db() as session:
            await files.attach(
                session, store, letter_id, data=data, filename=filename, viewer=lao.viewer("officer"), origin=ORIGIN
            )
    async with lao.db() as session:
        await letters.submit(session, letter_id, 1, viewer=lao.viewer("officer"), origin=ORIGIN, note=None)
    async with lao.db() as session:
        await letters.approve(session, letter_id, 2, viewer=lao.viewer("signer"), origin=ORIGIN, note=None)
    return letter_id


async def issued(
    lao: Lao, *, files_in: Sequence[tuple[str, bytes]] = (), store: BlobStore | None = None, **changes: Any
) -> uuid.UUID:
    letter_id = await approved(lao, files_in=files_in, store=store, **changes)
    async with lao.db() as session:
        await issuing.issue_letter(session, letter_id, 3, tenant=lao.tenant, viewer=lao.viewer("clerk"), origin=ORIGIN)
    return letter_id


async def pending(engine: AsyncEngine, tenant: TenantInfo, topic: str) -> list[int]:
    async with tenant_session(session_factory(engine), None) as session:
        rows = await session.execute(
            select(OutboxEntry.id)
            .where(OutboxEntry.tenant_id == tenant.id, OutboxEntry.topic == topic, OutboxEntry.status == "pending")
            .order_by(OutboxEntry.id)
        )
        return list(rows.scalars())


async def deliver(
    engine: AsyncEngine, laos: list[Lao], topic: str, *, mark: bool = True, settings: Settings | None = None
) -> int:
    """Run the saraban consumer of ``topic`` over the pending entries of these LAOs, as the worker
    does (each in a savepoint of the claiming transaction, marked delivered when it succeeds), with
    the worker's ``settings`` (its blob store). ``mark=False`` leaves them pending (the same entry
    delivered again later: a duplicate)."""
    schemas = {lao.tenant.id: lao.tenant.schema for lao in laos}
    handled = 0
    async with tenant_session(session_factory(engine), None) as session:
        entries = (
            (
                await session.execute(
                    select(OutboxEntry)
                    .where(
                        OutboxEntry.tenant_id.in_(list(schemas)),
                        OutboxEntry.topic == topic,
                        OutboxEntry.status == "pending",
                    )
                    .order_by(OutboxEntry.id)
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for entry in entries:
            binding = session_binding(session)
            async with session.begin_nested():
                await HANDLERS[topic](Delivery(entry, session, schemas, settings=settings))
            bind_session(session, *binding)
            await set_search_path(session, None)
            if mark:
                entry.status = "delivered"
            handled += 1
    return handled
