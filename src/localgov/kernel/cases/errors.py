"""What the case engine refuses, each with a stable code (``docs/kernel/cases.md`` lists them)."""

from __future__ import annotations

from localgov.kernel.errors import Conflict, DomainError, NotFound


class CaseNotFound(NotFound):
    code = "case_not_found"
    title = "ไม่พบเรื่อง / No such case"


class CaseVersionConflict(Conflict):
    """Someone changed the case since the caller read it (two officers acting at once: one wins)."""

    code = "case_version_conflict"
    title = "เรื่องนี้ถูกดำเนินการไปแล้วโดยผู้อื่น โปรดโหลดใหม่ / Someone else changed this case; reload it"


class ActionUnavailable(Conflict):
    """The action is not one the case's current state offers (or not an action of its type at all)."""

    code = "case_action_unavailable"
    title = "ไม่สามารถดำเนินการนี้ในสถานะปัจจุบันของเรื่อง / This action is not available in the case's state"


class ActionForbidden(DomainError):
    """The actor may not take the action (no permission for it, not of the unit, not the applicant)."""

    code = "case_action_forbidden"
    status = 403
    title = "ท่านไม่มีสิทธิ์ดำเนินการนี้กับเรื่องนี้ / You may not take this action on this case"


class CommentRequired(DomainError):
    code = "case_comment_required"
    status = 422
    title = "ต้องระบุเหตุผลประกอบการดำเนินการนี้ / This action needs a comment (the reason)"


class DocumentsMissing(DomainError):
    code = "case_documents_missing"
    status = 422
    title = "เอกสารที่ต้องใช้ยังไม่ครบ / Documents required for the next step are missing"


class InvalidCaseInput(DomainError):
    code = "case_invalid"
    status = 400
    title = "ข้อมูลของเรื่องไม่ถูกต้อง / The case's data is not valid"


class TrackingNumberTaken(Conflict):
    code = "case_tracking_number_taken"
    title = "เลขติดตามเรื่องนี้ถูกใช้แล้ว / Another case has this tracking number"


class AssigneeInvalid(DomainError):
    """The unit or member to assign does not exist in the LAO, is inactive or disabled, or the
    member is not of the unit."""

    code = "case_assignee_invalid"
    status = 409
    title = "ไม่สามารถมอบหมายให้หน่วยงานหรือเจ้าหน้าที่นี้ได้ / Cannot assign to this unit or member"


class UnknownCaseType(NotFound):
    code = "case_type_not_found"
    title = "ไม่พบประเภทเรื่องนี้ / No such case type"
