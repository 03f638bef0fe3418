"""What the e-Saraban endpoints share: who may call them, path and query parameters."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from localgov.kernel.auth.guards import operator, staff
from localgov.services.saraban import models
from localgov.services.saraban.rules import DRAFT, MANAGE, READ, REGISTRY, REVIEW, ROUTE, SIGN

#: Who may call what: permissions granted by the plugin's roles (``__init__``).
READ_POLICY = staff(permission=READ)
DRAFT_POLICY = staff(permission=DRAFT)
REVIEW_POLICY = staff(permission=REVIEW)
SIGN_POLICY = staff(permission=SIGN)
REGISTRY_POLICY = staff(permission=REGISTRY)
ROUTE_POLICY = staff(permission=ROUTE)
MANAGE_POLICY = staff(permission=MANAGE)
#: The operator's directory of outside agencies (operator host).
OPERATOR_POLICY = operator("platform_admin")

STAFF_ERRORS = (401, 403, 404, 410)
PDF = "application/pdf"
CSV = "text/csv; charset=utf-8"

LetterId = Annotated[uuid.UUID, PathParameter(description="The letter's id")]
FileId = Annotated[uuid.UUID, PathParameter(description="The file's id")]
RouteId = Annotated[uuid.UUID, PathParameter(description="The routing's id")]
UnitId = Annotated[uuid.UUID, PathParameter(description="The unit's id")]
ListId = Annotated[uuid.UUID, PathParameter(description="The destruction list's id")]
AgencyId = Annotated[int, PathParameter(ge=1, description="The outside agency's id")]
RegisterName = Annotated[models.Register, PathParameter(description="The send or the receive register")]
Year = Annotated[int, PathParameter(ge=2500, le=2700, description="The BE calendar year")]
Direction = Annotated[models.Direction | None, QueryParameter(description="Outgoing or incoming")]
StatusFilter = Annotated[models.LetterStatus | None, QueryParameter(description="The letter's status")]
KindFilter = Annotated[models.LetterKind | None, QueryParameter(description="The kind of letter")]
Search = Annotated[
    str | None, QueryParameter(min_length=1, max_length=200, description="Words of the subject or number")
]
RouteStatus = Annotated[models.RouteStatus | None, QueryParameter(description="Open or done")]
