"""The routes of an application, enumerated for tests that walk all of them."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from localgov.kernel.auth.guards import AUTH_OPT, AuthPolicy, Grants

_SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "path": "x", "date": "2026-01-01"}


def routes_of(app: Litestar, surface: str = "tenant") -> list[tuple[str, str, str, HTTPRouteHandler]]:
    """``(method, template, example path, handler)`` of every route served on ``surface``."""
    out: list[tuple[str, str, str, HTTPRouteHandler]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            methods = set(getattr(handler, "http_methods", ())) - {"OPTIONS", "HEAD"}
            if not methods or not isinstance(handler, HTTPRouteHandler):
                continue
            handler.resolve_opts()
            if handler.opt.get("surface", "tenant") != surface:
                continue
            template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            example = re.sub(r"\{\w+:(\w+)\}", lambda m: _SAMPLES[m.group(1)], route.path)
            out.extend((method, template, example, handler) for method in sorted(methods))
    return out


def tenant_routes(app: Litestar) -> list[tuple[str, str, str]]:
    """``(method, template, example path)`` of every tenant-surface route of the app."""
    return [(method, template, path) for method, template, path, _ in routes_of(app, "tenant")]


def policy_of(handler: HTTPRouteHandler) -> AuthPolicy:
    policy = handler.opt.get(AUTH_OPT)
    assert isinstance(policy, AuthPolicy), handler
    return policy


def grants_of(app: Litestar) -> Grants:
    """What each staff role grants in ``app`` (resolves the routes guarded by a permission)."""
    grants = app.state.grants
    assert isinstance(grants, Grants)
    return grants
