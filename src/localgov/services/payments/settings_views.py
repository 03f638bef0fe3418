"""HTTP endpoints of the LAO's biller settings (Thai QR biller ID and merchant name)."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.services.payments import bills
from localgov.services.payments.params import FINANCE_OR_ADMIN


class PaymentSettingsController(Controller):
    path = "/settings"
    tags = ["Payments: settings"]

    @get(
        "/",
        operation_id="getPaymentSettings",
        summary="The LAO's Thai QR biller ID and merchant name",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def get_settings(self, db_session: NamedDependency[AsyncSession]) -> bills.BillerSettings:
        return bills.settings_read(await bills.get_settings(db_session))

    @put(
        "/",
        operation_id="setPaymentSettings",
        summary="Set the biller ID (tax ID + 2-digit suffix, check digit verified), merchant name, receiving officer",
        description="Every QR made from now on carries them; audited.",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def put_settings(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[bills.BillerSettingsUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> bills.BillerSettings:
        return bills.settings_read(await bills.put_settings(db_session, data, actor=actor, origin=origin))
