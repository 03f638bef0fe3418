"""HTTP API of self-service signup, on the operator host (the bare base domain).

Submitting, verifying and the status link are public on purpose (an LAO that is not yet a tenant
has no account): they are rate limited per client address, and their answers tell no more than
the person filling the form must know (a registered or pending DLA code, a taken sub-domain;
never whether an e-mail address is known). Deciding needs a ``platform_admin`` operator token.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded, operator
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, decode_cursor, encode_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.web import request_origin
from localgov.platform import signup as svc
from localgov.platform.models import SignupStatus
from localgov.settings import Settings

NO_STORE = CacheControlHeader(no_store=True)
SignupId = Annotated[int, PathParameter(ge=1, description="The signup request's id")]


class PlanOut(msgspec.Struct):
    """A plan an LAO may sign up for, and the services it may enable on it."""

    code: str
    name_th: str
    name_en: str
    services: list[str]


class PlanList(msgspec.Struct):
    items: list[PlanOut]


class LinkToken(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Rejection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why the operator refuses (sent to the LAO's contact officer as written)."""

    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=2000, pattern=r"^[^\x00]*$")]


class SignupPage(msgspec.Struct):
    items: list[svc.SignupView]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


async def limit_submit(request: Request[Any, Any, Any]) -> None:
    settings = request.app.state.settings
    await hit(
        request.app.state.engine,
        f"signup:{request_origin(request).source_ip}",
        limit=settings.signup_rate_limit,
        window_s=settings.signup_rate_window_s,
    )


async def limit_link(request: Request[Any, Any, Any]) -> None:
    settings = request.app.state.settings
    await hit(
        request.app.state.engine,
        f"signup-link:{request_origin(request).source_ip}",
        limit=settings.signup_link_rate_limit,
        window_s=settings.signup_rate_window_s,
    )


class SignupController(Controller):
    path = "/v1/signup"
    tags = ["Signup"]
    opt = {"surface": "operator"}

    @get(
        "/plans",
        operation_id="listSignupPlans",
        summary="Plans open for signup, with the services each allows",
        responses=problem_responses(404),
        **guarded(PUBLIC),  # the offer is public
    )
    async def plans(self, db_session: NamedDependency[AsyncSession]) -> PlanList:
        plans = await svc.open_plans(db_session)
        return PlanList([PlanOut(p.code, p.name_th, p.name_en, list(p.services)) for p in plans])

    @post(
        "/",
        operation_id="submitSignup",
        summary="Ask for an LAO to join the platform (an e-mail with a verification link follows)",
        cache_control=NO_STORE,
        responses=problem_responses(404, 409, 422, 429),
        **guarded(PUBLIC),  # the LAO has no account yet; rate limited per client address
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        data: JSONBody[svc.SignupForm],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.Submitted:
        await limit_submit(request)
        return await svc.submit(db_session, settings, data, origin=origin)

    @post(
        "/verify",
        operation_id="verifySignup",
        summary="Confirm the contact officer's e-mail with the token of the verification link",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(404, 410, 429),
        **guarded(PUBLIC),  # the credential is the one-time token in the body
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        data: JSONBody[LinkToken],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.PublicStatus:
        await limit_link(request)
        signup = await svc.verify(db_session, settings, data.token, origin=origin)
        return svc.public_status_of(signup, settings)

    @post(
        "/status",
        operation_id="getSignupStatus",
        summary="The status of one's own request, with the token of the status link",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(404, 429),
        **guarded(PUBLIC),  # the credential is the status token in the body
    )
    async def status(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: JSONBody[LinkToken],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.PublicStatus:
        await limit_link(request)
        return await svc.public_status(db_session, settings, data.token)


class SignupAdminController(Controller):
    path = "/v1/signups"
    tags = ["Signup requests (operator)"]
    opt = {"surface": "operator"}

    @get(
        "/",
        operation_id="listSignupRequests",
        summary="Signup requests, oldest first (filter by status, e.g. pending_approval)",
        responses=problem_responses(401, 403, 404),
        **guarded(operator("platform_admin")),
    )
    async def list_requests(
        self,
        db_session: NamedDependency[AsyncSession],
        status: Annotated[SignupStatus | None, QueryParameter(description="Only this status")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size")] = 100,
        cursor: Cursor = None,
    ) -> SignupPage:
        after = decode_cursor(cursor, tuple[int])
        items, next_after = await svc.list_requests(
            db_session, status=status, limit=limit, after_id=after[0] if after else 0
        )
        return SignupPage(items=items, next_cursor=encode_cursor([next_after]) if next_after is not None else None)

    @get(
        "/{signup_id:int}",
        operation_id="getSignupRequest",
        summary="One signup request",
        responses=problem_responses(401, 403, 404),
        **guarded(operator("platform_admin")),
    )
    async def get_request(self, signup_id: SignupId, db_session: NamedDependency[AsyncSession]) -> svc.SignupView:
        return svc.view_of(await svc.get_request(db_session, signup_id))

    @post(
        "/{signup_id:int}/approve",
        operation_id="approveSignupRequest",
        summary="Approve a verified request: the worker provisions the tenant",
        status_code=202,
        responses=problem_responses(401, 403, 404, 409),
        **guarded(operator("platform_admin")),
    )
    async def approve(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        signup_id: SignupId,
        db_session: NamedDependency[AsyncSession],
    ) -> svc.SignupView:
        signup = await svc.approve(db_session, signup_id, actor=actor, origin=origin)
        return svc.view_of(signup)

    @post(
        "/{signup_id:int}/reject",
        operation_id="rejectSignupRequest",
        summary="Reject a request with a reason (the LAO is told by e-mail)",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409),
        **guarded(operator("platform_admin")),
    )
    async def reject(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        signup_id: SignupId,
        data: JSONBody[Rejection],
        db_session: NamedDependency[AsyncSession],
    ) -> svc.SignupView:
        signup = await svc.reject(
            db_session,
            settings,
            signup_id,
            data.reason.strip(),
            actor=actor,
            origin=origin,
        )
        return svc.view_of(signup)

    @post(
        "/{signup_id:int}/retry",
        operation_id="retrySignupProvisioning",
        summary="Provision a failed request again",
        status_code=202,
        responses=problem_responses(401, 403, 404, 409),
        **guarded(operator("platform_admin")),
    )
    async def retry(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        signup_id: SignupId,
        db_session: NamedDependency[AsyncSession],
    ) -> svc.SignupView:
        signup = await svc.retry(db_session, signup_id, actor=actor, origin=origin)
        return svc.view_of(signup)


def signup_handlers() -> list[Any]:
    return [SignupController, SignupAdminController]
