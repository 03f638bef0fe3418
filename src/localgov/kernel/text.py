"""Rules for text that people type, shared by every service."""

from __future__ import annotations

import re

#: One line of text, not blank, without control characters (PostgreSQL refuses NUL in text).
ONE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
_ONE_LINE_RE = re.compile(ONE_LINE)


def is_one_line(value: str) -> bool:
    """``value`` is a non-blank line without control characters."""
    return _ONE_LINE_RE.fullmatch(value) is not None
