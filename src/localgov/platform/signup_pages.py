"""The signup web pages on the operator host: the form, the e-mailed links, the status page.

Server-rendered (Jinja2), Thai first with English alongside, no script. They call the same service
as the JSON API (:mod:`localgov.platform.signup`) under the same per-address rate limits, and show
its refusals as messages next to the fields they concern.

The verification link opens a page with a button: the request is verified only by the POST it
sends, so a mail scanner that fetches every link of a message does not spend the token. Every
call of the service runs in a savepoint, so a refusal leaves nothing of the attempt behind.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.errors import DomainError
from localgov.kernel.pages import page
from localgov.kernel.ratelimit import RateLimited
from localgov.platform import signup as svc
from localgov.platform.registry import lookup
from localgov.platform.signup_views import limit_link, limit_submit
from localgov.settings import Settings

#: The form's text fields, in the order of the page.
TEXT_FIELDS = ("dla_code", "slug", "plan_code", "contact_name", "contact_position", "contact_email", "contact_phone")
#: Which field a refusal of the whole request is about.
_FIELD_OF: dict[type[DomainError], str] = {
    svc.UnknownDlaCode: "dla_code",
    svc.DlaCodeRegistered: "dla_code",
    svc.DlaCodePending: "dla_code",
    svc.SlugReserved: "slug",
    svc.SlugTaken: "slug",
}
#: Every refusal of a submission, shown next to its field.
_REFUSALS: tuple[type[DomainError], ...] = (svc.SignupInvalid, *_FIELD_OF)
_MAX_KEPT = 300  # longer input is cut when shown again (every field's limit is far below)
TokenQuery = Annotated[str | None, QueryParameter(description="The token of the e-mailed link")]


class Message(NamedTuple):
    """One message in both languages."""

    th: str
    en: str


def _title_message(error: DomainError) -> Message:
    """The service's titles read ``Thai / English``."""
    th, sep, en = error.title.partition(" / ")
    return Message(th, en) if sep else Message(error.title, error.title)


def _rate_limited_message(error: RateLimited) -> Message:
    wait = int((error.data or {}).get("retry_after_s", 60))
    minutes = max(1, (wait + 59) // 60)
    return Message(
        f"มีการส่งคำขอจากเครื่องนี้มากเกินไป กรุณาลองใหม่ในอีก {minutes} นาที",
        f"Too many attempts from this connection; try again in {minutes} minute{'s' if minutes > 1 else ''}.",
    )


def _field_errors(error: DomainError) -> dict[str, Message]:
    if isinstance(error, svc.SignupInvalid):
        out: dict[str, Message] = {}
        for item in error.errors or []:
            out.setdefault(item.key, Message(item.message_th or item.message, item.message))
        return out
    return {_FIELD_OF[type(error)]: _title_message(error)}


def _in_form_order(errors: dict[str, Message]) -> dict[str, Message]:
    order = (*TEXT_FIELDS, "accept_terms")
    return {field: errors[field] for field in sorted(errors, key=lambda f: order.index(f) if f in order else 99)}


async def _form_page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    *,
    values: dict[str, Any],
    errors: dict[str, Message] | None = None,
    form_error: Message | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    settings = request.app.state.settings
    plans = [{"code": p.code, "name_th": p.name_th, "name_en": p.name_en} for p in await svc.open_plans(session)]
    return page(
        "signup/form.html",
        {
            "values": values,
            "errors": _in_form_order(errors or {}),
            "form_error": form_error,
            "plans": plans,
            "base_domain": settings.base_domain,
            "terms_version": settings.terms_version,
        },
        status=status,
        headers=headers,
    )


def _link_problem(error: DomainError) -> Template:
    """The page of a link that cannot be used: invalid or used (404), expired (410), too many tries (429)."""
    if isinstance(error, RateLimited):
        return page(
            "signup/problem.html",
            {"kind": "rate_limited", "message": _rate_limited_message(error)},
            status=429,
            headers=error.headers,
        )
    kind = "expired" if isinstance(error, svc.LinkExpired) else "invalid"
    return page("signup/problem.html", {"kind": kind, "message": _title_message(error)}, status=error.status)


def _text(value: Any) -> str:
    return value[:_MAX_KEPT] if isinstance(value, str) else ""


class SignupPagesController(Controller):
    path = "/signup"
    opt = {"surface": "operator"}
    include_in_schema = False

    @get("/", **guarded(PUBLIC))  # the LAO has no account yet; the page shows only the open plans
    async def form(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        values: dict[str, Any] = dict.fromkeys(TEXT_FIELDS, "")
        values["accept_terms"] = False
        return await _form_page(request, db_session, values=values)

    @post("/", status_code=200, **guarded(PUBLIC))  # no account yet; rate limited per address like the API
    async def submit(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        form = await request.form()
        values: dict[str, Any] = {name: _text(form.get(name)) for name in TEXT_FIELDS}
        values["accept_terms"] = form.get("accept_terms") == "yes"
        try:
            await limit_submit(request)
        except RateLimited as exc:
            return await _form_page(
                request,
                db_session,
                values=values,
                form_error=_rate_limited_message(exc),
                status=429,
                headers=exc.headers,
            )
        data = svc.SignupForm(**{name: values[name] for name in TEXT_FIELDS}, accept_terms=values["accept_terms"])
        try:
            async with db_session.begin_nested():
                submitted = await svc.submit(db_session, settings, data, origin=origin)
        except _REFUSALS as exc:
            return await _form_page(request, db_session, values=values, errors=_field_errors(exc), status=exc.status)
        entry = lookup(submitted.request.dla_code)
        return page(
            "signup/submitted.html",
            {
                "signup": submitted.request,
                "name_th": svc.full_name_th(entry) if entry else submitted.request.name_th,
                "status_url": submitted.status_url,
                "expires_at": submitted.verify_expires_at,
                "base_domain": settings.base_domain,
            },
        )

    @get("/verify", **guarded(PUBLIC))  # only shows a button; the token it carries is checked by the POST
    async def verify_page(self, token: TokenQuery = None) -> Template:
        if not token or len(token) > 200:
            return _link_problem(svc.InvalidLink())
        return page("signup/verify.html", {"token": token})

    @post("/verify", status_code=200, **guarded(PUBLIC))  # the one-time token in the form is the credential
    async def verify(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        token = _text((await request.form()).get("token"))
        try:
            await limit_link(request)
            async with db_session.begin_nested():
                signup = await svc.verify(db_session, settings, token, origin=origin)
                status = svc.public_status_of(signup, settings)
        except (RateLimited, svc.InvalidLink, svc.LinkExpired) as exc:
            return _link_problem(exc)
        return page("signup/verified.html", {"status": status})

    @get("/status", **guarded(PUBLIC))  # the status token in the link is the credential
    async def status(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        token: TokenQuery = None,
    ) -> Template:
        try:
            await limit_link(request)
            async with db_session.begin_nested():
                status = await svc.public_status(db_session, settings, token or "")
        except (RateLimited, svc.InvalidLink) as exc:
            return _link_problem(exc)
        return page("signup/status.html", {"status": status, "base_domain": settings.base_domain})


def signup_page_handlers() -> list[Any]:
    return [SignupPagesController]
