"""HTTP endpoints of fees and settings: the ordinance's fee table, waivers, a quote, the annual
fee run, the LAO's settings of the service."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today, be_year
from localgov.services.food import billing, fees
from localgov.services.food.models import FoodSettings
from localgov.services.food.notifications import check_area
from localgov.services.food.params import FINANCE_POLICY, MANAGE_POLICY, READ_POLICY, STAFF_ERRORS, WaiverId
from localgov.services.food.schemas import (
    AnnualRunIn,
    AnnualRunRead,
    BandRead,
    FeeTableRead,
    FeeTableUpdate,
    QuoteRead,
    SettingsRead,
    SettingsUpdate,
    WaiverCreate,
    WaiverRead,
)

TAG = "Food premises: fees and settings"


async def fee_table(session: AsyncSession) -> FeeTableRead:
    data = await billing.fee_data(session)
    return FeeTableRead(
        bands=[BandRead(max_area_m2=b.max_area_m2, annual_fee=b.annual_fee) for b in data.bands],
        waivers=[
            WaiverRead(id=w.id, starts_on=w.starts_on, ends_on=w.ends_on, percent=w.percent, note_th=w.note_th)
            for w in await billing.list_waivers(session)
        ],
        late_surcharge_percent=data.settings.late_surcharge_percent,
        late_surcharge_after_days=data.settings.late_surcharge_after_days,
        annual_due_month=data.settings.annual_due_month,
        annual_due_day=data.settings.annual_due_day,
    )


def settings_read(row: FoodSettings) -> SettingsRead:
    return SettingsRead(
        annual_due_month=row.annual_due_month,
        annual_due_day=row.annual_due_day,
        late_surcharge_percent=row.late_surcharge_percent,
        late_surcharge_after_days=row.late_surcharge_after_days,
        first_fee_days=row.first_fee_days,
        reminder_days=row.reminder_days,
        revisit_days=row.revisit_days,
        publish_register=row.publish_register,
    )


class FeeController(Controller):
    path = "/fees"
    tags = [TAG]

    @get(
        "/",
        operation_id="getFoodFeeTable",
        summary="The fee table (area bands → annual fee), the dated waivers, the late surcharge",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def table(self, db_session: NamedDependency[AsyncSession]) -> FeeTableRead:
        return await fee_table(db_session)

    @put(
        "/bands",
        operation_id="putFoodFeeBands",
        summary="Replace the fee table from the ordinance (bounds in m², inclusive; the last one 200)",
        description="422 `food_fee_table_invalid`. Bills already issued keep their amounts.",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(FINANCE_POLICY),
    )
    async def put_bands(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[FeeTableUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> FeeTableRead:
        bands = [fees.Band(max_area_m2=b.max_area_m2, annual_fee=b.annual_fee) for b in data.bands]
        await billing.put_bands(db_session, bands, actor=actor, origin=origin)
        return await fee_table(db_session)

    @post(
        "/waivers",
        operation_id="addFoodFeeWaiver",
        summary="Add a dated waiver (both dates included; percent of the fee, 100 = no fee)",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(FINANCE_POLICY),
    )
    async def add_waiver(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[WaiverCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> WaiverRead:
        waiver = fees.Waiver(starts_on=data.starts_on, ends_on=data.ends_on, percent=data.percent)
        row = await billing.add_waiver(db_session, waiver, data.note_th, actor=actor, origin=origin)
        return WaiverRead(
            id=row.id, starts_on=row.starts_on, ends_on=row.ends_on, percent=row.percent, note_th=row.note_th
        )

    @delete(
        "/waivers/{waiver_id:uuid}",
        status_code=204,
        operation_id="deleteFoodFeeWaiver",
        summary="Withdraw a waiver (fees already billed or waived stay as they were)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(FINANCE_POLICY),
    )
    async def delete_waiver(
        self,
        waiver_id: WaiverId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await billing.delete_waiver(db_session, waiver_id, actor=actor, origin=origin)

    @get(
        "/quote",
        operation_id="quoteFoodFee",
        summary="What the fee of premises of an area comes to on a date (bands, waivers, the late surcharge)",
        description="422 `food_area_requires_licence` over 200 m²; 409 `food_fee_band_missing`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(READ_POLICY),
    )
    async def quote(
        self,
        area_m2: Annotated[Decimal, QueryParameter(description="Area in m²")],
        db_session: NamedDependency[AsyncSession],
        on: Annotated[dt.date | None, QueryParameter(description="The fee's date (default today)")] = None,
    ) -> QuoteRead:
        day = on or bangkok_today()
        data = await billing.fee_data(db_session)
        quote = fees.quote(check_area(area_m2, "area_m2"), day, data.bands, data.waivers)
        return QuoteRead(
            area_m2=area_m2,
            on=day,
            base_fee=quote.base_fee,
            waived_percent=quote.waived_percent,
            amount=quote.amount,
            late_surcharge=fees.surcharge(quote.amount, data.settings.late_surcharge_percent),
        )

    @post(
        "/annual-run",
        status_code=200,
        operation_id="runFoodAnnualFees",
        summary="Bill the year's fee of every active certificate (once: a second run bills nothing twice)",
        description=(
            "Certificates issued before the year began; their first year's fee was billed on issue. The worker's "
            "`food.annual_fees` does the same by itself. 409 `food_payments_not_enabled`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(FINANCE_POLICY),
    )
    async def annual_run(
        self,
        tenant: NamedDependency[TenantInfo],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[AnnualRunIn],
        db_session: NamedDependency[AsyncSession],
    ) -> AnnualRunRead:
        billing.check_billing(tenant)
        today = bangkok_today()
        result = await billing.run_annual_fees(db_session, data.year or be_year(today), today=today)
        await record_audit(
            db_session,
            "food.annual_run",
            actor=actor,
            origin=origin,
            data={"year": result.year, "bills_created": result.bills_created, "waived": result.waived},
        )
        return result


class SettingsController(Controller):
    path = "/settings"
    tags = [TAG]

    @get(
        "/",
        operation_id="getFoodSettings",
        summary="The LAO's settings of the service",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def fetch(self, db_session: NamedDependency[AsyncSession]) -> SettingsRead:
        return settings_read(await billing.food_settings(db_session))

    @put(
        "/",
        operation_id="putFoodSettings",
        summary="Change settings: annual due day, late surcharge, reminders, repeat visits, public register",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(MANAGE_POLICY),
    )
    async def put_(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[SettingsUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> SettingsRead:
        return settings_read(await billing.put_settings(db_session, data, actor=actor, origin=origin))
