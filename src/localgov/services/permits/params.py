"""What the building-permit endpoints share: who may call them, path and query parameters."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from localgov.kernel.auth.guards import citizen, staff
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.cases import caller_staff_id
from localgov.kernel.errors import NotFound
from localgov.services.permits.workflow import ASSESS, DECIDE, INSPECT, INTAKE, MANAGE, READ

#: Staff rights are the permissions the plugin's roles grant (``__init__``); the case engine checks
#: each workflow action's own permission again (``workflow.py``).
STAFF_READ = staff(permission=READ)
STAFF_INTAKE = staff(permission=INTAKE)
STAFF_INSPECT = staff(permission=INSPECT)
STAFF_ASSESS = staff(permission=ASSESS)
STAFF_DECIDE = staff(permission=DECIDE)
STAFF_MANAGE = staff(permission=MANAGE)
#: A signed-in citizen: his own applications.
CITIZEN = citizen()
#: The eligibility check before applying: staff at the counter or a citizen.
ELIGIBILITY = staff(permission=READ) | citizen()

STAFF_ERRORS = (401, 403, 404, 410)
CITIZEN_ERRORS = (401, 403, 404)

ApplicationId = Annotated[uuid.UUID, PathParameter(description="The application's id")]
FileId = Annotated[uuid.UUID, PathParameter(description="The attachment's id")]
ActionCode = Annotated[
    str, PathParameter(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]{0,59}$", description="An action's code")
]
DocumentCode = Annotated[
    str,
    QueryParameter(
        pattern=r"^[a-z][a-z0-9_]{1,59}$",
        description="Which document of the checklist the file is (`land_title` …), `inspection_photo` or `other`",
    ),
]


#: The calling member's id (the kernel's: 403 ``staff_unknown`` for a malformed subject).
staff_uuid = caller_staff_id


def citizen_uuid(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise NotFound("Unknown citizen account.", code="citizen_not_found") from None


def application_path(application_id: uuid.UUID, *, mine: bool = False) -> str:
    return f"/v1/permits/{'me/applications' if mine else 'applications'}/{application_id}"
