"""Rules for text that people type, shared by every service."""

from __future__ import annotations

import re

from localgov.kernel.errors import DomainError

#: One line of text, not blank, without control characters (PostgreSQL refuses NUL in text).
ONE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
_ONE_LINE_RE = re.compile(ONE_LINE)


def is_one_line(value: str) -> bool:
    """``value`` is a non-blank line without control characters."""
    return _ONE_LINE_RE.fullmatch(value) is not None


#: What an address must look like (lower-cased before it is stored): no spaces, quotes or commas.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_EMAIL_RE = re.compile(EMAIL_PATTERN)


class InvalidEmail(DomainError):
    code = "invalid_email"
    status = 400
    title = "อีเมลไม่ถูกต้อง / Not a valid e-mail address"


def normalise_email(raw: str) -> str:
    """``raw`` trimmed and lower-cased, or 400 ``invalid_email`` when it is not an address."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL_RE.fullmatch(email):
        raise InvalidEmail(data={"email": raw[:254]})
    return email
