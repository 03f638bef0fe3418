"""A test-only plugin written against the kernel alone: it issues certificates as documents.

It imports nothing but :mod:`localgov.kernel` (``tests/test_documents.py`` checks its imports):
what a new service (permits, food certificates) does to lay out a Thai document, register it,
print the QR stamp and let anyone verify it, a revocation included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import msgspec
from litestar import Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import documents
from localgov.kernel.auth.guards import guarded, staff
from localgov.kernel.errors import problem_responses
from localgov.kernel.plugins import Role, ServicePlugin
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings

CLERK = staff("certs.clerk")
KIND = "certs.food_premises"
SourceKey = Annotated[str, PathParameter(pattern=r"^[a-z0-9-]{1,40}$")]


class CertificateIn(msgspec.Struct, kw_only=True):
    key: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,40}$")]
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    holder: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    premises: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    valid_from: dt.date
    valid_until: dt.date


class CertificateOut(msgspec.Struct, kw_only=True):
    code: str
    url: str


class EndIn(msgspec.Struct, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    void: bool = False


def layout(
    tenant_name: str, doc: documents.IssuedDocument, premises: str, stamp: documents.QrStamp
) -> documents.OfficialDocument:
    return documents.OfficialDocument(
        issuer_th=tenant_name,
        title_th=doc.title_th,
        title_en=doc.title_en,
        body=[
            documents.Pairs(rows=[(f"เลขที่ {doc.number}", "")]),
            documents.Fields(
                numbered=True,
                items=[
                    documents.Field("ผู้แจ้ง", doc.holder_masked or "-"),
                    documents.Field("สถานที่จำหน่ายอาหาร", premises),
                ],
            ),
            documents.Signature(lines=["(ลงชื่อ) ........................", "เจ้าพนักงานท้องถิ่น"]),
        ],
        footer="ตรวจสอบเอกสารได้ด้วยคิวอาร์โค้ด",
        stamp=stamp,
    )


@post("/certificates", operation_id="certsIssue", responses=problem_responses(401, 403, 404), **guarded(CLERK))
async def issue_certificate(
    tenant: NamedDependency[TenantInfo],
    settings: NamedDependency[Settings],
    data: JSONBody[CertificateIn],
    db_session: NamedDependency[AsyncSession],
) -> CertificateOut:
    doc = await documents.issue(
        db_session,
        kind=KIND,
        source_key=data.key,
        number=data.number,
        title_th="หนังสือรับทราบการแจ้งจัดตั้งสถานที่จำหน่ายอาหาร",
        title_en="Acknowledgement of a food-premises notification",
        holder_name=data.holder,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
    )
    stamp = documents.qr_stamp(settings, tenant, doc)
    return CertificateOut(code=stamp.code, url=stamp.url)


@get("/certificates/{key:str}/pdf", operation_id="certsPdf", media_type="application/pdf", **guarded(CLERK))
async def certificate_pdf(
    tenant: NamedDependency[TenantInfo],
    settings: NamedDependency[Settings],
    key: SourceKey,
    db_session: NamedDependency[AsyncSession],
) -> Response[bytes]:
    doc = await documents.get_by_source(db_session, KIND, key)
    printed = layout(tenant.name_th, doc, "ร้านข้าวแกงป้าน้ำ ตลาดสด", documents.qr_stamp(settings, tenant, doc))
    return Response(await asyncio.to_thread(documents.render, printed), media_type="application/pdf")


@post("/certificates/{key:str}/end", operation_id="certsEnd", status_code=204, **guarded(CLERK))
async def end_certificate(key: SourceKey, data: JSONBody[EndIn], db_session: NamedDependency[AsyncSession]) -> None:
    doc = await documents.get_by_source(db_session, KIND, key)
    if data.void:
        await documents.void(db_session, doc, reason=data.reason)
    else:
        await documents.revoke(db_session, doc, reason=data.reason)


CERTS = ServicePlugin(
    slug="certs",
    title_th="หนังสือรับรองทดสอบ",
    title_en="Test certificates",
    router=Router(path="/v1/certs", route_handlers=[issue_certificate, certificate_pdf, end_certificate]),
    roles=(Role(code="certs.clerk", title_th="เจ้าหน้าที่ออกหนังสือ", title_en="Certificate clerk"),),
)
