"""kernel/validation: one definition each of Thai IDs, phone numbers, money, address parts, periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from localgov.kernel import validation as v
from localgov.platform.signup import SignupForm, _field_errors
from localgov.platform.tenant_admin import profile_problems
from tests.support.payments import next_thai_id

GOOD_PHONES = (
    "053-123456",
    "053 123 456",
    "02-000-0000",
    "0812345678",
    "081-234-5678",
    "+66 81 234 5678",
    "+6653000222",
    "๐๘๑-๒๓๔-๕๖๗๘",
)
BAD_PHONES = (
    "call me",
    "1",
    "12345",
    "053--123456",
    "0-123",
    "+1 555 123 4567",
    "081234567890",
    "(053) 123456",
    "053-123456 ต่อ 12",
)


def test_thai_id_checksum() -> None:
    good = next_thai_id()
    assert v.thai_id_checksum_ok(good)
    wrong = good[:12] + str((int(good[12]) + 1) % 10)
    assert not v.thai_id_checksum_ok(wrong)
    assert not v.thai_id_checksum_ok(good[:12])
    assert not v.thai_id_checksum_ok("๑" * 13)  # only after normalising
    dashed = f"{good[0]}-{good[1:5]}-{good[5:10]}-{good[10:12]}-{good[12]}"
    assert v.normalise_thai_id(dashed) == good
    thai_digits = good.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    assert v.normalise_thai_id(thai_digits) == good
    with pytest.raises(v.InvalidInput) as refused:
        v.normalise_thai_id(wrong, "national_id")
    assert (refused.value.code, refused.value.status, refused.value.field) == ("invalid_tax_id", 422, "national_id")
    with pytest.raises(v.InvalidInput):
        v.normalise_thai_id("12345")


@pytest.mark.parametrize("phone", GOOD_PHONES)
def test_one_phone_definition_accepts(phone: str) -> None:
    assert v.is_phone(phone)
    assert v.normalise_phone(f"  {phone} ").isascii()
    if phone.isascii():
        msgspec.convert(phone, v.Phone)


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_one_phone_definition_refuses(phone: str) -> None:
    assert not v.is_phone(phone)
    with pytest.raises(v.InvalidInput) as refused:
        v.normalise_phone(phone)
    assert refused.value.code == "invalid_phone"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(phone, v.Phone)


def _signup_form(phone: str) -> SignupForm:
    return SignupForm(
        dla_code="5500101",
        slug="maehia",
        plan_code="basic",
        contact_name="นายสมชาย ใจดี",
        contact_position="ปลัด",
        contact_email="somchai@example.com",
        contact_phone=phone,
        accept_terms=True,
    )


def test_signup_and_tenant_profile_use_the_same_phone_rule() -> None:
    for phone in GOOD_PHONES:
        assert "contact_phone" not in {e.field for e in _field_errors(_signup_form(phone))}, phone
        assert profile_problems({"phone": phone}) == [], phone
    for phone in BAD_PHONES:
        assert "contact_phone" in {e.field for e in _field_errors(_signup_form(phone))}, phone
        assert [p["key"] for p in profile_problems({"phone": phone})] == ["phone"], phone
    # A profile may list several numbers, each a phone number.
    assert profile_problems({"phone": "053-123456, 081-234-5678"}) == []
    assert profile_problems({"phone": "053-123456, call me"}) != []


def test_money() -> None:
    assert v.parse_money("1,200.5") == Decimal("1200.50")
    assert v.parse_money("๑๒.๕๐") == Decimal("12.50")
    assert v.parse_money(Decimal("0"), allow_zero=True) == Decimal("0.00")
    for bad in ("abc", "-1", "0", "1.005", "NaN", "Infinity", "10000000000"):
        with pytest.raises(v.InvalidInput) as refused:
            v.parse_money(bad)
        assert refused.value.code == "invalid_amount"
    with pytest.raises(v.InvalidInput):
        v.parse_money("500.01", limit=Decimal("500.01"))
    assert v.round_baht(Decimal("1.005")) == Decimal("1.01")
    assert v.format_money(Decimal("1234.5")) == "1,234.50"
    assert v.parse_quantity("๑,๕๐๐.๒๕", "usage_m3") == Decimal("1500.250")


def test_thai_address_parts() -> None:
    assert v.normalise_postal_code("๕๐๑๐๐") == "50100"
    for bad in ("0100", "05010", "501000", "5010a"):
        with pytest.raises(v.InvalidInput):
            v.normalise_postal_code(bad)
    assert v.normalise_moo("หมู่ที่ ๓") == "3"
    assert v.normalise_moo("ม.12") == "12"
    for bad in ("0", "100", "สาม"):
        with pytest.raises(v.InvalidInput):
            v.normalise_moo(bad)
    for good in ("12", "12/3", "99/1-2", "5 ก", "๑๒/๓"):
        assert v.normalise_house_no(good) == good.translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789"))
    for bad in ("", "abc", "12//3", "หมู่ 3"):
        with pytest.raises(v.InvalidInput):
            v.normalise_house_no(bad)
    address = v.ThaiAddress(house_no="99/1", moo="3", road="เชียงใหม่-หางดง", subdistrict="แม่เหียะ", postal_code="50100")
    assert v.address_line_th(address) == "99/1 หมู่ 3 ถนนเชียงใหม่-หางดง ตำบลแม่เหียะ 50100"
    assert v.address_line_th(v.ThaiAddress()) is None


def test_periods() -> None:
    assert v.parse_period("๒๐๒๖-๑๑") == "2026-11"
    for bad in ("2026-13", "1999-01", "26-11", "2026/11"):
        with pytest.raises(v.InvalidInput):
            v.parse_period(bad)
    assert v.period_end("2028-02") == dt.date(2028, 2, 29)
    assert v.next_period("2026-12") == "2027-01"
    assert v.period_label_th("2026-03") == "มีนาคม 2569"
