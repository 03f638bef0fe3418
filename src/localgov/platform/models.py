"""Tables of the tenancy core: the shared catalog and each tenant's own public profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, TenantBase

TENANT_STATUSES = ("active", "suspended", "closed")


class Tenant(SharedBase):
    """One LAO (อปท.) in the catalog. The schema name is derived from the DLA code."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'closed')", name="status"),
        CheckConstraint("dla_code ~ '^[0-9]{7}$'", name="dla_code"),
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'", name="slug"),
        CheckConstraint("schema_name = 'lao_' || dla_code", name="schema_name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dla_code: Mapped[str] = mapped_column(String(7), unique=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    lao_type: Mapped[str] = mapped_column(String(40))
    province_code: Mapped[str] = mapped_column(String(2))
    province_th: Mapped[str] = mapped_column(Text)
    province_en: Mapped[str] = mapped_column(Text)
    district_th: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    plan_code: Mapped[str] = mapped_column(String(40), server_default="standard")
    enabled_services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    #: Alembic revision of the tenant schema, written in the same transaction as its DDL.
    schema_revision: Mapped[str | None] = mapped_column(String(32))
    #: Where the record came from: ``file`` (tenants.yaml), ``registry`` (bulk) or ``signup``.
    source: Mapped[str] = mapped_column(String(16), server_default="file")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantDomain(SharedBase):
    """A custom domain that also serves a tenant (besides ``<slug>.<base domain>``)."""

    __tablename__ = "tenant_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_tenant_domains_tenant_id", "tenant_id"),
        CheckConstraint("domain = lower(domain)", name="lower"),
    )


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
