"""Helpers for the tests of One Stop Service requests: an LAO with units, staff and citizens of its
own, a published service whose manual requires two documents, tokens of each, files to upload.

Staff are real members (``staff_users`` rows in units): the case engine reads a member's unit to
decide who may act, so a token's subject must be one of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.identity import units as org_admin
from localgov.identity.models import Citizen, StaffUser
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK
from localgov.services.oss import catalogue
from localgov.services.oss.schemas import ServiceCreate, ServiceManual, ServicePublish
from tests.conftest import host
from tests.support.oss import manual, oss_db, oss_tenant
from tests.support.tokens import bearer

ADMIN = Actor("staff", "00000000-0000-0000-0000-00000000a11c")
SERVICE = "test-request"
#: The test service's manual: two required documents (doc.1, doc.2), 3 days and 2 hours of steps
#: (4 working days), no legal limit.
REQUEST_MANUAL: dict[str, Any] = manual(
    legal_time_limit=None,
    steps=[
        {"title_th": "ตรวจสอบเอกสาร", "duration": {"value": 2, "unit": "hours"}, "unit_th": "สำนักปลัด"},
        {"title_th": "พิจารณา", "duration": {"value": 3, "unit": "days"}, "unit_th": "กองช่าง"},
    ],
    documents=[
        {"name_th": "บัตรประจำตัวประชาชน", "issued_by_th": "กรมการปกครอง", "originals": 1, "copies": 1,
         "group": "identity"},
        {"name_th": "สำเนาทะเบียนบ้าน", "issued_by_th": "กรมการปกครอง", "copies": 1, "group": "identity"},
    ],
)  # fmt: skip
#: Valid Thai IDs (check digit right).
THAI_ID = "1101700203450"

#: Who works where, with which roles.
PEOPLE: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "officer": ("counter", ("oss.officer",)),
    "officer2": ("counter", ("oss.officer",)),
    "manager": ("counter", ("oss.manager",)),
    "approver": ("engineering", ("oss.approver",)),
    "editor": (None, ("oss.editor",)),
}


@dataclass
class CaseWorld:
    tenant: TenantInfo
    engine: AsyncEngine
    units: dict[str, uuid.UUID]
    staff: dict[str, uuid.UUID]
    citizens: dict[str, uuid.UUID]
    service_id: uuid.UUID

    def headers(self, name: str) -> dict[str, str]:
        """Host and bearer headers of a member of staff or a citizen of the world."""
        if name in self.citizens:
            token = bearer(self.tenant, kind="citizen", subject=str(self.citizens[name]))
        else:
            token = bearer(self.tenant, roles=PEOPLE[name][1], subject=str(self.staff[name]))
        return {**host(self.tenant.slug), **token}

    def public(self) -> dict[str, str]:
        return host(self.tenant.slug)

    def db(self) -> Any:
        return oss_db(self.engine, self.tenant)


async def publish(session: AsyncSession, code: str, content: dict[str, Any]) -> uuid.UUID:
    data = ServiceCreate(code=code, manual=msgspec.convert(content, ServiceManual))
    service_id = await catalogue.create_service(session, data, actor=ADMIN, origin=Origin())
    await catalogue.publish_service(session, service_id, ServicePublish(version=1), actor=ADMIN, origin=Origin())
    return service_id


async def make_case_world(engine: AsyncEngine) -> CaseWorld:
    tenant = await oss_tenant(engine)
    units: dict[str, uuid.UUID] = {}
    staff: dict[str, uuid.UUID] = {}
    citizens: dict[str, uuid.UUID] = {}
    async with oss_db(engine, tenant) as session:
        for code, kind in (("counter", "secretary_office"), ("engineering", "division")):
            view = await org_admin.create_unit(
                session, code=code, name_th=f"หน่วย {code}", name_en=None, kind=kind, parent_id=None, actor=ADMIN,
                origin=Origin(),
            )  # fmt: skip
            units[code] = view.unit.id
        for name, (unit, _) in PEOPLE.items():
            user = StaffUser(
                email=f"{name}@{tenant.slug}.example",
                full_name=f"นาย{name} ใจดี",
                status="active",
                unit_id=units[unit] if unit else None,
            )
            session.add(user)
            await session.flush()
            staff[name] = user.id
        for name in ("applicant", "stranger"):
            citizen = Citizen(
                issuer="https://id.example", subject=f"{name}-{tenant.slug}", name=f"นาย{name} รักดี",
                email=f"{name}@example.com",
            )  # fmt: skip
            session.add(citizen)
            await session.flush()
            citizens[name] = citizen.id
        service_id = await publish(session, SERVICE, REQUEST_MANUAL)
    return CaseWorld(tenant, engine, units, staff, citizens, service_id)


def walk_in(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_code": SERVICE,
        "applicant_name": "นายสมชาย ใจดี",
        "applicant_thai_id": THAI_ID,
        "phone": "081-234-5678",
        "details_th": "ขอหนังสือรับรอง",
    }
    body.update(changes)
    return body


def at(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    """A moment in Bangkok (a frozen clock)."""
    return dt.datetime(year, month, day, hour, tzinfo=BANGKOK)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def pdf_bytes(size: int = 20_000, seed: int = 1) -> bytes:
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body[:size] + b"\n%%EOF\n"


HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n" * 4
