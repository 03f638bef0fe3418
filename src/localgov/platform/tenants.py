"""The tenant catalog as a service: ``tenants.yaml``, creation, and sync to the catalog.

``tenants.yaml`` is the declarative seed of the catalog (demo and pre-registered LAOs).
Self-service signup will create tenants through the same :func:`create_tenant`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import msgspec
import yaml
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from localgov.kernel.db import tenant_schema_name
from localgov.kernel.plugins import ServicePlugin
from localgov.platform.catalog import custom_domain_problem, normalise_host
from localgov.platform.installation import installed
from localgov.platform.models import Tenant, TenantDomain, TenantSource, TenantStatusCode
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
    status: TenantStatusCode = "active"
    domains: list[str] = msgspec.field(default_factory=list)
    contact: ProfileSeed | None = None


class TenantsFileError(ValueError):
    """``tenants.yaml`` is malformed; the message names the file and line."""


#: A location inside one tenant declaration: a key, then keys or list indexes below it.
FieldPath = tuple[str | int, ...]


def _problems(spec: TenantSpec, base_domain: str, known_services: Collection[str]) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    if not re.fullmatch(r"[0-9]{7}", spec.dla_code):
        problems.append((("dla_code",), f"dla_code {spec.dla_code!r} must be 7 digits"))
    elif lookup(spec.dla_code) is None:
        problems.append((("dla_code",), f"DLA code {spec.dla_code} is not in the official registry"))
    if not SLUG_RE.fullmatch(spec.slug):
        problems.append((("slug",), f"slug {spec.slug!r} must be 3-40 lower-case letters, digits or hyphens"))
    elif spec.slug in RESERVED_SLUGS:
        problems.append((("slug",), f"slug {spec.slug!r} is reserved"))
    if not spec.name_en.strip():
        problems.append((("name_en",), "name_en is empty"))
    problems.extend(
        (("enabled_services", i), f"unknown service {s!r}")
        for i, s in enumerate(spec.enabled_services)
        if s not in known_services
    )
    for i, domain in enumerate(spec.domains):
        host = normalise_host(domain)
        if host is None or host != domain:
            problems.append((("domains", i), f"domain {domain!r} is not a lower-case host name"))
        elif (problem := custom_domain_problem(host, base_domain)) is not None:
            problems.append((("domains", i), f"domain {domain!r}: {problem}"))
    return problems


def spec_problems(spec: TenantSpec, base_domain: str, known_services: Collection[str]) -> list[str]:
    """What is wrong with one tenant declaration (empty when valid)."""
    return [message for _, message in _problems(spec, base_domain, known_services)]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping_get(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found = (k, v)  # the last one, as the constructor keeps it (duplicates are refused anyway)
    return found


def _node_at(node: yaml.Node, path: FieldPath, *, key: bool = False) -> yaml.Node:
    """The node at ``path`` below ``node`` (its key node if ``key``), or the deepest that exists."""
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(step, str) and isinstance(node, yaml.MappingNode):
            pair = _mapping_get(node, step)
            if pair is None:
                break
            node = pair[0] if key and last else pair[1]
        elif isinstance(step, int) and isinstance(node, yaml.SequenceNode) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            break
    return node


_MSGSPEC_PATH = re.compile(r" - at `\$((?:\.[^.\[`]+|\[[0-9]+\])*)`$")
_MSGSPEC_STEP = re.compile(r"\.([^.\[`]+)|\[([0-9]+)\]")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")


def _validation_node(item: yaml.Node, message: str) -> yaml.Node:
    """The node a msgspec validation error of ``item`` is about (an unknown key: that key)."""
    path: list[str | int] = []
    match = _MSGSPEC_PATH.search(message)
    if match:
        for name, index in _MSGSPEC_STEP.findall(match.group(1)):
            path.append(name if name else int(index))
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return _node_at(item, (*path, unknown.group(1)), key=True)
    return _node_at(item, tuple(path))


def _duplicate_key(node: yaml.Node, seen: set[int] | None = None) -> tuple[yaml.Node, str] | None:
    """The first key that a mapping repeats (YAML would silently keep the last value)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in keys:
                    return k, k.value
                keys.add(k.value)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        for child in children:
            found = _duplicate_key(child, seen)
            if found is not None:
                return found
    return None


def load_tenants_file(path: Path, base_domain: str, known_services: Collection[str]) -> list[TenantSpec]:
    """Parse and validate ``tenants.yaml``; any problem raises with ``file:line: message``."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TenantsFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TenantsFileError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    try:
        loader = yaml.SafeLoader(source)
        try:
            root = loader.get_single_node()
            document: Any = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{mark.line + 1}" if mark is not None else "?"
        raise TenantsFileError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if root is None or not isinstance(root, yaml.MappingNode) or not isinstance(document, dict):
        raise TenantsFileError(
            f"{path}:{_line(root) if root is not None else 1}: expected a mapping with a 'tenants' list"
        )
    duplicate = _duplicate_key(root)
    if duplicate is not None:
        raise TenantsFileError(f"{path}:{_line(duplicate[0])}: key {duplicate[1]!r} is repeated")
    for key_node, _ in root.value:
        # ``x-...`` keys are free for YAML anchors (shared defaults); anything else is a typo.
        name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if name != "tenants" and not (isinstance(name, str) and name.startswith("x-")):
            raise TenantsFileError(
                f"{path}:{_line(key_node)}: unknown top-level key {name!r} (only 'tenants' and 'x-...' keys)"
            )
    pair = _mapping_get(root, "tenants")
    if pair is None:
        raise TenantsFileError(f"{path}:{_line(root)}: expected a mapping with a 'tenants' list")
    tenants_node = pair[1]
    items = document.get("tenants")
    if items is None:  # ``tenants:`` with nothing under it: no tenants
        return []
    if not isinstance(items, list) or not isinstance(tenants_node, yaml.SequenceNode):
        raise TenantsFileError(f"{path}:{_line(tenants_node)}: 'tenants' must be a list of tenants")
    specs: list[TenantSpec] = []
    seen_codes: dict[str, int] = {}
    seen_slugs: dict[str, int] = {}
    seen_domains: dict[str, int] = {}
    for item, node in zip(items, tenants_node.value, strict=True):
        try:
            spec = msgspec.convert(item, TenantSpec)
        except msgspec.ValidationError as exc:
            raise TenantsFileError(f"{path}:{_line(_validation_node(node, str(exc)))}: {exc}") from exc
        problems = _problems(spec, base_domain, known_services)
        for field, value, seen in (("dla_code", spec.dla_code, seen_codes), ("slug", spec.slug, seen_slugs)):
            line = _line(_node_at(node, (field,)))
            if value in seen:
                problems.append(((field,), f"{field} {value!r} is already declared at line {seen[value]}"))
            seen.setdefault(value, line)
        for i, domain in enumerate(spec.domains):
            line = _line(_node_at(node, ("domains", i)))
            if domain in seen_domains:
                problems.append(
                    (("domains", i), f"domain {domain!r} is already declared at line {seen_domains[domain]}")
                )
            seen_domains.setdefault(domain, line)
        if problems:
            line = min(_line(_node_at(node, field)) for field, _ in problems)
            raise TenantsFileError(f"{path}:{line}: " + "; ".join(message for _, message in problems))
        specs.append(spec)
    return specs


class SyncReport(msgspec.Struct):
    created: list[str] = msgspec.field(default_factory=list)
    updated: list[str] = msgspec.field(default_factory=list)
    unchanged: list[str] = msgspec.field(default_factory=list)
    provisioned: list[str] = msgspec.field(default_factory=list)
    not_in_file: list[str] = msgspec.field(default_factory=list)
    #: ``"<slug>: <reason>"`` for declarations the catalog refused (their transaction rolled back).
    failed: list[str] = msgspec.field(default_factory=list)
    #: Existing tenants whose enabled services differ from the file's: left as the LAO set them.
    services_kept: list[str] = msgspec.field(default_factory=list)


def _catalog_values(spec: TenantSpec, source: TenantSource) -> dict[str, Any]:
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


def _plugins_of(services: Collection[str], plugins: Sequence[ServicePlugin] | None) -> list[ServicePlugin]:
    """The plugins of ``services`` (``plugins`` None: the registry's); unknown slugs have no tables."""
    if plugins is None:
        plugins = installed().plugins
    return [p for p in plugins if p.slug in services]


async def create_tenant(
    conn: AsyncConnection, spec: TenantSpec, *, source: TenantSource, plugins: Sequence[ServicePlugin] | None = None
) -> int:
    """Insert the catalog row, add its domains and provision its schema with the tables of its
    services (each seeded), in the caller's transaction.

    ``plugins``: the service plugins the platform runs (None: the registry). Returns the new tenant
    id. Nothing of it is visible to others until the caller commits.
    """
    values = _catalog_values(spec, source)
    tenant_id = (await conn.execute(insert(Tenant).values(**values).returning(Tenant.id))).scalar_one()
    if spec.domains:
        await conn.execute(insert(TenantDomain), [{"domain": d, "tenant_id": tenant_id} for d in spec.domains])
    await provision_schema(
        conn,
        values["schema_name"],
        spec.contact,
        services=_plugins_of(values["enabled_services"], plugins),
        tenant_id=int(tenant_id),
    )
    return int(tenant_id)


async def _release_domains(
    conn: AsyncConnection, dla_code: str, domains: Collection[str], declared: Collection[str]
) -> set[str]:
    """Take ``domains`` away from the other tenants of the same file that held them until now.

    A domain moved from one declared tenant to another must not depend on the order of the file.
    Domains of tenants the file does not declare are left alone (inserting one then fails).
    Returns the DLA codes of the tenants that lost a domain.
    """
    if not domains:
        return set()
    released = await conn.execute(
        delete(TenantDomain)
        .where(
            TenantDomain.tenant_id == Tenant.id,
            TenantDomain.domain.in_(sorted(domains)),
            Tenant.dla_code != dla_code,
            Tenant.dla_code.in_(sorted(declared)),
        )
        .returning(Tenant.dla_code)
    )
    return set(released.scalars())


async def sync_tenants(
    engine: AsyncEngine, specs: Sequence[TenantSpec], *, plugins: Sequence[ServicePlugin] | None = None
) -> SyncReport:
    """Make the catalog match ``specs``: create and provision, update, leave the rest alone.

    Each tenant is its own transaction; running it again changes nothing. Contact details and
    enabled services seed a new tenant only: afterwards its profile belongs to the LAO's staff and
    its services to its administrators (a re-sync never switches off a service they enabled, nor
    back on one they disabled). The status is the file's until the operator changes it (suspend,
    reactivate, close): then it is the operator's. ``plugins``: as for :func:`create_tenant`.
    """
    report = SyncReport()
    declared = {s.dla_code for s in specs}
    owners: dict[str, str] = {}
    for spec in specs:
        for domain in spec.domains:
            if owners.setdefault(domain, spec.dla_code) != spec.dla_code:
                raise ValueError(f"domain {domain!r} is declared for {owners[domain]} and {spec.dla_code}")
    released: set[str] = set()  # tenants that lost a domain to a tenant synced before them
    for spec in specs:
        try:
            await _sync_one(engine, spec, declared, released, report, plugins)
        except IntegrityError as exc:
            report.failed.append(f"{spec.slug}: {_conflict_message(exc)}")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Tenant.dla_code, Tenant.slug).where(Tenant.source == "file"))).all()
        report.not_in_file = sorted(slug for code, slug in rows if code not in declared)
    return report


_CONFLICTS = {
    "uq_tenants_slug": "the slug is already used by another LAO",
    "uq_tenant_domains_routed": "a domain is already used by another LAO",
    "uq_tenants_dla_code": "the DLA code is already registered",
}


def _conflict_message(exc: IntegrityError) -> str:
    text_ = str(exc.orig)
    return next((message for name, message in _CONFLICTS.items() if name in text_), text_.splitlines()[0])


async def _sync_one(
    engine: AsyncEngine,
    spec: TenantSpec,
    declared: set[str],
    released: set[str],
    report: SyncReport,
    plugins: Sequence[ServicePlugin] | None,
) -> None:
    """One declared tenant in one transaction: create and provision, or update."""
    # Not ``enabled_services``: after creation they are the LAO's (issue 10: a re-sync by
    # ``serve`` switched off a service its administrator had enabled through the API).
    tracked = ("slug", "name_en", "status", "plan_code")
    async with engine.begin() as conn:
        existing = (
            (await conn.execute(select(Tenant.__table__).where(Tenant.dla_code == spec.dla_code).with_for_update()))
            .mappings()
            .one_or_none()
        )
        if existing is None:
            released |= await _release_domains(conn, spec.dla_code, spec.domains, declared)
            await create_tenant(conn, spec, source="file", plugins=plugins)
            report.created.append(spec.slug)
            report.provisioned.append(spec.slug)
            return
        tenant_id = existing["id"]
        values = _catalog_values(spec, existing["source"])
        changes = {k: values[k] for k in tracked if existing[k] != values[k]}
        if sorted(existing["enabled_services"] or ()) != values["enabled_services"]:
            report.services_kept.append(spec.slug)
        if existing["status_changed_at"] is not None:
            # The operator suspended, reactivated or closed it since: the file's status was only the
            # starting point (a re-sync must not reopen a suspended LAO or revive a dropped schema).
            changes.pop("status", None)
        if changes:
            await conn.execute(update(Tenant).where(Tenant.id == tenant_id).values(**changes, updated_at=func.now()))
        # The file's domains only: those the LAO claimed through the API (a challenge) are the LAO's.
        current = set(
            (
                await conn.execute(
                    select(TenantDomain.domain).where(
                        TenantDomain.tenant_id == tenant_id, TenantDomain.challenge_token.is_(None)
                    )
                )
            ).scalars()
        )
        wanted = set(spec.domains)
        if current - wanted:
            await conn.execute(
                delete(TenantDomain).where(
                    TenantDomain.tenant_id == tenant_id, TenantDomain.domain.in_(sorted(current - wanted))
                )
            )
        if wanted - current:
            released |= await _release_domains(conn, spec.dla_code, wanted - current, declared)
            # A domain the LAO had claimed becomes the operator's declaration (verified, no challenge).
            upsert = pg_insert(TenantDomain)
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["domain", "tenant_id"],
                    set_={"challenge_token": None, "verified_at": func.now(), "check_problem": None},
                ),
                [{"domain": d, "tenant_id": tenant_id} for d in sorted(wanted - current)],
            )
        if existing["schema_revision"] is None:
            await provision_schema(
                conn,
                existing["schema_name"],
                spec.contact,
                services=_plugins_of(existing["enabled_services"] or (), plugins),
                tenant_id=tenant_id,
            )
            report.provisioned.append(spec.slug)
        changed = bool(changes) or current != wanted or spec.dla_code in released
        (report.updated if changed else report.unchanged).append(spec.slug)
