"""An application as the endpoints show it (staff and the applicant alike), from one read of the
application (``applications.APPLICATION``: its files, extensions and permit in one statement) and
one of its case."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec

from localgov.kernel import cases as engine
from localgov.kernel import documents
from localgov.kernel.reads import Reader, Row
from localgov.kernel.tenancy import TenantInfo
from localgov.services.permits.applications import UnknownAreaType, eligibility_of, form_of, form_problems
from localgov.services.permits.config import PermitConfig
from localgov.services.permits.params import application_path
from localgov.services.permits.schemas import (
    ApplicationRead,
    ApplicationSummary,
    ChecklistItem,
    EligibilityRead,
    ExtensionRead,
    FileRead,
    PermitRead,
    StepRead,
)
from localgov.services.permits.workflow import BUILDING
from localgov.settings import Settings

#: Steps whose comment the applicant reads in his history (what is missing, the appointment, the
#: decision's reasons, his own); the office's own notes (plan review, fees) stay internal.
APPLICANT_COMMENTS = frozenset(
    {
        "request_documents",
        "resubmit",
        "resubmit_at_counter",
        "schedule_inspection",
        "record_inspection",
        "approve",
        "refuse",
        "withdraw",
        "withdraw_at_counter",
    }
)


def register_entry(row: Row) -> documents.IssuedDocument | None:
    """The permit's register entry as the statement read it (for its QR stamp and public status)."""
    if row["doc_serial"] is None:
        return None
    return documents.IssuedDocument(
        serial=row["doc_serial"],
        status=row["doc_status"],
        valid_from=row["doc_valid_from"],
        valid_until=row["doc_valid_until"],
    )


def permit_read(row: Row, settings: Settings, tenant: TenantInfo) -> PermitRead | None:
    entry = register_entry(row)
    if entry is None or row["permit_number"] is None:
        return None
    return PermitRead(
        number=row["permit_number"],
        issued_at=row["permit_issued_at"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        status=documents.public_status(entry),
        renewals=row["renewals"],
        verification_url=documents.qr_stamp(settings, tenant, entry).url,
        revoked_at=row["revoked_at"],
        revoke_reason=row["revoke_reason"],
    )


def eligibility_read(config: PermitConfig, form: Any) -> EligibilityRead | None:
    found = eligibility_of(config, form)
    if found is None:
        return None
    area_type, result = found
    return EligibilityRead(area_type=area_type, **msgspec.structs.asdict(result))


async def application_read(
    reader: Reader, row: Row, *, config: PermitConfig, settings: Settings, tenant: TenantInfo, mine: bool
) -> ApplicationRead:
    form = form_of(row["answers"])
    try:
        eligibility = eligibility_read(config, form)
    except UnknownAreaType:  # an area type the LAO removed since the draft was saved
        eligibility = None
    files = [
        FileRead(
            id=uuid.UUID(f["id"]),
            document_code=f["document_code"],
            filename=f["filename"],
            media_type=f["content_type"],
            size=f["size_bytes"],
            sha256=f["sha256"],
            uploaded_at=dt.datetime.fromisoformat(f["created_at"]),
            download_path=f"{application_path(row['id'], mine=mine)}/files/{f['id']}",
        )
        for f in row["files"]
    ]
    on_file = {f.document_code for f in files}
    checklist = [
        ChecklistItem(code=d.code, name_th=d.name_th, name_en=d.name_en, on_file=d.code in on_file)
        for d in (eligibility.documents if eligibility else [])
    ]
    out = ApplicationRead(
        id=row["id"],
        status=row["status"],
        channel=row["channel"],
        version=row["version"],
        form=form,
        created_at=row["created_at"],
        missing=form_problems(form),
        eligibility=eligibility,
        checklist=checklist,
        files=files,
        tracking_number=row["tracking_number"],
        submitted_at=row["submitted_at"],
        case_id=row["case_id"],
        complete_on=row["complete_on"],
        decision_due_on=row["decision_due_on"],
        extensions=[
            ExtensionRead(
                seq=e["seq"],
                days=e["days"],
                reason_th=e["reason_th"],
                previous_due_on=dt.date.fromisoformat(e["previous_due_on"]),
                due_on=dt.date.fromisoformat(e["due_on"]),
                granted_at=dt.datetime.fromisoformat(e["granted_at"]),
            )
            for e in row["extensions"]
        ],
        inspection_at=row["inspection_at"],
        inspection_place_th=row["inspection_place_th"],
        inspection_passed=row["inspection_passed"],
        inspection_note=row["inspection_note"],
        fee_total=Decimal(row["fee_total"]) if row["fee_total"] is not None else None,
        bill_reference=row["bill_reference"],
        paid_at=row["paid_at"],
        receipt_number=row["receipt_number"],
        permit=permit_read(row, settings, tenant),
    )
    if row["case_id"] is not None:
        case = await engine.get_case(reader, row["case_id"])
        out.state = case.state
        out.state_title_th = BUILDING.state(case.state).title_th
        out.case_version = case.version
        out.history = [
            StepRead(
                seq=t.seq,
                action=t.action,
                from_state=t.from_state,
                to_state=t.to_state,
                actor_kind=t.actor_kind,
                at=t.at,
                comment=t.comment if not mine or t.action in APPLICANT_COMMENTS else None,
            )
            for t in case.history
        ]
    return out


def summary_read(row: Row) -> ApplicationSummary:
    return ApplicationSummary(**{name: row[name] for name in ApplicationSummary.__struct_fields__})
