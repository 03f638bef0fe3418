"""What the One Stop Service endpoints share: who may call them, path and query parameters, and
the addresses of its pages."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter

from localgov.kernel.audit import Actor
from localgov.kernel.auth.guards import citizen, client, staff
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.cases import caller_staff_id
from localgov.kernel.errors import NotFound

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

#: Requests (cases): see them, inboxes, comments; intake at the counter, checking, deficiency
#: records; assignment; decisions (``workflow.py``: the engine checks each action's permission).
CASES_READ = staff(permission="oss.case.read")
CASES_INTAKE = staff(permission="oss.case.intake")
CASES_ASSIGN = staff(permission="oss.case.assign")
#: A signed-in citizen: his own requests.
CITIZEN = citizen()

#: Public status lookups (tracking number + verification code): per client address, and per
#: tracking number (a 50-bit code is not guessed, but a number must not be tried by many at once).
TRACK_LIMIT_PER_ADDRESS = (30, 300)
TRACK_LIMIT_PER_NUMBER = (10, 3600)
#: Online requests per citizen.
ONLINE_INTAKE_LIMIT_PER_CITIZEN = (20, 3600)

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

CaseId = Annotated[uuid.UUID, PathParameter(description="The request's (case's) id")]
RecordId = Annotated[uuid.UUID, PathParameter(description="The deficiency record's id")]
FileId = Annotated[uuid.UUID, PathParameter(description="The attachment's id")]
UnitId = Annotated[uuid.UUID, PathParameter(description="A unit of the LAO")]
StaffId = Annotated[uuid.UUID, PathParameter(description="A member of the LAO's staff")]
ActionCode = Annotated[
    str, PathParameter(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]{0,59}$", description="An action's code")
]
TrackingNumberPath = Annotated[
    str, PathParameter(min_length=1, max_length=40, description="The tracking number (5500101-2570-000042)")
]

STAFF_ERRORS = (401, 403, 404, 410)


#: The calling member's id (the kernel's: 403 ``staff_unknown`` for a malformed subject).
staff_uuid = caller_staff_id


def citizen_uuid(principal: Principal) -> uuid.UUID:
    """The calling citizen's id (a citizen token's subject)."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise NotFound("Unknown citizen account.", code="citizen_not_found") from None


def case_path(case_id: uuid.UUID, *, mine: bool = False) -> str:
    return f"/v1/oss/{'me/cases' if mine else 'cases'}/{case_id}"


def file_path(case_id: uuid.UUID, file_id: uuid.UUID, *, mine: bool = False) -> str:
    return f"{case_path(case_id, mine=mine)}/files/{file_id}"


def record_pdf_path(case_id: uuid.UUID, record_id: uuid.UUID, *, mine: bool = False) -> str:
    return f"{case_path(case_id, mine=mine)}/deficiencies/{record_id}/pdf"


def receipt_path(case_id: uuid.UUID, *, mine: bool = False) -> str:
    return f"{case_path(case_id, mine=mine)}/receipt"


def track_page_path(tracking_number: str | None = None) -> str:
    """The public status page (the QR on the receipt carries the number; the code is typed)."""
    base = f"/v1/oss{PAGES}/track"
    return f"{base}?number={tracking_number}" if tracking_number else base


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
