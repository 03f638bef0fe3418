"""The fee rules of the LAO's ordinance (ข้อบัญญัติท้องถิ่น), as plain functions of data.

* **Bands**: the annual fee of premises is the fee of the smallest band whose ``max_area_m2``
  holds the area (a band's bound is included: "ไม่เกิน 20 ตารางเมตร"). No band above 200 m²:
  bigger premises need a licence (s.47/s.48), never a certificate of notification.
* **Waivers**: a fee is reduced by the largest ``percent`` of the waivers whose dates hold the
  fee's date (both bounds included: 14 Nov 2021 – 13 Nov 2022 waives a fee dated 13 Nov 2022).
  The fee's date is the issue date for the first fee and 1 January of the year for an annual fee.
* **Late surcharge**: the ordinance's +20 % on a late annual fee is charged by the payments
  service (``late_surcharge_percent`` on the bill, its ``payments.late_surcharges`` job):
  :func:`surcharge` is the amount it will charge, for display and for the tests.

Nothing here reads the database: the data come from ``fee_data`` (the LAO's tables).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from localgov.kernel.errors import DomainError

#: Premises above this area need a licence (ใบอนุญาต), not a notification.
MAX_NOTIFY_AREA = Decimal(200)
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


class Band(msgspec.Struct, frozen=True, kw_only=True):
    """Premises of at most ``max_area_m2`` pay ``annual_fee`` baht a year."""

    max_area_m2: Decimal
    annual_fee: Decimal


class Waiver(msgspec.Struct, frozen=True, kw_only=True):
    """Fees dated ``starts_on`` to ``ends_on`` (both included) are reduced by ``percent``."""

    starts_on: dt.date
    ends_on: dt.date
    percent: Decimal


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """What a fee comes to on a date: the band's fee, the waiver applied, what is billed."""

    base_fee: Decimal
    waived_percent: Decimal
    amount: Decimal


class AreaRequiresLicence(DomainError):
    """The premises are larger than a notification allows: the licence route applies."""

    code = "food_area_requires_licence"
    status = 422
    title = (
        "สถานที่มีพื้นที่เกิน 200 ตารางเมตร ต้องยื่นขอใบอนุญาตจัดตั้งสถานที่จำหน่ายอาหารหรือสะสมอาหาร"
        " (มาตรา 48 พ.ร.บ.การสาธารณสุข พ.ศ. 2535) แทนการแจ้ง / Premises over 200 m² need a licence to"
        " operate a food sale or storage place (Public Health Act B.E. 2535, s.48), not a notification"
    )


class NoFeeBand(DomainError):
    """The LAO's fee table has no band for the area (it must cover every area up to 200 m²)."""

    code = "food_fee_band_missing"
    status = 409
    title = "ไม่มีอัตราค่าธรรมเนียมสำหรับพื้นที่นี้ / The fee table has no band for this area"


def check_notifiable(area_m2: Decimal, field: str = "area_m2") -> None:
    """Refuse premises that need a licence (more than 200 m²), saying where to go instead."""
    if area_m2 > MAX_NOTIFY_AREA:
        raise AreaRequiresLicence(
            f"{field}: {area_m2} m² > 200 m²",
            data={
                "field": field,
                "area_m2": str(area_m2),
                "max_area_m2": str(MAX_NOTIFY_AREA),
                "route": "licence",
                "reason_th": "พื้นที่ประกอบการเกิน 200 ตารางเมตร ต้องขอใบอนุญาต",
                "reason_en": "Premises over 200 m² need a licence",
            },
        )


def annual_fee(area_m2: Decimal, bands: Sequence[Band]) -> Decimal:
    """The fee of the smallest band that holds the area."""
    check_notifiable(area_m2)
    for band in sorted(bands, key=lambda b: b.max_area_m2):
        if area_m2 <= band.max_area_m2:
            return band.annual_fee
    raise NoFeeBand(data={"area_m2": str(area_m2)})


def waived_percent(day: dt.date, waivers: Sequence[Waiver]) -> Decimal:
    """The largest waiver in force on ``day`` (0 when none is)."""
    return max((w.percent for w in waivers if w.starts_on <= day <= w.ends_on), default=Decimal(0))


def quote(area_m2: Decimal, day: dt.date, bands: Sequence[Band], waivers: Sequence[Waiver]) -> Quote:
    """The fee of premises of ``area_m2`` dated ``day``, after the waivers of that day."""
    base = annual_fee(area_m2, bands)
    percent = waived_percent(day, waivers)
    amount = (base * (_HUNDRED - percent) / _HUNDRED).quantize(_CENT, rounding=ROUND_HALF_UP)
    return Quote(base_fee=base, waived_percent=percent, amount=amount)


def surcharge(amount: Decimal, percent: Decimal) -> Decimal:
    """What a late fee's surcharge comes to (as payments computes it: rounded to the satang)."""
    return (amount * percent / _HUNDRED).quantize(_CENT, rounding=ROUND_HALF_UP)


def annual_fee_date(year_be: int) -> dt.date:
    """The date of the annual fee of a BE year (1 January): the date its waivers are judged on."""
    return dt.date(year_be - 543, 1, 1)


def annual_due_date(year_be: int, month: int, day: int) -> dt.date:
    """The due date of a year's annual fee (a day past the month's end is its last day)."""
    year = year_be - 543
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def check_bands(bands: Sequence[Band]) -> None:
    """A fee table covers every area up to 200 m²: bounds distinct, positive, the last one 200."""
    bounds = [b.max_area_m2 for b in bands]
    if not bands:
        raise InvalidFeeTable("The fee table needs at least one band.")
    if len(set(bounds)) != len(bounds):
        raise InvalidFeeTable("Two bands have the same bound.")
    for band in bands:
        if not band.max_area_m2.is_finite() or not 0 < band.max_area_m2 <= MAX_NOTIFY_AREA:
            raise InvalidFeeTable("A band's bound is above 0 and at most 200 m².")
        if band.max_area_m2 != band.max_area_m2.quantize(_CENT):
            raise InvalidFeeTable("A band's bound has at most 2 decimals.")
        if (
            not band.annual_fee.is_finite()
            or band.annual_fee <= 0
            or band.annual_fee != band.annual_fee.quantize(_CENT)
        ):
            raise InvalidFeeTable("A band's fee is positive with at most 2 decimals.")
    if max(bounds) != MAX_NOTIFY_AREA:
        raise InvalidFeeTable("The last band must reach 200 m² (every notifiable area has a fee).")


def check_waiver(waiver: Waiver) -> None:
    if waiver.ends_on < waiver.starts_on:
        raise InvalidFeeTable("A waiver ends on or after the day it starts.")
    if (
        not waiver.percent.is_finite()
        or not 0 < waiver.percent <= 100
        or waiver.percent != waiver.percent.quantize(_CENT)
    ):
        raise InvalidFeeTable("A waiver's percent is above 0 and at most 100, with at most 2 decimals.")


class InvalidFeeTable(DomainError):
    code = "food_fee_table_invalid"
    status = 422
    title = "อัตราค่าธรรมเนียมไม่ถูกต้อง / The fee table is not valid"


#: The examples of DOMAIN.md (verify against the LAO's own ordinance): up to 20 m² 20 baht a
#: year, up to 200 m² 100 baht a year. Seeded for a new LAO; the LAO edits them.
DEFAULT_BANDS = (
    Band(max_area_m2=Decimal("20.00"), annual_fee=Decimal("20.00")),
    Band(max_area_m2=Decimal("200.00"), annual_fee=Decimal("100.00")),
)
