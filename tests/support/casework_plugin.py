"""A test-only plugin with one case type: a small permit application on the kernel's case engine.

Written against the kernel alone. Its workflow uses every rule the engine knows::

    submitted ──accept (clerk)──────────────▶ review ──recommend (engineer, of the assigned unit)──▶ decision
        │  ▲                                    │                                                  │ approve / refuse
        │  └──resubmit (applicant)── awaiting_applicant (pauses the clock) ──expire (system)──▶ returned
        └──request_documents (clerk, comment)──┘                                                   ▼
    submitted / review ──withdraw (applicant)──▶ withdrawn                        approved / refused (decisions)

Time limits: submitted 1 working day, review 5, decision 2, awaiting the applicant 7; overall 10.
"""

from __future__ import annotations

from litestar import Router

from localgov.kernel.cases import Action, CaseType, State
from localgov.kernel.plugins import Role, ServicePlugin

INTAKE = "casework.intake"
REVIEW = "casework.review"
DECIDE = "casework.decide"

PERMIT = CaseType(
    code="casework.permit",
    title_th="คำขออนุญาตทดสอบ",
    title_en="Test permit application",
    initial="submitted",
    sla_days=10,
    states=(
        State(
            code="submitted",
            title_th="ยื่นคำขอ",
            title_en="Submitted",
            sla_days=1,
            required_documents=("application_form",),
        ),
        State(
            code="awaiting_applicant",
            title_th="รอเอกสารเพิ่มเติมจากผู้ยื่นคำขอ",
            title_en="Awaiting the applicant",
            sla_days=7,
            pauses_clock=True,
        ),
        State(
            code="review",
            title_th="พิจารณา",
            title_en="Under review",
            sla_days=5,
            required_documents=("application_form", "site_plan"),
        ),
        State(code="decision", title_th="รอผู้มีอำนาจอนุญาต", title_en="Awaiting the decision", sla_days=2),
        State(code="approved", title_th="อนุญาต", title_en="Approved", terminal=True, decision=True),
        State(code="refused", title_th="ไม่อนุญาต", title_en="Refused", terminal=True, decision=True),
        State(code="returned", title_th="คืนคำขอ", title_en="Returned", terminal=True),
        State(code="withdrawn", title_th="ถอนคำขอ", title_en="Withdrawn", terminal=True),
    ),
    actions=(
        Action(
            code="accept",
            title_th="รับคำขอ",
            title_en="Accept",
            from_states=("submitted",),
            to_state="review",
            permissions=(INTAKE,),
        ),
        Action(
            code="request_documents",
            title_th="แจ้งเอกสารที่ขาด",
            title_en="Request missing documents",
            from_states=("submitted",),
            to_state="awaiting_applicant",
            permissions=(INTAKE,),
            comment_required=True,
        ),
        Action(
            code="resubmit",
            title_th="ยื่นเอกสารเพิ่มเติม",
            title_en="Resubmit",
            from_states=("awaiting_applicant",),
            to_state="submitted",
            applicant=True,
        ),
        Action(
            code="expire",
            title_th="ครบกำหนดแล้วไม่ยื่นเอกสาร",
            title_en="Deadline passed",
            from_states=("awaiting_applicant",),
            to_state="returned",
            system=True,
        ),
        Action(
            code="recommend",
            title_th="เสนอความเห็น",
            title_en="Recommend",
            from_states=("review",),
            to_state="decision",
            permissions=(REVIEW,),
            within_unit=True,
        ),
        Action(
            code="approve",
            title_th="อนุญาต",
            title_en="Approve",
            from_states=("decision",),
            to_state="approved",
            permissions=(DECIDE,),
        ),
        Action(
            code="refuse",
            title_th="ไม่อนุญาต",
            title_en="Refuse",
            from_states=("decision",),
            to_state="refused",
            permissions=(DECIDE,),
            comment_required=True,
        ),
        Action(
            code="withdraw",
            title_th="ถอนคำขอ",
            title_en="Withdraw",
            from_states=("submitted", "review"),
            to_state="withdrawn",
            applicant=True,
        ),
    ),
)

CASEWORK = ServicePlugin(
    slug="casework",
    title_th="งานคำขอทดสอบ",
    title_en="Test casework",
    router=Router(path="/v1/casework", route_handlers=[]),
    roles=(
        Role(code="casework.clerk", title_th="เจ้าหน้าที่รับคำขอ", title_en="Intake clerk", permissions=(INTAKE,)),
        Role(code="casework.engineer", title_th="นายช่าง", title_en="Engineer", permissions=(REVIEW,)),
        Role(code="casework.chief", title_th="ผู้มีอำนาจอนุญาต", title_en="Licensing officer", permissions=(DECIDE,)),
    ),
    case_types=(PERMIT,),
)
