"""Request-body examples of the identity operations (``kernel.examples``): staff, units, positions,
API clients and citizens' apps of an LAO, and the operator's platform-wide apps."""

from __future__ import annotations

from localgov.kernel.examples import ExampleTable, RequestExample, example_id

STAFF = example_id("identity.staff")
UNIT = example_id("identity.unit")
WORK_UNIT = example_id("identity.work_unit")
PARENT_UNIT = example_id("identity.parent_unit")
POSITION = example_id("identity.position")
#: A staff member's e-mail and password (the caller's own), and the refresh token a login gave:
#: made up for the reference, no account or session has them.
STAFF_EMAIL = "malee.r@maehia.go.th"
STAFF_PASSWORD = "ลำไยแม่เหียะ หวานฉ่ำ ปี 2569"  # noqa: S105  (an example shown in the reference)
REFRESH_TOKEN = "lgr_Q2hpYW5nTWFpTWFlSGlhLWV4YW1wbGUtcmVmcmVzaA"  # noqa: S105  (likewise)
#: The secrets of the links an invitation and a password reset e-mail (``…#token=``).
INVITATION_TOKEN = "lgi_SW52aXRhdGlvbi1leGFtcGxlLXRva2VuLW1hZWhpYQ"  # noqa: S105  (likewise)
RESET_TOKEN = "lgp_UGFzc3dvcmQtcmVzZXQtZXhhbXBsZS10b2tlbg"  # noqa: S105  (likewise)
#: The same for a member of the operator's staff (operator host).
OPERATOR_EMAIL = "somchai.p@operator.example.go.th"
OPERATOR_PASSWORD = "ข้าวซอยไก่ น้ำพริกหนุ่ม แคบหมู 2569"  # noqa: S105  (likewise)
OPERATOR_REFRESH_TOKEN = "lgo_T3BlcmF0b3ItZXhhbXBsZS1yZWZyZXNoLXRva2Vu"  # noqa: S105  (likewise)

EXAMPLES: ExampleTable = {
    "createApiClient": RequestExample(
        "ระบบบัญชีของสำนักงาน — the office's accounting system, reading and creating bills",
        {"name": "ระบบบัญชีของเทศบาล (accounting system)", "scopes": ["payments.read", "payments.write"]},
    ),
    "registerCitizenApp": RequestExample(
        "แอปพลิเคชันบนมือถือของเทศบาล — the LAO's mobile app",
        {
            "name": "แอปเทศบาลเมืองแม่เหียะ (Mae Hia app)",
            "kind": "native",
            "redirect_uris": ["th.go.maehia.app:/callback"],
            "post_logout_redirect_uris": ["th.go.maehia.app:/logout"],
        },
    ),
    "registerPlatformCitizenApp": RequestExample(
        "แอปกลางสำหรับประชาชน — a web app of the platform for every LAO",
        {
            "name": "บริการประชาชนออนไลน์ (citizen portal)",
            "kind": "web",
            "redirect_uris": ["https://portal.example.go.th/callback"],
        },
    ),
    "setCitizenLoginSettings": RequestExample(
        "ต้องยืนยันตัวตนระดับ IAL2.3 — require a substantial assurance level", {"login_acr": "substantial"}
    ),
    "inviteStaff": RequestExample(
        "เชิญเจ้าหน้าที่การเงิน — invite a finance officer",
        {"email": "somchai@example.go.th", "full_name": "นายสมชาย ใจดี", "roles": ["payments.cashier"]},
    ),
    "assignStaff": RequestExample(
        "ย้ายไปกองคลัง ตำแหน่งนักวิชาการเงินและบัญชี — to the finance division, as a finance officer",
        {"unit_id": UNIT, "position_id": POSITION},
        path={"staff_id": STAFF},
    ),
    "createUnit": (
        RequestExample(
            "กองคลัง — the finance division",
            {"code": "finance", "name_th": "กองคลัง", "name_en": "Finance Division", "kind": "division"},
        ),
        RequestExample(
            "งานธุรการในกองคลัง — a work unit inside the division",
            {
                "code": "finance-admin",
                "name_th": "งานธุรการ",
                "name_en": "Administration Work Unit",
                "kind": "work_unit",
                "parent_id": UNIT,
            },
        ),
    ),
    "updateUnit": RequestExample(
        "เปลี่ยนชื่อภาษาอังกฤษ — a new English name",
        {"name_en": "Division of Finance and Accounts"},
        path={"unit_id": UNIT},
    ),
    "moveUnit": RequestExample(
        "ย้ายงานธุรการไปสังกัดสำนักปลัด — the work unit moves to the office of the permanent secretary",
        {"parent_id": PARENT_UNIT},
        path={"unit_id": WORK_UNIT},
    ),
    "setUnitSupervisor": RequestExample(
        "ผู้อำนวยการกองคลังเป็นผู้บังคับบัญชา — the division's director supervises it",
        {"staff_id": STAFF},
        path={"unit_id": UNIT},
    ),
    "createPosition": RequestExample(
        "นักวิชาการเงินและบัญชี — a finance and accounts officer",
        {"title_th": "นักวิชาการเงินและบัญชี", "title_en": "Finance and Accounts Officer", "level": "ชำนาญการ"},
    ),
    "updatePosition": RequestExample(
        "เลื่อนระดับ — a higher level", {"level": "ชำนาญการพิเศษ"}, path={"position_id": POSITION}
    ),
    "loginStaff": RequestExample("เข้าสู่ระบบ — log in", {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}),
    "refreshSession": RequestExample(
        "ต่ออายุการเข้าสู่ระบบ — a new access token (the refresh token is rotated)", {"refresh_token": REFRESH_TOKEN}
    ),
    "logout": RequestExample("ออกจากระบบ — log out", {"refresh_token": REFRESH_TOKEN}),
    "changeMyPassword": RequestExample(
        "เปลี่ยนรหัสผ่าน — a new password",
        {"current_password": STAFF_PASSWORD, "new_password": "ดอยสุเทพ ฟ้าใส ลมหนาวมาเยือน 2570"},
    ),
    "operatorLogin": RequestExample(
        "เจ้าหน้าที่ผู้ให้บริการเข้าสู่ระบบ — an operator logs in", {"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD}
    ),
    "operatorRefresh": RequestExample(
        "ต่ออายุการเข้าสู่ระบบ — a new access token", {"refresh_token": OPERATOR_REFRESH_TOKEN}
    ),
    "operatorLogout": RequestExample("ออกจากระบบ — log out", {"refresh_token": OPERATOR_REFRESH_TOKEN}),
    "acceptStaffInvitation": RequestExample(
        "รับคำเชิญ ตั้งรหัสผ่าน — accept the invitation, choosing a password",
        {"token": INVITATION_TOKEN, "password": "ประตูท่าแพ เช้าวันอาทิตย์ ตลาดนัด 2569"},
    ),
    "resetStaffPassword": RequestExample(
        "ตั้งรหัสผ่านใหม่จากลิงก์ในอีเมล — a new password, from the e-mailed link",
        {"token": RESET_TOKEN, "new_password": "ดอยอินทนนท์ หมอกขาว ยามเช้า 2570"},
    ),
    "requestStaffPasswordReset": RequestExample(
        "ลืมรหัสผ่าน — forgot the password (always 202, whether the address is known or not)",
        {"email": "somchai@example.go.th"},
    ),
}
