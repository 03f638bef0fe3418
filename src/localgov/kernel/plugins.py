"""The contract every public-service plugin fulfils, and the objects it declares.

A plugin is one object: its slug and titles, its Litestar router (mounted at ``/v1/<slug>``),
its tables (on :class:`~localgov.kernel.db.TenantBase`), roles, usage meters, scheduled jobs,
the events it publishes and its outbox consumers (of its own topics, and of other plugins'
events), and the kinds of case it runs on the case engine. The explicit list of plugins is
:data:`localgov.plugins.REGISTRY`.

The contract is built on the mechanisms it declares: it imports :mod:`~localgov.kernel.jobs`,
:mod:`~localgov.kernel.outbox`, :mod:`~localgov.kernel.events` and :mod:`~localgov.kernel.cases`,
and none of them imports it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from litestar import Router
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.cases import CaseType, register_case_types, workflow_problems
from localgov.kernel.events import EVENT_CODE_RE, EventType
from localgov.kernel.examples import ExampleTable
from localgov.kernel.jobs import JobFunc, ScheduledJob
from localgov.kernel.outbox import DeliveryHandler

__all__ = [
    "CaseType",
    "DeliveryHandler",
    "EventType",
    "JobFunc",
    "Role",
    "ScheduledJob",
    "Scope",
    "SeedFunc",
    "ServicePlugin",
    "UsageMeter",
    "contract_violations",
    "declared_events",
    "register_plugin_case_types",
    "routes",
]

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class Role(msgspec.Struct, frozen=True):
    """A role staff can hold in a tenant, with the permissions it grants.

    Routes guarded by ``staff(permission=...)`` (:mod:`localgov.kernel.auth.guards`) admit a member
    holding any role whose ``permissions`` include it. A plugin's role grants only the plugin's
    own permissions (``<slug>.<name>``, checked by :func:`contract_violations`), so no plugin can
    hand out a core permission or another service's.
    """

    code: str
    title_th: str
    title_en: str
    permissions: tuple[str, ...] = ()


class Scope(msgspec.Struct, frozen=True):
    """An OAuth 2.0 scope integrators' API clients can be granted (``<slug>.<right>``)."""

    code: str
    title_th: str
    title_en: str


#: How the billing module turns a period's usage events of one meter into one quantity.
AGGREGATIONS = ("count", "sum", "unique_count", "max", "latest")


class UsageMeter(msgspec.Struct, frozen=True):
    """Something billable the plugin counts (``<slug>.<what>``), in ``unit``.

    ``aggregation``: ``sum`` of the events' quantities (the default: one event of quantity 1 per
    action counts actions), ``count`` of events, ``unique_count`` of their subjects, ``max`` or
    ``latest`` quantity (a level such as bytes stored).
    """

    code: str
    unit: str
    title_th: str
    title_en: str
    aggregation: str = "sum"


#: ``seed(session, today)``: a plugin's editable defaults for a new tenant.
SeedFunc = Callable[[AsyncSession, dt.date], Awaitable[None]]


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
    #: The events the service publishes (``<slug>.<name>``, see :mod:`localgov.kernel.events`).
    events: tuple[EventType[Any], ...] = ()
    #: Outbox consumers, each idempotent, by topic: the plugin's own topics (``<slug>.<name>``,
    #: written with ``enqueue``) and the codes of events it subscribes to (its own or another
    #: plugin's, e.g. ``payments.bill_paid``).
    handlers: Mapping[str, DeliveryHandler] = msgspec.field(default_factory=dict)
    #: Topics whose consumers do long work that others wait to see (provisioning, archives): the
    #: worker commits each such entry in a transaction of its own, not with the rest of a batch.
    solo_topics: frozenset[str] = frozenset()
    #: Writes the service's editable defaults (fee tables, manuals) into a new tenant's schema,
    #: in the provisioning transaction (search path already on that schema). Must be idempotent.
    seed: SeedFunc | None = None
    #: The kinds of case the service runs on the case engine (``<slug>.<name>``, see
    #: :mod:`localgov.kernel.cases`); registered with the engine when the plugin is installed.
    case_types: tuple[CaseType, ...] = ()
    #: The OpenAPI tags its routes use: name → English description (every tag used must be declared).
    tags: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: Request-body examples of its operations, by ``operationId`` (:mod:`localgov.kernel.examples`).
    examples: ExampleTable = msgspec.field(default_factory=dict)
    #: The folder of the service's own tenant Alembic history (shipped in its package), which
    #: creates and upgrades its ``tables``; its version table is ``alembic_version_<slug>``.
    migrations: Path | None = None

    @property
    def path(self) -> str:
        return f"/v1/{self.slug}"


def declared_events(plugins: Iterable[ServicePlugin]) -> dict[str, EventType[Any]]:
    """Every event the plugins publish, by code."""
    return {event.code: event for plugin in plugins for event in plugin.events}


def register_plugin_case_types(plugins: Iterable[ServicePlugin]) -> None:
    """Make the plugins' case types known to the case engine (the composition root, once at start)."""
    register_case_types(case_type for plugin in plugins for case_type in plugin.case_types)


def routes(
    plugins: Sequence[ServicePlugin],
) -> tuple[dict[str, DeliveryHandler], dict[str, dict[str, DeliveryHandler]]]:
    """The plugins' handlers split for the worker: topics (topic -> handler) and subscriptions to
    the events the plugins declare (event code -> subscriber slug -> handler). A handler of a code
    nobody declares stays a topic (the contract refuses one that is not the plugin's own)."""
    events = declared_events(plugins)
    topics: dict[str, DeliveryHandler] = {}
    subscribers: dict[str, dict[str, DeliveryHandler]] = {}
    for plugin in plugins:
        for key, handler in plugin.handlers.items():
            if key in events:
                subscribers.setdefault(key, {})[plugin.slug] = handler
            else:
                topics[key] = handler
    return topics, subscribers


def contract_violations(
    plugin: ServicePlugin, tenant_tables: Mapping[str, Any], *, others: Iterable[ServicePlugin] = ()
) -> list[str]:
    """Everything about ``plugin`` that breaks the contract (empty when it complies).

    ``others`` are the plugins it is registered with: a handler may subscribe to their events,
    and only to events somebody declares.
    """
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
    known_events = declared_events([*(p for p in others if p.slug != plugin.slug), plugin])
    own_topics = [topic for topic in plugin.handlers if topic not in known_events]
    for label, codes in (
        ("role", [r.code for r in plugin.roles]),
        ("scope", [s.code for s in plugin.scopes]),
        ("meter", [m.code for m in plugin.meters]),
        ("job", [j.name for j in plugin.jobs]),
        ("event", [e.code for e in plugin.events]),
        ("case type", [c.code for c in plugin.case_types]),
        ("handler topic", own_topics),
    ):
        if len(codes) != len(set(codes)):
            problems.append(f"duplicate {label} codes")
        problems.extend(
            f"{label} {code!r} must be {prefix}<name>"
            + (" or an event some plugin declares" if label == "handler topic" else "")
            for code in codes
            if not code.startswith(prefix) or not CODE_RE.fullmatch(code)
        )
    for event in plugin.events:
        if not EVENT_CODE_RE.fullmatch(event.code):
            problems.append(f"event {event.code!r} must be {prefix}<name> (one dot)")
        if not re.search(r"[\u0e00-\u0e7f]", event.title_th):
            problems.append(f"event {event.code}: title_th must be Thai text")
        if not event.title_en.strip():
            problems.append(f"event {event.code}: title_en is empty")
        if not (isinstance(event.payload, type) and issubclass(event.payload, msgspec.Struct)):
            problems.append(f"event {event.code}: the payload must be a msgspec.Struct type")
        if event.webhook is not None and not EVENT_CODE_RE.fullmatch(event.webhook):
            problems.append(f"event {event.code}: webhook name {event.webhook!r} must be <noun>.<verb> (one dot)")
    for other in others:
        if other.slug == plugin.slug:
            continue
        problems.extend(
            f"event {e.code!r} is also declared by {other.slug}"
            for e in other.events
            if e.code in {mine.code for mine in plugin.events}
        )
        problems.extend(
            f"webhook name {e.webhook!r} is also used by {other.slug}"
            for e in other.events
            if e.webhook is not None and e.webhook in {mine.webhook for mine in plugin.events}
        )
    problems.extend(
        f"permission {permission!r} of role {role.code} must be {prefix}<name>"
        for role in plugin.roles
        for permission in role.permissions
        if not permission.startswith(prefix) or not CODE_RE.fullmatch(permission)
    )
    problems.extend(
        f"meter {m.code}: aggregation {m.aggregation!r} must be one of {', '.join(AGGREGATIONS)}"
        for m in plugin.meters
        if m.aggregation not in AGGREGATIONS
    )
    problems.extend(
        f"meter {m.code}: title_th must be Thai text"
        for m in plugin.meters
        if not re.search(r"[\u0e00-\u0e7f]", m.title_th)
    )
    for job in plugin.jobs:
        if job.every < dt.timedelta(seconds=1):
            problems.append(f"job {job.name} runs more often than once a second")
    problems.extend(_case_type_violations(plugin, others))
    if plugin.tables and plugin.migrations is None:
        problems.append("tables need a migrations history (ServicePlugin.migrations)")
    problems.extend(f"solo topic {t!r} has no handler" for t in sorted(plugin.solo_topics - set(own_topics)))
    return problems


def _case_type_violations(plugin: ServicePlugin, others: Iterable[ServicePlugin]) -> list[str]:
    """A case type is a valid workflow whose every staff permission some role of the plugin grants,
    and no other plugin declares its code."""
    problems: list[str] = []
    granted = {permission for role in plugin.roles for permission in role.permissions}
    for case_type in plugin.case_types:
        problems.extend(f"case type {case_type.code}: {p}" for p in workflow_problems(case_type))
        problems.extend(
            f"case type {case_type.code}: permission {p!r} is granted by no role of the plugin"
            for p in sorted(case_type.permissions - granted)
        )
    for other in others:
        if other.slug == plugin.slug:
            continue
        problems.extend(
            f"case type {c.code!r} is also declared by {other.slug}"
            for c in other.case_types
            if c.code in {mine.code for mine in plugin.case_types}
        )
    return problems
