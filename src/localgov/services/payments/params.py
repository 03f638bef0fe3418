"""What the payments endpoints share: who may call them, path and query parameters, and
small response helpers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Response
from litestar.params import PathParameter, QueryParameter

from localgov.kernel.auth.guards import client, staff
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import NotFound, problem_responses
from localgov.kernel.text import ONE_LINE
from localgov.services.payments.models import FeeType

#: Who may call what. Staff rights are permissions, granted by the roles the plugin declares
#: (``payments.finance``: read, write, manage; ``payments.cashier``: read); integrators' API
#: clients hold the scopes of the same names. ``tenant_admin`` is a core role and grants no
#: ``payments.*`` permission, so the two routes it shares with finance name both roles.
READ = staff(permission="payments.read") | client("payments.read", "payments.write")
WRITE = staff(permission="payments.write") | client("payments.write")
#: Money and bookkeeping: bill runs, deletions, imports, the bank, voids, reports.
MANAGE = staff(permission="payments.manage")
#: Receipts: finance and cashiers.
RECEIPTS = staff(permission="payments.read")
#: Reading receipts: finance and cashiers, and integrators' API clients granted ``payments.receipts.read``.
RECEIPTS_READ = RECEIPTS | client("payments.receipts.read")
#: Reading the payments the bank reported: finance officers, and API clients granted ``payments.bank.read``.
BANK_READ = MANAGE | client("payments.bank.read")
#: The counter: cashiers take money into their own cash book (``payments.cashier``).
COLLECT = staff(permission="payments.collect")
#: Cancelling a receipt: a supervisor's right (finance officers, ``payments.supervisor``), never a cashier's.
VOID = staff(permission="payments.void")
FINANCE_OR_ADMIN = staff("payments.finance", "tenant_admin")

#: Public bill lookups: per client address, and per bill reference (a 6-digit code must not be
#: guessable by many addresses together).
LOOKUP_LIMIT_PER_ADDRESS = (30, 300)
LOOKUP_LIMIT_PER_REFERENCE = (10, 3600)
#: A citizen linking payers.
LINK_LIMIT_PER_CITIZEN = (10, 3600)

PayerId = Annotated[uuid.UUID, PathParameter(description="The payer's id")]
AccountId = Annotated[uuid.UUID, PathParameter(description="The fee account's id")]
TariffId = Annotated[uuid.UUID, PathParameter(description="The tariff version's id")]
BillId = Annotated[uuid.UUID, PathParameter(description="The bill's id")]
PeriodParam = Annotated[str | None, QueryParameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
FeeTypeParam = Annotated[FeeType | None, QueryParameter(description="Fee type")]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
VerificationCode = Annotated[str, msgspec.Meta(min_length=1, max_length=8, pattern=r"^[0-9]+$")]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500, pattern=ONE_LINE)]

STAFF_ERRORS = (401, 403, 404, 410, 422)
QR_DESCRIPTION = (
    "The bill's Thai QR (bill payment, tag 30): the LAO's biller ID, Ref1 = the bill reference, the "
    "amount. 409 `biller_not_configured` until the biller ID is set; 409 `bill_not_open` for a paid "
    "or cancelled bill."
)


def staff_uuid(principal: Principal) -> uuid.UUID | None:
    """The calling staff member's id (None for an API client)."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


def citizen_uuid(principal: Principal) -> uuid.UUID:
    """The calling citizen's id."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise NotFound("Unknown citizen account.", code="citizen_not_found") from None


def image_response(content: bytes, media_type: str) -> Response[bytes]:
    return Response(content, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})


def image_problems() -> dict[int, Any]:
    return problem_responses(401, 403, 404, 409, 410)
