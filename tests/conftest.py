"""Fixtures: one real PostgreSQL database per test run, migrated with the real migrations."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.kernel.db import create_engine
from localgov.kernel.plugins import ServicePlugin
from localgov.metadata import INSTALLATION
from localgov.platform.installation import install
from localgov.platform.migrate import upgrade_shared
from localgov.settings import Settings
from tests.support import tokens
from tests.support.database import admin_url, create_database, drop_database
from tests.support.demo_plugin import DEMO
from tests.support.dns_server import dns_server  # noqa: F401  (the fixture: a DNS server on loopback)
from tests.support.tokens import TEST_SECRET, install_test_key

#: Tests serve tenants at ``<slug>.localgov.test``; the operator at ``localgov.test``.
BASE = "localgov.test"


def host(slug: str) -> dict[str, str]:
    return {"Host": f"{slug}.{BASE}"}


async def _migrated_database(admin: str) -> str:
    url = await create_database(admin)
    engine = create_engine(Settings(database_url=url, env="test"))
    try:
        await upgrade_shared(engine)
        async with engine.begin() as conn:
            await install_test_key(conn)
    finally:
        await engine.dispose()
    return url


@pytest.fixture(scope="session")
def admin_database_url() -> str:
    return admin_url()


class _LaterDrops:
    """Drops the tests' own databases on a thread of its own while the next tests run.

    PostgreSQL 15's ``DROP DATABASE`` waits for a checkpoint it requests (seconds on a busy disk,
    measured 3 to 45 s here), which the test that used the database does not need to wait for.
    The databases queued meanwhile are dropped at once, on a connection each: their checkpoint
    requests then share checkpoints. Every database is dropped before the session ends
    (:meth:`finish`); a failed drop fails it.
    """

    def __init__(self, admin: str) -> None:
        self._admin = admin
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._errors: list[BaseException] = []
        self._thread: threading.Thread | None = None

    def drop(self, url: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
            self._thread.start()
        self._queue.put(url)

    def _run(self) -> None:
        finished = False
        while not finished:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get())
            finished = None in batch
            urls = [url for url in batch if url is not None]
            if urls:
                asyncio.run(self._drop_all(urls))

    async def _drop_all(self, urls: list[str]) -> None:
        results = await asyncio.gather(*(drop_database(self._admin, url) for url in urls), return_exceptions=True)
        self._errors.extend(r for r in results if isinstance(r, BaseException))  # reported by finish()

    def finish(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._errors:
            raise BaseExceptionGroup("test databases not dropped", self._errors)


@pytest.fixture(scope="session")
def _later_drops(admin_database_url: str) -> Iterator[_LaterDrops]:
    drops = _LaterDrops(admin_database_url)
    yield drops
    drops.finish()


@pytest.fixture(scope="session")
def database_url(admin_database_url: str, _later_drops: _LaterDrops) -> Iterator[str]:
    """The run's own database (each pytest-xdist worker's own), created and migrated once, dropped at the end."""
    url = asyncio.run(_migrated_database(admin_database_url))
    yield url
    _later_drops.drop(url)


@pytest.fixture
def fresh_database_url(admin_database_url: str, _later_drops: _LaterDrops) -> Iterator[str]:
    """A database of its own for a test that must see every tenant of its database."""
    url = asyncio.run(_migrated_database(admin_database_url))
    yield url
    _later_drops.drop(url)


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "env": "test",
        "base_domain": BASE,
        "secret_key": TEST_SECRET,
        "log_level": "WARNING",
        "db_pool_size": 5,
        "db_max_overflow": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(settings)
    yield eng
    await eng.dispose()


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_for(settings: Settings) -> ClientFactory:
    """Build an app (with the demo plugin by default) and a test client around its lifespan."""

    @asynccontextmanager
    async def factory(
        *,
        plugins: Sequence[ServicePlugin] = (DEMO,),
        settings_: Settings | None = None,
        engine: AsyncEngine | None = None,
        listen: bool = True,
    ) -> AsyncIterator[httpx.AsyncClient]:
        # The app runs in the test's own event loop (Litestar's AsyncTestClient would run its
        # lifespan in a portal thread, and an engine shared with the test would cross loops).
        app = create_app(settings_ or settings, plugins=plugins, engine=engine, listen_for_catalog_changes=listen)
        transport = httpx.ASGITransport(app=app)
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=f"http://{BASE}") as client:
            yield client

    return factory


#: Most workers ``-n auto`` starts (pytest-xdist, in ``addopts``): each has a database of its own, a
#: few connection pools and, in some tests, servers in subprocesses (a served app, a worker, Chromium,
#: Node) that want a core too; past four, the PostgreSQL server is the bottleneck on small machines.
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core this process may run on, at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def pytest_configure(config: pytest.Config) -> None:
    """The tests are a composition root too: the platform provisions the core tables and the registry."""
    install(INSTALLATION)


def pytest_collection_finish(session: pytest.Session) -> None:
    """From here on tests may mint tokens (see ``tests.support.tokens.COLLECTION_FINISHED``)."""
    tokens.COLLECTION_FINISHED = True
