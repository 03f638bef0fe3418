"""The identity endpoints, in one explicit list the application mounts."""

from __future__ import annotations

from typing import Any

from localgov.identity.citizen_views import (
    AuthorizationController,
    CitizenAppController,
    CitizenController,
    CitizenLoginController,
    CitizenLoginSettingsController,
    OperatorCitizenAppController,
    ProviderCallbackController,
)
from localgov.identity.client_views import ApiClientController, TokenController
from localgov.identity.operator_views import OperatorAuthController
from localgov.identity.sessions_views import SessionController
from localgov.identity.staff_views import AuditController, MeController, StaffAdminController, StaffAuthController
from localgov.identity.unit_views import PositionController, UnitController


def identity_handlers() -> list[Any]:
    """Controllers of staff, the LAO's structure, citizen, API-client and operator identity."""
    handlers: list[Any] = []
    handlers += [ApiClientController, TokenController, OperatorAuthController]
    handlers += [CitizenLoginController, CitizenController, ProviderCallbackController]
    handlers += [CitizenAppController, AuthorizationController, OperatorCitizenAppController]
    handlers += [CitizenLoginSettingsController]
    handlers += [StaffAuthController, SessionController, MeController, StaffAdminController, AuditController]
    handlers += [UnitController, PositionController]
    return handlers
