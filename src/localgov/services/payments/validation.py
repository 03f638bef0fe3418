"""Checks and normalisation of what people type or import: Thai IDs, periods, money, codes.

Input may use Thai digits (๐–๙) and the usual separators (``1-2345-67890-12-1``); what is stored
is Arabic digits without separators.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from localgov.kernel.errors import DomainError
from localgov.kernel.thai import MONTHS_TH, be_year, to_arabic_digits

CENT = Decimal("0.01")
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,59}$")
_ID_SEPARATORS = re.compile(r"[\s\-]")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{2,38}$")
_POSTAL_RE = re.compile(r"^[1-9][0-9]{4}$")
FEE_TYPES = ("garbage", "wastewater", "fixed")


class InvalidInput(DomainError):
    """A value that breaks a business rule (the shape was right, the content is not)."""

    code = "invalid_input"
    status = 422
    title = "The request is not acceptable"

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}", code=code, data={"field": field})
        self.field = field
        self.message = message


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


def normalise_biller_id(value: str) -> str:
    """A Thai QR biller ID: the LAO's 13-digit tax ID (checked) and a 2-digit suffix."""
    digits = _ID_SEPARATORS.sub("", to_arabic_digits(value))
    if len(digits) != 15 or not digits.isascii() or not digits.isdigit():
        raise InvalidInput("biller_id", "must be 15 digits: tax ID + 2-digit suffix", code="invalid_biller_id")
    if not thai_id_checksum_ok(digits[:13]):
        raise InvalidInput("biller_id", "the tax ID part has a wrong check digit", code="invalid_biller_id")
    return digits


def normalise_phone(value: str) -> str:
    phone = to_arabic_digits(value).strip()
    if not _PHONE_RE.fullmatch(phone):
        raise InvalidInput("phone", "digits, spaces, dashes and a leading + only", code="invalid_phone")
    return phone


def normalise_postal_code(value: str) -> str:
    code = to_arabic_digits(value).strip()
    if not _POSTAL_RE.fullmatch(code):
        raise InvalidInput("postal_code", "must be 5 digits / รหัสไปรษณีย์ 5 หลัก", code="invalid_postal_code")
    return code


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


def parse_money(value: str | Decimal, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """Baht with at most 2 decimals, finite, positive (or zero when allowed). Never a float."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(to_arabic_digits(value).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(field, "not a number", code="invalid_amount") from None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidInput(field, "must be a positive amount", code="invalid_amount")
    if amount != amount.quantize(CENT) or amount >= Decimal("10000000000"):
        raise InvalidInput(field, "at most 2 decimals and below 10,000,000,000", code="invalid_amount")
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


def check_code(value: str, field: str) -> str:
    if not CODE_RE.fullmatch(value):
        raise InvalidInput(field, "lower-case letters, digits, '_', '.', '-' (starting with a letter)")
    return value
