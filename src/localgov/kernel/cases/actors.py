"""Who acts on a case, and whether they may take an action on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Actor
from localgov.kernel.cases.workflow import Action
from localgov.kernel.errors import DomainError

ActorKind = Literal["staff", "citizen", "system"]


class CaseActor(msgspec.Struct, frozen=True, kw_only=True):
    """Who takes an action: a member of staff (with the permissions their roles grant and their
    place in the structure), a citizen, or the platform itself (a timer)."""

    kind: ActorKind
    #: The member of staff or the citizen (None for the system).
    id: uuid.UUID | None = None
    #: What the member's roles grant (``kernel.web``'s ``permissions`` dependency in a request).
    permissions: frozenset[str] = frozenset()
    #: The member's unit and every unit above it, nearest first (empty: not placed in a unit).
    unit_ids: tuple[uuid.UUID, ...] = ()

    @property
    def audit(self) -> Actor:
        """The actor as the audit log records it."""
        return Actor(self.kind, str(self.id) if self.id is not None else None)


#: The platform's timers (a deadline passed).
SYSTEM = CaseActor(kind="system")


def citizen_actor(citizen_id: uuid.UUID) -> CaseActor:
    """A citizen (online intake, withdrawing, answering a deficiency)."""
    return CaseActor(kind="citizen", id=citizen_id)


class Caller(Protocol):
    """What the engine needs of a request's principal (``kernel.auth.tokens.Principal``; importing it
    here would close an import cycle between the kernel's modules, so only the attribute is named)."""

    @property
    def subject(self) -> str: ...


class StaffUnknown(DomainError):
    """A staff token whose subject is not a member's id (only a malformed token can say so)."""

    code = "staff_unknown"
    status = 403
    title = "ไม่พบบัญชีเจ้าหน้าที่ของผู้เรียก / The caller is not a known member of staff"


def caller_staff_id(principal: Caller) -> uuid.UUID:
    """The calling member's id (a staff token's subject); 403 ``staff_unknown`` if it is not one."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise StaffUnknown() from None


async def caller_actor(session: AsyncSession, principal: Caller, permissions: Iterable[str]) -> CaseActor:
    """The calling member as the engine checks him (a view's ``principal`` and ``permissions``):
    :func:`staff_actor` of the token's subject."""
    return await staff_actor(session, caller_staff_id(principal), permissions)


async def staff_actor(session: AsyncSession, staff_id: uuid.UUID, permissions: Iterable[str]) -> CaseActor:
    """A member of staff of the session's LAO, with ``permissions`` and their place in the structure.

    A member of another LAO, or one who is disabled, has no unit here and no permission.
    """
    ref = await org.staff_ref(session, staff_id)
    if ref is None or ref.status == "disabled":
        return CaseActor(kind="staff", id=staff_id)
    units: tuple[uuid.UUID, ...] = ()
    if ref.unit is not None:
        units = tuple(unit.id for unit in await org.unit_path(session, ref.unit.id))
    return CaseActor(kind="staff", id=staff_id, permissions=frozenset(permissions), unit_ids=units)


def refusal(
    action: Action,
    actor: CaseActor,
    *,
    applicant_citizen_id: uuid.UUID | None,
    assigned_unit_id: uuid.UUID | None,
) -> str | None:
    """Why ``actor`` may not take ``action`` on a case (None: they may). A stable reason code."""
    if actor.kind == "system":
        return None if action.system else "not_for_system"
    if actor.kind == "citizen":
        if not action.applicant:
            return "not_for_citizens"
        return None if actor.id is not None and actor.id == applicant_citizen_id else "not_the_applicant"
    if not action.staff:
        return "not_for_staff"
    if action.permissions and not actor.permissions & set(action.permissions):
        return "missing_permission"
    if action.within_unit and (assigned_unit_id is None or assigned_unit_id not in actor.unit_ids):
        return "not_of_the_assigned_unit"
    return None
