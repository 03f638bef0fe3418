"""Migrations and provisioning against the real database with the real migration scripts.

A provisioned schema (head DDL rendered from the metadata, one transaction) must be the very
same schema that the migration history builds step by step; the multi-tenant runner must find
lagging schemas, roll back a schema whose migration fails without stopping the others, and
resume where it left off.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from localgov import cli
from localgov.kernel.db import create_engine, quote_schema
from localgov.platform.catalog import Catalog
from localgov.platform.migrate import (
    migrate_schema,
    migrate_tenants,
    migrations_root,
    script_directory,
    tenant_head,
    tenant_revisions,
)
from localgov.platform.provisioning import ProfileSeed, provision_schema, render_ddl
from localgov.platform.tenants import TenantSpec, create_tenant
from localgov.settings import Settings
from tests.conftest import make_settings
from tests.support.factories import make_tenant, next_dla_code

# Schemas made directly by these tests (no catalog row) use codes outside the DLA registry
# (registry codes start with 2-7), so they never meet a tenant of another test.
_scratch_codes = itertools.count(9_900_000)


def scratch_schema() -> str:
    return f"lao_{next(_scratch_codes)}"


@pytest.fixture
async def fresh_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(fresh_database_url))
    yield eng
    await eng.dispose()


# --- schema snapshots ------------------------------------------------------------------------

_SNAPSHOT_QUERIES: dict[str, str] = {
    # Every relation of the schema: tables, indexes, sequences (identity ones too), views.
    "relations": """
        SELECT c.relname, c.relkind::text, c.relpersistence::text
        FROM pg_class c WHERE c.relnamespace = to_regnamespace(:s)
        ORDER BY 1""",
    # Compared by name, not position: a model may declare a column anywhere, a migration appends.
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
               coalesce(col.collname, '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation col ON col.oid = a.attcollation AND a.attcollation <> 0
             AND col.collname <> 'default'
        WHERE c.relnamespace = to_regnamespace(:s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s ORDER BY 1, 2""",
    "constraints": """
        SELECT coalesce(c.relname, t.typname), k.conname, k.contype::text,
               pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
        FROM pg_constraint k
        LEFT JOIN pg_class c ON c.oid = k.conrelid
        LEFT JOIN pg_type t ON t.oid = k.contypid
        WHERE k.connamespace = to_regnamespace(:s)
        ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, cycle
        FROM pg_sequences WHERE schemaname = :s ORDER BY 1""",
    "types": """
        SELECT t.typname, t.typtype::text,
               array_to_string(ARRAY(SELECT e.enumlabel FROM pg_enum e
                                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder), ',')
        FROM pg_type t
        LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE t.typnamespace = to_regnamespace(:s) AND t.typelem = 0
          AND (c.oid IS NULL OR c.relkind = 'c')
        ORDER BY 1""",
    "triggers": """
        SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid)
        FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
        WHERE c.relnamespace = to_regnamespace(:s) AND NOT g.tgisinternal
        ORDER BY 1, 2""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid))
        FROM pg_proc p WHERE p.pronamespace = to_regnamespace(:s) ORDER BY 1, 2""",
    "comments": """
        SELECT c.relname, d.objsubid, d.description
        FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        WHERE c.relnamespace = to_regnamespace(:s)
        ORDER BY 1, 2""",
}


async def schema_snapshot(conn: AsyncConnection, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything about ``schema`` that DDL decides, with the schema's own name normalised."""

    def normalise(value: Any) -> Any:
        return value.replace(schema, "<schema>") if isinstance(value, str) else value

    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    for name, sql in _SNAPSHOT_QUERIES.items():
        rows = (await conn.execute(text(sql), {"s": schema})).all()
        snapshot[name] = sorted(tuple(normalise(v) for v in row) for row in rows)
    versions = (await conn.execute(text(f"SELECT version_num FROM {quote_schema(schema)}.alembic_version"))).all()
    snapshot["alembic_version"] = sorted(tuple(row) for row in versions)
    # The version tables of the service histories (``alembic_version_<slug>``) and their rows.
    tables = await conn.execute(
        text(
            "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) AND relkind = 'r'"
            r" AND relname LIKE 'alembic\_version\_%' ORDER BY 1"
        ),
        {"s": schema},
    )
    for table in tables.scalars().all():
        rows = (await conn.execute(text(f'SELECT version_num FROM {quote_schema(schema)}."{table}"'))).all()
        snapshot[table] = sorted(tuple(row) for row in rows)
    return snapshot


def tenant_revision_ids() -> list[str]:
    """The tenant history from base to head."""
    script = script_directory("tenant")
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


async def column_names(conn: AsyncConnection, schema: str, table: str) -> set[str]:
    rows = await conn.execute(
        text("SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"),
        {"s": schema, "t": table},
    )
    return set(rows.scalars())


async def catalog_revisions(engine: AsyncEngine) -> dict[str, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT schema_name, schema_revision FROM platform.tenants"))
        return {schema: revision for schema, revision in rows}


# --- 1. provisioning builds exactly what the migrations build --------------------------------


async def test_provisioned_schema_equals_migrated_schema(engine: AsyncEngine) -> None:
    provisioned, migrated = scratch_schema(), scratch_schema()
    async with engine.begin() as conn:
        await provision_schema(conn, provisioned)
        await conn.execute(text(f"CREATE SCHEMA {quote_schema(migrated)}"))
    revisions = tenant_revision_ids()
    assert revisions
    assert revisions[-1] == tenant_head()
    for revision in revisions:  # one step at a time, each its own transaction
        result = await migrate_schema(engine, migrated, target=revision)
        assert result.ok, result.error
        assert result.to_revision == revision

    async with engine.connect() as conn:
        want = await schema_snapshot(conn, migrated)
        got = await schema_snapshot(conn, provisioned)
    # Non-empty, so that two empty snapshots cannot pass for equal.
    for part in ("relations", "columns", "indexes", "constraints", "alembic_version"):
        assert want[part], f"the migrated schema has no {part}"
    assert want["alembic_version"] == [(tenant_head(),)]
    assert got == want


async def test_snapshot_sees_a_difference(engine: AsyncEngine) -> None:
    """The comparison above can fail: a changed default, a dropped index are noticed."""
    first, second = scratch_schema(), scratch_schema()
    async with engine.begin() as conn:
        await provision_schema(conn, first)
        await provision_schema(conn, second)
        await conn.execute(text(f"ALTER TABLE {quote_schema(second)}.profile ALTER COLUMN extra SET DEFAULT '[]'"))
    async with engine.connect() as conn:
        assert await schema_snapshot(conn, first) != await schema_snapshot(conn, second)


async def test_render_ddl_emits_what_tables_need_besides_themselves(engine: AsyncEngine) -> None:
    """Enum types, sequences, indexes, comments and use_alter foreign keys reach the script."""
    import sqlalchemy as sa

    md = MetaData(naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s"})
    kind = sa.Enum("a", "b", name="probe_kind")
    sa.Table(
        "probe_parent",
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", kind, nullable=False),
        sa.Column("counter", sa.BigInteger, sa.Sequence("probe_counter_seq"), nullable=True),
        sa.Column("child_id", sa.BigInteger, sa.ForeignKey("probe_child.id", use_alter=True, name="fk_cycle")),
        comment="a table with a comment",
    )
    sa.Table(
        "probe_child",
        md,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("parent_id", sa.BigInteger, sa.ForeignKey("probe_parent.id"), index=True),
    )
    ddl = render_ddl(md)
    schema = scratch_schema()
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {quote_schema(schema)}"))
        await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
        raw: Any = await conn.get_raw_connection()
        await raw.driver_connection.execute(ddl)
        snap = await schema_snapshot(conn, schema)
    assert ("probe_kind", "e", "a,b") in snap["types"]
    assert any(r[0] == "probe_counter_seq" for r in snap["sequences"])
    assert any(r[1] == "ix_probe_child_parent_id" for r in snap["indexes"])
    assert any(r[1] == "fk_cycle" for r in snap["constraints"])
    assert ("probe_parent", 0, "a table with a comment") in snap["comments"]


# --- 2. check mode finds a lagging schema; a run brings it back ------------------------------


async def test_check_finds_a_lagging_schema_and_a_run_fixes_it(
    fresh_database_url: str, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    first = await make_tenant(engine)
    second = await make_tenant(engine)
    head = tenant_head()

    report = await migrate_tenants(engine, fresh_database_url, check_only=True)
    assert (report.total, report.behind, report.head) == (2, [], head)
    # A symbolic target names the same revision: nothing is behind either.
    assert (await migrate_tenants(engine, fresh_database_url, target="heads", check_only=True)).behind == []

    down = await migrate_schema(engine, second.schema, target="base", down=True)
    assert down.ok, down.error
    assert (down.from_revision, down.to_revision) == (head, None)
    assert (await catalog_revisions(engine))[second.schema] is None
    async with engine.connect() as conn:
        assert await column_names(conn, second.schema, "profile") == set()

    report = await migrate_tenants(engine, fresh_database_url, check_only=True)
    assert (report.total, report.behind, report.results) == (2, [second.schema], [])
    assert await catalog_revisions(engine) == {first.schema: head, second.schema: None}  # check changes nothing

    report = await migrate_tenants(engine, fresh_database_url, processes=1)
    assert report.behind == [second.schema]
    assert [(r.schema, r.ok, r.from_revision, r.to_revision) for r in report.results] == [
        (second.schema, True, None, head)
    ]
    assert await catalog_revisions(engine) == {first.schema: head, second.schema: head}
    async with engine.connect() as conn:
        assert "phone" in await column_names(conn, second.schema, "profile")
        assert await tenant_revisions(conn) == {first.schema: head, second.schema: head}

    report = await migrate_tenants(engine, fresh_database_url, check_only=True)
    assert (report.total, report.behind) == (2, [])


async def test_a_schema_that_is_gone_is_reported_not_skipped(
    fresh_database_url: str, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    tenant = await make_tenant(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {quote_schema(tenant.schema)} CASCADE"))
    report = await migrate_tenants(engine, fresh_database_url, processes=1)
    assert report.behind == [tenant.schema]
    [result] = report.failed
    assert result.schema == tenant.schema
    assert result.error is not None
    assert "does not exist" in result.error


# --- 3. a migration that fails in one tenant --------------------------------------------------

FAILING_REVISION = '''
"""Adds a note; requires a phone (fails where the phone is NULL)."""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("profile", sa.Column("note", sa.Text(), nullable=True))
    op.create_check_constraint(op.f("ck_profile_phone_set"), "profile", "phone IS NOT NULL")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_profile_phone_set"), "profile", type_="check")
    op.drop_column("profile", "note")
'''


def history_with_failing_revision(tmp_path: Path) -> str:
    location = tmp_path / "tenant"
    shutil.copytree(migrations_root() / "tenant", location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9001_note.py").write_text(
        textwrap.dedent(FAILING_REVISION).lstrip().replace("{head}", tenant_head())
    )
    assert tenant_head(str(location)) == "9001"
    return str(location)


async def test_a_failing_migration_is_rolled_back_and_resumable(
    tmp_path: Path, fresh_database_url: str, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    location = history_with_failing_revision(tmp_path)
    old, new = tenant_head(), "9001"
    tenants = [await make_tenant(engine) for _ in range(3)]
    bad = tenants[1]
    good = [tenants[0].schema, tenants[2].schema]
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {quote_schema(bad.schema)}.profile SET phone = NULL"))

    report = await migrate_tenants(engine, fresh_database_url, location=location, processes=2)
    assert report.head == new
    assert report.behind == sorted(t.schema for t in tenants)
    by_schema = {r.schema: r for r in report.results}
    assert sorted(by_schema) == report.behind
    for schema in good:
        assert (by_schema[schema].ok, by_schema[schema].to_revision) == (True, new)
    [failed] = report.failed
    assert (failed.schema, failed.from_revision, failed.to_revision) == (bad.schema, old, old)
    assert failed.error is not None
    assert "ck_profile_phone_set" in failed.error

    async with engine.connect() as conn:
        for schema in good:
            assert "note" in await column_names(conn, schema, "profile")
        # Rolled back as a whole: the column added before the failing statement is gone too.
        assert "note" not in await column_names(conn, bad.schema, "profile")
        assert await tenant_revisions(conn) == {good[0]: new, bad.schema: old, good[1]: new}
    assert await catalog_revisions(engine) == {good[0]: new, bad.schema: old, good[1]: new}

    # Fixed data, second run: only the failed schema is touched.
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {quote_schema(bad.schema)}.profile SET phone = '053-000-000'"))
    report = await migrate_tenants(engine, fresh_database_url, location=location, processes=2)
    assert report.behind == [bad.schema]
    assert [(r.schema, r.ok, r.from_revision, r.to_revision) for r in report.results] == [(bad.schema, True, old, new)]
    async with engine.connect() as conn:
        assert "note" in await column_names(conn, bad.schema, "profile")
    assert set((await catalog_revisions(engine)).values()) == {new}
    assert (await migrate_tenants(engine, fresh_database_url, location=location, check_only=True)).behind == []


# --- 4. the CLI -------------------------------------------------------------------------------


def test_cli_migrate_check(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def setup() -> tuple[str, str]:
        engine = create_engine(make_settings(fresh_database_url))
        try:
            current = await make_tenant(engine)
            lagging = await make_tenant(engine)
            result = await migrate_schema(engine, lagging.schema, target="base", down=True)
            assert result.ok, result.error
        finally:
            await engine.dispose()
        return current.schema, lagging.schema

    current, lagging = asyncio.run(setup())
    monkeypatch.setenv("LOCALGOV_DATABASE_URL", fresh_database_url)

    assert cli.main(["migrate", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"behind: {lagging}" in out
    assert current not in out
    assert "2 tenant schemas, 1 behind" in out

    assert cli.main(["migrate", "--processes", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 upgraded, 0 failed, 1 already at head" in out

    assert cli.main(["migrate", "--check"]) == 0
    out = capsys.readouterr().out
    assert "behind:" not in out
    assert "2 tenant schemas, 0 behind" in out


# --- 5. provisioning ------------------------------------------------------------------------


async def test_a_created_tenant_is_routable_once_committed(engine: AsyncEngine, settings: Settings) -> None:
    code = next_dla_code()
    spec = TenantSpec(dla_code=code, slug=f"p{code}", name_en="Provisioned", contact=ProfileSeed(phone="02-000-0000"))
    catalog = Catalog(settings.base_domain)
    async with engine.connect() as conn, conn.begin():
        await create_tenant(conn, spec, source="signup")
        # Not committed yet: another connection sees nothing of it.
        await catalog.load(engine)
        assert catalog.by_slug(spec.slug) is None
    await catalog.load(engine)
    tenant = catalog.by_slug(spec.slug)
    assert tenant is not None
    assert tenant.schema == f"lao_{code}"
    async with engine.connect() as conn:
        revision = (
            await conn.execute(text("SELECT schema_revision FROM platform.tenants WHERE id = :i"), {"i": tenant.id})
        ).scalar()
        assert revision == tenant_head()
        phone = (await conn.execute(text(f"SELECT phone FROM {quote_schema(tenant.schema)}.profile"))).scalar()
        assert phone == "02-000-0000"


async def test_provisioning_is_quick_and_stamped(engine: AsyncEngine) -> None:
    schema = scratch_schema()
    async with engine.begin() as conn:
        seconds = await provision_schema(conn, schema)
    assert 0 < seconds < 5  # one round trip of DDL; generous so a slow CI box does not flake
    async with engine.connect() as conn:
        versions = (await conn.execute(text(f"SELECT version_num FROM {quote_schema(schema)}.alembic_version"))).all()
    assert [tuple(v) for v in versions] == [(tenant_head(),)]


async def test_provisioning_twice_fails_cleanly(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine, phone="053-222-222")

    async def state() -> tuple[Any, ...]:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT schema_revision, updated_at FROM platform.tenants WHERE id = :i"), {"i": tenant.id}
                )
            ).one()
            profile = (await conn.execute(text(f"SELECT * FROM {quote_schema(tenant.schema)}.profile"))).all()
            snap = await schema_snapshot(conn, tenant.schema)
        return tuple(row), [tuple(p) for p in profile], snap

    before = await state()
    with pytest.raises(DBAPIError, match="already exists"):
        async with engine.begin() as conn:
            await provision_schema(conn, tenant.schema)
    code = tenant.dla_code
    spec = TenantSpec(dla_code=code, slug=f"again{code}", name_en="Again")
    with pytest.raises(DBAPIError, match="uq_tenants_dla_code"):
        async with engine.begin() as conn:
            await create_tenant(conn, spec, source="file")
    assert await state() == before
    async with engine.connect() as conn:
        count = await conn.execute(text("SELECT count(*) FROM platform.tenants WHERE dla_code = :c"), {"c": code})
        assert count.scalar() == 1


async def test_provisioning_into_an_existing_schema_leaves_no_catalog_row(engine: AsyncEngine) -> None:
    code = next_dla_code()
    schema = f"lao_{code}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {quote_schema(schema)}"))  # an orphan left by hand
    spec = TenantSpec(dla_code=code, slug=f"o{code}", name_en="Orphan", domains=[f"www.o{code}.example"])
    with pytest.raises(DBAPIError, match="already exists"):
        async with engine.begin() as conn:
            await create_tenant(conn, spec, source="file")
    async with engine.connect() as conn:
        tenants = await conn.execute(text("SELECT count(*) FROM platform.tenants WHERE dla_code = :c"), {"c": code})
        assert tenants.scalar() == 0
        domains = await conn.execute(
            text("SELECT count(*) FROM platform.tenant_domains WHERE domain = :d"), {"d": spec.domains[0]}
        )
        assert domains.scalar() == 0
        tables = await conn.execute(
            text("SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace(:s)"), {"s": schema}
        )
        assert tables.scalar() == 0


async def test_verify_reads_each_schema_and_catches_drift_the_mirror_misses(
    fresh_database_url: str, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    tenant = await make_tenant(engine)
    # Someone stamped the schema behind the platform's back: the catalog mirror still says head.
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {quote_schema(tenant.schema)}.alembic_version SET version_num = 'f00d'"))
    assert (await migrate_tenants(engine, fresh_database_url, check_only=True)).behind == []
    verified = await migrate_tenants(engine, fresh_database_url, check_only=True, verify=True)
    assert verified.behind == [tenant.schema]


# --- the shared schema's history matches its models ----------------------------------------------


async def test_shared_migrations_match_the_shared_models(engine: AsyncEngine) -> None:
    """Autogenerate finds nothing to add: every shared table, column, index and constraint is migrated."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from localgov.kernel.db import SHARED_SCHEMA
    from localgov.metadata import shared_metadata

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _parent: type_ != "schema" or name == SHARED_SCHEMA,
                "compare_server_default": True,
                "version_table_schema": SHARED_SCHEMA,
            },
        )
        return list(compare_metadata(context, shared_metadata()))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
