"""What the food service's endpoints share: who may call them, path parameters, small helpers."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter

from localgov.kernel.audit import Actor
from localgov.kernel.auth.guards import PUBLIC, staff
from localgov.kernel.cases import caller_actor
from localgov.kernel.storage import UploadLimits
from localgov.services.food.workflow import DECIDE, FINANCE, INSPECT, INTAKE, MANAGE, READ

#: Who may call what: permissions granted by the plugin's roles (``__init__``).
READ_POLICY = staff(permission=READ)
INTAKE_POLICY = staff(permission=INTAKE)
INSPECT_POLICY = staff(permission=INSPECT)
DECIDE_POLICY = staff(permission=DECIDE)
FINANCE_POLICY = staff(permission=FINANCE)
MANAGE_POLICY = staff(permission=MANAGE)
#: The published register (when the LAO publishes it).
PUBLIC_POLICY = PUBLIC

STAFF_ERRORS = (401, 403, 404, 410)

NotificationId = Annotated[uuid.UUID, PathParameter(description="The notification's id")]
CertificateId = Annotated[uuid.UUID, PathParameter(description="The certificate's id")]
InspectionId = Annotated[uuid.UUID, PathParameter(description="The inspection's id")]
FileId = Annotated[uuid.UUID, PathParameter(description="The attachment's id")]
WaiverId = Annotated[uuid.UUID, PathParameter(description="The waiver's id")]

#: Documents of a notification: PDF or images, 10 MiB each.
DOCUMENT_LIMITS = UploadLimits(max_bytes=10 * 1024 * 1024)
#: Photos of a visit: images only, 10 MiB each.
PHOTO_LIMITS = UploadLimits(max_bytes=10 * 1024 * 1024, types=("png", "jpeg", "webp"))


def actor_label(actor: Actor) -> str:
    """``<kind>:<subject>`` as rows record who did something."""
    return f"{actor.kind}:{actor.id}"[:150]


def notification_path(notification_id: uuid.UUID) -> str:
    return f"/v1/food/notifications/{notification_id}"


def file_path(notification_id: uuid.UUID, file_id: uuid.UUID) -> str:
    return f"{notification_path(notification_id)}/files/{file_id}"


def photo_path(inspection_id: uuid.UUID, file_id: uuid.UUID) -> str:
    return f"/v1/food/inspections/{inspection_id}/photos/{file_id}"


#: The calling member as the case engine checks him: his roles' permissions and his unit (the kernel's).
case_actor = caller_actor
