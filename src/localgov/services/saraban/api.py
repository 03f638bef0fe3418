"""What other services (and saraban2's PDF, signing, search and exchange pieces) may use of
e-Saraban: the letter as read, the secrecy filter, the attachment owner, the event it publishes."""

from __future__ import annotations

import uuid

from localgov.kernel.storage import FileOwner
from localgov.services.saraban.letters import (
    LETTER_ISSUED,
    LetterIssued,
    Viewer,
    audit_secret_access,
    letter_data,
    letter_view,
    visible_clause,
)
from localgov.services.saraban.schemas import LetterRead

#: The owner kind of a letter's files in kernel.storage.
ATTACHMENT_OWNER = "saraban.letter"


def attachment_owner(letter_id: uuid.UUID) -> FileOwner:
    """The kernel.storage owner of a letter's main document and enclosures."""
    return FileOwner(ATTACHMENT_OWNER, str(letter_id))


__all__ = [
    "ATTACHMENT_OWNER",
    "LETTER_ISSUED",
    "LetterIssued",
    "LetterRead",
    "Viewer",
    "attachment_owner",
    "audit_secret_access",
    "letter_data",
    "letter_view",
    "visible_clause",
]
