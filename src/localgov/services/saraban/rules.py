"""The regulation's rules as data and pure functions: permissions, labels, letter numbers, the
register's canonical row and hash, retention defaults (Regulation on Correspondence B.E. 2526)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from localgov.kernel.thai import be_year, to_thai_digits

#: Permissions granted by the plugin's roles.
READ = "saraban.read"
DRAFT = "saraban.draft"
REVIEW = "saraban.review"
SIGN = "saraban.sign"
REGISTRY = "saraban.registry"
ROUTE = "saraban.route"
MANAGE = "saraban.manage"

KIND_TH = {
    "external": "หนังสือภายนอก",
    "internal": "หนังสือภายใน",
    "stamped": "หนังสือประทับตรา",
    "directive": "หนังสือสั่งการ",
    "public": "หนังสือประชาสัมพันธ์",
    "evidence": "หนังสือที่เจ้าหน้าที่ทำขึ้นหรือรับไว้เป็นหลักฐาน",
}
#: The forms of the kinds that have them (a directive or public letter must name one).
SUBKINDS = {
    "directive": {"order": "คำสั่ง", "regulation": "ระเบียบ", "bylaw": "ข้อบังคับ"},
    "public": {"announcement": "ประกาศ", "statement": "แถลงการณ์", "news": "ข่าว"},
    "evidence": {"certificate": "หนังสือรับรอง", "report": "รายงานการประชุม", "minutes": "บันทึก", "other": "หนังสืออื่น"},
}
URGENCY_TH = {"normal": "", "urgent": "ด่วน", "very_urgent": "ด่วนมาก", "most_urgent": "ด่วนที่สุด"}
SECRECY_TH = {"normal": "", "confidential": "ลับ", "secret": "ลับมาก", "top_secret": "ลับที่สุด"}
STATUS_TH = {
    "draft": "ร่าง",
    "in_review": "เสนอตรวจ",
    "approved": "อนุมัติแล้ว",
    "signed": "ลงนามแล้ว",
    "issued": "ออกเลขแล้ว",
    "received": "รับแล้ว",
    "cancelled": "ยกเลิก",
}
#: What a register line shows instead of a secret letter's subject.
CLASSIFIED_SUBJECT = "(หนังสือลับ)"

#: Default retention by kind (DOMAIN.md: normally ≥ 10 years, routine ≥ 1 year; verify): the LAO
#: edits them (``saraban_retention_rules``). ``None`` keeps the letter permanently.
DEFAULT_RETENTION: dict[str, int | None] = {
    "external": 10,
    "internal": 10,
    "stamped": 1,
    "directive": None,
    "public": 10,
    "evidence": 10,
}
#: A destruction list is prepared within this many days after the calendar year ends.
DESTRUCTION_LIST_DAYS = 60


def is_secret(secrecy: str) -> bool:
    return secrecy != "normal"


def numbered_by_year(kind: str) -> bool:
    """Orders, regulations, by-laws and announcements are numbered ``n/BE-year``; the rest
    ``ที่ <code>/<n>``. Evidence documents have no outgoing number of their own."""
    return kind in ("directive", "public")


def number_series(kind: str, subkind: str | None, circular: bool, issuing_unit_code: str) -> str:
    """The running-number series a letter draws from (per calendar year, ``kernel.numbering``)."""
    if numbered_by_year(kind):
        return f"saraban.{kind}.{subkind}:{issuing_unit_code}"
    return f"saraban.{'circular' if circular else 'letter'}:{issuing_unit_code}"


def letter_number(kind: str, circular: bool, code: str, value: int, year_be: int) -> str:
    """The number as written (Arabic digits stored; documents may print Thai digits)."""
    if numbered_by_year(kind):
        return f"{value}/{year_be}"
    return f"ที่ {code}/{'ว ' if circular else ''}{value}"


def register_no(year_be: int, seq: int) -> str:
    """A register line's number as stamped: ``123/2569``."""
    return f"{seq}/{year_be}"


def display(text: str, thai_digits: bool) -> str:
    return to_thai_digits(text) if thai_digits else text


GENESIS = bytes(32)


def canonical_row(row: dict[str, Any]) -> bytes:
    """The register line as hashed: the official columns and the line's identity, in JSON with
    sorted keys and no spaces (dates ISO, the moment in UTC microseconds)."""
    recorded_at: dt.datetime = row["recorded_at"]
    letter_date: dt.date | None = row["letter_date"]
    data = {
        "id": str(row["id"]),
        "register": row["register"],
        "year": int(row["year"]),
        "seq": int(row["seq"]),
        "letter_id": str(row["letter_id"]),
        "letter_no": row["letter_no"],
        "letter_date": letter_date.isoformat() if letter_date is not None else None,
        "from": row["from_th"],
        "to": row["to_th"],
        "subject": row["subject"],
        "action": row["action_th"],
        "remarks": row["remarks"],
        "recorded_at": recorded_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "recorded_by": row["recorded_by"],
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical_row(row)).digest()


def destruction_due(year_be: int) -> dt.date:
    """The last day to prepare the destruction list of a calendar year (60 days after it ends)."""
    return dt.date(year_be - 543 + 1, 1, 1) + dt.timedelta(days=DESTRUCTION_LIST_DAYS - 1)


def expired_by(letter_year_be: int, retention_years: int | None, year_be: int) -> bool:
    """Kept ``retention_years`` full years after the letter's year: destroyable at the end of
    ``letter_year + retention_years``."""
    return retention_years is not None and letter_year_be + retention_years <= year_be


def year_of(day: dt.date) -> int:
    return be_year(day)
