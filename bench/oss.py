"""Benchmark of the One Stop Service's figures (issue 12): the SLA sweep over every LAO, the inbox
with 100,000 cases in one LAO, intake with two attachments.

    .venv/bin/python bench/oss.py [--tenants 7849] [--concurrency 2] [--sweeps 2]
                                  [--inbox-cases 100000] [--inbox-reads 500] [--intakes 200] [--database-url URL]

A benchmark, not a test: it prints figures and writes ``bench/results/oss-<timestamp>.json``; it
exits 1 only when the data it measured is wrong (a sweep that sent the wrong notices), never
because a figure is slow. One run creates a database of its own, migrates the shared schema and:

1. **provisions** ``--tenants`` LAOs of the DLA registry with the ``oss`` service, through the
   platform's bulk provisioning (``provision_from_registry``, ``--concurrency`` connections);
2. **the SLA sweep**: seeds each LAO with four cases of a benchmark case type (one late overall
   and in its state, one decided the day before, two on time; one ``INSERT`` per LAO), then runs
   the deadline sweep over every LAO ``--sweeps`` times, as the worker does (one transaction per
   LAO, one after the other, the plugin's job function ``oss.deadlines``), at a frozen ``now``:
   the next government working day, 09:00 Bangkok. The first sweep issues the notices (a delay
   notice and its OPDC copy, an escalation, a result notice per LAO: checked), the next ones find
   nothing new (checked): the steady state;
3. **the inbox**: one LAO gets ``--inbox-cases`` cases (20 % open) over 10 units and 40 members of
   staff (one ``INSERT … SELECT``), then each inbox of the kernel (``inbox_by_unit``,
   ``inbox_by_staff``, ``inbox_by_permission`` for a clerk who may act on every submitted case and
   an engineer who acts on the cases in review of his unit) is read ``--inbox-reads`` times, a first
   page of 50 and the page after it, each read in its own read-only transaction on the fast path
   (``tenant_reader``: what a request's ``db_read`` is);
4. **intake**: ``--intakes`` cases opened one after another, each in one transaction with its
   commit: a gap-free tracking number (``kernel.numbering``), ``kernel.cases.open_case``, and two
   attachments stored with ``kernel.storage.store_upload`` (a 300 KB PDF and a 150 KB JPEG, new bytes
   every time, content checked, SHA-256, written to a filesystem blob store in a temporary folder).
   This is the kernel work an intake does, in-process, without HTTP;
5. **intake over HTTP**: the same through One Stop Service's own endpoints, in-process (the real
   application, ``httpx`` over ASGI, a staff bearer token minted with the installation's key): a
   walk-in request for a published service (``POST /v1/oss/cases``: numbering, the case, the check
   started) then its two documents uploaded (``POST /v1/oss/cases/{id}/files?document=doc.N``,
   multipart), three requests per intake, timed together; each answer is checked.

See bench/README.md ("One Stop Service") for the figures measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/core.py: database, statistics and environment helpers)

#: The benchmark's own case type (the OSS request type arrives with the cases' branch; the sweep
#: and the inboxes work on any case type with time limits).
CASE_TYPE = "bench.permit"
PERMISSIONS = ("bench.intake", "bench.review", "bench.decide")


def case_type() -> Any:
    from localgov.kernel.cases import Action, CaseType, State

    return CaseType(
        code=CASE_TYPE,
        title_th="คำขออนุญาต (ทดสอบสมรรถนะ)",
        title_en="Permit (benchmark)",
        initial="submitted",
        sla_days=10,
        states=(
            State(code="submitted", title_th="ยื่นคำขอ", title_en="Submitted", sla_days=1),
            State(code="review", title_th="พิจารณา", title_en="Review", sla_days=5),
            State(code="decision", title_th="รอผู้มีอำนาจอนุญาต", title_en="Decision", sla_days=2),
            State(code="approved", title_th="อนุญาต", title_en="Approved", terminal=True, decision=True),
            State(code="refused", title_th="ไม่อนุญาต", title_en="Refused", terminal=True, decision=True),
            State(code="withdrawn", title_th="ถอนคำขอ", title_en="Withdrawn", terminal=True),
        ),
        actions=(
            Action(code="accept", title_th="รับคำขอ", title_en="Accept", from_states=("submitted",),
                   to_state="review", permissions=("bench.intake",)),
            Action(code="recommend", title_th="เสนอความเห็น", title_en="Recommend", from_states=("review",),
                   to_state="decision", permissions=("bench.review",), within_unit=True),
            Action(code="approve", title_th="อนุญาต", title_en="Approve", from_states=("decision",),
                   to_state="approved", permissions=("bench.decide",)),
            Action(code="refuse", title_th="ไม่อนุญาต", title_en="Refuse", from_states=("decision",),
                   to_state="refused", permissions=("bench.decide",)),
            Action(code="withdraw", title_th="ถอนคำขอ", title_en="Withdraw", from_states=("submitted", "review"),
                   to_state="withdrawn", applicant=True),
        ),
    )  # fmt: skip


def settings(url: str) -> Any:
    from localgov.settings import Settings

    return Settings(database_url=url, env="test", log_level="WARNING")


def sweep_moment() -> dt.datetime:
    """09:00 Bangkok on the next government working day (the sweep does nothing on a day off)."""
    from localgov.kernel.calendar import WorkingCalendar
    from localgov.kernel.thai import BANGKOK, bangkok_today

    day = WorkingCalendar().add_working_days(bangkok_today(), 1)
    return dt.datetime.combine(day, dt.time(9), tzinfo=BANGKOK)


# --- 1. provisioning ----------------------------------------------------------------------------------------


async def provision(url: str, tenants: int, concurrency: int) -> dict[str, Any]:
    from localgov.kernel.db import create_engine
    from localgov.platform.bulk import provision_from_registry

    engine = create_engine(settings(url))
    try:
        report = await provision_from_registry(
            engine,
            limit=tenants,
            concurrency=concurrency,
            services=["oss"],
            progress=lambda r: core.log(f"  provisioned {r.created}/{tenants}"),  # every 500
        )
    finally:
        await engine.dispose()
    if report.failed or report.created != tenants:
        raise core.BenchError(f"provisioning: {report.created} created, failed {report.failed[:3]}")
    return {
        "tenants": report.created,
        "seconds": report.seconds,
        "per_tenant_ms": core.summary_ms(report.per_tenant),
    }


async def routable(engine: Any) -> list[Any]:
    from localgov.platform.catalog import Catalog

    catalog = Catalog(core.BASE_DOMAIN)
    await catalog.load(engine)
    return sorted((t for t in catalog.all() if "oss" in t.enabled_services), key=lambda t: t.id)


# --- 2. the SLA sweep ---------------------------------------------------------------------------------------


def _seed_rows(now: dt.datetime, code: str) -> list[dict[str, Any]]:
    """Four cases of one LAO: late (overall and in review), decided yesterday, two on time."""
    from localgov.kernel.calendar import WorkingCalendar, end_of_day
    from localgov.kernel.thai import BANGKOK, bangkok_today

    cal = WorkingCalendar()
    today = bangkok_today(now)

    def back(days: int) -> dt.datetime:
        day = today
        while days:
            day -= dt.timedelta(days=1)
            days -= cal.is_working_day(day)
        return dt.datetime.combine(day, dt.time(10), tzinfo=BANGKOK)

    def due(start: dt.datetime, days: int) -> dt.datetime:
        return end_of_day(cal.add_working_days(bangkok_today(start), days))

    late_opened, late_entered = back(20), back(8)
    fresh, hour_ago = back(1), now - dt.timedelta(hours=1)
    decided_opened = back(6)
    decided_at = back(1)
    rows = [
        {"state": "review", "opened_at": late_opened, "state_entered_at": late_entered,
         "state_due_at": due(late_entered, 5), "due_at": due(late_opened, 10)},
        {"state": "submitted", "opened_at": hour_ago, "state_entered_at": hour_ago,
         "state_due_at": due(now, 1), "due_at": due(now, 10)},
        {"state": "review", "opened_at": fresh, "state_entered_at": fresh,
         "state_due_at": due(fresh, 5), "due_at": due(fresh, 10)},
        {"state": "approved", "opened_at": decided_opened, "state_entered_at": decided_at, "state_due_at": None,
         "due_at": due(decided_opened, 10), "decided_at": decided_at, "closed_at": decided_at},
    ]  # fmt: skip
    return [
        {
            "case_type": CASE_TYPE,
            "tracking_number": f"{code}-{n}",
            "applicant_name": f"ผู้ยื่นคำขอ {n}",
            "data": {"applicant": {"email": f"applicant{n}@lao{code}.example"}},
            "decided_at": None,
            "closed_at": None,
            **row,
        }
        for n, row in enumerate(rows, 1)
    ]


async def seed_sweep(engine: Any, tenants: list[Any], now: dt.datetime) -> dict[str, Any]:
    from sqlalchemy import insert

    from localgov.kernel.cases import CaseRecord
    from localgov.kernel.db import session_factory, tenant_session

    factory = session_factory(engine)
    started = time.perf_counter()
    for n, tenant in enumerate(tenants, 1):
        async with tenant_session(factory, tenant) as session:
            await session.execute(insert(CaseRecord), _seed_rows(now, tenant.dla_code))
        if n % 1000 == 0:
            core.log(f"  seeded {n}/{len(tenants)}")
    return {"cases_per_tenant": 4, "seconds": time.perf_counter() - started}


async def run_sweep(engine: Any, tenants: list[Any], now: dt.datetime) -> dict[str, Any]:
    """Every LAO in turn, each in its own transaction: what ``localgov worker`` does for the job."""
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.kernel.jobs import JobContext
    from localgov.services.oss.deadlines import DEADLINES_JOB

    factory = session_factory(engine)
    per_tenant: list[float] = []
    cpu0, started = time.process_time(), time.perf_counter()
    for tenant in tenants:
        t0 = time.perf_counter()
        async with tenant_session(factory, tenant) as session:
            await DEADLINES_JOB.run(JobContext(session, tenant, now))
        per_tenant.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    return {
        "tenants": len(tenants),
        "seconds": total,
        "client_cpu_s": time.process_time() - cpu0,
        "per_tenant_ms": core.summary_ms(per_tenant),
    }


async def notice_counts(url: str, tenants: list[Any]) -> dict[str, int]:
    """Notices and notifications in every LAO, by kind (one query per schema)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    totals: dict[str, int] = {}
    try:
        for tenant in tenants:
            rows = await conn.fetch(
                f"SELECT kind || ':' || recipient_kind AS k, count(*) AS n FROM \"{tenant.schema}\".oss_case_notices"  # noqa: S608  (schema from the catalog)
                " GROUP BY 1"
            )
            for row in rows:
                totals[row["k"]] = totals.get(row["k"], 0) + int(row["n"])
            totals["notifications"] = totals.get("notifications", 0) + int(
                await conn.fetchval(f'SELECT count(*) FROM "{tenant.schema}".notifications')  # noqa: S608
            )
    finally:
        await conn.close()
    return totals


async def sweep_figures(url: str, sweeps: int) -> dict[str, Any]:
    from localgov.kernel.db import create_engine

    engine = create_engine(settings(url))
    now = sweep_moment()
    try:
        tenants = await routable(engine)
        core.log(f"seeding 4 cases in each of {len(tenants)} LAOs")
        seeded = await seed_sweep(engine, tenants, now)
        runs = []
        for n in range(1, sweeps + 1):
            core.log(f"sweep {n}/{sweeps} over {len(tenants)} LAOs at {now.isoformat()}")
            runs.append(await run_sweep(engine, tenants, now))
            counts = await notice_counts(url, tenants)
            # Per LAO: the late case's delay notice and its OPDC copy, its escalation (no unit: recorded
            # for the LAO), the result of yesterday's decision. Again: nothing new.
            expected = {
                "delay:applicant": len(tenants),
                "delay:opdc": len(tenants),
                "escalation:supervisor": len(tenants),
                "result:applicant": len(tenants),
                "notifications": 2 * len(tenants),  # the applicants' e-mails (no OPDC address, no supervisor)
            }
            if counts != expected:
                raise core.BenchError(f"after sweep {n}: notices {counts}, expected {expected}")
            runs[-1]["notices_after"] = counts
    finally:
        await engine.dispose()
    return {"now": now.isoformat(), "seed": seeded, "runs": runs}


# --- 3. the inbox -------------------------------------------------------------------------------------------

_BULK_CASES = """
INSERT INTO cases (case_type, state, version, tracking_number, applicant_name, assigned_unit_id, assigned_staff_id,
                   opened_at, state_entered_at, state_due_at, due_at, decided_at, closed_at, data)
SELECT :case_type, s.state, 1, 'INBOX-' || g, 'ผู้ยื่นคำขอ ' || g,
       (:units ::uuid[])[1 + g % :n_units], (:staff ::uuid[])[1 + g % :n_staff],
       t.opened, t.opened + interval '1 hour',
       CASE WHEN s.open THEN t.opened + interval '8 days' END, t.opened + interval '14 days',
       CASE WHEN NOT s.open THEN t.opened + interval '10 days' END,
       CASE WHEN NOT s.open THEN t.opened + interval '10 days' END, '{}'::jsonb
FROM generate_series(1, :n) AS g
CROSS JOIN LATERAL (SELECT :start ::timestamptz + g * interval '5 minutes' AS opened) AS t
CROSS JOIN LATERAL (
    SELECT g % 100 < :open_pct AS open,
           CASE WHEN g % 100 < :open_pct THEN (ARRAY['submitted', 'review', 'decision'])[1 + g % 3]
                ELSE (ARRAY['approved', 'refused'])[1 + g % 2] END AS state
) AS s
"""


async def seed_inbox(engine: Any, tenant: Any, cases: int, open_share: float) -> dict[str, Any]:
    from sqlalchemy import text

    from localgov.identity import units as org_admin
    from localgov.identity.models import StaffUser
    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import session_factory, tenant_session

    factory = session_factory(engine)
    actor = Actor("system", "bench")
    units: list[uuid.UUID] = []
    staff: list[uuid.UUID] = []
    started = time.perf_counter()
    async with tenant_session(factory, tenant) as session:
        for n in range(10):
            view = await org_admin.create_unit(
                session, code=f"u{n}", name_th=f"กอง {n}", name_en=None, kind="division", parent_id=None,
                actor=actor, origin=Origin(),
            )  # fmt: skip
            units.append(view.unit.id)
        for n in range(40):
            user = StaffUser(
                email=f"s{n}@bench.example", full_name=f"เจ้าหน้าที่ {n}", status="active", unit_id=units[n % 10]
            )
            session.add(user)
            await session.flush()
            staff.append(user.id)
        await session.execute(
            text(_BULK_CASES),
            {
                "case_type": CASE_TYPE,
                "units": units,
                "staff": staff,
                "n_units": len(units),
                "n_staff": len(staff),
                "n": cases,
                "open_pct": round(open_share * 100),
                "start": dt.datetime(2022, 1, 1, tzinfo=dt.UTC),
            },
        )
        await session.execute(text("ANALYZE cases"))
        open_cases = (await session.execute(text("SELECT count(*) FROM cases WHERE closed_at IS NULL"))).scalar_one()
    return {
        "cases": cases,
        "open": open_cases,
        "units": len(units),
        "staff": len(staff),
        "seconds": time.perf_counter() - started,
        "_units": units,
        "_staff": staff,
    }


async def inbox_figures(url: str, cases: int, reads: int, open_share: float, seed: int) -> dict[str, Any]:
    from localgov.kernel import cases as engine_cases
    from localgov.kernel.db import create_engine, tenant_reader

    engine = create_engine(settings(url))
    rnd = random.Random(seed)
    try:
        tenant = (await routable(engine))[0]
        core.log(f"seeding {cases} cases in {tenant.schema}")
        seeded = await seed_inbox(engine, tenant, cases, open_share)
        units, staff = seeded.pop("_units"), seeded.pop("_staff")
        clerk = engine_cases.CaseActor(kind="staff", id=staff[0], permissions=frozenset({"bench.intake"}))

        def engineer() -> Any:
            n = rnd.randrange(len(staff))
            return engine_cases.CaseActor(
                kind="staff", id=staff[n], permissions=frozenset({"bench.review"}), unit_ids=(units[n % 10],)
            )

        kinds: dict[str, Any] = {
            "by_unit": lambda r, after: engine_cases.inbox_by_unit(r, rnd.choice(units), after=after, limit=50),
            "by_staff": lambda r, after: engine_cases.inbox_by_staff(r, rnd.choice(staff), after=after, limit=50),
            "by_permission_clerk": lambda r, after: engine_cases.inbox_by_permission(r, clerk, after=after, limit=50),
            "by_permission_engineer": lambda r, after: engine_cases.inbox_by_permission(
                r, engineer(), after=after, limit=50
            ),
        }
        out: dict[str, Any] = {"seed": seeded}
        for name, read in kinds.items():
            first: list[float] = []
            second: list[float] = []
            sizes: set[int] = set()
            for _ in range(reads):
                t0 = time.perf_counter()
                async with tenant_reader(engine, tenant) as reader:
                    page = await read(reader, None)
                first.append(time.perf_counter() - t0)
                sizes.add(len(page))
                if page:
                    t0 = time.perf_counter()
                    async with tenant_reader(engine, tenant) as reader:
                        await read(reader, page[-1].id)
                    second.append(time.perf_counter() - t0)
            if 0 in sizes or max(sizes) > 50:
                raise core.BenchError(f"inbox {name}: first pages of {sorted(sizes)} cases, expected 1 to 50")
            out[name] = {
                "first_page_ms": core.summary_ms(first),
                "next_page_ms": core.summary_ms(second),
                "first_page_sizes": sorted(sizes),
            }
            core.log(f"  {name}: p95 {out[name]['first_page_ms']['p95']:.2f} ms")
    finally:
        await engine.dispose()
    return out


# --- 4. intake ----------------------------------------------------------------------------------------------


def _pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def _jpeg(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 4)


async def intake_figures(url: str, intakes: int) -> dict[str, Any]:
    from localgov.kernel import cases as engine_cases
    from localgov.kernel import storage
    from localgov.kernel.audit import Actor
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.kernel.numbering import fiscal_period, next_number
    from localgov.kernel.storage.filesystem import FilesystemBlobStore
    from localgov.kernel.thai import bangkok_today

    kind = engine_cases.get_case_type(CASE_TYPE)
    engine = create_engine(settings(url))
    folder = Path(tempfile.mkdtemp(prefix="localgov-bench-oss-files-"))
    store = FilesystemBlobStore(folder)
    limits = storage.UploadLimits(max_bytes=20 * 1024 * 1024)
    clerk_id = uuid.uuid4()
    clerk = Actor("staff", str(clerk_id))
    wall: list[float] = []
    try:
        tenant = (await routable(engine))[-1]
        factory = session_factory(engine)
        for n in range(intakes):
            files = (("form.pdf", _pdf(300 * 1024)), ("land-title.jpg", _jpeg(150 * 1024)))
            now = dt.datetime.now(dt.UTC)
            t0 = time.perf_counter()
            async with tenant_session(factory, tenant) as session:
                period = fiscal_period(bangkok_today(now))
                number = await next_number(session, "bench.intake", period)
                case = await engine_cases.open_case(
                    session,
                    kind,
                    actor=engine_cases.CaseActor(kind="staff", id=clerk_id),
                    now=now,
                    applicant_name=f"ผู้ยื่นคำขอ {n}",
                    tracking_number=f"{tenant.dla_code}-{period}-{number:06d}",
                    data={"applicant": {"email": f"walkin{n}@bench.example"}},
                )
                for filename, content in files:
                    await storage.store_upload(
                        session,
                        store,
                        data=content,
                        filename=filename,
                        owner=storage.FileOwner("oss.case", str(case.id)),
                        uploaded_by=clerk,
                        limits=limits,
                        now=now,
                    )
            wall.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "intakes": intakes,
        "what": "numbering + open_case + 2 × store_upload (300 KB PDF, 150 KB JPEG), one transaction with its commit;"
        " in-process, no HTTP",
        "wall_ms": core.summary_ms(wall),
    }


# --- 5. intake over HTTP ---------------------------------------------------------------------------------

#: A service of the catalogue the walk-ins apply for: two documents, one step, a fee.
BENCH_MANUAL: dict[str, Any] = {
    "name_th": "การขอหนังสือรับรอง (ทดสอบสมรรถนะ)",
    "name_en": "Certificate (benchmark)",
    "owning_unit_th": "สำนักปลัด",
    "legal_basis": [{"title_th": "พระราชบัญญัติทดสอบ พ.ศ. 2569", "title_en": "Test Act B.E. 2569"}],
    "legal_time_limit": {"value": 5, "unit": "days"},
    "channels": [{"place_th": "ศูนย์บริการร่วม ชั้น 1", "hours_th": "จันทร์–ศุกร์ 08:30–16:30 น."}],
    "criteria_th": "มีภูมิลำเนาในเขต",
    "steps": [{"title_th": "ตรวจสอบเอกสาร", "duration": {"value": 1, "unit": "days"}, "unit_th": "สำนักปลัด"}],
    "documents": [
        {"name_th": "แบบคำขอ", "issued_by_th": "ผู้ยื่นคำขอ", "originals": 1, "copies": 0, "group": "other"},
        {"name_th": "สำเนาโฉนดที่ดิน", "issued_by_th": "กรมที่ดิน", "originals": 0, "copies": 1, "group": "other"},
    ],
    "no_fee": False,
    "fees": [{"description_th": "ค่าธรรมเนียม", "amount": "20.00"}],
    "complaint_channels": [{"name_th": "ศูนย์ดำรงธรรม", "contact_th": "สายด่วน 1567"}],
}


def _thai_id(n: int) -> str:
    """A valid 13-digit Thai ID (check digit computed), different for each ``n``."""
    body = f"1{n:011d}"
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(body)) % 11) % 10
    return body + str(check)


async def intake_http_figures(url: str, intakes: int) -> dict[str, Any]:
    import httpx

    from localgov.app import create_app
    from localgov.identity.models import StaffUser
    from localgov.kernel.auth.keys import KeyStore, ensure_key
    from localgov.kernel.auth.tokens import Audience, issue_access_token
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.services.oss import ROLES
    from localgov.settings import Settings

    secret = uuid.uuid4().hex + uuid.uuid4().hex
    folder = Path(tempfile.mkdtemp(prefix="localgov-bench-oss-http-"))
    app_settings = Settings(
        database_url=url, env="test", log_level="WARNING", base_domain=core.BASE_DOMAIN, secret_key=secret,
        storage_dir=str(folder),
    )  # fmt: skip
    engine = create_engine(app_settings)
    wall: list[float] = []
    try:
        await ensure_key(engine, secret)  # what `localgov migrate` does: the installation's first signing key
        tenant = (await routable(engine))[0]
        async with tenant_session(session_factory(engine), tenant) as session:
            clerk = StaffUser(email="clerk@bench.example", full_name="เจ้าหน้าที่รับเรื่อง", status="active")
            session.add(clerk)
            await session.flush()
            clerk_id = clerk.id
        app = create_app(app_settings, engine=engine, listen_for_catalog_changes=False)
        transport = httpx.ASGITransport(app=app)
        base = f"http://{tenant.slug}.{core.BASE_DOMAIN}"
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=base) as client:
            keys = KeyStore(secret)
            await keys.load(engine)
            token = issue_access_token(
                keys,
                Audience.tenant(tenant.slug, tenant.dla_code, core.BASE_DOMAIN),
                kind="staff",
                subject=str(clerk_id),
                client_id="oss-bench",
                roles=frozenset(role.code for role in ROLES),
                ttl_s=24 * 3600,
                now=dt.datetime.now(dt.UTC),
            )
            client.headers["Authorization"] = f"Bearer {token}"
            code = "bench-intake"
            created = await client.post("/v1/oss/services", json={"code": code, "manual": BENCH_MANUAL})
            if created.status_code != 201:
                raise core.BenchError(f"intake over HTTP: creating the service: {created.status_code} {created.text}")
            service = created.json()
            published = await client.post(
                f"/v1/oss/services/{service['id']}/publish", json={"version": service["version"]}
            )
            if published.status_code not in (200, 201, 204):
                raise core.BenchError(f"intake over HTTP: publishing: {published.status_code} {published.text}")
            for n in range(intakes):
                files = (("doc.1", "form.pdf", _pdf(300 * 1024), "application/pdf"),
                         ("doc.2", "land-title.jpg", _jpeg(150 * 1024), "image/jpeg"))  # fmt: skip
                body = {"service_code": code, "applicant_name": f"ผู้ยื่นคำขอ {n}", "applicant_thai_id": _thai_id(n)}
                t0 = time.perf_counter()
                opened = await client.post("/v1/oss/cases", json=body)
                if opened.status_code != 201:
                    raise core.BenchError(f"intake over HTTP: {opened.status_code} {opened.text}")
                case_id = opened.json()["case"]["id"]
                for document, filename, content, mime in files:
                    up = await client.post(
                        f"/v1/oss/cases/{case_id}/files",
                        params={"document": document},
                        files={"data": (filename, content, mime)},
                    )
                    answer = up.json() if up.status_code == 201 else {}
                    if answer.get("size_bytes") != len(content) or answer.get("document_code") != document:
                        raise core.BenchError(f"intake over HTTP: upload {up.status_code} {up.text[:300]}")
                wall.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "intakes": intakes,
        "what": "POST /v1/oss/cases (walk-in) + 2 × POST /v1/oss/cases/{id}/files (300 KB PDF, 150 KB JPEG,"
        " multipart), staff bearer token; in-process over ASGI (httpx), the client's CPU included",
        "wall_ms": core.summary_ms(wall),
    }


# --- the run ------------------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    prov = results["provisioning"]
    lines = [
        f"oss benchmark: {prov['tenants']} LAOs with the One Stop Service",
        f"  provisioning (bulk, c={results['concurrency']})  {prov['seconds']:.1f} s;"
        f" per tenant p50 {prov['per_tenant_ms']['p50']:.1f} ms, p95 {prov['per_tenant_ms']['p95']:.1f} ms",
    ]
    for n, run in enumerate(results["sweep"]["runs"], 1):
        label = "first sweep (issues the notices)" if n == 1 else f"sweep {n} (steady: nothing due)"
        lines.append(
            f"  {label:34} {run['seconds']:.2f} s for {run['tenants']} LAOs"
            f" ({run['seconds'] / run['tenants'] * 1000:.2f} ms each; p50 {run['per_tenant_ms']['p50']:.2f},"
            f" p95 {run['per_tenant_ms']['p95']:.2f} ms; client CPU {run['client_cpu_s']:.1f} s)"
        )
    inbox = results["inbox"]
    lines.append(f"  inbox, {inbox['seed']['cases']} cases in one LAO ({inbox['seed']['open']} open):")
    for name in ("by_unit", "by_staff", "by_permission_clerk", "by_permission_engineer"):
        f, s = inbox[name]["first_page_ms"], inbox[name]["next_page_ms"]
        lines.append(
            f"    {name:24} first page p50 {f['p50']:.2f} / p95 {f['p95']:.2f} ms;"
            f" next page p50 {s['p50']:.2f} / p95 {s['p95']:.2f} ms"
        )
    intake = results["intake"]["wall_ms"]
    lines.append(
        f"  intake with 2 attachments ({results['intake']['intakes']}) p50 {intake['p50']:.1f} ms,"
        f" p95 {intake['p95']:.1f} ms, max {intake['max']:.1f} ms (kernel work in-process, see the JSON)"
    )
    http = results["intake_http"]["wall_ms"]
    lines.append(
        f"  intake over HTTP, 3 requests ({results['intake_http']['intakes']}) p50 {http['p50']:.1f} ms,"
        f" p95 {http['p95']:.1f} ms, max {http['max']:.1f} ms (the OSS endpoints in-process, see the JSON)"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=7849, help="LAOs provisioned with oss (default: all 7,849)")
    parser.add_argument("--concurrency", type=int, default=2, help="provisioning connections (default 2)")
    parser.add_argument("--sweeps", type=int, default=2, help="sweeps over every LAO (default 2)")
    parser.add_argument("--inbox-cases", type=int, default=100_000, help="cases in the inbox LAO (default 100,000)")
    parser.add_argument("--inbox-open-share", type=float, default=0.2, help="share of them open (default 0.2)")
    parser.add_argument("--inbox-reads", type=int, default=500, help="reads of each inbox (default 500)")
    parser.add_argument("--intakes", type=int, default=200, help="intakes timed (default 200)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the random choices")
    args = parser.parse_args(argv)
    if not 1 <= args.tenants <= 7849 or args.sweeps < 1 or args.inbox_cases < 1000 or args.inbox_reads < 1:
        parser.error("--tenants 1..7849, --sweeps ≥ 1, --inbox-cases ≥ 1000, --inbox-reads ≥ 1")
    if not 0 < args.inbox_open_share <= 1 or args.intakes < 1 or args.concurrency < 1:
        parser.error("--inbox-open-share in (0, 1], --intakes ≥ 1, --concurrency ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.cases import register_case_types
    from localgov.kernel.observability import configure_logging
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    configure_logging("WARNING")  # the sweep logs each LAO it sent notices for
    install(INSTALLATION)  # a composition root: the registry's plugins, their tables and case types
    register_case_types([case_type()])
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        results: dict[str, Any] = {
            "benchmark": "oss",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "database_server": source,
            "postgres": asyncio.run(core.server_facts(url)),
            "concurrency": args.concurrency,
            "background_before_run": core.machine_busy_cores(),
        }
        core.log("migrating the shared schema")
        asyncio.run(core.migrate_shared(url))
        core.log(f"provisioning {args.tenants} LAOs with oss (c={args.concurrency})")
        results["provisioning"] = asyncio.run(provision(url, args.tenants, args.concurrency))
        results["sweep"] = asyncio.run(sweep_figures(url, args.sweeps))
        results["inbox"] = asyncio.run(
            inbox_figures(url, args.inbox_cases, args.inbox_reads, args.inbox_open_share, args.seed)
        )
        core.log(f"{args.intakes} intakes with two attachments")
        results["intake"] = asyncio.run(intake_figures(url, args.intakes))
        core.log(f"{args.intakes} intakes with two attachments over HTTP")
        results["intake_http"] = asyncio.run(intake_http_figures(url, args.intakes))
        results["background_after_run"] = core.machine_busy_cores()
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"oss-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
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
