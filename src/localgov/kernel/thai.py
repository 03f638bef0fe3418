"""Thai formats that documents need: Buddhist-Era dates, fiscal years, Thai digits, baht in words.

Stored values stay Arabic digits and Gregorian dates; these helpers render and parse.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
BE_OFFSET = 543
_THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_TO_THAI = str.maketrans("0123456789", _THAI_DIGITS)
_FROM_THAI = str.maketrans(_THAI_DIGITS, "0123456789")

MONTHS_TH = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)  # fmt: skip
MONTHS_TH_ABBR = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip


def to_thai_digits(text: str) -> str:
    """``"2566"`` → ``"๒๕๖๖"`` (other characters unchanged)."""
    return text.translate(_TO_THAI)


def to_arabic_digits(text: str) -> str:
    """``"๑๕/๒๕๖๖"`` → ``"15/2566"``: input may use either kind of digit."""
    return text.translate(_FROM_THAI)


def be_year(day: dt.date) -> int:
    """Buddhist-Era year (พ.ศ.) of a date: CE + 543."""
    return day.year + BE_OFFSET


def fiscal_year(day: dt.date) -> int:
    """The Thai fiscal year (ปีงบประมาณ, BE) a date belongs to: 1 Oct – 30 Sep, named by its end."""
    return be_year(day) + (1 if day.month >= 10 else 0)


def fiscal_year_bounds(fiscal_year_be: int) -> tuple[dt.date, dt.date]:
    """First and last day of a fiscal year given in BE (FY 2570 = 1 Oct 2569 – 30 Sep 2570)."""
    end_ce = fiscal_year_be - BE_OFFSET
    return dt.date(end_ce - 1, 10, 1), dt.date(end_ce, 9, 30)


def bangkok_today(now: dt.datetime | None = None) -> dt.date:
    """Today in Asia/Bangkok (UTC+7, no daylight saving)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(BANGKOK).date()


def thai_datetime(moment: dt.datetime) -> str:
    """``27 พฤศจิกายน 2569 เวลา 09:32 น.``: a moment in Bangkok time, for people (mails, pages)."""
    local = moment.astimezone(BANGKOK)
    return f"{thai_date(local.date(), digits='arabic')} เวลา {local:%H:%M} น."


def english_datetime(moment: dt.datetime) -> str:
    """``27 November 2026, 09:32``: the same moment in English (Bangkok time)."""
    local = moment.astimezone(BANGKOK)
    return f"{local.day} {local:%B %Y, %H:%M}"


def thai_date(
    day: dt.date, *, digits: Literal["thai", "arabic"] = "thai", month: Literal["full", "abbr"] = "full"
) -> str:
    """``๑๕ มีนาคม ๒๕๖๖`` (the official-letter form), or ``15 มี.ค. 2566``."""
    name = (MONTHS_TH if month == "full" else MONTHS_TH_ABBR)[day.month - 1]
    text = f"{day.day} {name} {be_year(day)}"
    return to_thai_digits(text) if digits == "thai" else text


_UNITS = ("", "หนึ่ง", "สอง", "สาม", "สี่", "ห้า", "หก", "เจ็ด", "แปด", "เก้า")
_PLACES = ("", "สิบ", "ร้อย", "พัน", "หมื่น", "แสน")


def _below_million(n: int, *, has_higher: bool) -> str:
    """Words for 0 < n < 1,000,000; ``has_higher`` when a ล้าน group precedes (1 → เอ็ด)."""
    digits = [int(c) for c in str(n)]
    out: list[str] = []
    length = len(digits)
    for i, d in enumerate(digits):
        place = length - i - 1
        if d == 0:
            continue
        if place == 1:
            out.append({1: "", 2: "ยี่"}.get(d, _UNITS[d]) + "สิบ")
        elif place == 0:
            out.append("เอ็ด" if d == 1 and (length > 1 or has_higher) else _UNITS[d])
        else:
            out.append(_UNITS[d] + _PLACES[place])
    return "".join(out)


def number_text(n: int) -> str:
    """A non-negative integer in Thai words: 21 → ยี่สิบเอ็ด, 1,000,001 → หนึ่งล้านเอ็ด."""
    if n < 0:
        raise ValueError("number_text takes a non-negative integer")
    if n == 0:
        return "ศูนย์"
    groups: list[int] = []
    while n:
        n, rest = divmod(n, 1_000_000)
        groups.append(rest)
    words = ""
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group:
            words += _below_million(group, has_higher=bool(words))
        if index:
            words += "ล้าน"
    return words


def baht_text(amount: Decimal | int | str) -> str:
    """An amount in baht as on a receipt: ``120.50`` → ``หนึ่งร้อยยี่สิบบาทห้าสิบสตางค์``, ``5`` → ``ห้าบาทถ้วน``."""
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError("amount must be finite")
    value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "ลบ" if value < 0 else ""
    value = abs(value)
    baht = int(value)
    satang = int((value - baht) * 100)
    if satang == 0:
        return f"{sign}{number_text(baht)}บาทถ้วน"
    if baht == 0:
        return f"{sign}{number_text(satang)}สตางค์"
    return f"{sign}{number_text(baht)}บาท{number_text(satang)}สตางค์"
