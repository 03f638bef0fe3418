"""Custom domains route only once proven by a DNS TXT challenge (issue 18), checked against a real
DNS server the tests start on loopback (``tests/support/dns_server.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.dns import DnsPythonResolver, parse_nameservers
from localgov.kernel.jobs import JobContext
from localgov.kernel.tenancy import TenantInfo
from localgov.platform.tenant_admin import domain_recheck_job
from localgov.platform.tenants import TenantSpec, sync_tenants
from localgov.settings import Settings
from tests.conftest import ClientFactory, host, make_settings
from tests.support.dns_server import DnsServer
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

HOUR = dt.timedelta(hours=1)


def admin(tenant: TenantInfo) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))}


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["code"]


async def until(check: Callable[[], Awaitable[bool]], limit_s: float = 3.0) -> float:
    """Poll ``check`` until it holds; the seconds it took (fails after ``limit_s``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if await check():
            return time.perf_counter() - started
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def dns_settings(database_url: str, server: DnsServer) -> Settings:
    return make_settings(database_url, dns_nameservers=server.nameservers, dns_timeout_s=1.0)


def claim_of(body: dict[str, Any], domain: str) -> dict[str, Any]:
    [claim] = [c for c in body["claims"] if c["domain"] == domain]
    return claim


async def served_as(http: httpx.AsyncClient, domain: str) -> str | None:
    response = await http.get("/v1/tenant", headers={"Host": domain})
    return response.json()["slug"] if response.status_code == 200 else None


async def test_a_claimed_domain_routes_only_once_its_txt_record_is_verified(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    tenant = await make_tenant(engine)
    domain = f"www.{tenant.slug}.go.th"
    record = f"_localgov-challenge.{domain}"
    async with client_for(settings_=dns_settings(database_url, dns_server)) as http:
        claimed = await http.put(f"/v1/tenant/domains/{domain}", headers=admin(tenant))
        assert claimed.status_code == 200, claimed.text
        body = claimed.json()
        assert body["domains"] == []  # nothing routes yet
        claim = claim_of(body, domain)
        assert (claim["status"], claim["declared_by"], claim["challenge_record"]) == ("pending", "lao", record)
        value = claim["challenge_value"]
        assert value.startswith("localgov-verification=")
        assert len(value) > 40
        # Claimed again: the same token (idempotent), still pending.
        again = await http.put(f"/v1/tenant/domains/{domain}", headers=admin(tenant))
        assert claim_of(again.json(), domain)["challenge_value"] == value

        unknown = await http.get("/v1/tenant", headers={"Host": domain})
        assert problem(unknown) == (404, "tenant_not_found")

        verify = f"/v1/tenant/domains/{domain}/verify"
        missing = await http.post(verify, headers=admin(tenant))
        assert problem(missing) == (409, "challenge_record_missing")
        assert missing.json()["data"]["record"] == record
        assert missing.json()["data"]["expected"] == value
        assert missing.json()["title"].startswith("ไม่พบระเบียน TXT")

        dns_server.zone.set_txt(record, "localgov-verification=someone-elses-token", "v=spf1 -all")
        wrong = await http.post(verify, headers=admin(tenant))
        assert problem(wrong) == (409, "challenge_token_mismatch")
        assert wrong.json()["data"]["found"] == ["localgov-verification=someone-elses-token", "v=spf1 -all"]
        listed = (await http.get("/v1/tenant/domains", headers=admin(tenant))).json()
        assert claim_of(listed, domain)["status"] == "pending"
        assert claim_of(listed, domain)["check_problem"] == "challenge_token_mismatch"
        assert claim_of(listed, domain)["checked_at"] is not None
        assert problem(await http.get("/v1/tenant", headers={"Host": domain})) == (404, "tenant_not_found")

        dns_server.zone.set_txt(record, "v=spf1 -all", value)
        verified = await http.post(verify, headers=admin(tenant))
        assert verified.status_code == 200, verified.text
        assert verified.json()["domains"] == [domain]
        assert claim_of(verified.json(), domain)["status"] == "verified"
        assert claim_of(verified.json(), domain)["check_problem"] is None
        routed_in = await until(lambda: _is(served_as(http, domain), tenant.slug))
        assert routed_in < 3.0
        # Verifying again is harmless (no second audit event).
        assert (await http.post(verify, headers=admin(tenant))).status_code == 200
    async with engine.connect() as conn:
        actions = (
            await conn.execute(
                text(f'SELECT action FROM "{tenant.schema}".audit_events WHERE target = :t ORDER BY id'),
                {"t": f"domain:{domain}"},
            )
        ).scalars()
        assert list(actions) == ["domain.added", "domain.verified"]
    assert record in dns_server.zone.queries


async def _is(value: Awaitable[str | None], expected: str | None) -> bool:
    return await value == expected


async def test_a_pending_claim_blocks_nobody_and_only_one_lao_proves_a_domain(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    squatter = await make_tenant(engine)
    owner = await make_tenant(engine)
    latecomer = await make_tenant(engine)
    domain = f"www.{uuid.uuid4().hex[:8]}.go.th"
    record = f"_localgov-challenge.{domain}"
    async with client_for(settings_=dns_settings(database_url, dns_server)) as http:
        squatted = await http.put(f"/v1/tenant/domains/{domain}", headers=admin(squatter))
        assert squatted.status_code == 200
        owned = await http.put(f"/v1/tenant/domains/{domain}", headers=admin(owner))
        assert owned.status_code == 200, owned.text  # another LAO's pending claim does not block
        squatter_value = claim_of(squatted.json(), domain)["challenge_value"]
        owner_value = claim_of(owned.json(), domain)["challenge_value"]
        assert squatter_value != owner_value

        dns_server.zone.set_txt(record, owner_value)
        refused = await http.post(f"/v1/tenant/domains/{domain}/verify", headers=admin(squatter))
        assert problem(refused) == (409, "challenge_token_mismatch")
        assert (await http.post(f"/v1/tenant/domains/{domain}/verify", headers=admin(owner))).status_code == 200
        await until(lambda: _is(served_as(http, domain), owner.slug))

        # Now verified by the owner: a new claim is refused, and so is a late proof by the other.
        assert problem(await http.put(f"/v1/tenant/domains/{domain}", headers=admin(latecomer))) == (
            409,
            "domain_taken",
        )
        dns_server.zone.set_txt(record, owner_value, squatter_value)
        late = await http.post(f"/v1/tenant/domains/{domain}/verify", headers=admin(squatter))
        assert problem(late) == (409, "domain_taken")
        # Isolation: another LAO's claim is not found by id (name) on this LAO's routes.
        assert problem(await http.post(f"/v1/tenant/domains/{domain}/verify", headers=admin(latecomer))) == (
            404,
            "domain_not_found",
        )
        assert problem(await http.delete(f"/v1/tenant/domains/{domain}", headers=admin(latecomer))) == (
            404,
            "domain_not_found",
        )
        assert await served_as(http, domain) == owner.slug


async def test_dns_that_does_not_answer_is_a_503_and_changes_nothing(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    tenant = await make_tenant(engine)
    domain = f"shop.{tenant.slug}.example"
    record = f"_localgov-challenge.{domain}"
    async with client_for(settings_=dns_settings(database_url, dns_server)) as http:
        await http.put(f"/v1/tenant/domains/{domain}", headers=admin(tenant))
        dns_server.zone.fail(record)
        down = await http.post(f"/v1/tenant/domains/{domain}/verify", headers=admin(tenant))
        assert problem(down) == (503, "dns_unavailable")
        assert down.headers["retry-after"] == "30"
        claim = claim_of((await http.get("/v1/tenant/domains", headers=admin(tenant))).json(), domain)
        assert (claim["status"], claim["checked_at"]) == ("pending", None)
        # An unknown claim and a bad name are the caller's errors, before any look-up.
        assert problem(await http.post("/v1/tenant/domains/none.example/verify", headers=admin(tenant))) == (
            404,
            "domain_not_found",
        )


async def test_the_worker_verifies_a_pending_claim_and_unroutes_one_whose_record_is_gone(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    tenant = await make_tenant(engine)
    domain = f"www.{tenant.slug}.in.th"
    record = f"_localgov-challenge.{domain}"
    job = domain_recheck_job(DnsPythonResolver(parse_nameservers(dns_server.nameservers), timeout_s=1.0), HOUR)
    assert job.per_tenant
    now = dt.datetime.now(dt.UTC)

    async def run_job(at: dt.datetime) -> None:
        async with tenant_session(session_factory(engine), tenant) as session:
            await job.run(JobContext(session, tenant, at))

    async def claim(http: httpx.AsyncClient) -> dict[str, Any]:
        return claim_of((await http.get("/v1/tenant/domains", headers=admin(tenant))).json(), domain)

    async with client_for(settings_=dns_settings(database_url, dns_server)) as http:
        value = claim_of((await http.put(f"/v1/tenant/domains/{domain}", headers=admin(tenant))).json(), domain)[
            "challenge_value"
        ]
        await run_job(now)
        assert (await claim(http))["check_problem"] == "challenge_record_missing"
        dns_server.zone.set_txt(record, value)
        await run_job(now + 10 * dt.timedelta(minutes=1))  # checked 10 min ago: not due yet
        assert (await claim(http))["status"] == "pending"
        await run_job(now + 2 * HOUR)
        assert (await claim(http))["status"] == "verified"
        await until(lambda: _is(served_as(http, domain), tenant.slug))

        dns_server.zone.remove(record)  # the LAO (or whoever holds the domain now) took it away
        await run_job(now + 4 * HOUR)
        first = await claim(http)
        assert (first["status"], first["check_problem"]) == ("verified", "challenge_record_missing")  # one grace
        assert await served_as(http, domain) == tenant.slug
        dns_server.zone.fail(record)
        await run_job(now + 6 * HOUR)  # DNS down: no verdict, nothing changes
        assert (await claim(http))["status"] == "verified"
        dns_server.zone.fail(record, failing=False)
        await run_job(now + 8 * HOUR)
        assert (await claim(http))["status"] == "pending"
        await until(lambda: _is(served_as(http, domain), None))
    async with engine.connect() as conn:
        unverified = (
            await conn.execute(
                text(f'SELECT actor_kind, data FROM "{tenant.schema}".audit_events WHERE action = :a'),
                {"a": "domain.unverified"},
            )
        ).all()
        assert [(kind, data["problem"]) for kind, data in unverified] == [("system", "challenge_record_missing")]


async def test_operator_declared_domains_route_without_a_challenge(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    declared = f"www.{uuid.uuid4().hex[:8]}.example"
    tenant = await make_tenant(engine, domains=[declared])  # as tenants.yaml declares it
    async with client_for(settings_=dns_settings(database_url, dns_server)) as http:
        listed = (await http.get("/v1/tenant/domains", headers=admin(tenant))).json()
        assert listed["domains"] == [declared]
        declared_claim = claim_of(listed, declared)
        assert (declared_claim["status"], declared_claim["declared_by"]) == ("verified", "operator")
        assert declared_claim["challenge_record"] is None
        assert (await http.post(f"/v1/tenant/domains/{declared}/verify", headers=admin(tenant))).status_code == 200
        assert await served_as(http, declared) == tenant.slug
    assert dns_server.zone.queries == []  # nothing to prove


async def test_the_tenants_file_sync_leaves_the_laos_claims_alone(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, dns_server: DnsServer
) -> None:
    tenant = await make_tenant(engine)
    claimed, declared = f"portal.{tenant.slug}.example", f"www.{tenant.slug}.example"
    async with client_for(settings_=dns_settings(database_url, dns_server), listen=False) as http:
        assert (await http.put(f"/v1/tenant/domains/{claimed}", headers=admin(tenant))).status_code == 200
        assert (await http.put(f"/v1/tenant/domains/{declared}", headers=admin(tenant))).status_code == 200
    spec = TenantSpec(dla_code=tenant.dla_code, slug=tenant.slug, name_en=tenant.name_en, domains=[declared])
    report = await sync_tenants(engine, [spec])
    assert report.failed == []
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT domain, challenge_token IS NULL, verified_at IS NOT NULL FROM platform.tenant_domains"
                    " WHERE tenant_id = :t ORDER BY domain"
                ),
                {"t": tenant.id},
            )
        ).all()
    # The LAO's pending claim stays; the one the file declares becomes the operator's, verified.
    assert [tuple(r) for r in rows] == [(claimed, False, False), (declared, True, True)]
    assert (await sync_tenants(engine, [spec])).unchanged == [tenant.slug]
