"""The identity endpoints, in one explicit list the application mounts."""

from __future__ import annotations

from typing import Any


def identity_handlers() -> list[Any]:
    """Controllers of staff, citizen, API-client and operator identity."""
    handlers: list[Any] = []
    return handlers
