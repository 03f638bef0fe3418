"""The food service's kind of case, as data for the kernel's case engine (``kernel.cases``).

:data:`NOTIFICATION` (``food.notification``) is a notification of a food-sale or food-storage
place of at most 200 m² (Public Health Act B.E. 2535 s.48)::

    submitted ──certify (same day, documents complete)──▶ certified
        │  ▲
 request_documents  resubmit
        ▼  │
    awaiting_notifier (the clock stops)

    refuse (the authority, with a reason): submitted / awaiting_notifier ──▶ refused
    withdraw (at the notifier's request):   submitted / awaiting_notifier ──▶ withdrawn

* ``submitted`` (1 working day): a complete notification is acknowledged the day it is filed: the
  certificate (หนังสือรับรองการแจ้ง) is issued by ``certify``, which the engine allows only when
  the required documents are on file (422 ``case_documents_missing``);
* ``awaiting_notifier``: the OSS deficiency rule — the officer records what is missing (a comment)
  and the legal time stops until the notifier supplies it (``resubmit``);
* ``certified`` is the decision; ``refused`` needs the reason in the comment.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from localgov.kernel.cases import Action, CaseType, State, states_of

#: See notifications, certificates, fees, inspections.
READ = "food.read"
#: File notifications at the counter, attach documents, acknowledge (certify), record the holder's
#: transfer, change and cancellation.
INTAKE = "food.intake"
#: Inspect premises, record visits and photos.
INSPECT = "food.inspect"
#: Refuse a notification, revoke a certificate.
DECIDE = "food.decide"
#: Fee table, waivers, the annual fee run.
FINANCE = "food.finance"
#: The LAO's settings: checklist, register publication.
MANAGE = "food.manage"

SUBMITTED = "submitted"
AWAITING = "awaiting_notifier"
CERTIFIED = "certified"
REFUSED = "refused"
WITHDRAWN = "withdrawn"

#: The documents a complete notification has (codes of ``food_notification_files``).
REQUIRED_DOCUMENTS = ("id_copy", "site_plan")
#: Every document a notification may carry, with its Thai and English names.
DOCUMENTS: dict[str, tuple[str, str]] = {
    "id_copy": (
        "สำเนาบัตรประจำตัวประชาชนหรือหนังสือรับรองการจดทะเบียนนิติบุคคล",
        "Copy of the ID card or the juristic person's registration",
    ),
    "site_plan": ("แผนที่ตั้งและแผนผังสถานที่", "Location map and floor plan"),
    "house_registration": ("สำเนาทะเบียนบ้าน", "Copy of the house registration"),
    "power_of_attorney": ("หนังสือมอบอำนาจ", "Power of attorney"),
    "health_certificate": ("ใบรับรองแพทย์ของผู้สัมผัสอาหาร", "Food handlers' medical certificates"),
    "other": ("เอกสารอื่น ๆ", "Other document"),
}

NOTIFICATION = CaseType(
    code="food.notification",
    title_th="แจ้งจัดตั้งสถานที่จำหน่ายอาหารหรือสถานที่สะสมอาหาร",
    title_en="Notification of a food sale or storage place",
    initial=SUBMITTED,
    sla_days=1,
    states=(
        State(code=SUBMITTED, title_th="ยื่นแจ้งแล้ว", title_en="Submitted", sla_days=1),
        State(
            code=AWAITING,
            title_th="รอผู้แจ้งแก้ไขหรือส่งเอกสารเพิ่มเติม",
            title_en="Awaiting the notifier",
            sla_days=7,
            pauses_clock=True,
        ),
        State(
            code=CERTIFIED,
            title_th="ออกหนังสือรับรองการแจ้งแล้ว",
            title_en="Certificate issued",
            terminal=True,
            decision=True,
            required_documents=REQUIRED_DOCUMENTS,
        ),
        State(code=REFUSED, title_th="ไม่รับแจ้ง", title_en="Refused", terminal=True, decision=True),
        State(code=WITHDRAWN, title_th="ถอนการแจ้ง", title_en="Withdrawn", terminal=True),
    ),
    actions=(
        Action(
            code="certify",
            title_th="ออกหนังสือรับรองการแจ้ง",
            title_en="Issue the certificate",
            from_states=(SUBMITTED,),
            to_state=CERTIFIED,
            permissions=(INTAKE,),
        ),
        Action(
            code="request_documents",
            title_th="แจ้งให้แก้ไขหรือส่งเอกสารเพิ่มเติม",
            title_en="Request what is missing",
            from_states=(SUBMITTED,),
            to_state=AWAITING,
            permissions=(INTAKE,),
            comment_required=True,
        ),
        Action(
            code="resubmit",
            title_th="ผู้แจ้งส่งเอกสารเพิ่มเติมแล้ว",
            title_en="The notifier supplied what was missing",
            from_states=(AWAITING,),
            to_state=SUBMITTED,
            permissions=(INTAKE,),
        ),
        Action(
            code="refuse",
            title_th="ไม่รับแจ้ง",
            title_en="Refuse",
            from_states=(SUBMITTED, AWAITING),
            to_state=REFUSED,
            permissions=(DECIDE,),
            comment_required=True,
        ),
        Action(
            code="withdraw",
            title_th="ถอนการแจ้งตามคำขอของผู้แจ้ง",
            title_en="Withdraw at the notifier's request",
            from_states=(SUBMITTED, AWAITING),
            to_state=WITHDRAWN,
            permissions=(INTAKE,),
        ),
    ),
)

CASE_TYPES = (NOTIFICATION,)
#: A notification's case state as an API field: the documents list the case type's states as its enum.
CaseState = Annotated[str, msgspec.Meta(extra_json_schema=states_of(*CASE_TYPES))]
