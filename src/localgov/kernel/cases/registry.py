"""The case types this process knows, by code: how the engine finds a stored case's workflow.

A case row keeps its type's code; the engine needs the type itself (its states, actions and
limits) to act on it, whichever service asks (One Stop Service's inbox acts on building-permit
cases). The composition root registers the installed plugins' case types once at start:
``localgov.platform.installation.install`` does it for the deployment's plugins (every process
the platform runs: serve, worker, CLI, migration children), through
:func:`localgov.kernel.plugins.register_plugin_case_types`. Tests register their test plugins'
types the same way.

Registering is additive and idempotent: the same type again changes nothing; another type under
a code already taken is refused (two plugins cannot both own ``permits.building``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from localgov.kernel.cases.errors import UnknownCaseType
from localgov.kernel.cases.workflow import CaseType

_REGISTERED: dict[str, CaseType] = {}


def register_case_types(case_types: Iterable[CaseType]) -> None:
    """Make ``case_types`` known to the engine (a code taken by another definition: ValueError)."""
    new = list(case_types)
    for case_type in new:
        known = _REGISTERED.get(case_type.code)
        if known is not None and known != case_type:
            raise ValueError(f"case type {case_type.code!r} is registered already with another definition")
    _REGISTERED.update((case_type.code, case_type) for case_type in new)


def get_case_type(code: str) -> CaseType:
    """The registered case type ``code`` (404 ``case_type_not_found`` when none is)."""
    case_type = _REGISTERED.get(code)
    if case_type is None:
        raise UnknownCaseType(data={"case_type": code})
    return case_type


def registered_case_types() -> Mapping[str, CaseType]:
    """Every registered case type, by code (read-only)."""
    return MappingProxyType(_REGISTERED)
