"""Test databases: on the server named by ``LOCALGOV_TEST_DATABASE_URL``, else an embedded one."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ENV_VAR = "LOCALGOV_TEST_DATABASE_URL"
_embedded: dict[str, object] = {}


def admin_url() -> str:
    """URL of a database on the test server from which others can be created."""
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    if "server" not in _embedded:
        import pgserver

        _embedded["server"] = pgserver.get_server(str(_embedded_folder()), cleanup_mode="delete")
    server = _embedded["server"]
    uri: str = server.get_uri()  # type: ignore[attr-defined]
    return uri.replace("postgresql://postgres:@", "postgresql://postgres@")


def _embedded_folder() -> Path:
    """The embedded server's data folder: the run's own; under pytest-xdist, one for all its workers.

    pgserver shares a data folder between processes (an interprocess lock around start-up, a list
    of the processes using it): the first worker starts the server, the others connect to it, the
    last one to finish stops it and deletes the folder.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return Path(tempfile.mkdtemp(prefix="localgov-test-pg-"))
    folder = Path(tempfile.gettempdir()) / f"localgov-test-pg-{run}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def database_url(admin: str, name: str) -> str:
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


#: Admin URLs of Citus workers (comma-separated): the test server is then a Citus coordinator and
#: every test database is made a Citus database on all nodes (tests/test_citus.py runs the
#: isolation suite this way).
CITUS_WORKERS_VAR = "LOCALGOV_TEST_CITUS_WORKERS"


def _citus_workers() -> list[str]:
    return [u for u in os.environ.get(CITUS_WORKERS_VAR, "").split(",") if u]


async def create_database(admin: str) -> str:
    name = f"localgov_test_{uuid.uuid4().hex[:12]}"
    workers = _citus_workers()
    for server in [admin, *workers]:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            )
        finally:
            await conn.close()
    if workers:
        from tests.support.citus import make_citus_database

        await make_citus_database(database_url(admin, name), [database_url(w, name) for w in workers])
    return database_url(admin, name)


async def drop_database(admin: str, url: str) -> None:
    name = make_url(url).database
    for server in [admin, *_citus_workers()]:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
