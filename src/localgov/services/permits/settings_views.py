"""The LAO's settings of building permits: eligibility rules per area type, the fee table, time
limits and options (read by staff, replaced by a manager). Figures DOMAIN.md marks "verify" are
listed in the answer (``verify``)."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.reads import ReadConnection
from localgov.services.permits.config import VERIFY, PermitConfig, load_config, save_config
from localgov.services.permits.params import STAFF_ERRORS, STAFF_MANAGE, STAFF_READ
from localgov.services.permits.schemas import SettingsRead, SettingsUpdate

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
