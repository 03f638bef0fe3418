"""The building permit as a case type of the kernel's case engine (``kernel.cases``).

:data:`BUILDING` (``permits.building``)::

    submitted ──accept_documents──▶ plan_review ──approve_plans──▶ site_inspection ──record_inspection──▶
      │  ▲                                                         (schedule_inspection: itself)
      │  resubmit / resubmit_at_counter                fee_assessment ──assess_fees──▶ decision ──approve──▶ approved
    request_documents                                                                       └──refuse──▶ refused
      ▼  │                                   refuse: from plan_review, site_inspection, fee_assessment, decision
    awaiting_applicant (the clock is paused: the legal time runs from a complete application)

    withdraw (the applicant) / withdraw_at_counter (staff): from every open state ──▶ withdrawn

The engine times each state in working days (the LAO may change them: ``case_type_settings``);
the legal time of the decision (45 working days from a complete application, at most two
extensions) is the service's own (``deadlines.py``, ``permits_extensions``): an extension changes
it, not the engine's overall limit, so the case type has none.

``approved`` is the decision; the permit อ.1 itself is issued when the fee is paid (or on approval
when the LAO issues before payment), renewed and revoked outside the workflow (``permits.py``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from localgov.kernel.cases import Action, CaseType, State, states_of

READ = "permits.read"
INTAKE = "permits.intake"
REVIEW = "permits.review"
INSPECT = "permits.inspect"
ASSESS = "permits.assess"
DECIDE = "permits.decide"
MANAGE = "permits.manage"

SUBMITTED = "submitted"
AWAITING = "awaiting_applicant"
PLAN_REVIEW = "plan_review"
SITE_INSPECTION = "site_inspection"
FEE_ASSESSMENT = "fee_assessment"
DECISION = "decision"
APPROVED = "approved"
REFUSED = "refused"
WITHDRAWN = "withdrawn"
OPEN_STATES = (SUBMITTED, AWAITING, PLAN_REVIEW, SITE_INSPECTION, FEE_ASSESSMENT, DECISION)
#: States the legal clock runs in (after the documents were found complete).
RUNNING_STATES = (PLAN_REVIEW, SITE_INSPECTION, FEE_ASSESSMENT, DECISION)

BUILDING = CaseType(
    code="permits.building",
    title_th="ขออนุญาตก่อสร้าง ดัดแปลง รื้อถอน เคลื่อนย้าย หรือเปลี่ยนการใช้อาคาร (ไม่เกิน 150 ตารางเมตร)",
    title_en="Building permit (up to 150 m²)",
    initial=SUBMITTED,
    states=(
        State(code=SUBMITTED, title_th="ตรวจสอบเอกสาร", title_en="Document check", sla_days=1),
        State(
            code=AWAITING,
            title_th="รอผู้ขออนุญาตยื่นเอกสารเพิ่มเติม",
            title_en="Awaiting the applicant",
            sla_days=15,
            pauses_clock=True,
        ),
        State(code=PLAN_REVIEW, title_th="ตรวจพิจารณาแบบแปลน", title_en="Plan review", sla_days=15),
        State(code=SITE_INSPECTION, title_th="ตรวจสถานที่", title_en="Site inspection", sla_days=10),
        State(code=FEE_ASSESSMENT, title_th="ประเมินค่าธรรมเนียม", title_en="Fee assessment", sla_days=3),
        State(
            code=DECISION, title_th="เจ้าพนักงานท้องถิ่นพิจารณาอนุญาต", title_en="Decision by the local official", sla_days=10
        ),
        State(code=APPROVED, title_th="อนุญาต", title_en="Approved", terminal=True, decision=True),
        State(code=REFUSED, title_th="ไม่อนุญาต", title_en="Refused", terminal=True, decision=True),
        State(code=WITHDRAWN, title_th="ถอนคำขอ", title_en="Withdrawn", terminal=True),
    ),
    actions=(
        Action(
            code="accept_documents",
            title_th="เอกสารครบถ้วน รับคำขอไว้พิจารณา",
            title_en="Documents complete",
            from_states=(SUBMITTED,),
            to_state=PLAN_REVIEW,
            permissions=(INTAKE,),
        ),
        Action(
            code="request_documents",
            title_th="แจ้งให้ยื่นเอกสารเพิ่มเติม (บันทึกความบกพร่อง)",
            title_en="Request the missing documents",
            from_states=(SUBMITTED,),
            to_state=AWAITING,
            permissions=(INTAKE,),
            comment_required=True,
        ),
        Action(
            code="resubmit",
            title_th="ยื่นเอกสารเพิ่มเติม",
            title_en="Documents supplied",
            from_states=(AWAITING,),
            to_state=SUBMITTED,
            applicant=True,
        ),
        Action(
            code="resubmit_at_counter",
            title_th="รับเอกสารเพิ่มเติมที่จุดบริการ",
            title_en="Documents supplied at the counter",
            from_states=(AWAITING,),
            to_state=SUBMITTED,
            permissions=(INTAKE,),
        ),
        Action(
            code="approve_plans",
            title_th="แบบแปลนถูกต้อง ส่งตรวจสถานที่",
            title_en="Plans approved",
            from_states=(PLAN_REVIEW,),
            to_state=SITE_INSPECTION,
            permissions=(REVIEW,),
        ),
        Action(
            code="schedule_inspection",
            title_th="นัดตรวจสถานที่",
            title_en="Schedule the site inspection",
            from_states=(SITE_INSPECTION,),
            to_state=SITE_INSPECTION,
            permissions=(INSPECT,),
        ),
        Action(
            code="record_inspection",
            title_th="บันทึกผลการตรวจสถานที่",
            title_en="Record the site inspection",
            from_states=(SITE_INSPECTION,),
            to_state=FEE_ASSESSMENT,
            permissions=(INSPECT,),
        ),
        Action(
            code="assess_fees",
            title_th="ประเมินค่าธรรมเนียม",
            title_en="Assess the fees",
            from_states=(FEE_ASSESSMENT,),
            to_state=DECISION,
            permissions=(ASSESS,),
        ),
        Action(
            code="approve",
            title_th="อนุญาต",
            title_en="Approve",
            from_states=(DECISION,),
            to_state=APPROVED,
            permissions=(DECIDE,),
        ),
        Action(
            code="refuse",
            title_th="ไม่อนุญาต",
            title_en="Refuse",
            from_states=RUNNING_STATES,
            to_state=REFUSED,
            permissions=(DECIDE,),
            comment_required=True,
        ),
        Action(
            code="withdraw",
            title_th="ถอนคำขอ",
            title_en="Withdraw",
            from_states=OPEN_STATES,
            to_state=WITHDRAWN,
            applicant=True,
        ),
        Action(
            code="withdraw_at_counter",
            title_th="ผู้ขออนุญาตแจ้งถอนคำขอที่จุดบริการ",
            title_en="Withdrawn at the counter",
            from_states=OPEN_STATES,
            to_state=WITHDRAWN,
            permissions=(INTAKE,),
            comment_required=True,
        ),
    ),
)

CASE_TYPES = (BUILDING,)
#: An application's case state as an API field: the documents list the case type's states as its enum.
CaseState = Annotated[str, msgspec.Meta(extra_json_schema=states_of(*CASE_TYPES))]

#: Actions taken through an endpoint of their own (they carry more than a comment): the generic
#: action endpoint refuses them and names it.
OWN_ENDPOINT = {
    "schedule_inspection": "POST /v1/permits/applications/{id}/inspection",
    "record_inspection": "POST /v1/permits/applications/{id}/inspection/result",
    "assess_fees": "POST /v1/permits/applications/{id}/fees",
    "approve": "POST /v1/permits/applications/{id}/decision",
    "refuse": "POST /v1/permits/applications/{id}/decision",
    "resubmit": "POST /v1/permits/me/applications/{id}/resubmit",
    "withdraw": "POST /v1/permits/me/applications/{id}/withdraw",
}
