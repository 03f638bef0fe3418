"""The case engine's tables, in every tenant schema (core tables: any service's cases live here).

Indexes are few on purpose: each is one more relation in each of thousands of schemas. The
inboxes read open cases only, so their indexes are partial (``WHERE closed_at IS NULL``): a
closed case costs them nothing, however many years of cases an LAO keeps.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.cases.actors import ActorKind
from localgov.kernel.db import TenantBase

_OPEN = text("closed_at IS NULL")


class CaseRecord(TenantBase):
    """One case (เรื่อง / คำขอ): its type, where it is in its workflow, its deadlines, its own data."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("sla_days IS NULL OR sla_days BETWEEN 1 AND 2600", name="sla_days"),
        Index("uq_cases_tracking_number", "tracking_number", unique=True),
        # Inboxes: open cases of a unit, of a person, in given states; oldest arrival first.
        Index("ix_cases_open_unit", "assigned_unit_id", "state_entered_at", "id", postgresql_where=_OPEN),
        Index("ix_cases_open_staff", "assigned_staff_id", "state_entered_at", "id", postgresql_where=_OPEN),
        Index("ix_cases_open_state", "case_type", "state", "state_entered_at", "id", postgresql_where=_OPEN),
        # SLA sweeps: the earlier of the two deadlines of each open case.
        Index("ix_cases_open_due", text("least(state_due_at, due_at)"), postgresql_where=_OPEN),
        # Decisions by time: the result notices of recent decisions (services' sweeps).
        Index("ix_cases_decided", "decided_at", postgresql_where=text("decided_at IS NOT NULL")),
        # A citizen's own cases.
        Index(
            "ix_cases_applicant",
            "applicant_citizen_id",
            "opened_at",
            postgresql_where=text("applicant_citizen_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: The :class:`~localgov.kernel.cases.workflow.CaseType` code (``<slug>.<name>``).
    case_type: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(60))
    #: Optimistic concurrency: every change adds one; a change made against an older version is refused.
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    #: The number the applicant follows the case by (the service numbers it; unique in the LAO).
    tracking_number: Mapped[str | None] = mapped_column(String(40))
    #: The citizen account that applied (None: a walk-in at the counter, or an applicant without one).
    applicant_citizen_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    applicant_name: Mapped[str] = mapped_column(Text)
    assigned_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("units.id", ondelete="SET NULL")
    )
    assigned_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state_entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: When the case is late in its current state (None: the state has no limit).
    state_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the case is late overall (None: no overall limit, or the clock is paused).
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: This case's own overall time limit in working days, given when it was opened (One Stop Service:
    #: the total time of the service's manual); None: the case type's (or the LAO's setting of it).
    sla_days: Mapped[int | None] = mapped_column(SmallInteger)
    #: Working days spent in states that pause the clock (added to the overall time).
    paused_days: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    #: When it first entered a decision state.
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: When it entered a terminal state (None: the case is open).
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The case type's own fields (the service's, validated by it).
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseTransitionRecord(TenantBase):
    """One step of a case's history: who did what, when, from which state to which, and why."""

    __tablename__ = "case_transitions"
    __table_args__ = (
        PrimaryKeyConstraint("case_id", "seq"),
        CheckConstraint("actor_kind IN ('staff', 'citizen', 'system')", name="actor_kind"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    #: 1 for the opening, then one more per action.
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    #: None for the opening.
    from_state: Mapped[str | None] = mapped_column(String(60))
    to_state: Mapped[str] = mapped_column(String(60))
    actor_kind: Mapped[ActorKind] = mapped_column(String(16))
    #: The member of staff or the citizen (None for the system).
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)


class CaseTypeSetting(TenantBase):
    """The LAO's own settings of a case type: time limits and default assignees, per state.

    ``state`` is a state's code, or ``''`` for the case type as a whole (its overall time limit).
    """

    __tablename__ = "case_type_settings"
    __table_args__ = (
        PrimaryKeyConstraint("case_type", "state"),
        CheckConstraint("sla_days IS NULL OR sla_days BETWEEN 1 AND 2600", name="sla_days"),
        CheckConstraint(
            "state <> '' OR (assignee_unit_id IS NULL AND assignee_staff_id IS NULL)", name="overall_no_assignee"
        ),
    )

    case_type: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(60))
    #: Replaces the workflow's ``sla_days`` (None: the workflow's).
    sla_days: Mapped[int | None] = mapped_column(SmallInteger)
    #: A case entering this state is assigned to this unit and/or member (None: left as it is).
    assignee_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("units.id", ondelete="SET NULL")
    )
    assignee_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
