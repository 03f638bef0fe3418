"""The request path stays on the event loop: nothing a route runs is sent to a worker thread.

Litestar runs a plain-function guard, dependency or handler in a thread pool unless told not to;
one thread hop per request cost the payments bill read about a sixth of a worker's CPU (issue 11).
"""

from __future__ import annotations

import inspect

from litestar import Litestar
from litestar.di import Provide

from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory
from tests.support.demo_plugin import DEMO
from tests.support.routes import routes_of


async def test_no_route_runs_anything_in_a_thread(client_for: ClientFactory) -> None:
    async with client_for(plugins=(*REGISTRY, DEMO), listen=False) as http:
        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        threaded: list[str] = []
        checked = 0
        for surface in ("tenant", "operator", "any"):
            for method, template, _path, handler in routes_of(app, surface):
                checked += 1
                where = f"{method} {template}"
                if handler.has_sync_callable and handler.sync_to_thread is not False:
                    threaded.append(f"{where}: handler {handler.fn.__name__}")
                for guard in handler.resolve_guards():
                    if not inspect.iscoroutinefunction(guard):
                        threaded.append(f"{where}: guard {getattr(guard, '__qualname__', guard)}")
                for name, provider in handler.resolve_dependencies().items():
                    assert isinstance(provider, Provide)
                    if provider.has_sync_callable and provider.sync_to_thread is not False:
                        threaded.append(f"{where}: dependency {name}")
        assert checked > 100
        assert threaded == []
