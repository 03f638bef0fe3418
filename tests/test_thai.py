from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from localgov.kernel.thai import (
    baht_text,
    bangkok_today,
    be_year,
    fiscal_year,
    fiscal_year_bounds,
    number_text,
    thai_date,
    to_arabic_digits,
    to_thai_digits,
)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "ศูนย์"),
        (1, "หนึ่ง"),
        (10, "สิบ"),
        (11, "สิบเอ็ด"),
        (20, "ยี่สิบ"),
        (21, "ยี่สิบเอ็ด"),
        (101, "หนึ่งร้อยเอ็ด"),
        (111, "หนึ่งร้อยสิบเอ็ด"),
        (120, "หนึ่งร้อยยี่สิบ"),
        (1_001, "หนึ่งพันเอ็ด"),
        (25_000, "สองหมื่นห้าพัน"),
        (100_000, "หนึ่งแสน"),
        (1_000_000, "หนึ่งล้าน"),
        (1_000_001, "หนึ่งล้านเอ็ด"),
        (2_000_021, "สองล้านยี่สิบเอ็ด"),
        (11_000_000, "สิบเอ็ดล้าน"),
        (21_500_000, "ยี่สิบเอ็ดล้านห้าแสน"),
        (1_000_000_000_000, "หนึ่งล้านล้าน"),
    ],
)
def test_number_text(n: int, words: str) -> None:
    assert number_text(n) == words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("120.50", "หนึ่งร้อยยี่สิบบาทห้าสิบสตางค์"),
        ("5", "ห้าบาทถ้วน"),
        ("0", "ศูนย์บาทถ้วน"),
        ("0.25", "ยี่สิบห้าสตางค์"),
        ("1.01", "หนึ่งบาทหนึ่งสตางค์"),
        ("21.21", "ยี่สิบเอ็ดบาทยี่สิบเอ็ดสตางค์"),
        ("80.00", "แปดสิบบาทถ้วน"),
        ("1000000.00", "หนึ่งล้านบาทถ้วน"),
        ("-50", "ลบห้าสิบบาทถ้วน"),
        ("2.005", "สองบาทหนึ่งสตางค์"),  # rounded half up to the satang
    ],
)
def test_baht_text(amount: str, words: str) -> None:
    assert baht_text(Decimal(amount)) == words


def test_baht_text_refuses_non_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        baht_text(Decimal("NaN"))


def test_digits_both_ways() -> None:
    assert to_thai_digits("ที่ มท 0805.2/ว 3482") == "ที่ มท ๐๘๐๕.๒/ว ๓๔๘๒"
    assert to_arabic_digits("๑๕/๒๕๖๖ and 7") == "15/2566 and 7"
    assert to_arabic_digits(to_thai_digits("0123456789")) == "0123456789"


def test_buddhist_era_and_fiscal_year() -> None:
    assert be_year(dt.date(2023, 3, 15)) == 2566
    assert thai_date(dt.date(2023, 3, 15)) == "๑๕ มีนาคม ๒๕๖๖"
    assert thai_date(dt.date(2023, 3, 15), digits="arabic", month="abbr") == "15 มี.ค. 2566"
    assert fiscal_year(dt.date(2026, 9, 30)) == 2569
    assert fiscal_year(dt.date(2026, 10, 1)) == 2570
    assert fiscal_year_bounds(2570) == (dt.date(2026, 10, 1), dt.date(2027, 9, 30))


def test_bangkok_today_crosses_midnight_seven_hours_early() -> None:
    assert bangkok_today(dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)) == dt.date(2027, 1, 1)
    assert bangkok_today(dt.datetime(2026, 12, 31, 16, 59, tzinfo=dt.UTC)) == dt.date(2026, 12, 31)


def test_moments_for_people_are_bangkok_time_in_thai_and_english() -> None:
    from localgov.kernel.thai import english_datetime, thai_datetime

    moment = dt.datetime(2026, 11, 27, 2, 32, tzinfo=dt.UTC)  # 09:32 in Bangkok
    assert thai_datetime(moment) == "27 พฤศจิกายน 2569 เวลา 09:32 น."
    assert english_datetime(moment) == "27 November 2026, 09:32"
    late = dt.datetime(2026, 12, 31, 17, 5, tzinfo=dt.UTC)  # already 1 January 2027 in Bangkok
    assert thai_datetime(late) == "1 มกราคม 2570 เวลา 00:05 น."
    assert english_datetime(late) == "1 January 2027, 00:05"
