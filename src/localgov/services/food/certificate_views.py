"""HTTP endpoints of certificates: list, read, the PDF, transfer, change, cancellation,
revocation; and the public register (when the LAO publishes it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.documents import render
from localgov.kernel.errors import NotFound, problem_responses
from localgov.kernel.pagination import Cursor, Limit, id_cursor, next_id_cursor
from localgov.kernel.reads import ReadConnection, Reader, fetch_one
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.services.food import billing, certificates
from localgov.services.food.certificate_pdf import certificate_layout
from localgov.services.food.models import FoodSettings
from localgov.services.food.params import (
    DECIDE_POLICY,
    INTAKE_POLICY,
    PUBLIC_POLICY,
    READ_POLICY,
    STAFF_ERRORS,
    CertificateId,
)
from localgov.services.food.schemas import (
    CertificatePage,
    CertificateRead,
    CertificateSummary,
    CertificateUpdate,
    EndIn,
    EventRead,
    FeeBillRead,
    RegisterEntry,
    RegisterPage,
    TransferIn,
)
from localgov.settings import Settings

TAG = "Food premises: certificates"
PDF = "application/pdf"
_PUBLISHED = select(FoodSettings.__table__.c.publish_register).where(FoodSettings.__table__.c.id == 1)


async def certificate_read(
    reader: Reader, certificate_id: uuid.UUID, *, settings: Settings, tenant: TenantInfo
) -> CertificateRead:
    row = await certificates.certificate_row(reader, certificate_id)
    fee_rows = await billing.fees_of(reader, certificate_id)
    return CertificateRead(
        id=row["id"],
        notification_id=row["notification_id"],
        number=row["number"],
        status=row["status"],
        version=row["version"],
        holder_kind=row["holder_kind"],
        holder_name=row["holder_name"],
        holder_national_id=row["holder_national_id"],
        holder_phone=row["holder_phone"],
        holder_email=row["holder_email"],
        holder_address=row["holder_address"],
        premises_name=row["premises_name"],
        premises_kind=row["premises_kind"],
        area_m2=row["area_m2"],
        premises_address=row["premises_address"],
        premises_address_th=row["premises_address_th"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        seats=row["seats"],
        opening_hours=row["opening_hours"],
        conditions_th=row["conditions_th"],
        annual_fee=row["annual_fee"],
        issued_on=row["issued_on"],
        issued_at=row["issued_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
        next_visit_on=row["next_visit_on"],
        history=[
            EventRead(
                seq=e["seq"], kind=e["kind"], at=dt.datetime.fromisoformat(e["at"]), actor=e["actor"], data=e["data"]
            )
            for e in row["history"]
        ],
        fees=[FeeBillRead(**dict(f)) for f in fee_rows],
        verification_url=certificates.stamp_of(settings, tenant, row["document_serial"]).url,
    )


class CertificateController(Controller):
    path = "/certificates"
    tags = [TAG]

    @get(
        "/",
        operation_id="listFoodCertificates",
        summary="Certificates, keyset-paged by id (`after` = the last id of the previous page)",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(READ_POLICY),
    )
    async def list_(
        self, db_read: NamedDependency[ReadConnection], limit: Limit = 50, cursor: Cursor = None
    ) -> CertificatePage:
        rows = await certificates.page(db_read, after=id_cursor(cursor), limit=limit)
        items = [CertificateSummary(**dict(row)) for row in rows]
        return CertificatePage(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{certificate_id:uuid}",
        operation_id="getFoodCertificate",
        summary="A certificate: holder, establishment, status, history, fees, verification link",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def fetch(
        self,
        certificate_id: CertificateId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_read: NamedDependency[ReadConnection],
    ) -> CertificateRead:
        return await certificate_read(db_read, certificate_id, settings=settings, tenant=tenant)

    @get(
        "/{certificate_id:uuid}/pdf",
        operation_id="getFoodCertificatePdf",
        summary="The certificate as a Thai PDF with its QR stamp (marked when cancelled or revoked)",
        media_type=PDF,
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def pdf(
        self,
        certificate_id: CertificateId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_read: NamedDependency[ReadConnection],
    ) -> Response[bytes]:
        row = await certificates.certificate_row(db_read, certificate_id)
        layout = certificate_layout(
            row, await lao_profile(db_read, tenant), certificates.stamp_of(settings, tenant, row["document_serial"])
        )
        content = await asyncio.to_thread(render, layout)
        name = f"food-certificate-{row['number'].replace('/', '-')}.pdf"
        return Response(
            content,
            media_type=PDF,
            headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"},
        )

    @post(
        "/{certificate_id:uuid}/transfer",
        status_code=200,
        operation_id="transferFoodCertificate",
        summary="Transfer to a new operator: the number and the history stay",
        description=(
            "409 `food_certificate_version_conflict`, `food_certificate_not_active`; 422 on the holder's details."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def transfer(
        self,
        certificate_id: CertificateId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[TransferIn],
        db_session: NamedDependency[AsyncSession],
    ) -> CertificateRead:
        await certificates.transfer(
            db_session,
            certificate_id,
            data.holder,
            version=data.version,
            note=data.note,
            actor=actor,
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        return await certificate_read(db_session, certificate_id, settings=settings, tenant=tenant)

    @patch(
        "/{certificate_id:uuid}",
        operation_id="changeFoodCertificate",
        summary="Change of details (name, kind, area, seats, hours, contact, conditions)",
        description=(
            "An area over 200 m² is refused with 422 `food_area_requires_licence`: the premises need a licence; the "
            "certificate stays as it was. 409 `food_certificate_version_conflict`, `food_certificate_not_active`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def change(
        self,
        certificate_id: CertificateId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[CertificateUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> CertificateRead:
        await certificates.change(
            db_session, certificate_id, data, actor=actor, now=dt.datetime.now(dt.UTC), origin=origin
        )
        return await certificate_read(db_session, certificate_id, settings=settings, tenant=tenant)

    @post(
        "/{certificate_id:uuid}/cancel",
        status_code=200,
        operation_id="cancelFoodCertificate",
        summary="Cancel at the holder's request (the business closes): verification shows it cancelled",
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(INTAKE_POLICY),
    )
    async def cancel(
        self,
        certificate_id: CertificateId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[EndIn],
        db_session: NamedDependency[AsyncSession],
    ) -> CertificateRead:
        await certificates.end(
            db_session,
            certificate_id,
            "cancelled",
            version=data.version,
            reason=data.reason,
            actor=actor,
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        return await certificate_read(db_session, certificate_id, settings=settings, tenant=tenant)

    @post(
        "/{certificate_id:uuid}/revoke",
        status_code=200,
        operation_id="revokeFoodCertificate",
        summary="Revoke (the authority, with the reason): verification shows it revoked",
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(DECIDE_POLICY),
    )
    async def revoke(
        self,
        certificate_id: CertificateId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[EndIn],
        db_session: NamedDependency[AsyncSession],
    ) -> CertificateRead:
        await certificates.end(
            db_session,
            certificate_id,
            "revoked",
            version=data.version,
            reason=data.reason,
            actor=actor,
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        return await certificate_read(db_session, certificate_id, settings=settings, tenant=tenant)


class RegisterNotPublished(NotFound):
    code = "food_register_not_published"
    title = "องค์กรปกครองส่วนท้องถิ่นนี้ไม่ได้เผยแพร่ทะเบียน / This LAO does not publish its register"


class RegisterController(Controller):
    path = "/register"
    tags = ["Food premises: public register"]

    @get(
        "/",
        operation_id="listFoodRegister",
        summary="The public register of food premises: name, kind, address, status (no personal data)",
        description="404 `food_register_not_published` unless the LAO publishes it (`PUT /settings`).",
        responses=problem_responses(400, 404),
        **guarded(PUBLIC_POLICY),
    )
    async def list_(
        self, db_read: NamedDependency[ReadConnection], limit: Limit = 100, cursor: Cursor = None
    ) -> RegisterPage:
        published = await fetch_one(db_read, _PUBLISHED)
        if published is None or not published["publish_register"]:
            raise RegisterNotPublished()
        rows = await certificates.page(db_read, after=id_cursor(cursor), limit=limit, register=True)
        items = [_entry(row) for row in rows]
        return RegisterPage(items=items, next_cursor=next_id_cursor(items, limit))


def _entry(row: Any) -> RegisterEntry:
    return RegisterEntry(
        id=row["id"],
        number=row["number"],
        name=row["premises_name"],
        kind=row["premises_kind"],
        kind_th=certificates.KIND_TH[row["premises_kind"]],
        address_th=row["premises_address_th"],
        status=row["status"],
    )
