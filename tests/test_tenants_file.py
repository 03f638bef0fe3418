"""``tenants.yaml``: validation with ``file:line:`` messages, and an idempotent sync to the catalog."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov import cli
from localgov.kernel.db import create_engine, quote_schema
from localgov.platform.catalog import Catalog
from localgov.platform.migrate import history_head, history_locations, tenant_head
from localgov.platform.models import Tenant
from localgov.platform.provisioning import ProfileSeed
from localgov.platform.tenants import (
    TenantsFileError,
    TenantSpec,
    _catalog_values,
    load_tenants_file,
    sync_tenants,
)
from localgov.plugins import REGISTRY
from tests.conftest import BASE, make_settings

REPO = Path(__file__).resolve().parent.parent
SERVICES = {"demo", "permits"}

# Three real LAOs of the DLA registry (those of the repository's own tenants.yaml).
MAEHIA, PAKKRET, CHANGPHUEAK = "4500103", "3120601", "6500112"


def write(tmp_path: Path, body: str, name: str = "tenants.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def load(path: Path) -> list[TenantSpec]:
    return load_tenants_file(path, BASE, SERVICES)


# --- loading ---------------------------------------------------------------------------------


def test_the_repository_file_is_valid() -> None:
    specs = load_tenants_file(REPO / "tenants.yaml", "localhost", {p.slug for p in REGISTRY})
    assert {s.dla_code for s in specs} >= {MAEHIA, PAKKRET, CHANGPHUEAK}
    assert "payments" in next(s for s in specs if s.dla_code == MAEHIA).enabled_services


def test_a_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # comments and x- anchors are allowed
        x-defaults: &defaults
          plan: basic
        tenants:
          - <<: *defaults
            dla_code: "4500103"
            slug: maehia
            name_en: Mae Hia
            enabled_services: [demo]
            domains: [www.maehia.go.th]
            contact: {phone: "053-000-000"}
          - dla_code: "3120601"
            slug: pakkret
            name_en: Pak Kret
            status: suspended
        """,
    )
    maehia, pakkret = load(path)
    assert maehia == TenantSpec(
        dla_code=MAEHIA,
        slug="maehia",
        name_en="Mae Hia",
        enabled_services=["demo"],
        plan="basic",
        domains=["www.maehia.go.th"],
        contact=ProfileSeed(phone="053-000-000"),
    )
    assert (pakkret.slug, pakkret.status, pakkret.plan) == ("pakkret", "suspended", "standard")
    assert load(write(tmp_path, "tenants:\n", "empty-list.yaml")) == []


HEADER = """\
# the tenants of a test
#
tenants:
  - dla_code: "4500103"
    slug: maehia
    name_en: Mae Hia
    domains:
      - www.maehia.go.th
"""  # lines 1-8; a second tenant starts at line 9


def second(*lines: str) -> str:
    """HEADER and a second tenant made of ``lines``; its first line is line 9 of the file."""
    return HEADER + "".join(("  - " if i == 0 else "    ") + line + "\n" for i, line in enumerate(lines))


PAKKRET_LINES = ('dla_code: "3120601"', "slug: pakkret", "name_en: P")  # lines 9-11

BAD_FILES = [
    ("malformed-yaml", second('dla_code: "3120601"', "slug: [pakkret", "name_en: x"), 11, "not valid YAML"),
    ("bad-indent", HEADER + "  - dla_code: '3120601'\n   slug: pakkret\n", 10, "not valid YAML"),
    ("empty", "# nothing but a comment\n", 1, "expected a mapping with a 'tenants' list"),
    ("top-level-list", "# a list\n- dla_code: '4500103'\n", 2, "expected a mapping with a 'tenants' list"),
    ("tenants-mapping", "# x\n\ntenants:\n  dla_code: '4500103'\n", 4, "'tenants' must be a list"),
    ("tenants-scalar", "# x\ntenants: maehia\n", 2, "'tenants' must be a list"),
    ("unknown-top-level-key", HEADER + "version: 2\n", 9, "unknown top-level key 'version'"),
    (
        "unknown-dla-code",
        second('dla_code: "9999999"', "slug: nowhere", "name_en: Nowhere"),
        9,
        "DLA code 9999999 is not in the official registry",
    ),
    ("short-dla-code", second('dla_code: "31206"', "slug: pakkret", "name_en: P"), 9, "must be 7 digits"),
    (
        "dla-code-not-a-string",
        second("dla_code: 3120601", "slug: pakkret", "name_en: P"),
        9,
        "Expected `str`, got `int` - at `$.dla_code`",
    ),
    ("unknown-key", second(*PAKKRET_LINES, "colour: red"), 12, "unknown field `colour`"),
    (
        "unknown-nested-key",
        second(*PAKKRET_LINES, "contact:", '  phone: "1"', '  fax: "2"'),
        14,
        "unknown field `fax` - at `$.contact`",
    ),
    ("bad-status", second('dla_code: "3120601"', "slug: pakkret", "status: gone", "name_en: P"), 11, "`$.status`"),
    ("missing-key", second('dla_code: "3120601"', "name_en: P"), 9, "missing required field `slug`"),
    ("repeated-key", second(*PAKKRET_LINES, "slug: other"), 12, "key 'slug' is repeated"),
    (
        "duplicate-slug",
        second('dla_code: "3120601"', "slug: maehia", "name_en: P"),
        10,
        "slug 'maehia' is already declared at line 5",
    ),
    (
        "duplicate-dla-code",
        second('dla_code: "4500103"', "slug: other", "name_en: P"),
        9,
        "dla_code '4500103' is already declared at line 4",
    ),
    ("reserved-slug", second('dla_code: "3120601"', "slug: www", "name_en: P"), 10, "slug 'www' is reserved"),
    ("bad-slug", second('dla_code: "3120601"', "slug: Pak_Kret", "name_en: P"), 10, "must be 3-40 lower-case"),
    ("empty-name", second('dla_code: "3120601"', "slug: pakkret", 'name_en: "  "'), 11, "name_en is empty"),
    (
        "unknown-service",
        second(*PAKKRET_LINES, "enabled_services: [demo, nope]"),
        12,
        "unknown service 'nope'",
    ),
    (
        "bad-domain",
        second(*PAKKRET_LINES, "domains:", "  - www.pakkret.go.th", "  - Bad_Domain.example"),
        14,
        "domain 'Bad_Domain.example' is not a lower-case host name",
    ),
    (
        "domain-under-base",
        second(*PAKKRET_LINES, "domains: [pakkret.localgov.test]"),
        12,
        "Domains under the platform's own domain are given by the platform",
    ),
    (
        "domain-ip-literal",
        second(*PAKKRET_LINES, "domains: [127.0.0.1]"),
        12,
        "An IP address is not a domain",
    ),
    (
        "duplicate-domain",
        second(*PAKKRET_LINES, "domains:", "  - www.maehia.go.th"),
        13,
        "domain 'www.maehia.go.th' is already declared at line 8",
    ),
]


@pytest.mark.parametrize(("body", "line", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES])
def test_a_bad_file_names_file_and_line(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(TenantsFileError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_several_problems_of_one_tenant_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, 'tenants:\n  - dla_code: "9999999"\n    slug: www\n    name_en: P\n')
    with pytest.raises(TenantsFileError, match=r":2: .*not in the official registry; slug 'www' is reserved"):
        load(path)


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TenantsFileError, match=rf"^{re.escape(str(missing))}: cannot read"):
        load(missing)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"tenants: []\n# caf\xe9\n")
    with pytest.raises(TenantsFileError, match=rf"^{re.escape(str(latin1))}: not UTF-8"):
        load(latin1)


def test_cli_sync_rejects_a_bad_file_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, HEADER + '  - dla_code: "3120601"\n    slug: www\n    name_en: P\n')
    # A database that does not exist: the file is refused before any connection is tried.
    monkeypatch.setenv("LOCALGOV_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("LOCALGOV_BASE_DOMAIN", BASE)
    assert cli.main(["tenants", "sync", "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:10: slug 'www' is reserved" in err


# --- sync ----------------------------------------------------------------------------------------


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of its own: ``not_in_file`` sees every tenant there."""
    eng = create_engine(make_settings(fresh_database_url))
    yield eng
    await eng.dispose()


def spec(code: str, slug: str, **fields: Any) -> TenantSpec:
    return TenantSpec(dla_code=code, slug=slug, name_en=fields.pop("name_en", slug.title()), **fields)


async def catalog_rows(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM platform.tenants"))).mappings().all()
        domains = (await conn.execute(text("SELECT domain, tenant_id FROM platform.tenant_domains"))).all()
    out = {r["slug"]: dict(r) for r in rows}
    for r in out.values():
        r["domains"] = sorted(d for d, tenant_id in domains if tenant_id == r["id"])
    return out


async def profile_phone(engine: AsyncEngine, schema: str) -> str | None:
    async with engine.connect() as conn:
        phone: str | None = (await conn.execute(text(f"SELECT phone FROM {quote_schema(schema)}.profile"))).scalar()
    return phone


async def test_sync_creates_and_is_idempotent(engine: AsyncEngine) -> None:
    specs = [
        spec(MAEHIA, "maehia", enabled_services=["demo"], domains=["www.maehia.go.th"], contact=ProfileSeed(phone="1")),
        spec(PAKKRET, "pakkret", plan="basic"),
    ]
    first = await sync_tenants(engine, specs)
    assert (first.created, first.provisioned) == (["maehia", "pakkret"], ["maehia", "pakkret"])
    assert (first.updated, first.unchanged, first.not_in_file) == ([], [], [])
    rows = await catalog_rows(engine)
    assert rows["maehia"]["schema_revision"] == tenant_head()
    assert rows["maehia"]["name_th"] == "แม่เหียะ"  # from the registry
    assert rows["maehia"]["enabled_services"] == ["demo"]
    assert rows["maehia"]["domains"] == ["www.maehia.go.th"]
    assert rows["pakkret"]["plan_code"] == "basic"
    assert await profile_phone(engine, f"lao_{MAEHIA}") == "1"
    catalog = Catalog(BASE)
    await catalog.load(engine)
    assert catalog.resolve("www.maehia.go.th") == catalog.by_slug("maehia") is not None

    second = await sync_tenants(engine, specs)
    assert second.unchanged == ["maehia", "pakkret"]
    assert second.services_kept == []
    assert (second.created, second.updated, second.provisioned, second.not_in_file) == ([], [], [], [])
    assert await catalog_rows(engine) == rows  # not even updated_at moved


async def test_sync_updates_changed_fields_and_reports_the_undeclared(engine: AsyncEngine) -> None:
    await sync_tenants(
        engine,
        [
            spec(MAEHIA, "maehia", domains=["www.maehia.go.th", "maehia.example"], contact=ProfileSeed(phone="1")),
            spec(PAKKRET, "pakkret"),
            spec(CHANGPHUEAK, "changphueak", enabled_services=["demo"]),
        ],
    )
    before = await catalog_rows(engine)
    changed = spec(
        MAEHIA,
        "maehia",
        name_en="Mae Hia Town",
        status="suspended",
        enabled_services=["permits", "demo", "demo"],
        domains=["maehia.example", "e-service.maehia.go.th"],
        contact=ProfileSeed(phone="2"),  # seeds a new tenant only
    )
    report = await sync_tenants(engine, [changed, spec(CHANGPHUEAK, "changphueak", enabled_services=["demo"])])
    assert (report.updated, report.unchanged, report.not_in_file) == (["maehia"], ["changphueak"], ["pakkret"])
    assert (report.created, report.provisioned) == ([], [])

    rows = await catalog_rows(engine)
    maehia = rows["maehia"]
    assert (maehia["name_en"], maehia["status"]) == ("Mae Hia Town", "suspended")
    # Services seed a new tenant only: afterwards they are the LAO administrators' (issue 10).
    assert maehia["enabled_services"] == []
    assert maehia["domains"] == ["e-service.maehia.go.th", "maehia.example"]
    assert maehia["updated_at"] > before["maehia"]["updated_at"]
    assert (maehia["id"], maehia["created_at"]) == (before["maehia"]["id"], before["maehia"]["created_at"])
    assert rows["pakkret"] == before["pakkret"]  # left alone, only reported
    assert rows["changphueak"] == before["changphueak"]
    assert await profile_phone(engine, f"lao_{MAEHIA}") == "1"  # staff own the profile now


async def test_a_domain_can_move_between_declared_tenants(engine: AsyncEngine) -> None:
    await sync_tenants(engine, [spec(MAEHIA, "maehia", domains=["shared.example"]), spec(PAKKRET, "pakkret")])
    # The new owner comes first in the file: the move must not depend on the order.
    report = await sync_tenants(engine, [spec(PAKKRET, "pakkret", domains=["shared.example"]), spec(MAEHIA, "maehia")])
    assert sorted(report.updated) == ["maehia", "pakkret"]
    rows = await catalog_rows(engine)
    assert (rows["pakkret"]["domains"], rows["maehia"]["domains"]) == (["shared.example"], [])
    # And to a tenant created in the same run.
    report = await sync_tenants(
        engine, [spec(CHANGPHUEAK, "changphueak", domains=["shared.example"]), spec(PAKKRET, "pakkret")]
    )
    assert (report.created, report.updated, report.not_in_file) == (["changphueak"], ["pakkret"], ["maehia"])
    assert (await catalog_rows(engine))["changphueak"]["domains"] == ["shared.example"]


async def test_sync_provisions_a_catalogued_but_unprovisioned_tenant(engine: AsyncEngine) -> None:
    declared = spec(PAKKRET, "pakkret", contact=ProfileSeed(phone="02-583-0000"))
    async with engine.begin() as conn:  # e.g. a signup that was interrupted before provisioning
        await conn.execute(insert(Tenant).values(**_catalog_values(declared, "file")))
    catalog = Catalog(BASE)
    await catalog.load(engine)
    assert catalog.by_slug("pakkret") is None  # not routable before it has a schema

    report = await sync_tenants(engine, [declared])
    assert (report.created, report.provisioned, report.unchanged) == ([], ["pakkret"], ["pakkret"])
    assert (await catalog_rows(engine))["pakkret"]["schema_revision"] == tenant_head()
    assert await profile_phone(engine, f"lao_{PAKKRET}") == "02-583-0000"
    await catalog.load(engine)
    assert catalog.by_slug("pakkret") is not None
    assert (await sync_tenants(engine, [declared])).provisioned == []


def test_cli_sync_of_a_good_file(
    tmp_path: Path, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """
        tenants:
          - {dla_code: "4500103", slug: maehia, name_en: Mae Hia}
          - {dla_code: "3120601", slug: pakkret, name_en: Pak Kret}
        """,
    )
    monkeypatch.setenv("LOCALGOV_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("LOCALGOV_BASE_DOMAIN", BASE)
    assert cli.main(["tenants", "sync", "--file", str(path)]) == 0
    assert "2 created, 0 updated, 0 unchanged, 2 provisioned" in capsys.readouterr().out
    assert cli.main(["tenants", "sync", "--file", str(path)]) == 0
    assert "0 created, 0 updated, 2 unchanged, 0 provisioned" in capsys.readouterr().out

    async def count() -> int:
        engine = create_engine(make_settings(fresh_database_url))
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT count(*) FROM platform.tenants"))).scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == 2


async def test_a_catalog_conflict_fails_that_tenant_only(engine: AsyncEngine) -> None:
    await sync_tenants(engine, [spec(MAEHIA, "maehia")])
    # A second file now declares another LAO under the slug Mae Hia already holds.
    report = await sync_tenants(engine, [spec(PAKKRET, "maehia"), spec(CHANGPHUEAK, "changphueak")])
    assert report.failed == ["maehia: the slug is already used by another LAO"]
    assert report.created == ["changphueak"]
    rows = await catalog_rows(engine)
    assert sorted(rows) == ["changphueak", "maehia"]
    assert rows["maehia"]["dla_code"] == MAEHIA
    async with engine.connect() as conn:
        orphan = (
            await conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": f"lao_{PAKKRET}"})
        ).scalar()
    assert orphan == 0


async def test_sync_creates_and_seeds_the_tables_of_the_declared_services(engine: AsyncEngine) -> None:
    report = await sync_tenants(
        engine, [spec(MAEHIA, "maehia", enabled_services=["payments"]), spec(PAKKRET, "pakkret")]
    )
    assert report.created == ["maehia", "pakkret"]
    async with engine.connect() as conn:
        tariffs = (await conn.execute(text(f"SELECT count(*) FROM {quote_schema(f'lao_{MAEHIA}')}.tariffs"))).scalar()
        bare = (await conn.execute(text("SELECT to_regclass(:t)"), {"t": f"lao_{PAKKRET}.tariffs"})).scalar()
    assert tariffs == 3  # the payments plugin's seed ran in the tenant's provisioning transaction
    assert bare is None  # no payments tables where the service is not used
    head = history_head(history_locations()["payments"])
    assert (await catalog_rows(engine))["maehia"]["service_revisions"] == {"payments": head}


async def test_sync_never_undoes_what_the_lao_administrators_changed(engine: AsyncEngine) -> None:
    """Issue 10: ``serve`` re-syncs tenants.yaml; a service an LAO enabled or disabled stays so."""
    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.platform.tenant_admin import set_service
    from localgov.plugins import REGISTRY

    specs = [spec(MAEHIA, "maehia"), spec(PAKKRET, "pakkret", enabled_services=["payments"])]
    await sync_tenants(engine, specs)
    catalog = Catalog(BASE)
    await catalog.load(engine)
    for slug, enabled in (("maehia", True), ("pakkret", False)):
        tenant = catalog.by_slug(slug)
        assert tenant is not None
        async with tenant_session(session_factory(engine), tenant) as session:
            await set_service(
                session, tenant.id, "payments", enabled=enabled, plugins=REGISTRY, actor=Actor("staff"), origin=Origin()
            )
    before = await catalog_rows(engine)
    assert (before["maehia"]["enabled_services"], before["pakkret"]["enabled_services"]) == (["payments"], [])

    report = await sync_tenants(engine, specs)
    assert report.unchanged == ["maehia", "pakkret"]
    assert report.services_kept == ["maehia", "pakkret"]
    assert await catalog_rows(engine) == before
