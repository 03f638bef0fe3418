"""The fee rules of the LAO's ordinance, as pure functions (hypothesis over areas and dates): area
bands, the 200 m² limit, dated waivers with both bounds included, the +20 % late surcharge."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localgov.services.food import fees
from localgov.services.food.fees import Band, Waiver

BANDS = list(fees.DEFAULT_BANDS)
#: The waiver DOMAIN.md cites: 14 Nov 2021 – 13 Nov 2022.
COVID = Waiver(starts_on=dt.date(2021, 11, 14), ends_on=dt.date(2022, 11, 13), percent=Decimal(100))

areas = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(200), places=2)
days = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2035, 12, 31))


@settings(max_examples=200, deadline=None)
@given(area=areas)
def test_the_smallest_band_holding_the_area_applies(area: Decimal) -> None:
    expected = Decimal(20) if area <= 20 else Decimal(100)
    assert fees.annual_fee(area, BANDS) == expected
    # The order the bands are given in does not matter.
    assert fees.annual_fee(area, list(reversed(BANDS))) == expected


def test_band_bounds_are_inclusive() -> None:
    assert fees.annual_fee(Decimal("20.00"), BANDS) == Decimal(20)
    assert fees.annual_fee(Decimal("20.01"), BANDS) == Decimal(100)
    assert fees.annual_fee(Decimal("200.00"), BANDS) == Decimal(100)


@settings(max_examples=100, deadline=None)
@given(area=st.decimals(min_value=Decimal("200.01"), max_value=Decimal(100_000), places=2))
def test_over_200_square_metres_is_the_licence_route(area: Decimal) -> None:
    with pytest.raises(fees.AreaRequiresLicence) as refused:
        fees.annual_fee(area, BANDS)
    assert refused.value.code == "food_area_requires_licence"
    assert refused.value.status == 422
    assert refused.value.data is not None
    assert refused.value.data["route"] == "licence"
    assert "200" in refused.value.data["reason_th"]
    assert "licence" in refused.value.data["reason_en"]
    assert "ใบอนุญาต" in refused.value.title
    assert "licence" in refused.value.title


@settings(max_examples=300, deadline=None)
@given(area=areas, day=days)
def test_a_waiver_applies_by_date_with_both_bounds_included(area: Decimal, day: dt.date) -> None:
    quote = fees.quote(area, day, BANDS, [COVID])
    inside = COVID.starts_on <= day <= COVID.ends_on
    assert quote.base_fee == fees.annual_fee(area, BANDS)
    assert quote.waived_percent == (Decimal(100) if inside else 0)
    assert quote.amount == (Decimal(0) if inside else quote.base_fee)


def test_the_waiver_boundaries_themselves() -> None:
    area = Decimal(50)
    for day, waived in (
        (dt.date(2021, 11, 13), False),
        (dt.date(2021, 11, 14), True),
        (dt.date(2022, 11, 13), True),
        (dt.date(2022, 11, 14), False),
    ):
        assert (fees.quote(area, day, BANDS, [COVID]).amount == 0) is waived, day


@settings(max_examples=200, deadline=None)
@given(
    area=areas,
    day=days,
    percents=st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2), max_size=3),
)
def test_the_largest_waiver_in_force_wins_and_amounts_stay_in_satang(
    area: Decimal, day: dt.date, percents: list[Decimal]
) -> None:
    waivers = [
        Waiver(starts_on=day - dt.timedelta(days=n), ends_on=day + dt.timedelta(days=n), percent=p)
        for n, p in enumerate(percents)
    ]
    quote = fees.quote(area, day, BANDS, waivers)
    best = max(percents, default=Decimal(0))
    assert quote.waived_percent == best
    assert 0 <= quote.amount <= quote.base_fee
    assert quote.amount == quote.amount.quantize(Decimal("0.01"))
    assert abs(quote.amount - quote.base_fee * (100 - best) / 100) <= Decimal("0.005")


@settings(max_examples=200, deadline=None)
@given(amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1_000_000), places=2))
def test_the_late_surcharge_is_twenty_percent_to_the_satang(amount: Decimal) -> None:
    surcharge = fees.surcharge(amount, Decimal(20))
    assert surcharge == (amount / 5).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert abs(surcharge - amount * Decimal("0.2")) <= Decimal("0.005")


@settings(max_examples=50, deadline=None)
@given(year=st.integers(min_value=2560, max_value=2700), month=st.integers(1, 12), day=st.integers(1, 31))
def test_annual_due_date_is_in_its_year_and_clamped_to_the_month(year: int, month: int, day: int) -> None:
    due = fees.annual_due_date(year, month, day)
    assert due.year == year - 543
    assert due.month == month
    assert due.day <= day
    assert fees.annual_fee_date(year) == dt.date(year - 543, 1, 1)


def test_a_fee_table_must_cover_every_notifiable_area() -> None:
    fees.check_bands(BANDS)
    for bad in (
        [],
        [Band(max_area_m2=Decimal(100), annual_fee=Decimal(50))],  # 100-200 m² has no fee
        [Band(max_area_m2=Decimal(250), annual_fee=Decimal(50))],
        [Band(max_area_m2=Decimal(200), annual_fee=Decimal(0))],
        [Band(max_area_m2=Decimal(200), annual_fee=Decimal(1)), Band(max_area_m2=Decimal(200), annual_fee=Decimal(2))],
        [Band(max_area_m2=Decimal("200.001"), annual_fee=Decimal(1))],
    ):
        with pytest.raises(fees.InvalidFeeTable):
            fees.check_bands(bad)
    with pytest.raises(fees.NoFeeBand):
        fees.annual_fee(Decimal(150), [Band(max_area_m2=Decimal(100), annual_fee=Decimal(50))])
    with pytest.raises(fees.InvalidFeeTable):
        fees.check_waiver(Waiver(starts_on=dt.date(2022, 1, 2), ends_on=dt.date(2022, 1, 1), percent=Decimal(50)))
    with pytest.raises(fees.InvalidFeeTable):
        fees.check_waiver(Waiver(starts_on=dt.date(2022, 1, 1), ends_on=dt.date(2022, 1, 1), percent=Decimal(101)))
