"""The catalogue a new LAO starts with: common services of Thai LAOs and plausible manuals.

**These are defaults each LAO must check** against its own ordinances (ข้อบัญญัติท้องถิ่น), the
regulations in force and its practice (units, places, hours, fees, times) before publishing them:
they are seeded as drafts, never published by the platform. Fees and time limits follow
``DOMAIN.md`` where it gives them (items marked "verify" there are marked so in ``remarks``).
"""

from __future__ import annotations

from decimal import Decimal

from localgov.services.oss.schemas import (
    Channel,
    ComplaintChannel,
    Duration,
    Fee,
    Form,
    LegalBasis,
    RequiredDocument,
    ServiceManual,
    Step,
)

HOURS_TH = "วันจันทร์ถึงวันศุกร์ (ยกเว้นวันหยุดที่ทางราชการกำหนด) ตั้งแต่เวลา 08:30–16:30 น. (มีพักเที่ยง)"
HOURS_EN = "Monday to Friday except public holidays, 08:30–16:30 (lunch break)"
CHECK_TH = (
    "ข้อมูลในคู่มือนี้เป็นค่าตั้งต้นที่ระบบจัดเตรียมไว้ องค์กรปกครองส่วนท้องถิ่นต้องตรวจสอบและแก้ไขให้ตรงกับ"
    "ข้อบัญญัติท้องถิ่น ระเบียบที่ใช้บังคับ และการปฏิบัติงานจริง (หน่วยงาน สถานที่ เวลา ค่าธรรมเนียม) ก่อนเผยแพร่"
)
CHECK_EN = (
    "Default content prepared by the platform: the LAO checks it against its ordinances, the regulations in force "
    "and its practice (units, places, times, fees) before publishing."
)


def _counter(place_th: str = "ศูนย์บริการร่วม (One Stop Service) สำนักงานองค์กรปกครองส่วนท้องถิ่น") -> Channel:
    return Channel(
        kind="counter", place_th=place_th, place_en="One Stop Service counter, LAO office", hours_th=HOURS_TH,
        hours_en=HOURS_EN,
    )  # fmt: skip


def _days(n: int) -> Duration:
    return Duration(value=n, unit="days")


def _minutes(n: int) -> Duration:
    return Duration(value=n, unit="minutes")


def _id_card(copies: int = 1) -> RequiredDocument:
    return RequiredDocument(
        name_th="บัตรประจำตัวประชาชน", name_en="National ID card", issued_by_th="กรมการปกครอง",
        issued_by_en="Department of Provincial Administration", originals=1, copies=copies, group="identity",
    )  # fmt: skip


def _house_registration() -> RequiredDocument:
    return RequiredDocument(
        name_th="ทะเบียนบ้าน", name_en="House registration", issued_by_th="กรมการปกครอง",
        issued_by_en="Department of Provincial Administration", originals=1, copies=1, group="identity",
    )  # fmt: skip


def _power_of_attorney() -> RequiredDocument:
    return RequiredDocument(
        name_th="หนังสือมอบอำนาจ พร้อมสำเนาบัตรประจำตัวประชาชนของผู้มอบและผู้รับมอบอำนาจ (กรณีมอบอำนาจ)",
        name_en="Power of attorney with both parties' ID card copies (when someone acts for the applicant)",
        issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant", originals=1, copies=0,
        note_th="ปิดอากรแสตมป์ตามที่กฎหมายกำหนด",
    )  # fmt: skip


def _juristic_certificate() -> RequiredDocument:
    return RequiredDocument(
        name_th="หนังสือรับรองการจดทะเบียนนิติบุคคล (กรณีนิติบุคคล)",
        name_en="Certificate of registration of the juristic person (for a juristic person)",
        issued_by_th="กรมพัฒนาธุรกิจการค้า", issued_by_en="Department of Business Development", originals=0, copies=1,
        note_th="ออกให้ไม่เกิน 6 เดือน",
    )  # fmt: skip


COMPLAINTS: list[ComplaintChannel] = [
    ComplaintChannel(
        name_th="ศูนย์รับเรื่องร้องเรียนขององค์กรปกครองส่วนท้องถิ่น", name_en="The LAO's complaints desk",
        contact_th="ติดต่อด้วยตนเอง ณ สำนักงาน หรือทางโทรศัพท์และช่องทางออนไลน์ขององค์กรปกครองส่วนท้องถิ่น",
        contact_en="In person at the office, by phone or online",
    ),
    ComplaintChannel(
        name_th="ศูนย์ดำรงธรรม กระทรวงมหาดไทย", name_en="Damrongdhama Centre, Ministry of Interior",
        contact_th="สายด่วน 1567 หรือศูนย์ดำรงธรรมจังหวัดและอำเภอ",
        contact_en="Hotline 1567, or the provincial or district centre",
    ),
    ComplaintChannel(
        name_th="ศูนย์บริการประชาชน สำนักปลัดสำนักนายกรัฐมนตรี",
        name_en="Public Service Centre, Office of the Permanent Secretary, Office of the Prime Minister",
        contact_th="สายด่วน 1111 / www.1111.go.th / ตู้ ปณ.1111 เลขที่ 1 ถนนพิษณุโลก เขตดุสิต กรุงเทพมหานคร 10300",
        contact_en="Hotline 1111 / www.1111.go.th / PO Box 1111, 1 Phitsanulok Road, Dusit, Bangkok 10300",
    ),
]  # fmt: skip

_BUILDING_CRITERIA = "\n".join(
    (
        "1. ผู้ขออนุญาตต้องเป็นเจ้าของอาคารหรือผู้ได้รับมอบอำนาจจากเจ้าของอาคาร "
        "และต้องได้รับความยินยอมจากเจ้าของที่ดินกรณีก่อสร้างในที่ดินของผู้อื่น",
        "2. อาคารต้องเป็นไปตามกฎกระทรวง ข้อบัญญัติท้องถิ่นที่ออกตามพระราชบัญญัติควบคุมอาคาร พ.ศ. 2522 และผังเมืองรวมที่ใช้บังคับ",
        "3. อาคารที่มีความสูงตั้งแต่ 2 "
        "ชั้นขึ้นไปต้องมีรายการคำนวณโครงสร้างที่ผู้ประกอบวิชาชีพวิศวกรรมควบคุมรับรอง "
        "อาคารที่มีพื้นที่รวมเกิน 150 ตารางเมตรต้องมีผู้ประกอบวิชาชีพสถาปัตยกรรมควบคุมออกแบบ",
        "4. เจ้าพนักงานท้องถิ่นต้องออกใบอนุญาต (แบบ อ.1) "
        "หรือมีหนังสือแจ้งคำสั่งไม่อนุญาตพร้อมเหตุผลภายใน 45 วันนับแต่วันที่ได้รับคำขอ "
        "กรณีมีเหตุจำเป็นขยายเวลาได้ไม่เกิน 2 คราว คราวละไม่เกิน 45 วัน "
        "โดยแจ้งผู้ขอทราบพร้อมเหตุผลก่อนครบกำหนด",
        "5. กรณีคำขอหรือเอกสารหลักฐานไม่ครบถ้วน "
        "เจ้าหน้าที่จะบันทึกความบกพร่องและรายการเอกสารที่ต้องยื่นเพิ่มเติมพร้อมกำหนดระยะเวลา "
        "โดยให้ผู้ยื่นคำขอลงนามรับทราบ หากไม่ยื่นเพิ่มเติมภายในเวลาที่กำหนด จะคืนคำขอ",
    )
)

_FOOD_CRITERIA = "\n".join(
    (
        "1. สถานที่จำหน่ายอาหารหรือสถานที่สะสมอาหารมีพื้นที่ไม่เกิน 200 ตารางเมตร และไม่อยู่ในตลาด "
        "(พื้นที่เกิน 200 ตารางเมตรต้องขอใบอนุญาตจัดตั้งแทนการแจ้ง)",
        "2. ต้องแจ้งต่อเจ้าพนักงานท้องถิ่นก่อนเริ่มดำเนินกิจการ และชำระค่าธรรมเนียมเป็นรายปีตามข้อบัญญัติท้องถิ่น",
        "3. สถานที่ต้องถูกสุขลักษณะตามกฎกระทรวงสุขลักษณะของสถานที่จำหน่ายอาหาร พ.ศ. 2561 "
        "และข้อบัญญัติท้องถิ่น ผู้ประกอบกิจการและผู้สัมผัสอาหารต้องผ่านการอบรมตามที่กฎหมายกำหนด",
        "4. เมื่อแบบแจ้งและเอกสารครบถ้วน เจ้าพนักงานท้องถิ่นออกหนังสือรับรองการแจ้งให้ในวันที่ได้รับแจ้ง หนังสือรับรองใช้ได้ตลอดเวลาที่ดำเนินกิจการ",
    )
)

_HAZARD_CRITERIA = "\n".join(
    (
        "1. กิจการเป็นประเภทที่ข้อบัญญัติท้องถิ่นกำหนดให้ต้องได้รับใบอนุญาตตามประกาศกระทรวงสาธารณสุขว่าด้วยกิจการที่เป็นอันตรายต่อสุขภาพ",
        "2. สถานประกอบกิจการต้องถูกสุขลักษณะ และมีมาตรการป้องกันเหตุรำคาญและผลกระทบต่อสุขภาพตามข้อบัญญัติท้องถิ่น",
        "3. ต้องได้รับอนุญาตตามกฎหมายอื่นที่เกี่ยวข้องแล้ว (เช่น กฎหมายควบคุมอาคาร กฎหมายผังเมือง)",
        "4. เจ้าพนักงานท้องถิ่นต้องออกใบอนุญาตหรือมีหนังสือแจ้งคำสั่งไม่อนุญาตพร้อมเหตุผลภายใน 30 วันนับแต่วันที่ได้รับคำขอที่ถูกต้องครบถ้วน",
        "5. ใบอนุญาตมีอายุ 1 ปีนับแต่วันที่ออก ผู้รับใบอนุญาตต้องยื่นคำขอต่ออายุก่อนใบอนุญาตสิ้นอายุ",
    )
)

_TAX_CRITERIA = "\n".join(
    (
        "1. ผู้เป็นเจ้าของที่ดินหรือสิ่งปลูกสร้าง ณ วันที่ 1 มกราคมของปีภาษี เป็นผู้มีหน้าที่เสียภาษี",
        "2. องค์กรปกครองส่วนท้องถิ่นส่งหนังสือแจ้งการประเมินภาษีภายในเดือนกุมภาพันธ์ "
        "และผู้เสียภาษีชำระภาษีภายในเดือนเมษายนของปีภาษี เว้นแต่มีการขยายเวลาตามที่กฎหมายกำหนด",
        "3. ผู้ชำระภาษีเกินกำหนดต้องเสียเบี้ยปรับและเงินเพิ่มตามที่กฎหมายกำหนด",
        "4. ภาษีที่ต้องชำระตั้งแต่ 3,000 บาทขึ้นไป ผู้เสียภาษีขอผ่อนชำระเป็นงวดได้ไม่เกิน 3 งวด",
        "5. ผู้เสียภาษีที่ไม่เห็นด้วยกับการประเมินยื่นคำร้องคัดค้านต่อผู้บริหารท้องถิ่นได้ภายใน 30 วันนับแต่วันที่ได้รับแจ้งการประเมิน",
    )
)

_ELDERLY_CRITERIA = "\n".join(
    (
        "1. มีสัญชาติไทย",
        "2. มีภูมิลำเนาอยู่ในเขตองค์กรปกครองส่วนท้องถิ่นตามทะเบียนบ้าน",
        "3. มีอายุหกสิบปีบริบูรณ์ขึ้นไป หรือจะมีอายุครบหกสิบปีบริบูรณ์ในปีงบประมาณถัดไป และลงทะเบียนภายในระยะเวลาที่กำหนด",
        "4. ไม่เป็นผู้ได้รับสวัสดิการหรือสิทธิประโยชน์อื่นใดจากหน่วยงานของรัฐตามที่ระเบียบกำหนด",
        "5. คุณสมบัติ ระยะเวลาลงทะเบียน และอัตราเบี้ยยังชีพเป็นไปตามระเบียบกระทรวงมหาดไทยที่ใช้บังคับ",
    )
)

_DISABILITY_CRITERIA = "\n".join(
    (
        "1. มีสัญชาติไทย",
        "2. มีภูมิลำเนาอยู่ในเขตองค์กรปกครองส่วนท้องถิ่นตามทะเบียนบ้าน",
        "3. มีบัตรประจำตัวคนพิการตามกฎหมายว่าด้วยการส่งเสริมและพัฒนาคุณภาพชีวิตคนพิการ",
        "4. ไม่เป็นบุคคลซึ่งอยู่ในความอุปการะของสถานสงเคราะห์ของรัฐ",
        "5. ผู้ดูแลคนพิการ ผู้แทนโดยชอบธรรม หรือผู้พิทักษ์ ยื่นคำขอแทนได้ พร้อมหลักฐานการเป็นผู้ดูแลหรือผู้แทน",
    )
)

_WATER_CRITERIA = "\n".join(
    (
        "1. ผู้ขอมีภูมิลำเนาหรืออยู่อาศัยในเขตองค์กรปกครองส่วนท้องถิ่น และประสบปัญหาขาดแคลนน้ำอุปโภคบริโภค",
        "2. ให้บริการตามลำดับคำร้องและความเร่งด่วน ภายใต้จำนวนรถบรรทุกน้ำและปริมาณน้ำที่มีอยู่",
        "3. กรณีมีการประกาศเขตการให้ความช่วยเหลือผู้ประสบภัยพิบัติ ให้ความช่วยเหลือตามระเบียบที่เกี่ยวข้อง",
    )
)

_COMPLAINT_CRITERIA = "\n".join(
    (
        "1. ระบุชื่อ ที่อยู่ และช่องทางที่ติดต่อผู้ร้องได้ (เรื่องที่ไม่ระบุผู้ร้องจะพิจารณาตามความเหมาะสม)",
        "2. ระบุเรื่องที่ร้องเรียน ข้อเท็จจริง และพยานหลักฐานเท่าที่มี",
        "3. ข้อมูลของผู้ร้องเรียนได้รับการปกปิดและคุ้มครองตามกฎหมาย",
        "4. หน่วยงานแจ้งผลการดำเนินการหรือความคืบหน้าให้ผู้ร้องทราบภายใน 15 วัน",
    )
)

_ACT_2558 = LegalBasis(
    title_th="พระราชบัญญัติการอำนวยความสะดวกในการพิจารณาอนุญาตของทางราชการ พ.ศ. 2558",
    title_en="Licensing Facilitation Act B.E. 2558 (2015)",
)


def _building() -> ServiceManual:
    return ServiceManual(
        name_th="การขออนุญาตก่อสร้าง ดัดแปลง รื้อถอน หรือเคลื่อนย้ายอาคาร (ตามมาตรา 21)",
        name_en="Permit to construct, alter, demolish or move a building (section 21)",
        owning_unit_th="กองช่าง",
        legal_basis=[
            LegalBasis(title_th="พระราชบัญญัติควบคุมอาคาร พ.ศ. 2522 และที่แก้ไขเพิ่มเติม",
                       title_en="Building Control Act B.E. 2522 (1979), as amended"),
            LegalBasis(title_th="กฎกระทรวงกำหนดค่าธรรมเนียมใบอนุญาตและค่าตรวจแบบแปลนตามพระราชบัญญัติควบคุมอาคาร พ.ศ. 2522",
                       title_en="Ministerial regulations on permit and plan-check fees under the Building Control Act"),
            _ACT_2558,
        ],
        legal_time_limit=_days(45),
        channels=[_counter()],
        criteria_th=_BUILDING_CRITERIA,
        steps=[
            Step(title_th="การตรวจสอบเอกสาร", title_en="Document check",
                 description_th="เจ้าหน้าที่รับคำขอ (แบบ ข.1) ตรวจสอบความครบถ้วนของคำขอและเอกสารหลักฐาน",
                 duration=_days(1), unit_th="กองช่าง"),
            Step(title_th="การตรวจสอบสถานที่และพิจารณาแบบแปลน", title_en="Site inspection and plan review",
                 description_th="นายช่างตรวจสอบสถานที่ก่อสร้าง และตรวจพิจารณาแบบแปลนให้เป็นไปตามกฎหมาย",
                 duration=_days(30), unit_th="กองช่าง"),
            Step(title_th="การพิจารณาอนุญาต", title_en="Decision",
                 description_th="เจ้าพนักงานท้องถิ่นพิจารณาออกใบอนุญาต (แบบ อ.1) หรือมีคำสั่งไม่อนุญาตพร้อมเหตุผล",
                 duration=_days(7), unit_th="เจ้าพนักงานท้องถิ่น (ผู้บริหารท้องถิ่น)"),
            Step(title_th="การแจ้งผลและออกใบอนุญาต", title_en="Notification and issue of the permit",
                 description_th="แจ้งผลการพิจารณาเป็นหนังสือ รับชำระค่าธรรมเนียม และมอบใบอนุญาต",
                 duration=_days(2), unit_th="กองช่าง"),
        ],
        documents=[
            _id_card(),
            _house_registration(),
            RequiredDocument(name_th="แบบคำขออนุญาตก่อสร้างอาคาร ดัดแปลงอาคาร หรือรื้อถอนอาคาร (แบบ ข.1)",
                             name_en="Application form Kh.1", issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant",
                             originals=1),
            RequiredDocument(name_th="โฉนดที่ดิน น.ส.3 ก. หรือ ส.ค.1 ขนาดเท่าต้นฉบับทุกหน้า",
                             name_en="Land title deed (all pages, full size)", issued_by_th="กรมที่ดิน",
                             issued_by_en="Department of Lands", copies=1,
                             note_th="เจ้าของที่ดินลงนามรับรองสำเนาทุกหน้า"),
            RequiredDocument(name_th="หนังสือยินยอมให้ก่อสร้างอาคารในที่ดิน (กรณีผู้ขอไม่ใช่เจ้าของที่ดิน)",
                             name_en="Landowner's consent (when the applicant does not own the land)",
                             issued_by_th="เจ้าของที่ดิน", issued_by_en="The landowner", originals=1),
            RequiredDocument(name_th="แผนผังบริเวณ แบบแปลน และรายการประกอบแบบแปลน",
                             name_en="Site plan, drawings and specifications", issued_by_th="ผู้ยื่นคำขอ",
                             issued_by_en="The applicant", copies=5,
                             note_th="อาคารอยู่อาศัยไม่เกิน 2 ชั้นและพื้นที่รวมไม่เกิน 150 ตารางเมตรในเขต อบต. ใช้แผนผังโดยสังเขปได้"),
            RequiredDocument(name_th="รายการคำนวณโครงสร้าง (อาคารตั้งแต่ 2 ชั้นขึ้นไป)",
                             name_en="Structural calculations (two storeys or more)",
                             issued_by_th="ผู้ประกอบวิชาชีพวิศวกรรมควบคุม",
                             issued_by_en="A licensed engineer", originals=1),
            RequiredDocument(name_th="ใบอนุญาตเป็นผู้ประกอบวิชาชีพวิศวกรรมควบคุม (กรณีต้องมีวิศวกรรับรอง)",
                             name_en="Engineer's professional licence", issued_by_th="สภาวิศวกร",
                             issued_by_en="Council of Engineers", copies=1),
            RequiredDocument(name_th="ใบอนุญาตเป็นผู้ประกอบวิชาชีพสถาปัตยกรรมควบคุม (พื้นที่รวมเกิน 150 ตารางเมตร)",
                             name_en="Architect's professional licence", issued_by_th="สภาสถาปนิก",
                             issued_by_en="Architect Council of Thailand", copies=1),
            _juristic_certificate(),
            _power_of_attorney(),
        ],
        no_fee=False,
        fees=[
            Fee(description_th="ค่าธรรมเนียมใบอนุญาตก่อสร้างอาคาร", description_en="Construction permit",
                amount=Decimal("200.00"), note_th="ฉบับละ"),
            Fee(description_th="ค่าธรรมเนียมใบอนุญาตดัดแปลงอาคาร", description_en="Alteration permit",
                amount=Decimal("100.00"), note_th="ฉบับละ"),
            Fee(description_th="ค่าธรรมเนียมใบอนุญาตรื้อถอนหรือเคลื่อนย้ายอาคาร", description_en="Demolition or moving permit",
                amount=Decimal("50.00"), note_th="ฉบับละ"),
            Fee(description_th="ค่าธรรมเนียมการตรวจพิจารณาแบบแปลน", description_en="Plan check",
                rate_th=("สูงไม่เกิน 2 ชั้นหรือ 12 เมตร ตารางเมตรละ 0.50 บาท; "
                         "3 ชั้นหรือไม่เกิน 15 เมตร ตารางเมตรละ 2 บาท; สูงกว่านั้น ตารางเมตรละ 4 บาท"),
                rate_en="Up to 2 storeys or 12 m: 0.50 baht/m²; 3 storeys or up to 15 m: 2 baht/m²; higher: 4 baht/m²"),
        ],
        complaint_channels=COMPLAINTS,
        forms=[
            Form(title_th="แบบคำขออนุญาตก่อสร้างอาคาร ดัดแปลงอาคาร หรือรื้อถอนอาคาร (แบบ ข.1)",
                 title_en="Application form Kh.1"),
            Form(title_th="ใบอนุญาตก่อสร้างอาคาร ดัดแปลงอาคาร หรือรื้อถอนอาคาร (แบบ อ.1)",
                 title_en="Permit form O.1 (what is issued)", note_th="แบบใบอนุญาตที่ออกให้"),
        ],
        remarks_th=CHECK_TH + " อัตราค่าธรรมเนียมตามกฎกระทรวงต้องตรวจสอบกับฉบับที่ใช้บังคับ",
        remarks_en=CHECK_EN + " Fee rates must be checked against the ministerial regulation in force.",
    )  # fmt: skip


def _food() -> ServiceManual:
    return ServiceManual(
        name_th="การแจ้งจัดตั้งสถานที่จำหน่ายอาหารหรือสถานที่สะสมอาหาร พื้นที่ไม่เกิน 200 ตารางเมตร",
        name_en="Notification of a food sale or food storage premises of up to 200 m²",
        owning_unit_th="กองสาธารณสุขและสิ่งแวดล้อม",
        legal_basis=[
            LegalBasis(title_th="พระราชบัญญัติการสาธารณสุข พ.ศ. 2535 มาตรา 48",
                       title_en="Public Health Act B.E. 2535 (1992), s. 48"),
            LegalBasis(title_th="กฎกระทรวงสุขลักษณะของสถานที่จำหน่ายอาหาร พ.ศ. 2561",
                       title_en="Ministerial regulation on the hygiene of food premises B.E. 2561 (2018)"),
            LegalBasis(title_th="ข้อบัญญัติท้องถิ่นว่าด้วยสถานที่จำหน่ายอาหารและสถานที่สะสมอาหาร",
                       title_en="The LAO's ordinance on food premises"),
            _ACT_2558,
        ],
        legal_time_limit=_days(1),
        channels=[_counter()],
        criteria_th=_FOOD_CRITERIA,
        steps=[
            Step(title_th="การตรวจสอบเอกสาร", title_en="Document check",
                 description_th="เจ้าหน้าที่รับแบบแจ้งและตรวจสอบความครบถ้วนของเอกสาร พื้นที่ และประเภทกิจการ",
                 duration=_minutes(30), unit_th="กองสาธารณสุขและสิ่งแวดล้อม"),
            Step(title_th="การออกหนังสือรับรองการแจ้ง", title_en="Certificate of notification",
                 description_th="รับชำระค่าธรรมเนียมและออกหนังสือรับรองการแจ้ง",
                 duration=_minutes(30), unit_th="กองสาธารณสุขและสิ่งแวดล้อม"),
        ],
        documents=[
            _id_card(),
            _house_registration(),
            RequiredDocument(name_th="แบบแจ้งการจัดตั้งสถานที่จำหน่ายอาหารหรือสถานที่สะสมอาหาร",
                             name_en="Notification form", issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant",
                             originals=1),
            RequiredDocument(name_th="แผนที่ตั้งสถานที่จำหน่ายอาหารโดยสังเขป", name_en="Sketch map of the premises",
                             issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant", originals=1),
            _juristic_certificate(),
            _power_of_attorney(),
        ],
        no_fee=False,
        fees=[
            Fee(description_th="พื้นที่ไม่เกิน 20 ตารางเมตร", description_en="Up to 20 m²", amount=Decimal("20.00"),
                note_th="ต่อปี"),
            Fee(description_th="พื้นที่เกิน 20 ตารางเมตร แต่ไม่เกิน 200 ตารางเมตร", description_en="Over 20 m², up to 200 m²",
                amount=Decimal("100.00"), note_th="ต่อปี ชำระล่าช้าเสียเงินเพิ่มร้อยละ 20 ของค่าธรรมเนียม"),
        ],
        complaint_channels=COMPLAINTS,
        forms=[Form(title_th="แบบแจ้งการจัดตั้งสถานที่จำหน่ายอาหารหรือสถานที่สะสมอาหาร", title_en="Notification form")],
        remarks_th=CHECK_TH + " อัตราค่าธรรมเนียมเป็นตัวอย่าง ให้ใช้อัตราตามข้อบัญญัติท้องถิ่น",
        remarks_en=CHECK_EN + " The fees are examples: use the rates of the LAO's ordinance.",
    )  # fmt: skip


def _hazard() -> ServiceManual:
    return ServiceManual(
        name_th="การขอรับใบอนุญาตประกอบกิจการที่เป็นอันตรายต่อสุขภาพ",
        name_en="Licence to operate a business hazardous to health",
        owning_unit_th="กองสาธารณสุขและสิ่งแวดล้อม",
        legal_basis=[
            LegalBasis(title_th="พระราชบัญญัติการสาธารณสุข พ.ศ. 2535 มาตรา 31 มาตรา 32 และมาตรา 56",
                       title_en="Public Health Act B.E. 2535 (1992), ss. 31, 32 and 56"),
            LegalBasis(title_th="ประกาศกระทรวงสาธารณสุข เรื่อง กิจการที่เป็นอันตรายต่อสุขภาพ พ.ศ. 2558",
                       title_en="Ministry of Public Health notification on businesses hazardous to health "
                                "B.E. 2558 (2015)"),
            LegalBasis(title_th="ข้อบัญญัติท้องถิ่นว่าด้วยกิจการที่เป็นอันตรายต่อสุขภาพ",
                       title_en="The LAO's ordinance on businesses hazardous to health"),
            _ACT_2558,
        ],
        legal_time_limit=_days(30),
        channels=[_counter()],
        criteria_th=_HAZARD_CRITERIA,
        steps=[
            Step(title_th="การตรวจสอบเอกสาร", title_en="Document check", duration=_days(1),
                 unit_th="กองสาธารณสุขและสิ่งแวดล้อม"),
            Step(title_th="การตรวจสถานประกอบกิจการ", title_en="Inspection of the premises",
                 description_th="เจ้าพนักงานสาธารณสุขตรวจสุขลักษณะและมาตรการป้องกันผลกระทบต่อสุขภาพ",
                 duration=_days(10), unit_th="กองสาธารณสุขและสิ่งแวดล้อม"),
            Step(title_th="การพิจารณาอนุญาต", title_en="Decision", duration=_days(10),
                 unit_th="เจ้าพนักงานท้องถิ่น (ผู้บริหารท้องถิ่น)"),
            Step(title_th="การแจ้งผลและออกใบอนุญาต", title_en="Notification and issue of the licence",
                 duration=_days(2), unit_th="กองสาธารณสุขและสิ่งแวดล้อม"),
        ],
        documents=[
            _id_card(),
            _house_registration(),
            RequiredDocument(name_th="แบบคำขอรับใบอนุญาตประกอบกิจการที่เป็นอันตรายต่อสุขภาพ", name_en="Application form",
                             issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant", originals=1),
            RequiredDocument(name_th="แผนที่ตั้งสถานประกอบกิจการโดยสังเขป", name_en="Sketch map of the premises",
                             issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant", originals=1),
            RequiredDocument(name_th="หลักฐานการอนุญาตตามกฎหมายอื่นที่เกี่ยวข้อง (ถ้ามี)",
                             name_en="Permits under other laws (if any)", issued_by_th="หน่วยงานที่ออกใบอนุญาตนั้น",
                             issued_by_en="The issuing agency", copies=1),
            _juristic_certificate(),
            _power_of_attorney(),
        ],
        no_fee=False,
        fees=[
            Fee(description_th="ค่าธรรมเนียมใบอนุญาตประกอบกิจการที่เป็นอันตรายต่อสุขภาพ", description_en="Licence fee",
                rate_th="ตามอัตราท้ายข้อบัญญัติท้องถิ่น แยกตามประเภทกิจการ ต่อปี",
                rate_en="Yearly, by kind of business, at the rates of the LAO's ordinance"),
        ],
        complaint_channels=COMPLAINTS,
        forms=[Form(title_th="แบบคำขอรับใบอนุญาตประกอบกิจการที่เป็นอันตรายต่อสุขภาพ", title_en="Application form")],
        remarks_th=CHECK_TH,
        remarks_en=CHECK_EN,
    )  # fmt: skip


def _land_tax() -> ServiceManual:
    return ServiceManual(
        name_th="การรับชำระภาษีที่ดินและสิ่งปลูกสร้าง",
        name_en="Payment of the land and building tax",
        owning_unit_th="กองคลัง",
        legal_basis=[
            LegalBasis(title_th="พระราชบัญญัติภาษีที่ดินและสิ่งปลูกสร้าง พ.ศ. 2562",
                       title_en="Land and Building Tax Act B.E. 2562 (2019)"),
        ],
        legal_time_limit=None,
        channels=[_counter()],
        criteria_th=_TAX_CRITERIA,
        steps=[
            Step(title_th="การตรวจสอบและคำนวณยอดชำระ", title_en="Check and computation",
                 description_th="ตรวจสอบหนังสือแจ้งการประเมินภาษี คำนวณภาษี เบี้ยปรับ และเงินเพิ่ม (ถ้ามี)",
                 duration=_minutes(5), unit_th="กองคลัง"),
            Step(title_th="การรับชำระเงินและออกใบเสร็จรับเงิน", title_en="Payment and receipt",
                 duration=_minutes(5), unit_th="กองคลัง"),
        ],
        documents=[
            _id_card(copies=0),
            RequiredDocument(name_th="หนังสือแจ้งการประเมินภาษี", name_en="Tax assessment notice",
                             issued_by_th="องค์กรปกครองส่วนท้องถิ่น", issued_by_en="The LAO", originals=1),
            _power_of_attorney(),
        ],
        no_fee=True,
        complaint_channels=COMPLAINTS,
        remarks_th=CHECK_TH + " การชำระภาษีไม่มีค่าธรรมเนียม จำนวนภาษีเป็นไปตามหนังสือแจ้งการประเมิน",
        remarks_en=CHECK_EN + " Paying the tax costs no fee; the tax is as assessed.",
    )  # fmt: skip


def _allowance(kind: str) -> ServiceManual:
    elderly = kind == "elderly"
    basis = (
        LegalBasis(
            title_th="ระเบียบกระทรวงมหาดไทยว่าด้วยหลักเกณฑ์การจ่ายเงินเบี้ยยังชีพผู้สูงอายุขององค์กรปกครองส่วนท้องถิ่น "
            "พ.ศ. 2552 และที่แก้ไขเพิ่มเติม",
            title_en="Ministry of Interior regulation on old-age allowances paid by LAOs B.E. 2552 (2009), as amended",
        )
        if elderly
        else LegalBasis(
            title_th="ระเบียบกระทรวงมหาดไทยว่าด้วยการจ่ายเงินเบี้ยความพิการให้คนพิการขององค์กรปกครองส่วนท้องถิ่น "
            "พ.ศ. 2553 และที่แก้ไขเพิ่มเติม",
            title_en="Ministry of Interior regulation on disability allowances paid by LAOs B.E. 2553 (2010), "
            "as amended",
        )
    )
    act = (
        LegalBasis(title_th="พระราชบัญญัติผู้สูงอายุ พ.ศ. 2546", title_en="Older Persons Act B.E. 2546 (2003)")
        if elderly
        else LegalBasis(
            title_th="พระราชบัญญัติส่งเสริมและพัฒนาคุณภาพชีวิตคนพิการ พ.ศ. 2550 และที่แก้ไขเพิ่มเติม",
            title_en="Persons with Disabilities Empowerment Act B.E. 2550 (2007), as amended",
        )
    )
    documents = [_id_card(), _house_registration()]
    if not elderly:
        documents.append(
            RequiredDocument(
                name_th="บัตรประจำตัวคนพิการ", name_en="Disability ID card",
                issued_by_th="กรมส่งเสริมและพัฒนาคุณภาพชีวิตคนพิการ",
                issued_by_en="Department of Empowerment of Persons with Disabilities", originals=1, copies=1,
            )
        )  # fmt: skip
    documents.append(
        RequiredDocument(
            name_th="สมุดบัญชีเงินฝากธนาคาร (กรณีรับเงินผ่านบัญชีธนาคาร)", name_en="Bank book (to be paid into an account)",
            issued_by_th="ธนาคาร", issued_by_en="The bank", copies=1,
        )
    )  # fmt: skip
    documents.append(_power_of_attorney())
    what_th = "เบี้ยยังชีพผู้สูงอายุ" if elderly else "เบี้ยความพิการ"
    return ServiceManual(
        name_th=f"การลงทะเบียนและยื่นคำขอรับเงิน{what_th}",
        name_en="Registration for the old-age allowance" if elderly else "Registration for the disability allowance",
        owning_unit_th="สำนักปลัด",
        legal_basis=[basis, act],
        legal_time_limit=None,
        channels=[_counter()],
        criteria_th=_ELDERLY_CRITERIA if elderly else _DISABILITY_CRITERIA,
        steps=[
            Step(title_th="การรับลงทะเบียนและตรวจสอบเอกสาร", title_en="Registration and document check",
                 duration=_minutes(15), unit_th="สำนักปลัด (งานพัฒนาชุมชนและสวัสดิการสังคม)"),
            Step(title_th="การตรวจสอบคุณสมบัติและประกาศรายชื่อผู้มีสิทธิ", title_en="Eligibility check and list of beneficiaries",
                 duration=_days(15), unit_th="สำนักปลัด (งานพัฒนาชุมชนและสวัสดิการสังคม)"),
        ],
        documents=documents,
        no_fee=True,
        complaint_channels=COMPLAINTS,
        forms=[Form(title_th=f"แบบคำขอลงทะเบียนรับเงิน{what_th}", title_en="Registration form")],
        remarks_th=CHECK_TH,
        remarks_en=CHECK_EN,
    )  # fmt: skip


def _water_truck() -> ServiceManual:
    return ServiceManual(
        name_th="การขอรับความช่วยเหลือน้ำอุปโภคบริโภค (ขอความอนุเคราะห์รถบรรทุกน้ำ)",
        name_en="Request for household water by water truck",
        owning_unit_th="สำนักปลัด",
        legal_basis=[
            LegalBasis(title_th="พระราชบัญญัติกำหนดแผนและขั้นตอนการกระจายอำนาจให้แก่องค์กรปกครองส่วนท้องถิ่น พ.ศ. 2542",
                       title_en="Decentralisation Act B.E. 2542 (1999)"),
            LegalBasis(title_th="ระเบียบกระทรวงมหาดไทยว่าด้วยค่าใช้จ่ายเพื่อช่วยเหลือประชาชนตามอำนาจหน้าที่"
                                "ขององค์กรปกครองส่วนท้องถิ่น พ.ศ. 2560",
                       title_en="Ministry of Interior regulation on LAO expenses to assist the public "
                                "B.E. 2560 (2017)"),
        ],
        legal_time_limit=None,
        channels=[
            _counter(),
            Channel(kind="phone", place_th="โทรศัพท์ของสำนักงานองค์กรปกครองส่วนท้องถิ่น", place_en="The LAO office's phone",
                    hours_th=HOURS_TH, hours_en=HOURS_EN),
        ],
        criteria_th=_WATER_CRITERIA,
        steps=[
            Step(title_th="การรับคำร้อง", title_en="Request received", duration=_minutes(10),
                 unit_th="สำนักปลัด (งานป้องกันและบรรเทาสาธารณภัย)"),
            Step(title_th="การตรวจสอบข้อเท็จจริงและเสนอผู้บริหารอนุมัติ", title_en="Check and approval",
                 duration=_days(1), unit_th="สำนักปลัด (งานป้องกันและบรรเทาสาธารณภัย)"),
            Step(title_th="การจัดรถบรรทุกน้ำออกให้บริการ", title_en="Water delivered", duration=_days(2),
                 unit_th="สำนักปลัด (งานป้องกันและบรรเทาสาธารณภัย)"),
        ],
        documents=[
            _id_card(),
            RequiredDocument(name_th="แบบคำร้องขอรับความช่วยเหลือน้ำอุปโภคบริโภค", name_en="Request form",
                             issued_by_th="ผู้ยื่นคำขอ", issued_by_en="The applicant", originals=1),
        ],
        no_fee=True,
        complaint_channels=COMPLAINTS,
        forms=[Form(title_th="แบบคำร้องขอรับความช่วยเหลือน้ำอุปโภคบริโภค", title_en="Request form")],
        remarks_th=CHECK_TH + " องค์กรปกครองส่วนท้องถิ่นที่เรียกเก็บค่าน้ำหรือค่าขนส่งตามข้อบัญญัติ ให้แก้ไขเป็นรายการค่าธรรมเนียม",
        remarks_en=CHECK_EN + " An LAO whose ordinance charges for the water or its transport lists the fees instead.",
    )  # fmt: skip


def _complaints() -> ServiceManual:
    return ServiceManual(
        name_th="การรับเรื่องร้องเรียน ร้องทุกข์",
        name_en="Complaints and grievances",
        owning_unit_th="สำนักปลัด",
        legal_basis=[
            LegalBasis(title_th="พระราชกฤษฎีกาว่าด้วยหลักเกณฑ์และวิธีการบริหารกิจการบ้านเมืองที่ดี พ.ศ. 2546 มาตรา 38",
                       title_en="Royal Decree on Good Governance B.E. 2546 (2003), s. 38"),
            LegalBasis(title_th="ระเบียบสำนักนายกรัฐมนตรีว่าด้วยการจัดการเรื่องราวร้องทุกข์ พ.ศ. 2552",
                       title_en="Prime Minister's Office regulation on handling grievances B.E. 2552 (2009)"),
        ],
        legal_time_limit=_days(15),
        channels=[
            _counter(),
            Channel(kind="phone", place_th="โทรศัพท์ของสำนักงานองค์กรปกครองส่วนท้องถิ่น", place_en="The LAO office's phone",
                    hours_th=HOURS_TH, hours_en=HOURS_EN),
            Channel(kind="mail", place_th="ส่งหนังสือถึงสำนักงานองค์กรปกครองส่วนท้องถิ่นทางไปรษณีย์",
                    place_en="A letter to the LAO office by post", hours_th="ทุกวัน", hours_en="Any day"),
        ],
        criteria_th=_COMPLAINT_CRITERIA,
        steps=[
            Step(title_th="การรับเรื่องและลงทะเบียน", title_en="Complaint received and registered", duration=_days(1),
                 unit_th="สำนักปลัด"),
            Step(title_th="การพิจารณาและส่งหน่วยงานที่รับผิดชอบ", title_en="Review and referral to the responsible unit",
                 duration=_days(2), unit_th="สำนักปลัด"),
            Step(title_th="การดำเนินการและแจ้งผลหรือความคืบหน้าให้ผู้ร้องทราบ",
                 title_en="Action and reply to the complainant", duration=_days(12),
                 unit_th="หน่วยงานที่รับผิดชอบเรื่องร้องเรียน"),
        ],
        documents=[
            RequiredDocument(name_th="หลักฐานประกอบเรื่องร้องเรียน (ถ้ามี) เช่น ภาพถ่าย เอกสาร",
                             name_en="Evidence (if any), such as photos or documents", issued_by_th="ผู้ยื่นคำขอ",
                             issued_by_en="The complainant", copies=1),
        ],
        no_fee=True,
        complaint_channels=COMPLAINTS,
        forms=[Form(title_th="แบบคำร้องเรียน ร้องทุกข์", title_en="Complaint form")],
        remarks_th=CHECK_TH,
        remarks_en=CHECK_EN,
    )  # fmt: skip


def default_catalogue() -> list[tuple[str, ServiceManual]]:
    """The default services by code (built anew on each call: nothing shared between tenants)."""
    return [
        ("building-permit", _building()),
        ("food-premises-notification", _food()),
        ("health-hazard-licence", _hazard()),
        ("land-building-tax", _land_tax()),
        ("elderly-allowance", _allowance("elderly")),
        ("disability-allowance", _allowance("disability")),
        ("water-truck", _water_truck()),
        ("complaints", _complaints()),
    ]


#: The service point a new LAO starts with: one queue at the One Stop Service counter.
DEFAULT_POINT = {"code": "A", "name_th": "ศูนย์บริการร่วม", "name_en": "One Stop Service counter"}
