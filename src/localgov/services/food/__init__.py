"""Food-premises notification certificates (หนังสือรับรองการแจ้งจัดตั้งสถานที่จำหน่ายอาหารหรือ
สถานที่สะสมอาหาร, Public Health Act B.E. 2535 s.48): the ``food`` service plugin.

The package has the rooms every service has (docs/adding-a-service.md):

* ``models.py`` — its tenant tables (``food_*``); ``migrations/`` — its own history
  (``alembic_version_food``); ``api.py`` — what other services may use;
* ``workflow.py`` — its case type (``food.notification``) as data for the engine;
* ``notifications.py`` (filing, documents, the deficiency path), ``certificates.py`` (the
  certificate, its number, register entry and life: transfer, change, cancellation, revocation),
  ``fees.py`` (the ordinance's rules as pure functions), ``billing.py`` (fee data, the first fee,
  the annual run, reminders, the payments events), ``inspections.py`` (checklist, visits, photos);
  ``certificate_pdf.py``: the certificate as printed;
* ``notification_views.py``, ``certificate_views.py`` (and the public register),
  ``fee_views.py``, ``inspection_views.py``: the endpoints;
* ``schemas.py`` (request and response bodies) and ``params.py`` (who may call, parameters).

The reference of the endpoints is docs/services/food.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar import Router
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.db import TenantBase
from localgov.kernel.plugins import Role, ServicePlugin
from localgov.services.food import models
from localgov.services.food.billing import HANDLERS, JOBS, food_settings
from localgov.services.food.certificate_views import CertificateController, RegisterController
from localgov.services.food.certificates import CERTIFICATE_ISSUED
from localgov.services.food.examples import EXAMPLES
from localgov.services.food.fee_views import FeeController, SettingsController
from localgov.services.food.fees import DEFAULT_BANDS
from localgov.services.food.inspection_views import (
    CertificateInspectionController,
    ChecklistController,
    InspectionController,
)
from localgov.services.food.inspections import seed_checklist
from localgov.services.food.notification_views import NotificationController
from localgov.services.food.notifications import NOTIFICATION_SUBMITTED
from localgov.services.food.workflow import CASE_TYPES, DECIDE, FINANCE, INSPECT, INTAKE, MANAGE, READ

#: Every controller of the service, mounted under ``/v1/food``, in the order they are documented.
HANDLERS_HTTP: list[Any] = [
    NotificationController,
    CertificateController,
    CertificateInspectionController,
    InspectionController,
    ChecklistController,
    FeeController,
    SettingsController,
    RegisterController,
]

ROLES = (
    Role(
        code="food.manager",
        title_th="หัวหน้างานสุขาภิบาลอาหาร",
        title_en="Food sanitation manager",
        permissions=(READ, INTAKE, INSPECT, DECIDE, FINANCE, MANAGE),
    ),
    Role(
        code="food.officer",
        title_th="เจ้าหน้าที่รับแจ้งสถานที่จำหน่ายอาหาร",
        title_en="Notification officer",
        permissions=(READ, INTAKE),
    ),
    Role(
        code="food.inspector",
        title_th="เจ้าพนักงานสาธารณสุข (ผู้ตรวจสุขลักษณะ)",
        title_en="Health inspector",
        permissions=(READ, INSPECT),
    ),
    Role(
        code="food.authority",
        title_th="เจ้าพนักงานท้องถิ่น",
        title_en="Local official (licensing authority)",
        permissions=(READ, DECIDE),
    ),
    Role(
        code="food.finance",
        title_th="เจ้าหน้าที่การเงิน (ค่าธรรมเนียมสถานที่จำหน่ายอาหาร)",
        title_en="Food fees finance officer",
        permissions=(READ, FINANCE),
    ),
)


async def seed(session: AsyncSession, today: dt.date) -> None:
    """A new LAO starts with the settings row, the DOMAIN.md example fee table (to check against its
    ordinance) and the default hygiene checklist. Idempotent."""
    await food_settings(session)
    if (await session.execute(select(models.FeeBand.id).limit(1))).first() is None:
        session.add_all(models.FeeBand(max_area_m2=b.max_area_m2, annual_fee=b.annual_fee) for b in DEFAULT_BANDS)
        await session.flush()
    await seed_checklist(session)


TABLES = tuple(
    TenantBase.metadata.tables[name]
    for name in (
        "food_settings",
        "food_fee_bands",
        "food_fee_waivers",
        "food_notifications",
        "food_notification_files",
        "food_certificates",
        "food_certificate_events",
        "food_fee_bills",
        "food_checklist_items",
        "food_inspections",
        "food_inspection_photos",
    )
)

PLUGIN = ServicePlugin(
    slug="food",
    tags={
        "Food premises: certificates": "Certificates (ใบสำคัญแสดงการรับแจ้ง): issued, changed, transferred, revoked",
        "Food premises: fees and settings": "The LAO's fee bands, waivers, annual fee run, checklist and settings",
        "Food premises: inspections": "Inspections of certified premises, with their checklist and photos",
        "Food premises: notifications": "Notifications of a premises (การแจ้งจัดตั้งสถานที่จำหน่ายอาหาร), reviewed",
        "Food premises: public register": "The public register of certified food premises",
    },
    title_th="หนังสือรับรองการแจ้งจัดตั้งสถานที่จำหน่ายอาหารหรือสะสมอาหาร",
    title_en="Food-premises notification certificates",
    router=Router("/v1/food", route_handlers=HANDLERS_HTTP),
    tables=TABLES,
    roles=ROLES,
    meters=(NOTIFICATION_SUBMITTED, CERTIFICATE_ISSUED),
    jobs=JOBS,
    handlers=HANDLERS,
    case_types=CASE_TYPES,
    seed=seed,
    migrations=Path(__file__).parent / "migrations",
    examples=EXAMPLES,
)
