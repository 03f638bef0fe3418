"""localgov on a real Citus cluster: a coordinator and two workers started for this module.

Deselected by default (marker ``citus``); ``.ci/run`` runs it as a step of its own
(``pytest -m citus``). It installs Citus from ``../shared/citus`` when missing (see
tests/support/citus.py), starts the nodes under a temporary folder on ports of their own and
stops them at the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.cli import _cluster_move, _cluster_nodes, _migrate
from localgov.kernel.db import create_engine
from localgov.platform import citus
from localgov.platform.bulk import provision_from_registry
from localgov.platform.catalog import CHANNEL, Catalog
from localgov.platform.installation import installed
from localgov.platform.migrate import migrate_schema, migrate_tenants
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import BASE, host, make_settings
from tests.support.citus import CitusCluster, start_cluster
from tests.support.database import CITUS_WORKERS_VAR
from tests.support.factories import make_tenant
from tests.support.lifecycle import refresh_catalog
from tests.support.tokens import install_test_key
from tests.test_payments_bank import FINANCE, deliver, notice, open_bills, setup_lao, staff_headers

pytestmark = pytest.mark.citus

TENANTS = 50


@pytest.fixture(scope="module")
def cluster() -> Iterator[CitusCluster]:
    nodes = start_cluster(workers=2)
    try:
        asyncio.run(nodes.setup())
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def citus_settings(cluster: CitusCluster) -> Settings:
    return make_settings(cluster.coordinator_url, database_kind="citus", db_pool_size=4)


@pytest.fixture
async def citus_engine(citus_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(citus_settings)
    yield engine
    await engine.dispose()


@asynccontextmanager
async def serving(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, plugins=REGISTRY, engine=engine, listen_for_catalog_changes=True)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{BASE}") as c,
    ):
        yield c


async def distributed_schemas(engine: AsyncEngine) -> dict[str, tuple[str, int]]:
    async with engine.connect() as conn:
        return await citus.schema_placements(conn)


async def shared_distributed(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return await citus.check_shared_local(conn)


async def shard_layout(engine: AsyncEngine) -> dict[str, tuple[int, int, int, int, tuple[int, ...]]]:
    """Per tenant schema on the coordinator: (tables, of them single-shard tables colocated with
    the schema's colocation group, shards, shards of other colocation groups, worker groups
    holding its shards)."""
    async with engine.connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT n.nspname, count(*) AS tables, count(*) FILTER (WHERE p.partmethod = 'n'"
                    "  AND p.partkey IS NULL AND p.colocationid = ds.colocationid) AS colocated"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " LEFT JOIN pg_dist_schema ds ON ds.schemaid = n.oid"
                    " LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid"
                    " WHERE n.nspname LIKE 'lao\\_%' AND c.relkind = 'r' GROUP BY n.nspname"
                )
            )
        ).all()
        shards = (
            await conn.execute(
                text(
                    "SELECT n.nspname, count(*) AS shards,"
                    " count(*) FILTER (WHERE p.colocationid <> ds.colocationid) AS foreign_group,"
                    " array_agg(DISTINCT pl.groupid ORDER BY pl.groupid) AS groups"
                    " FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " JOIN pg_dist_schema ds ON ds.schemaid = n.oid"
                    " JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid"
                    " JOIN pg_dist_placement pl ON pl.shardid = sh.shardid"
                    " WHERE n.nspname LIKE 'lao\\_%' GROUP BY n.nspname"
                )
            )
        ).all()
    placed = {r.nspname: (int(r.shards), int(r.foreign_group), tuple(r.groups)) for r in shards}
    return {r.nspname: (int(r.tables), int(r.colocated), *placed.get(r.nspname, (0, 0, ()))) for r in tables}


def assert_whole_on_one_worker(layout: dict[str, tuple[int, int, int, int, tuple[int, ...]]], schema: str) -> int:
    """Every table of ``schema`` a single-shard table of its distributed schema's colocation group,
    one shard each, all on one worker (never the coordinator, group 0); returns that group."""
    tables, colocated, shards, foreign, groups = layout[schema]
    assert tables > 0, schema
    assert (colocated, shards, foreign) == (tables, tables, 0), (schema, layout[schema])
    (group,) = groups
    assert group != 0, (schema, groups)
    return group


def test_the_isolation_suite_passes_on_the_cluster(cluster: CitusCluster) -> None:
    """tests/test_isolation.py, unchanged, with its databases made Citus databases on all nodes."""
    env = {
        **os.environ,
        "LOCALGOV_TEST_DATABASE_URL": cluster.url(cluster.ports[0], "postgres"),
        CITUS_WORKERS_VAR: ",".join(cluster.url(p, "postgres") for p in cluster.worker_ports),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_isolation.py"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


async def test_localgov_on_a_citus_cluster(
    cluster: CitusCluster, citus_settings: Settings, citus_engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = citus_engine
    # 0. an earlier run's damage: the shared schemas created while the database distributes every
    #    new schema (as the issue saw); migrate makes them local again.
    damage = await asyncpg.connect(cluster.coordinator_url)
    try:
        await damage.execute("CREATE SCHEMA platform; CREATE SCHEMA tenant_void")
        assert await damage.fetchval("SELECT count(*) FROM pg_dist_schema") == 2
    finally:
        await damage.close()
    # 1. migrate, twice: the shared schemas stay on the coordinator although the database
    #    distributes every new schema by default (set in CitusCluster.setup).
    assert await _migrate(citus_settings, check=False, processes=1) == 0
    assert await shared_distributed(engine) == []
    assert await _migrate(citus_settings, check=False, processes=1) == 0
    assert await shared_distributed(engine) == []
    async with engine.begin() as conn:
        await install_test_key(conn)
        # Every shared table is a local table of the coordinator (none distributed, none reference).
        assert (await conn.execute(text("SELECT count(*) FROM pg_dist_partition"))).scalar() == 0

    # 2. two tenants with payments and one with every service (the test factories take registry
    #    codes), then provisioning from the registry: each schema distributed, whole on one worker.
    lao_a = await setup_lao(engine)
    lao_b = await setup_lao(engine)
    every = sorted(p.slug for p in installed().plugins if p.migrations is not None)
    full = await make_tenant(engine, services=every)  # a tenant with every service
    ours = {lao_a.tenant.schema, lao_b.tenant.schema, full.schema}
    report = await provision_from_registry(engine, limit=TENANTS, concurrency=2)
    assert (report.created, report.failed) == (TENANTS, [])
    placed = await distributed_schemas(engine)
    assert len(placed) == TENANTS + len(ours)
    workers = {(h, p) for h, p in placed.values()}
    assert workers == {("127.0.0.1", port) for port in cluster.worker_ports}  # both workers used
    # Provisioning sends the DDL in a few multi-statement texts (citus_batches): every table of
    # every schema is still a single-shard table of the schema's colocation group, on one worker.
    layout = await shard_layout(engine)
    assert set(layout) == set(placed)
    groups = {schema: assert_whole_on_one_worker(layout, schema) for schema in placed}
    assert len(set(groups.values())) == 2
    core_tables = {t.name for t in installed().core_tables} | {"alembic_version"}
    registry_schemas = [s for s in placed if s not in ours]
    assert {layout[s][0] for s in registry_schemas} == {len(core_tables)}
    # The tenant with every service: the tables of each history, batched the same way, all of
    # them in its schema's group on one worker; that worker holds a shard of each, the other none.
    expected = core_tables | {t.name for p in installed().plugins if p.slug in every for t in p.tables}
    expected |= {f"alembic_version_{slug}" for slug in every}
    assert layout[full.schema][0] == len(expected)
    holder = placed[full.schema][1]
    for port in cluster.worker_ports:
        on_node = await cluster.shard_tables(port, full.schema)
        assert on_node == (expected if port == holder else set()), port

    # 3. a no-op migrate changes nothing and registers nothing.
    report_again = await migrate_tenants(engine, citus_settings.database_url, processes=1)
    assert (report_again.total, report_again.behind) == (TENANTS + len(ours), [])
    assert await shared_distributed(engine) == []

    # 4. a payment through the bank webhook, its receipt, outbox delivered.
    (bill,) = await open_bills(engine, lao_a.tenant)
    (bill_b,) = await open_bills(engine, lao_b.tenant)
    async with serving(citus_settings, engine) as client:
        shown = await client.get("/v1/tenant", headers=host(lao_a.tenant.slug))
        assert shown.status_code == 200, shown.text
        assert shown.json()["dla_code"] == lao_a.tenant.dla_code
        paid = await deliver(client, lao_a.tenant, lao_a.secret, notice(lao_a, bill.reference, "80.00"))
        assert paid.status_code == 200, paid.text
        receipt = paid.json()["receipt"]
        assert (receipt["book_no"], receipt["receipt_no"]) == (1, 1)
        got = await client.get(f"/v1/payments/receipts/{receipt['id']}", headers=staff_headers(lao_a.tenant, FINANCE))
        assert got.status_code == 200, got.text
        # Isolation through the coordinator: B's staff, B's host, A's ids -> 404; A's own -> 200.
        for path in (f"/v1/payments/receipts/{receipt['id']}", f"/v1/payments/bills/{bill.id}"):
            other = await client.get(path, headers=staff_headers(lao_b.tenant, FINANCE))
            assert other.status_code == 404, (path, other.text)
        own_bill = await client.get(f"/v1/payments/bills/{bill_b.id}", headers=staff_headers(lao_b.tenant, FINANCE))
        assert own_bill.status_code == 200, own_bill.text
        assert (
            await client.get(f"/v1/payments/receipts/{receipt['id']}", headers=host(lao_a.tenant.slug))
        ).status_code == 401
        listed_b = await client.get("/v1/payments/receipts", headers=staff_headers(lao_b.tenant, FINANCE))
        assert listed_b.json()["items"] == []

        # The outbox (a coordinator table) delivered by the worker's own loop.
        catalog = Catalog(citus_settings.base_domain)
        await catalog.load(engine)
        worker = Worker(citus_settings, REGISTRY)
        from localgov.kernel.db import session_factory

        async with engine.begin() as conn:
            await conn.execute(text("UPDATE platform.outbox SET available_at = now() WHERE status = 'pending'"))
        for _ in range(20):
            if await worker.tick(session_factory(engine), catalog) == 0:
                break
        async with engine.connect() as conn:
            pending = (
                await conn.execute(
                    text("SELECT count(*) FROM platform.outbox WHERE status = 'pending' AND available_at <= now()")
                )
            ).scalar()
            delivered = (
                await conn.execute(text("SELECT count(*) FROM platform.outbox WHERE status = 'delivered'"))
            ).scalar()
        assert pending == 0
        assert delivered

        # 5. a service enabled later on a registry tenant: its tables created on that tenant's worker.
        later = next(t for t in catalog.all() if t.slug.startswith("lao-") and "payments" not in t.enabled_services)
        # LISTEN/NOTIFY through the coordinator: the catalog trigger's notification arrives.
        listener = await asyncpg.connect(cluster.coordinator_url)
        heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await listener.add_listener(CHANNEL, lambda *args: heard.done() or heard.set_result(str(args[3])))
        try:
            enabled = await client.put("/v1/tenant/services/payments", headers=staff_headers(later, ["tenant_admin"]))
            assert enabled.status_code == 200, enabled.text
            assert await asyncio.wait_for(heard, 10) in {str(later.id), "*"}
        finally:
            await listener.close()
        await refresh_catalog(client, engine)
        bills = await client.get("/v1/payments/bills", headers=staff_headers(later, FINANCE))
        assert bills.status_code == 200, bills.text
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["cluster"] == "ok"

    # 6. a per-service history applied per schema on its worker: payments one step down, then
    #    ``migrate`` brings it back to head through Alembic on the distributed schema.
    read_version = text(f"SELECT version_num FROM {later.schema}.alembic_version_payments")
    async with engine.connect() as conn:
        version = (await conn.execute(read_version)).scalar()
    down = await migrate_schema(engine, later.schema, history="payments", target="-1", down=True)
    assert down.ok, down.error
    up = await migrate_tenants(engine, citus_settings.database_url, processes=1)
    assert [r.schema for r in up.results] == [later.schema]
    assert not up.failed
    async with engine.connect() as conn:
        assert (await conn.execute(read_version)).scalar() == version

    # 7. every tenant's rows live on one worker only (the profile row of each registry tenant, the
    #    receipt of A), and the coordinator holds no shard.
    profiles = {port: await cluster.shard_rows(port, "profile") for port in cluster.ports}
    assert profiles[cluster.ports[0]] == {}
    placed = await distributed_schemas(engine)
    for schema, (_host, port) in placed.items():
        holders = [p for p in cluster.worker_ports if schema in profiles[p]]
        assert holders == [port], schema
        assert profiles[port][schema] == 1
    receipts = {port: await cluster.shard_rows(port, "receipts") for port in cluster.worker_ports}
    assert [p for p in cluster.worker_ports if receipts[p].get(lao_a.tenant.schema)] == [placed[lao_a.tenant.schema][1]]

    # 8. rebalancing: tenants per node, then A moved to the other worker, waiting for the schema's
    #    migration lock (an advisory lock: on the coordinator, like every lock of the application).
    assert await _cluster_nodes(citus_settings) == 0
    shown_nodes = capsys.readouterr().out
    assert f"2 workers, {len(placed)} tenant schemas" in shown_nodes
    source = placed[lao_a.tenant.schema][1]
    target = next(p for p in cluster.worker_ports if p != source)
    holder = await asyncpg.connect(cluster.coordinator_url)
    try:
        await holder.execute("SELECT pg_advisory_lock(hashtext($1))", f"localgov:migrate:{lao_a.tenant.schema}")
        move = asyncio.create_task(
            _cluster_move(citus_settings, lao_a.tenant.slug, f"127.0.0.1:{target}", "block_writes")
        )
        # The move waits for the lock (polled on the coordinator, no fixed sleep).
        while not await holder.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
        ):
            assert not move.done(), move.result()
            await asyncio.sleep(0.02)
    finally:
        await holder.execute("SELECT pg_advisory_unlock_all()")
        await holder.close()
    assert await move == 0
    assert (await distributed_schemas(engine))[lao_a.tenant.schema] == ("127.0.0.1", target)
    receipts = {port: await cluster.shard_rows(port, "receipts") for port in cluster.worker_ports}
    assert receipts[target].get(lao_a.tenant.schema) == 1
    assert lao_a.tenant.schema not in receipts[source]
    async with engine.connect() as conn:
        audit = (
            (await conn.execute(text("SELECT data FROM platform.operator_audit_events WHERE action = 'tenant.moved'")))
            .scalars()
            .all()
        )
    assert [a["to"] for a in audit] == [f"127.0.0.1:{target}"]
    # Still served, and the data came along.
    async with serving(citus_settings, engine) as client:
        again_shown = await client.get(
            f"/v1/payments/receipts/{receipt['id']}", headers=staff_headers(lao_a.tenant, FINANCE)
        )
        assert again_shown.status_code == 200, again_shown.text
        assert again_shown.json()["id"] == receipt["id"]
        assert (await client.get("/v1/tenant", headers=host(lao_a.tenant.slug))).status_code == 200

        # 9. /health/ready names a worker the coordinator cannot reach.
        cluster.stop_node(cluster.ports.index(source))
        refused = await client.get("/health/ready")
        assert refused.status_code == 503
        assert refused.json()["data"]["checks"]["cluster"] == f"workers unreachable: 127.0.0.1:{source}"
