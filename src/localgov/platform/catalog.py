"""The in-memory tenant catalog every process routes by, kept fresh with LISTEN/NOTIFY.

Resolving a Host never touches the database. A trigger on the catalog tables sends
``NOTIFY localgov_catalog``; each process listens on its own connection and reloads the whole map
(coalescing bursts), and also reloads every ``catalog_refresh_s`` seconds in case a
notification was lost while its listening connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg
import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.tenancy import OPERATOR, OperatorHost, TenantInfo
from localgov.platform.models import Tenant, TenantDomain

log = structlog.get_logger("localgov.catalog")

CHANNEL = "localgov_catalog"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
#: Above this many changed tenants at once, one full reload is cheaper than a partial one.
_PARTIAL_LIMIT = 200


def normalise_host(raw: str | None) -> str | None:
    """Lower-case, port-less, dot-less host name, or None when it cannot be a host of ours.

    Only ASCII letters, digits, hyphens and dots survive; IP-v6 literals, quotes, spaces,
    non-ASCII look-alikes and over-long values are rejected here, before any lookup.
    """
    if not raw or len(raw) > 260:
        return None
    host = raw.strip().lower()
    if host.startswith("["):
        return None
    if ":" in host:
        host, _, port = host.rpartition(":")
        if not _PORT_RE.fullmatch(port):
            return None
    if host.endswith("."):
        host = host[:-1]
    if len(host) > 253 or not host.isascii() or not _HOST_RE.fullmatch(host):
        return None
    return host


#: Top-level names that never lead to an LAO on the public internet: this host and private networks
#: (RFC 6761, RFC 6762, RFC 7686, ICANN's ``internal``). ``example`` and ``test`` stay usable (tests).
_SPECIAL_USE_TLDS = frozenset(
    {"localhost", "localdomain", "local", "internal", "invalid", "arpa", "onion", "lan", "home"}
)


def custom_domain_problem(host: str, base_domain: str) -> str | None:
    """Why ``host`` (already a normalised host name) cannot be an LAO's custom domain, or None.

    Refused: an IP literal (a last label of digits only: ``127.0.0.1`` would make every request by
    address an LAO's), a special-use name (``localhost``, ``*.local``, ``*.internal`` …), and the
    operator's own names (the base domain, anything under it, and the names above it).
    """
    labels = host.split(".")
    if len(labels) < 2:
        return "A domain needs at least two labels."
    if labels[-1].isdigit():
        return "An IP address is not a domain: every request by address would be served as this LAO."
    if labels[-1] in _SPECIAL_USE_TLDS:
        return "This name is for local networks, not the public internet."
    if host == base_domain or host.endswith("." + base_domain) or base_domain.endswith("." + host):
        return "Domains under the platform's own domain are given by the platform (the LAO's sub-domain)."
    return None


class Catalog:
    """Host → tenant, rebuilt as a whole and swapped atomically."""

    def __init__(self, base_domain: str) -> None:
        self.base_domain = base_domain
        self._suffix = "." + base_domain
        self._by_slug: dict[str, TenantInfo] = {}
        self._by_domain: dict[str, TenantInfo] = {}
        self._by_id: dict[int, TenantInfo] = {}
        self.version = 0
        #: :func:`fingerprint` of the catalog tables as of the last read (None: never read).
        self.fingerprint: str | None = None

    def replace(self, tenants: Iterable[TenantInfo]) -> None:
        by_slug: dict[str, TenantInfo] = {}
        by_domain: dict[str, TenantInfo] = {}
        by_id: dict[int, TenantInfo] = {}
        for t in tenants:
            by_slug[t.slug] = t
            by_id[t.id] = t
            for d in t.domains:
                if custom_domain_problem(d, self.base_domain) is None:  # a row from before the rule routes nothing
                    by_domain[d] = t
        self._by_slug, self._by_domain, self._by_id = by_slug, by_domain, by_id
        self.version += 1

    def resolve(self, raw_host: str | None) -> TenantInfo | OperatorHost | None:
        host = normalise_host(raw_host)
        if host is None:
            return None
        if host == self.base_domain:
            return OPERATOR
        if host.endswith(self._suffix):
            label = host[: -len(self._suffix)]
            return None if "." in label else self._by_slug.get(label)
        return self._by_domain.get(host)

    def by_id(self, tenant_id: int) -> TenantInfo | None:
        return self._by_id.get(tenant_id)

    def by_slug(self, slug: str) -> TenantInfo | None:
        return self._by_slug.get(slug)

    def all(self) -> list[TenantInfo]:
        return sorted(self._by_id.values(), key=lambda t: t.id)

    def __len__(self) -> int:
        return len(self._by_id)

    async def load(self, engine: AsyncEngine) -> None:
        """Read the whole catalog (shared tables, schema-qualified) and swap it in."""
        # Taken before the read: a change in between makes the next check reload once more.
        mark = await fingerprint(engine)
        self.replace(await _fetch(engine, None))
        self.fingerprint = mark

    async def reload(self, engine: AsyncEngine, tenant_ids: Collection[int]) -> None:
        """Re-read only these tenants (a NOTIFY names the ones that changed) and swap the map."""
        fresh = {t.id: t for t in await _fetch(engine, tenant_ids)}
        kept = (t for t in self._by_id.values() if t.id not in tenant_ids)
        self.replace([*kept, *fresh.values()])
        # No digest here: during bulk provisioning a digest per notification would cost PostgreSQL
        # ~30 ms each (7,849 rows). The next periodic check rebuilds the map once instead.
        self.fingerprint = None


_FINGERPRINT = text(
    "SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM platform.tenants t)"
    " || (SELECT md5(coalesce(string_agg(d::text, '|' ORDER BY d.domain), '')) FROM platform.tenant_domains d)"
)


async def fingerprint(engine: AsyncEngine) -> str:
    """A digest of every catalog row, computed by PostgreSQL (a few ms there, none on our loop).

    The periodic safety net compares it instead of rebuilding the map: at 7,849 tenants a full
    rebuild held each process's event loop for 76-111 ms every 30 s (bench/README.md, "Scale").
    """
    async with engine.connect() as conn:
        return str((await conn.execute(_FINGERPRINT)).scalar_one())


async def _fetch(engine: AsyncEngine, tenant_ids: Collection[int] | None) -> list[TenantInfo]:
    tenants_q = select(Tenant.__table__).where(Tenant.schema_revision.is_not(None))  # not yet provisioned: not routable
    domains_q = select(TenantDomain.__table__).where(TenantDomain.verified_at.is_not(None))  # pending: not routed
    if tenant_ids is not None:
        tenants_q = tenants_q.where(Tenant.id.in_(list(tenant_ids)))
        domains_q = domains_q.where(TenantDomain.tenant_id.in_(list(tenant_ids)))
    async with engine.connect() as conn:
        tenants = (await conn.execute(tenants_q)).mappings().all()
        domains = (await conn.execute(domains_q)).mappings().all()
    per_tenant: dict[int, list[str]] = {}
    for d in domains:
        per_tenant.setdefault(d["tenant_id"], []).append(d["domain"])
    return [tenant_info(row, per_tenant.get(row["id"], ())) for row in tenants]


def tenant_info(row: Mapping[Any, Any], domains: Iterable[str] = ()) -> TenantInfo:
    """The router's view of one ``platform.tenants`` row (as a mapping of its columns)."""
    return TenantInfo(
        id=row["id"],
        dla_code=row["dla_code"],
        slug=row["slug"],
        schema=row["schema_name"],
        name_th=row["name_th"],
        name_en=row["name_en"],
        lao_type=row["lao_type"],
        province_code=row["province_code"],
        province_th=row["province_th"],
        province_en=row["province_en"],
        district_th=row["district_th"],
        status=row["status"],
        plan_code=row["plan_code"],
        enabled_services=frozenset(row["enabled_services"] or ()),
        domains=tuple(sorted(domains)),
        cors_origins=frozenset(row.get("cors_origins") or ()),
    )


class Follower(Protocol):
    """Another in-memory copy kept fresh by the same listening connection (one per process): it is
    reloaded whole on a notification of its channel, on reconnection and every ``refresh_s`` (unless
    it says ``reload_on_timer = False``: a copy filled on demand, which a timer would only empty)."""

    @property
    def channel(self) -> str: ...

    async def load(self, engine: AsyncEngine) -> None: ...


class CatalogListener:
    """Keeps a :class:`Catalog` fresh from NOTIFY, with a periodic full reload as a safety net."""

    def __init__(
        self, catalog: Catalog, engine: AsyncEngine, dsn: str, refresh_s: float, followers: Sequence[Follower] = ()
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        self.dsn = dsn
        self.refresh_s = refresh_s
        self.followers = tuple(followers)
        # Small copies are reloaded whole by the periodic safety net; a copy filled on demand
        # (``reload_on_timer`` False: kernel.reads.RowCache) only on a notification or a reconnection.
        self._timer_reloaded = frozenset(i for i, f in enumerate(self.followers) if getattr(f, "reload_on_timer", True))
        self._changed = asyncio.Event()
        self._pending: set[int] = set()
        self._full = False
        self._stale: set[int] = set()  # indexes of the followers notified since their last load
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.catalog.load(self.engine)
        for follower in self.followers:
            await follower.load(self.engine)
        self._task = asyncio.create_task(self._run(), name="catalog-listener")

    def _on_follower_notify(self, index: int) -> Callable[..., None]:
        def notified(*_args: Any) -> None:
            self._stale.add(index)
            self._changed.set()

        return notified

    async def _load_followers(self, indexes: Collection[int]) -> None:
        for index in sorted(indexes):
            await self.followers[index].load(self.engine)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            self._pending.add(int(payload))
        else:
            self._full = True
        self._changed.set()

    async def _apply(self) -> None:
        ids, full = self._pending, self._full
        self._pending, self._full = set(), False
        if full or len(ids) > _PARTIAL_LIMIT:
            await self.catalog.load(self.engine)
        elif ids:
            await self.catalog.reload(self.engine, ids)

    async def _run(self) -> None:
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "localgov-catalog"})
                await conn.add_listener(CHANNEL, self._on_notify)
                for index, follower in enumerate(self.followers):
                    await conn.add_listener(follower.channel, self._on_follower_notify(index))
                # Whatever changed while we were not listening is picked up now.
                self._pending.clear()
                self._stale.clear()
                await self.catalog.load(self.engine)
                await self._load_followers(range(len(self.followers)))
                while not conn.is_closed():
                    try:
                        # Not ``asyncio.wait_for``: on Python 3.11 it loses a cancellation that comes
                        # as the event is set (a notification just before shutdown), and ``stop``
                        # then waits for ever.
                        async with asyncio.timeout(self.refresh_s):
                            await self._changed.wait()
                    except TimeoutError:
                        # The safety net for a lost notification: reload only if something changed.
                        known = self.catalog.fingerprint
                        if known is None:
                            self._full = True  # changed by notifications since the last full read
                        elif await fingerprint(self.engine) != known:
                            log.warning("catalog_changed_without_notification")
                            self._full = True
                        self._stale.update(self._timer_reloaded)
                    # Coalesce a burst of notifications (bulk provisioning) into one reload; short,
                    # since a new tenant waits for it (bench/README.md, "Signup": 50 ms was most
                    # of the time from commit to the first 200).
                    await asyncio.sleep(0.01)
                    self._changed.clear()
                    await self._apply()
                    stale, self._stale = self._stale, set()
                    await self._load_followers(stale)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("catalog_listener_error")
                await asyncio.sleep(1.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
