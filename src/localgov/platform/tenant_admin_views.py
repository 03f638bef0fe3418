"""HTTP endpoints of an LAO's administrators for their own tenant: contact details, services, domains."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded, staff
from localgov.kernel.documents import pades
from localgov.kernel.errors import problem_responses
from localgov.kernel.etags import IfMatch, require_match
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.web import current_tenant
from localgov.platform import tenant_admin as svc
from localgov.platform.views import Contact
from localgov.settings import Settings

ADMIN = staff("tenant_admin")
ServiceSlug = Annotated[str, PathParameter(max_length=31, description="A service's slug (`payments` …)")]
#: An origin the handler accepts: https://host[:port], or http://localhost[:port] for development.
ORIGIN_PATTERN = r"^(https://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?|http://localhost)(:[0-9]{1,5})?$"
#: A website the handler accepts: http(s), a host with a dot, no credentials, no spaces.
WEBSITE_PATTERN = (
    r"^https?://[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
    r"(:[0-9]{1,5})?([/?#][^\s@]*)?$"
)
#: A lower-case host name of two labels or more whose last label is not all digits (the syntax
#: ``platform.catalog`` accepts); special-use names and the platform's own are refused by rule (400).
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
DomainParam = Annotated[
    str,
    PathParameter(
        max_length=253,
        description="A host name such as `www.example.go.th`",
        # Documented; checked by the handler (400 `invalid_domain`, with why), not by the framework.
        schema_extra={"pattern": DOMAIN_PATTERN},
    ),
]


class ContactUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The public contact details to change; a field left out stays as it is, ``null`` clears it."""

    address_th: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType | None = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=40)] | msgspec.UnsetType | None = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=254)] | msgspec.UnsetType | None = msgspec.UNSET
    website: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=300,
                # Documented; checked by the handler (400 `invalid_profile` with the field in `errors`).
                extra_json_schema={"pattern": WEBSITE_PATTERN},
            ),
        ]
        | msgspec.UnsetType
        | None
    ) = msgspec.UNSET
    office_hours_th: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET


class CorsOrigins(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Browser origins whose scripts may call this LAO's API (CORS): ``https://host[:port]``."""

    origins: Annotated[
        list[
            Annotated[
                str,
                msgspec.Meta(
                    max_length=300,
                    examples=["https://app.example.org"],
                    # Documented; checked by the handler (400 `invalid_origin` per origin in `errors`).
                    extra_json_schema={"pattern": ORIGIN_PATTERN},
                ),
            ]
        ],
        msgspec.Meta(max_length=svc.MAX_CORS_ORIGINS),
    ]


class Plan(msgspec.Struct, kw_only=True):
    code: str
    name_th: str
    name_en: str


class Service(msgspec.Struct, kw_only=True):
    """A service of the platform: whether the LAO's plan includes it and whether the LAO offers it."""

    slug: str
    title_th: str
    title_en: str
    in_plan: bool
    enabled: bool


class ServiceList(msgspec.Struct, kw_only=True):
    plan: Plan
    items: list[Service]


class DomainClaim(msgspec.Struct, kw_only=True):
    """One custom domain of the LAO and its DNS challenge."""

    domain: str
    #: ``verified``: it routes; ``pending``: it does not until its TXT record is verified.
    status: Literal["verified", "pending"]
    #: Declared by the platform's operator (no challenge) or claimed by the LAO.
    declared_by: Literal["operator", "lao"]
    #: The TXT record to publish (name and value); null for a domain declared by the operator.
    challenge_record: str | None
    challenge_value: str | None
    checked_at: dt.datetime | None
    #: The last check's problem code (``challenge_record_missing``, ``challenge_token_mismatch`` …).
    check_problem: str | None


class DomainList(msgspec.Struct, kw_only=True):
    """The LAO's hosts: its sub-domain of the platform, the custom domains that route (verified)
    and every claim with its challenge."""

    platform_host: str
    domains: list[str]
    claims: list[DomainClaim]


def _services(request: Request[Any, Any, Any], tenant: Any, plan: Any) -> ServiceList:
    states = svc.service_states(tenant, plan, request.app.state.service_titles)
    return ServiceList(
        plan=Plan(code=plan.code, name_th=plan.name_th, name_en=plan.name_en),
        items=[msgspec.convert(msgspec.structs.asdict(s), Service) for s in states],
    )


async def _domains(request: Request[Any, Any, Any], session: AsyncSession) -> DomainList:
    tenant = current_tenant(request)
    rows = await svc.list_domains(session, tenant.id)
    return DomainList(
        platform_host=f"{tenant.slug}.{request.app.state.settings.base_domain}",
        domains=[d.domain for d in rows if d.verified_at is not None],
        claims=[
            DomainClaim(
                domain=d.domain,
                status="verified" if d.verified_at is not None else "pending",
                declared_by="operator" if d.challenge_token is None else "lao",
                challenge_record=svc.challenge_name(d.domain) if d.challenge_token else None,
                challenge_value=svc.challenge_value(d.challenge_token) if d.challenge_token else None,
                checked_at=d.checked_at,
                check_problem=d.check_problem,
            )
            for d in rows
        ],
    )


class SigningCertificateUpload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The LAO's signing certificate: a PKCS#12 file (base64), or a PEM private key and its PEM chain
    (the signer's certificate first). ``password`` opens the PKCS#12 file or an encrypted PEM key."""

    pkcs12_base64: Annotated[str, msgspec.Meta(max_length=90_000)] | None = None
    key_pem: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None
    chain_pem: Annotated[str, msgspec.Meta(max_length=60_000)] | None = None
    password: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class SigningCertificateRead(msgspec.Struct, kw_only=True):
    """The certificate that signs the LAO's PDF documents (never its private key)."""

    id: str
    subject: str
    issuer: str
    serial_number: str
    fingerprint_sha256: str
    not_before: str
    not_after: str


def _certificate_read(info: pades.CertificateInfo) -> SigningCertificateRead:
    return SigningCertificateRead(
        id=str(info.id),
        subject=info.subject,
        issuer=info.issuer,
        serial_number=info.serial_number,
        fingerprint_sha256=info.fingerprint_sha256,
        not_before=info.not_before.isoformat(),
        not_after=info.not_after.isoformat(),
    )


class TenantAdminController(Controller):
    path = "/v1/tenant"
    tags = ["Tenant administration"]
    opt = {"surface": "tenant"}

    @patch(
        "/contact",
        operation_id="updateTenantContact",
        summary="Change the LAO's public contact details (shown by `GET /v1/tenant`)",
        description="400 `invalid_profile` with the fields in `errors` (phone, e-mail, http(s) website …).",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def update_contact(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[ContactUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> Contact:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        profile = await svc.update_profile(db_session, changes, actor=actor, origin=origin)
        return Contact(**svc.contact_of(profile))

    @get(
        "/cors",
        operation_id="getTenantCorsOrigins",
        summary="The browser origins allowed to call the LAO's API (CORS)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def get_cors(
        self, tenant: NamedDependency[TenantInfo], db_session: NamedDependency[AsyncSession]
    ) -> CorsOrigins:
        return CorsOrigins(origins=await svc.cors_origins(db_session, tenant.id))

    @put(
        "/cors",
        operation_id="setTenantCorsOrigins",
        summary="Set the browser origins allowed to call the LAO's API (CORS); effective within seconds",
        description=(
            "Each origin is `https://host[:port]` (`http://localhost:<port>` for development); no path, no "
            "wildcard. 400 `invalid_origin` with the origins in `errors`. Send `If-Match` with the ETag of "
            "`GET /v1/tenant/cors` to refuse a lost update (412 `etag_mismatch`)."
        ),
        responses=problem_responses(401, 403, 404, 410, 412),
        **guarded(ADMIN),
    )
    async def set_cors(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[CorsOrigins],
        db_session: NamedDependency[AsyncSession],
        if_match: IfMatch = None,
    ) -> CorsOrigins:
        require_match(if_match, CorsOrigins(origins=await svc.cors_origins(db_session, tenant.id)))
        origins = await svc.set_cors_origins(db_session, tenant.id, data.origins, actor=actor, origin=origin)
        return CorsOrigins(origins=origins)

    @get(
        "/services",
        operation_id="listTenantServices",
        summary="The platform's services: which the LAO's plan includes and which the LAO offers",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def services(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceList:
        row, plan = await svc.tenant_plan(db_session, tenant.id)
        return _services(request, row, plan)

    @put(
        "/services/{slug:str}",
        operation_id="enableTenantService",
        summary="Offer a service (idempotent); its routes answer at once",
        description="404 `unknown_service`; 409 `service_not_in_plan` when the LAO's plan does not include it.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def enable(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        slug: ServiceSlug,
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceList:
        row, plan = await svc.set_service(
            db_session,
            tenant.id,
            slug,
            enabled=True,
            plugins=request.app.state.plugins,
            actor=actor,
            origin=origin,
        )
        return _services(request, row, plan)

    @delete(
        "/services/{slug:str}",
        status_code=200,
        operation_id="disableTenantService",
        summary="Stop offering a service (idempotent); its routes answer 404 `service_not_enabled`, its data is kept",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def disable(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        slug: ServiceSlug,
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceList:
        row, plan = await svc.set_service(
            db_session,
            tenant.id,
            slug,
            enabled=False,
            plugins=request.app.state.plugins,
            actor=actor,
            origin=origin,
        )
        return _services(request, row, plan)

    @get(
        "/domains",
        operation_id="listTenantDomains",
        summary="The LAO's custom domains",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def domains(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> DomainList:
        return await _domains(request, db_session)

    @put(
        "/domains/{domain:str}",
        operation_id="addTenantDomain",
        summary="Claim a custom domain (idempotent): it routes once its DNS TXT challenge is verified",
        description=(
            "The claim starts `pending` with a TXT record to publish (`claims[].challenge_record` = "
            "`challenge_value`); then `POST /v1/tenant/domains/{domain}/verify`, or wait for the worker's "
            "re-check. 400 `invalid_domain` (an IP address, a local name, under the platform's domain); "
            f"409 `domain_taken` when another LAO has it verified; 409 `too_many_domains` beyond {svc.MAX_DOMAINS}."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def add_domain(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        domain: DomainParam,
        db_session: NamedDependency[AsyncSession],
    ) -> DomainList:
        await svc.add_domain(
            db_session,
            tenant.id,
            domain,
            base_domain=settings.base_domain,
            actor=actor,
            origin=origin,
        )
        return await _domains(request, db_session)

    @post(
        "/domains/{domain:str}/verify",
        status_code=200,
        operation_id="verifyTenantDomain",
        summary="Check the domain's DNS TXT challenge now; verified, the domain routes at once",
        description=(
            "409 `challenge_record_missing` (no TXT record at `_localgov-challenge.<domain>`) or "
            "`challenge_token_mismatch` (records there, none with the LAO's value: `data.found`): the claim "
            "stays pending; 409 `domain_taken` when another LAO proved it first; 404 `domain_not_found`; "
            "503 `dns_unavailable` when the name servers do not answer."
        ),
        responses=problem_responses(401, 403, 404, 409, 410, 503),
        **guarded(ADMIN),
    )
    async def verify_domain(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        domain: DomainParam,
        db_session: NamedDependency[AsyncSession],
    ) -> DomainList:
        await svc.verify_domain(
            db_session, tenant.id, domain, resolver=request.app.state.dns_resolver, actor=actor, origin=origin
        )
        return await _domains(request, db_session)

    @delete(
        "/domains/{domain:str}",
        status_code=200,
        operation_id="removeTenantDomain",
        summary="Stop serving the LAO at a custom domain",
        description="404 `domain_not_found` when the LAO has no such domain.",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def remove_domain(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        domain: DomainParam,
        db_session: NamedDependency[AsyncSession],
    ) -> DomainList:
        await svc.remove_domain(db_session, tenant.id, domain, actor=actor, origin=origin)
        return await _domains(request, db_session)

    @put(
        "/signing-certificate",
        operation_id="installSigningCertificate",
        summary="Install the LAO's certificate that signs its PDF documents (PAdES); the previous one retires",
        description=(
            "Either `pkcs12_base64` (with `password`) or `key_pem` + `chain_pem`. 422 `certificate_invalid`"
            " with `data.reason`: `unreadable`, `incomplete`, `key_mismatch`, `expired`, `key_usage`,"
            " `key_type`, `key_size`, `too_large`, `format`."
        ),
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(ADMIN),
    )
    async def install_signing_certificate(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        data: JSONBody[SigningCertificateUpload],
        db_session: NamedDependency[AsyncSession],
    ) -> SigningCertificateRead:
        if data.pkcs12_base64 is not None and data.key_pem is None and data.chain_pem is None:
            try:
                raw = base64.b64decode(data.pkcs12_base64, validate=True)
            except binascii.Error as exc:
                raise pades.CertificateInvalid("pkcs12_base64 is not base64.", data={"reason": "format"}) from exc
            material = await asyncio.to_thread(pades.from_pkcs12, raw, data.password)
        elif data.pkcs12_base64 is None and data.key_pem is not None and data.chain_pem is not None:
            material = await asyncio.to_thread(pades.from_pem, data.key_pem, data.chain_pem, data.password)
        else:
            raise pades.CertificateInvalid(
                "Send either pkcs12_base64, or key_pem and chain_pem.", data={"reason": "format"}
            )
        info = await pades.install_certificate(db_session, settings.secret_key, material, actor=actor, origin=origin)
        return _certificate_read(info)

    @get(
        "/signing-certificate",
        operation_id="getSigningCertificate",
        summary="The LAO's active signing certificate",
        description="404 `no_signing_certificate` when none is installed.",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def signing_certificate(self, db_session: NamedDependency[AsyncSession]) -> SigningCertificateRead:
        info = await pades.active_certificate(db_session)
        if info is None:
            raise pades.NoSigningCertificate("No signing certificate is installed.", status=404)
        return _certificate_read(info)
