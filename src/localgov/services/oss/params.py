"""What the One Stop Service endpoints share: who may call them, path and query parameters, and
the addresses of its pages."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter

from localgov.kernel.audit import Actor
from localgov.kernel.auth.guards import client, staff

#: Who may call what. Staff rights are permissions granted by the plugin's roles (``__init__``):
#: ``oss.manager`` all of them; ``oss.editor`` read and edit the catalogue; ``oss.officer`` read and
#: work the counter. A kiosk that prints tickets is an API client with the scope ``oss.queue``.
READ = staff(permission="oss.read")
#: Write and version manuals (drafts; the public does not see them).
EDIT = staff(permission="oss.catalogue")
#: Publish and withdraw manuals: what the public reads.
PUBLISH = staff(permission="oss.publish")
#: Issue, call, serve: the counter's work.
COUNTER = staff(permission="oss.counter")
ISSUE = staff(permission="oss.counter") | client("oss.queue")
#: Service points and the queue's statistics.
MANAGE = staff(permission="oss.manage")

#: Public ticket and board reads per client address (a waiting room refreshes its display often).
PUBLIC_LIMIT_PER_ADDRESS = (600, 300)

#: Where the server-rendered pages live, under the plugin's router.
PAGES = "/pages"

ServiceId = Annotated[uuid.UUID, PathParameter(description="The catalogue service's id")]
ServiceCodePath = Annotated[
    str, PathParameter(min_length=2, max_length=60, pattern=r"^[a-z][a-z0-9-]{1,59}$", description="The service's code")
]
VersionNo = Annotated[int, PathParameter(ge=1, le=1_000_000, description="A version of the manual")]
PointId = Annotated[uuid.UUID, PathParameter(description="The service point's id")]
TicketId = Annotated[uuid.UUID, PathParameter(description="The queue ticket's id")]
TicketToken = Annotated[
    str,
    PathParameter(min_length=1, max_length=32, description="The ticket's public code (the QR on its slip)"),
]

STAFF_ERRORS = (401, 403, 404, 410)


def actor_label(actor: Actor) -> str:
    """``<kind>:<subject>`` as rows record who did something."""
    return f"{actor.kind}:{actor.id}"[:150]


def service_page_path(code: str) -> str:
    return f"/v1/oss{PAGES}/services/{code}"


def ticket_follow_path(token: str) -> str:
    return f"/v1/oss{PAGES}/queue/{token}"


def ticket_slip_path(token: str) -> str:
    return f"/v1/oss{PAGES}/queue/{token}/slip"


def point_display_path(point_id: uuid.UUID) -> str:
    return f"/v1/oss{PAGES}/points/{point_id}/display"
