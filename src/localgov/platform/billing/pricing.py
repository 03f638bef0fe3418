"""The pricing engine: pure functions over :class:`~decimal.Decimal`, no database.

Money is in baht, rounded to the satang (0.01) half-up once per charge (and once per transaction
for percentage charges, as a bank rounds each fee). Models follow Lago/Stripe Billing:

* ``standard``: ``unit_price`` per billable unit;
* ``graduated``: tiers ``[(up_to, unit_price, flat_fee), …]``, each unit priced by the tier it
  falls in (the last tier has ``up_to = None``);
* ``package``: ``package_price`` per started block of ``package_size`` units;
* ``percentage``: ``rate`` of each transaction's baht, clamped to ``[min_fee, max_fee]`` per
  transaction.

``free_units`` come off the quantity before pricing (for ``percentage``: that many transactions,
in order, are free).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import msgspec

SATANG = Decimal("0.01")
VAT_RATE = Decimal("0.07")
ZERO = Decimal(0)
MODELS = ("standard", "graduated", "package", "percentage")
INTERVALS = ("monthly", "yearly")


class Tier(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Units up to ``up_to`` (inclusive, counted from 0; ``None``: no limit) cost ``unit_price`` each,
    plus ``flat_fee`` once when any unit falls in the tier."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO


class Charge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one meter is priced on a plan."""

    meter: str
    model: str
    free_units: Decimal = ZERO
    unit_price: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()
    package_size: Decimal = Decimal(1)
    package_price: Decimal = ZERO
    rate: Decimal = ZERO
    min_fee: Decimal = ZERO
    max_fee: Decimal | None = None


class TierUse(msgspec.Struct, frozen=True, kw_only=True):
    """How many units one tier priced, and for how much (shown on the invoice line)."""

    from_unit: Decimal
    up_to: Decimal | None
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


class Priced(msgspec.Struct, frozen=True, kw_only=True):
    """One charge priced: the quantity used, the units billed after free units, the amount."""

    quantity: Decimal
    billable: Decimal
    amount: Decimal
    tiers: tuple[TierUse, ...] = ()


def money(value: Decimal) -> Decimal:
    return value.quantize(SATANG, rounding=ROUND_HALF_UP)


def vat(amount: Decimal) -> Decimal:
    """VAT 7 % of a line's amount, to the satang."""
    return money(amount * VAT_RATE)


class PricingError(ValueError):
    """A charge definition that cannot be priced."""


#: Prices, rates and unit counts stay below this (and have at most 4 decimal places).
LIMIT = Decimal(10) ** 12


def sane(value: Decimal) -> bool:
    """A finite, non-negative number below :data:`LIMIT` with at most 4 decimal places."""
    if not value.is_finite() or value < 0 or value >= LIMIT:
        return False
    exponent = value.normalize().as_tuple().exponent
    return not isinstance(exponent, int) or exponent >= -4


def validate(charge: Charge) -> None:
    """Refuse a definition the engine would price wrongly (checked when a plan version is saved)."""
    numbers = [charge.free_units, charge.unit_price, charge.package_size, charge.package_price, charge.rate]
    numbers += [charge.min_fee] + ([charge.max_fee] if charge.max_fee is not None else [])
    for tier in charge.tiers:
        numbers += [tier.unit_price, tier.flat_fee] + ([tier.up_to] if tier.up_to is not None else [])
    if not all(sane(n) for n in numbers):
        raise PricingError("every number must be finite, 0 or more, below 10**12, with at most 4 decimal places")
    if charge.model not in MODELS:
        raise PricingError(f"model must be one of {', '.join(MODELS)}")
    if charge.free_units < 0 or charge.unit_price < 0 or charge.package_price < 0 or charge.rate < 0:
        raise PricingError("prices, rates and free units must not be negative")
    if charge.model == "graduated":
        if not charge.tiers:
            raise PricingError("a graduated charge needs tiers")
        previous = ZERO
        for i, tier in enumerate(charge.tiers):
            last = i == len(charge.tiers) - 1
            if tier.unit_price < 0 or tier.flat_fee < 0:
                raise PricingError("tier prices must not be negative")
            if (tier.up_to is None) != last:
                raise PricingError("only the last tier is open-ended (up_to null), and it must be")
            if tier.up_to is not None:
                if tier.up_to <= previous:
                    raise PricingError("tier bounds must increase")
                previous = tier.up_to
    if charge.model == "package" and charge.package_size <= 0:
        raise PricingError("package_size must be positive")
    if charge.model == "percentage":
        if charge.rate > 1:
            raise PricingError("rate is a fraction (0.01 is 1 %)")
        if charge.min_fee < 0 or (charge.max_fee is not None and charge.max_fee < charge.min_fee):
            raise PricingError("min_fee must be 0 or more and max_fee at least min_fee")


def graduated(quantity: Decimal, tiers: Sequence[Tier]) -> tuple[Decimal, tuple[TierUse, ...]]:
    """Price ``quantity`` units through the tiers: the sum of each tier's units × price + flat fee."""
    used: list[TierUse] = []
    total = ZERO
    lower = ZERO
    for tier in tiers:
        if quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = upper - lower
        amount = units * tier.unit_price + tier.flat_fee
        used.append(
            TierUse(
                from_unit=lower,
                up_to=tier.up_to,
                units=units,
                unit_price=tier.unit_price,
                flat_fee=tier.flat_fee,
                amount=money(amount),
            )
        )
        total += amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return money(total), tuple(used)


def percentage_fee(amount: Decimal, charge: Charge) -> Decimal:
    """The fee on one transaction: ``rate`` × amount to the satang, within ``[min_fee, max_fee]``."""
    fee = money(amount * charge.rate)
    fee = max(fee, charge.min_fee)
    if charge.max_fee is not None:
        fee = min(fee, charge.max_fee)
    return money(fee)


def price(charge: Charge, quantity: Decimal, transactions: Sequence[Decimal] = ()) -> Priced:
    """Price one meter's aggregated ``quantity`` (``transactions``: each event's baht, for percentage)."""
    if charge.model == "percentage":
        free = int(charge.free_units)
        paid = transactions[free:]
        amount = sum((percentage_fee(t, charge) for t in paid), ZERO)
        return Priced(quantity=quantity, billable=sum(paid, ZERO), amount=money(amount))
    billable = max(ZERO, quantity - charge.free_units)
    if charge.model == "standard":
        return Priced(quantity=quantity, billable=billable, amount=money(billable * charge.unit_price))
    if charge.model == "graduated":
        amount, tiers = graduated(billable, charge.tiers)
        return Priced(quantity=quantity, billable=billable, amount=amount, tiers=tiers)
    if charge.model == "package":
        packages = (billable / charge.package_size).to_integral_value(rounding=ROUND_CEILING)
        return Priced(quantity=quantity, billable=billable, amount=money(packages * charge.package_price))
    raise PricingError(f"unknown model {charge.model!r}")


def prorate(amount: Decimal, days_used: int, days_in_period: int) -> Decimal:
    """``amount`` for ``days_used`` of a period of ``days_in_period`` days, to the satang."""
    if days_in_period <= 0 or not 0 <= days_used <= days_in_period:
        raise PricingError("days_used must be within the period")
    return money(amount * days_used / days_in_period)


# --- periods -----------------------------------------------------------------------------------


def fiscal_year_start(day: dt.date) -> dt.date:
    """1 October that opens the Thai fiscal year ``day`` belongs to."""
    return dt.date(day.year if day.month >= 10 else day.year - 1, 10, 1)


def period_of(day: dt.date, interval: str) -> tuple[dt.date, dt.date]:
    """The billing period containing ``day``: ``[start, end)``; a calendar month, or a Thai fiscal
    year (1 October to 30 September) for ``yearly``."""
    if interval == "monthly":
        start = day.replace(day=1)
        end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return start, end
    if interval == "yearly":
        start = fiscal_year_start(day)
        return start, dt.date(start.year + 1, 10, 1)
    raise PricingError(f"interval must be one of {', '.join(INTERVALS)}")


def overlap_days(a_start: dt.date, a_end: dt.date, b_start: dt.date, b_end: dt.date | None) -> int:
    """Days in both ``[a_start, a_end)`` and ``[b_start, b_end)`` (``None``: open-ended)."""
    end = a_end if b_end is None else min(a_end, b_end)
    return max(0, (end - max(a_start, b_start)).days)
