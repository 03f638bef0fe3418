"""The One Stop Service's kind of case, as data for the kernel's case engine (``kernel.cases``).

:data:`REQUEST` (``oss.request``) is a general request under the Licensing Facilitation Act
B.E. 2558 (พ.ร.บ.การอำนวยความสะดวกในการพิจารณาอนุญาตของทางราชการ) for one service of the LAO's
catalogue::

    received ──start_check──▶ checking ──accept──▶ considering ──approve──▶ approved
                                │  ▲                     └──────refuse──▶ refused
                 record_deficiency  supply / supply_at_counter
                                ▼  │
                              deficient ──expire (deadline passed, the platform's timer)──▶ returned

    withdraw (the applicant online) / withdraw_at_counter (staff, for a walk-in): from any open
    state ──▶ withdrawn

* ``received`` (1 working day): the request is on file, nobody has looked at it yet (an online
  request); a walk-in's check starts at the counter at once;
* ``checking`` (1 working day): the officer checks the application and documents against the
  manual. What cannot be fixed on the spot goes on a deficiency record (บันทึกความบกพร่อง,
  ``deficiency.py``): the case waits in ``deficient`` and **the clock stops** (the legal time runs
  from a complete application); the applicant supplies the items and the check resumes, or the
  record's deadline passes and the platform returns the request (``returned``);
* ``considering``: the authority decides; the time of the case as a whole is the total time of the
  manual of the service (``cases.sla_days``, given when the case is opened), so this state has no
  limit of its own (the LAO may set one, as for every open state: ``case_type_settings``);
* ``approved`` / ``refused`` are the decision (``decided_at``); a refusal must cite items of a
  deficiency record of the case or state a legal ground (``cases.refuse_check``).

The manual's steps are free text per service (title, time, unit): they do not map onto the
engine's states, so the manual gives the overall time only. Permits and food certificates will
be case types of their own, on the same engine.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from localgov.kernel.cases import Action, CaseType, State, states_of, types_of

#: See the LAO's cases, inboxes, attachments and comments; comment.
CASE_READ = "oss.case.read"
#: Walk-in intake, checking, deficiency records, accepting a request for consideration, attachments.
CASE_INTAKE = "oss.case.intake"
#: Assign cases to units and staff; read another member's inbox.
CASE_ASSIGN = "oss.case.assign"
#: Decide: approve or refuse.
CASE_DECIDE = "oss.case.decide"

RECEIVED = "received"
CHECKING = "checking"
DEFICIENT = "deficient"
CONSIDERING = "considering"
APPROVED = "approved"
REFUSED = "refused"
RETURNED = "returned"
WITHDRAWN = "withdrawn"
OPEN_STATES = (RECEIVED, CHECKING, DEFICIENT, CONSIDERING)

REQUEST = CaseType(
    code="oss.request",
    title_th="คำขอตาม พ.ร.บ.การอำนวยความสะดวกในการพิจารณาอนุญาตของทางราชการ",
    title_en="Request under the Licensing Facilitation Act",
    initial=RECEIVED,
    states=(
        State(code=RECEIVED, title_th="รับคำขอแล้ว", title_en="Received", sla_days=1),
        State(code=CHECKING, title_th="ตรวจสอบคำขอและเอกสาร", title_en="Checking the application", sla_days=1),
        State(
            code=DEFICIENT,
            title_th="รอแก้ไขความบกพร่อง",
            title_en="Awaiting the missing items",
            pauses_clock=True,
        ),
        State(code=CONSIDERING, title_th="อยู่ระหว่างพิจารณา", title_en="Under consideration"),
        State(code=APPROVED, title_th="อนุญาต / ดำเนินการแล้วเสร็จ", title_en="Approved", terminal=True, decision=True),
        State(code=REFUSED, title_th="ไม่อนุญาต", title_en="Refused", terminal=True, decision=True),
        State(code=RETURNED, title_th="คืนคำขอ", title_en="Returned", terminal=True),
        State(code=WITHDRAWN, title_th="ถอนคำขอ", title_en="Withdrawn", terminal=True),
    ),
    actions=(
        Action(
            code="start_check",
            title_th="เริ่มตรวจสอบคำขอ",
            title_en="Start checking",
            from_states=(RECEIVED,),
            to_state=CHECKING,
            permissions=(CASE_INTAKE,),
        ),
        Action(
            code="record_deficiency",
            title_th="จัดทำบันทึกความบกพร่อง",
            title_en="Record the deficiencies",
            from_states=(CHECKING,),
            to_state=DEFICIENT,
            permissions=(CASE_INTAKE,),
        ),
        Action(
            code="supply",
            title_th="ยื่นเอกสาร/แก้ไขตามบันทึกความบกพร่อง",
            title_en="Supply the missing items",
            from_states=(DEFICIENT,),
            to_state=CHECKING,
            applicant=True,
        ),
        Action(
            code="supply_at_counter",
            title_th="รับเอกสาร/การแก้ไขตามบันทึกความบกพร่องที่จุดบริการ",
            title_en="Missing items supplied at the counter",
            from_states=(DEFICIENT,),
            to_state=CHECKING,
            permissions=(CASE_INTAKE,),
        ),
        Action(
            code="expire",
            title_th="คืนคำขอเนื่องจากพ้นกำหนดแก้ไข",
            title_en="Returned: the deadline for the missing items passed",
            from_states=(DEFICIENT,),
            to_state=RETURNED,
            system=True,
        ),
        Action(
            code="accept",
            title_th="รับคำขอไว้พิจารณา",
            title_en="Accept for consideration",
            from_states=(CHECKING,),
            to_state=CONSIDERING,
            permissions=(CASE_INTAKE,),
        ),
        Action(
            code="approve",
            title_th="อนุญาต",
            title_en="Approve",
            from_states=(CONSIDERING,),
            to_state=APPROVED,
            permissions=(CASE_DECIDE,),
        ),
        Action(
            code="refuse",
            title_th="ไม่อนุญาต",
            title_en="Refuse",
            from_states=(CONSIDERING,),
            to_state=REFUSED,
            permissions=(CASE_DECIDE,),
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
            title_th="ผู้ยื่นคำขอแจ้งถอนคำขอที่จุดบริการ",
            title_en="Withdrawn at the counter",
            from_states=OPEN_STATES,
            to_state=WITHDRAWN,
            permissions=(CASE_INTAKE,),
            comment_required=True,
        ),
    ),
)

#: The case types of the plugin (registered with the engine by the composition root).
CASE_TYPES = (REQUEST,)
#: A request's type and state as API fields: the documents list REQUEST's codes as their enums.
RequestType = Annotated[str, msgspec.Meta(extra_json_schema=types_of(*CASE_TYPES))]
RequestState = Annotated[str, msgspec.Meta(extra_json_schema=states_of(*CASE_TYPES))]
#: A state an LAO gives a time limit and a default assignee: one of :data:`OPEN_STATES` (another
#: is refused by the engine, 400 ``case_invalid``).
OpenState = Annotated[
    str,
    msgspec.Meta(
        max_length=60, pattern=r"^[a-z][a-z0-9_]{0,59}$", extra_json_schema={"extra": {"enum": list(OPEN_STATES)}}
    ),
]

#: Actions with an endpoint of their own (a deficiency record is made or closed with them): the
#: generic action endpoint refuses them and names the endpoint.
OWN_ENDPOINT = {
    "record_deficiency": "POST /v1/oss/cases/{case_id}/deficiencies",
    "supply_at_counter": "POST /v1/oss/cases/{case_id}/deficiencies/{record_id}/supplied",
    "supply": "POST /v1/oss/me/cases/{case_id}/deficiencies/{record_id}/supplied",
}

#: Steps whose comment the applicant reads in his history (the reasons given to him, his own); the
#: comments of the office's own steps (the officer's note at intake, checking, accepting) stay internal.
APPLICANT_COMMENTS = frozenset(
    {
        "record_deficiency",
        "supply",
        "supply_at_counter",
        "expire",
        "approve",
        "refuse",
        "withdraw",
        "withdraw_at_counter",
    }
)
