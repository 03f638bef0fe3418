"""Server-rendered pages of the One Stop Service, for anyone on the LAO's host: the catalogue and
each published manual (printable), a ticket's slip (printable, with a QR) and the page its QR
opens, and the waiting room's display.

Thai first, English alongside; no script (the kernel's Content-Security-Policy allows none): the
display and the ticket page refresh themselves with ``<meta http-equiv="refresh">``. The pages
live under the plugin's router (``/v1/oss/pages/…``), so a tenant that has not enabled the
service answers 404 like its API. Their stylesheet (screen and print) is a file of this package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from functools import cache
from importlib import resources
from typing import Any

import segno
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Template

from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.pages import page
from localgov.kernel.ratelimit import RateLimited
from localgov.kernel.reads import ReadConnection
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK, thai_date
from localgov.kernel.validation import format_money
from localgov.services.oss import catalogue, counter
from localgov.services.oss.catalogue import ServiceNotFound, duration_text
from localgov.services.oss.catalogue_views import public_service, public_summary
from localgov.services.oss.counter import PointNotFound, TicketNotFound
from localgov.services.oss.counter_views import board_read, limit_public, public_ticket_read
from localgov.services.oss.params import PAGES, PointId, ServiceCodePath, TicketToken, ticket_follow_path
from localgov.settings import Settings

STYLESHEET = "static/oss.css"
#: The waiting room's display and a waiting ticket's page reload themselves this often (seconds).
DISPLAY_REFRESH_S = 10
TICKET_REFRESH_S = 30
#: The public catalogue may be indexed by search engines and cached briefly: it is published by law.
CATALOGUE_HEADERS = {"X-Robots-Tag": "index, follow", "Cache-Control": "public, max-age=300"}

STATUS_TEXT: dict[str, tuple[str, str]] = {
    "waiting": ("รอเรียกคิว", "Waiting"),
    "called": ("ถึงคิวของท่านแล้ว", "It is your turn"),
    "served": ("ให้บริการเรียบร้อยแล้ว", "Served"),
    "no_show": ("เรียกแล้วไม่พบผู้รับบริการ", "Called, no show"),
    "cancelled": ("ยกเลิกแล้ว", "Cancelled"),
}
CHANNEL_KIND: dict[str, tuple[str, str]] = {
    "counter": ("ติดต่อด้วยตนเอง", "In person"),
    "online": ("ออนไลน์", "Online"),
    "phone": ("โทรศัพท์", "Phone"),
    "mail": ("ไปรษณีย์", "Post"),
}


@cache
def _stylesheet() -> tuple[bytes, str]:
    body = resources.files("localgov.services.oss").joinpath(STYLESHEET).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:16]


def stylesheet_url() -> str:
    return f"/v1/oss/assets/oss.css?v={_stylesheet()[1]}"


def qr_svg(url: str) -> str:
    """The QR of ``url`` as inline SVG (sized by the stylesheet; no style attribute)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        out, kind="svg", scale=1, border=4, xmldecl=False, svgns=True, svgclass="qr", lineclass=None,
        omitsize=True, title="QR",
    )  # fmt: skip
    return out.getvalue().decode()


def _context(tenant: TenantInfo, **values: Any) -> dict[str, Any]:
    return {"lao_th": tenant.name_th, "lao_en": tenant.name_en, "oss_css": stylesheet_url(), **values}


def _local(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(BANGKOK) if moment is not None else None


def _message(tenant: TenantInfo, status: int, th: str, en: str, headers: dict[str, str] | None = None) -> Template:
    return page("oss/message.html", _context(tenant, title_th=th, title_en=en), status=status, headers=headers)


def _busy(tenant: TenantInfo, exc: RateLimited) -> Template:
    return _message(
        tenant, 429, "มีการเรียกดูจากเครื่องนี้มากเกินไป โปรดลองใหม่ภายหลัง",
        "Too many requests from this connection: please try again later", headers=exc.headers,
    )  # fmt: skip


class OssPagesController(Controller):
    path = PAGES
    include_in_schema = False

    @get("/services", **guarded(PUBLIC))  # the public catalogue, published by law
    async def catalogue_page(
        self, tenant: NamedDependency[TenantInfo], db_read: NamedDependency[ReadConnection]
    ) -> Template:
        items = [public_summary(row) for row in await catalogue.published_services(db_read)]
        return page("oss/catalogue.html", _context(tenant, items=items), headers=CATALOGUE_HEADERS)

    @get("/services/{code:str}", **guarded(PUBLIC))  # one published manual
    async def service_page(
        self, tenant: NamedDependency[TenantInfo], code: ServiceCodePath, db_read: NamedDependency[ReadConnection]
    ) -> Template:
        try:
            service = public_service(await catalogue.published_service(db_read, code), tenant)
        except ServiceNotFound:
            return _message(tenant, 404, "ไม่พบคู่มือบริการนี้", "No published manual has this address")
        manual = service.manual
        context = _context(
            tenant,
            service=service,
            m=manual,
            steps=[(step, *duration_text(step.duration)) for step in manual.steps],
            identity_docs=[d for d in manual.documents if d.group == "identity"],
            other_docs=[d for d in manual.documents if d.group == "other"],
            fees=[(fee, format_money(fee.amount) if fee.amount is not None else None) for fee in manual.fees],
            channel_kind=CHANNEL_KIND,
            published_en=service.published_at.astimezone(BANGKOK).date().isoformat(),
        )
        return page("oss/service.html", context, headers=CATALOGUE_HEADERS)

    @get("/queue/{token:str}", **guarded(PUBLIC))  # the page a slip's QR opens; the code is the credential
    async def ticket_page(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        token: TicketToken,
        db_read: NamedDependency[ReadConnection],
    ) -> Template:
        try:
            await limit_public(request, tenant, origin)
            row, estimate = await counter.public_ticket(db_read, token, dt.datetime.now(dt.UTC))
        except RateLimited as exc:
            return _busy(tenant, exc)
        except TicketNotFound:
            return _message(tenant, 404, "ไม่พบบัตรคิวนี้", "No queue ticket has this code")
        ticket = public_ticket_read(row, estimate)
        context = _context(
            tenant,
            t=ticket,
            status=STATUS_TEXT[ticket.status],
            issued=_local(ticket.issued_at),
            day_th=thai_date(ticket.service_day, digits="arabic"),
            refresh=TICKET_REFRESH_S if ticket.status in ("waiting", "called") else None,
        )
        return page("oss/ticket.html", context)

    @get("/queue/{token:str}/slip", **guarded(PUBLIC))  # the printable slip of the ticket
    async def slip_page(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        token: TicketToken,
        db_read: NamedDependency[ReadConnection],
    ) -> Template:
        try:
            await limit_public(request, tenant, origin)
            row, estimate = await counter.public_ticket(db_read, token, dt.datetime.now(dt.UTC))
        except RateLimited as exc:
            return _busy(tenant, exc)
        except TicketNotFound:
            return _message(tenant, 404, "ไม่พบบัตรคิวนี้", "No queue ticket has this code")
        ticket = public_ticket_read(row, estimate)
        follow_url = settings.public_url(ticket_follow_path(token), slug=tenant.slug)
        context = _context(
            tenant,
            t=ticket,
            issued=_local(ticket.issued_at),
            day_th=thai_date(ticket.service_day, digits="arabic"),
            follow_url=follow_url,
            qr=qr_svg(follow_url),
        )
        return page("oss/slip.html", context)

    @get("/points/{point_id:uuid}/display", **guarded(PUBLIC))  # the waiting room's screen: numbers only
    async def display_page(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        point_id: PointId,
        db_read: NamedDependency[ReadConnection],
    ) -> Template:
        now = dt.datetime.now(dt.UTC)
        day = now.astimezone(BANGKOK).date()
        try:
            await limit_public(request, tenant, origin)
            board = board_read(await counter.board(db_read, point_id, day), day)
        except RateLimited as exc:
            return _busy(tenant, exc)
        except PointNotFound:
            return _message(tenant, 404, "ไม่พบจุดบริการนี้", "No such service point")
        context = _context(
            tenant,
            b=board,
            now=now.astimezone(BANGKOK),
            day_th=thai_date(day, digits="arabic"),
            refresh=DISPLAY_REFRESH_S,
        )
        return page("oss/display.html", context)


class OssAssetsController(Controller):
    path = "/assets"
    include_in_schema = False

    @get("/oss.css", **guarded(PUBLIC))  # a static stylesheet, no data
    async def stylesheet(self) -> Response[bytes]:
        body, _ = _stylesheet()
        return Response(
            content=body,
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
