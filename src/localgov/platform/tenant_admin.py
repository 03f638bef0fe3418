"""An LAO's administrators look after their own tenant: public contact details, the services it
offers (within its plan and the platform's plugins) and its custom domains.

Every change is written to the LAO's audit log. Services and domains live in the shared catalog
(``platform.tenants``, ``platform.tenant_domains``): the catalog trigger tells every process at
commit, so routing follows within a moment.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec
import structlog
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.db import session_tenant_id
from localgov.kernel.dns import DnsUnavailable, DomainResolver
from localgov.kernel.errors import Conflict, DomainError, FieldError, NotFound
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.plugins import ServicePlugin
from localgov.kernel.reads import cached_row_changed
from localgov.kernel.tenancy import TenantProfile
from localgov.kernel.text import EMAIL_PATTERN
from localgov.kernel.validation import is_phone
from localgov.platform.catalog import custom_domain_problem, normalise_host
from localgov.platform.models import Plan, Tenant, TenantDomain
from localgov.platform.provisioning import install_services

log = structlog.get_logger("localgov.tenant_admin")

#: Custom domains one LAO may have (besides ``<slug>.<base domain>``).
MAX_DOMAINS = 10
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class InvalidProfile(DomainError):
    code = "invalid_profile"
    status = 400
    title = "ข้อมูลติดต่อไม่ถูกต้อง / The contact details are not valid"


class UnknownService(NotFound):
    code = "unknown_service"
    title = "ไม่มีบริการนี้บนแพลตฟอร์ม / The platform has no such service"


class ServiceNotInPlan(Conflict):
    code = "service_not_in_plan"
    title = "แผนบริการของ อปท. ไม่รวมบริการนี้ / The LAO's plan does not include this service"


class InvalidDomain(DomainError):
    code = "invalid_domain"
    status = 400
    title = "ชื่อโดเมนไม่ถูกต้อง / Not a usable domain name"


class DomainTaken(Conflict):
    code = "domain_taken"
    title = "โดเมนนี้มีผู้ใช้แล้ว / This domain already serves an LAO"


class TooManyDomains(Conflict):
    code = "too_many_domains"
    title = "มีโดเมนครบจำนวนสูงสุดแล้ว / The LAO has the most custom domains allowed"


class DomainNotFound(NotFound):
    code = "domain_not_found"
    title = "ไม่พบโดเมนนี้ของ อปท. / The LAO has no such custom domain"


# --- public contact details ----------------------------------------------------------------------

#: Fields of ``profile`` the LAO's administrators edit, and their longest values.
PROFILE_FIELDS: Mapping[str, int] = {
    "address_th": 500,
    "phone": 40,
    "email": 254,
    "website": 300,
    "office_hours_th": 200,
}


def _check_website(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return "must be an http:// or https:// address without credentials"
    host = normalise_host(parts.hostname or "")
    if host is None or "." not in host or any(c.isspace() for c in value):
        return "must name a valid host"
    return None


def profile_problems(changes: Mapping[str, str | None]) -> list[dict[str, str]]:
    """What is wrong with the submitted contact details (empty when valid)."""
    problems: list[dict[str, str]] = []
    for field, value in changes.items():
        if value is None:
            continue
        message: str | None = None
        if not value.strip():
            message = "must not be blank (send null to clear it)"
        elif len(value) > PROFILE_FIELDS[field]:
            message = f"must have at most {PROFILE_FIELDS[field]} characters"
        elif _CONTROL.search(value) or (field != "address_th" and "\n" in value):
            message = "must not contain control characters"
        elif field == "phone" and not all(is_phone(number) for number in value.split(",")):
            message = "must be Thai phone numbers (0 and 8-9 digits, or +66), separated by commas"
        elif field == "email" and not re.fullmatch(EMAIL_PATTERN, value):
            message = "must be an e-mail address"
        elif field == "website":
            message = _check_website(value)
        if message is not None:
            problems.append({"key": field, "message": message})
    return problems


async def update_profile(
    session: AsyncSession, changes: Mapping[str, str | None], *, actor: Actor, origin: Origin
) -> TenantProfile:
    """Apply ``changes`` (field → new value; None clears) to the LAO's one profile row."""
    problems = profile_problems(changes)
    if problems:
        raise InvalidProfile(errors=[FieldError(key=p["key"], message=p["message"], source="body") for p in problems])
    profile = (
        await session.execute(select(TenantProfile).where(TenantProfile.id == 1).with_for_update())
    ).scalar_one_or_none()
    if profile is None:
        profile = TenantProfile(id=1)
        session.add(profile)
    changed = {k: v.strip() if v is not None else None for k, v in changes.items()}
    changed = {k: v for k, v in changed.items() if getattr(profile, k) != v}
    for field, value in changed.items():
        setattr(profile, field, value)
    if changed:
        profile.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await record_audit(
            session, "profile.updated", actor=actor, origin=origin, target="profile", data={"changed": changed}
        )
        await cached_row_changed(session)  # every process reads the profile afresh (kernel.tenancy.PROFILE)
    return profile


# --- services ------------------------------------------------------------------------------------


class ServiceState(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title_th: str
    title_en: str
    in_plan: bool
    enabled: bool


async def tenant_plan(session: AsyncSession, tenant_id: int, *, for_update: bool = False) -> tuple[Tenant, Plan]:
    query = select(Tenant).where(Tenant.id == tenant_id)
    if for_update:
        query = query.with_for_update()
    tenant = (await session.execute(query)).scalar_one()
    plan = (await session.execute(select(Plan).where(Plan.code == tenant.plan_code))).scalar_one()
    return tenant, plan


def service_states(tenant: Tenant, plan: Plan, titles: Mapping[str, tuple[str, str]]) -> list[ServiceState]:
    """Every registered service, whether the plan allows it and whether the LAO enabled it."""
    return [
        ServiceState(
            slug=slug,
            title_th=title_th,
            title_en=title_en,
            in_plan=slug in plan.services,
            enabled=slug in tenant.enabled_services,
        )
        for slug, (title_th, title_en) in sorted(titles.items())
    ]


async def set_service(
    session: AsyncSession,
    tenant_id: int,
    slug: str,
    *,
    enabled: bool,
    plugins: Collection[ServicePlugin],
    actor: Actor,
    origin: Origin,
) -> tuple[Tenant, Plan]:
    """Enable or disable one service (idempotent). Enabling needs a registered plugin in the plan;
    disabling is always allowed (a service the plan no longer offers can be switched off).

    Enabling creates the service's tables in the LAO's schema and seeds them, in this transaction,
    the first time only; disabling keeps tables and data, so enabling again finds them as they were.
    """
    registered = {p.slug: p for p in plugins}
    if slug not in registered:
        raise UnknownService(data={"service": slug, "registered": sorted(registered)})
    tenant, plan = await tenant_plan(session, tenant_id, for_update=True)
    current = set(tenant.enabled_services)
    if enabled and slug not in current and slug not in plan.services:
        raise ServiceNotInPlan(
            f"The plan {plan.code!r} offers {', '.join(sorted(plan.services)) or 'no services'}.",
            data={"service": slug, "plan": plan.code, "allowed": sorted(plan.services)},
        )
    wanted = current | {slug} if enabled else current - {slug}
    if enabled:  # also when it was enabled already: its tables must be there
        await install_services(await session.connection(), tenant.schema_name, tenant.id, [registered[slug]])
    if wanted != current:
        tenant.enabled_services = sorted(wanted)
        tenant.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await record_audit(
            session,
            "service.enabled" if enabled else "service.disabled",
            actor=actor,
            origin=origin,
            target=f"service:{slug}",
            data={"enabled_services": sorted(wanted)},
        )
    return tenant, plan


# --- custom domains ------------------------------------------------------------------------------


def check_domain(raw: str, base_domain: str) -> str:
    """A custom domain as ``tenants.yaml`` accepts it: a lower-case host name, not an IP address nor a
    special-use name, outside the base domain (:func:`custom_domain_problem`)."""
    host = normalise_host(raw)
    if host is None or host != raw:
        raise InvalidDomain("A domain is a lower-case host name such as www.example.go.th.", data={"domain": raw[:253]})
    problem = custom_domain_problem(host, base_domain)
    if problem is not None:
        raise InvalidDomain(problem, data={"domain": host})
    return host


#: Where an LAO publishes its challenge: ``_localgov-challenge.<domain>`` TXT ``localgov-verification=<token>``.
CHALLENGE_LABEL = "_localgov-challenge"
CHALLENGE_PREFIX = "localgov-verification="


def challenge_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def challenge_value(token: str) -> str:
    return CHALLENGE_PREFIX + token


class ChallengeRecordMissing(Conflict):
    code = "challenge_record_missing"
    title = "ไม่พบระเบียน TXT สำหรับยืนยันโดเมน / The domain's TXT challenge record was not found"


class ChallengeTokenMismatch(Conflict):
    code = "challenge_token_mismatch"
    title = "ระเบียน TXT ไม่ตรงกับรหัสยืนยันของ อปท. / The TXT record does not hold the LAO's challenge"


class DnsLookupFailed(DomainError):
    code = "dns_unavailable"
    status = 503
    title = "ไม่สามารถสอบถาม DNS ได้ในขณะนี้ / DNS could not be queried; try again later"
    headers = {"Retry-After": "30"}


async def list_domains(session: AsyncSession, tenant_id: int) -> list[TenantDomain]:
    query = select(TenantDomain).where(TenantDomain.tenant_id == tenant_id).order_by(TenantDomain.domain)
    return list((await session.execute(query)).scalars().all())


async def add_domain(
    session: AsyncSession, tenant_id: int, raw: str, *, base_domain: str, actor: Actor, origin: Origin
) -> bool:
    """Claim a custom domain, pending until its DNS challenge is verified (:func:`verify_domain`);
    True when it was claimed, False when the LAO had it already. Another LAO's pending claim does
    not block it (only one can prove it); another LAO's verified domain does."""
    domain = check_domain(raw, base_domain)
    # One change to the LAO's domains at a time (the limit is checked against a stable count).
    await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    owners = (
        await session.execute(
            select(TenantDomain.tenant_id, TenantDomain.verified_at).where(TenantDomain.domain == domain)
        )
    ).all()
    if any(owner == tenant_id for owner, _ in owners):
        return False
    if any(verified is not None for _, verified in owners):
        raise DomainTaken(data={"domain": domain})
    count = (
        await session.execute(select(func.count()).select_from(TenantDomain).where(TenantDomain.tenant_id == tenant_id))
    ).scalar_one()
    if count >= MAX_DOMAINS:
        raise TooManyDomains(data={"limit": MAX_DOMAINS})
    # A core INSERT: the ORM would leave out a None and let the column's default (verified) apply.
    token = secrets.token_urlsafe(24)
    await session.execute(
        insert(TenantDomain).values(domain=domain, tenant_id=tenant_id, challenge_token=token, verified_at=None)
    )
    await record_audit(session, "domain.added", actor=actor, origin=origin, target=f"domain:{domain}", data={})
    return True


class CheckOutcome(msgspec.Struct, frozen=True):
    """One DNS check of a claimed domain: None ``problem`` when the record holds its token."""

    problem: str | None
    found: tuple[str, ...] = ()


async def check_challenge(resolver: DomainResolver, row: TenantDomain) -> CheckOutcome:
    """Ask DNS for the domain's challenge record (raises ``DnsUnavailable`` when DNS does not answer)."""
    assert row.challenge_token is not None
    found = await resolver.txt(challenge_name(row.domain))
    if not found:
        return CheckOutcome(problem=ChallengeRecordMissing.code)
    expected = challenge_value(row.challenge_token)
    if any(hmac.compare_digest(value.strip().encode(), expected.encode()) for value in found):
        return CheckOutcome(problem=None, found=tuple(found))
    return CheckOutcome(problem=ChallengeTokenMismatch.code, found=tuple(found[:5]))


async def verify_domain(
    session: AsyncSession, tenant_id: int, domain: str, *, resolver: DomainResolver, actor: Actor, origin: Origin
) -> TenantDomain:
    """Check the LAO's claim on ``domain`` now; verified, it routes at commit (the catalog trigger).

    A failed check answers 409 ``challenge_record_missing`` / ``challenge_token_mismatch`` and is
    recorded on the claim (the claim stays pending); a DNS that does not answer, 503 ``dns_unavailable``.
    A domain declared by the operator or verified already is answered as it is (idempotent)."""
    row = (
        await session.execute(
            select(TenantDomain)
            .where(TenantDomain.tenant_id == tenant_id, TenantDomain.domain == domain)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise DomainNotFound(data={"domain": domain[:253]})
    if row.challenge_token is None:
        return row
    try:
        outcome = await check_challenge(resolver, row)
    except DnsUnavailable as exc:
        raise DnsLookupFailed(data={"domain": domain, "record": challenge_name(domain)}) from exc
    row.checked_at = dt.datetime.now(dt.UTC)
    row.check_problem = outcome.problem
    if outcome.problem is not None:
        error = ChallengeRecordMissing if outcome.problem == ChallengeRecordMissing.code else ChallengeTokenMismatch
        raise error(
            f"Publish a TXT record {challenge_name(domain)} with the value {challenge_value(row.challenge_token)}.",
            data={
                "domain": domain,
                "record": challenge_name(domain),
                "expected": challenge_value(row.challenge_token),
                "found": list(outcome.found),
            },
        ).keeping_changes()
    if row.verified_at is None:
        await _mark_verified(session, row, actor=actor, origin=origin)
    return row


async def _mark_verified(session: AsyncSession, row: TenantDomain, *, actor: Actor, origin: Origin) -> None:
    taken = (
        await session.execute(
            select(TenantDomain.tenant_id).where(
                TenantDomain.domain == row.domain,
                TenantDomain.tenant_id != row.tenant_id,
                TenantDomain.verified_at.is_not(None),
            )
        )
    ).first()
    if taken is not None:
        raise DomainTaken(data={"domain": row.domain})
    try:
        async with session.begin_nested():
            row.verified_at = dt.datetime.now(dt.UTC)
            await session.flush()
    except IntegrityError as exc:  # another LAO proved it in the meantime
        raise DomainTaken(data={"domain": row.domain}) from exc
    await record_audit(session, "domain.verified", actor=actor, origin=origin, target=f"domain:{row.domain}", data={})


async def recheck_domains(
    session: AsyncSession, resolver: DomainResolver, *, now: dt.datetime, every: dt.timedelta
) -> dict[str, int]:
    """The worker's re-check of the tenant's claimed domains (``session`` bound to the tenant): each
    claim not checked for ``every`` is checked; a pending one whose record appeared is verified, a
    verified one whose record is gone or wrong stops routing at its second failed check in a row.
    A DNS that does not answer changes nothing."""
    tenant_id = session_tenant_id(session)
    rows = (
        (
            await session.execute(
                select(TenantDomain)
                .where(
                    TenantDomain.tenant_id == tenant_id,
                    TenantDomain.challenge_token.is_not(None),
                    or_(TenantDomain.checked_at.is_(None), TenantDomain.checked_at <= now - every),
                )
                .order_by(TenantDomain.domain)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    counts = {"checked": 0, "verified": 0, "unverified": 0, "unavailable": 0}
    system = Actor("system", "domain-recheck")
    for row in rows:
        try:
            outcome = await check_challenge(resolver, row)
        except DnsUnavailable:
            counts["unavailable"] += 1
            continue
        counts["checked"] += 1
        failed_before = row.check_problem is not None
        row.checked_at, row.check_problem = now, outcome.problem
        if outcome.problem is None and row.verified_at is None:
            try:
                await _mark_verified(session, row, actor=system, origin=Origin())
                counts["verified"] += 1
            except DomainTaken:
                row.check_problem = DomainTaken.code
        elif outcome.problem is not None and row.verified_at is not None and failed_before:
            row.verified_at = None
            counts["unverified"] += 1
            await record_audit(
                session,
                "domain.unverified",
                actor=system,
                origin=Origin(),
                target=f"domain:{row.domain}",
                data={"problem": outcome.problem},
            )
    await session.flush()
    return counts


DOMAIN_RECHECK_JOB = "core.domain_recheck"


def domain_recheck_job(resolver: DomainResolver, every: dt.timedelta) -> ScheduledJob:
    """The worker's hourly timer over each tenant's claimed domains (:func:`recheck_domains`)."""

    async def run(ctx: JobContext) -> None:
        counts = await recheck_domains(ctx.session, resolver, now=ctx.now, every=every)
        if counts["checked"] or counts["unavailable"]:
            log.info("domains_rechecked", **counts)

    return ScheduledJob(name=DOMAIN_RECHECK_JOB, every=dt.timedelta(hours=1), run=run, per_tenant=True)


async def remove_domain(session: AsyncSession, tenant_id: int, domain: str, *, actor: Actor, origin: Origin) -> None:
    result = await session.execute(
        delete(TenantDomain).where(TenantDomain.tenant_id == tenant_id, TenantDomain.domain == domain)
    )
    if not getattr(result, "rowcount", 0):
        raise DomainNotFound(data={"domain": domain[:253]})
    await record_audit(session, "domain.removed", actor=actor, origin=origin, target=f"domain:{domain}", data={})


def contact_of(profile: TenantProfile | None) -> dict[str, Any]:
    return {field: getattr(profile, field) if profile else None for field in PROFILE_FIELDS}


# --- CORS: browser origins allowed to call the LAO's API ------------------------------------------

#: How many origins an LAO may allow.
MAX_CORS_ORIGINS = 20
_ORIGIN_RE = re.compile(r"^https?://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")


class InvalidOrigin(DomainError):
    code = "invalid_origin"
    status = 400
    title = "ต้นทาง (origin) ไม่ถูกต้อง / Not a valid origin"


def check_origins(raw: Sequence[str]) -> list[str]:
    """Exact ``scheme://host[:port]`` origins, lower case, no path, no wildcard; https, or http for
    ``localhost`` only (development)."""
    out: list[str] = []
    errors: list[FieldError] = []
    for index, origin in enumerate(raw):
        value = origin.strip().lower()
        host = value.split("://", 1)[-1].split(":", 1)[0]
        if not _ORIGIN_RE.fullmatch(value) or (value.startswith("http://") and host != "localhost"):
            errors.append(
                FieldError(
                    key=f"origins[{index}]",
                    message="an origin is https://host[:port] (http only for localhost), without a path",
                    source="body",
                    code="invalid_origin",
                )
            )
        elif value not in out:
            out.append(value)
    if errors:
        raise InvalidOrigin(errors=errors)
    if len(out) > MAX_CORS_ORIGINS:
        raise InvalidOrigin(f"At most {MAX_CORS_ORIGINS} origins.", data={"limit": MAX_CORS_ORIGINS})
    return sorted(out)


async def cors_origins(session: AsyncSession, tenant_id: int) -> list[str]:
    value = (await session.execute(select(Tenant.cors_origins).where(Tenant.id == tenant_id))).scalar_one()
    return sorted(value or [])


async def set_cors_origins(
    session: AsyncSession, tenant_id: int, origins: Sequence[str], *, actor: Actor, origin: Origin
) -> list[str]:
    """Replace the LAO's allowed origins; every process follows through the catalog's notification."""
    checked = check_origins(origins)
    await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(cors_origins=checked))
    await record_audit(
        session,
        "tenant.cors_changed",
        actor=actor,
        origin=origin,
        target=f"tenant:{tenant_id}",
        data={"origins": checked},
    )
    return checked
