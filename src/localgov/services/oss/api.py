"""What other services may use of the One Stop Service: the catalogue's manuals.

Building permits and food-premises certificates publish their public manuals through this
catalogue: a service adds its default manual (a draft the LAO checks and publishes) with
:func:`ensure_service` from its own ``seed``, and reads what the LAO published with
:func:`published_manual`. The manual's structs are re-exported here, the only module another
service imports.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.reads import Reader
from localgov.services.oss import catalogue
from localgov.services.oss.schemas import (
    Channel,
    ComplaintChannel,
    Duration,
    Fee,
    Form,
    LegalBasis,
    RequiredDocument,
    ServiceManual,
    Step,
    TotalTime,
)

__all__ = [
    "Channel",
    "ComplaintChannel",
    "Duration",
    "Fee",
    "Form",
    "LegalBasis",
    "PublishedManual",
    "RequiredDocument",
    "ServiceManual",
    "Step",
    "TotalTime",
    "ensure_service",
    "published_manual",
]


class PublishedManual(msgspec.Struct, frozen=True, kw_only=True):
    """A manual as the public reads it."""

    code: str
    version: int
    published_at: dt.datetime
    manual: ServiceManual
    total_time: TotalTime
    #: The server-rendered page of the manual on the LAO's host.
    page_path: str


async def ensure_service(session: AsyncSession, code: str, manual: ServiceManual) -> bool:
    """Add ``manual`` to the LAO's catalogue as a draft under ``code`` unless the code exists
    (idempotent, for a plugin's ``seed``); True when it was added."""
    return await catalogue.seed_catalogue(session, [(code, manual)]) == 1


async def published_manual(reader: Reader, code: str) -> PublishedManual | None:
    """The published manual of ``code``, or None (draft, withdrawn or unknown)."""
    try:
        row = await catalogue.published_service(reader, code)
    except catalogue.ServiceNotFound:
        return None
    manual = catalogue.decode_manual(row["content"])
    return PublishedManual(
        code=row["code"],
        version=row["published_version"],
        published_at=row["published_at"],
        manual=manual,
        total_time=catalogue.total_time(manual),
        page_path=f"/v1/oss/pages/services/{row['code']}",
    )
