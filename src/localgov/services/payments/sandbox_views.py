"""``/v1/payments/sandbox``: the LAO's sandbox flag, and the bank simulator integrators drive."""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.services.payments import sandbox
from localgov.services.payments.bank_views import NotificationResult, _notification_result
from localgov.services.payments.params import FINANCE_OR_ADMIN, READ, WRITE
from localgov.settings import Settings


class SandboxController(Controller):
    path = "/sandbox"
    tags = ["Payments: sandbox"]

    @get(
        "/",
        operation_id="getPaymentSandbox",
        summary="Whether this LAO is a sandbox (its bank a simulator)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ | FINANCE_OR_ADMIN),
    )
    async def state(
        self, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
    ) -> sandbox.SandboxState:
        return await sandbox.get_state(db_session, settings.env)

    @put(
        "/",
        operation_id="setPaymentSandbox",
        summary="Turn the sandbox on or off (403 sandbox_not_in_production in production)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(FINANCE_OR_ADMIN),
    )
    async def set_state(
        self,
        data: JSONBody[sandbox.SandboxUpdate],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
    ) -> sandbox.SandboxState:
        return await sandbox.set_state(db_session, data.enabled, env=settings.env, actor=actor, origin=origin)

    @post(
        "/pay",
        operation_id="sandboxPayBill",
        summary="Pay a bill as the bank's signed notification would (sandbox only; 404 sandbox_off elsewhere)",
        description=(
            "The same matching, receipt and events as a real payment (webhooks `bill.paid`, `receipt.issued`). "
            "Default amount: what is left to pay; another amount makes a short or over payment exception."
        ),
        status_code=200,
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def pay(
        self,
        data: JSONBody[sandbox.SandboxPay],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> NotificationResult:
        return _notification_result(await sandbox.pay(db_session, data, env=settings.env))
