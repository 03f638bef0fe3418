"""Server-rendered HTML pages: Jinja2 templates shipped in the package, strict security headers.

Pages use no script at all, so the Content-Security-Policy allows none; the one stylesheet is a
file of the package served at ``/assets/site.css`` (inline styles are refused too). Pages may carry
one-time tokens in their URL (links from e-mails): ``Referrer-Policy: no-referrer`` keeps the URL
from leaking to any other page or server, and ``Cache-Control: no-store`` keeps it out of caches.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar import Controller, Response, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.thai import english_datetime, thai_datetime

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Sent with every page.
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
STYLESHEET = "static/site.css"


@cache
def _stylesheet() -> tuple[bytes, str]:
    """The stylesheet and a short digest of it (read once per process, on first use)."""
    body = resources.files("localgov").joinpath(STYLESHEET).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:16]


def asset_url() -> str:
    """The stylesheet's URL; the digest changes with its content, so browsers may cache it long."""
    return f"/assets/site.css?v={_stylesheet()[1]}"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Templates from ``localgov/templates`` (works from a checkout, an editable install or a wheel)."""
    environment = Environment(
        loader=PackageLoader("localgov", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["asset_url"] = asset_url
    environment.filters["when_th"] = thai_datetime
    environment.filters["when_en"] = english_datetime
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def page(name: str, context: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> Template:
    """A rendered page with the security headers."""
    return Template(
        template_name=name, context=context, status_code=status, headers={**PAGE_HEADERS, **(headers or {})}
    )


class AssetsController(Controller):
    path = "/assets"
    # The same file on every host: tenant pages will use it too.
    opt = {"surface": "any"}

    @get("/site.css", include_in_schema=False, **guarded(PUBLIC))  # a static stylesheet, no data
    async def stylesheet(self) -> Response[bytes]:
        body, _ = _stylesheet()
        return Response(
            content=body,
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
