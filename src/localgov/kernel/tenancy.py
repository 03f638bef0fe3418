"""What every layer knows of a tenant: the router's snapshot, the operator host, the LAO's profile.

The catalog (``localgov.platform.catalog``) builds :class:`TenantInfo` snapshots and resolves
hosts; the kernel and the services only read them. :class:`TenantProfile` is the LAO's public
contact details, one row in its own schema: its staff edit it (``platform.tenant_admin``), and a
service reads it through :func:`lao_profile` to print it on documents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import msgspec
from sqlalchemy import CheckConstraint, DateTime, SmallInteger, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase
from localgov.kernel.reads import CachedRow, Reader, fetch_cached


class TenantInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant as the router sees it (immutable snapshot of its catalog row)."""

    id: int
    dla_code: str
    slug: str
    schema: str
    name_th: str
    name_en: str
    lao_type: str
    province_code: str
    province_th: str
    province_en: str
    district_th: str
    status: str
    plan_code: str
    enabled_services: frozenset[str]
    domains: tuple[str, ...] = ()
    #: Origins (``https://app.example.org``) whose browser scripts may call this LAO's API (CORS),
    #: set by its administrators.
    cors_origins: frozenset[str] = frozenset()


class OperatorHost(msgspec.Struct, frozen=True):
    """The bare base domain: the operator's API."""


OPERATOR = OperatorHost()


class HostResolver(Protocol):
    """What the request path needs of the catalog: a Host header to a tenant, the operator, or nothing."""

    def resolve(self, raw_host: str | None) -> TenantInfo | OperatorHost | None: ...


class TenantProfile(TenantBase):
    """The LAO's own public contact details (one row), kept in its schema and edited by its staff."""

    __tablename__ = "profile"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="1")
    address_th: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(300))
    office_hours_th: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LaoProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The LAO as a service prints it: names from the catalog, contact details from its profile."""

    name_th: str
    name_en: str
    dla_code: str
    province_th: str
    district_th: str
    address_th: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    office_hours_th: str | None = None


#: The profile's contact columns: built once (kernel/reads.py), one prepared statement for every tenant;
#: kept by each process (``CachedRow``: ``GET /v1/tenant`` then sends no statement), dropped when
#: ``platform.tenant_admin.update_profile`` commits.
_CONTACT = select(
    TenantProfile.__table__.c.address_th,
    TenantProfile.__table__.c.phone,
    TenantProfile.__table__.c.email,
    TenantProfile.__table__.c.website,
    TenantProfile.__table__.c.office_hours_th,
).where(TenantProfile.__table__.c.id == 1)
PROFILE = CachedRow("kernel.profile", _CONTACT)


async def lao_profile(reader: Reader, tenant: TenantInfo) -> LaoProfile:
    """The calling tenant's public profile (the session or connection must be bound to ``tenant``)."""
    row = await fetch_cached(reader, PROFILE)
    contact: dict[str, Any] = dict(row) if row is not None else {}
    return LaoProfile(
        name_th=tenant.name_th,
        name_en=tenant.name_en,
        dla_code=tenant.dla_code,
        province_th=tenant.province_th,
        district_th=tenant.district_th,
        **contact,
    )
