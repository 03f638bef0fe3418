"""Public verification of issued documents, on each tenant's host: a JSON endpoint and a page.

``GET /v1/documents/verify/{code}`` answers what the register says of the document (number, kind,
title, issuer = the LAO, holder masked, issue and validity dates in ISO and Buddhist Era, status);
``GET /documents/verify/{code}`` is the same as a page (Thai first, English alongside), the one the
QR stamp on the paper opens. Both are public on purpose (the code printed on the paper is the
credential), limited per client address, and answer one 404 for a code that is malformed, unknown,
forged or another tenant's.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import PathParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.documents.register import (
    DocumentNotFound,
    IssuedDocument,
    PublicStatus,
    find_by_code,
    public_status,
)
from localgov.kernel.errors import problem_responses
from localgov.kernel.pages import page
from localgov.kernel.ratelimit import RateLimited, hit
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK, english_datetime, thai_date, thai_datetime
from localgov.kernel.web import current_tenant, request_origin

#: Verifications per client address and tenant: (requests, window in seconds).
VERIFY_LIMIT_PER_ADDRESS = (60, 300)
TAG = "Document verification"
CodePath = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="The verification code printed on the document")
]

#: How each status reads on the page: (Thai, English, CSS class of the panel).
STATUS_TEXT: dict[str, tuple[str, str, str]] = {
    "valid": ("เอกสารนี้ถูกต้องและยังมีผลใช้ได้", "This document is genuine and in force", "success"),
    "expired": ("เอกสารนี้ถูกต้อง แต่หมดอายุแล้ว", "This document is genuine but has expired", "error"),
    "not_yet_valid": ("เอกสารนี้ถูกต้อง แต่ยังไม่ถึงวันที่มีผล", "This document is genuine but not yet in force", "error"),
    "revoked": ("เอกสารนี้ถูกเพิกถอนแล้ว", "This document has been revoked", "error"),
    "void": ("เอกสารนี้ถูกยกเลิกแล้ว", "This document has been cancelled (void)", "error"),
}


class Issuer(msgspec.Struct, kw_only=True):
    """The LAO that issued the document."""

    name_th: str
    name_en: str


class DocumentVerification(msgspec.Struct, kw_only=True):
    """What the register says of a document: enough to tell a genuine paper from a forged one."""

    code: str
    number: str
    #: ``<service>.<kind>``, e.g. ``payments.receipt``.
    kind: str
    title_th: str
    title_en: str | None
    issuer: Issuer
    #: The holder's name, masked (``สมชาย ใ***``).
    holder: str | None
    issued_at: dt.datetime
    #: The issue date in the Buddhist Era (``6 ธันวาคม 2569``).
    issued_date_be: str
    valid_from: dt.date | None
    valid_from_be: str | None
    valid_until: dt.date | None
    valid_until_be: str | None
    status: PublicStatus
    #: When it was revoked or voided (null while valid).
    status_changed_at: dt.datetime | None
    status_changed_date_be: str | None


def _be(day: dt.date | None) -> str | None:
    return thai_date(day, digits="arabic") if day is not None else None


def _local_day(moment: dt.datetime | None) -> dt.date | None:
    return moment.astimezone(BANGKOK).date() if moment is not None else None


def verification_of(document: IssuedDocument, code: str, tenant: Any) -> DocumentVerification:
    status: Any = public_status(document)
    return DocumentVerification(
        code=code.strip().upper(),
        number=document.number,
        kind=document.kind,
        title_th=document.title_th,
        title_en=document.title_en,
        issuer=Issuer(name_th=tenant.name_th, name_en=tenant.name_en),
        holder=document.holder_masked,
        issued_at=document.issued_at,
        issued_date_be=thai_date(document.issued_at.astimezone(BANGKOK).date(), digits="arabic"),
        valid_from=document.valid_from,
        valid_from_be=_be(document.valid_from),
        valid_until=document.valid_until,
        valid_until_be=_be(document.valid_until),
        status=status,
        status_changed_at=document.status_changed_at,
        status_changed_date_be=_be(_local_day(document.status_changed_at)),
    )


async def _verify(request: Request[Any, Any, Any], session: AsyncSession, code: str) -> DocumentVerification:
    tenant = current_tenant(request)
    address = request_origin(request).source_ip or "unknown"
    limit, window = VERIFY_LIMIT_PER_ADDRESS
    await hit(request.app.state.engine, f"documents.verify:{tenant.id}:{address}", limit=limit, window_s=window)
    document = await find_by_code(session, request.app.state.settings.secret_key, tenant.id, code)
    return verification_of(document, code, tenant)


class DocumentVerifyController(Controller):
    path = "/v1/documents"
    tags = [TAG]

    @get(
        "/verify/{code:str}",
        operation_id="verifyDocument",
        summary="Verify an issued document by the code printed on it (public)",
        description=(
            "Open to anyone holding the paper: number, issuer, holder (masked), validity and status (`valid`, "
            "`expired`, `not_yet_valid`, `revoked`, `void` with the date of the change). 404 `document_not_found` "
            "for a code that is unknown on this LAO's host; 429 `rate_limited` per client address."
        ),
        responses=problem_responses(404, 410, 429),
        **guarded(PUBLIC),  # the code printed on the document is the credential
    )
    async def verify(
        self, request: Request[Any, Any, Any], code: CodePath, db_session: NamedDependency[AsyncSession]
    ) -> DocumentVerification:
        return await _verify(request, db_session, code)


class DocumentPagesController(Controller):
    path = "/documents"
    include_in_schema = False

    @get("/verify/{code:str}", **guarded(PUBLIC))  # the page the QR stamp opens
    async def verify_page(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        code: CodePath,
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        try:
            result = await _verify(request, db_session, code)
        except DocumentNotFound:
            return page("documents/not_found.html", {"issuer": tenant.name_th, "code": code[:64]}, status=404)
        except RateLimited as exc:
            return page(
                "documents/not_found.html",
                {"issuer": tenant.name_th, "code": None, "wait_s": (exc.data or {}).get("retry_after_s", 60)},
                status=429,
                headers=exc.headers,
            )
        th, en, tone = STATUS_TEXT[result.status]
        context = {
            "doc": result,
            "status_th": th,
            "status_en": en,
            "tone": tone,
            "issued_th": thai_datetime(result.issued_at),
            "issued_en": english_datetime(result.issued_at),
            "changed_en": _local_day(result.status_changed_at),
        }
        return page("documents/verify.html", context)


def document_handlers() -> list[Any]:
    """The kernel's document routes, mounted by the application like the other core routes."""
    return [DocumentVerifyController, DocumentPagesController]
