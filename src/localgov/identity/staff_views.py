"""HTTP endpoints of LAO staff: login, invitations, passwords, the staff's own account, the
administration of staff and roles by the LAO's administrators, and the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import staff as svc
from localgov.identity import units
from localgov.identity.models import AccountStatus, RefreshToken
from localgov.identity.refresh import issue_refresh_token
from localgov.identity.sessions_views import Tokens, token_response
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.audit import AuditEvent as AuditEventRow
from localgov.kernel.auth.guards import PUBLIC, guarded, staff
from localgov.kernel.auth.passwords import PASSWORD_MAX_LENGTH
from localgov.kernel.auth.tokens import AuditActorKind, Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, decode_cursor, encode_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import EMAIL_PATTERN, ONE_LINE
from localgov.kernel.web import current_tenant
from localgov.settings import Settings

Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_PATTERN, examples=["somchai@example.go.th"])]
AnyEmail = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
LinkToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
FullName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
#: ``tenant_admin`` or ``<service>.<role>``; one this LAO's enabled services do not offer is 422 ``role_not_grantable``.
ROLE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
RoleCode = Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=ROLE_PATTERN)]
StaffId = Annotated[uuid.UUID, PathParameter(description="The staff member's id")]
RoleParam = Annotated[
    str,
    PathParameter(description="A role code (`tenant_admin`, `<service>.<role>`)", max_length=80, pattern=ROLE_PATTERN),
]

ADMIN = staff(svc.TENANT_ADMIN)


# --- structs ------------------------------------------------------------------------------------


class StaffLogin(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: AnyEmail
    password: Password


class InvitationAccept(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The secret of the invitation link, and the password the new member chooses."""

    token: LinkToken
    password: Password


class PasswordResetRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: AnyEmail


class PasswordReset(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: LinkToken
    new_password: Password


class PasswordChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password


class Accepted(msgspec.Struct, kw_only=True):
    message_th: str
    message_en: str


class Staff(msgspec.Struct, kw_only=True):
    """A member of the LAO's staff (เจ้าหน้าที่) and the roles they hold."""

    id: uuid.UUID
    email: str
    full_name: str
    #: ``invited`` (no password yet), ``active`` or ``disabled``.
    status: AccountStatus
    roles: list[str]
    #: The unit the member sits in (``/v1/units``), if placed.
    unit_id: uuid.UUID | None
    #: The position the member holds (``/v1/positions``), if any.
    position_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_login_at: dt.datetime | None
    #: Set while failed logins keep the account locked.
    locked_until: dt.datetime | None


class StaffCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An invitation: the member receives a one-time link by e-mail to set a password."""

    email: Email
    full_name: FullName
    roles: list[RoleCode] = msgspec.field(default_factory=list)


class StaffAssignment(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where a member sits: both fields are set as given (null: none)."""

    unit_id: uuid.UUID | None
    position_id: uuid.UUID | None


class StaffPage(msgspec.Struct, kw_only=True):
    items: list[Staff]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class Role(msgspec.Struct, kw_only=True):
    code: str
    title_th: str
    title_en: str
    #: The service that declares it; null for ``tenant_admin``.
    service: str | None
    #: What the role grants (routes guarded by a permission admit any role that grants it).
    permissions: list[str]


class RoleList(msgspec.Struct, kw_only=True):
    items: list[Role]


class AuditEvent(msgspec.Struct, kw_only=True):
    """One audited action: who (actor), what (action, target), when, from where (IP, request id)."""

    id: int
    occurred_at: dt.datetime
    actor_kind: AuditActorKind
    actor_id: str | None
    action: str
    target: str | None
    source_ip: str | None
    request_id: str | None
    data: dict[str, Any]


class AuditEventPage(msgspec.Struct, kw_only=True):
    items: list[AuditEvent]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


def _staff(view: svc.StaffView) -> Staff:
    user = view.user
    return Staff(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        status=user.status,
        roles=list(view.roles),
        unit_id=user.unit_id,
        position_id=user.position_id,
        created_at=user.created_at,
        updated_at=user.updated_at,
        last_login_at=user.last_login_at,
        locked_until=user.locked_until,
    )


def _grantable(request: Request[Any, Any, Any]) -> dict[str, svc.RoleInfo]:
    return svc.grantable_roles(request.app.state.plugins, current_tenant(request).enabled_services)


# --- login, invitations, passwords (public) -----------------------------------------------------


class StaffAuthController(Controller):
    path = "/v1/auth/staff"
    tags = ["Staff authentication"]
    opt = {"surface": "tenant"}

    @post(
        "/login",
        status_code=200,
        operation_id="loginStaff",
        summary="Log in with e-mail and password: an access token and a refresh token",
        description=(
            "A wrong password and an unknown e-mail both answer 401 `invalid_credentials`. Attempts are "
            "limited per client address (429 `rate_limited` with Retry-After); consecutive failures lock "
            "the account for a while (423 `account_locked` with Retry-After). A disabled account that gives "
            "the right password gets 403 `account_disabled`."
        ),
        responses=problem_responses(401, 403, 404, 410, 423, 429),
        allow_suspended=True,  # a suspended LAO's staff still log in to see why and to export
        **guarded(PUBLIC),  # the credentials are in the body
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[StaffLogin],
    ) -> Tokens:
        state = request.app.state
        settings = state.settings
        await hit(
            state.engine,
            f"login:{tenant.id}:{origin.source_ip or 'unknown'}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        result = await svc.login(
            state.session_factory,
            state.engine,
            tenant,
            settings,
            email=data.email,
            password=data.password,
            origin=origin,
        )
        return token_response(
            request, tenant, kind="staff", subject_id=result.user_id, roles=result.roles, refresh=result.refresh
        )

    @post(
        "/invitation/accept",
        status_code=204,
        operation_id="acceptStaffInvitation",
        summary="Accept an invitation: set the password and activate the account",
        description="The link works once and until it expires (404 `invalid_link` otherwise).",
        responses=problem_responses(403, 404, 410),
        **guarded(PUBLIC),  # the link's secret is the credential
    )
    async def accept_invitation(
        self,
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        data: JSONBody[InvitationAccept],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await svc.accept_invitation(
            db_session,
            token=data.token,
            password=data.password,
            settings=settings,
            origin=origin,
            tenant=tenant,
        )

    @post(
        "/password-reset",
        status_code=202,
        operation_id="requestStaffPasswordReset",
        summary="Ask for a password reset link by e-mail",
        description="Always 202: the answer does not tell whether the address belongs to staff.",
        responses=problem_responses(403, 404, 410, 429),
        **guarded(PUBLIC),  # anyone may ask; only the mailbox's owner gets the link
    )
    async def request_password_reset(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[PasswordResetRequest],
        db_session: NamedDependency[AsyncSession],
    ) -> Accepted:
        state = request.app.state
        await hit(
            state.engine,
            f"password-reset:{tenant.id}:{origin.source_ip or 'unknown'}",
            limit=state.settings.login_rate_limit,
            window_s=state.settings.login_rate_window_s,
        )
        await svc.request_password_reset(
            db_session, state.engine, tenant=tenant, settings=state.settings, email=data.email, origin=origin
        )
        return Accepted(
            message_th="หากอีเมลนี้เป็นของเจ้าหน้าที่ ระบบได้ส่งลิงก์สำหรับตั้งรหัสผ่านใหม่ไปแล้ว",
            message_en="If this address belongs to a member of staff, a reset link is on its way.",
        )

    @post(
        "/password-reset/confirm",
        status_code=204,
        operation_id="resetStaffPassword",
        summary="Set a new password with a reset link; every session of the account ends",
        description="The link works once and until it expires (404 `invalid_link` otherwise).",
        responses=problem_responses(403, 404, 410),
        **guarded(PUBLIC),  # the link's secret is the credential
    )
    async def reset_password(
        self,
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        data: JSONBody[PasswordReset],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await svc.reset_password(
            db_session,
            token=data.token,
            new_password=data.new_password,
            settings=settings,
            origin=origin,
            tenant=tenant,
        )


# --- the caller's own account -------------------------------------------------------------------


class MeController(Controller):
    path = "/v1/me"
    tags = ["My account"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="getMe",
        summary="The calling staff member's own account and roles",
        responses=problem_responses(401, 403, 404, 410),
        allow_suspended=True,
        **guarded(staff()),
    )
    async def me(self, principal: NamedDependency[Principal], db_session: NamedDependency[AsyncSession]) -> Staff:
        user_id = svc.as_uuid(principal.subject)
        if user_id is None:
            raise svc.StaffNotFound()
        user = await svc.get_staff(db_session, user_id)
        if user.status == "disabled":
            raise svc.AccountDisabled()
        return _staff(await svc.view_of(db_session, user))

    @post(
        "/password",
        status_code=200,
        operation_id="changeMyPassword",
        summary="Change the caller's password; every other session ends",
        description=(
            "Needs the current password (400 `wrong_password`). Every refresh token of the account is "
            "revoked; the answer carries a new access token and refresh token for this session."
        ),
        responses=problem_responses(401, 403, 404, 410, 429),
        **guarded(staff()),
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        data: JSONBody[PasswordChange],
        db_session: NamedDependency[AsyncSession],
    ) -> Tokens:
        state = request.app.state
        settings = state.settings
        user_id = svc.as_uuid(principal.subject)
        if user_id is None:
            raise svc.StaffNotFound()
        # Guessing the current password with a stolen access token is as limited as a login.
        await hit(
            state.engine,
            f"password-change:{tenant.id}:{user_id}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        user = await svc.change_password(
            db_session,
            user_id,
            current_password=data.current_password,
            new_password=data.new_password,
            settings=settings,
            origin=origin,
            tenant=tenant,
        )
        grant = await issue_refresh_token(
            db_session, RefreshToken, subject_kind="staff", subject_id=user.id, ttl_s=settings.refresh_token_ttl_s
        )
        roles = frozenset((await svc.roles_of(db_session, [user.id]))[user.id])
        return token_response(request, tenant, kind="staff", subject_id=user.id, roles=roles, refresh=grant)


# --- administration of staff (tenant_admin) -----------------------------------------------------


class StaffAdminController(Controller):
    path = "/v1/staff"
    tags = ["Staff administration"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="listStaff",
        summary="The LAO's staff, by e-mail",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def list_staff(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size")] = 50,
        cursor: Cursor = None,
        status: Annotated[AccountStatus | None, QueryParameter(description="Only this status")] = None,
    ) -> StaffPage:
        after = decode_cursor(cursor, tuple[str])
        views, next_after = await svc.list_staff(
            db_session, limit=limit, after=after[0] if after else None, status=status
        )
        return StaffPage(
            items=[_staff(v) for v in views], next_cursor=encode_cursor([next_after]) if next_after else None
        )

    @post(
        "/",
        operation_id="inviteStaff",
        summary="Invite a member of staff: a one-time link to set a password is e-mailed",
        description="409 `email_taken` when the address is already staff; 422 `role_not_grantable`.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def invite(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        data: JSONBody[StaffCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        invitation = await svc.invite_staff(
            db_session,
            tenant=tenant,
            settings=settings,
            grantable=_grantable(request),
            email=data.email,
            full_name=data.full_name,
            roles=data.roles,
            actor=actor,
            origin=origin,
        )
        return _staff(svc.StaffView(user=invitation.user, roles=invitation.roles))

    @get(
        "/roles",
        operation_id="listGrantableRoles",
        summary="Roles that can be granted in this LAO (tenant_admin and those of its services)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def roles(self, request: Request[Any, Any, Any]) -> RoleList:
        return RoleList(
            items=[
                Role(
                    code=r.code,
                    title_th=r.title_th,
                    title_en=r.title_en,
                    service=r.service,
                    permissions=sorted(r.permissions),
                )
                for r in _grantable(request).values()
            ]
        )

    @get(
        "/{staff_id:uuid}",
        operation_id="getStaff",
        summary="One member of staff",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def show(self, staff_id: StaffId, db_session: NamedDependency[AsyncSession]) -> Staff:
        return _staff(await svc.view_of(db_session, await svc.get_staff(db_session, staff_id)))

    @post(
        "/{staff_id:uuid}/invitation",
        status_code=200,
        operation_id="resendStaffInvitation",
        summary="E-mail a new invitation link (the previous one stops working)",
        description="409 `staff_not_invited` once the member has accepted.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def resend_invitation(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        staff_id: StaffId,
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        invitation = await svc.resend_invitation(
            db_session,
            staff_id,
            tenant=tenant,
            settings=settings,
            actor=actor,
            origin=origin,
        )
        return _staff(svc.StaffView(user=invitation.user, roles=invitation.roles))

    @post(
        "/{staff_id:uuid}/disable",
        status_code=200,
        operation_id="disableStaff",
        summary="Disable a member: no more logins, every session revoked",
        description="409 `last_admin` for the last active administrator.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def disable(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        staff_id: StaffId,
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        view = await svc.disable_staff(db_session, staff_id, actor=actor, origin=origin)
        return _staff(view)

    @post(
        "/{staff_id:uuid}/enable",
        status_code=200,
        operation_id="enableStaff",
        summary="Enable a disabled member again (the lockout is lifted too)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def enable(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        staff_id: StaffId,
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        view = await svc.enable_staff(db_session, staff_id, actor=actor, origin=origin)
        return _staff(view)

    @put(
        "/{staff_id:uuid}/roles/{role:str}",
        operation_id="grantStaffRole",
        summary="Grant a role (idempotent); it takes effect at the member's next token",
        description="422 `role_not_grantable` for a role neither `tenant_admin` nor of an enabled service.",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        staff_id: StaffId,
        role: RoleParam,
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        view = await svc.grant_role(
            db_session,
            staff_id,
            role,
            grantable=_grantable(request),
            actor=actor,
            origin=origin,
        )
        return _staff(view)

    @delete(
        "/{staff_id:uuid}/roles/{role:str}",
        status_code=200,
        operation_id="revokeStaffRole",
        summary="Revoke a role (idempotent); it takes effect at the member's next token",
        description="409 `last_admin` when it would leave the LAO without an active administrator.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def revoke(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        staff_id: StaffId,
        role: RoleParam,
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        view = await svc.revoke_role(db_session, staff_id, role, actor=actor, origin=origin)
        return _staff(view)

    @put(
        "/{staff_id:uuid}/assignment",
        operation_id="assignStaff",
        summary="Place a member in a unit with a position (null clears either)",
        description=(
            "Needs `staff.structure.write`. 409 `unit_inactive`; 404 `unit_not_found`, `position_not_found`. "
            "Units the member supervised and may no longer supervise from the new unit lose them as "
            "supervisor (audited)."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(staff(permission=svc.STRUCTURE_WRITE)),
    )
    async def assign(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        staff_id: StaffId,
        data: JSONBody[StaffAssignment],
        db_session: NamedDependency[AsyncSession],
    ) -> Staff:
        view = await units.assign_staff(
            db_session,
            staff_id,
            unit_id=data.unit_id,
            position_id=data.position_id,
            actor=actor,
            origin=origin,
        )
        return _staff(view)


# --- audit log (tenant_admin) -------------------------------------------------------------------


class AuditController(Controller):
    path = "/v1/audit-events"
    tags = ["Audit"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="listAuditEvents",
        summary="The LAO's audit log (บันทึกการตรวจสอบ), newest first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def list_events(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size")] = 50,
        cursor: Cursor = None,
        action: Annotated[
            str | None, QueryParameter(max_length=60, description="Only this action (`login.failed` …)")
        ] = None,
        target: Annotated[
            str | None, QueryParameter(max_length=200, description="Only this target (`staff:<id>` …)")
        ] = None,
    ) -> AuditEventPage:
        query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit + 1)
        before = decode_cursor(cursor, tuple[int])
        if before is not None:
            query = query.where(AuditEventRow.id < before[0])
        if action is not None:
            query = query.where(AuditEventRow.action == action)
        if target is not None:
            query = query.where(AuditEventRow.target == target)
        rows = list((await db_session.execute(query)).scalars().all())
        page, more = rows[:limit], len(rows) > limit
        return AuditEventPage(
            items=[
                AuditEvent(
                    id=r.id,
                    occurred_at=r.occurred_at,
                    # Every writer of the log (record_audit) names one of these kinds.
                    actor_kind=cast(AuditActorKind, r.actor_kind),
                    actor_id=r.actor_id,
                    action=r.action,
                    target=r.target,
                    source_ip=str(r.source_ip) if r.source_ip is not None else None,
                    request_id=r.request_id,
                    data=r.data,
                )
                for r in page
            ],
            next_cursor=encode_cursor([page[-1].id]) if more and page else None,
        )
