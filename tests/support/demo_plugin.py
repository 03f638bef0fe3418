"""A small test-only service plugin that exercises the plugin contract end to end.

It reads the tenant's own table, meters usage, enqueues an outbox message with an idempotent
consumer, and has a per-tenant scheduled job. It is registered by tests only, never shipped.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.auth.guards import PUBLIC, client, guarded, staff
from localgov.kernel.errors import DomainError, problem_responses
from localgov.kernel.jobs import JobContext
from localgov.kernel.outbox import Delivery, enqueue
from localgov.kernel.plugins import Role, ScheduledJob, Scope, ServicePlugin, UsageMeter
from localgov.kernel.usage import record_usage
from localgov.kernel.web import current_tenant

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
    row = (await db_session.execute(text("SELECT current_schema(), phone FROM profile WHERE id = 1"))).one()
    return WhoAmI(slug=current_tenant(request).slug, schema=row[0], phone=row[1])


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


DEMO = ServicePlugin(
    slug="demo",
    title_th="บริการทดสอบ",
    title_en="Demo service",
    router=Router(path="/v1/demo", route_handlers=[whoami, ping]),
    roles=(Role(code="demo.clerk", title_th="เจ้าหน้าที่ทดสอบ", title_en="Clerk", permissions=("demo.write",)),),
    scopes=(Scope(code="demo.write", title_th="ส่งข้อความทดสอบ", title_en="Send pings"),),
    meters=(PINGS,),
    jobs=(ScheduledJob(name="demo.tick", every=dt.timedelta(seconds=1), run=tick, per_tenant=True),),
    handlers={"demo.pinged": on_pinged},
)
