"""The fees of a building permit, from the LAO's fee table (pure functions).

* Plan-check fee (ค่าธรรมเนียมการตรวจแบบแปลน, MR 7): baht per m² of total floor area by height
  class: at most 2 storeys or 12 m 0.50; 3 storeys or 15 m 2.00; higher 4.00 (DOMAIN.md: verify).
  A building's class is the first whose storeys *or* height it does not exceed, as the regulation
  words it. Charged for the kinds in ``plan_check_kinds`` (not for a demolition: no plan).
* Permit fee (ค่าธรรมเนียมใบอนุญาต, MR 70 B.E. 2564) per certificate by kind: construct 200,
  alter 100, demolish 50, move 50, change of use 200 baht (verify the residential rate).

The table is the LAO's (``permits_settings.fees``), seeded with :data:`DEFAULT_FEES`; every figure
is marked ``verify`` until the LAO's legal officer confirms it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import msgspec

from localgov.services.permits.eligibility import KIND_TH, Kind

_CENT = Decimal("0.01")


class HeightClass(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One class of the plan-check fee: a building of at most ``max_storeys`` or ``max_height_m``
    (None: no upper bound) pays ``rate_per_m2``."""

    code: str
    title_th: str
    max_storeys: int | None
    max_height_m: Decimal | None
    rate_per_m2: Decimal
    verify: bool = True


class FeeTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    plan_check: list[HeightClass]
    plan_check_kinds: list[Kind]
    permit_fee: dict[str, Decimal]
    permit_fee_verify: bool = True


DEFAULT_FEES = FeeTable(
    plan_check=[
        HeightClass(
            code="low",
            title_th="ไม่เกิน 2 ชั้น หรือสูงไม่เกิน 12 เมตร",
            max_storeys=2,
            max_height_m=Decimal(12),
            rate_per_m2=Decimal("0.50"),
        ),
        HeightClass(
            code="mid",
            title_th="3 ชั้น หรือสูงไม่เกิน 15 เมตร",
            max_storeys=3,
            max_height_m=Decimal(15),
            rate_per_m2=Decimal("2.00"),
        ),
        HeightClass(
            code="high",
            title_th="เกิน 3 ชั้น หรือสูงเกิน 15 เมตร",
            max_storeys=None,
            max_height_m=None,
            rate_per_m2=Decimal("4.00"),
        ),
    ],
    plan_check_kinds=["construct", "alter", "move", "change_use"],
    permit_fee={
        "construct": Decimal(200),
        "alter": Decimal(100),
        "demolish": Decimal(50),
        "move": Decimal(50),
        "change_use": Decimal(200),
    },
)


class FeeLine(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    description_th: str
    amount: Decimal


def table_problems(table: FeeTable) -> list[str]:
    """What is wrong with a fee table an LAO sends (empty when it is usable)."""
    problems: list[str] = []
    if not table.plan_check:
        problems.append("plan_check needs at least one class")
    elif table.plan_check[-1].max_storeys is not None or table.plan_check[-1].max_height_m is not None:
        problems.append("the last plan_check class must have no upper bound (max_storeys and max_height_m null)")
    for cls in table.plan_check:
        if not cls.rate_per_m2.is_finite() or cls.rate_per_m2 < 0 or cls.rate_per_m2 != cls.rate_per_m2.quantize(_CENT):
            problems.append(f"plan_check {cls.code}: the rate is a non-negative amount with at most 2 decimals")
    for kind, amount in table.permit_fee.items():
        if kind not in KIND_TH:
            problems.append(f"permit_fee: unknown kind {kind}")
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(_CENT):
            problems.append(f"permit_fee {kind}: a non-negative amount with at most 2 decimals")
    missing = sorted(set(KIND_TH) - set(table.permit_fee))
    if missing:
        problems.append(f"permit_fee lacks {', '.join(missing)}")
    return problems


def height_class(table: FeeTable, storeys: int, height_m: Decimal) -> HeightClass:
    """The first class whose storeys or height the building does not exceed (the last: unbounded)."""
    for cls in table.plan_check:
        if cls.max_storeys is None and cls.max_height_m is None:
            return cls
        if (cls.max_storeys is not None and storeys <= cls.max_storeys) or (
            cls.max_height_m is not None and height_m <= cls.max_height_m
        ):
            return cls
    return table.plan_check[-1]


def assess_fees(
    table: FeeTable, *, kind: Kind, storeys: int, height_m: Decimal, floor_area_m2: Decimal
) -> list[FeeLine]:
    """The fee lines of an application (zero-amount lines left out)."""
    lines: list[FeeLine] = []
    if kind in table.plan_check_kinds:
        cls = height_class(table, storeys, height_m)
        amount = (floor_area_m2 * cls.rate_per_m2).quantize(_CENT, rounding=ROUND_HALF_UP)
        if amount > 0:
            lines.append(
                FeeLine(
                    code="permits.plan_check",
                    description_th=(
                        f"ค่าตรวจแบบแปลน {format(floor_area_m2.normalize(), 'f')} ตร.ม. x "
                        f"{cls.rate_per_m2} บาท ({cls.title_th})"
                    ),
                    amount=amount,
                )
            )
    permit = table.permit_fee.get(kind, Decimal(0))
    if permit > 0:
        lines.append(
            FeeLine(code="permits.permit_fee", description_th=f"ค่าธรรมเนียมใบอนุญาต{KIND_TH[kind]}", amount=permit)
        )
    return lines
