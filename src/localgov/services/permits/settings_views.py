"""The LAO's settings of building permits: eligibility rules per area type, the fee table, time
limits and options (read by staff, replaced by a manager). Figures DOMAIN.md marks "verify" are
listed in the answer (``verify``)."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.reads import ReadConnection
from localgov.kernel.storage import BlobStore, upload_chunks
from localgov.services.permits.config import (
    EMBLEM_LIMITS,
    VERIFY,
    PermitConfig,
    load_config,
    save_config,
    set_emblem,
)
from localgov.services.permits.params import STAFF_ERRORS, STAFF_MANAGE, STAFF_READ
from localgov.services.permits.schemas import EmblemRead, SettingsRead, SettingsUpdate

TAG = "Permits: settings"


def settings_read(config: PermitConfig) -> SettingsRead:
    return SettingsRead(
        rules=config.rules,
        fees=config.fees,
        deadlines=config.deadlines,
        default_area_type=config.default_area_type,
        issue_before_payment=config.issue_before_payment,
        validity_days=config.validity_days,
        fee_due_days=config.fee_due_days,
        thai_digits=config.thai_digits,
        verify=VERIFY,
    )


class SettingsController(Controller):
    path = "/settings"
    tags = [TAG]

    @get(
        "/",
        operation_id="getPermitSettings",
        summary="The LAO's rules, fee table, time limits and options for building permits",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(STAFF_READ),
    )
    async def detail(self, db_read: NamedDependency[ReadConnection]) -> SettingsRead:
        return settings_read(await load_config(db_read))

    @put(
        "/",
        operation_id="replacePermitSettings",
        summary="Replace the LAO's settings as a whole",
        description="422 `permits_settings_invalid` (`data.problems`).",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(STAFF_MANAGE),
    )
    async def replace(
        self,
        data: JSONBody[SettingsUpdate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> SettingsRead:
        config = PermitConfig(
            rules=dict(data.rules),
            fees=data.fees,
            deadlines=data.deadlines,
            default_area_type=data.default_area_type,
            issue_before_payment=data.issue_before_payment,
            validity_days=data.validity_days,
            fee_due_days=data.fee_due_days,
            thai_digits=data.thai_digits,
        )
        return settings_read(await save_config(db_session, config, actor=actor, origin=origin))

    @put(
        "/emblem",
        operation_id="setPermitEmblem",
        summary="Upload the LAO's emblem printed at the head of its permits (PNG or JPEG, at most 1 MiB)",
        description="`multipart/form-data` with the image in the part `data`; the newest upload is printed.",
        request_max_body_size=EMBLEM_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 413, 415, 503),
        **guarded(STAFF_MANAGE),
    )
    async def emblem(
        self,
        data: MultipartBody[UploadFile],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
    ) -> EmblemRead:
        stored = await set_emblem(
            db_session, blob_store, upload_chunks(data), filename=data.filename or "", actor=actor, origin=origin
        )
        return EmblemRead(id=stored.id, media_type=stored.content_type, size=stored.size_bytes, sha256=stored.sha256)
