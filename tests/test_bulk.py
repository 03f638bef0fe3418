"""Bulk provisioning from the DLA registry: resumable, safe to run twice at once, small limits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import create_engine
from localgov.platform.bulk import provision_from_registry
from localgov.platform.migrate import tenant_head
from localgov.platform.registry import registry
from tests.conftest import make_settings
from tests.support.tokens import TEST_SECRET

FIRST = sorted(registry())


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of its own: the registry's first LAOs are free there."""
    eng = create_engine(make_settings(fresh_database_url, db_pool_size=4))
    yield eng
    await eng.dispose()


async def catalog(engine: AsyncEngine) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT dla_code, slug, schema_revision FROM platform.tenants ORDER BY dla_code")
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def tenant_schemas(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname ~ '^lao_' ORDER BY 1"))
        return list(rows.scalars())


async def assert_provisioned_exactly(engine: AsyncEngine, codes: list[str]) -> None:
    """Each of ``codes`` once in the catalog, routable, with its schema at head; nothing else."""
    head = tenant_head()
    assert await catalog(engine) == [(c, f"lao-{c}", head) for c in codes]
    assert await tenant_schemas(engine) == [f"lao_{c}" for c in codes]
    async with engine.connect() as conn:
        for code in codes:
            version = await conn.execute(text(f'SELECT version_num FROM "lao_{code}".alembic_version'))
            assert list(version.scalars()) == [head]
            profile = await conn.execute(text(f'SELECT count(*) FROM "lao_{code}".profile'))
            assert profile.scalar_one() == 1


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")}
    env.update(
        LOCALGOV_DATABASE_URL=url, LOCALGOV_ENV="test", LOCALGOV_SECRET_KEY=TEST_SECRET, LOCALGOV_LOG_LEVEL="WARNING"
    )
    return env


def provision_command() -> list[str]:
    return [sys.executable, "-m", "localgov", "tenants", "provision", "--from-registry", "--concurrency", "2"]


async def test_small_limits(engine: AsyncEngine) -> None:
    report = await provision_from_registry(engine, limit=0)
    assert (report.created, report.skipped, report.failed) == (0, 0, [])
    assert await catalog(engine) == []

    report = await provision_from_registry(engine, limit=1, concurrency=4)
    assert (report.created, report.skipped, report.failed) == (1, 0, [])
    assert len(report.per_tenant) == 1
    assert report.quantile(0.5) == report.quantile(0.95) > 0

    report = await provision_from_registry(engine, limit=2, concurrency=1)
    assert (report.created, report.skipped, report.failed) == (2, 1, [])
    await assert_provisioned_exactly(engine, FIRST[:3])

    with pytest.raises(ValueError, match="limit"):
        await provision_from_registry(engine, limit=-1)


async def test_interrupted_run_is_finished_by_running_again(fresh_database_url: str, engine: AsyncEngine) -> None:
    # The real command, killed midway with transactions in flight (a crash, a lost machine).
    proc = await asyncio.create_subprocess_exec(
        *provision_command(), "--limit", "10", env=cli_env(fresh_database_url), stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(1200):
            await asyncio.sleep(0.05)
            async with engine.connect() as conn:
                done = (await conn.execute(text("SELECT count(*) FROM platform.tenants"))).scalar_one()
            if done >= 3 or proc.returncode is not None:
                break
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 30)
    # The server rolls the killed connections' transactions back once it sees them gone.
    for _ in range(200):
        async with engine.connect() as conn:
            others = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            if others.scalar_one() == 0:
                break
        await asyncio.sleep(0.05)

    rows = await catalog(engine)
    assert 3 <= len(rows) < 10
    # Nothing half done: every LAO in the catalog is provisioned, every schema has its LAO.
    await assert_provisioned_exactly(engine, [code for code, _, _ in rows])

    report = await provision_from_registry(engine, limit=10 - len(rows), concurrency=3)
    assert (report.created, report.skipped, report.failed) == (10 - len(rows), len(rows), [])
    await assert_provisioned_exactly(engine, FIRST[:10])


async def test_two_runs_at_once_create_each_lao_once(fresh_database_url: str) -> None:
    engines = [create_engine(make_settings(fresh_database_url, db_pool_size=3)) for _ in range(3)]
    gate = await engines[2].connect()
    try:
        # Hold every insert into the catalog until both runs are inserting: both have then read the
        # catalog (empty) and aim at the same six LAOs.
        await gate.execute(text("LOCK TABLE platform.tenants IN SHARE MODE"))  # held until the rollback
        runs = asyncio.gather(*(provision_from_registry(e, limit=6, concurrency=3) for e in engines[:2]))
        for _ in range(400):
            await asyncio.sleep(0.05)
            async with engines[2].connect() as conn:
                waiting = await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                )
                if waiting.scalar_one() >= 6:
                    break
        await gate.rollback()
        first, second = await runs
        # Both runs aimed at the same six LAOs: each was created by exactly one of them, and the
        # other saw it as already there (its insert waited for the first commit), not as a failure.
        assert first.created + second.created == 6
        assert first.raced + second.raced == 6
        assert first.failed == second.failed == []
        await assert_provisioned_exactly(engines[0], FIRST[:6])
    finally:
        await gate.close()
        for e in engines:
            await e.dispose()


def test_the_command_resumes_where_the_catalog_stands(fresh_database_url: str) -> None:
    env = cli_env(fresh_database_url)
    command = provision_command()
    outputs = []
    for _ in range(2):
        proc = subprocess.run(  # noqa: S603 - our own interpreter and command
            [*command, "--limit", "2"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert "registry: 2 provisioned, 0 already in the catalog, 0 failed" in outputs[0]
    assert "registry: 2 provisioned, 2 already in the catalog, 0 failed" in outputs[1]

    async def check() -> None:
        eng = create_engine(make_settings(fresh_database_url))
        try:
            await assert_provisioned_exactly(eng, FIRST[:4])
        finally:
            await eng.dispose()

    asyncio.run(check())


async def test_bulk_provisioning_with_a_service_creates_and_seeds_its_tables(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="unknown services: nope"):
        await provision_from_registry(engine, limit=1, services=["nope"])
    report = await provision_from_registry(engine, limit=2, concurrency=2, services=["payments"])
    assert (report.created, report.failed) == (2, [])
    await assert_provisioned_exactly(engine, FIRST[:2])
    async with engine.connect() as conn:
        for code in FIRST[:2]:
            tariffs = await conn.execute(text(f'SELECT count(*) FROM "lao_{code}".tariffs'))
            assert tariffs.scalar_one() == 3  # the payments plugin's seed, in each tenant's transaction
        rows = await conn.execute(text("SELECT enabled_services, service_revisions FROM platform.tenants"))
        assert {(tuple(e), tuple(s)) for e, s in rows} == {(("payments",), ("payments",))}
    # Without services, no service tables at all.
    await provision_from_registry(engine, limit=1)
    async with engine.connect() as conn:
        bare = await conn.execute(text("SELECT to_regclass(:t)"), {"t": f"lao_{FIRST[2]}.tariffs"})
        assert bare.scalar() is None


async def run_cli(url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *provision_command(), *args, env=cli_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_cli_provision_with_a_service(fresh_database_url: str, engine: AsyncEngine) -> None:
    code, _, err = await run_cli(fresh_database_url, "--limit", "1", "--service", "nope")
    assert code == 2
    assert "unknown services: nope" in err
    code, out, err = await run_cli(fresh_database_url, "--limit", "1", "--service", "payments")
    assert code == 0, err
    assert "registry: 1 provisioned" in out
    async with engine.connect() as conn:
        tariffs = await conn.execute(text(f'SELECT count(*) FROM "lao_{FIRST[0]}".tariffs'))
        assert tariffs.scalar_one() == 3
