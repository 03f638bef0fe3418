"""Helpers for the deadline and report tests: an LAO with units, supervisors, staff and citizens;
cases of the casework test plugin's type (any case type with time limits will do) opened and moved
at chosen moments; sweeps at a frozen clock.

The casework type (tests/support/casework_plugin.py): ``submitted`` 1 working day, ``review`` 5
(routed here to the ``plans`` unit, whose supervisor post is vacant: its division's head answers),
``decision`` 2, ``awaiting_applicant`` 7 with the overall clock paused; 10 working days overall.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.identity import units as org_admin
from localgov.identity.models import Citizen, StaffUser
from localgov.kernel import cases
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import Grants
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.notifications import NotificationRecord
from localgov.kernel.plugins import register_plugin_case_types
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK
from localgov.services.oss import deadlines, notices
from localgov.services.oss.models import CaseNotice
from tests.support.casework_plugin import CASEWORK, PERMIT
from tests.support.oss import oss_tenant

ADMIN = Actor("staff", "00000000-0000-0000-0000-00000000a11c")
GRANTS = Grants.of(CASEWORK.roles)
DOCUMENTS = ("application_form", "site_plan")

#: Who works where: (unit, roles of the casework plugin).
PEOPLE: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "clerk": ("oss", ("casework.clerk",)),
    "oss_head": ("oss", ()),
    "engineer": ("plans", ("casework.engineer",)),
    "chief_engineer": ("engineering", ()),
    "chief": (None, ("casework.chief",)),
}


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A moment in Bangkok: the frozen clock of a test."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=BANGKOK)


@dataclass
class Office:
    tenant: TenantInfo
    factory: async_sessionmaker[AsyncSession]
    units: dict[str, uuid.UUID] = field(default_factory=dict)
    staff: dict[str, uuid.UUID] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    citizens: dict[str, uuid.UUID] = field(default_factory=dict)
    actors: dict[str, cases.CaseActor] = field(default_factory=dict)

    def session(self) -> Any:
        return tenant_session(self.factory, self.tenant)


async def office(engine: AsyncEngine, *, opdc_email: str | None = None, opdc_copies: bool = True) -> Office:
    """An LAO with the One Stop Service: units ``oss`` (head ``oss_head``) and ``engineering`` (head
    ``chief_engineer``) with ``plans`` under it (no head of its own), its staff, a citizen
    ``applicant`` with an e-mail address, and the casework type's review routed to ``plans``."""
    register_plugin_case_types([CASEWORK])
    tenant = await oss_tenant(engine)
    o = Office(tenant=tenant, factory=session_factory(engine))
    async with o.session() as session:
        for code, kind, parent in (
            ("oss", "secretary_office", None),
            ("engineering", "division", None),
            ("plans", "subdivision", "engineering"),
        ):
            view = await org_admin.create_unit(
                session,
                code=code,
                name_th=f"หน่วย {code}",
                name_en=None,
                kind=kind,
                parent_id=o.units[parent] if parent else None,
                actor=ADMIN,
                origin=Origin(),
            )
            o.units[code] = view.unit.id
        for name, (unit, _) in PEOPLE.items():
            o.emails[name] = f"{name}@{tenant.slug}.example"
            user = StaffUser(
                email=o.emails[name],
                full_name=f"เจ้าหน้าที่ {name}",
                status="active",
                unit_id=o.units[unit] if unit else None,
            )
            session.add(user)
            await session.flush()
            o.staff[name] = user.id
        await org_admin.set_supervisor(session, o.units["oss"], o.staff["oss_head"], actor=ADMIN, origin=Origin())
        await org_admin.set_supervisor(
            session, o.units["engineering"], o.staff["chief_engineer"], actor=ADMIN, origin=Origin()
        )
        citizen = Citizen(
            issuer="https://id.example",
            subject=f"applicant-{tenant.slug}",
            name="นางสาวสมศรี ใจดี",
            email="somsri@example.go.th",
        )
        session.add(citizen)
        await session.flush()
        o.citizens["applicant"] = citizen.id
        for name, (_, roles) in PEOPLE.items():
            o.actors[name] = await cases.staff_actor(session, o.staff[name], GRANTS.permissions_of(roles))
        await cases.set_case_type_setting(
            session, PERMIT, "review", assignee_unit_id=o.units["plans"], actor=ADMIN, origin=Origin()
        )
        if opdc_email is not None or not opdc_copies:
            await notices.update_notice_settings(
                session,
                notices.NoticeSettingsUpdate(
                    opdc_email=opdc_email, opdc_copies=opdc_copies, delay_every_days=7, result_within_days=7
                ),
                actor=ADMIN,
                origin=Origin(),
            )
    o.actors["applicant"] = cases.citizen_actor(o.citizens["applicant"])
    return o


async def open_case(
    o: Office,
    now: dt.datetime,
    *,
    walk_in: str | None = None,
    email: str | None = None,
    number: str | None = None,
    service: str | None = None,
) -> cases.Case:
    """A case opened at ``now``: the citizen ``applicant``'s, or a walk-in's (``walk_in``: the name;
    ``email``: the address the case's data keeps, if any); ``service``: its catalogue service's code."""
    data: dict[str, Any] = {"service": {"code": service}} if service else {}
    if email:
        data["applicant"] = {"email": email}
    async with o.session() as session:
        if walk_in is None:
            return await cases.open_case(
                session,
                PERMIT,
                actor=o.actors["applicant"],
                now=now,
                applicant_name="นางสาวสมศรี ใจดี",
                applicant_citizen_id=o.citizens["applicant"],
                tracking_number=number,
                data=data,
                documents=DOCUMENTS,
            )
        return await cases.open_case(
            session,
            PERMIT,
            actor=o.actors["clerk"],
            now=now,
            applicant_name=walk_in,
            tracking_number=number,
            data=data,
            documents=DOCUMENTS,
        )


async def act(
    o: Office, case: cases.Case, action: str, who: str, now: dt.datetime, comment: str | None = None
) -> cases.Case:
    async with o.session() as session:
        current = await cases.get_case(session, case.id)
        return await cases.act(
            session,
            case.id,
            action,
            actor=o.actors[who],
            expected_version=current.version,
            now=now,
            comment=comment,
            documents=DOCUMENTS,
        )


async def sweep(o: Office, now: dt.datetime) -> deadlines.SweepResult:
    async with o.session() as session:
        return await deadlines.sweep(session, o.tenant, now)


async def notices_of(o: Office, case_id: uuid.UUID, kind: str | None = None) -> list[notices.NoticeRead]:
    async with o.session() as session:
        found = await notices.case_notices(session, case_id)
    return [n for n in found if kind is None or n.kind == kind]


async def notification(o: Office, notification_id: uuid.UUID | None) -> NotificationRecord:
    async with o.session() as session:
        row = (
            await session.execute(select(NotificationRecord).where(NotificationRecord.id == notification_id))
        ).scalar_one()
        session.expunge(row)
        return row


async def notification_of(o: Office, notice_id: uuid.UUID) -> NotificationRecord | None:
    async with o.session() as session:
        notification_id = (
            await session.execute(select(CaseNotice.notification_id).where(CaseNotice.id == notice_id))
        ).scalar_one()
    return None if notification_id is None else await notification(o, notification_id)


async def late_case_notice(engine: AsyncEngine, tenant: TenantInfo) -> uuid.UUID:
    """A delay notice in ``tenant`` (an LAO with the service): a walk-in's case opened on Monday
    2 March 2026 and swept on Wednesday 18 March, its first day late."""
    register_plugin_case_types([CASEWORK])
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        case = await cases.open_case(
            session,
            PERMIT,
            actor=cases.SYSTEM,
            now=at(2026, 3, 2, 10),
            applicant_name="นายมีชัย ยืนยง",
            documents=DOCUMENTS,
        )
        await deadlines.sweep(session, tenant, at(2026, 3, 18))
        found = await notices.case_notices(session, case.id)
    return next(n.id for n in found if n.kind == "delay" and n.recipient_kind == "applicant")
