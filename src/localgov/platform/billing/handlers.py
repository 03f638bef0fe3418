"""The billing module's HTTP handlers, for the application to mount."""

from __future__ import annotations

from typing import Any

from localgov.platform.billing.console import BillingConsoleController
from localgov.platform.billing.views import BillingAdminController, TenantBillingController


def billing_handlers() -> list[Any]:
    """The billing administrators' API and console (operator host), an LAO's own billing (its host)."""
    return [BillingAdminController, TenantBillingController, BillingConsoleController]
