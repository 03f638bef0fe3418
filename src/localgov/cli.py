"""The ``localgov`` command: serve, worker, migrate, tenants."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import text

from localgov.settings import Settings, SettingsError

if TYPE_CHECKING:
    from localgov.platform.migrate import MigrateReport


def _settings_with_database(settings: Settings) -> Settings:
    """In development mode start the embedded server (no database URL) and keep a secret key file."""
    if not settings.secret_key and settings.env != "production":
        from localgov.devdb import development_secret

        settings = msgspec.structs.replace(settings, secret_key=development_secret(settings.data_path))
    if settings.database_url:
        return settings
    if settings.env == "production":
        raise SettingsError("LOCALGOV_DATABASE_URL is required in production")
    from localgov.devdb import start_embedded

    url = start_embedded(settings.data_path)
    print(f"localgov: embedded PostgreSQL at {url}", file=sys.stderr)
    return msgspec.structs.replace(settings, database_url=url)


def _known_services() -> set[str]:
    from localgov.plugins import REGISTRY

    return {p.slug for p in REGISTRY}


async def _migrate(settings: Settings, check: bool, processes: int, verify: bool = False) -> int:
    from localgov.kernel.db import create_engine
    from localgov.platform.migrate import migrate_tenants, shared_is_at_head, upgrade_shared

    engine = create_engine(settings)
    try:
        if check:
            async with engine.connect() as conn:
                shared_ok = await shared_is_at_head(conn)
            if not shared_ok:
                print("shared schema: behind head")
                return 1
        else:
            from localgov.kernel.auth.keys import ensure_key

            await upgrade_shared(engine, settings.database_kind)
            await ensure_key(engine, settings.secret_key)
        report = await migrate_tenants(
            engine,
            settings.database_url,
            processes=processes or settings.migrate_processes,
            check_only=check,
            verify=verify,
        )
    finally:
        await engine.dispose()
    if check:
        for schema in report.behind:
            print(f"behind: {schema}")
        print(
            f"{report.total} tenant schemas, {len(report.behind)} behind head {_heads(report)} ({report.seconds:.2f} s)"
        )
        return 1 if report.behind else 0
    for failed in report.failed:
        print(f"FAILED {failed.schema} (kept at {failed.from_revision}): {failed.error}", file=sys.stderr)
    upgraded = len(report.results) - len(report.failed)
    print(
        f"{report.total} tenant schemas: {upgraded} upgraded, {len(report.failed)} failed, "
        f"{report.total - len(report.behind)} already at head {_heads(report)} ({report.seconds:.2f} s)"
    )
    return 1 if report.failed else 0


def _heads(report: MigrateReport) -> str:
    """``core 0004_idempotency, payments 0005``: the head of each tenant history."""
    return ", ".join(f"{name} {head}" for name, head in report.heads.items()) or report.head


async def _sync(settings: Settings, path: Path) -> int:
    from localgov.kernel.db import create_engine
    from localgov.platform.tenants import TenantsFileError, load_tenants_file, sync_tenants

    try:
        specs = load_tenants_file(path, settings.base_domain, _known_services())
    except TenantsFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = create_engine(settings)
    try:
        report = await sync_tenants(engine, specs)
    finally:
        await engine.dispose()
    print(
        f"tenants: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.provisioned)} provisioned, {len(report.failed)} failed"
    )
    for slug in report.not_in_file:
        print(f"note: {slug} came from tenants.yaml earlier and is no longer declared (left unchanged)")
    for slug in report.services_kept:
        print(f"note: {slug} offers other services than tenants.yaml declares (its administrators' choice, kept)")
    for failure in report.failed:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if report.failed else 0


async def _provision(settings: Settings, limit: int | None, concurrency: int, services: Sequence[str] = ()) -> int:
    from localgov.kernel.db import create_engine
    from localgov.platform.bulk import BulkReport, provision_from_registry

    unknown = sorted(set(services) - _known_services())
    if unknown:
        known = ", ".join(sorted(_known_services()))
        print(f"error: unknown services: {', '.join(unknown)} (known: {known})", file=sys.stderr)
        return 2

    def progress(report: BulkReport) -> None:
        print(f"  {report.created} provisioned ({time.perf_counter() - started:.1f} s)", flush=True)

    started = time.perf_counter()
    engine = create_engine(settings, pool_size=concurrency, max_overflow=0)
    try:
        report = await provision_from_registry(
            engine, limit=limit, concurrency=concurrency, progress=progress, services=services
        )
    finally:
        await engine.dispose()
    print(
        f"registry: {report.created} provisioned, {report.skipped} already in the catalog, "
        f"{len(report.failed)} failed in {report.seconds:.1f} s; per tenant median "
        f"{report.quantile(0.5) * 1000:.1f} ms, p95 {report.quantile(0.95) * 1000:.1f} ms"
    )
    for failure in report.failed:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if report.failed else 0


async def _list(settings: Settings) -> int:
    from localgov.kernel.db import create_engine
    from localgov.platform.catalog import Catalog

    engine = create_engine(settings)
    try:
        catalog = Catalog(settings.base_domain)
        await catalog.load(engine)
    finally:
        await engine.dispose()
    for t in catalog.all():
        services = ",".join(sorted(t.enabled_services)) or "-"
        print(f"{t.dla_code}  {t.slug:<24} {t.status:<10} {t.schema:<12} {services:<20} {t.name_th}")
    print(f"{len(catalog)} tenants")
    return 0


async def _verify_registers(settings: Settings, slug: str | None) -> int:
    """``localgov saraban verify-registers``: recompute the hash chain of every e-Saraban register
    (each tenant running the service, or one); names the first altered line of each broken chain."""
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.platform.catalog import Catalog
    from localgov.services.saraban.registers import verify

    engine = create_engine(settings)
    broken = 0
    try:
        catalog = Catalog(settings.base_domain)
        await catalog.load(engine)
        tenants = [t for t in catalog.all() if "saraban" in t.enabled_services and (slug is None or t.slug == slug)]
        if slug is not None and not tenants:
            print(f"error: no tenant {slug!r} running saraban in the catalog", file=sys.stderr)
            return 2
        for tenant in tenants:
            async with tenant_session(session_factory(engine), tenant) as session:
                reports = await verify(session)
            for report in reports:
                if report.ok:
                    print(f"{tenant.slug}  {report.register:<7} {report.year}  ok ({report.entries} lines)")
                else:
                    broken += 1
                    print(
                        f"{tenant.slug}  {report.register:<7} {report.year}  ALTERED at line {report.first_bad_seq} "
                        f"(entry {report.first_bad_id}): {report.reason}"
                    )
    finally:
        await engine.dispose()
    return 1 if broken else 0


async def _rotate_key(settings: Settings) -> int:
    from localgov.kernel.auth.keys import rotate_key
    from localgov.kernel.db import create_engine

    engine = create_engine(settings)
    try:
        # The old key verifies until every token it signed has expired, with a margin for clock skew.
        kid = await rotate_key(
            engine, settings.secret_key, publish_s=settings.key_publish_s, overlap_s=settings.access_token_ttl_s + 120
        )
    finally:
        await engine.dispose()
    print(f"new signing key {kid}: published now, signs in {settings.key_publish_s} s")
    return 0


def _read_new_password() -> str | None:
    """The new operator's password, from standard input: never from the command line, where it
    would be visible to every user of the machine (``ps``) and kept in shell history.

    On a terminal it is asked twice without echo; otherwise the first line of standard input is
    taken (``printf '%s\\n' "$PW" | localgov operators add …``)."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            print("error: the passwords differ", file=sys.stderr)
            return None
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


async def _add_operator(settings: Settings, email: str, name: str, roles: list[str], password: str) -> int:
    from localgov.identity.operators import add_operator
    from localgov.kernel.audit import Actor, Origin, record_audit
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.kernel.errors import DomainError

    engine = create_engine(settings)
    try:
        async with tenant_session(session_factory(engine), None) as session:
            user = await add_operator(
                session,
                email=email,
                full_name=name,
                roles=roles,
                password=password,
                min_length=settings.password_min_length,
                min_score=settings.password_min_score,
                operator_words=[settings.base_domain],
            )
            await record_audit(
                session,
                "operator.created",
                actor=Actor("system", "cli"),
                origin=Origin(),
                target=user.email,
                data={"roles": sorted(user.roles)},
                operator=True,
            )
    except DomainError as exc:
        print(f"error: {exc.detail or exc.title}", file=sys.stderr)
        for line in (exc.data or {}).get("feedback_th", ()):
            print(f"  {line}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"operator {user.email} ({', '.join(sorted(user.roles))}) added: {user.id}")
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """The shared socket of ``serve --workers N``, made with an explicit ``IPPROTO_TCP``.

    uvicorn's own (``socket.socket(family)``) has protocol 0; accepted connections inherit it, and
    asyncio sets ``TCP_NODELAY`` only on sockets whose protocol is ``IPPROTO_TCP``. Without it each
    keep-alive response waited ~40 ms for the client's delayed ACK (uvicorn issue #3149).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    if settings.embedded_database or settings.env == "development":
        # Development mode: bring the database to head and the catalog in line with tenants.yaml.
        code = asyncio.run(_migrate(settings, check=False, processes=0))
        if code == 0 and Path(settings.tenants_file).exists():
            code = asyncio.run(_sync(settings, Path(settings.tenants_file)))
        if code != 0:
            return code
    if workers > 1:
        import os

        from uvicorn.supervisors import Multiprocess

        os.environ["LOCALGOV_DATABASE_URL"] = settings.database_url
        os.environ["LOCALGOV_SECRET_KEY"] = settings.secret_key
        config = uvicorn.Config(
            "localgov.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            **proxy_options(settings),
        )
        sock = listening_socket(host, port)
        # uvicorn says where it listens only when it binds the socket itself; this one is ours, so
        # say it here, with the port bound (``--port 0``: one the system picked).
        bound_host, bound_port = sock.getsockname()[:2]
        address = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(f"localgov: serving on http://{address}:{bound_port} ({workers} workers)", file=sys.stderr, flush=True)
        Multiprocess(config, sockets=[sock]).run()
        return 0
    from localgov.app import create_app

    uvicorn.run(
        create_app(settings), host=host, port=port, log_config=None, access_log=False, **proxy_options(settings)
    )
    return 0


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy headers, from ``LOCALGOV_TRUSTED_PROXIES`` only.

    Left on its defaults uvicorn believes ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from
    127.0.0.1 (or from ``FORWARDED_ALLOW_IPS``), whoever that is. Here they are off unless proxies
    are listed, and then believed from those only; the application applies the same rule
    (:func:`localgov.kernel.web.client_address`), so an address rewritten by uvicorn is not rewritten again.
    """
    networks = [str(n) for n in settings.trusted_proxy_networks]
    if not networks:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": networks}


def _count(raw: str) -> int:
    """An argparse type: an integer >= 0 (a negative one is a usage error, not a traceback)."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localgov", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API (development mode: embedded PostgreSQL)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("worker", help="deliver the outbox and run scheduled jobs")
    migrate = sub.add_parser("migrate", help="upgrade the shared schema, then every tenant schema")
    migrate.add_argument("--check", action="store_true", help="only report; exit 1 if anything is behind")
    migrate.add_argument(
        "--verify", action="store_true", help="read every schema's alembic_version, not the catalog's mirror"
    )
    migrate.add_argument("--processes", type=int, default=0, help="parallel worker processes (0: one per CPU)")
    keys = sub.add_parser("keys", help="token-signing keys")
    keys.add_subparsers(dest="keys_command", required=True).add_parser(
        "rotate", help="add a new signing key; the current one keeps verifying until its tokens expire"
    )
    operators = sub.add_parser("operators", help="the platform operator's staff")
    add_operator = operators.add_subparsers(dest="operators_command", required=True).add_parser(
        "add", help="add an operator account; its password is read from standard input, never an argument"
    )
    add_operator.add_argument("--email", required=True)
    add_operator.add_argument("--name", required=True, help="full name")
    add_operator.add_argument(
        "--role", action="append", required=True, choices=["platform_admin", "billing_admin"], help="repeatable"
    )
    tenants = sub.add_parser("tenants", help="the tenant catalog")
    tsub = tenants.add_subparsers(dest="tenants_command", required=True)
    sync = tsub.add_parser("sync", help="make the catalog match tenants.yaml (create, update, provision)")
    sync.add_argument("--file", type=Path, default=None)
    tsub.add_parser("list", help="list the catalog")
    add_admin = tsub.add_parser("add-admin", help="invite a tenant administrator (prints the invitation link)")
    add_admin.add_argument("--tenant", required=True, help="the tenant's slug")
    add_admin.add_argument("--email", required=True)
    add_admin.add_argument("--name", required=True, help="full name")
    provision = tsub.add_parser("provision", help="pre-register LAOs in bulk (resumable)")
    provision.add_argument(
        "--from-registry", action="store_true", required=True, help="take LAOs from the DLA registry"
    )
    provision.add_argument("--limit", type=_count, default=None, help="at most this many new LAOs")
    provision.add_argument(
        "--concurrency", type=int, default=2, help="LAOs provisioned at once (2: the best measured on 2 cores)"
    )
    provision.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="SLUG",
        help="a service each LAO starts with (repeatable): its tables created and seeded",
    )
    saraban = sub.add_parser("saraban", help="e-Saraban (electronic correspondence)")
    verify = saraban.add_subparsers(dest="saraban_command", required=True).add_parser(
        "verify-registers", help="check the hash chains of the send and receive registers"
    )
    verify.add_argument("--tenant", default=None, help="only this tenant's slug")
    cluster = sub.add_parser("cluster", help="a Citus cluster: tenants per worker, moving a tenant")
    csub = cluster.add_subparsers(dest="cluster_command", required=True)
    csub.add_parser("nodes", help="the workers and how many tenant schemas each holds")
    move = csub.add_parser("move", help="move a tenant's schema to another worker (citus_schema_move)")
    move.add_argument("--tenant", required=True, help="the tenant's slug")
    move.add_argument("--to", required=True, metavar="HOST:PORT", help="the target worker as in `cluster nodes`")
    move.add_argument(
        "--mode",
        default="block_writes",
        choices=["block_writes", "force_logical", "auto"],
        help="block_writes: the tenant's writes wait during the copy; force_logical: needs wal_level=logical",
    )
    return parser


async def _cluster_nodes(settings: Settings) -> int:
    from localgov.kernel.db import create_engine
    from localgov.platform.citus import is_citus, workers

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            if not await is_citus(conn):
                print("error: the database is not a Citus coordinator (no citus extension)", file=sys.stderr)
                return 1
            nodes = await workers(conn)
            rows = (await conn.execute(text("SELECT schema_name, slug FROM platform.tenants"))).all()
            slugs = {str(r.schema_name): str(r.slug) for r in rows}
    finally:
        await engine.dispose()
    for node in nodes:
        sample = ", ".join(slugs.get(s, s) for s in node.schemas[:5])
        more = f", ... (+{len(node.schemas) - 5})" if len(node.schemas) > 5 else ""
        print(f"{node.name:<24} {len(node.schemas):>6} tenants  {sample}{more}")
    print(f"{len(nodes)} workers, {sum(len(n.schemas) for n in nodes)} tenant schemas")
    return 0


async def _cluster_move(settings: Settings, slug: str, target: str, mode: str) -> int:
    from localgov.kernel.db import create_engine
    from localgov.platform.citus import CitusError, move_tenant

    engine = create_engine(settings)
    try:
        result = await move_tenant(engine, slug, target, mode)
    except CitusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"{result.slug} ({result.schema}) moved from {result.source} to {result.target} in {result.seconds:.1f} s")
    return 0


async def _add_admin(settings: Settings, slug: str, email: str, full_name: str) -> int:
    """``localgov tenants add-admin``: invite (or promote) a tenant's administrator; prints the link."""
    from localgov.identity.staff import TENANT_ADMIN, Invitation, add_tenant_admin
    from localgov.kernel.audit import Actor
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.kernel.errors import DomainError
    from localgov.platform.catalog import Catalog

    engine = create_engine(settings)
    try:
        catalog = Catalog(settings.base_domain)
        await catalog.load(engine)
        tenant = catalog.by_slug(slug)
        if tenant is None:
            print(f"error: no tenant {slug!r} in the catalog", file=sys.stderr)
            return 1
        async with tenant_session(session_factory(engine), tenant) as session:
            outcome = await add_tenant_admin(
                session,
                tenant=tenant,
                settings=settings,
                email=email,
                full_name=full_name,
                actor=Actor("system", "cli"),
            )
    except DomainError as exc:
        print(f"error: {exc.detail or exc.title}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    if isinstance(outcome, Invitation):
        print(f"invited {outcome.user.email} as {TENANT_ADMIN} of {tenant.slug}; the invitation mail is queued")
        print(f"invitation link (valid until {outcome.expires_at:%Y-%m-%d %H:%M} UTC): {outcome.link}")
    else:
        print(f"{outcome.user.email} is already active staff of {tenant.slug}; now holds {TENANT_ADMIN}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings_with_database(Settings.from_env())
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # what the platform provisions and migrates: core tables and the registry
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    if args.command == "worker":
        from localgov.kernel.observability import configure_logging
        from localgov.worker import run_worker

        configure_logging(settings.log_level, settings.log_json)
        run_worker(settings)
        return 0
    if args.command == "migrate":
        return asyncio.run(_migrate(settings, args.check, args.processes, args.verify))
    if args.command == "keys":
        return asyncio.run(_rotate_key(settings))
    if args.command == "operators":
        password = _read_new_password()
        if password is None:
            return 1
        return asyncio.run(_add_operator(settings, args.email, args.name, args.role, password))
    if args.command == "saraban":
        return asyncio.run(_verify_registers(settings, args.tenant))
    if args.command == "cluster":
        if args.cluster_command == "move":
            return asyncio.run(_cluster_move(settings, args.tenant, args.to, args.mode))
        return asyncio.run(_cluster_nodes(settings))
    if args.command == "tenants":
        if args.tenants_command == "sync":
            return asyncio.run(_sync(settings, args.file or Path(settings.tenants_file)))
        if args.tenants_command == "provision":
            return asyncio.run(_provision(settings, args.limit, args.concurrency, args.service))
        if args.tenants_command == "add-admin":
            return asyncio.run(_add_admin(settings, args.tenant, args.email, args.name))
        return asyncio.run(_list(settings))
    return 2
