"""The building-permit rules as pure functions (no database): eligibility per area type, the
documents checklist, the fees of MR 7 and MR 70, the 45-working-day deadline and its extensions
over the working-day calendar (weekends, government holidays, the LAO's own days off)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localgov.kernel.calendar import WorkingCalendar
from localgov.services.permits.deadlines import DeadlineRules, ExtensionInvalid, ExtensionRefused, decision_due, extend
from localgov.services.permits.eligibility import DEFAULT_RULES, KINDS, USES, AreaRules, BuildingFacts, assess
from localgov.services.permits.fees import DEFAULT_FEES, assess_fees, height_class, table_problems

THAI = re.compile(r"[\u0e00-\u0e7f]")
areas = st.decimals(min_value=Decimal("1"), max_value=Decimal("400"), places=2)
heights = st.decimals(min_value=Decimal("1"), max_value=Decimal("40"), places=1)


def facts(
    kind: str = "construct", use: str = "residence", storeys: int = 2, height: str = "7", area: str = "120"
) -> BuildingFacts:
    return BuildingFacts(kind=kind, use=use, storeys=storeys, height_m=Decimal(height), floor_area_m2=Decimal(area))  # type: ignore[arg-type]


# --- eligibility ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("area_type", "building", "eligible", "simplified", "engineer", "codes"),
    [
        # An อบต. area: a two-storey house of 120 m² is the MR 56 simplified dossier.
        ("sao", facts(), True, True, False, {"mr56_residence"}),
        ("sao", facts(area="150"), True, True, False, {"mr56_residence"}),
        ("sao", facts(area="150.01"), False, False, False, {"area_above_limit"}),
        # Three storeys: not MR 56, so drawings and an engineer.
        ("sao", facts(storeys=3, height="10"), True, False, True, {"mr56_not_applicable", "engineer_required"}),
        ("sao", facts(use="farm_storage", storeys=1, area="100"), True, True, False, {"mr56_farm_storage"}),
        ("sao", facts(use="farm_storage", storeys=1, area="100.5"), True, False, False, {"mr56_not_applicable"}),
        ("sao", facts(use="water_tower", storeys=1, height="6", area="4"), True, True, False, {"mr56_water_tower"}),
        (
            "sao",
            facts(use="water_tower", storeys=1, height="6.5", area="4"),
            True,
            False,
            False,
            {"mr56_not_applicable"},
        ),
        ("sao", facts(use="fence", storeys=1, height="2", area="30"), True, True, False, {"mr56_fence"}),
        ("sao", facts(use="stall", storeys=1, height="3", area="6"), True, True, False, {"mr56_stall"}),
        # A municipality: no MR 56; two storeys need an engineer.
        ("municipal", facts(), True, False, True, {"mr56_not_in_area", "engineer_required"}),
        ("municipal", facts(storeys=1, height="4"), True, False, False, {"mr56_not_in_area"}),
        ("municipal", facts(area="151"), False, False, False, {"area_above_limit"}),
    ],
)
def test_the_eligibility_table(
    area_type: str, building: BuildingFacts, eligible: bool, simplified: bool, engineer: bool, codes: set[str]
) -> None:
    result = assess(building, DEFAULT_RULES[area_type])
    assert (result.eligible, result.simplified, result.engineer_required) == (eligible, simplified, engineer)
    assert codes <= {r.code for r in result.reasons}
    if not eligible:
        assert result.route_th is not None
        assert "มาตรา 21" in result.route_th
        assert "general building permit route" in (result.route_en or "")


@settings(max_examples=150, deadline=None)
@given(
    area_type=st.sampled_from(sorted(DEFAULT_RULES)),
    kind=st.sampled_from(KINDS),
    use=st.sampled_from(USES),
    storeys=st.integers(min_value=1, max_value=6),
    height=heights,
    area=areas,
)
def test_eligibility_follows_the_rules_for_every_building(
    area_type: str, kind: str, use: str, storeys: int, height: Decimal, area: Decimal
) -> None:
    rules = DEFAULT_RULES[area_type]
    building = BuildingFacts(kind=kind, use=use, storeys=storeys, height_m=height, floor_area_m2=area)  # type: ignore[arg-type]
    result = assess(building, rules)
    # Every finding is explained in Thai and in English.
    assert result.reasons
    assert all(THAI.search(r.th) and r.en.strip() for r in result.reasons)
    assert result.eligible == (area <= 150)
    if not result.eligible:
        assert (result.documents, result.simplified, result.engineer_required) == ([], False, False)
        assert result.route_th
        assert result.route_en
        return
    mr56 = rules.mr56_applies and (
        (use == "residence" and storeys <= 2 and area <= 150)
        or (use == "farm_storage" and area <= 100)
        or use in ("fence", "stall")
        or (use == "water_tower" and height <= 6)
    )
    assert result.simplified == mr56
    assert result.engineer_required == (not mr56 and storeys >= 2)
    assert result.architect_required is False  # > 150 m² never reaches the architect rule by default
    codes = [d.code for d in result.documents]
    assert codes[:3] == ["form_kh1", "applicant_id", "land_title"]
    assert ("site_plan_rough" in codes) == mr56
    assert ("drawings" in codes) == (not mr56)
    assert ("structural_calculations" in codes) == result.engineer_required
    assert len(codes) == len(set(codes))


def test_the_rules_are_the_laos_data() -> None:
    """An LAO that raises the architect's threshold below its area limit gets the architect rule;
    one that lowers the MR 56 residence limit sees the simplified dossier shrink."""
    own = AreaRules(title_th="เขตทดสอบ", mr56_applies=False, architect_above_area_m2=Decimal(100))
    result = assess(facts(storeys=1, height="4", area="120"), own)
    assert result.architect_required
    assert "architect_licence" in {d.code for d in result.documents}
    strict = AreaRules(title_th="เขตทดสอบ", mr56_applies=True, mr56_residence_max_area_m2=Decimal(80))
    assert not assess(facts(area="90"), strict).simplified
    assert assess(facts(area="80"), strict).simplified


def test_the_checklist_follows_the_answers() -> None:
    base = facts()
    other = BuildingFacts(
        kind="construct", use="residence", storeys=2, height_m=Decimal(7), floor_area_m2=Decimal(120),
        applicant_kind="juristic", owner_is_applicant=False, by_proxy=True,
    )  # fmt: skip
    plain = {d.code for d in assess(base, DEFAULT_RULES["sao"]).documents}
    full = {d.code for d in assess(other, DEFAULT_RULES["sao"]).documents}
    assert full - plain == {"landowner_consent", "landowner_id", "company_certificate", "power_of_attorney"}


# --- fees ------------------------------------------------------------------------------------------------


def test_fees_of_mr7_and_mr70() -> None:
    house = assess_fees(DEFAULT_FEES, kind="construct", storeys=2, height_m=Decimal("7.5"), floor_area_m2=Decimal(120))
    assert [(line.code, line.amount) for line in house] == [
        ("permits.plan_check", Decimal("60.00")),
        ("permits.permit_fee", Decimal(200)),
    ]
    three = assess_fees(DEFAULT_FEES, kind="alter", storeys=3, height_m=Decimal("14"), floor_area_m2=Decimal("140.25"))
    assert [line.amount for line in three] == [Decimal("280.50"), Decimal(100)]
    high = assess_fees(DEFAULT_FEES, kind="change_use", storeys=4, height_m=Decimal(16), floor_area_m2=Decimal(100))
    assert [line.amount for line in high] == [Decimal("400.00"), Decimal(200)]
    # A demolition has no plan to check.
    demolish = assess_fees(DEFAULT_FEES, kind="demolish", storeys=2, height_m=Decimal(7), floor_area_m2=Decimal(100))
    assert [(line.code, line.amount) for line in demolish] == [("permits.permit_fee", Decimal(50))]
    assert table_problems(DEFAULT_FEES) == []


@settings(max_examples=100, deadline=None)
@given(storeys=st.integers(min_value=1, max_value=8), height=heights, area=areas, kind=st.sampled_from(KINDS))
def test_the_plan_check_fee_is_the_area_times_the_class_rate(
    storeys: int, height: Decimal, area: Decimal, kind: str
) -> None:
    lines = assess_fees(DEFAULT_FEES, kind=kind, storeys=storeys, height_m=height, floor_area_m2=area)  # type: ignore[arg-type]
    cls = height_class(DEFAULT_FEES, storeys, height)
    expected = {"low": Decimal("0.50"), "mid": Decimal("2.00"), "high": Decimal("4.00")}[cls.code]
    # "≤ 2 storeys or ≤ 12 m" as the regulation words it: the first class either figure fits.
    if storeys <= 2 or height <= 12:
        assert cls.code == "low"
    elif storeys <= 3 or height <= 15:
        assert cls.code == "mid"
    else:
        assert cls.code == "high"
    by_code = {line.code: line.amount for line in lines}
    if kind == "demolish":
        assert "permits.plan_check" not in by_code
    else:
        assert by_code["permits.plan_check"] == (area * expected).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert by_code["permits.permit_fee"] == DEFAULT_FEES.permit_fee[kind]


# --- the deadline and its extensions -------------------------------------------------------------------

CALENDAR = WorkingCalendar()
SHORT = DeadlineRules(decision_days=5, extension_days=5, max_extensions=2)


def test_the_deadline_counts_working_days_over_holidays() -> None:
    # Complete on Friday 4 December 2026: Monday 7 (substitution for Father's Day) and Thursday 10
    # (Constitution Day) are holidays; the 5th working day after is Tuesday 15 December.
    assert decision_due(CALENDAR, dt.date(2026, 12, 4), SHORT, []) == dt.date(2026, 12, 15)
    # The LAO's own day off (Monday 14) moves it by one working day.
    own = WorkingCalendar(own={dt.date(2026, 12, 14): False})
    assert decision_due(own, dt.date(2026, 12, 4), SHORT, []) == dt.date(2026, 12, 16)
    # Extensions count on from the running deadline (22 December after the first): ten more
    # working days skip New Year's Eve and Day.
    longer = DeadlineRules(decision_days=5, extension_days=10)
    assert extend(CALENDAR, dt.date(2026, 12, 4), longer, [5], 10, dt.date(2026, 12, 22)) == dt.date(2027, 1, 7)
    # The default: 45 working days, each one a working day of the calendar.
    due = decision_due(CALENDAR, dt.date(2026, 12, 4), DeadlineRules(), [])
    assert CALENDAR.working_days_between(dt.date(2026, 12, 4), due) == 45
    assert CALENDAR.is_working_day(due)


def test_at_most_two_extensions_each_before_the_running_deadline() -> None:
    complete = dt.date(2026, 12, 4)
    first = extend(CALENDAR, complete, SHORT, [], 5, dt.date(2026, 12, 15))  # on the deadline's day: in time
    assert first == dt.date(2026, 12, 22)
    with pytest.raises(ExtensionRefused) as late:
        extend(CALENDAR, complete, SHORT, [], 5, dt.date(2026, 12, 16))  # a day after it expired
    assert late.value.data == {"reason": "deadline_passed", "due_on": "2026-12-15"}
    second = extend(CALENDAR, complete, SHORT, [5], 3, dt.date(2026, 12, 20))
    assert second == CALENDAR.add_working_days(complete, 13)
    with pytest.raises(ExtensionRefused) as third:
        extend(CALENDAR, complete, SHORT, [5, 3], 1, dt.date(2026, 12, 20))
    assert third.value.data is not None
    assert third.value.data["reason"] == "no_extensions_left"
    for days in (0, 6):
        with pytest.raises(ExtensionInvalid):
            extend(CALENDAR, complete, SHORT, [], days, dt.date(2026, 12, 8))


@settings(max_examples=100, deadline=None)
@given(
    complete=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 6, 30)),
    first=st.integers(min_value=1, max_value=45),
    second=st.integers(min_value=1, max_value=45),
    asked_after=st.integers(min_value=0, max_value=130),
)
def test_extension_arithmetic_over_any_start(complete: dt.date, first: int, second: int, asked_after: int) -> None:
    rules = DeadlineRules()
    running = decision_due(CALENDAR, complete, rules, [first])
    today = complete + dt.timedelta(days=asked_after)
    if today > running:
        with pytest.raises(ExtensionRefused):
            extend(CALENDAR, complete, rules, [first], second, today)
        return
    due = extend(CALENDAR, complete, rules, [first], second, today)
    assert due == CALENDAR.add_working_days(complete, 45 + first + second)
    assert CALENDAR.working_days_between(running, due) == second
    assert due > running
