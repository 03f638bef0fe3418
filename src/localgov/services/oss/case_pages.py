"""The server-rendered page where anyone holding a receipt follows a request: the tracking number
(the receipt's QR fills it in) and the verification code typed from the paper, then where the
request stands. Thai first, English alongside; no script.

The code is sent in a POST form, never in the address: it stays out of logs, history and
``Referer`` (the QR carries the number only).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template

from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.pages import page
from localgov.kernel.ratelimit import RateLimited
from localgov.kernel.reads import ReadConnection
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK, thai_date, thai_datetime
from localgov.services.oss.cases import TrackingNotFound
from localgov.services.oss.citizen_views import track
from localgov.services.oss.page_views import stylesheet_url
from localgov.services.oss.params import PAGES
from localgov.services.oss.schemas import PublicCaseStatus, TrackQuery
from localgov.settings import Settings

NumberQuery = Annotated[
    str | None, QueryParameter(max_length=40, description="The tracking number (the receipt's QR fills it in)")
]
_MAX_KEPT = 40


def _text(value: Any) -> str:
    return value.strip()[:_MAX_KEPT] if isinstance(value, str) else ""


def _form(tenant: TenantInfo, number: str, *, error: tuple[str, str] | None = None, status: int = 200,
          headers: dict[str, str] | None = None) -> Template:  # fmt: skip
    context = {"lao_th": tenant.name_th, "lao_en": tenant.name_en, "oss_css": stylesheet_url(), "number": number,
               "error": error}  # fmt: skip
    return page("oss/track.html", context, status=status, headers=headers)


def _day(moment: dt.datetime | None) -> str | None:
    """The Bangkok day a deadline (the instant a day ends) belongs to."""
    if moment is None:
        return None
    return thai_date((moment - dt.timedelta(seconds=1)).astimezone(BANGKOK).date(), digits="arabic")


class TrackPagesController(Controller):
    path = PAGES
    include_in_schema = False

    @get("/track", **guarded(PUBLIC))  # a form; nothing is looked up
    async def form(self, tenant: NamedDependency[TenantInfo], number: NumberQuery = None) -> Template:
        return _form(tenant, _text(number))

    @post("/track", status_code=200, **guarded(PUBLIC))  # the verification code from the receipt is the credential
    async def result(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        db_read: NamedDependency[ReadConnection],
    ) -> Template:
        form = await request.form()
        number, code = _text(form.get("tracking_number")), _text(form.get("verification_code"))
        if not number or not code:
            return _form(
                tenant, number, status=400,
                error=("กรอกเลขที่คำขอและรหัสตรวจสอบ", "Enter the tracking number and the verification code"),
            )  # fmt: skip
        try:
            status: PublicCaseStatus = await track(
                request, tenant, origin, settings, db_read, TrackQuery(tracking_number=number, verification_code=code)
            )
        except RateLimited as exc:
            return _form(
                tenant, number, status=429, headers=exc.headers,
                error=("มีการตรวจสอบจากเครื่องนี้มากเกินไป โปรดลองใหม่ภายหลัง", "Too many attempts: please try again later"),
            )  # fmt: skip
        except TrackingNotFound:
            return _form(
                tenant, number, status=404,
                error=("ไม่พบคำขอที่มีเลขที่และรหัสตรวจสอบนี้", "No request has this tracking number and verification code"),
            )  # fmt: skip
        context = {
            "lao_th": tenant.name_th,
            "lao_en": tenant.name_en,
            "oss_css": stylesheet_url(),
            "s": status,
            "received_th": thai_datetime(status.received_at),
            "due_th": _day(status.due_at),
            "steps": [(thai_datetime(step.at), step) for step in status.steps],
            "deadline_th": thai_date(status.deficiency.deadline, digits="arabic") if status.deficiency else None,
        }
        return page("oss/track_result.html", context)
