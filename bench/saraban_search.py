"""Benchmark of the e-Saraban Thai search (issue 15): search p95 over N letters in one LAO.

    .venv/bin/python bench/saraban_search.py [--letters 1000000] [--queries 500] [--database-url URL]

A benchmark, not a test: it prints figures and writes ``bench/results/saraban_search-<timestamp>.json``;
it exits 1 only when what it measured is wrong (a query that should find letters finds none, a
secret letter returned to a member not named on it), never because a figure is slow. One run
creates a database of its own, migrates the shared schema, provisions one LAO with e-Saraban, and:

1. **loads** ``--letters`` letters straight into ``saraban_letters`` and their vectors into
   ``saraban_letter_search`` (COPY-free batched inserts): subjects and bodies from the Thai test
   set's generator (tests/support/thai_letters.py; 25 topics of LAO correspondence), each vector
   computed by ``kernel.search.document_vector`` for each distinct text (the generator repeats
   texts beyond a few thousand letters, as real correspondence repeats its wording), 5 % of the
   letters secret with one member named on them;
2. **searches** ``--queries`` times, one after another, with the service's own function
   (``search_index.search_letters`` + ``letters.visible_clause`` of a member named on no secret
   letter, limit 20), the queries drawn from the test set's 128 queries: p50/p95/max per search.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import core  # noqa: E402  (bench/core.py: database, statistics and environment helpers)

SECRET = secrets.token_urlsafe(32)
BATCH = 2_000


def settings(url: str) -> Any:
    from localgov.settings import Settings

    return Settings(database_url=url, env="test", log_level="WARNING", secret_key=SECRET)


async def setup(engine: Any) -> Any:
    from localgov.platform.catalog import Catalog
    from localgov.platform.provisioning import ProfileSeed
    from localgov.platform.tenants import TenantSpec, create_tenant

    code = core.pick_codes(1, 15)[0]
    spec = TenantSpec(
        dla_code=code,
        slug=core.slug_of(code),
        name_en=f"Benchmark LAO {code}",
        enabled_services=["saraban"],
        contact=ProfileSeed(phone=f"0-{code}", email=f"saraban@{code}.example"),
    )
    async with engine.begin() as conn:
        await create_tenant(conn, spec, source="file")
    catalog = Catalog(core.BASE_DOMAIN)
    await catalog.load(engine)
    tenant = catalog.by_slug(spec.slug)
    assert tenant is not None
    return tenant


async def load(engine: Any, tenant: Any, count: int) -> dict[str, Any]:
    """``count`` letters and their vectors; returns how long it took and the distinct texts."""
    from sqlalchemy import text
    from tests.support.thai_letters import make_letters

    from localgov.kernel import search
    from localgov.kernel.db import session_factory, tenant_session

    distinct = min(count, 5_000)
    pool = make_letters(distinct, seed=2569)
    started = time.perf_counter()
    vectors = [search.document_vector(title=letter.subject, body=letter.body) for letter in pool]
    vector_s = time.perf_counter() - started
    rng = random.Random(15)
    secret_member = uuid.uuid4()
    inserted = 0
    t0 = time.perf_counter()
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    while inserted < count:
        n = min(BATCH, count - inserted)
        rows = []
        for i in range(inserted, inserted + n):
            letter = pool[i % distinct]
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "subject": letter.subject,
                    "body": letter.body,
                    "secrecy": "secret" if rng.random() < 0.05 else "normal",
                    "created_at": base + dt.timedelta(minutes=i),
                    "vector": vectors[i % distinct],
                }
            )
        async with tenant_session(session_factory(engine), tenant) as session:
            await session.execute(
                text(
                    "INSERT INTO saraban_letters (id, direction, kind, status, urgency, secrecy, subject, body,"
                    " created_at, updated_at) VALUES (:id, 'incoming', 'external', 'received', 'normal', :secrecy,"
                    " :subject, :body, :created_at, :created_at)"
                ),
                rows,
            )
            await session.execute(
                text("INSERT INTO saraban_letter_search (letter_id, vector) VALUES (:id, CAST(:vector AS tsvector))"),
                rows,
            )
            secret_rows = [{"letter_id": r["id"], "staff_id": secret_member} for r in rows if r["secrecy"] != "normal"]
            if secret_rows:
                await session.execute(
                    text(
                        "INSERT INTO saraban_access (letter_id, staff_id, reason)"
                        " VALUES (:letter_id, :staff_id, 'named')"
                    ),
                    secret_rows,
                )
        inserted += n
        if inserted % 20_000 == 0 or inserted == count:
            core.log(f"  {inserted}/{count} letters")
    async with tenant_session(session_factory(engine), tenant) as session:
        await session.execute(text("ANALYZE saraban_letters"))
        await session.execute(text("ANALYZE saraban_letter_search"))
        await session.execute(text("ANALYZE saraban_access"))
    return {
        "letters": count,
        "distinct_texts": distinct,
        "vectors_per_second": distinct / vector_s,
        "load_s": time.perf_counter() - t0,
    }


async def searches(engine: Any, tenant: Any, queries_n: int) -> dict[str, Any]:
    from tests.support.thai_letters import QUERIES, query_text

    from localgov.kernel.cases import CaseActor
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.services.saraban import letters, search_index

    viewer = CaseActor(kind="staff", id=uuid.uuid4(), permissions=frozenset({"saraban.read"}), unit_ids=())
    rng = random.Random(2566)
    timings: list[float] = []
    empty = 0
    for n in range(queries_n):
        q = query_text(rng.choice(QUERIES))
        async with tenant_session(session_factory(engine), tenant) as session:
            t0 = time.perf_counter()
            _, hits = await search_index.search_letters(session, q, letters.visible_clause(viewer), limit=20)
            timings.append(time.perf_counter() - t0)
        if any(hit.secrecy != "normal" for hit in hits):
            raise core.BenchError("a secret letter was returned to a member not named on it")
        empty += not hits
        if (n + 1) % 100 == 0:
            core.log(f"  {n + 1}/{queries_n} searches")
    if empty > queries_n // 10:
        raise core.BenchError(f"{empty} of {queries_n} searches found nothing")
    return {"queries": queries_n, "search_ms": core.summary_ms(timings), "empty": empty}


async def figures(url: str, letters_n: int, queries_n: int) -> dict[str, Any]:
    from localgov.kernel.db import create_engine

    engine = create_engine(settings(url))
    try:
        tenant = await setup(engine)
        loaded = await load(engine, tenant, letters_n)
        return {"load": loaded, "search": await searches(engine, tenant, queries_n)}
    finally:
        await engine.dispose()


def render(results: dict[str, Any]) -> str:
    f = results["figures"]
    s = f["search"]["search_ms"]
    load_ = f["load"]
    return "\n".join(
        [
            "e-Saraban Thai search: one LAO, in-process (the service's own search function)",
            f"  letters {load_['letters']:,} ({load_['distinct_texts']:,} distinct texts; vectors"
            f" {load_['vectors_per_second']:.0f}/s; load {load_['load_s']:.1f} s)",
            f"  searches ({f['search']['queries']}, limit 20, a member named on no secret letter)"
            f"  p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms, max {s['max']:.1f} ms",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--letters", type=int, default=1_000_000, help="letters in the LAO (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=500, help="searches measured (default 500)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    args = parser.parse_args(argv)
    if args.letters < 1 or args.queries < 1:
        parser.error("--letters ≥ 1, --queries ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.observability import configure_logging
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    configure_logging("WARNING")
    install(INSTALLATION)
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        results: dict[str, Any] = {
            "benchmark": "saraban_search",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "database_server": source,
            "postgres": asyncio.run(core.server_facts(url)),
            "background_before_run": core.machine_busy_cores(),
        }
        core.log("migrating the shared schema")
        asyncio.run(core.migrate_shared(url))
        core.log(f"{args.letters} letters, then {args.queries} searches")
        results["figures"] = asyncio.run(figures(url, args.letters, args.queries))
        results["background_after_run"] = core.machine_busy_cores()
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"saraban_search-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(core.ROOT)}")
        return 0
    except core.BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        core.log("dropping the database")
        asyncio.run(core.drop_database(admin, url))


if __name__ == "__main__":
    sys.exit(main())
