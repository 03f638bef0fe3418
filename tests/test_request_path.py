"""The request path stays on the event loop: nothing a route runs is sent to a worker thread.

Litestar runs a plain-function guard, dependency or handler in a thread pool unless told not to;
one thread hop per request cost the payments bill read about a sixth of a worker's CPU (issue 11).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator

from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text

from localgov.kernel.db import (
    TenantConnection,
    create_engine,
    session_factory,
    session_for,
    tenant_reader,
    tenant_session,
)
from localgov.kernel.reads import fetch_one
from localgov.kernel.web import resolve_dependencies_in_order
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import ClientFactory
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
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


async def test_begin_carries_the_search_path_and_never_leaks_it(settings: Settings) -> None:
    """One round trip begins a session's transaction on its tenant; an unused note dies at checkin."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        tenant = await make_tenant(engine)
        factory = session_factory(engine)
        async with tenant_session(factory, tenant) as session:
            path = (await session.execute(text("SELECT current_setting('search_path')"))).scalar_one()
            raw = await (await session.connection()).get_raw_connection()
            assert isinstance(raw.driver_connection, TenantConnection)
        assert path == tenant.schema
        # A session that begins and runs nothing leaves the schema noted on its connection ...
        session = session_for(factory, tenant)
        await session.connection()
        await session.close()
        # ... and the next plain transaction on that same connection must not inherit it.
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT current_setting('search_path')"))).scalar_one() == "tenant_void"
        async with tenant_session(factory, None) as session:
            path = (await session.execute(text("SELECT current_setting('search_path')"))).scalar_one()
        assert path == "tenant_void"
        # The read path (no ORM session): the same one-round-trip begin, the same clean checkin.
        current_path = select(func.current_setting("search_path").label("path"))
        async with tenant_reader(engine, tenant) as reader:
            assert await fetch_one(reader, current_path) == {"path": tenant.schema}
        async with tenant_reader(engine, tenant):
            pass  # began, ran nothing
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT current_setting('search_path')"))).scalar_one() == "tenant_void"
    finally:
        await engine.dispose()


async def test_dependencies_run_on_the_request_task_cheap_ones_first(client_for: ClientFactory) -> None:
    """No task per dependency (Litestar's default for a batch of independent ones): the providers run
    on the handler's own task, the resource-holding generator after the plain ones."""
    seen: list[tuple[str, object]] = []

    async def plain() -> str:
        seen.append(("plain", asyncio.current_task()))
        return "p"

    async def other() -> str:
        seen.append(("plain", asyncio.current_task()))
        return "p"

    async def held() -> AsyncGenerator[str, None]:
        seen.append(("generator", asyncio.current_task()))
        yield "g"

    @get("/probe", dependencies={"a_held": Provide(held), "b_plain": Provide(plain), "c_plain": Provide(other)})
    async def probe(
        a_held: NamedDependency[str], b_plain: NamedDependency[str], c_plain: NamedDependency[str]
    ) -> dict[str, str]:
        seen.append(("handler", asyncio.current_task()))
        return {"v": a_held + b_plain + c_plain}

    resolve_dependencies_in_order()
    async with AsyncTestClient(Litestar(route_handlers=[probe])) as client:
        assert (await client.get("/probe")).json() == {"v": "gpp"}
    assert [name for name, _ in seen] == ["plain", "plain", "generator", "handler"]
    assert len({task for _, task in seen}) == 1
