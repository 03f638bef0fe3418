"""One Stop Service (ศูนย์บริการร่วม, ระบบบริหารจัดการจุดเดียวเบ็ดเสร็จ): the ``oss`` service plugin.

Built so far: the catalogue of services with their public manuals (คู่มือสำหรับประชาชน), the
counter's queue, and requests on the kernel's case engine (intake online and at the counter,
tracking numbers, attachments, inboxes, deficiency records, the public status). The package has
the rooms every service has (docs/adding-a-service.md):

* ``models.py`` — its tenant tables (``oss_*``); ``migrations/`` — its own history
  (``alembic_version_oss``); ``api.py`` — what other services may use (the manuals, requests);
* ``workflow.py`` — its case type (``oss.request``) as data for the engine;
* ``catalogue.py`` (manuals: checks, versions, publishing; the defaults of ``defaults.py``),
  ``counter.py`` (service points, tickets, call-next, statistics), ``cases.py`` (requests: intake,
  numbers and codes, actions, comments, attachments, the public status) and ``deficiency.py``
  (deficiency records and the job that returns requests whose deadline passed): the rules and
  queries; ``case_pdf.py``: the receipt and the deficiency record as printed;
* ``deadlines.py`` (the worker's sweep of every LAO: SLA timers, delay notices, escalations, result
  notices), ``notices.py`` (the letters and their record) and ``reports.py`` (the OPDC's reports);
* ``catalogue_views.py``, ``counter_views.py``, ``case_views.py`` (staff: requests, inboxes,
  settings), ``deficiency_views.py``, ``citizen_views.py`` (the applicant's own requests, the
  public status), ``calendar_views.py``, ``notice_views.py``, ``report_views.py``: the JSON
  endpoints; ``page_views.py`` and ``case_pages.py``: the server-rendered pages (templates in
  ``localgov/templates/oss``, stylesheet in ``static/``);
* ``schemas.py`` (request and response bodies) and ``params.py`` (who may call, parameters).

The reference of the endpoints is docs/services/oss.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar import Router
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.db import TenantBase
from localgov.kernel.plugins import Role, Scope, ServicePlugin
from localgov.services.oss import models  # noqa: F401  (defines the tables below)
from localgov.services.oss.calendar_views import CalendarController
from localgov.services.oss.case_pages import TrackPagesController
from localgov.services.oss.case_views import CaseController, CaseSettingsController, InboxController
from localgov.services.oss.cases import CASES_DECIDED, CASES_OPENED
from localgov.services.oss.catalogue import seed_catalogue
from localgov.services.oss.catalogue_views import CatalogueController, ServiceController
from localgov.services.oss.citizen_views import MyCasesController, TrackController
from localgov.services.oss.counter import seed_point
from localgov.services.oss.counter_views import (
    PointController,
    QueueController,
    QueueStatsController,
    TicketController,
)
from localgov.services.oss.deadlines import DEADLINES_JOB
from localgov.services.oss.defaults import DEFAULT_POINT, default_catalogue
from localgov.services.oss.deficiency import EXPIRE_JOB
from localgov.services.oss.deficiency_views import DeficiencyController
from localgov.services.oss.examples import EXAMPLES
from localgov.services.oss.notice_views import NoticeController, NoticeSettingsController
from localgov.services.oss.page_views import OssAssetsController, OssPagesController
from localgov.services.oss.report_views import ReportController
from localgov.services.oss.workflow import CASE_ASSIGN, CASE_DECIDE, CASE_INTAKE, CASE_READ, CASE_TYPES

#: Every controller of the service, mounted under ``/v1/oss``, in the order they are documented.
HANDLERS: list[Any] = [
    ServiceController,
    CatalogueController,
    PointController,
    TicketController,
    QueueController,
    QueueStatsController,
    CaseController,
    DeficiencyController,
    InboxController,
    CaseSettingsController,
    MyCasesController,
    TrackController,
    CalendarController,
    NoticeSettingsController,
    NoticeController,
    ReportController,
    OssPagesController,
    TrackPagesController,
    OssAssetsController,
]

ROLES = (
    Role(
        code="oss.manager",
        title_th="หัวหน้าศูนย์บริการร่วม",
        title_en="One Stop Service manager",
        permissions=(
            "oss.read",
            "oss.catalogue",
            "oss.publish",
            "oss.counter",
            "oss.manage",
            CASE_READ,
            CASE_INTAKE,
            CASE_ASSIGN,
        ),
    ),
    Role(
        code="oss.editor",
        title_th="เจ้าหน้าที่จัดทำคู่มือสำหรับประชาชน",
        title_en="Service manual editor",
        permissions=("oss.read", "oss.catalogue"),
    ),
    Role(
        code="oss.officer",
        title_th="เจ้าหน้าที่ประจำจุดบริการ",
        title_en="Counter officer",
        permissions=("oss.read", "oss.counter", CASE_READ, CASE_INTAKE),
    ),
    Role(
        code="oss.approver",
        title_th="ผู้มีอำนาจพิจารณาอนุญาต",
        title_en="Licensing authority",
        permissions=("oss.read", CASE_READ, CASE_DECIDE),
    ),
)

SCOPES = (Scope(code="oss.queue", title_th="ออกบัตรคิว (ตู้กดบัตรคิว)", title_en="Issue queue tickets (a kiosk)"),)


async def seed(session: AsyncSession, today: dt.date) -> None:
    """A new LAO starts with the default catalogue (drafts to check and publish) and one service point."""
    await seed_catalogue(session, default_catalogue())
    await seed_point(session, DEFAULT_POINT)


#: The service's tables (defined in :mod:`localgov.services.oss.models`).
TABLES = tuple(
    TenantBase.metadata.tables[name]
    for name in (
        "oss_services",
        "oss_service_versions",
        "oss_service_points",
        "oss_queue_tickets",
        "oss_cases",
        "oss_case_files",
        "oss_case_comments",
        "oss_deficiency_records",
        "oss_deficiency_items",
        "oss_notice_settings",
        "oss_case_notices",
    )
)

PLUGIN = ServicePlugin(
    slug="oss",
    tags={
        "OSS: calendar": "The LAO's working days and holidays for One Stop Service time limits",
        "OSS: catalogue (staff)": "Service manuals (คู่มือสำหรับประชาชน): drafted, versioned and published by staff",
        "OSS: counter": "Service points and their queue tickets at the counter",
        "OSS: deficiency records": "Records of missing documents (บันทึกความบกพร่อง) and their follow-up",
        "OSS: inboxes": "Staff inboxes of One Stop Service requests (by unit, staff member, permission)",
        "OSS: my requests": "The logged-in citizen's own One Stop Service requests",
        "OSS: notices": "Notices of delay and late results to applicants, and their settings",
        "OSS: public catalogue": "The published service manuals, for anyone",
        "OSS: public queue": "A queue ticket's public status board",
        "OSS: reports": "One Stop Service reports (cases by state, SLA compliance, time per step, delay notices)",
        "OSS: request status": "Anyone tracks a request by its number and verification code",
        "OSS: requests": "One Stop Service requests handled by staff: intake, actions, files, comments",
    },
    title_th="ศูนย์บริการร่วม",
    title_en="One Stop Service",
    router=Router("/v1/oss", route_handlers=HANDLERS),
    tables=TABLES,
    roles=ROLES,
    scopes=SCOPES,
    meters=(CASES_OPENED, CASES_DECIDED),
    jobs=(EXPIRE_JOB, DEADLINES_JOB),
    case_types=CASE_TYPES,
    seed=seed,
    migrations=Path(__file__).parent / "migrations",
    examples=EXAMPLES,
)
