"""The refusals of the e-Saraban service: stable codes, Thai and English titles."""

from __future__ import annotations

from localgov.kernel.errors import Conflict, DomainError, NotFound


class LetterNotFound(NotFound):
    code = "saraban_letter_not_found"
    title = "ไม่พบหนังสือ / Letter not found"


class RouteNotFound(NotFound):
    code = "saraban_route_not_found"
    title = "ไม่พบรายการสั่งการ / Routing not found"


class UnitNotFound(NotFound):
    code = "saraban_unit_not_found"
    title = "ไม่พบหน่วยงาน / Unit not found"


class IssuingUnitNotFound(NotFound):
    code = "saraban_issuing_unit_not_found"
    title = "ไม่พบหน่วยงานออกเลข / Issuing unit not found"


class AgencyNotFound(NotFound):
    code = "saraban_agency_not_found"
    title = "ไม่พบหน่วยงานผู้รับ / Agency not found"


class DestructionListNotFound(NotFound):
    code = "saraban_destruction_list_not_found"
    title = "ไม่พบบัญชีหนังสือขอทำลาย / Destruction list not found"


class VersionConflict(Conflict):
    code = "saraban_version_conflict"
    title = "หนังสือถูกแก้ไขโดยผู้อื่นแล้ว / The letter was changed by someone else"


class WrongStatus(Conflict):
    code = "saraban_wrong_status"
    title = "สถานะของหนังสือไม่อนุญาตให้ทำรายการนี้ / Not allowed in the letter's status"


class InvalidLetter(DomainError):
    code = "saraban_invalid_letter"
    status = 422
    title = "ข้อมูลหนังสือไม่ถูกต้อง / Invalid letter"


class InvalidRecipient(DomainError):
    code = "saraban_invalid_recipient"
    status = 422
    title = "ผู้รับหนังสือไม่ถูกต้อง / Invalid addressee"


class NotTheSigner(DomainError):
    code = "saraban_not_the_signer"
    status = 403
    title = "ผู้อนุมัติต้องเป็นผู้ลงนามในหนังสือ / Only the letter's signer may approve it"


class NotAllowed(DomainError):
    code = "saraban_not_allowed"
    status = 403
    title = "ไม่มีสิทธิ์ทำรายการนี้ / Not allowed"


class DestructionListTooEarly(DomainError):
    code = "saraban_destruction_list_year_open"
    status = 422
    title = "ปีปฏิทินยังไม่สิ้นสุด / The calendar year has not ended"


class DestructionListExists(Conflict):
    code = "saraban_destruction_list_exists"
    title = "มีบัญชีหนังสือขอทำลายของปีนี้แล้ว / The year already has a destruction list"


class AgencyExists(Conflict):
    code = "saraban_agency_exists"
    title = "รหัสหน่วยงานนี้มีอยู่แล้ว / An agency with this code exists"
