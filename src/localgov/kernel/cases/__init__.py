"""The case engine (ระบบงานคำขอ): any service's cases run through one workflow machine.

A service declares its kinds of case as data (:class:`CaseType`: states, actions, who may take
them, documents, working-day time limits) on its plugin (``ServicePlugin.case_types``); the
platform registers them at start (:func:`register_case_types`). The service then opens cases
(:func:`open_case`), acts on them (:func:`act`, optimistic concurrency by version), assigns them
(:func:`assign`), and reads them (:func:`get_case`, the inboxes, :func:`overdue`). Each LAO sets
its own time limits and default assignees per state (:func:`set_case_type_setting`) and its own
days off (:mod:`localgov.kernel.calendar`). See ``docs/kernel/cases.md``.
"""

from __future__ import annotations

from localgov.kernel.cases.actors import (
    SYSTEM,
    ActorKind,
    CaseActor,
    StaffUnknown,
    caller_actor,
    caller_staff_id,
    citizen_actor,
    staff_actor,
)
from localgov.kernel.cases.codes import CaseStateCode, CaseTypeCode, states_of, types_of
from localgov.kernel.cases.engine import act, assign, open_case
from localgov.kernel.cases.errors import (
    ActionForbidden,
    ActionUnavailable,
    AssigneeInvalid,
    CaseNotFound,
    CaseVersionConflict,
    CommentRequired,
    DocumentsMissing,
    InvalidCaseInput,
    TrackingNumberTaken,
    UnknownCaseType,
)
from localgov.kernel.cases.models import CaseRecord, CaseTransitionRecord, CaseTypeSetting
from localgov.kernel.cases.overrides import StateSetting, case_type_settings, set_case_type_setting
from localgov.kernel.cases.queries import (
    Case,
    CaseSummary,
    CaseTransition,
    applicant_cases,
    available_actions,
    get_case,
    inbox_by_permission,
    inbox_by_staff,
    inbox_by_unit,
    overdue,
)
from localgov.kernel.cases.registry import get_case_type, register_case_types, registered_case_types
from localgov.kernel.cases.workflow import Action, CaseType, State, WorkflowError, workflow_problems

__all__ = [
    "SYSTEM",
    "Action",
    "ActionForbidden",
    "ActionUnavailable",
    "ActorKind",
    "AssigneeInvalid",
    "Case",
    "CaseActor",
    "CaseNotFound",
    "CaseRecord",
    "CaseStateCode",
    "CaseSummary",
    "CaseTransition",
    "CaseTransitionRecord",
    "CaseType",
    "CaseTypeCode",
    "CaseTypeSetting",
    "CaseVersionConflict",
    "CommentRequired",
    "DocumentsMissing",
    "InvalidCaseInput",
    "StaffUnknown",
    "State",
    "StateSetting",
    "TrackingNumberTaken",
    "UnknownCaseType",
    "WorkflowError",
    "act",
    "applicant_cases",
    "assign",
    "available_actions",
    "caller_actor",
    "caller_staff_id",
    "case_type_settings",
    "citizen_actor",
    "get_case",
    "get_case_type",
    "inbox_by_permission",
    "inbox_by_staff",
    "inbox_by_unit",
    "open_case",
    "overdue",
    "register_case_types",
    "registered_case_types",
    "set_case_type_setting",
    "staff_actor",
    "states_of",
    "types_of",
    "workflow_problems",
]
