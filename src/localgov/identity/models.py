"""Accounts, credentials and sessions, and the LAO's structure (units, positions) staff belong to.
Secrets are never stored: only argon2 or SHA-256 digests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, TenantBase
from localgov.kernel.org import UNIT_KINDS

_UUID_DEFAULT = text("gen_random_uuid()")

# The codes the CHECK constraints below allow, as the types of the columns and of the API's fields.
AccountStatus = Literal["invited", "active", "disabled"]
AppKind = Literal["web", "native"]
ClientStatus = Literal["active", "disabled"]


class _Account:
    """Columns shared by the accounts that log in with a password."""

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    #: Stored lower-case; unique.
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(Text)
    #: argon2id; NULL until an invited user sets a password.
    password_hash: Mapped[str | None] = mapped_column(Text)
    status: Mapped[AccountStatus] = mapped_column(String(16), server_default="invited")
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaffUser(_Account, TenantBase):
    """A member of an LAO's staff (เจ้าหน้าที่), placed in one unit with one position (both optional)."""

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("status IN ('invited', 'active', 'disabled')", name="status"),
        CheckConstraint("email = lower(email)", name="email_lower"),
        Index("uq_staff_users_email", "email", unique=True),
    )

    # No index on these (nor on units.parent_id / supervisor_id): an LAO has tens to a few thousand
    # staff and tens of units, which a sequential scan reads faster than an index, and every index
    # is one more relation in each of thousands of schemas (catalog size bounds schema-per-tenant).
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("units.id"))
    position_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("positions.id"))


_KINDS_SQL = ", ".join(f"'{kind}'" for kind in UNIT_KINDS)


class OrgUnit(TenantBase):
    """A unit of the LAO's structure (ส่วนราชการ): สำนักปลัด, สำนัก, กอง, ส่วน, ฝ่าย or งาน, in a tree.

    A child is always of a lower rank than its parent (a ฝ่าย under a กอง, never the reverse),
    which also makes a cycle impossible. ``supervisor_id`` is the head (หัวหน้าหน่วยงาน): a member
    of this unit or of one above it.
    """

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_KINDS_SQL})", name="kind"),
        CheckConstraint("code = lower(code)", name="code_lower"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="parent_not_self"),
        Index("uq_units_code", "code", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    #: Short, stable, lower-case (``finance``, ``palad.admin``); unique in the LAO.
    code: Mapped[str] = mapped_column(String(40))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    #: One of :data:`localgov.kernel.org.UNIT_KINDS`.
    kind: Mapped[str] = mapped_column(String(24))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("units.id"))
    # ``use_alter``: staff_users.unit_id and units.supervisor_id reference each other's table.
    supervisor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("staff_users.id", ondelete="SET NULL", use_alter=True)
    )
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaffPosition(TenantBase):
    """A position (ตำแหน่ง) staff hold: นายก อบต., ปลัด อบต., นักวิชาการเงินและบัญชี …, with an optional level."""

    __tablename__ = "positions"
    __table_args__ = (Index("uq_positions_title_th_level", "title_th", text("coalesce(level, '')"), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    title_th: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    #: Free text as the LAO writes it (``ชำนาญการ``, ``อำนวยการท้องถิ่น ระดับกลาง``).
    level: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaffRole(TenantBase):
    """A role held by a staff member (``tenant_admin`` or one a plugin declares)."""

    __tablename__ = "staff_roles"
    __table_args__ = (PrimaryKeyConstraint("user_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("staff_users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(80))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    granted_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class OneTimeToken(TenantBase):
    """A single-use link secret (invitation, password reset); only its SHA-256 is kept."""

    __tablename__ = "one_time_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('invite', 'password_reset')", name="purpose"),
        Index("uq_one_time_tokens_token_hash", "token_hash", unique=True),
        Index("ix_one_time_tokens_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("staff_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class _RefreshColumns:
    """A refresh token of a rotation family. Reusing a rotated one revokes the whole family."""

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: ``staff`` or ``citizen`` in a tenant; ``operator`` in the shared schema.
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Set when exchanged for a new token (rotation).
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(_RefreshColumns, TenantBase):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("uq_refresh_tokens_token_hash", "token_hash", unique=True),
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_subject_id", "subject_id"),
    )

    #: Citizens: the app the login was for (``localgov-citizen``: the first-party hand-off).
    client_id: Mapped[str | None] = mapped_column(String(64))
    #: Citizens: the assurance level the login reached (``kernel.auth.tokens.ACR_LEVELS``).
    acr: Mapped[str | None] = mapped_column(String(16))


class Citizen(TenantBase):
    """A citizen (ประชาชน) known to this LAO through an external OpenID Connect provider."""

    __tablename__ = "citizens"
    __table_args__ = (
        Index("uq_citizens_issuer_subject", "issuer", "subject", unique=True),
        Index("ix_citizens_national_id_hash", "national_id_hash"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    issuer: Mapped[str] = mapped_column(String(300))
    #: The provider's ``sub``; ``nid:<HMAC>`` when that is a national ID (never kept in clear).
    subject: Mapped[str] = mapped_column(String(255))
    #: The name in Thai (the provider's ``name`` by default; ``LOCALGOV_OIDC_CLAIMS``).
    name: Mapped[str | None] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    #: Only an address the provider says is verified (``email_verified``).
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    #: HMAC-SHA256 of the national ID under a key derived from ``LOCALGOV_SECRET_KEY``
    #: (``kernel.citizens.national_id_digest``): matches the citizen to payers and applicants.
    national_id_hash: Mapped[str | None] = mapped_column(String(64))
    #: The last four digits, for display.
    national_id_last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OidcLoginState(TenantBase):
    """A citizen login in progress: ``state`` (hashed), nonce and PKCE verifier; single use."""

    __tablename__ = "oidc_login_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str | None] = mapped_column(String(500))
    #: The assurance level asked (``kernel.auth.tokens.ACR_LEVELS``), checked on return.
    acr: Mapped[str | None] = mapped_column(String(16))
    #: A citizens' app's authorization request (``/oauth/authorize``), answered with a code.
    app_client_id: Mapped[str | None] = mapped_column(String(64))
    app_redirect_uri: Mapped[str | None] = mapped_column(String(500))
    app_state: Mapped[str | None] = mapped_column(String(500))
    app_code_challenge: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CitizenApp(TenantBase):
    """A citizens' app (web or mobile) the LAO registered: a public OAuth 2.0 client that gets
    citizens' tokens with the authorization code and PKCE (S256). No secret: an app cannot keep one."""

    __tablename__ = "citizen_apps"
    __table_args__ = (
        CheckConstraint("kind IN ('web', 'native')", name="kind"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        Index("uq_citizen_apps_client_id", "client_id", unique=True),
        Index("ix_citizen_apps_created_at_id", "created_at", "id"),  # the list's order
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    client_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[AppKind] = mapped_column(String(16))
    #: Compared exactly (RFC 9700 §4.1.3); native apps: a private-use scheme or loopback.
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text))
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[ClientStatus] = mapped_column(String(16), server_default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlatformCitizenApp(SharedBase):
    """A citizens' app the platform operator registered: a public client at every LAO (the
    national app of the platform, say). The same columns as an LAO's :class:`CitizenApp`."""

    __tablename__ = "citizen_apps"
    __table_args__ = (
        CheckConstraint("kind IN ('web', 'native')", name="kind"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        Index("uq_citizen_apps_client_id", "client_id", unique=True),
        Index("ix_citizen_apps_created_at_id", "created_at", "id"),  # the list's order
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    client_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[AppKind] = mapped_column(String(16))
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text))
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[ClientStatus] = mapped_column(String(16), server_default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CitizenLoginSettings(TenantBase):
    """The LAO's own rule for citizens' logins (one row, absent until set)."""

    __tablename__ = "citizen_login_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, server_default="1")
    #: The level every login at this LAO asks at least (``kernel.auth.tokens.ACR_LEVELS``), or None.
    login_acr: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CitizenAuthCode(TenantBase):
    """An authorization code issued to a citizens' app; only its SHA-256 is kept; single use."""

    __tablename__ = "citizen_auth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128))
    citizen_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("citizens.id", ondelete="CASCADE"))
    acr: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The refresh-token family issued for it: revoked if the code is presented again.
    family_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class ApiClient(TenantBase):
    """An integrator's client (OAuth 2.0 client credentials). The secret is shown once, kept hashed."""

    __tablename__ = "api_clients"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        Index("uq_api_clients_client_id", "client_id", unique=True),
        Index("ix_api_clients_created_at_id", "created_at", "id"),  # the list's order
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_UUID_DEFAULT)
    client_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[ClientStatus] = mapped_column(String(16), server_default="active")
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OperatorUser(_Account, SharedBase):
    """A member of the platform operator's staff: platform or billing administrator."""

    __tablename__ = "operator_users"
    __table_args__ = (
        CheckConstraint("status IN ('invited', 'active', 'disabled')", name="status"),
        CheckConstraint("email = lower(email)", name="email_lower"),
        Index("uq_operator_users_email", "email", unique=True),
    )

    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")


class OperatorRefreshToken(_RefreshColumns, SharedBase):
    __tablename__ = "operator_refresh_tokens"
    __table_args__ = (
        Index("uq_operator_refresh_tokens_token_hash", "token_hash", unique=True),
        Index("ix_operator_refresh_tokens_family_id", "family_id"),
    )
