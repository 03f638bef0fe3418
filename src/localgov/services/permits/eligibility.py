"""Who may use this service, and what the dossier must hold: a pure function over rules as data.

The rules are the LAO's own (``permits_settings.rules``, one :class:`AreaRules` per area type,
seeded from :data:`DEFAULT_RULES`, editable): nothing below hard-codes a figure of the law.
Building Control Act B.E. 2522 (พ.ร.บ.ควบคุมอาคาร) and its regulations as DOMAIN.md §2 reads them:

* this service takes buildings of at most ``max_floor_area_m2`` (150 m²) total floor area; larger
  ones go the general permit route (the answer says so, with a pointer);
* MR 56 (กฎกระทรวง ฉบับที่ 56 พ.ศ. 2543), where the area type applies it (อบต. areas): a residence of
  at most 2 storeys and 150 m², farm storage or animal housing of at most 100 m², a fence, a stall,
  a water tower of at most 6 m need a simplified dossier (a rough site plan and a copy of the land
  title, no drawings or calculations);
* elsewhere: 2 storeys or more need structural calculations signed by a licensed engineer; more
  than 150 m² needs a licensed architect (outside MR 56 only).

:func:`assess` explains every outcome in Thai and English (:class:`Reason`) and computes the
documents checklist (:func:`checklist`) from the answers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Kind = Literal["construct", "alter", "demolish", "move", "change_use"]
Use = Literal["residence", "farm_storage", "fence", "stall", "water_tower", "shophouse", "other"]
KINDS: tuple[Kind, ...] = ("construct", "alter", "demolish", "move", "change_use")
USES: tuple[Use, ...] = ("residence", "farm_storage", "fence", "stall", "water_tower", "shophouse", "other")

KIND_TH: dict[str, str] = {
    "construct": "ก่อสร้างอาคาร",
    "alter": "ดัดแปลงอาคาร",
    "demolish": "รื้อถอนอาคาร",
    "move": "เคลื่อนย้ายอาคาร",
    "change_use": "เปลี่ยนการใช้อาคาร",
}
USE_TH: dict[str, str] = {
    "residence": "อาคารอยู่อาศัย",
    "farm_storage": "โรงเก็บผลผลิตทางการเกษตร/โรงเรือนเลี้ยงสัตว์",
    "fence": "รั้ว",
    "stall": "แผงลอย/ร้านค้าชั่วคราว",
    "water_tower": "หอถังน้ำ",
    "shophouse": "ตึกแถว/ห้องแถว",
    "other": "อาคารอื่น",
}
#: Where an application this service does not take goes (the Building Control Act's general route).
GENERAL_ROUTE_TH = "ยื่นคำขออนุญาตตามมาตรา 21 แห่ง พ.ร.บ.ควบคุมอาคาร พ.ศ. 2522 (ข.1 ทั่วไป) ที่กองช่างของหน่วยงาน"
GENERAL_ROUTE_EN = (
    "Apply through the general building permit route (Building Control Act s.21) at the LAO's engineering division"
)


class AreaRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The eligibility rules of one area type, as the LAO keeps them."""

    title_th: str
    #: The ministerial regulation 56 simplified dossier applies here (อบต. areas).
    mr56_applies: bool
    max_floor_area_m2: Decimal = Decimal(150)
    mr56_residence_max_storeys: int = 2
    mr56_residence_max_area_m2: Decimal = Decimal(150)
    mr56_farm_max_area_m2: Decimal = Decimal(100)
    mr56_water_tower_max_height_m: Decimal = Decimal(6)
    engineer_min_storeys: int = 2
    architect_above_area_m2: Decimal = Decimal(150)


#: The defaults a new LAO starts with (DOMAIN.md §2). ``sao``: an อบต. area (MR 56 applies);
#: ``municipal``: a municipality or another area where it does not.
DEFAULT_RULES: dict[str, AreaRules] = {
    "sao": AreaRules(title_th="เขตองค์การบริหารส่วนตำบล", mr56_applies=True),
    "municipal": AreaRules(title_th="เขตเทศบาลและเขตอื่น", mr56_applies=False),
}


class BuildingFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules look at (taken from the application's answers)."""

    kind: Kind
    use: Use
    storeys: int
    height_m: Decimal
    floor_area_m2: Decimal
    applicant_kind: Literal["person", "juristic"] = "person"
    owner_is_applicant: bool = True
    by_proxy: bool = False


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    """One finding, with a stable code and the explanation given to the applicant."""

    code: str
    th: str
    en: str


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the documents checklist."""

    code: str
    name_th: str
    name_en: str


class Eligibility(msgspec.Struct, frozen=True, kw_only=True):
    eligible: bool
    simplified: bool
    engineer_required: bool
    architect_required: bool
    reasons: list[Reason]
    documents: list[Document]
    #: Where to go instead (set when not eligible).
    route_th: str | None = None
    route_en: str | None = None


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def mr56_case(facts: BuildingFacts, rules: AreaRules) -> Reason | None:
    """The MR 56 case the building falls in, or None."""
    if not rules.mr56_applies:
        return None
    area, use = facts.floor_area_m2, facts.use
    if (
        use == "residence"
        and facts.storeys <= rules.mr56_residence_max_storeys
        and area <= rules.mr56_residence_max_area_m2
    ):
        return Reason(
            code="mr56_residence",
            th=(
                f"อาคารอยู่อาศัยไม่เกิน {rules.mr56_residence_max_storeys} ชั้น พื้นที่รวมไม่เกิน "
                f"{_num(rules.mr56_residence_max_area_m2)} ตารางเมตร ในเขตที่ใช้กฎกระทรวงฉบับที่ 56: "
                "ใช้แผนผังบริเวณโดยสังเขปและสำเนาโฉนดที่ดิน ไม่ต้องมีแบบแปลนและรายการคำนวณ"
            ),
            en=(
                f"A residence of at most {rules.mr56_residence_max_storeys} storeys and "
                f"{_num(rules.mr56_residence_max_area_m2)} m² where MR 56 applies: a rough site plan and a copy "
                "of the land title only, no drawings or calculations"
            ),
        )
    if use == "farm_storage" and area <= rules.mr56_farm_max_area_m2:
        return Reason(
            code="mr56_farm_storage",
            th=(
                f"โรงเก็บผลผลิตทางการเกษตรหรือโรงเรือนเลี้ยงสัตว์พื้นที่ไม่เกิน {_num(rules.mr56_farm_max_area_m2)} "
                "ตารางเมตร ตามกฎกระทรวงฉบับที่ 56: ใช้แผนผังบริเวณโดยสังเขปและสำเนาโฉนดที่ดิน"
            ),
            en=(
                f"Farm storage or animal housing of at most {_num(rules.mr56_farm_max_area_m2)} m² (MR 56): "
                "a rough site plan and a copy of the land title only"
            ),
        )
    if use in ("fence", "stall"):
        return Reason(
            code=f"mr56_{use}",
            th=f"{USE_TH[use]} ตามกฎกระทรวงฉบับที่ 56: ใช้แผนผังบริเวณโดยสังเขปและสำเนาโฉนดที่ดิน",
            en=f"A {use} (MR 56): a rough site plan and a copy of the land title only",
        )
    if use == "water_tower" and facts.height_m <= rules.mr56_water_tower_max_height_m:
        return Reason(
            code="mr56_water_tower",
            th=(
                f"หอถังน้ำสูงไม่เกิน {_num(rules.mr56_water_tower_max_height_m)} เมตร ตามกฎกระทรวงฉบับที่ 56: "
                "ใช้แผนผังบริเวณโดยสังเขปและสำเนาโฉนดที่ดิน"
            ),
            en=(
                f"A water tower of at most {_num(rules.mr56_water_tower_max_height_m)} m (MR 56): "
                "a rough site plan and a copy of the land title only"
            ),
        )
    return None


def assess(facts: BuildingFacts, rules: AreaRules) -> Eligibility:
    """Whether this service takes the application, which dossier it needs, and why."""
    reasons: list[Reason] = []
    if facts.floor_area_m2 > rules.max_floor_area_m2:
        reasons.append(
            Reason(
                code="area_above_limit",
                th=(
                    f"พื้นที่อาคารรวม {_num(facts.floor_area_m2)} ตารางเมตร เกิน {_num(rules.max_floor_area_m2)} "
                    f"ตารางเมตร ซึ่งเป็นขอบเขตของบริการนี้ โปรด{GENERAL_ROUTE_TH}"
                ),
                en=(
                    f"The total floor area {_num(facts.floor_area_m2)} m² is above the "
                    f"{_num(rules.max_floor_area_m2)} m² "
                    f"this service takes. {GENERAL_ROUTE_EN}"
                ),
            )
        )
        return Eligibility(
            eligible=False,
            simplified=False,
            engineer_required=False,
            architect_required=False,
            reasons=reasons,
            documents=[],
            route_th=GENERAL_ROUTE_TH,
            route_en=GENERAL_ROUTE_EN,
        )
    reasons.append(
        Reason(
            code="area_within_limit",
            th=f"พื้นที่อาคารรวม {_num(facts.floor_area_m2)} ตารางเมตร ไม่เกิน {_num(rules.max_floor_area_m2)} ตารางเมตร",
            en=f"The total floor area {_num(facts.floor_area_m2)} m² is within {_num(rules.max_floor_area_m2)} m²",
        )
    )
    simplified = mr56_case(facts, rules)
    engineer = architect = False
    if simplified is not None:
        reasons.append(simplified)
    else:
        if not rules.mr56_applies:
            reasons.append(
                Reason(
                    code="mr56_not_in_area",
                    th="เขตนี้ไม่ใช้กฎกระทรวงฉบับที่ 56 ต้องยื่นแบบแปลนและรายการประกอบแบบแปลน",
                    en="MR 56 does not apply in this area: drawings and specifications are required",
                )
            )
        else:
            reasons.append(
                Reason(
                    code="mr56_not_applicable",
                    th="อาคารนี้ไม่เข้าลักษณะตามกฎกระทรวงฉบับที่ 56 ต้องยื่นแบบแปลนและรายการประกอบแบบแปลน",
                    en="The building is not an MR 56 case: drawings and specifications are required",
                )
            )
        if facts.storeys >= rules.engineer_min_storeys:
            engineer = True
            reasons.append(
                Reason(
                    code="engineer_required",
                    th=(
                        f"อาคาร {facts.storeys} ชั้น (ตั้งแต่ {rules.engineer_min_storeys} ชั้นขึ้นไป) ต้องมีรายการคำนวณ"
                        "โครงสร้างลงนามโดยวิศวกรผู้ได้รับใบอนุญาตประกอบวิชาชีพวิศวกรรมควบคุม"
                    ),
                    en=(
                        f"{facts.storeys} storeys (from {rules.engineer_min_storeys}): structural calculations signed "
                        "by a licensed engineer"
                    ),
                )
            )
        if facts.floor_area_m2 > rules.architect_above_area_m2:
            architect = True
            reasons.append(
                Reason(
                    code="architect_required",
                    th=(
                        f"พื้นที่เกิน {_num(rules.architect_above_area_m2)} ตารางเมตร ต้องมีแบบลงนามโดยสถาปนิก"
                        "ผู้ได้รับใบอนุญาตประกอบวิชาชีพสถาปัตยกรรมควบคุม"
                    ),
                    en=f"Above {_num(rules.architect_above_area_m2)} m²: drawings signed by a licensed architect",
                )
            )
    return Eligibility(
        eligible=True,
        simplified=simplified is not None,
        engineer_required=engineer,
        architect_required=architect,
        reasons=reasons,
        documents=checklist(facts, simplified=simplified is not None, engineer=engineer, architect=architect),
    )


def _doc(code: str, th: str, en: str) -> Document:
    return Document(code=code, name_th=th, name_en=en)


def checklist(facts: BuildingFacts, *, simplified: bool, engineer: bool, architect: bool) -> list[Document]:
    """The documents the application needs, from its answers (DOMAIN.md §2, "typical documents")."""
    docs = [
        _doc("form_kh1", "แบบคำขออนุญาต (ข.1)", "Application form Kh.1"),
        _doc(
            "applicant_id",
            "สำเนาบัตรประจำตัวประชาชนและทะเบียนบ้านของผู้ขออนุญาต",
            "Applicant's ID card and house registration",
        ),
        _doc("land_title", "สำเนาโฉนดที่ดิน/น.ส.3ก/เอกสารสิทธิ์ ขนาดเท่าต้นฉบับ", "Copy of the land title"),
    ]
    if not facts.owner_is_applicant:
        docs.append(_doc("landowner_consent", "หนังสือยินยอมของเจ้าของที่ดิน", "Landowner's consent"))
        docs.append(_doc("landowner_id", "สำเนาบัตรประจำตัวประชาชนของเจ้าของที่ดิน", "Landowner's ID card"))
    if facts.applicant_kind == "juristic":
        docs.append(_doc("company_certificate", "หนังสือรับรองการจดทะเบียนนิติบุคคล", "Company registration certificate"))
    if facts.by_proxy:
        docs.append(_doc("power_of_attorney", "หนังสือมอบอำนาจ", "Power of attorney"))
    if simplified:
        docs.append(_doc("site_plan_rough", "แผนผังบริเวณโดยสังเขป", "Rough site plan"))
    else:
        docs.append(_doc("site_plan", "แผนผังบริเวณ", "Site plan"))
        docs.append(_doc("drawings", "แบบแปลนและรายการประกอบแบบแปลน", "Drawings and specifications"))
    if engineer:
        docs.append(_doc("structural_calculations", "รายการคำนวณโครงสร้าง", "Structural calculations"))
        docs.append(_doc("engineer_licence", "สำเนาใบอนุญาตประกอบวิชาชีพวิศวกรรมควบคุม", "Engineer's licence"))
    if architect:
        docs.append(_doc("architect_licence", "สำเนาใบอนุญาตประกอบวิชาชีพสถาปัตยกรรมควบคุม", "Architect's licence"))
    return docs
