"""The interactive API reference of each surface: Swagger UI at ``/reference``, from the package.

The page loads the document of the host it is opened on (``/schema/openapi.json``: the LAO's
operations on an LAO's host, the operator's on the base domain), so "try it out" calls that host.
Every asset is a file of the package: Swagger UI's bundle and stylesheet (vendored into the repository by
``scripts/vendor_assets.py``, pinned by SHA-512, Apache-2.0) and our initialiser ``static/reference.js``. The page's
Content-Security-Policy allows scripts, styles and fetches from the host itself only (no inline
script, no CDN); Swagger UI needs ``data:`` images for its icons.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import PathParameter

from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.errors import DomainError

REFERENCE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": REFERENCE_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_ASSETS = {
    "swagger-ui-bundle.js": ("static/vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("static/vendor/swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
    "reference.js": ("static/reference.js", "text/javascript; charset=utf-8"),
    "LICENSE": ("static/vendor/swagger-ui/LICENSE", "text/plain; charset=utf-8"),
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>localgov API reference</title>
<link rel="stylesheet" href="/reference/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/reference/assets/swagger-ui-bundle.js"></script>
<script src="/reference/assets/reference.js"></script>
</body>
</html>
"""


class ReferenceAssetsMissing(DomainError):
    code = "reference_assets_missing"
    status = 503
    title = "The API reference's assets were not vendored into this build (scripts/vendor_assets.py)"


@cache
def _asset(name: str) -> bytes | None:
    path, _ = _ASSETS[name]
    file = resources.files("localgov").joinpath(path)
    return file.read_bytes() if file.is_file() else None


class ReferenceController(Controller):
    path = "/reference"
    opt = {"surface": "any"}
    include_in_schema = False

    @get("/", **guarded(PUBLIC))  # a static page: the document it shows is fetched by the browser
    async def page(self) -> Response[str]:
        return Response(PAGE, media_type="text/html; charset=utf-8", headers={**_HEADERS, "Cache-Control": "no-cache"})

    @get("/assets/{name:str}", **guarded(PUBLIC))
    async def asset(self, name: Annotated[str, PathParameter(max_length=40)]) -> Response[bytes]:
        if name not in _ASSETS:
            from localgov.kernel.errors import NotFound

            raise NotFound(data={"asset": name[:100]})
        body = _asset(name)
        if body is None:
            raise ReferenceAssetsMissing()
        return Response(
            body,
            media_type=_ASSETS[name][1],
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )
