"""The contract every public-service plugin fulfils, and the objects it declares.

A plugin is one object: its slug and titles, its Litestar router (mounted at ``/v1/<slug>``),
its tables (on :class:`~localgov.kernel.db.TenantBase`), roles, usage meters, scheduled jobs and
outbox consumers. The explicit list of plugins is :data:`localgov.plugins.REGISTRY`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Router
from sqlalchemy import Table

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from localgov.kernel.jobs import JobContext
    from localgov.kernel.outbox import Delivery

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class Role(msgspec.Struct, frozen=True):
    """A role staff can hold in a tenant, with the permissions it grants."""

    code: str
    title_th: str
    title_en: str
    permissions: tuple[str, ...] = ()


class Scope(msgspec.Struct, frozen=True):
    """An OAuth 2.0 scope integrators' API clients can be granted (``<slug>.<right>``)."""

    code: str
    title_th: str
    title_en: str


class UsageMeter(msgspec.Struct, frozen=True):
    """Something billable the plugin counts (``<slug>.<what>``), in ``unit``."""

    code: str
    unit: str
    title_th: str
    title_en: str


JobFunc = Callable[["JobContext"], Awaitable[None]]
DeliveryHandler = Callable[["Delivery"], Awaitable[None]]
#: ``seed(session, today)``: a plugin's editable defaults for a new tenant.
SeedFunc = Callable[["AsyncSession", dt.date], Awaitable[None]]


class ScheduledJob(msgspec.Struct, frozen=True):
    """A timer run by ``localgov worker``; ``per_tenant`` runs it once per tenant that enabled the plugin."""

    name: str
    every: dt.timedelta
    run: JobFunc
    per_tenant: bool = False


class ServicePlugin(msgspec.Struct, frozen=True, kw_only=True):
    """One public service (บริการสาธารณะ) as the platform sees it."""

    slug: str
    title_th: str
    title_en: str
    router: Router
    tables: tuple[Table, ...] = ()
    roles: tuple[Role, ...] = ()
    scopes: tuple[Scope, ...] = ()
    meters: tuple[UsageMeter, ...] = ()
    jobs: tuple[ScheduledJob, ...] = ()
    #: Outbox consumers by topic (``<slug>.<event>``). Each must be idempotent.
    handlers: Mapping[str, DeliveryHandler] = msgspec.field(default_factory=dict)
    #: Topics whose consumers do long work that others wait to see (provisioning, archives): the
    #: worker commits each such entry in a transaction of its own, not with the rest of a batch.
    solo_topics: frozenset[str] = frozenset()
    #: Writes the service's editable defaults (fee tables, manuals) into a new tenant's schema,
    #: in the provisioning transaction (search path already on that schema). Must be idempotent.
    seed: SeedFunc | None = None
    #: The folder of the service's own tenant Alembic history (shipped in its package), which
    #: creates and upgrades its ``tables``; its version table is ``alembic_version_<slug>``.
    migrations: Path | None = None

    @property
    def path(self) -> str:
        return f"/v1/{self.slug}"


def contract_violations(plugin: ServicePlugin, tenant_tables: Mapping[str, Any]) -> list[str]:
    """Everything about ``plugin`` that breaks the contract (empty when it complies)."""
    problems: list[str] = []
    prefix = plugin.slug + "."
    if not SLUG_RE.fullmatch(plugin.slug):
        problems.append(f"slug {plugin.slug!r} must match {SLUG_RE.pattern}")
    if not re.search(r"[\u0e00-\u0e7f]", plugin.title_th):
        problems.append("title_th must be Thai text")
    if not plugin.title_en.strip():
        problems.append("title_en is empty")
    if plugin.router.path != plugin.path:
        problems.append(f"router path {plugin.router.path!r} must be {plugin.path!r}")
    for table in plugin.tables:
        if table.schema is not None or tenant_tables.get(table.name) is not table:
            problems.append(f"table {table.name} is not an unqualified table of the tenant metadata")
    for label, codes in (
        ("role", [r.code for r in plugin.roles]),
        ("scope", [s.code for s in plugin.scopes]),
        ("meter", [m.code for m in plugin.meters]),
        ("job", [j.name for j in plugin.jobs]),
        ("handler topic", list(plugin.handlers)),
    ):
        if len(codes) != len(set(codes)):
            problems.append(f"duplicate {label} codes")
        problems.extend(
            f"{label} {code!r} must be {prefix}<name>"
            for code in codes
            if not code.startswith(prefix) or not CODE_RE.fullmatch(code)
        )
    for job in plugin.jobs:
        if job.every < dt.timedelta(seconds=1):
            problems.append(f"job {job.name} runs more often than once a second")
    if plugin.tables and plugin.migrations is None:
        problems.append("tables need a migrations history (ServicePlugin.migrations)")
    problems.extend(f"solo topic {t!r} has no handler" for t in sorted(plugin.solo_topics - set(plugin.handlers)))
    return problems
