"""Helpers for the building-permit tests: an LAO with payments and permits, staff members holding
each role of the plugin (real ``staff_users`` rows: the case engine reads them), citizens, a payer,
a complete form ข.1, and the whole path of an application driven through the service functions.

Every service function takes ``now``, so a test freezes the clock by passing it.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.identity.models import Citizen, StaffUser
from localgov.kernel import cases as engine_api
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.cases import CaseActor
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.storage import FilesystemBlobStore
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK
from localgov.services.payments import bank
from localgov.services.payments.api import BILL_PAID
from localgov.services.payments.models import Bill
from localgov.services.permits import PLUGIN, applications, permits
from localgov.services.permits.models import PermitApplication
from localgov.services.permits.schemas import ApplicationForm
from tests.conftest import host
from tests.support.factories import make_tenant
from tests.support.payments import BILLER_ID, make_payer, set_biller
from tests.support.tokens import bearer

#: Valid Thai IDs (check digit right).
APPLICANT_ID = "1101700203450"
OWNER_ID = "3100600123455"
ROLE_OF = {
    "clerk": "permits.clerk",
    "engineer": "permits.engineer",
    "assessor": "permits.assessor",
    "official": "permits.official",
    "manager": "permits.manager",
}
PERMISSIONS = {role.code: frozenset(role.permissions) for role in PLUGIN.roles}
ORIGIN = Origin()
#: A Friday: the clock the tests freeze at unless they need another day.
NOW_DEFAULT = dt.datetime(2026, 12, 4, 10, tzinfo=BANGKOK)


def at(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    """A moment in Bangkok (a frozen clock)."""
    return dt.datetime(year, month, day, hour, tzinfo=BANGKOK)


def png_bytes(color: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, format="PNG")
    return out.getvalue()


def pdf_bytes(seed: int = 1) -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + str(seed).encode() * 400 + b"\n%%EOF\n"


def form(**changes: Any) -> dict[str, Any]:
    """A complete form ข.1: a two-storey house of 120 m² on the applicant's own land (MR 56 in an
    อบต. area); ``changes`` replace top-level parts, ``building`` entries are merged."""
    body: dict[str, Any] = {
        "kind": "construct",
        "area_type": "sao",
        "applicant": {
            "kind": "person",
            "name_th": "นายสมชาย ใจดี",
            "id_number": APPLICANT_ID,
            "address_th": "99/1 หมู่ 3 ต.แม่เหียะ อ.เมืองเชียงใหม่ จ.เชียงใหม่",
            "phone": "081-234-5678",
            "email": "somchai@example.com",
        },
        "landowner": {"is_applicant": True},
        "land": {"title_type": "chanote", "number": "12345", "parcel_no": "67", "area_sq_wa": "100"},
        "building": {
            "use": "residence",
            "structure": "reinforced_concrete",
            "storeys": 2,
            "height_m": "7.5",
            "floor_area_m2": "120",
            "footprint_m2": "70",
            "location": {"address_th": "99/1 หมู่ 3 ต.แม่เหียะ", "latitude": 18.7469, "longitude": 98.9506},
            "setbacks": {"front_m": "3", "back_m": "2", "left_m": "1.5", "right_m": "1.5"},
        },
    }
    building = changes.pop("building", None)
    if building:
        body["building"] = {**body["building"], **building}
    body.update(changes)
    return body


def as_form(data: dict[str, Any]) -> ApplicationForm:
    return msgspec.convert(data, ApplicationForm, strict=False)


@dataclass
class PermitWorld:
    tenant: TenantInfo
    engine: AsyncEngine
    staff: dict[str, uuid.UUID]
    citizens: dict[str, uuid.UUID]
    payer_id: uuid.UUID
    store: FilesystemBlobStore
    _actors: dict[str, CaseActor] = field(default_factory=dict)

    def headers(self, name: str) -> dict[str, str]:
        """Host and bearer headers of a member of staff or a citizen of the world."""
        if name in self.citizens:
            token = bearer(self.tenant, kind="citizen", subject=str(self.citizens[name]))
        else:
            token = bearer(self.tenant, roles=[ROLE_OF[name]], subject=str(self.staff[name]))
        return {**host(self.tenant.slug), **token}

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """One committed unit of work in the tenant's schema."""
        async with tenant_session(session_factory(self.engine), self.tenant) as session:
            yield session

    async def actor(self, session: AsyncSession, name: str) -> CaseActor:
        if name in self.citizens:
            return engine_api.citizen_actor(self.citizens[name])
        return await engine_api.staff_actor(session, self.staff[name], PERMISSIONS[ROLE_OF[name]])

    def audit(self, name: str) -> Actor:
        kind = "citizen" if name in self.citizens else "staff"
        ids = self.citizens if kind == "citizen" else self.staff
        return Actor(kind, str(ids[name]))


async def make_permit_world(engine: AsyncEngine, files: Path) -> PermitWorld:
    """An LAO with payments and permits, one member per role, two citizens and a payer."""
    tenant = await make_tenant(engine, services=["payments", "permits"])
    staff: dict[str, uuid.UUID] = {}
    citizens: dict[str, uuid.UUID] = {}
    async with tenant_session(session_factory(engine), tenant) as session:
        await set_biller(session)
        for name in ROLE_OF:
            user = StaffUser(email=f"{name}@{tenant.slug}.example", full_name=f"นาย{name} ช่างดี", status="active")
            session.add(user)
            await session.flush()
            staff[name] = user.id
        for name in ("applicant", "stranger"):
            citizen = Citizen(
                issuer="https://id.example", subject=f"{name}-{tenant.slug}", name=f"นาย{name} รักบ้าน",
                email=f"{name}@example.com",
            )  # fmt: skip
            session.add(citizen)
            await session.flush()
            citizens[name] = citizen.id
        payer = await make_payer(session, name="นายสมชาย ใจดี")
    return PermitWorld(tenant, engine, staff, citizens, payer.id, FilesystemBlobStore(files))


async def version_of(session: AsyncSession, application_id: uuid.UUID) -> int:
    row = await applications.get_application(session, application_id)
    case = await engine_api.get_case(session, row["case_id"])
    return case.version


async def draft(
    world: PermitWorld, data: dict[str, Any] | None = None, *, citizen: str | None = "applicant"
) -> uuid.UUID:
    async with world.db() as session:
        citizen_id = world.citizens[citizen] if citizen else None
        return await applications.create_draft(
            session,
            as_form(data or form()),
            channel="online" if citizen else "counter",
            citizen_id=citizen_id,
            actor=world.audit(citizen or "clerk"),
            origin=ORIGIN,
        )


async def attach_checklist(world: PermitWorld, application_id: uuid.UUID) -> list[str]:
    """A file for every document of the application's checklist; returns their codes."""
    async with world.db() as session:
        row = await applications.get_application(session, application_id)
        config = await applications.load_config(session)
        found = applications.eligibility_of(config, applications.form_of(row["answers"]))
        assert found is not None
        codes = [d.code for d in found[1].documents]
        for n, code in enumerate(codes):
            await applications.attach_file(
                session, world.store, application_id, pdf_bytes(n), filename=f"{code}.pdf", document_code=code,
                uploaded_by=world.audit("clerk"), origin=ORIGIN,
            )  # fmt: skip
    return codes


async def submitted(world: PermitWorld, now: dt.datetime, data: dict[str, Any] | None = None) -> uuid.UUID:
    """An application filed online by the applicant, its documents attached."""
    app_id = await draft(world, data)
    await attach_checklist(world, app_id)
    async with world.db() as session:
        await applications.submit(
            session, app_id, tenant=world.tenant, actor=await world.actor(session, "applicant"), origin=ORIGIN, now=now,
            citizen_id=world.citizens["applicant"],
        )  # fmt: skip
    return app_id


async def step(world: PermitWorld, app_id: uuid.UUID, who: str, action: str, now: dt.datetime, **kw: Any) -> None:
    async with world.db() as session:
        await applications.take_action(
            session, app_id, action, actor=await world.actor(session, who), version=await version_of(session, app_id),
            now=now, origin=ORIGIN, **kw,
        )  # fmt: skip


async def to_decision(world: PermitWorld, app_id: uuid.UUID, now: dt.datetime) -> None:
    """Documents complete → plans approved → inspection scheduled, photographed, passed → fees billed."""
    await step(world, app_id, "clerk", "accept_documents", now)
    await step(world, app_id, "engineer", "approve_plans", now)
    async with world.db() as session:
        await applications.schedule_inspection(
            session, app_id, at=now + dt.timedelta(days=2), place_th=None, actor=await world.actor(session, "engineer"),
            version=await version_of(session, app_id), now=now, origin=ORIGIN,
        )  # fmt: skip
        await applications.attach_file(
            session, world.store, app_id, png_bytes(), filename="site.png", document_code=applications.INSPECTION_PHOTO,
            uploaded_by=world.audit("engineer"), origin=ORIGIN,
        )  # fmt: skip
    async with world.db() as session:
        await applications.record_inspection(
            session, app_id, passed=True, note="ผังบริเวณตรงตามแบบ ระยะร่นถูกต้อง",
            actor=await world.actor(session, "engineer"), version=await version_of(session, app_id), now=now,
            origin=ORIGIN,
        )  # fmt: skip
    async with world.db() as session:
        await applications.bill_fees(
            session, app_id, payer_id=world.payer_id, tenant=world.tenant, actor=await world.actor(session, "assessor"),
            version=await version_of(session, app_id), now=now, origin=ORIGIN,
        )  # fmt: skip


async def approve(world: PermitWorld, app_id: uuid.UUID, now: dt.datetime) -> None:
    async with world.db() as session:
        await permits.decide(
            session, app_id, approve=True, reasons_th=None, actor=await world.actor(session, "official"),
            version=await version_of(session, app_id), now=now, origin=ORIGIN,
        )  # fmt: skip


async def application(world: PermitWorld, app_id: uuid.UUID) -> PermitApplication:
    async with world.db() as session:
        return (await session.execute(select(PermitApplication).where(PermitApplication.id == app_id))).scalar_one()


async def pay(world: PermitWorld, app_id: uuid.UUID) -> bank.Outcome:
    """The bank pays the application's bill (the real matching code: receipt, ``payments.bill_paid``)."""
    app = await application(world, app_id)
    async with world.db() as session:
        bill = (await session.execute(select(Bill).where(Bill.id == app.bill_id))).scalar_one()
        fields = {
            "transaction_id": f"TXN{uuid.uuid4().hex[:16].upper()}",
            "biller_id": BILLER_ID,
            "ref1": bill.reference,
            "amount": str(bill.total),
            "paid_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "payer_bank": "014",
        }
        notice = bank.normalise_notice(
            transaction_id=fields["transaction_id"], biller_id=BILLER_ID, ref1=bill.reference, ref2=None,
            amount=Decimal(fields["amount"]), paid_at=dt.datetime.fromisoformat(fields["paid_at"]), raw=fields,
        )  # fmt: skip
        return await bank.record_notice(session, notice, channel="webhook", biller_id=BILLER_ID, book_size=100)


async def bill_paid_entries(world: PermitWorld) -> list[OutboxEntry]:
    async with world.db() as session:
        query = select(OutboxEntry).where(OutboxEntry.tenant_id == world.tenant.id, OutboxEntry.topic == BILL_PAID.code)
        return list((await session.execute(query.order_by(OutboxEntry.id))).scalars())


async def deliver(world: PermitWorld, entry: OutboxEntry) -> None:
    """One delivery of ``entry`` to the plugin's handler, in a transaction of its own (as the worker does)."""
    async with tenant_session(session_factory(world.engine), None) as session:
        await permits.on_bill_paid(Delivery(entry, session, {world.tenant.id: world.tenant.schema}))
