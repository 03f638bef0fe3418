"""HTTP endpoints of the permit อ.1 for staff: the PDF, renewal and revocation (the citizen's PDF
is in ``citizen_views``; anyone verifies a permit on the kernel's page, from its QR stamp)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import documents
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.reads import ReadConnection, Reader, Row
from localgov.kernel.storage import BlobStore
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.kernel.thai import bangkok_today
from localgov.services.permits import applications, permits
from localgov.services.permits.application_views import show
from localgov.services.permits.config import emblem, load_config
from localgov.services.permits.params import STAFF_DECIDE, STAFF_ERRORS, STAFF_READ, ApplicationId
from localgov.services.permits.permit_pdf import PermitPrint, permit_layout
from localgov.services.permits.reading import register_entry
from localgov.services.permits.schemas import ApplicationRead, PermitEnd
from localgov.settings import Settings

TAG = "Permits: permits"


def permit_print(row: Row) -> PermitPrint:
    """What the permit of ``row`` states (409 ``permits_permit_not_issued`` before it is issued)."""
    entry = register_entry(row)
    if entry is None or row["permit_number"] is None:
        raise permits.PermitNotIssued(data={"application_id": str(row["id"])})
    return PermitPrint(
        number=row["permit_number"],
        tracking_number=row["tracking_number"],
        form=applications.form_of(row["answers"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        issued_on=bangkok_today(row["permit_issued_at"]),
        renewals=row["renewals"],
        fee_total=row["fee_total"],
        receipt_number=row["receipt_number"],
        status=documents.public_status(entry),
    )


async def permit_pdf(
    reader: Reader,
    application_id: uuid.UUID,
    *,
    settings: Settings,
    tenant: TenantInfo,
    store: BlobStore,
    citizen_id: uuid.UUID | None = None,
) -> Response[bytes]:
    row = await applications.get_application(reader, application_id, citizen_id=citizen_id)
    data = permit_print(row)
    entry = register_entry(row)
    assert entry is not None
    config = await load_config(reader)
    layout = permit_layout(
        data,
        await lao_profile(reader, tenant),
        documents.qr_stamp(settings, tenant, entry),
        thai_digits=config.thai_digits,
        emblem=await emblem(reader, store),
    )
    content = await asyncio.to_thread(documents.render, layout)
    filename = f"permit-{data.number.replace('/', '-')}.pdf"
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{filename}"'}
    )


class PermitController(Controller):
    path = "/applications/{application_id:uuid}/permit"
    tags = [TAG]

    @get(
        "/pdf",
        operation_id="getPermitPdf",
        summary="The permit อ.1 as PDF (Thai, Buddhist-Era dates, the QR stamp of its verification page)",
        media_type="application/pdf",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(STAFF_READ),
    )
    async def pdf(
        self,
        application_id: ApplicationId,
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Response[bytes]:
        return await permit_pdf(db_read, application_id, settings=settings, tenant=tenant, store=blob_store)

    @post(
        "/renew",
        status_code=200,
        operation_id="renewPermit",
        summary="Renew a valid permit before it expires (a new register entry for the LAO's validity period)",
        description="409 `permits_permit_not_issued`, `permits_permit_revoked`, `permits_permit_not_renewable`.",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(STAFF_DECIDE),
    )
    async def renew(
        self,
        application_id: ApplicationId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        await permits.renew(db_session, application_id, actor=actor, origin=origin, now=dt.datetime.now(dt.UTC))
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/revoke",
        status_code=200,
        operation_id="revokePermit",
        summary="Revoke the permit with reasons: its QR stamps verify as revoked",
        description="409 `permits_permit_not_issued`, `permits_permit_revoked` (already).",
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(STAFF_DECIDE),
    )
    async def revoke(
        self,
        application_id: ApplicationId,
        data: JSONBody[PermitEnd],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        await permits.revoke(
            db_session,
            application_id,
            reason_th=data.reason_th,
            actor=actor,
            origin=origin,
            now=dt.datetime.now(dt.UTC),
        )
        return await show(db_session, application_id, settings=settings, tenant=tenant)
