"""Staff of an LAO (เจ้าหน้าที่): invitations, password login with rate limit and lockout, password
change and reset by e-mail, roles, and the rule that an LAO always keeps one administrator.
(Where staff sit in the LAO's structure is :mod:`localgov.identity.units`.)

Everything here runs in a tenant-bound session (the tenant's schema). Functions that must leave a
trace although the request fails (a failed login counts towards the lockout and is audited)
open their own transaction; the others write in the caller's.

Links in e-mails carry a 256-bit random secret; only its SHA-256 is stored, with an expiry, and it
works once. Passwords are argon2id (:mod:`localgov.kernel.auth.hashing`), hashed in a thread so the
event loop keeps serving while argon2 spends its deliberate ~0.1 s.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.identity.models import OneTimeToken, OrgUnit, RefreshToken, StaffRole, StaffUser
from localgov.identity.refresh import RefreshGrant, issue_refresh_token, revoke_subject
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth import passwords
from localgov.kernel.auth.hashing import hash_secret_async, new_token, token_digest, verify_secret_async
from localgov.kernel.auth.passwords import account_words
from localgov.kernel.auth.revocations import lift_revocation, revoke_access, tenant_realm
from localgov.kernel.db import session_tenant_id, tenant_session
from localgov.kernel.errors import DomainError, NotFound
from localgov.kernel.mail import OutgoingMail, send_mail
from localgov.kernel.plugins import Role, ServicePlugin
from localgov.kernel.ratelimit import RateLimited, hit
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import normalise_email
from localgov.kernel.thai import english_datetime, thai_datetime
from localgov.settings import Settings

TENANT_ADMIN = "tenant_admin"
#: ``client_id`` of the access tokens staff get by logging in.
STAFF_CLIENT_ID = "localgov-staff"
#: Reset mails one address can receive per hour, whoever asks (no mail-bombing a colleague).
RESET_MAILS_PER_HOUR = 3
LinkPurpose = Literal["invite", "password_reset"]


# --- errors -------------------------------------------------------------------------------------


class InvalidCredentials(DomainError):
    """Wrong password, unknown e-mail, or an invitation not accepted yet: one answer for all."""

    code = "invalid_credentials"
    status = 401
    title = "อีเมลหรือรหัสผ่านไม่ถูกต้อง / Wrong e-mail or password"


class AccountLocked(DomainError):
    code = "account_locked"
    status = 423
    title = "บัญชีถูกล็อกชั่วคราว / Account temporarily locked"

    def __init__(self, retry_after_s: int) -> None:
        wait = max(1, retry_after_s)
        super().__init__(
            f"Too many failed logins; try again in {wait} s or reset the password.", data={"retry_after_s": wait}
        )
        self.headers = {"Retry-After": str(wait)}


class AccountDisabled(DomainError):
    code = "account_disabled"
    status = 403
    title = "บัญชีถูกระงับ / Account disabled"


class InvalidLink(DomainError):
    code = "invalid_link"
    status = (
        404  # no live invitation or reset behind the token (as signup's invalid_link); indistinguishable on purpose
    )
    title = "ลิงก์ไม่ถูกต้อง ใช้แล้ว หรือหมดอายุ / The link is invalid, used or expired"


class WrongPassword(DomainError):
    code = "wrong_password"
    status = 400
    title = "รหัสผ่านปัจจุบันไม่ถูกต้อง / The current password is wrong"


class EmailTaken(DomainError):
    code = "email_taken"
    status = 409
    title = "อีเมลนี้มีผู้ใช้แล้ว / This e-mail already belongs to a staff member"


class RoleNotGrantable(DomainError):
    code = "role_not_grantable"
    status = 422  # a role of the right form this LAO's enabled services do not offer (a business rule)
    title = "ไม่สามารถมอบบทบาทนี้ได้ / This role cannot be granted here"


class LastAdmin(DomainError):
    code = "last_admin"
    status = 409
    title = "ต้องมีผู้ดูแลระบบอย่างน้อยหนึ่งคน / An LAO must keep at least one administrator"


class StaffNotFound(NotFound):
    code = "staff_not_found"
    title = "ไม่พบเจ้าหน้าที่ / No such staff member"


class NotInvited(DomainError):
    code = "staff_not_invited"
    status = 409
    title = "ผู้ใช้นี้ไม่ได้อยู่ระหว่างการเชิญ / This staff member is not awaiting an invitation"


# --- values -------------------------------------------------------------------------------------


class RoleInfo(msgspec.Struct, frozen=True):
    code: str
    title_th: str
    title_en: str
    service: str | None = None
    permissions: tuple[str, ...] = ()


#: Change the LAO's structure: units, positions, supervisors, where staff sit.
STRUCTURE_WRITE = "staff.structure.write"
ADMIN_ROLE = RoleInfo(TENANT_ADMIN, "ผู้ดูแลระบบขององค์กร", "LAO administrator", permissions=(STRUCTURE_WRITE,))
#: The roles of the core, with the permissions they grant (plugins declare theirs on the plugin).
CORE_ROLES: tuple[Role, ...] = (
    Role(TENANT_ADMIN, ADMIN_ROLE.title_th, ADMIN_ROLE.title_en, permissions=ADMIN_ROLE.permissions),
)


class StaffView(msgspec.Struct, frozen=True, kw_only=True):
    """A staff member with the roles it holds."""

    user: StaffUser
    roles: tuple[str, ...]


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    user: StaffUser
    roles: tuple[str, ...]
    link: str
    expires_at: dt.datetime


class LoginResult(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    roles: frozenset[str]
    refresh: RefreshGrant


def as_uuid(value: str) -> uuid.UUID | None:
    """A principal's subject as a staff id (None when it is not a UUID)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def check_password(
    password: str, settings: Settings, *, user: StaffUser | None = None, tenant: TenantInfo | None = None
) -> None:
    """The platform's password policy (:mod:`localgov.kernel.auth.passwords`): the member's name and
    e-mail address and the LAO's names and slug count as easy to guess."""
    words = account_words(
        *(user.full_name, user.email) if user is not None else (),
        *(tenant.slug, tenant.name_th, tenant.name_en) if tenant is not None else (),
    )
    passwords.check_password(
        password, min_length=settings.password_min_length, min_score=settings.password_min_score, user_inputs=words
    )


async def hash_password(password: str) -> str:
    return await hash_secret_async(password)


async def password_matches(stored_hash: str | None, candidate: str) -> bool:
    """Off the event loop; an account without a password costs the same argon2 time and fails."""
    return await verify_secret_async(stored_hash, candidate)


def grantable_roles(plugins: Sequence[ServicePlugin], enabled_services: Iterable[str]) -> dict[str, RoleInfo]:
    """``tenant_admin`` plus the roles of every plugin the tenant enabled."""
    enabled = set(enabled_services)
    roles = {TENANT_ADMIN: ADMIN_ROLE}
    for plugin in plugins:
        if plugin.slug in enabled:
            for role in plugin.roles:
                roles[role.code] = RoleInfo(role.code, role.title_th, role.title_en, plugin.slug, role.permissions)
    return roles


def tenant_url(settings: Settings, tenant: TenantInfo, path: str) -> str:
    return settings.public_url(path, slug=tenant.slug)


def _when(moment: dt.datetime) -> tuple[str, str]:
    """Thai and English renderings of a moment (Bangkok time)."""
    return thai_datetime(moment), f"{english_datetime(moment)} (Bangkok time)"


# --- reading ------------------------------------------------------------------------------------


async def roles_of(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
    out: dict[uuid.UUID, list[str]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = await session.execute(
            select(StaffRole.user_id, StaffRole.role).where(StaffRole.user_id.in_(user_ids)).order_by(StaffRole.role)
        )
        for user_id, role in rows.all():
            out[user_id].append(role)
    return {uid: tuple(roles) for uid, roles in out.items()}


async def get_staff(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> StaffUser:
    query = select(StaffUser).where(StaffUser.id == user_id)
    if for_update:
        query = query.with_for_update()
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        raise StaffNotFound(data={"staff_id": str(user_id)})
    return user


async def view_of(session: AsyncSession, user: StaffUser) -> StaffView:
    return StaffView(user=user, roles=(await roles_of(session, [user.id]))[user.id])


async def list_staff(
    session: AsyncSession, *, limit: int, after: str | None, status: str | None
) -> tuple[list[StaffView], str | None]:
    """A page ordered by e-mail; the cursor is the last e-mail of the page."""
    query = select(StaffUser).order_by(StaffUser.email).limit(limit + 1)
    if after is not None:
        query = query.where(StaffUser.email > after)
    if status is not None:
        query = query.where(StaffUser.status == status)
    users = list((await session.execute(query)).scalars().all())
    page, more = users[:limit], len(users) > limit
    roles = await roles_of(session, [u.id for u in page])
    return [StaffView(user=u, roles=roles[u.id]) for u in page], (page[-1].email if more and page else None)


# --- invitations --------------------------------------------------------------------------------


async def _issue_link(
    session: AsyncSession, user_id: uuid.UUID, purpose: LinkPurpose, ttl_s: int
) -> tuple[str, dt.datetime]:
    """A new one-time secret for ``purpose``; earlier unused ones of the user stop working."""
    now = dt.datetime.now(dt.UTC)
    await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = new_token()
    expires = now + dt.timedelta(seconds=ttl_s)
    session.add(OneTimeToken(purpose=purpose, user_id=user_id, token_hash=token_digest(token), expires_at=expires))
    await session.flush()
    return token, expires


async def _send_invitation(
    session: AsyncSession,
    user: StaffUser,
    roles: Sequence[str],
    *,
    tenant: TenantInfo,
    settings: Settings,
    actor: Actor,
    origin: Origin,
) -> Invitation:
    token, expires = await _issue_link(session, user.id, "invite", settings.invite_ttl_s)
    link = tenant_url(settings, tenant, f"/staff/invitation#token={token}")
    when_th, when_en = _when(expires)
    await send_mail(
        session,
        OutgoingMail(
            to=user.email,
            to_name=user.full_name,
            subject=f"คำเชิญเข้าใช้งานระบบของ{tenant.name_th} / Invitation from {tenant.name_en}",
            text=(
                f"เรียน {user.full_name}\n\n"
                f"{tenant.name_th} เชิญท่านเข้าใช้งานระบบบริการดิจิทัลในฐานะเจ้าหน้าที่\n"
                f"กรุณาตั้งรหัสผ่านที่ลิงก์ด้านล่าง ลิงก์นี้ใช้ได้ครั้งเดียว และหมดอายุ {when_th}\n\n"
                f"{link}\n\n"
                f"Dear {user.full_name},\n\n"
                f"{tenant.name_en} invites you to its digital services as a member of staff.\n"
                f"Set your password at the link above. It works once and expires on {when_en}.\n\n"
                "หากท่านไม่ได้คาดหมายอีเมลฉบับนี้ โปรดเพิกเฉย / If you did not expect this message, ignore it.\n"
            ),
        ),
        tenant_id=tenant.id,
    )
    await record_audit(
        session,
        "invitation.sent",
        actor=actor,
        origin=origin,
        target=f"staff:{user.id}",
        data={"email": user.email, "roles": list(roles), "expires_at": expires.isoformat()},
    )
    return Invitation(user=user, roles=tuple(roles), link=link, expires_at=expires)


async def invite_staff(
    session: AsyncSession,
    *,
    tenant: TenantInfo,
    settings: Settings,
    grantable: dict[str, RoleInfo],
    email: str,
    full_name: str,
    roles: Iterable[str],
    actor: Actor,
    origin: Origin,
) -> Invitation:
    """Create an invited staff member with ``roles`` and e-mail the one-time link (through the outbox)."""
    address = normalise_email(email)
    wanted = sorted(set(roles))
    for role in wanted:
        if role not in grantable:
            raise RoleNotGrantable(data={"role": role, "grantable": sorted(grantable)})
    created = (
        await session.execute(
            pg_insert(StaffUser)
            .values(email=address, full_name=full_name.strip(), status="invited")
            .on_conflict_do_nothing(index_elements=[StaffUser.email])
            .returning(StaffUser.id)
        )
    ).scalar_one_or_none()
    if created is None:
        raise EmailTaken(data={"email": address})
    user = await get_staff(session, created)
    granted_by = as_uuid(actor.id or "")
    for role in wanted:
        session.add(StaffRole(user_id=user.id, role=role, granted_by=granted_by))
    await session.flush()
    return await _send_invitation(session, user, wanted, tenant=tenant, settings=settings, actor=actor, origin=origin)


async def resend_invitation(
    session: AsyncSession, user_id: uuid.UUID, *, tenant: TenantInfo, settings: Settings, actor: Actor, origin: Origin
) -> Invitation:
    """A fresh link for a member who has not accepted yet (the earlier link stops working)."""
    user = await get_staff(session, user_id, for_update=True)
    if user.status != "invited":
        raise NotInvited(data={"status": user.status})
    roles = (await roles_of(session, [user.id]))[user.id]
    return await _send_invitation(session, user, roles, tenant=tenant, settings=settings, actor=actor, origin=origin)


async def add_tenant_admin(
    session: AsyncSession, *, tenant: TenantInfo, settings: Settings, email: str, full_name: str, actor: Actor
) -> Invitation | StaffView:
    """The first administrator of an LAO (``localgov tenants add-admin``), idempotently.

    A new address is invited as ``tenant_admin``; an invited member gets the role and a new link;
    an active one just gets the role (no mail). A disabled member is refused.
    """
    address = normalise_email(email)
    user = (
        await session.execute(select(StaffUser).where(StaffUser.email == address).with_for_update())
    ).scalar_one_or_none()
    origin = Origin()
    if user is None:
        return await invite_staff(
            session,
            tenant=tenant,
            settings=settings,
            grantable={TENANT_ADMIN: ADMIN_ROLE},
            email=address,
            full_name=full_name,
            roles=[TENANT_ADMIN],
            actor=actor,
            origin=origin,
        )
    if user.status == "disabled":
        raise AccountDisabled("This staff member is disabled; enable them through the API first.")
    await grant_role(session, user.id, TENANT_ADMIN, grantable={TENANT_ADMIN: ADMIN_ROLE}, actor=actor, origin=origin)
    if user.status == "invited":
        return await resend_invitation(session, user.id, tenant=tenant, settings=settings, actor=actor, origin=origin)
    return await view_of(session, user)


async def _consume_link(session: AsyncSession, token: str, purpose: LinkPurpose) -> StaffUser:
    """The user a valid, unused, unexpired link of ``purpose`` belongs to; the link is spent."""
    now = dt.datetime.now(dt.UTC)
    link = (
        await session.execute(
            select(OneTimeToken).where(OneTimeToken.token_hash == token_digest(token)).with_for_update()
        )
    ).scalar_one_or_none()
    if link is None or link.purpose != purpose or link.used_at is not None or link.expires_at <= now:
        raise InvalidLink()
    link.used_at = now
    return await get_staff(session, link.user_id, for_update=True)


async def accept_invitation(
    session: AsyncSession,
    *,
    token: str,
    password: str,
    settings: Settings,
    origin: Origin,
    tenant: TenantInfo | None = None,
) -> StaffUser:
    """Set the password of an invited member and activate them; the link works once (a refused
    password rolls the request back: the link stays usable)."""
    user = await _consume_link(session, token, "invite")
    if user.status != "invited":
        raise InvalidLink()
    check_password(password, settings, user=user, tenant=tenant)
    user.password_hash = await hash_password(password)
    user.status = "active"
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = dt.datetime.now(dt.UTC)
    await record_audit(
        session, "invitation.accepted", actor=Actor("staff", str(user.id)), origin=origin, target=f"staff:{user.id}"
    )
    return user


# --- login --------------------------------------------------------------------------------------


async def login(
    factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    tenant: TenantInfo,
    settings: Settings,
    *,
    email: str,
    password: str,
    origin: Origin,
) -> LoginResult:
    """Check a password; on success start a refresh-token family.

    Runs in a transaction of its own that commits on failure too: the failure counter, the
    lockout and the audit event of a failed login must survive the error answer. An unknown
    e-mail costs the same argon2 time, answers the same 401, and locks the same way after
    ``lockout_threshold`` attempts (counted in a shared bucket per address), so neither the
    answer nor the lockout tells whether an address belongs to staff.
    """
    address = email.strip().lower()[:254]
    failure: DomainError | None = None
    result: LoginResult | None = None
    async with tenant_session(factory, tenant) as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.email == address).with_for_update())
        ).scalar_one_or_none()
        now = dt.datetime.now(dt.UTC)
        if user is None:
            failure = await _unknown_address(engine, tenant, settings, address, password)
            await record_audit(
                session,
                "login.failed",
                actor=Actor("anonymous"),
                origin=origin,
                data={"email": address, "reason": "unknown_email" if failure.code != "account_locked" else "locked"},
            )
        elif user.locked_until is not None and user.locked_until > now:
            failure = AccountLocked(math.ceil((user.locked_until - now).total_seconds()))
            await record_audit(
                session,
                "login.failed",
                actor=Actor("anonymous"),
                origin=origin,
                target=f"staff:{user.id}",
                data={"email": address, "reason": "locked"},
            )
        elif not await password_matches(user.password_hash, password):
            user.failed_logins += 1
            reason = "wrong_password" if user.password_hash else "no_password"
            failure = InvalidCredentials()
            data: dict[str, Any] = {"email": address, "reason": reason, "failures": user.failed_logins}
            if user.failed_logins >= settings.lockout_threshold:
                user.locked_until = now + dt.timedelta(seconds=settings.lockout_s)
                user.failed_logins = 0
                data["locked_until"] = user.locked_until.isoformat()
            await record_audit(
                session, "login.failed", actor=Actor("anonymous"), origin=origin, target=f"staff:{user.id}", data=data
            )
        elif user.status != "active":
            failure = AccountDisabled() if user.status == "disabled" else InvalidCredentials()
            await record_audit(
                session,
                "login.failed",
                actor=Actor("anonymous"),
                origin=origin,
                target=f"staff:{user.id}",
                data={"email": address, "reason": user.status},
            )
        else:
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            roles = frozenset((await roles_of(session, [user.id]))[user.id])
            grant = await issue_refresh_token(
                session,
                RefreshToken,
                subject_kind="staff",
                subject_id=user.id,
                ttl_s=settings.refresh_token_ttl_s,
            )
            actor = Actor("staff", str(user.id))
            await record_audit(session, "login.succeeded", actor=actor, origin=origin, target=f"staff:{user.id}")
            await record_audit(
                session,
                "token.issued",
                actor=actor,
                origin=origin,
                target=f"staff:{user.id}",
                data={"grant": "password", "family_id": str(grant.family_id), "roles": sorted(roles)},
            )
            result = LoginResult(user_id=user.id, roles=roles, refresh=grant)
    if failure is not None:
        raise failure
    if result is None:
        raise RuntimeError("login ended without a result")
    return result


async def _unknown_address(
    engine: AsyncEngine, tenant: TenantInfo, settings: Settings, address: str, password: str
) -> DomainError:
    """What a known account would answer: 401 after the argon2 time, 423 past the threshold."""
    try:
        await hit(
            engine,
            f"login-unknown:{tenant.id}:{token_digest(address)}",
            limit=settings.lockout_threshold,
            window_s=settings.lockout_s,
            advertise=False,  # a budget of unknown addresses only: its headers would tell them apart
        )
    except RateLimited as exc:
        return AccountLocked(int((exc.data or {}).get("retry_after_s", settings.lockout_s)))
    await password_matches(None, password)
    return InvalidCredentials()


# --- passwords ----------------------------------------------------------------------------------


async def change_password(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    current_password: str,
    new_password: str,
    settings: Settings,
    origin: Origin,
    tenant: TenantInfo | None = None,
) -> StaffUser:
    """Needs the current password; every refresh token of the user is revoked."""
    user = await get_staff(session, user_id, for_update=True)
    if user.status != "active":
        raise AccountDisabled()
    if not await password_matches(user.password_hash, current_password):
        raise WrongPassword()
    check_password(new_password, settings, user=user, tenant=tenant)
    user.password_hash = await hash_password(new_password)
    user.updated_at = dt.datetime.now(dt.UTC)
    await revoke_subject(session, RefreshToken, user.id)
    await record_audit(
        session, "password.changed", actor=Actor("staff", str(user.id)), origin=origin, target=f"staff:{user.id}"
    )
    return user


async def request_password_reset(
    session: AsyncSession,
    engine: AsyncEngine,
    *,
    tenant: TenantInfo,
    settings: Settings,
    email: str,
    origin: Origin,
) -> None:
    """Mail a reset link to an active member with this address; say nothing either way."""
    address = email.strip().lower()[:254]
    user = (
        await session.execute(select(StaffUser).where(StaffUser.email == address).with_for_update())
    ).scalar_one_or_none()
    known = user is not None and user.status == "active"
    await record_audit(
        session,
        "password.reset_requested",
        actor=Actor("anonymous"),
        origin=origin,
        target=f"staff:{user.id}" if user is not None else None,
        data={"email": address, "sent": known},
    )
    if user is None or not known:
        return
    try:
        await hit(
            engine, f"reset-mail:{tenant.id}:{user.id}", limit=RESET_MAILS_PER_HOUR, window_s=3600, advertise=False
        )
    except RateLimited:
        return
    token, expires = await _issue_link(session, user.id, "password_reset", settings.password_reset_ttl_s)
    link = tenant_url(settings, tenant, f"/staff/password-reset#token={token}")
    when_th, when_en = _when(expires)
    await send_mail(
        session,
        OutgoingMail(
            to=user.email,
            to_name=user.full_name,
            subject=f"ตั้งรหัสผ่านใหม่ — {tenant.name_th} / Password reset — {tenant.name_en}",
            text=(
                f"เรียน {user.full_name}\n\n"
                "มีผู้ขอตั้งรหัสผ่านใหม่สำหรับบัญชีของท่าน หากเป็นท่าน กรุณาใช้ลิงก์ด้านล่าง\n"
                f"ลิงก์นี้ใช้ได้ครั้งเดียว และหมดอายุ {when_th}\n\n"
                f"{link}\n\n"
                f"Dear {user.full_name},\n\n"
                "Someone asked to reset the password of your account. If it was you, use the link above.\n"
                f"It works once and expires on {when_en}.\n\n"
                "หากท่านไม่ได้ขอ โปรดเพิกเฉย รหัสผ่านเดิมยังใช้ได้ / "
                "If you did not ask, ignore this message: your password is unchanged.\n"
            ),
        ),
        tenant_id=tenant.id,
    )


async def reset_password(
    session: AsyncSession,
    *,
    token: str,
    new_password: str,
    settings: Settings,
    origin: Origin,
    tenant: TenantInfo | None = None,
) -> StaffUser:
    """Set a new password from a reset link (once); sessions end and the lockout is lifted."""
    user = await _consume_link(session, token, "password_reset")
    if user.status != "active":
        raise InvalidLink()
    check_password(new_password, settings, user=user, tenant=tenant)
    user.password_hash = await hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = dt.datetime.now(dt.UTC)
    await revoke_subject(session, RefreshToken, user.id)
    await record_audit(
        session, "password.reset", actor=Actor("staff", str(user.id)), origin=origin, target=f"staff:{user.id}"
    )
    return user


# --- administration -----------------------------------------------------------------------------


async def _lock_admins(session: AsyncSession) -> None:
    """Serialise changes that could leave the tenant without an administrator."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(func.concat(func.current_schema(), ":tenant_admins"))))
    )


async def _ensure_another_admin(session: AsyncSession, user_id: uuid.UUID) -> None:
    await _lock_admins(session)
    others = (
        await session.execute(
            select(func.count())
            .select_from(StaffUser)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffRole.role == TENANT_ADMIN, StaffUser.status == "active", StaffUser.id != user_id)
        )
    ).scalar_one()
    if others == 0:
        raise LastAdmin("This is the last active administrator of the LAO; appoint another one first.")


async def _is_admin(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return (
        await session.execute(
            select(StaffRole.role).where(StaffRole.user_id == user_id, StaffRole.role == TENANT_ADMIN)
        )
    ).first() is not None


async def disable_staff(session: AsyncSession, user_id: uuid.UUID, *, actor: Actor, origin: Origin) -> StaffView:
    """No more logins, refreshes or requests: every refresh token is revoked, the access tokens in
    hand are refused at once (``kernel.auth.revocations``) and pending links die."""
    user = await get_staff(session, user_id, for_update=True)
    if user.status == "disabled":
        return await view_of(session, user)
    if user.status == "active" and await _is_admin(session, user.id):
        await _ensure_another_admin(session, user.id)
    now = dt.datetime.now(dt.UTC)
    user.status = "disabled"
    user.updated_at = now
    await revoke_subject(session, RefreshToken, user.id)
    # The access tokens in hand too: every process refuses them from the commit on.
    await revoke_access(session, realm=tenant_realm(session_tenant_id(session)), kind="staff", subject=str(user.id))
    await session.execute(
        update(OneTimeToken).where(OneTimeToken.user_id == user.id, OneTimeToken.used_at.is_(None)).values(used_at=now)
    )
    await record_audit(session, "staff.disabled", actor=actor, origin=origin, target=f"staff:{user.id}")
    await release_supervision(session, user.id, unit_ids=None, reason="staff_disabled", actor=actor, origin=origin)
    return await view_of(session, user)


async def release_supervision(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    unit_ids: Sequence[uuid.UUID] | None,
    reason: str,
    actor: Actor,
    origin: Origin,
) -> list[uuid.UUID]:
    """The member stops supervising ``unit_ids`` (None: every unit); each unit released is audited."""
    query = update(OrgUnit).where(OrgUnit.supervisor_id == user_id)
    if unit_ids is not None:
        query = query.where(OrgUnit.id.in_(unit_ids))
    released = list(
        (
            await session.execute(
                query.values(supervisor_id=None, updated_at=dt.datetime.now(dt.UTC)).returning(OrgUnit.id),
                execution_options={"synchronize_session": "fetch"},
            )
        )
        .scalars()
        .all()
    )
    for unit_id in released:
        await record_audit(
            session,
            "unit.supervisor_cleared",
            actor=actor,
            origin=origin,
            target=f"unit:{unit_id}",
            data={"staff_id": None, "previous": str(user_id), "reason": reason},
        )
    return released


async def enable_staff(session: AsyncSession, user_id: uuid.UUID, *, actor: Actor, origin: Origin) -> StaffView:
    """Back to active (or to invited, for a member who never set a password); lockout lifted."""
    user = await get_staff(session, user_id, for_update=True)
    if user.status != "disabled":
        return await view_of(session, user)
    user.status = "active" if user.password_hash else "invited"
    await lift_revocation(session, realm=tenant_realm(session_tenant_id(session)), kind="staff", subject=str(user.id))
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = dt.datetime.now(dt.UTC)
    await record_audit(
        session, "staff.enabled", actor=actor, origin=origin, target=f"staff:{user.id}", data={"status": user.status}
    )
    return await view_of(session, user)


async def grant_role(
    session: AsyncSession,
    user_id: uuid.UUID,
    role: str,
    *,
    grantable: dict[str, RoleInfo],
    actor: Actor,
    origin: Origin,
) -> StaffView:
    """Idempotent; audited when the role is new. Takes effect at the member's next token."""
    user = await get_staff(session, user_id, for_update=True)
    if role not in grantable:
        raise RoleNotGrantable(data={"role": role, "grantable": sorted(grantable)})
    inserted = (
        await session.execute(
            pg_insert(StaffRole)
            .values(user_id=user.id, role=role, granted_by=as_uuid(actor.id or ""))
            .on_conflict_do_nothing()
            .returning(StaffRole.role)
        )
    ).scalar_one_or_none()
    if inserted is not None:
        await record_audit(
            session, "role.granted", actor=actor, origin=origin, target=f"staff:{user.id}", data={"role": role}
        )
    return await view_of(session, user)


async def revoke_role(
    session: AsyncSession, user_id: uuid.UUID, role: str, *, actor: Actor, origin: Origin
) -> StaffView:
    """Idempotent; the last active administrator keeps ``tenant_admin``."""
    user = await get_staff(session, user_id, for_update=True)
    if role == TENANT_ADMIN and user.status == "active" and await _is_admin(session, user.id):
        await _ensure_another_admin(session, user.id)
    removed = (
        await session.execute(
            delete(StaffRole).where(StaffRole.user_id == user.id, StaffRole.role == role).returning(StaffRole.role)
        )
    ).scalar_one_or_none()
    if removed is not None:
        await record_audit(
            session, "role.revoked", actor=actor, origin=origin, target=f"staff:{user.id}", data={"role": role}
        )
    return await view_of(session, user)
