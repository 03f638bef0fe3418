"""Self-service signup (การสมัครใช้บริการ): from the LAO's form to its active tenant.

States::

    pending_verification --verify--> pending_approval --approve--> provisioning --worker--> active
            |                              |                            |
         (link expires)                 reject                    error: failed --retry--> provisioning
            v                              v
         expired                        rejected

A request in ``pending_verification``, ``pending_approval``, ``provisioning`` or ``failed`` holds its
DLA code and sub-domain: partial unique indexes let exactly one of two racing requests have them.
A request whose verification link expired lets go of them (``expired``).

Provisioning runs in the worker, as the consumer of an outbox message written by the approval:
catalog row, schema at head, the plugins' editable defaults and the contact officer invited as the
first ``tenant_admin``, all in one transaction through :func:`localgov.platform.tenants.create_tenant`
(the code ``tenants.yaml`` uses). A worker killed half-way leaves nothing; the message is delivered
again and finishes the job. An error is kept on the request (``failed``) for the operator, whose
retry runs the same code again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import new_token
from localgov.kernel.db import set_search_path
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.errors import FieldError as ProblemFieldError
from localgov.kernel.mail import OutgoingMail, send_mail
from localgov.kernel.outbox import Delivery, enqueue
from localgov.kernel.plugins import DeliveryHandler, ServicePlugin
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import is_one_line, normalise_email
from localgov.kernel.thai import english_datetime, thai_datetime, to_arabic_digits
from localgov.kernel.validation import is_phone
from localgov.platform.catalog import tenant_info
from localgov.platform.models import Plan, SignupRequest, SignupStatus, Tenant
from localgov.platform.provisioning import ProfileSeed
from localgov.platform.registry import LAO_TYPES, LaoType, RegistryEntry, lookup
from localgov.platform.tenants import RESERVED_SLUGS, SLUG_RE, TenantSpec, create_tenant
from localgov.settings import Settings

log = structlog.get_logger("localgov.signup")

#: The outbox topic that makes the worker provision an approved request.
PROVISION_TOPIC = "platform.signup_provision"


# --- errors (each a stable code; titles Thai first, then English) ------------------------------


class SignupInvalid(DomainError):
    code = "signup_invalid"
    status = 422
    title = "ข้อมูลการสมัครไม่ถูกต้อง / The signup form has errors"


class UnknownDlaCode(DomainError):
    code = "unknown_dla_code"
    status = 422
    title = "ไม่พบรหัส อปท. นี้ในทะเบียนของกรมส่งเสริมการปกครองท้องถิ่น / This DLA code is not in the official registry"


class DlaCodeRegistered(Conflict):
    code = "dla_code_registered"
    title = "อปท. นี้ใช้บริการอยู่แล้ว / This LAO is already on the platform"


class DlaCodePending(Conflict):
    code = "dla_code_pending"
    title = "มีคำขอสมัครของ อปท. นี้อยู่ระหว่างดำเนินการ / A signup request of this LAO is already in progress"


class SlugReserved(DomainError):
    code = "slug_reserved"
    status = 422
    title = "ชื่อโดเมนย่อยนี้สงวนไว้ / This sub-domain is reserved"


class SlugTaken(Conflict):
    code = "slug_taken"
    title = "ชื่อโดเมนย่อยนี้มีผู้ใช้แล้ว / This sub-domain is taken"


class InvalidLink(NotFound):
    code = "invalid_link"
    title = "ลิงก์ไม่ถูกต้องหรือใช้ไปแล้ว / This link is not valid"


class LinkExpired(DomainError):
    code = "link_expired"
    status = 410
    title = "ลิงก์หมดอายุแล้ว กรุณาสมัครใหม่ / This link has expired; please sign up again"


class SignupNotFound(NotFound):
    code = "signup_not_found"
    title = "ไม่พบคำขอสมัคร / No such signup request"


class SignupWrongState(Conflict):
    code = "signup_wrong_state"
    title = "คำขอสมัครอยู่ในสถานะที่ทำรายการนี้ไม่ได้ / The request is not in a state that allows this"


# --- the form -------------------------------------------------------------------------------------


class SignupForm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the LAO fills in. Its names, type and province come from the registry."""

    dla_code: str
    slug: str
    plan_code: str
    contact_name: str
    contact_position: str
    contact_email: str
    contact_phone: str
    accept_terms: bool


class FieldError(msgspec.Struct, frozen=True):
    field: str
    code: str
    message_th: str
    message_en: str

    def problem(self) -> ProblemFieldError:
        """As the problem's ``errors`` item (the one shape of field errors)."""
        return ProblemFieldError(
            key=self.field, message=self.message_en, message_th=self.message_th, code=self.code, source="body"
        )


def _field_errors(form: SignupForm) -> list[FieldError]:
    errors: list[FieldError] = []

    def bad(field: str, code: str, th: str, en: str) -> None:
        errors.append(FieldError(field, code, th, en))

    if not re.fullmatch(r"[0-9]{7}", form.dla_code.strip()):
        bad("dla_code", "dla_code_format", "รหัส อปท. ต้องเป็นตัวเลข 7 หลัก", "The DLA code has 7 digits")
    slug = form.slug.strip().lower()
    if not SLUG_RE.fullmatch(slug) or "--" in slug:
        bad(
            "slug",
            "slug_format",
            "โดเมนย่อยใช้ได้เฉพาะอักษรอังกฤษตัวเล็ก ตัวเลข และขีด (-) ยาว 3–40 ตัว",
            "The sub-domain has 3-40 lower-case letters, digits or single hyphens",
        )
    for field, th, en in (
        ("contact_name", "กรุณากรอกชื่อผู้ประสานงาน", "Enter the contact officer's name"),
        ("contact_position", "กรุณากรอกตำแหน่งผู้ประสานงาน", "Enter the contact officer's position"),
    ):
        value = getattr(form, field).strip()
        if not value or len(value) > 200 or not is_one_line(value):
            bad(field, "required", th, en)
    try:
        normalise_email(form.contact_email)
    except DomainError:
        bad("contact_email", "email_format", "อีเมลไม่ถูกต้อง", "Not a valid e-mail address")
    if not is_phone(form.contact_phone):
        bad("contact_phone", "phone_format", "หมายเลขโทรศัพท์ไม่ถูกต้อง", "Not a valid phone number")
    if not form.accept_terms:
        bad("accept_terms", "terms_not_accepted", "กรุณายอมรับข้อตกลงการใช้บริการ", "Accept the terms of service")
    return errors


# --- views of a request ---------------------------------------------------------------------------


class SignupView(msgspec.Struct, kw_only=True):
    """A signup request as the operator sees it (never its link digests)."""

    id: int
    status: SignupStatus
    dla_code: str
    slug: str
    name_th: str
    lao_type: LaoType
    province_th: str
    province_en: str
    plan_code: str
    contact_name: str
    contact_position: str
    contact_email: str
    contact_phone: str
    terms_version: str
    created_at: dt.datetime
    verified_at: dt.datetime | None
    decided_at: dt.datetime | None
    decided_by: str | None
    reason: str | None
    error: str | None
    attempts: int
    tenant_id: int | None
    provisioned_at: dt.datetime | None


class PublicStatus(msgspec.Struct, kw_only=True):
    """What the status link shows the LAO: its own request, nothing of anyone else."""

    status: SignupStatus
    status_th: str
    status_en: str
    dla_code: str
    name_th: str
    slug: str
    created_at: dt.datetime
    reason: str | None
    tenant_url: str | None


STATUS_TEXT: dict[SignupStatus, tuple[str, str]] = {
    "pending_verification": ("รอยืนยันอีเมล", "Waiting for e-mail verification"),
    "pending_approval": ("รอผู้ดูแลระบบอนุมัติ", "Waiting for the operator's approval"),
    "provisioning": ("กำลังจัดเตรียมระบบ", "Being set up"),
    "active": ("เปิดใช้งานแล้ว", "Active"),
    "rejected": ("ไม่อนุมัติ", "Rejected"),
    "failed": ("การจัดเตรียมระบบขัดข้อง ผู้ดูแลระบบกำลังแก้ไข", "Set-up failed; the operator is on it"),
    "expired": ("ลิงก์ยืนยันหมดอายุ", "The verification link expired"),
}


def _entry(dla_code: str) -> RegistryEntry:
    entry = lookup(dla_code)
    if entry is None:  # stored requests always name a registry entry
        raise UnknownDlaCode(data={"dla_code": dla_code})
    return entry


def view_of(request: SignupRequest) -> SignupView:
    entry = _entry(request.dla_code)
    return SignupView(
        id=request.id,
        status=request.status,
        dla_code=request.dla_code,
        slug=request.slug,
        name_th=entry.name_th,
        lao_type=entry.type,
        province_th=entry.province_th,
        province_en=entry.province_en,
        plan_code=request.plan_code,
        contact_name=request.contact_name,
        contact_position=request.contact_position,
        contact_email=request.contact_email,
        contact_phone=request.contact_phone,
        terms_version=request.terms_version,
        created_at=request.created_at,
        verified_at=request.verified_at,
        decided_at=request.decided_at,
        decided_by=request.decided_by,
        reason=request.reason,
        error=request.error,
        attempts=request.attempts,
        tenant_id=request.tenant_id,
        provisioned_at=request.provisioned_at,
    )


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def full_name_th(entry: RegistryEntry) -> str:
    """``องค์การบริหารส่วนตำบลแม่เหียะ``: the registry keeps the type and the place apart."""
    return entry.name_th if entry.name_th.startswith(entry.type_th) else f"{entry.type_th}{entry.name_th}"


# --- submitting -------------------------------------------------------------------------------------


class Submitted(msgspec.Struct, frozen=True, kw_only=True):
    request: SignupView
    #: The link that shows the request's status; also sent by e-mail. It works for the life of the
    #: request (it shows only the request's own state, never the contact's details).
    status_url: str
    verify_expires_at: dt.datetime


async def open_plans(session: AsyncSession) -> list[Plan]:
    rows = await session.execute(select(Plan).where(Plan.open_for_signup).order_by(Plan.position, Plan.code))
    return list(rows.scalars())


async def _expire_stale(session: AsyncSession, dla_code: str, slug: str) -> None:
    """Unverified requests past their link's expiry let go of their DLA code and sub-domain."""
    await session.execute(
        update(SignupRequest)
        .where(
            SignupRequest.status == "pending_verification",
            SignupRequest.verify_expires_at < func.now(),
            (SignupRequest.dla_code == dla_code) | (SignupRequest.slug == slug),
        )
        .values(status="expired", verify_token_hash=None, updated_at=func.now())
    )


async def submit(session: AsyncSession, settings: Settings, form: SignupForm, *, origin: Origin) -> Submitted:
    """Record a request and e-mail its verification link, or refuse it with the reason."""
    # Thai keyboards type ๐-๙: the registry and the phone format want Arabic digits.
    form = msgspec.structs.replace(
        form, dla_code=to_arabic_digits(form.dla_code), contact_phone=to_arabic_digits(form.contact_phone)
    )
    errors = _field_errors(form)
    if errors:
        raise SignupInvalid(errors=[e.problem() for e in errors])
    dla_code, slug = form.dla_code.strip(), form.slug.strip().lower()
    entry = lookup(dla_code)
    if entry is None:
        raise UnknownDlaCode(data={"dla_code": dla_code})
    if slug in RESERVED_SLUGS:
        raise SlugReserved(data={"slug": slug})
    plan = await session.get(Plan, form.plan_code)
    if plan is None or not plan.open_for_signup:
        error = FieldError("plan_code", "unknown_plan", "ไม่มีแผนบริการนี้", "No such plan")
        raise SignupInvalid(errors=[error.problem()])
    registered = (await session.execute(select(Tenant.slug).where(Tenant.dla_code == dla_code))).first()
    if registered is not None:
        raise DlaCodeRegistered(data={"dla_code": dla_code})
    if (await session.execute(select(Tenant.id).where(Tenant.slug == slug))).first() is not None:
        raise SlugTaken(data={"slug": slug})
    await _expire_stale(session, dla_code, slug)

    verify_token, status_token = new_token(), new_token()
    now = dt.datetime.now(dt.UTC)
    request = SignupRequest(
        dla_code=dla_code,
        slug=slug,
        plan_code=plan.code,
        contact_name=form.contact_name.strip(),
        contact_position=form.contact_position.strip(),
        contact_email=normalise_email(form.contact_email),
        contact_phone=form.contact_phone.strip(),
        terms_version=settings.terms_version,
        terms_accepted_at=now,
        status="pending_verification",
        verify_token_hash=digest(verify_token),
        verify_expires_at=now + dt.timedelta(seconds=settings.signup_verify_ttl_s),
        status_token_hash=digest(status_token),
        source_ip=origin.source_ip,
    )
    try:
        async with session.begin_nested():
            session.add(request)
            await session.flush()
    except IntegrityError as exc:
        # Another request took the code or the sub-domain between our checks and this insert.
        message = str(exc.orig)
        if "uq_signup_requests_open_slug" in message:
            raise SlugTaken(data={"slug": slug}) from None
        if "uq_signup_requests_open_dla_code" in message:
            raise DlaCodePending(data={"dla_code": dla_code}) from None
        raise
    status_url = settings.public_url(f"/signup/status?token={status_token}")
    verify_url = settings.public_url(f"/signup/verify?token={verify_token}")
    name = full_name_th(entry)
    await send_mail(
        session,
        OutgoingMail(
            to=request.contact_email,
            to_name=request.contact_name,
            subject=f"ยืนยันอีเมลเพื่อสมัครใช้บริการของ{name} / Confirm the signup of your LAO",
            text=(
                f"เรียน {request.contact_name}\n\n"
                f"มีการสมัครใช้บริการแพลตฟอร์มบริการดิจิทัลท้องถิ่นในนามของ{name} (รหัส {dla_code})\n"
                f"โดยระบุท่านเป็นผู้ประสานงาน กรุณายืนยันอีเมลที่ลิงก์ด้านล่างภายใน {thai_datetime(request.verify_expires_at)}\n\n"
                f"{verify_url}\n\n"
                f"ติดตามสถานะคำขอได้ที่ / Follow the request at:\n{status_url}\n\n"
                f"Dear {request.contact_name},\n\n"
                f"Someone asked to bring {name} (DLA code {dla_code}) onto the localgov platform and named you\n"
                f"as its contact officer. Confirm your e-mail address at the first link above; it expires on\n"
                f"{english_datetime(request.verify_expires_at)} (Bangkok time).\n\n"
                "หากท่านไม่ได้สมัคร โปรดเพิกเฉยต่ออีเมลนี้ / If this was not you, ignore this message.\n"
            ),
        ),
        tenant_id=None,
    )
    await record_audit(
        session,
        "signup.submitted",
        actor=Actor("anonymous"),
        origin=origin,
        target=f"signup:{request.id}",
        data={"dla_code": dla_code, "slug": slug, "plan": plan.code},
        operator=True,
    )
    return Submitted(request=view_of(request), status_url=status_url, verify_expires_at=request.verify_expires_at)


# --- verifying --------------------------------------------------------------------------------------


async def _by_token(session: AsyncSession, column: Any, token: str, *, for_update: bool = False) -> SignupRequest:
    if not token or len(token) > 200:
        raise InvalidLink()
    query = select(SignupRequest).where(column == digest(token))
    if for_update:
        query = query.with_for_update()
    request = (await session.execute(query)).scalar_one_or_none()
    if request is None:
        raise InvalidLink()
    return request


async def verify(session: AsyncSession, settings: Settings, token: str, *, origin: Origin) -> SignupRequest:
    """Confirm the contact's e-mail; the request goes to the operator (or is approved at once)."""
    request = await _by_token(session, SignupRequest.verify_token_hash, token, for_update=True)
    if request.status != "pending_verification":
        raise InvalidLink()
    if request.verify_expires_at <= dt.datetime.now(dt.UTC):
        raise LinkExpired(data={"expired_at": request.verify_expires_at.isoformat()})
    request.status = "pending_approval"
    request.verified_at = dt.datetime.now(dt.UTC)
    request.verify_token_hash = None  # single use
    request.updated_at = request.verified_at
    await session.flush()
    await record_audit(
        session,
        "signup.verified",
        actor=Actor("anonymous"),
        origin=origin,
        target=f"signup:{request.id}",
        operator=True,
    )
    if settings.signup_auto_approve:
        await _approve(session, request, actor=Actor("system", "auto_approve"), origin=origin)
    return request


async def public_status(session: AsyncSession, settings: Settings, token: str) -> PublicStatus:
    return public_status_of(await _by_token(session, SignupRequest.status_token_hash, token), settings)


def public_status_of(request: SignupRequest, settings: Settings) -> PublicStatus:
    status = request.status
    if status == "pending_verification" and request.verify_expires_at <= dt.datetime.now(dt.UTC):
        status = "expired"  # the hourly job will record it; the LAO sees it now
    th, en = STATUS_TEXT[status]
    return PublicStatus(
        status=status,
        status_th=th,
        status_en=en,
        dla_code=request.dla_code,
        name_th=full_name_th(_entry(request.dla_code)),
        slug=request.slug,
        created_at=request.created_at,
        reason=request.reason if request.status == "rejected" else None,
        tenant_url=settings.public_url("/", slug=request.slug) if request.status == "active" else None,
    )


# --- the operator's decisions -------------------------------------------------------------------


async def list_requests(
    session: AsyncSession, *, status: str | None, limit: int, after_id: int
) -> tuple[list[SignupView], int | None]:
    query = select(SignupRequest).where(SignupRequest.id > after_id).order_by(SignupRequest.id).limit(limit + 1)
    if status is not None:
        query = query.where(SignupRequest.status == status)
    rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    return [view_of(r) for r in page], (page[-1].id if len(rows) > limit and page else None)


async def get_request(session: AsyncSession, request_id: int, *, for_update: bool = False) -> SignupRequest:
    query = select(SignupRequest).where(SignupRequest.id == request_id)
    if for_update:
        query = query.with_for_update()
    request = (await session.execute(query)).scalar_one_or_none()
    if request is None:
        raise SignupNotFound(data={"signup_id": request_id})
    return request


def _require(request: SignupRequest, *states: str) -> None:
    if request.status not in states:
        raise SignupWrongState(data={"status": request.status, "allowed_from": list(states)})


async def _approve(session: AsyncSession, request: SignupRequest, *, actor: Actor, origin: Origin) -> None:
    request.status = "provisioning"
    request.decided_at = dt.datetime.now(dt.UTC)
    request.decided_by = f"{actor.kind}:{actor.id}" if actor.id else actor.kind
    request.updated_at = request.decided_at
    await session.flush()
    await enqueue(session, PROVISION_TOPIC, {"signup_id": request.id}, tenant_id=None)
    await record_audit(
        session, "signup.approved", actor=actor, origin=origin, target=f"signup:{request.id}", operator=True
    )


async def approve(session: AsyncSession, request_id: int, *, actor: Actor, origin: Origin) -> SignupRequest:
    request = await get_request(session, request_id, for_update=True)
    _require(request, "pending_approval")
    await _approve(session, request, actor=actor, origin=origin)
    return request


async def reject(
    session: AsyncSession, settings: Settings, request_id: int, reason: str, *, actor: Actor, origin: Origin
) -> SignupRequest:
    """Refuse a request (verified or not); the contact officer is told why by e-mail."""
    request = await get_request(session, request_id, for_update=True)
    _require(request, "pending_verification", "pending_approval", "failed")
    request.status = "rejected"
    request.reason = reason
    request.verify_token_hash = None
    request.decided_at = dt.datetime.now(dt.UTC)
    request.decided_by = f"{actor.kind}:{actor.id}" if actor.id else actor.kind
    request.updated_at = request.decided_at
    await session.flush()
    name = full_name_th(_entry(request.dla_code))
    await send_mail(
        session,
        OutgoingMail(
            to=request.contact_email,
            to_name=request.contact_name,
            subject=f"ผลการพิจารณาคำขอสมัครใช้บริการของ{name} / Your signup request was not approved",
            text=(
                f"เรียน {request.contact_name}\n\n"
                f"ผู้ดูแลแพลตฟอร์มไม่อนุมัติคำขอสมัครใช้บริการของ{name} ด้วยเหตุผลดังนี้\n\n{reason}\n\n"
                "ท่านสามารถยื่นคำขอใหม่ได้เมื่อแก้ไขตามเหตุผลข้างต้นแล้ว\n\n"
                f"Dear {request.contact_name},\n\n"
                f"The platform operator did not approve the signup of {name} (DLA code {request.dla_code}).\n"
                "The reason is given above (in the operator's words). You may sign up again once it is addressed.\n"
            ),
        ),
        tenant_id=None,
    )
    await record_audit(
        session,
        "signup.rejected",
        actor=actor,
        origin=origin,
        target=f"signup:{request.id}",
        data={"reason": reason},
        operator=True,
    )
    return request


async def retry(session: AsyncSession, request_id: int, *, actor: Actor, origin: Origin) -> SignupRequest:
    """Provision a ``failed`` request again (the same code; nothing of the failed try survived)."""
    request = await get_request(session, request_id, for_update=True)
    _require(request, "failed")
    request.status = "provisioning"
    request.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await enqueue(session, PROVISION_TOPIC, {"signup_id": request.id}, tenant_id=None)
    await record_audit(
        session, "signup.retried", actor=actor, origin=origin, target=f"signup:{request.id}", operator=True
    )
    return request


# --- provisioning (in the worker) ------------------------------------------------------------------


def _spec(request: SignupRequest, entry: RegistryEntry, services: Sequence[str]) -> TenantSpec:
    return TenantSpec(
        dla_code=request.dla_code,
        slug=request.slug,
        # The registry has no English names; the type, code and province identify the LAO
        # unambiguously until its staff write a better one (as bulk provisioning does).
        name_en=f"{LAO_TYPES.get(entry.type, entry.type)} {entry.dla_code}, {entry.province_en}",
        enabled_services=list(services),
        plan=request.plan_code,
        contact=ProfileSeed(email=None, phone=None),
    )


class InviteAdmin(Protocol):
    """Invites a new tenant's first administrator (identity's ``add_tenant_admin``, wired by the worker).

    Signup is the platform's and staff accounts are identity's: neither imports the other.
    """

    async def __call__(
        self, session: AsyncSession, *, tenant: TenantInfo, settings: Settings, email: str, full_name: str, actor: Actor
    ) -> object: ...


async def provision_request(
    session: AsyncSession,
    settings: Settings,
    plugins: Sequence[ServicePlugin],
    request: SignupRequest,
    invite_admin: InviteAdmin,
) -> int:
    """Create the tenant of ``request`` in the caller's transaction and invite its first admin; returns its id."""
    entry = _entry(request.dla_code)
    plan = await session.get(Plan, request.plan_code)
    registered = {p.slug: p for p in plugins}
    services = sorted(s for s in (plan.services if plan else []) if s in registered)
    spec = _spec(request, entry, services)
    conn = await session.connection()
    # Creates the plan's services' tables and runs their seeds in this transaction too.
    tenant_id = await create_tenant(conn, spec, source="signup", plugins=list(plugins))
    row = (await session.execute(select(Tenant.__table__).where(Tenant.id == tenant_id))).mappings().one()
    tenant = tenant_info(row)  # a new tenant has no custom domains yet
    await set_search_path(session, tenant.schema)
    await invite_admin(
        session,
        tenant=tenant,
        settings=settings,
        email=request.contact_email,
        full_name=request.contact_name,
        actor=Actor("system", f"signup:{request.id}"),
    )
    await set_search_path(session, None)
    return tenant_id


def provision_consumer(
    settings: Settings, plugins: Sequence[ServicePlugin], invite_admin: InviteAdmin
) -> DeliveryHandler:
    """The worker's consumer of :data:`PROVISION_TOPIC` (idempotent: a finished request is left alone)."""

    async def handle(delivery: Delivery) -> None:
        session = delivery.session
        request_id = int(delivery.payload["signup_id"])
        request = (
            await session.execute(select(SignupRequest).where(SignupRequest.id == request_id).with_for_update())
        ).scalar_one_or_none()
        if request is None or request.status != "provisioning":
            log.info("signup_provision_skipped", signup_id=request_id, status=request and request.status)
            return
        started = dt.datetime.now(dt.UTC)
        try:
            async with session.begin_nested():
                tenant_id = await provision_request(session, settings, plugins, request, invite_admin)
        except Exception as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"[:2000]
            await set_search_path(session, None)
            await session.execute(
                update(SignupRequest)
                .where(SignupRequest.id == request_id)
                .values(
                    status="failed",
                    error=error,
                    attempts=SignupRequest.attempts + 1,
                    updated_at=func.now(),
                )
            )
            log.error("signup_provision_failed", signup_id=request_id, error=error)
            return
        await session.execute(
            update(SignupRequest)
            .where(SignupRequest.id == request_id)
            .values(
                status="active",
                tenant_id=tenant_id,
                attempts=SignupRequest.attempts + 1,
                provisioned_at=func.now(),
                updated_at=func.now(),
            )
        )
        await record_audit(
            session,
            "signup.provisioned",
            actor=Actor("system", "worker"),
            origin=Origin(),
            target=f"signup:{request_id}",
            data={"tenant_id": tenant_id, "seconds": (dt.datetime.now(dt.UTC) - started).total_seconds()},
            operator=True,
        )
        log.info("signup_provisioned", signup_id=request_id, tenant_id=tenant_id)

    return handle


async def expire_unverified(session: AsyncSession) -> int:
    """Mark every unverified request past its link's expiry ``expired`` (a core job)."""
    result = await session.execute(
        update(SignupRequest)
        .where(SignupRequest.status == "pending_verification", SignupRequest.verify_expires_at < func.now())
        .values(status="expired", verify_token_hash=None, updated_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)
