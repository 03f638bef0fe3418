"""A small test-only service plugin that exercises the plugin contract end to end.

It reads the tenant's own table, meters usage, enqueues an outbox message with an idempotent
consumer, and has a per-tenant scheduled job. It is registered by tests only, never shipped.

It is also a service written against the kernel alone: it imports ``localgov.kernel`` and the
payments service's public ``api`` module, nothing else. A demo permit is issued "once its fee is
paid": :func:`apply_for_permit` charges the fee through ``payments.api.create_bill``; the plugin
subscribes to ``payments.bill_paid`` (and ``payments.bill_cancelled``) and issues the permit when
its own bill (``source="demo"``) is paid, registers it as a kernel document (printed with its QR
stamp, verifiable on the LAO's public page), then schedules a reminder with ``enqueue(...,
not_before=)``. Its table (``demo_permits``) is on a metadata of its own, created by the tests in
the schemas they use (:func:`create_tables`), so the real migrations never see it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, PathParameter
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from localgov.kernel import documents
from localgov.kernel.auth.guards import PUBLIC, citizen, client, guarded, staff
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.db import set_search_path
from localgov.kernel.errors import DomainError, NotFound, problem_responses
from localgov.kernel.jobs import JobContext
from localgov.kernel.numbering import fiscal_period, next_number
from localgov.kernel.outbox import Delivery, enqueue
from localgov.kernel.plugins import Role, ScheduledJob, Scope, ServicePlugin, UsageMeter
from localgov.kernel.reads import ReadConnection, fetch_one
from localgov.kernel.tenancy import TenantInfo, TenantProfile, lao_profile
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.kernel.web import current_tenant
from localgov.services.payments.api import BILL_CANCELLED, BILL_PAID, BillLine, create_bill
from localgov.settings import Settings

PINGS = UsageMeter(code="demo.pings", unit="count", title_th="จำนวนการทดสอบ", title_en="Pings")


class WhoAmI(msgspec.Struct):
    slug: str
    schema: str
    phone: str | None


class PingIn(msgspec.Struct):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PingOut(msgspec.Struct):
    counted: bool
    outbox_id: int


@get("/whoami", operation_id="demoWhoAmI", tags=["Demo"], responses=problem_responses(404), **guarded(PUBLIC))
async def whoami(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> WhoAmI:
    # Two statements: on Citus a query reading a tenant table runs on the tenant's worker, where
    # current_schema() is not the request's search path (docs/operations/citus.md).
    schema = await db_session.scalar(text("SELECT current_schema()"))
    phone = await db_session.scalar(text("SELECT phone FROM profile WHERE id = 1"))
    return WhoAmI(slug=current_tenant(request).slug, schema=str(schema), phone=phone)


class Phone(msgspec.Struct):
    phone: str | None


@get("/phone", operation_id="demoPhone", tags=["Demo"], responses=problem_responses(404), **guarded(PUBLIC))
async def phone(db_read: NamedDependency[ReadConnection]) -> Phone:
    """The profile's phone read on the fast path every time (no copy): what the fail-safe tests read."""
    row = await fetch_one(db_read, select(TenantProfile.__table__.c.phone).where(TenantProfile.__table__.c.id == 1))
    return Phone(phone=row["phone"] if row is not None else None)


class Filed(msgspec.Struct):
    citizen: str
    acr: str


@post(
    "/applications",
    operation_id="demoFileApplication",
    tags=["Demo"],
    status_code=200,
    responses=problem_responses(401, 403, 404),
    **guarded(citizen(acr="substantial")),  # filing needs a stronger login than reading a bill
)
async def file_application(principal: NamedDependency[Principal]) -> Filed:
    return Filed(citizen=principal.subject, acr=principal.acr)


@post(
    "/pings",
    operation_id="demoPing",
    tags=["Demo"],
    responses=problem_responses(401, 403, 404, 409),
    **guarded(staff("demo.clerk") | client("demo.write")),
)
async def ping(
    request: Request[Any, Any, Any],
    data: JSONBody[PingIn],
    db_session: NamedDependency[AsyncSession],
    idempotency_key: Annotated[str, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=100)],
) -> PingOut:
    tenant = current_tenant(request)
    if data.message == "fail-after-write":
        await record_usage(db_session, PINGS, 1, f"ping:{idempotency_key}")
        await enqueue(db_session, "demo.pinged", {"message": data.message}, tenant_id=tenant.id)
        raise DomainError("failing on purpose after writing", code="demo_failure", status=409)
    counted = await record_usage(db_session, PINGS, 1, f"ping:{idempotency_key}")
    entry = await enqueue(db_session, "demo.pinged", {"message": data.message}, tenant_id=tenant.id)
    return PingOut(counted=counted, outbox_id=entry.id)


async def on_pinged(delivery: Delivery) -> None:
    """Idempotent consumer: remembers each delivered entry once, in the tenant's profile."""
    await delivery.use_tenant_schema()
    await delivery.session.execute(
        text(
            "UPDATE profile SET extra = jsonb_set(extra, '{pinged}',"
            " coalesce(extra->'pinged', '[]'::jsonb) || to_jsonb(CAST(:id AS bigint)))"
            " WHERE id = 1 AND NOT coalesce(extra->'pinged', '[]'::jsonb) @> to_jsonb(CAST(:id AS bigint))"
        ),
        {"id": delivery.id},
    )


async def tick(ctx: JobContext) -> None:
    await ctx.session.execute(
        text(
            "UPDATE profile SET extra = jsonb_set(extra, '{ticks}',"
            " to_jsonb(coalesce((extra->>'ticks')::int, 0) + 1)) WHERE id = 1"
        )
    )


# --- a permit issued once its fee is paid -----------------------------------------------------

#: What the plugin passes to ``create_bill`` as ``source``: how it recognises its own bills.
SOURCE = "demo"
REMINDER_TOPIC = "demo.permit_reminder"
DOCUMENT_KIND = "demo.permit"
#: The reminder is due this long after the permit is issued.
REMINDER_AFTER = dt.timedelta(days=30)

METADATA = MetaData()
PERMITS = Table(
    "demo_permits",
    METADATA,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("applicant", Text, nullable=False),
    Column("fee", Numeric(12, 2), nullable=False),
    #: ``awaiting_fee`` -> ``issued`` (bill paid) or ``withdrawn`` (bill cancelled).
    Column("status", String(20), nullable=False, server_default="awaiting_fee"),
    Column("bill_id", String(36)),
    Column("bill_reference", String(15)),
    Column("permit_no", String(20)),
    Column("receipt_number", String(30)),
    Column("issued_at", DateTime(timezone=True)),
    Column("reminded_at", DateTime(timezone=True)),
)


async def create_tables(conn: AsyncConnection, schema: str) -> None:
    """Create the demo's table in ``schema`` (in the connection's transaction)."""
    await set_search_path(conn, schema)
    await conn.run_sync(METADATA.create_all)
    await set_search_path(conn, None)


def source_key(application_id: int) -> str:
    return f"demo.permit:{application_id}"


async def apply_for_permit(session: AsyncSession, *, payer_id: uuid.UUID, applicant: str, fee: Decimal) -> int:
    """An application waiting for its fee, and the fee's bill (through payments' public API)."""
    application_id: int = (
        await session.execute(insert(PERMITS).values(applicant=applicant, fee=fee).returning(PERMITS.c.id))
    ).scalar_one()
    today = bangkok_today()
    bill = await create_bill(
        session,
        payer_id=payer_id,
        lines=[BillLine(fee_code="demo.permit_fee", description_th="ค่าธรรมเนียมใบอนุญาตทดสอบ", amount=fee)],
        due_date=today + dt.timedelta(days=30),
        source=SOURCE,
        source_key=source_key(application_id),
    )
    await session.execute(
        update(PERMITS)
        .where(PERMITS.c.id == application_id)
        .values(bill_id=str(bill.id), bill_reference=bill.reference)
    )
    return application_id


async def on_bill_paid(delivery: Delivery) -> None:
    """Issue the permit whose fee this was (once: a redelivery finds it issued already)."""
    paid = BILL_PAID.decode(delivery)
    if paid.source != SOURCE:
        return  # another service's bill
    await delivery.use_tenant_schema()
    permit_id = (
        await delivery.session.execute(
            select(PERMITS.c.id)
            .where(PERMITS.c.bill_id == str(paid.bill_id), PERMITS.c.status == "awaiting_fee")
            .with_for_update()
        )
    ).scalar_one_or_none()
    if permit_id is None:
        return
    issued_at = dt.datetime.now(dt.UTC)
    year = fiscal_period(bangkok_today(issued_at))
    number = await next_number(delivery.session, "demo.permit", year)
    applicant = (
        await delivery.session.execute(
            update(PERMITS)
            .where(PERMITS.c.id == permit_id)
            .values(
                status="issued", permit_no=f"{number}/{year}", receipt_number=paid.receipt_number, issued_at=issued_at
            )
            .returning(PERMITS.c.applicant)
        )
    ).scalar_one()
    # The permit as a document anyone can verify from its QR stamp (kernel register).
    await documents.issue(
        delivery.session,
        kind=DOCUMENT_KIND,
        source_key=str(permit_id),
        number=f"{number}/{year}",
        title_th="ใบอนุญาตทดสอบ",
        title_en="Demo permit",
        holder_name=applicant,
        issued_at=issued_at,
        valid_from=bangkok_today(issued_at),
    )
    await enqueue(
        delivery.session,
        REMINDER_TOPIC,
        {"permit_id": permit_id},
        tenant_id=delivery.tenant_id,
        not_before=issued_at + REMINDER_AFTER,
    )


async def on_bill_cancelled(delivery: Delivery) -> None:
    cancelled = BILL_CANCELLED.decode(delivery)
    if cancelled.source != SOURCE:
        return
    await delivery.use_tenant_schema()
    await delivery.session.execute(
        update(PERMITS)
        .where(PERMITS.c.bill_id == str(cancelled.bill_id), PERMITS.c.status == "awaiting_fee")
        .values(status="withdrawn")
    )


async def on_permit_reminder(delivery: Delivery) -> None:
    """Delayed work: remember that the reminder went out (once)."""
    await delivery.use_tenant_schema()
    await delivery.session.execute(
        update(PERMITS)
        .where(PERMITS.c.id == int(delivery.payload["permit_id"]), PERMITS.c.reminded_at.is_(None))
        .values(reminded_at=func.now())
    )


class PermitRead(msgspec.Struct, kw_only=True):
    id: int
    status: str
    permit_no: str | None
    #: The verification page the permit's QR stamp opens (null until the permit is issued).
    verification_url: str | None


PermitId = Annotated[int, PathParameter(ge=1)]


async def _permit_document(session: AsyncSession, permit_id: int) -> documents.IssuedDocument | None:
    try:
        return await documents.get_by_source(session, DOCUMENT_KIND, str(permit_id))
    except documents.DocumentNotFound:
        return None


@get(
    "/permits/{permit_id:int}",
    operation_id="demoGetPermit",
    tags=["Demo"],
    responses=problem_responses(401, 403, 404),
    **guarded(staff("demo.clerk")),
)
async def get_permit(
    permit_id: PermitId,
    tenant: NamedDependency[TenantInfo],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> PermitRead:
    row = (await db_session.execute(select(PERMITS).where(PERMITS.c.id == permit_id))).one_or_none()
    if row is None:
        raise NotFound("No such permit.", code="permit_not_found")
    document = await _permit_document(db_session, permit_id)
    url = documents.qr_stamp(settings, tenant, document).url if document else None
    return PermitRead(id=row.id, status=row.status, permit_no=row.permit_no, verification_url=url)


@get(
    "/permits/{permit_id:int}/pdf",
    operation_id="demoPermitPdf",
    tags=["Demo"],
    media_type="application/pdf",
    responses=problem_responses(401, 403, 404),
    **guarded(staff("demo.clerk")),
)
async def permit_pdf(
    permit_id: PermitId,
    tenant: NamedDependency[TenantInfo],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Response[bytes]:
    document = await _permit_document(db_session, permit_id)
    if document is None:
        raise NotFound("This permit is not issued.", code="permit_not_found")
    profile = await lao_profile(db_session, tenant)
    layout = documents.OfficialDocument(
        issuer_th=profile.name_th,
        title_th=document.title_th,
        title_en=document.title_en,
        body=[
            documents.Pairs(rows=[(f"เลขที่ {document.number}", "")]),
            documents.Fields(items=[documents.Field("ผู้ได้รับอนุญาต", document.holder_masked or "-")]),
        ],
        stamp=documents.qr_stamp(settings, tenant, document),
    )
    return Response(await asyncio.to_thread(documents.render, layout), media_type="application/pdf")


DEMO = ServicePlugin(
    slug="demo",
    title_th="บริการทดสอบ",
    title_en="Demo service",
    router=Router(path="/v1/demo", route_handlers=[whoami, phone, ping, get_permit, permit_pdf, file_application]),
    roles=(Role(code="demo.clerk", title_th="เจ้าหน้าที่ทดสอบ", title_en="Clerk", permissions=("demo.write",)),),
    scopes=(Scope(code="demo.write", title_th="ส่งข้อความทดสอบ", title_en="Send pings"),),
    meters=(PINGS,),
    jobs=(ScheduledJob(name="demo.tick", every=dt.timedelta(seconds=1), run=tick, per_tenant=True),),
    handlers={
        "demo.pinged": on_pinged,
        REMINDER_TOPIC: on_permit_reminder,
        BILL_PAID.code: on_bill_paid,
        BILL_CANCELLED.code: on_bill_cancelled,
    },
)
