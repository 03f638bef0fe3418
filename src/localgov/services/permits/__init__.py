"""Building permits for buildings up to 150 m² (ระบบขออนุญาตก่อสร้างอาคาร): the ``permits`` plugin.

Application ข.1 in, permit อ.1 out, on the kernel's case engine; fees through the payments
service's bills; the permit issued when ``payments.bill_paid`` arrives. Rules: DOMAIN.md §2
(Building Control Act B.E. 2522, MR 56, MR 7, MR 70), kept as the LAO's data. The rooms
(docs/adding-a-service.md):

* ``models.py`` — its tenant tables (``permits_*``); ``migrations/`` — its own history
  (``alembic_version_permits``);
* ``workflow.py`` — the case type ``permits.building``;
* ``eligibility.py`` (who this service takes, the MR 56 dossier, engineer / architect, the documents
  checklist), ``fees.py`` (MR 7, MR 70) and ``deadlines.py`` (45 working days, two extensions):
  pure functions over the LAO's rules, ``config.py`` (those rules as the LAO keeps them);
* ``applications.py`` (drafts, submission, files, the workflow's steps, extensions) and
  ``permits.py`` (the decision, the permit's issue on payment, renewal, revocation): the rules
  and queries; ``permit_pdf.py``: the permit as printed; ``reading.py``: an application as shown;
* ``application_views.py``, ``permit_views.py``, ``citizen_views.py``, ``settings_views.py``: the
  endpoints; ``schemas.py`` and ``params.py``.

The reference of the endpoints is docs/services/permits.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar import Router
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.db import TenantBase
from localgov.kernel.plugins import Role, ServicePlugin
from localgov.services.payments.api import BILL_PAID
from localgov.services.permits import models  # noqa: F401  (defines the tables below)
from localgov.services.permits.application_views import ApplicationController, EligibilityController
from localgov.services.permits.applications import APPLICATIONS_SUBMITTED
from localgov.services.permits.citizen_views import MyApplicationController
from localgov.services.permits.config import seed_settings
from localgov.services.permits.examples import EXAMPLES
from localgov.services.permits.permit_views import PermitController
from localgov.services.permits.permits import PERMITS_ISSUED, on_bill_paid
from localgov.services.permits.settings_views import SettingsController
from localgov.services.permits.workflow import ASSESS, CASE_TYPES, DECIDE, INSPECT, INTAKE, MANAGE, READ, REVIEW

HANDLERS: list[Any] = [
    EligibilityController,
    ApplicationController,
    PermitController,
    MyApplicationController,
    SettingsController,
]

ROLES = (
    Role(
        code="permits.clerk",
        title_th="เจ้าหน้าที่รับคำขออนุญาตก่อสร้าง",
        title_en="Permit intake clerk",
        permissions=(READ, INTAKE),
    ),
    Role(
        code="permits.engineer",
        title_th="นายช่าง/วิศวกรผู้ตรวจแบบและตรวจสถานที่",
        title_en="Plan reviewer and site inspector",
        permissions=(READ, REVIEW, INSPECT),
    ),
    Role(
        code="permits.assessor",
        title_th="เจ้าหน้าที่ประเมินค่าธรรมเนียม",
        title_en="Fee assessor",
        permissions=(READ, ASSESS),
    ),
    Role(
        code="permits.official",
        title_th="เจ้าพนักงานท้องถิ่น",
        title_en="Local official (decides)",
        permissions=(READ, DECIDE),
    ),
    Role(
        code="permits.manager",
        title_th="ผู้อำนวยการกองช่าง",
        title_en="Head of the engineering division",
        permissions=(READ, INTAKE, REVIEW, INSPECT, ASSESS, MANAGE),
    ),
)


async def seed(session: AsyncSession, today: dt.date) -> None:
    """A new LAO starts with DOMAIN.md's rules, fee table and time limits (its own to edit)."""
    await seed_settings(session)


TABLES = tuple(
    TenantBase.metadata.tables[name]
    for name in ("permits_applications", "permits_extensions", "permits_files", "permits_settings")
)

PLUGIN = ServicePlugin(
    slug="permits",
    tags={
        "Permits: applications": "Building permit applications handled by staff: review, fees, inspection, decision",
        "Permits: my applications": "The logged-in citizen's own building permit applications",
        "Permits: permits": "Issued building permits: PDF, renewal, revocation",
        "Permits: settings": "The LAO's building permit settings and emblem",
    },
    title_th="ขออนุญาตก่อสร้างอาคาร (ไม่เกิน 150 ตารางเมตร)",
    title_en="Building permits (up to 150 m²)",
    router=Router("/v1/permits", route_handlers=HANDLERS),
    tables=TABLES,
    roles=ROLES,
    meters=(APPLICATIONS_SUBMITTED, PERMITS_ISSUED),
    handlers={BILL_PAID.code: on_bill_paid},
    case_types=CASE_TYPES,
    seed=seed,
    migrations=Path(__file__).parent / "migrations",
    examples=EXAMPLES,
)
