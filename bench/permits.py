"""Benchmark of the building permits' figures (issue 13): application → permit PDF, and permit PDFs
per second.

    .venv/bin/python bench/permits.py [--applications 200] [--pdfs 200] [--database-url URL]

A benchmark, not a test: it prints figures and writes ``bench/results/permits-<timestamp>.json``;
it exits 1 only when what it measured is wrong (a permit not issued, a PDF without its number),
never because a figure is slow. One run creates a database of its own, migrates the shared schema,
provisions one LAO with payments and permits, and measures, in-process (no HTTP), with the
service's own functions:

1. **application → permit PDF** (``--applications`` times, one after another): a draft ข.1 (a
   two-storey house of 120 m², MR 56), its four checklist documents stored (``kernel.storage``,
   30 KB PDFs), submission (eligibility, tracking number, case), the documents check, plan review,
   the site inspection scheduled, photographed and passed, the fees billed through
   ``payments.api.create_bill``, approval, the bank's payment matched (``payments.bank``: receipt,
   ``payments.bill_paid``), the event delivered to the plugin (the permit issued and registered),
   and the permit's PDF rendered — 11 transactions, each with its commit. Reported: p50/p95/max of
   the whole path per application, and of the PDF step alone;
2. **permit PDFs per second**: ``--pdfs`` PDFs of the issued permits rendered one after another,
   each as the endpoint does (one read of the application, the LAO's profile and settings, the
   layout, ``documents.render`` in a thread): PDFs per second, and p50/p95 per PDF.

See bench/README.md ("Building permits") for the figures measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/core.py: database, statistics and environment helpers)

BILLER_ID = "099400015991901"  # a government tax ID with its check digit, and the suffix 01
#: The QR stamps' key (one per run: nothing signed here outlives it).
SECRET = secrets.token_urlsafe(32)


def settings(url: str) -> Any:
    from localgov.settings import Settings

    return Settings(database_url=url, env="test", log_level="WARNING", secret_key=SECRET)


def form() -> dict[str, Any]:
    return {
        "kind": "construct",
        "area_type": "sao",
        "applicant": {"kind": "person", "name_th": "นายสมชาย ใจดี", "id_number": "1101700203450"},
        "landowner": {"is_applicant": True},
        "land": {"title_type": "chanote", "number": "12345", "parcel_no": "67", "area_sq_wa": "100"},
        "building": {
            "use": "residence",
            "structure": "reinforced_concrete",
            "storeys": 2,
            "height_m": "7.5",
            "floor_area_m2": "120",
            "footprint_m2": "70",
            "location": {"address_th": "99/1 หมู่ 3 ต.แม่เหียะ", "latitude": 18.7469, "longitude": 98.9506},
            "setbacks": {"front_m": "3", "back_m": "2", "left_m": "1.5", "right_m": "1.5"},
        },
    }


def _pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, format="PNG")
    return out.getvalue()


async def setup(engine: Any) -> dict[str, Any]:
    """One LAO with payments and permits, a member per role, a payer and a biller ID."""
    import msgspec
    from sqlalchemy import text

    from localgov.identity.models import StaffUser
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.platform.catalog import Catalog
    from localgov.platform.provisioning import ProfileSeed
    from localgov.platform.tenants import TenantSpec, create_tenant
    from localgov.services.payments import payers

    code = core.pick_codes(1, 13)[0]
    spec = TenantSpec(
        dla_code=code,
        slug=core.slug_of(code),
        name_en=f"Benchmark LAO {code}",
        enabled_services=["payments", "permits"],
        contact=ProfileSeed(phone=f"0-{code}", email=f"saraban@{code}.example"),
    )
    async with engine.begin() as conn:
        await create_tenant(conn, spec, source="file")
    catalog = Catalog(core.BASE_DOMAIN)
    await catalog.load(engine)
    tenant = catalog.by_slug(spec.slug)
    assert tenant is not None
    staff: dict[str, uuid.UUID] = {}
    async with tenant_session(session_factory(engine), tenant) as session:
        await session.execute(
            text("INSERT INTO payment_settings (id, biller_id, merchant_name) VALUES (1, :b, 'BENCH LAO')"),
            {"b": BILLER_ID},
        )
        for name in ("clerk", "engineer", "assessor", "official"):
            user = StaffUser(email=f"{name}@{spec.slug}.example", full_name=f"นาย{name} ทดสอบ", status="active")
            session.add(user)
            await session.flush()
            staff[name] = user.id
        payer = await payers.create_payer(
            session,
            msgspec.convert(
                {"kind": "person", "name": "นายสมชาย ใจดี", "house_no": "99/1", "subdistrict": "แม่เหียะ",
                 "district": "เมืองเชียงใหม่", "province": "เชียงใหม่", "postal_code": "50100"},
                payers.PayerCreate,
            ),
        )  # fmt: skip
    return {"tenant": tenant, "staff": staff, "payer_id": payer.id}


async def upload_emblem(engine: Any, tenant: Any, store: Any) -> None:
    """The LAO's emblem (a 160 × 160 PNG), printed at the head of every permit."""
    import io

    from PIL import Image

    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.services.permits.config import set_emblem

    out = io.BytesIO()
    Image.new("RGB", (160, 160), (180, 30, 40)).save(out, format="PNG")
    async with tenant_session(session_factory(engine), tenant) as session:
        await set_emblem(session, store, out.getvalue(), filename="emblem.png", actor=Actor("system"), origin=Origin())


async def one_application(engine: Any, world: dict[str, Any], store: Any, cfg: Any) -> tuple[uuid.UUID, float, float]:
    """The whole path of one application to its permit's PDF; returns its id, the path's and the PDF's seconds."""
    import msgspec
    from sqlalchemy import select

    from localgov.kernel import cases as engine_cases
    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.kernel.outbox import Delivery, OutboxEntry
    from localgov.services.payments import bank
    from localgov.services.payments.models import Bill
    from localgov.services.permits import PLUGIN, applications, permits
    from localgov.services.permits.schemas import ApplicationForm

    tenant, staff = world["tenant"], world["staff"]
    factory = session_factory(engine)
    grants = {role.code.split(".")[1]: frozenset(role.permissions) for role in PLUGIN.roles}
    roles = {"clerk": "clerk", "engineer": "engineer", "assessor": "assessor", "official": "official"}
    origin = Origin()
    now = dt.datetime.now(dt.UTC)

    async def actor(session: Any, name: str) -> Any:
        return await engine_cases.staff_actor(session, staff[name], grants[roles[name]])

    async def version(session: Any, app_id: uuid.UUID) -> int:
        row = await applications.get_application(session, app_id)
        return (await engine_cases.get_case(session, row["case_id"])).version

    t0 = time.perf_counter()
    clerk = Actor("staff", str(staff["clerk"]))
    async with tenant_session(factory, tenant) as session:
        app_id = await applications.create_draft(
            session, msgspec.convert(form(), ApplicationForm, strict=False), channel="counter", citizen_id=None,
            actor=clerk, origin=origin,
        )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        for code in ("form_kh1", "applicant_id", "land_title", "site_plan_rough"):
            await applications.attach_file(
                session, store, app_id, _pdf(30 * 1024), filename=f"{code}.pdf", document_code=code,
                uploaded_by=clerk, origin=origin,
            )  # fmt: skip
        await applications.submit(
            session, app_id, tenant=tenant, actor=await actor(session, "clerk"), origin=origin, now=now
        )
    for who, action in (("clerk", "accept_documents"), ("engineer", "approve_plans")):
        async with tenant_session(factory, tenant) as session:
            await applications.take_action(
                session, app_id, action, actor=await actor(session, who), version=await version(session, app_id),
                now=now, origin=origin,
            )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        await applications.schedule_inspection(
            session, app_id, at=now + dt.timedelta(days=1), place_th=None, actor=await actor(session, "engineer"),
            version=await version(session, app_id), now=now, origin=origin,
        )  # fmt: skip
        await applications.attach_file(
            session, store, app_id, _png(), filename="site.png", document_code=applications.INSPECTION_PHOTO,
            uploaded_by=Actor("staff", str(staff["engineer"])), origin=origin,
        )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        await applications.record_inspection(
            session, app_id, passed=True, note="ตรงตามแบบ", actor=await actor(session, "engineer"),
            version=await version(session, app_id), now=now, origin=origin,
        )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        await applications.bill_fees(
            session, app_id, payer_id=world["payer_id"], tenant=tenant, actor=await actor(session, "assessor"),
            version=await version(session, app_id), now=now, origin=origin,
        )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        await permits.decide(
            session, app_id, approve=True, reasons_th=None, actor=await actor(session, "official"),
            version=await version(session, app_id), now=now, origin=origin,
        )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        row = await applications.get_application(session, app_id)
        bill = (await session.execute(select(Bill).where(Bill.id == row["bill_id"]))).scalar_one()
        paid_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        fields = {"transaction_id": f"TXN{uuid.uuid4().hex[:16].upper()}", "ref1": bill.reference}
        notice = bank.normalise_notice(
            transaction_id=fields["transaction_id"], biller_id=BILLER_ID, ref1=bill.reference, ref2=None,
            amount=Decimal(bill.total), paid_at=paid_at, raw=fields,
        )  # fmt: skip
        await bank.record_notice(session, notice, channel="webhook", biller_id=BILLER_ID, book_size=1000)
    async with tenant_session(factory, None) as session:
        entry = (
            await session.execute(
                select(OutboxEntry)
                .where(OutboxEntry.tenant_id == tenant.id, OutboxEntry.topic == "payments.bill_paid")
                .order_by(OutboxEntry.id.desc())
                .limit(1)
            )
        ).scalar_one()
        await permits.on_bill_paid(Delivery(entry, session, {tenant.id: tenant.schema}))
    t_pdf = time.perf_counter()
    content = await render_permit(engine, tenant, app_id, cfg, store)
    t1 = time.perf_counter()
    if b"%PDF" not in content[:8]:
        raise core.BenchError("the permit's PDF is not a PDF")
    return app_id, t1 - t0, t1 - t_pdf


async def render_permit(engine: Any, tenant: Any, app_id: uuid.UUID, cfg: Any, store: Any) -> bytes:
    """What ``GET …/permit/pdf`` does: one read, the LAO's profile, settings and emblem, layout, render in a thread."""
    from localgov.kernel import documents
    from localgov.kernel.db import tenant_reader
    from localgov.kernel.tenancy import lao_profile
    from localgov.services.permits import applications
    from localgov.services.permits.config import emblem, load_config
    from localgov.services.permits.permit_pdf import permit_layout
    from localgov.services.permits.permit_views import permit_print
    from localgov.services.permits.reading import register_entry

    async with tenant_reader(engine, tenant) as reader:
        row = await applications.get_application(reader, app_id)
        data = permit_print(row)
        entry = register_entry(row)
        assert entry is not None
        config = await load_config(reader)
        layout = permit_layout(
            data,
            await lao_profile(reader, tenant),
            documents.qr_stamp(cfg, tenant, entry),
            thai_digits=config.thai_digits,
            emblem=await emblem(reader, store),
        )
    return await asyncio.to_thread(documents.render, layout)


async def figures(url: str, applications_n: int, pdfs: int) -> dict[str, Any]:
    from localgov.kernel.db import create_engine
    from localgov.kernel.storage.filesystem import FilesystemBlobStore

    cfg = settings(url)
    engine = create_engine(cfg)
    folder = Path(tempfile.mkdtemp(prefix="localgov-bench-permits-files-"))
    store = FilesystemBlobStore(folder)
    try:
        world = await setup(engine)
        await upload_emblem(engine, world["tenant"], store)
        ids: list[uuid.UUID] = []
        paths: list[float] = []
        pdf_steps: list[float] = []
        for n in range(applications_n):
            app_id, whole, pdf = await one_application(engine, world, store, cfg)
            ids.append(app_id)
            paths.append(whole)
            pdf_steps.append(pdf)
            if (n + 1) % 50 == 0:
                core.log(f"  {n + 1}/{applications_n} applications to permit")
        per_pdf: list[float] = []
        started = time.perf_counter()
        for n in range(pdfs):
            t0 = time.perf_counter()
            content = await render_permit(engine, world["tenant"], ids[n % len(ids)], cfg, store)
            per_pdf.append(time.perf_counter() - t0)
            if len(content) < 1000:
                raise core.BenchError("a permit PDF of less than 1 KB")
        elapsed = time.perf_counter() - started
        return {
            "applications": applications_n,
            "application_to_pdf_ms": core.summary_ms(paths),
            "pdf_step_ms": core.summary_ms(pdf_steps),
            "pdfs": pdfs,
            "pdfs_per_second": pdfs / elapsed,
            "per_pdf_ms": core.summary_ms(per_pdf),
            "pdf_bytes": len(content),
        }
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def render(results: dict[str, Any]) -> str:
    f = results["figures"]
    path, pdf, each = f["application_to_pdf_ms"], f["pdf_step_ms"], f["per_pdf_ms"]
    return "\n".join(
        [
            "permits benchmark: one LAO with payments and permits, in-process",
            f"  application → permit PDF ({f['applications']})  p50 {path['p50']:.1f} ms, p95 {path['p95']:.1f} ms,"
            f" max {path['max']:.1f} ms (of which the PDF p50 {pdf['p50']:.1f} ms)",
            f"  permit PDFs ({f['pdfs']}, one after another)  {f['pdfs_per_second']:.1f} per second;"
            f" p50 {each['p50']:.1f} ms, p95 {each['p95']:.1f} ms, {f['pdf_bytes'] / 1024:.0f} KB each",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=200, help="applications taken to a permit (default 200)")
    parser.add_argument("--pdfs", type=int, default=200, help="permit PDFs rendered for the rate (default 200)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    args = parser.parse_args(argv)
    if args.applications < 1 or args.pdfs < 1:
        parser.error("--applications ≥ 1, --pdfs ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.observability import configure_logging
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    configure_logging("WARNING")
    install(INSTALLATION)  # a composition root: the registry's plugins, their tables and case types
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        results: dict[str, Any] = {
            "benchmark": "permits",
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
        core.log(f"{args.applications} applications to permit, then {args.pdfs} permit PDFs")
        results["figures"] = asyncio.run(figures(url, args.applications, args.pdfs))
        results["background_after_run"] = core.machine_busy_cores()
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"permits-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
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
