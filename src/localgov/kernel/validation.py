"""Checks and normalisation of what people type or import, one definition each for every service.

Thai national / juristic IDs (13 digits with their check digit), phone numbers, money, quantities,
monthly periods and the parts of a Thai address. Input may use Thai digits (๐–๙) and the usual
separators (``1-2345-67890-12-1``); what is stored is Arabic digits without separators.

The patterns are exported for msgspec (``Annotated[str, msgspec.Meta(pattern=...)]``) where a
shape check at the edge is enough; the functions also accept Thai digits and raise
:class:`InvalidInput` (422, the field named in ``data``) when the content breaks a rule.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

import msgspec

from localgov.kernel.errors import DomainError
from localgov.kernel.thai import MONTHS_TH, be_year, to_arabic_digits

CENT = Decimal("0.01")
#: The largest amount of money accepted anywhere (exclusive): ten billion baht.
MONEY_LIMIT = Decimal("10000000000")

#: A Thai phone number as people write it: ``0`` and the area or mobile prefix, or ``+66`` without
#: the ``0``; then 7 or 8 more digits (9 in all for a land line, 10 for a mobile), single spaces or
#: hyphens allowed between digits. ``053-123456``, ``02 000 0000``, ``081-234-5678``, ``+66 81 234 5678``.
PHONE_PATTERN = r"^(?:\+66[ -]?[1-9]|0[1-9])(?:[ -]?[0-9]){7,8}$"
#: A Thai postal code (รหัสไปรษณีย์): five digits, the first not 0.
POSTAL_CODE_PATTERN = r"^[1-9][0-9]{4}$"
#: A village number (หมู่ที่): 1 to 99.
MOO_PATTERN = r"^[1-9][0-9]?$"
#: A house number (บ้านเลขที่): ``12``, ``12/3``, ``99/1-2``, ``5 ก`` …
HOUSE_NO_PATTERN = r"^[0-9]{1,5}(?:/[0-9]{1,5})?(?:-[0-9]{1,5})?(?: ?[ก-ฮA-Za-z])?$"
#: A monthly period, Gregorian ``YYYY-MM``.
PERIOD_PATTERN = r"^(\d{4})-(0[1-9]|1[0-2])$"
#: A machine code chosen by people (fee codes, customer classes).
CODE_PATTERN = r"^[a-z][a-z0-9_.-]{0,59}$"

PERIOD_RE = re.compile(PERIOD_PATTERN)
CODE_RE = re.compile(CODE_PATTERN)
_PHONE_RE = re.compile(PHONE_PATTERN)
_POSTAL_RE = re.compile(POSTAL_CODE_PATTERN)
_MOO_RE = re.compile(MOO_PATTERN)
_HOUSE_NO_RE = re.compile(HOUSE_NO_PATTERN)
_ID_SEPARATORS = re.compile(r"[\s\-]")

#: msgspec types for request structs (Arabic digits; use the functions to accept Thai digits too).
Phone = Annotated[str, msgspec.Meta(pattern=PHONE_PATTERN, max_length=40, examples=["053-123456"])]
PostalCode = Annotated[str, msgspec.Meta(pattern=POSTAL_CODE_PATTERN, examples=["50100"])]
ThaiId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{13}$", examples=["1101700203450"])]


class InvalidInput(DomainError):
    """A value that breaks a business rule (the shape was right, the content is not)."""

    code = "invalid_input"
    status = 422
    title = "The request is not acceptable"

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}", code=code, data={"field": field})
        self.field = field
        self.message = message


# --- Thai IDs --------------------------------------------------------------------------------------


def thai_id_checksum_ok(digits: str) -> bool:
    """The check digit of a 13-digit Thai ID (national ID or juristic/tax ID): mod 11 of the
    first 12 digits weighted 13…2, ``(11 - sum % 11) % 10``."""
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def normalise_thai_id(value: str, field: str = "tax_id") -> str:
    """Thai digits and separators accepted; 13 digits with a valid check digit returned."""
    digits = _ID_SEPARATORS.sub("", to_arabic_digits(value))
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        raise InvalidInput(field, "must be 13 digits / ต้องเป็นตัวเลข 13 หลัก", code="invalid_tax_id")
    if not thai_id_checksum_ok(digits):
        raise InvalidInput(field, "check digit is wrong / เลขตรวจสอบไม่ถูกต้อง", code="invalid_tax_id")
    return digits


# --- phone ------------------------------------------------------------------------------------------


def is_phone(value: str) -> bool:
    """``value`` (Thai digits accepted, surrounding blanks ignored) is one phone number."""
    return _PHONE_RE.fullmatch(to_arabic_digits(value).strip()) is not None


def normalise_phone(value: str, field: str = "phone") -> str:
    """One phone number (see :data:`PHONE_PATTERN`), with Arabic digits, as the person wrote it."""
    phone = to_arabic_digits(value).strip()
    if not _PHONE_RE.fullmatch(phone):
        raise InvalidInput(
            field,
            "not a Thai phone number (0 and 8-9 digits, or +66) / หมายเลขโทรศัพท์ไม่ถูกต้อง",
            code="invalid_phone",
        )
    return phone


# --- Thai address parts -----------------------------------------------------------------------------


class ThaiAddress(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of a Thai address; every part optional (what a form or an import gives)."""

    house_no: str | None = None
    moo: str | None = None
    soi: str | None = None
    road: str | None = None
    subdistrict: str | None = None
    district: str | None = None
    province: str | None = None
    postal_code: str | None = None


def normalise_postal_code(value: str, field: str = "postal_code") -> str:
    code = to_arabic_digits(value).strip()
    if not _POSTAL_RE.fullmatch(code):
        raise InvalidInput(field, "must be 5 digits / รหัสไปรษณีย์ 5 หลัก", code="invalid_postal_code")
    return code


def normalise_moo(value: str, field: str = "moo") -> str:
    """A village number; ``หมู่ 3`` and ``ม.3`` are accepted and stored as ``3``."""
    text = to_arabic_digits(value).strip()
    for prefix in ("หมู่ที่", "หมู่", "ม."):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    if not _MOO_RE.fullmatch(text):
        raise InvalidInput(field, "must be a village number 1-99 / หมู่ที่ 1-99", code="invalid_moo")
    return text


def normalise_house_no(value: str, field: str = "house_no") -> str:
    text = to_arabic_digits(value).strip()
    if not _HOUSE_NO_RE.fullmatch(text):
        raise InvalidInput(field, "not a house number such as 12 or 12/3 / บ้านเลขที่ไม่ถูกต้อง", code="invalid_house_no")
    return text


def address_line_th(address: ThaiAddress) -> str | None:
    """The address on one line as Thai documents print it (None when every part is empty)."""
    parts = [
        address.house_no,
        f"หมู่ {address.moo}" if address.moo else None,
        f"ซอย{address.soi}" if address.soi else None,
        f"ถนน{address.road}" if address.road else None,
        f"ตำบล{address.subdistrict}" if address.subdistrict else None,
        f"อำเภอ{address.district}" if address.district else None,
        f"จังหวัด{address.province}" if address.province else None,
        address.postal_code,
    ]
    text = " ".join(p for p in parts if p)
    return text or None


# --- money and quantities ---------------------------------------------------------------------------


def parse_money(
    value: str | Decimal, field: str = "amount", *, allow_zero: bool = False, limit: Decimal = MONEY_LIMIT
) -> Decimal:
    """Baht with at most 2 decimals, finite, positive (or zero when allowed), below ``limit``.

    Never a float. Thai digits and thousands separators (``1,200.50``) are accepted in text.
    """
    try:
        amount = value if isinstance(value, Decimal) else Decimal(to_arabic_digits(value).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(field, "not a number", code="invalid_amount") from None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidInput(field, "must be a positive amount", code="invalid_amount")
    if amount >= limit or amount != amount.quantize(CENT):  # the range first: quantize raises on 32 digits
        raise InvalidInput(field, f"at most 2 decimals and below {limit:,.0f}", code="invalid_amount")
    return amount.quantize(CENT)


def parse_quantity(value: str | Decimal, field: str, *, places: int = 3, maximum: int = 10**9) -> Decimal:
    """A non-negative quantity (litres, m³) with at most ``places`` decimals."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(to_arabic_digits(value).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(field, "not a number", code="invalid_quantity") from None
    quantum = Decimal(1).scaleb(-places)
    if not number.is_finite() or number < 0 or number >= maximum or number != number.quantize(quantum):
        raise InvalidInput(field, f"must be a number from 0 with at most {places} decimals", code="invalid_quantity")
    return number.quantize(quantum)


def round_baht(amount: Decimal) -> Decimal:
    """Round half up to the satang, as Thai receipts do."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal) -> str:
    """``1234.5`` → ``1,234.50``."""
    return f"{amount:,.2f}"


# --- monthly periods --------------------------------------------------------------------------------


def parse_period(value: str, field: str = "period") -> str:
    """``YYYY-MM`` (Gregorian); Thai digits accepted."""
    period = to_arabic_digits(value).strip()
    match = PERIOD_RE.fullmatch(period)
    if match is None or not 2000 <= int(match.group(1)) <= 2200:
        raise InvalidInput(field, "must be YYYY-MM (Gregorian year)", code="invalid_period")
    return period


def period_start(period: str) -> dt.date:
    year, month = period.split("-")
    return dt.date(int(year), int(month), 1)


def period_end(period: str) -> dt.date:
    return add_months(period_start(period), 1) - dt.timedelta(days=1)


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def next_period(period: str, months: int = 1) -> str:
    return period_of(add_months(period_start(period), months))


def period_label_th(period: str) -> str:
    """``2026-03`` → ``มีนาคม 2569``."""
    start = period_start(period)
    return f"{MONTHS_TH[start.month - 1]} {be_year(start)}"


# --- codes ------------------------------------------------------------------------------------------


def check_code(value: str, field: str) -> str:
    if not CODE_RE.fullmatch(value):
        raise InvalidInput(field, "lower-case letters, digits, '_', '.', '-' (starting with a letter)")
    return value
