"""The tenant catalog as a service: ``tenants.yaml``, creation, and sync to the catalog.

``tenants.yaml`` is the declarative seed of the catalog (demo and pre-registered LAOs).
Self-service signup will create tenants through the same :func:`create_tenant`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from localgov.kernel.db import tenant_schema_name
from localgov.platform.catalog import normalise_host
from localgov.platform.models import Tenant, TenantDomain
from localgov.platform.provisioning import ProfileSeed, provision_schema
from localgov.platform.registry import lookup

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
#: Sub-domains that are never a tenant: the operator's own names and common infrastructure.
RESERVED_SLUGS = frozenset(
    {"www", "api", "admin", "mail", "smtp", "imap", "ftp", "ns1", "ns2", "operator", "billing",
     "status", "static", "assets", "cdn", "docs", "schema", "health", "metrics", "auth", "login",
     "signup", "localgov", "dga", "support", "help"}
)  # fmt: skip


class TenantSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One LAO as declared in ``tenants.yaml``; names, type and province come from the registry."""

    dla_code: str
    slug: str
    name_en: str
    enabled_services: list[str] = msgspec.field(default_factory=list)
    plan: str = "standard"
    status: Literal["active", "suspended", "closed"] = "active"
    domains: list[str] = msgspec.field(default_factory=list)
    contact: ProfileSeed | None = None


class TenantsFileError(ValueError):
    """``tenants.yaml`` is malformed; the message names the file and line."""


def spec_problems(spec: TenantSpec, base_domain: str, known_services: Collection[str]) -> list[str]:
    """What is wrong with one tenant declaration (empty when valid)."""
    problems: list[str] = []
    if not re.fullmatch(r"[0-9]{7}", spec.dla_code):
        problems.append(f"dla_code {spec.dla_code!r} must be 7 digits")
    elif lookup(spec.dla_code) is None:
        problems.append(f"DLA code {spec.dla_code} is not in the official registry")
    if not SLUG_RE.fullmatch(spec.slug):
        problems.append(f"slug {spec.slug!r} must be 3-40 lower-case letters, digits or hyphens")
    elif spec.slug in RESERVED_SLUGS:
        problems.append(f"slug {spec.slug!r} is reserved")
    if not spec.name_en.strip():
        problems.append("name_en is empty")
    problems.extend(f"unknown service {s!r}" for s in spec.enabled_services if s not in known_services)
    for domain in spec.domains:
        host = normalise_host(domain)
        if host is None or host != domain:
            problems.append(f"domain {domain!r} is not a lower-case host name")
        elif host == base_domain or host.endswith("." + base_domain):
            problems.append(f"domain {domain!r} lies under the platform's base domain")
    return problems


def load_tenants_file(path: Path, base_domain: str, known_services: Collection[str]) -> list[TenantSpec]:
    """Parse and validate ``tenants.yaml``; any problem raises with ``file:line: message``."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TenantsFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        loader = yaml.SafeLoader(source)
        try:
            root = loader.get_single_node()
            document: Any = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()  # type: ignore[no-untyped-call]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise TenantsFileError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tenants"), list):
        raise TenantsFileError(f"{path}:1: expected a mapping with a 'tenants' list")
    assert root is not None  # a dict document has a root node
    tenants_node = next(v for k, v in root.value if k.value == "tenants")
    specs: list[TenantSpec] = []
    seen_codes: dict[str, int] = {}
    seen_slugs: dict[str, int] = {}
    seen_domains: dict[str, int] = {}
    for item, node in zip(document["tenants"], tenants_node.value, strict=True):
        line = node.start_mark.line + 1
        try:
            spec = msgspec.convert(item, TenantSpec)
        except msgspec.ValidationError as exc:
            raise TenantsFileError(f"{path}:{line}: {exc}") from exc
        problems = spec_problems(spec, base_domain, known_services)
        for key, seen in ((spec.dla_code, seen_codes), (spec.slug, seen_slugs)):
            if key in seen:
                problems.append(f"{key!r} is already declared at line {seen[key]}")
            seen[key] = line
        for domain in spec.domains:
            if domain in seen_domains:
                problems.append(f"domain {domain!r} is already declared at line {seen_domains[domain]}")
            seen_domains[domain] = line
        if problems:
            raise TenantsFileError(f"{path}:{line}: " + "; ".join(problems))
        specs.append(spec)
    return specs


class SyncReport(msgspec.Struct):
    created: list[str] = msgspec.field(default_factory=list)
    updated: list[str] = msgspec.field(default_factory=list)
    unchanged: list[str] = msgspec.field(default_factory=list)
    provisioned: list[str] = msgspec.field(default_factory=list)
    not_in_file: list[str] = msgspec.field(default_factory=list)


def _catalog_values(spec: TenantSpec, source: str) -> dict[str, Any]:
    entry = lookup(spec.dla_code)
    if entry is None:
        raise TenantsFileError(f"DLA code {spec.dla_code} is not in the official registry")
    return {
        "dla_code": spec.dla_code,
        "slug": spec.slug,
        "name_th": entry.name_th,
        "name_en": spec.name_en,
        "lao_type": entry.type,
        "province_code": entry.province_code,
        "province_th": entry.province_th,
        "province_en": entry.province_en,
        "district_th": entry.district_th,
        "status": spec.status,
        "plan_code": spec.plan,
        "enabled_services": sorted(set(spec.enabled_services)),
        "schema_name": tenant_schema_name(spec.dla_code),
        "source": source,
    }


async def create_tenant(conn: AsyncConnection, spec: TenantSpec, *, source: str) -> int:
    """Insert the catalog row, add its domains and provision its schema, in the caller's transaction.

    Returns the new tenant id. Nothing of it is visible to others until the caller commits.
    """
    values = _catalog_values(spec, source)
    tenant_id = (await conn.execute(Tenant.__table__.insert().values(**values).returning(Tenant.id))).scalar_one()
    if spec.domains:
        await conn.execute(TenantDomain.__table__.insert(), [{"domain": d, "tenant_id": tenant_id} for d in spec.domains])
    await provision_schema(conn, values["schema_name"], spec.contact)
    return int(tenant_id)


async def sync_tenants(engine: AsyncEngine, specs: Sequence[TenantSpec]) -> SyncReport:
    """Make the catalog match ``specs``: create and provision, update, leave the rest alone.

    Each tenant is its own transaction; running it again changes nothing. Contact details
    seed a new tenant's profile only: afterwards they belong to the LAO's staff.
    """
    report = SyncReport()
    tracked = ("slug", "name_en", "status", "plan_code", "enabled_services")
    for spec in specs:
        async with engine.begin() as conn:
            existing = (
                (await conn.execute(select(Tenant.__table__).where(Tenant.dla_code == spec.dla_code).with_for_update()))
                .mappings()
                .one_or_none()
            )
            if existing is None:
                await create_tenant(conn, spec, source="file")
                report.created.append(spec.slug)
                report.provisioned.append(spec.slug)
                continue
            values = _catalog_values(spec, existing["source"])
            changes = {k: values[k] for k in tracked if existing[k] != values[k]}
            domains = set(
                (await conn.execute(select(TenantDomain.domain).where(TenantDomain.tenant_id == existing["id"]))).scalars()
            )
            if changes:
                await conn.execute(
                    Tenant.__table__.update().where(Tenant.id == existing["id"]).values(**changes, updated_at=func.now())
                )
            if domains != set(spec.domains):
                await conn.execute(delete(TenantDomain).where(TenantDomain.tenant_id == existing["id"]))
                if spec.domains:
                    await conn.execute(
                        TenantDomain.__table__.insert(),
                        [{"domain": d, "tenant_id": existing["id"]} for d in spec.domains],
                    )
            if existing["schema_revision"] is None:
                await provision_schema(conn, existing["schema_name"], spec.contact)
                report.provisioned.append(spec.slug)
            (report.updated if changes or domains != set(spec.domains) else report.unchanged).append(spec.slug)
    async with engine.connect() as conn:
        declared = {s.dla_code for s in specs}
        rows = (await conn.execute(select(Tenant.dla_code, Tenant.slug).where(Tenant.source == "file"))).all()
        report.not_in_file = sorted(slug for code, slug in rows if code not in declared)
    return report

