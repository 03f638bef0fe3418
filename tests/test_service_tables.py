"""A tenant schema holds the core tables plus the tables of the services it uses (issue 10).

Each service plugin owns the tenant history of its tables (in its package); the core keeps its
own. Provisioning with any combination of services builds what the histories build; enabling a
service on a live tenant creates and seeds its tables once, in the transaction of the change;
disabling keeps them; ``migrate`` follows the histories each schema uses; a schema of the old
single history converts once.
"""

from __future__ import annotations

import itertools
import shutil
import textwrap
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine, quote_schema, session_factory, tenant_session
from localgov.kernel.plugins import ServicePlugin
from localgov.metadata import core_tables
from localgov.platform.catalog import TenantInfo
from localgov.platform.migrate import (
    CORE,
    LEGACY_REVISIONS,
    history_head,
    history_locations,
    migrate_schema,
    migrate_tenants,
    schema_states,
    script_directory,
    tenant_head,
)
from localgov.platform.provisioning import service_ddl
from localgov.platform.tenant_admin import set_service
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import bearer
from tests.test_migrations import schema_snapshot, scratch_schema

#: Services with tables of their own (a history), from the registry: a new plugin is covered here.
SERVICES: tuple[ServicePlugin, ...] = tuple(p for p in REGISTRY if p.migrations is not None)
COMBINATIONS = [combo for n in range(len(SERVICES) + 1) for combo in itertools.combinations(SERVICES, n)]
PAYMENTS = next(p for p in REGISTRY if p.slug == "payments")


@pytest.fixture
async def fresh_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(fresh_database_url))
    yield eng
    await eng.dispose()


def revisions(history: str) -> list[str]:
    """A history from base to head."""
    script = script_directory("tenant", history_locations()[history])
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


async def relations(engine: AsyncEngine, schema: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s)"), {"s": schema}
        )
        return set(rows.scalars())


async def count(engine: AsyncEngine, schema: str, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f'SELECT count(*) FROM {quote_schema(schema)}."{table}"'))).scalar_one())


async def mirror(engine: AsyncEngine, schema: str) -> tuple[str | None, dict[str, str], list[str]]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT schema_revision, service_revisions, enabled_services FROM platform.tenants"
                    " WHERE schema_name = :s"
                ),
                {"s": schema},
            )
        ).one()
    return row[0], dict(row[1]), list(row[2])


def table_names(plugin: ServicePlugin) -> set[str]:
    return {t.name for t in plugin.tables}


# --- the layout ------------------------------------------------------------------------------------


def test_every_service_with_tables_has_a_history_of_its_own() -> None:
    assert SERVICES, "the registry has no service with tables"
    for plugin in SERVICES:
        assert plugin.migrations is not None
        assert (plugin.migrations / "versions").is_dir()
        assert history_head(str(plugin.migrations))
    core = {t.name for t in core_tables()}
    for plugin in SERVICES:
        assert not core & table_names(plugin)
    # The core history's head is a core revision (0004/0005 moved to payments with their ids).
    assert tenant_head() not in LEGACY_REVISIONS
    for core_revision, services in LEGACY_REVISIONS.values():
        assert core_revision in revisions(CORE)
        for slug, revision in services.items():
            assert revision in revisions(slug)


@pytest.mark.parametrize("services", COMBINATIONS, ids=lambda c: "+".join(p.slug for p in c) or "core-only")
async def test_provisioned_equals_migrated_for_each_combination_of_services(
    engine: AsyncEngine, services: Sequence[ServicePlugin]
) -> None:
    tenant = await make_tenant(engine, services=[p.slug for p in services])
    migrated = scratch_schema()
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {quote_schema(migrated)}"))
    for revision in revisions(CORE):
        result = await migrate_schema(engine, migrated, target=revision)
        assert result.ok, result.error
    for plugin in services:
        for revision in revisions(plugin.slug):  # one step at a time, each its own transaction
            result = await migrate_schema(engine, migrated, history=plugin.slug, target=revision)
            assert result.ok, result.error
            assert result.to_services[plugin.slug] == revision

    async with engine.connect() as conn:
        want = await schema_snapshot(conn, migrated)
        got = await schema_snapshot(conn, tenant.schema)
    assert want["alembic_version"] == [(tenant_head(),)]
    for plugin in services:
        assert want[f"alembic_version_{plugin.slug}"] == [(history_head(str(plugin.migrations)),)]
    assert got == want
    names = {r[0] for r in got["relations"]}
    for plugin in SERVICES:  # a service's tables are there exactly when the tenant has it
        assert (table_names(plugin) <= names) is (plugin in services)
        assert not (table_names(plugin) & names) or plugin in services


async def test_relations_per_schema(engine: AsyncEngine) -> None:
    """The figures of bench/README.md: relations of a schema with no service, with payments only."""
    none = await make_tenant(engine)
    payments = await make_tenant(engine, services=["payments"])
    bare, full = await relations(engine, none.schema), await relations(engine, payments.schema)
    assert bare < full
    assert "bills" in full
    assert "bills" not in bare
    assert {"profile", "staff_users", "audit_events", "idempotency_keys", "running_numbers"} <= bare
    # A guard on the catalog's size at 7,849 schemas (bench/README.md "Scale"): every core table
    # is in every schema. Under 72 relations before the webhooks (tenant 0012: endpoints, messages,
    # deliveries, attempts and their keys and indexes), the LAO's signing certificate (0013) and the
    # citizens' apps and login level (0014): 90, and 92 with the indexes the API clients' and the
    # citizens' apps' cursor paging orders by (0015). A new core table raises it knowingly, here.
    assert len(bare) <= 92


# --- enabling and disabling on a live tenant -------------------------------------------------------


def admin(tenant: TenantInfo) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=("tenant_admin",), subject=str(uuid.uuid4()))}


async def tables_oid(engine: AsyncEngine, schema: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT to_regclass(:t)::oid"), {"t": f"{schema}.bills"})).scalar_one())


async def test_enable_disable_enable_through_the_api(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)  # plan "standard" includes payments
    assert "bills" not in await relations(engine, tenant.schema)
    head = history_head(str(PAYMENTS.migrations))
    async with client_for(plugins=(*REGISTRY, DEMO), listen=False) as http:
        enabled = await http.put("/v1/tenant/services/payments", headers=admin(tenant))
        assert enabled.status_code == 200, enabled.text
        assert {s["slug"]: s["enabled"] for s in enabled.json()["items"]}["payments"] is True
        assert table_names(PAYMENTS) <= await relations(engine, tenant.schema)
        assert await count(engine, tenant.schema, "tariffs") == 3  # the seed ran, in the same transaction
        assert await mirror(engine, tenant.schema) == (tenant_head(), {"payments": head}, ["payments"])
        oid = await tables_oid(engine, tenant.schema)
        async with engine.begin() as conn:  # data the LAO keeps
            await conn.execute(
                text(f"INSERT INTO {quote_schema(tenant.schema)}.payers (kind, name) VALUES ('person', 'นายเก็บ ไว้')")
            )
            # The LAO replaced the defaults: a re-enable must not bring them back.
            await conn.execute(text(f"DELETE FROM {quote_schema(tenant.schema)}.tariffs"))

        again = await http.put("/v1/tenant/services/payments", headers=admin(tenant))  # idempotent
        assert again.status_code == 200, again.text
        disabled = await http.delete("/v1/tenant/services/payments", headers=admin(tenant))
        assert disabled.status_code == 200, disabled.text
        assert await mirror(engine, tenant.schema) == (tenant_head(), {"payments": head}, [])
        assert await count(engine, tenant.schema, "payers") == 1  # disabling keeps tables and data

        enabled = await http.put("/v1/tenant/services/payments", headers=admin(tenant))
        assert enabled.status_code == 200, enabled.text
    assert await tables_oid(engine, tenant.schema) == oid  # not created twice
    assert await count(engine, tenant.schema, "payers") == 1
    assert await count(engine, tenant.schema, "tariffs") == 0  # seeded once only
    assert await mirror(engine, tenant.schema) == (tenant_head(), {"payments": head}, ["payments"])


async def test_enabling_is_part_of_the_transaction_of_the_change(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)

    class Abort(Exception):
        pass

    async def enable_then_fail() -> None:
        async with tenant_session(session_factory(engine), tenant) as session:
            await set_service(
                session, tenant.id, "payments", enabled=True, plugins=REGISTRY, actor=Actor("test"), origin=Origin()
            )
            schema = quote_schema(tenant.schema)
            raise Abort((await session.execute(text(f"SELECT count(*) FROM {schema}.tariffs"))).scalar_one())

    with pytest.raises(Abort) as aborted:
        await enable_then_fail()
    assert aborted.value.args == (3,)  # created and seeded inside the transaction, then rolled back with it
    assert "bills" not in await relations(engine, tenant.schema)
    assert await mirror(engine, tenant.schema) == (tenant_head(), {}, [])


# --- migrate follows the histories a schema uses ---------------------------------------------------

EXTRA_PAYMENTS_REVISION = '''
"""Payers get a note."""

import sqlalchemy as sa
from alembic import op

revision = "9101"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payers", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("payers", "note")
'''


def payments_with_extra_revision(tmp_path: Path) -> str:
    assert PAYMENTS.migrations is not None
    location = tmp_path / "payments"
    shutil.copytree(PAYMENTS.migrations, location, ignore=shutil.ignore_patterns("__pycache__"))
    head = history_head(str(PAYMENTS.migrations))
    (location / "versions" / "9101_note.py").write_text(
        textwrap.dedent(EXTRA_PAYMENTS_REVISION).lstrip().replace("{head}", head)
    )
    assert history_head(str(location)) == "9101"
    return str(location)


async def columns(engine: AsyncEngine, schema: str, table: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"),
            {"s": schema, "t": table},
        )
        return set(rows.scalars())


async def test_migrate_upgrades_each_schema_along_the_histories_it_uses(
    tmp_path: Path, fresh_database_url: str, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    location = payments_with_extra_revision(tmp_path)
    old = history_head(str(PAYMENTS.migrations))
    using = await make_tenant(engine, services=["payments"])
    without = await make_tenant(engine)
    switched_off = await make_tenant(engine, services=["payments"])  # then disabled: tables kept
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE platform.tenants SET enabled_services = '{}' WHERE id = :i"), {"i": switched_off.id}
        )

    report = await migrate_tenants(engine, fresh_database_url, locations={"payments": location}, check_only=True)
    # The other services stay at their own heads.
    others = {p.slug: history_head(str(p.migrations)) for p in SERVICES if p.slug != "payments"}
    assert report.heads == {CORE: tenant_head(), "payments": "9101", **others}
    assert report.behind == sorted([using.schema, switched_off.schema])

    report = await migrate_tenants(engine, fresh_database_url, locations={"payments": location}, processes=2)
    assert not report.failed, report.failed
    assert {r.schema: (r.from_services, r.to_services) for r in report.results} == {
        using.schema: ({"payments": old}, {"payments": "9101"}),
        switched_off.schema: ({"payments": old}, {"payments": "9101"}),
    }
    for tenant in (using, switched_off):
        assert "note" in await columns(engine, tenant.schema, "payers")
        assert (await mirror(engine, tenant.schema))[1] == {"payments": "9101"}
    assert "payers" not in await relations(engine, without.schema)
    assert await mirror(engine, without.schema) == (tenant_head(), {}, [])
    again = await migrate_tenants(engine, fresh_database_url, locations={"payments": location}, check_only=True)
    assert again.behind == []
    verified = await migrate_tenants(
        engine, fresh_database_url, locations={"payments": location}, check_only=True, verify=True
    )
    assert verified.behind == []


async def test_check_and_ready_mean_every_history_at_head(
    fresh_database_url: str, fresh_engine: AsyncEngine, client_for: ClientFactory
) -> None:
    engine = fresh_engine
    behind_payments = await make_tenant(engine, services=["payments"])
    missing_tables = await make_tenant(engine)
    await make_tenant(engine)
    first = revisions("payments")[0]
    assert first != history_head(str(PAYMENTS.migrations)), "payments needs two revisions for this test"
    result = await migrate_schema(engine, behind_payments.schema, history="payments", target=first, down=True)
    assert result.ok, result.error
    # Enabled behind the platform's back (no tables): behind too, and migrate creates and seeds them.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE platform.tenants SET enabled_services = '{payments}' WHERE id = :i"), {"i": missing_tables.id}
        )

    report = await migrate_tenants(engine, fresh_database_url, check_only=True)
    assert (report.total, report.behind) == (3, sorted([behind_payments.schema, missing_tables.schema]))
    settings = make_settings(fresh_database_url)
    async with client_for(settings_=settings, listen=False) as http:
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["data"]["checks"]["tenant_schemas"] == "2 behind head"

        report = await migrate_tenants(engine, fresh_database_url, processes=1)
        assert not report.failed, report.failed
        assert sorted(r.schema for r in report.results) == report.behind
        assert (await http.get("/health/ready")).status_code == 200
    assert table_names(PAYMENTS) <= await relations(engine, missing_tables.schema)
    assert await count(engine, missing_tables.schema, "tariffs") == 3
    assert (await migrate_tenants(engine, fresh_database_url, check_only=True)).behind == []
    async with engine.connect() as conn:
        states = await schema_states(conn, verify=True)
    head = history_head(str(PAYMENTS.migrations))
    assert states[behind_payments.schema].services == states[missing_tables.schema].services == {"payments": head}


# --- schemas of the single tenant history ----------------------------------------------------------


async def make_legacy(engine: AsyncEngine, tenant: TenantInfo, revision: str) -> None:
    """Turn ``tenant``'s schema into one the single tenant history built up to ``revision``
    (0004 or 0005): the same tables, one version table, the catalog's mirror as it was."""
    core, services = LEGACY_REVISIONS[revision]
    if tenant_head() != core:  # core revisions added since the split
        result = await migrate_schema(engine, tenant.schema, target=core, down=True)
        assert result.ok, result.error
    for slug, service_revision in services.items():
        current = (await mirror(engine, tenant.schema))[1].get(slug)
        if current != service_revision:  # from its head down, or from nothing up
            moved = await migrate_schema(
                engine, tenant.schema, history=slug, target=service_revision, down=current is not None
            )
            assert moved.ok, moved.error
    schema = quote_schema(tenant.schema)
    async with engine.begin() as conn:
        for slug in services:
            await conn.execute(text(f'DROP TABLE {schema}."alembic_version_{slug}"'))
        await conn.execute(text(f"UPDATE {schema}.alembic_version SET version_num = :v"), {"v": revision})
        await conn.execute(
            text("UPDATE platform.tenants SET schema_revision = :v, service_revisions = '{}' WHERE id = :i"),
            {"v": revision, "i": tenant.id},
        )


async def test_a_schema_of_the_single_history_converts_once(fresh_database_url: str, fresh_engine: AsyncEngine) -> None:
    engine = fresh_engine
    at_0005 = await make_tenant(engine, services=["payments"])
    at_0004 = await make_tenant(engine)  # the old layout gave every schema the payments tables
    reference = await make_tenant(engine, services=["payments"])
    enabled_before_migrate = await make_tenant(engine)
    await make_legacy(engine, at_0005, "0005")
    await make_legacy(engine, at_0004, "0004")
    await make_legacy(engine, enabled_before_migrate, "0005")
    # Enabling payments before `migrate` converted the schema: its tables are there already.
    async with tenant_session(session_factory(engine), enabled_before_migrate) as session:
        await set_service(
            session,
            enabled_before_migrate.id,
            "payments",
            enabled=True,
            plugins=REGISTRY,
            actor=Actor("t"),
            origin=Origin(),
        )
    async with engine.connect() as conn:
        legacy = await schema_snapshot(conn, at_0005.schema)
    assert legacy["alembic_version"] == [("0005",)]
    assert not any(k.startswith("alembic_version_") for k in legacy)
    async with engine.begin() as conn:
        await conn.execute(
            text(f"INSERT INTO {quote_schema(at_0005.schema)}.payers (kind, name) VALUES ('juristic', 'บริษัท เดิม')")
        )

    report = await migrate_tenants(engine, fresh_database_url, processes=1)
    assert report.behind == sorted([at_0005.schema, at_0004.schema, enabled_before_migrate.schema])
    assert not report.failed, report.failed
    head = history_head(str(PAYMENTS.migrations))
    by_schema = {r.schema: r for r in report.results}
    assert (by_schema[at_0005.schema].from_revision, by_schema[at_0005.schema].to_revision) == ("0005", tenant_head())
    assert by_schema[at_0005.schema].to_services == {"payments": head}
    assert by_schema[at_0004.schema].to_services == {"payments": head}
    async with engine.connect() as conn:
        converted = await schema_snapshot(conn, at_0005.schema)
        converted_0004 = await schema_snapshot(conn, at_0004.schema)
        fresh = await schema_snapshot(conn, reference.schema)
    assert converted == fresh == converted_0004  # the same schema as one provisioned today
    assert await count(engine, at_0005.schema, "payers") == 1  # data kept
    assert await mirror(engine, at_0005.schema) == (tenant_head(), {"payments": head}, ["payments"])
    # Payments stays installed where it was not enabled: its tables are there, with their data.
    assert await mirror(engine, at_0004.schema) == (tenant_head(), {"payments": head}, [])
    assert await mirror(engine, enabled_before_migrate.schema) == (tenant_head(), {"payments": head}, ["payments"])
    assert (await migrate_tenants(engine, fresh_database_url, check_only=True)).behind == []
    assert (await migrate_tenants(engine, fresh_database_url, check_only=True, verify=True)).behind == []


def test_service_ddl_is_the_plugin_tables_only() -> None:
    ddl = service_ddl(PAYMENTS)
    created = set(_created_tables(ddl))
    assert created == table_names(PAYMENTS) | {"alembic_version_payments"}


def _created_tables(ddl: str) -> list[str]:
    out: list[str] = []
    for statement in ddl.split(";"):
        words: list[Any] = statement.split()
        if words[:2] == ["CREATE", "TABLE"]:
            out.append(words[2])
    return out
