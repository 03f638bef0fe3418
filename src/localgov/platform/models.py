"""Tables of the tenancy core: the shared catalog and each tenant's own public profile."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase
from localgov.platform.registry import LaoType

TenantStatusCode = Literal["active", "suspended", "closed"]
TENANT_STATUSES: tuple[TenantStatusCode, ...] = get_args(TenantStatusCode)
#: Where a tenant's record came from: ``file`` (tenants.yaml), ``registry`` (bulk) or ``signup``.
TenantSource = Literal["file", "registry", "signup"]
#: Life of a signup request (DOMAIN: self-service signup). ``expired``: the e-mail was never verified.
SignupStatus = Literal[
    "pending_verification", "pending_approval", "provisioning", "active", "rejected", "failed", "expired"
]
SIGNUP_STATUSES: tuple[SignupStatus, ...] = get_args(SignupStatus)
#: Requests in these states hold their DLA code and sub-domain: nobody else may ask for them.
SIGNUP_OPEN_STATUSES = ("pending_verification", "pending_approval", "provisioning", "failed")
_OPEN_REQUEST = "status IN (" + ", ".join(f"'{s}'" for s in SIGNUP_OPEN_STATUSES) + ")"


class Plan(SharedBase):
    """A subscription plan: which services an LAO on it may enable (priced by the billing module)."""

    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    #: Service slugs an LAO on this plan may enable.
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    #: Offered on the signup form (a retired plan keeps its tenants but takes no new ones).
    open_for_signup: Mapped[bool] = mapped_column(Boolean, server_default="true")
    position: Mapped[int] = mapped_column(SmallInteger, server_default="0")


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
    lao_type: Mapped[LaoType] = mapped_column(String(40))
    province_code: Mapped[str] = mapped_column(String(2))
    province_th: Mapped[str] = mapped_column(Text)
    province_en: Mapped[str] = mapped_column(Text)
    district_th: Mapped[str] = mapped_column(Text)
    status: Mapped[TenantStatusCode] = mapped_column(String(16), server_default="active")
    plan_code: Mapped[str] = mapped_column(String(40), ForeignKey("platform.plans.code"), server_default="standard")
    enabled_services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    #: Browser origins allowed to call the LAO's API (CORS), set by its administrators.
    cors_origins: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    #: Alembic revision of the tenant schema, written in the same transaction as its DDL.
    schema_revision: Mapped[str | None] = mapped_column(String(32))
    #: Revision of each service history whose tables the schema holds (``{slug: revision}``), same rule.
    service_revisions: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")
    #: Where the record came from: ``file`` (tenants.yaml), ``registry`` (bulk) or ``signup``.
    source: Mapped[TenantSource] = mapped_column(String(16), server_default="file")
    #: Why the operator suspended or closed it (shown to its staff), and since when.
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: A closed tenant's schema is dropped after this moment (its export archive is kept).
    purge_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    schema_dropped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantDomain(SharedBase):
    """A custom domain of a tenant (besides ``<slug>.<base domain>``): it routes once verified.

    A domain declared by the operator (``tenants.yaml``) has no challenge and is verified at
    insertion. One claimed by an LAO's administrator through the API starts pending with a
    ``challenge_token`` to publish in DNS (``platform.domain_challenge``); several LAOs may claim the
    same name, only one can have it verified (the partial unique index), and only verified rows route.
    """

    __tablename__ = "tenant_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: The value to publish as TXT at ``_localgov-challenge.<domain>``; None: declared by the operator.
    challenge_token: Mapped[str | None] = mapped_column(String(64))
    #: When its ownership was proven (the domain routes); None: pending.
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: The last DNS check, and its outcome when it failed (a problem code such as ``challenge_mismatch``).
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    check_problem: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_tenant_domains_tenant_id", "tenant_id"),
        Index(
            "uq_tenant_domains_routed",
            "domain",
            unique=True,
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
        CheckConstraint("domain = lower(domain)", name="lower"),
    )


class SignupRequest(SharedBase):
    """An LAO asking to join the platform (การสมัครใช้บริการ), from the form to its active tenant.

    The LAO's names, type and province come from the registry at provisioning, never from the form.
    Only SHA-256 digests of the e-mailed links are stored.
    """

    __tablename__ = "signup_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in SIGNUP_STATUSES) + ")",
            name="status",
        ),
        CheckConstraint("dla_code ~ '^[0-9]{7}$'", name="dla_code"),
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'", name="slug"),
        CheckConstraint("contact_email = lower(contact_email)", name="email_lower"),
        # At most one open request per DLA code and per sub-domain: two racing signups, one wins.
        Index(
            "uq_signup_requests_open_dla_code",
            "dla_code",
            unique=True,
            postgresql_where=text(_OPEN_REQUEST),
        ),
        Index(
            "uq_signup_requests_open_slug",
            "slug",
            unique=True,
            postgresql_where=text(_OPEN_REQUEST),
        ),
        Index("ix_signup_requests_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dla_code: Mapped[str] = mapped_column(String(7))
    slug: Mapped[str] = mapped_column(String(40))
    plan_code: Mapped[str] = mapped_column(String(40), ForeignKey("platform.plans.code"))
    contact_name: Mapped[str] = mapped_column(Text)
    contact_position: Mapped[str] = mapped_column(Text)
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str] = mapped_column(String(40))
    terms_version: Mapped[str] = mapped_column(String(20))
    terms_accepted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[SignupStatus] = mapped_column(String(24), server_default="pending_verification")
    verify_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    verify_expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The status page link (sent with the verification mail) stays valid for the life of the request.
    status_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    #: The last provisioning error (kept after a successful retry, for the record).
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("platform.tenants.id"))
    source_ip: Mapped[str | None] = mapped_column(INET)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    provisioned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TenantArchive(SharedBase):
    """An export of one tenant's data (a ZIP of CSV files with a manifest), kept on disk."""

    __tablename__ = "tenant_archives"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id"), index=True)
    #: ``close`` (made when the operator closed the tenant) or ``request`` (asked for by a person).
    reason: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    #: Rows per table, ``{"<schema or platform>.<table>": count}``.
    row_counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
