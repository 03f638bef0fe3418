"""e-Saraban (ระบบสารบรรณอิเล็กทรอนิกส์, Regulation on Correspondence B.E. 2526 as amended to 2564):
the ``saraban`` service plugin.

The package has the rooms every service has (docs/adding-a-service.md):

* ``models.py`` — its tenant tables (``saraban_*``) and the operator's shared directory of
  outside agencies; ``migrations/`` — its own history (``alembic_version_saraban``);
  ``api.py`` — what other services (and the letter PDF, signing and search) may use;
* ``rules.py`` (labels, numbers, the register's canonical row and hash), ``letters.py`` (drafts,
  revisions, review and approval, the letter as read, secrecy), ``issuing.py`` (number, send
  register, deliveries), ``delivery.py`` (between LAOs, exactly once, through the outbox),
  ``routing.py`` (the receive stamp, endorsements and routing, inboxes), ``registers.py``
  (hash chain, verifier, CSV and PDF), ``retention.py`` (retention, destruction lists),
  ``agencies.py`` (the directory);
* ``letter_views.py``, ``register_views.py``, ``admin_views.py``: the endpoints;
* ``schemas.py`` (request and response bodies) and ``params.py`` (who may call, parameters).

The reference of the endpoints is docs/services/saraban.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar import Router
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.db import TenantBase
from localgov.kernel.jobs import JobContext
from localgov.kernel.plugins import Role, ScheduledJob, ServicePlugin
from localgov.kernel.thai import bangkok_today
from localgov.services.saraban import exchange, letters, retention
from localgov.services.saraban.admin_views import (
    DestructionListController,
    DirectoryController,
    IssuingUnitController,
    OutsideAgencyController,
    RetentionController,
    SettingsController,
)
from localgov.services.saraban.delivery import HANDLERS
from localgov.services.saraban.document_views import EmblemController, LetterDocumentController, SearchController
from localgov.services.saraban.examples import EXAMPLES
from localgov.services.saraban.exchange_views import ExchangeInboundController, ExchangeKeyController
from localgov.services.saraban.letter_views import (
    InboxController,
    IncomingController,
    LetterController,
    RouteController,
)
from localgov.services.saraban.register_views import RegisterController
from localgov.services.saraban.rules import DRAFT, MANAGE, READ, REGISTRY, REVIEW, ROUTE, SIGN

#: Every controller of the service, mounted under ``/v1/saraban``, in the order they are documented.
HANDLERS_HTTP: list[Any] = [
    LetterController,
    LetterDocumentController,
    SearchController,
    IncomingController,
    InboxController,
    RouteController,
    RegisterController,
    DirectoryController,
    SettingsController,
    IssuingUnitController,
    RetentionController,
    DestructionListController,
    EmblemController,
    ExchangeInboundController,
]
#: Served on the operator host (mounted by ``localgov.app``): the directory of outside agencies.
OPERATOR_HANDLERS: list[Any] = [OutsideAgencyController, ExchangeKeyController]

ROLES = (
    Role(
        code="saraban.officer",
        title_th="เจ้าหน้าที่ผู้ร่างหนังสือ",
        title_en="Officer (drafts letters)",
        permissions=(READ, DRAFT),
    ),
    Role(
        code="saraban.clerk",
        title_th="เจ้าหน้าที่สารบรรณ (งานสารบรรณกลาง)",
        title_en="Registry clerk",
        permissions=(READ, DRAFT, REGISTRY, ROUTE),
    ),
    Role(
        code="saraban.reviewer",
        title_th="หัวหน้าส่วนราชการ (ผู้ตรวจทาน)",
        title_en="Head of unit (reviewer)",
        permissions=(READ, DRAFT, REVIEW, ROUTE),
    ),
    Role(
        code="saraban.signer",
        title_th="ผู้บริหาร / ผู้มีอำนาจลงนาม",
        title_en="Executive (signs letters)",
        permissions=(READ, REVIEW, SIGN, ROUTE),
    ),
    Role(
        code="saraban.admin",
        title_th="ผู้ดูแลระบบสารบรรณ",
        title_en="e-Saraban administrator",
        permissions=(READ, MANAGE),
    ),
)


async def seed(session: AsyncSession, today: dt.date) -> None:
    """A new LAO starts with the settings row and the default retention rules. Idempotent."""
    await letters.settings_row(session)
    await retention.seed_rules(session)


async def destruction_list_job(ctx: JobContext) -> None:
    """Per tenant: the destruction list of the year that ended, within 60 days (idempotent)."""
    await retention.prepare_due_lists(ctx.session, bangkok_today(ctx.now))


JOBS = (
    ScheduledJob(
        name="saraban.destruction_lists", every=dt.timedelta(hours=12), run=destruction_list_job, per_tenant=True
    ),
)

TABLES = tuple(
    TenantBase.metadata.tables[name]
    for name in (
        "saraban_settings",
        "saraban_issuing_units",
        "saraban_retention_rules",
        "saraban_letters",
        "saraban_revisions",
        "saraban_letter_events",
        "saraban_recipients",
        "saraban_register_entries",
        "saraban_routes",
        "saraban_access",
        "saraban_destruction_lists",
        "saraban_letter_search",
    )
)

PLUGIN = ServicePlugin(
    slug="saraban",
    tags={
        "e-Saraban: administration": "Settings, issuing units, retention, destruction lists, the directory",
        "e-Saraban: documents and search": "A letter's PDF and signed copies; Thai full-text search; the emblem",
        "e-Saraban: letters": "Letters (หนังสือราชการ): drafts, revisions, issuing, receiving, routing, inboxes",
        "e-Saraban: registers": "The send and receive registers (ทะเบียนหนังสือส่ง/รับ), exports and hash-chain checks",
        "e-Saraban: exchange with outside agencies": "Signed letters exchanged with agencies outside the platform",
    },
    title_th="ระบบสารบรรณอิเล็กทรอนิกส์",
    title_en="e-Saraban (electronic correspondence)",
    router=Router("/v1/saraban", route_handlers=HANDLERS_HTTP),
    tables=TABLES,
    roles=ROLES,
    meters=letters.METERS,
    jobs=JOBS,
    events=(letters.LETTER_ISSUED,),
    handlers={**HANDLERS, **exchange.handlers()},
    solo_topics=frozenset({exchange.SEND_TOPIC}),
    seed=seed,
    migrations=Path(__file__).parent / "migrations",
    examples=EXAMPLES,
)
