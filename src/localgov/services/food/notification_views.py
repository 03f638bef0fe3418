"""HTTP endpoints of notifications (staff at the counter): file, documents, the deficiency path,
the same-day certificate, refusal and withdrawal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.reads import ReadConnection
from localgov.kernel.storage import BlobStore, FileOwner, download_response, open_file, upload_chunks
from localgov.kernel.tenancy import TenantInfo
from localgov.services.food import certificates, notifications
from localgov.services.food.params import (
    DECIDE_POLICY,
    DOCUMENT_LIMITS,
    INTAKE_POLICY,
    READ_POLICY,
    STAFF_ERRORS,
    FileId,
    NotificationId,
    case_actor,
)
from localgov.services.food.schemas import (
    CertifyIn,
    FileRead,
    NotificationCreate,
    NotificationRead,
    NotificationReasonStep,
    NotificationStep,
)

TAG = "Food premises: notifications"
DocumentCode = Annotated[
    str,
    QueryParameter(
        pattern=r"^[a-z][a-z_]{1,39}$",
        description="Which document the file is: id_copy, site_plan, house_registration, power_of_attorney, "
        "health_certificate, other",
    ),
]


class NotificationController(Controller):
    path = "/notifications"
    tags = [TAG]

    @post(
        "/",
        operation_id="fileFoodNotification",
        summary="File a notification of a food sale or storage place (≤ 200 m²) at the counter",
        description=(
            "The notifier's 13-digit ID is checked (422 `invalid_tax_id`), the phone (422 `invalid_phone`), the "
            "address parts (422 `invalid_house_no`, `invalid_moo`, `invalid_postal_code`). Premises over 200 m² are "
            "refused with 422 `food_area_requires_licence` (`data.route`: `licence`; reasons in Thai and English): "
            "they need a licence instead. The notification is numbered `FD-<BE year>-<n>` and waits in `submitted` "
            "for its documents and the same-day certificate. An `Idempotency-Key` makes a retried request return the "
            "same notification."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def file(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[NotificationCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[NotificationRead]:
        async def work() -> NotificationRead:
            notification_id = await notifications.open_notification(
                db_session,
                data,
                tenant=tenant,
                actor=await case_actor(db_session, principal, permissions),
                now=dt.datetime.now(dt.UTC),
                origin=origin,
            )
            return await notifications.notification_view(db_session, notification_id)

        return await idempotent(request, db_session, idempotency_key, work)

    @get(
        "/{notification_id:uuid}",
        operation_id="getFoodNotification",
        summary="A notification: state, notifier, establishment, documents, files, history",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def fetch(
        self, notification_id: NotificationId, db_read: NamedDependency[ReadConnection]
    ) -> NotificationRead:
        return await notifications.notification_view(db_read, notification_id)

    @post(
        "/{notification_id:uuid}/files",
        operation_id="uploadFoodNotificationFile",
        summary="Attach a document to an open notification (PDF or image by content, 10 MiB)",
        description=(
            "`multipart/form-data` with the file in the part `data`; `?document=` names the document (422 "
            "`unknown_document`). 413 `file_too_large`, 415 `file_type_not_allowed`, 409 `food_notification_closed`."
        ),
        request_max_body_size=DOCUMENT_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 413, 415, 422, 503),
        **guarded(INTAKE_POLICY),
    )
    async def upload(
        self,
        notification_id: NotificationId,
        document: DocumentCode,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: MultipartBody[UploadFile],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
    ) -> FileRead:
        stored = await notifications.attach(
            db_session,
            blob_store,
            notification_id,
            document_code=document,
            data=upload_chunks(data),
            filename=data.filename or "",
            actor=await case_actor(db_session, principal, permissions),
            origin=origin,
        )
        view = await notifications.notification_view(db_session, notification_id)
        return next(f for f in view.files if f.id == stored.id)

    @get(
        "/{notification_id:uuid}/files/{file_id:uuid}",
        operation_id="downloadFoodNotificationFile",
        summary="Download a document of a notification",
        responses=problem_responses(*STAFF_ERRORS, 503),
        **guarded(READ_POLICY),
    )
    async def download(
        self,
        notification_id: NotificationId,
        file_id: FileId,
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        await notifications.head(db_read, notification_id)
        owner = FileOwner("food.notification", str(notification_id))
        return download_response(await open_file(db_read, blob_store, file_id, owner=owner))

    async def _step(
        self,
        action: str,
        notification_id: NotificationId,
        version: int,
        comment: str | None,
        principal: Principal,
        permissions: frozenset[str],
        origin: Origin,
        db_session: AsyncSession,
    ) -> NotificationRead:
        await notifications.step(
            db_session,
            notification_id,
            action,
            actor=await case_actor(db_session, principal, permissions),
            version=version,
            comment=comment,
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        return await notifications.notification_view(db_session, notification_id)

    @post(
        "/{notification_id:uuid}/request-documents",
        status_code=200,
        operation_id="requestFoodNotificationDocuments",
        summary="Record what is missing (the OSS deficiency rule): the notification waits, the clock stops",
        description="`comment` lists what is missing. 409 `case_version_conflict`, `case_action_unavailable`.",
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def request_documents(
        self,
        notification_id: NotificationId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[NotificationReasonStep],
        db_session: NamedDependency[AsyncSession],
    ) -> NotificationRead:
        return await self._step(
            "request_documents", notification_id, data.version, data.comment, principal, permissions, origin, db_session
        )

    @post(
        "/{notification_id:uuid}/resubmit",
        status_code=200,
        operation_id="resubmitFoodNotification",
        summary="The notifier supplied what was missing: back to `submitted`, the clock runs again",
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def resubmit(
        self,
        notification_id: NotificationId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[NotificationStep],
        db_session: NamedDependency[AsyncSession],
    ) -> NotificationRead:
        return await self._step(
            "resubmit", notification_id, data.version, data.comment, principal, permissions, origin, db_session
        )

    @post(
        "/{notification_id:uuid}/withdraw",
        status_code=200,
        operation_id="withdrawFoodNotification",
        summary="Withdraw the notification at the notifier's request",
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def withdraw(
        self,
        notification_id: NotificationId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[NotificationStep],
        db_session: NamedDependency[AsyncSession],
    ) -> NotificationRead:
        return await self._step(
            "withdraw", notification_id, data.version, data.comment, principal, permissions, origin, db_session
        )

    @post(
        "/{notification_id:uuid}/refuse",
        status_code=200,
        operation_id="refuseFoodNotification",
        summary="Refuse the notification, with the reason (the authority)",
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(DECIDE_POLICY),
    )
    async def refuse(
        self,
        notification_id: NotificationId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[NotificationReasonStep],
        db_session: NamedDependency[AsyncSession],
    ) -> NotificationRead:
        return await self._step(
            "refuse", notification_id, data.version, data.comment, principal, permissions, origin, db_session
        )

    @post(
        "/{notification_id:uuid}/certify",
        status_code=200,
        operation_id="certifyFoodNotification",
        summary="Issue the certificate of notification (same day, when the documents are complete)",
        description=(
            "Numbered `n/BE-year` gap-free per year; registered for public verification (QR); the first year's "
            "fee billed through payments (source `food`). 422 `case_documents_missing` (`data.missing`: go the "
            "deficiency path), 409 `case_version_conflict`, 409 `food_payments_not_enabled`, 409 "
            "`food_fee_band_missing`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(INTAKE_POLICY),
    )
    async def certify(
        self,
        notification_id: NotificationId,
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[CertifyIn],
        db_session: NamedDependency[AsyncSession],
    ) -> NotificationRead:
        await certificates.certify(
            db_session,
            notification_id,
            tenant=tenant,
            actor=await case_actor(db_session, principal, permissions),
            version=data.version,
            conditions_th=data.conditions_th,
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        return await notifications.notification_view(db_session, notification_id)
