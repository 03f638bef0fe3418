"""The billing pricing engine against hand-computed tables, and hypothesis on its boundaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localgov.kernel.plugins import AGGREGATIONS, UsageMeter, contract_violations
from localgov.platform.billing import pricing
from localgov.platform.billing.meters import CORE_METERS, meter_registry
from localgov.platform.billing.pricing import Charge, Tier
from localgov.plugins import REGISTRY

D = Decimal
TIERS = (
    Tier(up_to=D(100), unit_price=D("2.00")),
    Tier(up_to=D(1000), unit_price=D("1.50"), flat_fee=D(10)),
    Tier(up_to=None, unit_price=D("1.00")),
)
GRADUATED = Charge(meter="oss.cases_opened", model="graduated", tiers=TIERS)


# --- meter registry ------------------------------------------------------------------------------


def test_every_registered_meter_has_a_known_aggregation_and_is_collected() -> None:
    registry = meter_registry(REGISTRY)
    for plugin in REGISTRY:
        for meter in plugin.meters:
            assert registry[meter.code] is meter
            assert meter.aggregation in AGGREGATIONS
    assert {m.code for m in CORE_METERS} <= set(registry)
    # The payments meters: baht collected is a sum (the percentage charge prices each transaction).
    assert registry["payments.baht_collected"].aggregation == "sum"


def test_the_contract_refuses_an_unknown_aggregation() -> None:
    plugin = REGISTRY[0]
    bad = UsageMeter(code=f"{plugin.slug}.bad", unit="x", title_th="ทดสอบ", title_en="Bad", aggregation="median")
    import msgspec

    from localgov.kernel.db import TenantBase

    problems = contract_violations(msgspec.structs.replace(plugin, meters=(bad,)), TenantBase.metadata.tables)
    assert any("aggregation 'median'" in p for p in problems)


def test_a_meter_declared_twice_is_refused() -> None:
    plugin = REGISTRY[0]
    with pytest.raises(ValueError, match="twice"):
        meter_registry([plugin, plugin])


# --- hand-computed tables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        (D(0), D("0.00")),
        (D(1), D("2.00")),
        (D(100), D("200.00")),  # the last unit of tier 1
        (D(101), D("211.50")),  # 200 + 1.50 + flat 10
        (D(1000), D("1560.00")),  # 200 + 900 × 1.50 + 10
        (D(1001), D("1561.00")),
        (D(2500), D("3060.00")),
    ],
)
def test_graduated_table(quantity: Decimal, amount: Decimal) -> None:
    assert pricing.price(GRADUATED, quantity).amount == amount


def test_graduated_shows_its_tiers() -> None:
    priced = pricing.price(GRADUATED, D(150))
    assert [(t.from_unit, t.units, t.amount) for t in priced.tiers] == [
        (D(0), D(100), D("200.00")),
        (D(100), D(50), D("85.00")),
    ]


@pytest.mark.parametrize(
    ("charge", "quantity", "amount"),
    [
        (Charge(meter="m", model="standard", unit_price=D("3.50")), D(10), D("35.00")),
        (Charge(meter="m", model="standard", unit_price=D("3.50"), free_units=D(4)), D(10), D("21.00")),
        (Charge(meter="m", model="standard", unit_price=D("3.50"), free_units=D(40)), D(10), D("0.00")),
        (Charge(meter="m", model="package", package_size=D(100), package_price=D(50)), D(0), D("0.00")),
        (Charge(meter="m", model="package", package_size=D(100), package_price=D(50)), D(1), D("50.00")),
        (Charge(meter="m", model="package", package_size=D(100), package_price=D(50)), D(100), D("50.00")),
        (Charge(meter="m", model="package", package_size=D(100), package_price=D(50)), D(101), D("100.00")),
        (
            Charge(meter="m", model="package", package_size=D(100), package_price=D(50), free_units=D(20)),
            D(120),
            D("50.00"),
        ),
        (Charge(meter="m", model="graduated", tiers=TIERS, free_units=D(50)), D(150), D("200.00")),
    ],
)
def test_standard_package_and_free_units_table(charge: Charge, quantity: Decimal, amount: Decimal) -> None:
    assert pricing.price(charge, quantity).amount == amount


PERCENT = Charge(meter="payments.baht_collected", model="percentage", rate=D("0.01"), min_fee=D(2), max_fee=D(25))


@pytest.mark.parametrize(
    ("transactions", "amount"),
    [
        ([D(100)], D("2.00")),  # 1.00 → the minimum
        ([D(200)], D("2.00")),  # exactly the minimum
        ([D(1234)], D("12.34")),
        ([D("1234.56")], D("12.35")),  # rounded half up per transaction
        ([D(2500)], D("25.00")),  # exactly the maximum
        ([D(100000)], D("25.00")),  # capped
        ([D(100), D(1234), D(100000)], D("39.34")),
        ([], D("0.00")),
    ],
)
def test_percentage_table(transactions: list[Decimal], amount: Decimal) -> None:
    assert pricing.price(PERCENT, sum(transactions, D(0)), transactions).amount == amount


def test_percentage_free_transactions_are_the_first_ones() -> None:
    charge = msgspec_replace(PERCENT, free_units=D(1))
    assert pricing.price(charge, D(0), [D(100000), D(1234)]).amount == D("12.34")


def msgspec_replace(charge: Charge, **changes: object) -> Charge:
    import msgspec

    return msgspec.structs.replace(charge, **changes)


@pytest.mark.parametrize(
    ("amount", "days", "period", "expected"),
    [
        (D(3000), 31, 31, D("3000.00")),
        (D(3000), 15, 30, D("1500.00")),
        (D(3000), 10, 31, D("967.74")),
        (D(36000), 1, 365, D("98.63")),
        (D(36000), 0, 366, D("0.00")),
    ],
)
def test_proration_table(amount: Decimal, days: int, period: int, expected: Decimal) -> None:
    assert pricing.prorate(amount, days, period) == expected


@pytest.mark.parametrize(
    ("day", "interval", "start", "end"),
    [
        (dt.date(2026, 12, 7), "monthly", dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
        (dt.date(2027, 2, 28), "monthly", dt.date(2027, 2, 1), dt.date(2027, 3, 1)),
        (dt.date(2026, 12, 7), "yearly", dt.date(2026, 10, 1), dt.date(2027, 10, 1)),
        (dt.date(2026, 9, 30), "yearly", dt.date(2025, 10, 1), dt.date(2026, 10, 1)),
        (dt.date(2026, 10, 1), "yearly", dt.date(2026, 10, 1), dt.date(2027, 10, 1)),
    ],
)
def test_periods_monthly_and_thai_fiscal_year(day: dt.date, interval: str, start: dt.date, end: dt.date) -> None:
    assert pricing.period_of(day, interval) == (start, end)


def test_vat_is_seven_percent_to_the_satang() -> None:
    assert pricing.vat(D("100.00")) == D("7.00")
    assert pricing.vat(D("12.35")) == D("0.86")  # 0.8645 → 0.86
    assert pricing.vat(D("12.50")) == D("0.88")  # 0.875 → 0.88 (half up)


@pytest.mark.parametrize(
    "charge",
    [
        Charge(meter="m", model="graduated"),
        Charge(
            meter="m", model="graduated", tiers=(Tier(up_to=None, unit_price=D(1)), Tier(up_to=None, unit_price=D(1)))
        ),
        Charge(meter="m", model="graduated", tiers=(Tier(up_to=D(10), unit_price=D(1)),)),
        Charge(
            meter="m",
            model="graduated",
            tiers=(
                Tier(up_to=D(10), unit_price=D(1)),
                Tier(up_to=D(5), unit_price=D(1)),
                Tier(up_to=None, unit_price=D(1)),
            ),
        ),
        Charge(meter="m", model="package", package_size=D(0)),
        Charge(meter="m", model="percentage", rate=D(2)),
        Charge(meter="m", model="percentage", rate=D("0.01"), min_fee=D(5), max_fee=D(1)),
        Charge(meter="m", model="standard", unit_price=D(-1)),
        Charge(meter="m", model="flat"),
    ],
)
def test_invalid_charges_are_refused(charge: Charge) -> None:
    with pytest.raises(pricing.PricingError):
        pricing.validate(charge)


# --- properties -----------------------------------------------------------------------------------

units = st.decimals(min_value=0, max_value=100000, places=0)
prices = st.decimals(min_value=0, max_value=1000, places=2)


def brute_graduated(quantity: int, tiers: tuple[Tier, ...]) -> Decimal:
    """One unit at a time: unit n (1-based) falls in the first tier whose up_to ≥ n."""
    total = D(0)
    touched: set[int] = set()
    for n in range(1, quantity + 1):
        for i, tier in enumerate(tiers):
            if tier.up_to is None or n <= tier.up_to:
                total += tier.unit_price
                touched.add(i)
                break
    return pricing.money(total + sum((tiers[i].flat_fee for i in touched), D(0)))


@settings(max_examples=60, deadline=None)
@given(
    bounds=st.lists(st.integers(min_value=1, max_value=300), min_size=0, max_size=3, unique=True),
    tier_prices=st.lists(prices, min_size=4, max_size=4),
    flats=st.lists(st.sampled_from([D(0), D(5), D("12.50")]), min_size=4, max_size=4),
    quantity=st.integers(min_value=0, max_value=400),
)
def test_graduated_equals_pricing_unit_by_unit(
    bounds: list[int], tier_prices: list[Decimal], flats: list[Decimal], quantity: int
) -> None:
    ups: list[Decimal | None] = [D(b) for b in sorted(bounds)]
    ups.append(None)
    tiers = tuple(Tier(up_to=u, unit_price=p, flat_fee=f) for u, p, f in zip(ups, tier_prices, flats, strict=False))
    charge = Charge(meter="m", model="graduated", tiers=tiers)
    pricing.validate(charge)
    priced = pricing.price(charge, D(quantity))
    assert priced.amount == brute_graduated(quantity, tiers)
    assert sum((t.units for t in priced.tiers), D(0)) == quantity


@settings(max_examples=60, deadline=None)
@given(bound=st.integers(min_value=1, max_value=10000), low=prices, high=prices)
def test_graduated_tier_boundary(bound: int, low: Decimal, high: Decimal) -> None:
    """The unit at the bound is the last of the lower tier; the next one the first of the upper."""
    charge = Charge(
        meter="m", model="graduated", tiers=(Tier(up_to=D(bound), unit_price=low), Tier(up_to=None, unit_price=high))
    )
    at = pricing.price(charge, D(bound)).amount
    assert at == pricing.money(bound * low)
    assert pricing.price(charge, D(bound + 1)).amount - at == high


@settings(max_examples=80, deadline=None)
@given(
    amount=st.decimals(min_value=0, max_value=10**7, places=2),
    rate=st.decimals(min_value=0, max_value=D("0.1"), places=4),
    low=st.decimals(min_value=0, max_value=50, places=2),
    extra=st.decimals(min_value=0, max_value=500, places=2),
)
def test_percentage_fee_is_clamped(amount: Decimal, rate: Decimal, low: Decimal, extra: Decimal) -> None:
    charge = Charge(meter="m", model="percentage", rate=rate, min_fee=low, max_fee=low + extra)
    fee = pricing.percentage_fee(amount, charge)
    assert low <= fee <= low + extra
    raw = pricing.money(amount * rate)
    if low <= raw <= low + extra:
        assert fee == raw


@settings(max_examples=80, deadline=None)
@given(
    amount=st.decimals(min_value=0, max_value=10**6, places=2),
    period=st.integers(min_value=28, max_value=366),
    data=st.data(),
)
def test_proration_is_monotonic_and_whole_at_the_ends(amount: Decimal, period: int, data: st.DataObject) -> None:
    days = data.draw(st.integers(min_value=0, max_value=period))
    assert pricing.prorate(amount, 0, period) == 0
    assert pricing.prorate(amount, period, period) == pricing.money(amount)
    part = pricing.prorate(amount, days, period)
    assert 0 <= part <= pricing.money(amount)
    # Split a period at any day: the two parts add up to the whole within a satang of rounding.
    assert abs(part + pricing.prorate(amount, period - days, period) - pricing.money(amount)) <= D("0.01")


@settings(max_examples=60, deadline=None)
@given(quantity=units, free=units, price=prices, size=st.integers(min_value=1, max_value=500))
def test_free_units_never_raise_the_price(quantity: Decimal, free: Decimal, price: Decimal, size: int) -> None:
    for model in ("standard", "package"):
        paid = Charge(meter="m", model=model, unit_price=price, package_size=D(size), package_price=price)
        with_free = msgspec_replace(paid, free_units=free)
        assert pricing.price(with_free, quantity).amount <= pricing.price(paid, quantity).amount
    assert pricing.price(
        Charge(meter="m", model="standard", unit_price=price, free_units=free), quantity
    ).billable == max(D(0), quantity - free)


@settings(max_examples=60, deadline=None)
@given(
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)),
    interval=st.sampled_from(["monthly", "yearly"]),
)
def test_a_day_lies_in_its_period(day: dt.date, interval: str) -> None:
    start, end = pricing.period_of(day, interval)
    assert start <= day < end
    assert pricing.period_of(end, interval)[0] == end
    if interval == "yearly":
        assert (start.month, start.day) == (10, 1)
