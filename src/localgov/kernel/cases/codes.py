"""Case types' and states' codes as API fields, declared as enums of the registered codes.

The codes come from the case types the plugins register at start (:mod:`.registry`), so no service
keeps a list of them: a field typed :data:`CaseTypeCode` holds a registered type's code,
:data:`CaseStateCode` a state of any registered type (a report or an inbox spans every service on
the engine), and ``Annotated[str, msgspec.Meta(extra_json_schema=states_of(REQUEST))]`` a state of
the types named (``types_of`` likewise for a type's code). The types mark their JSON schema's
``format``; :func:`declare_case_codes` (called by ``kernel.openapi`` when it derives the documents)
replaces each mark by the ``enum`` of codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from localgov.kernel.cases.workflow import CaseType

CASE_TYPE_FORMAT = "localgov-case-type"
CASE_STATE_FORMAT = "localgov-case-state"


def states_of(*case_types: CaseType) -> dict[str, Any]:
    """The ``extra_json_schema`` of a field holding a state of one of ``case_types``."""
    return {"extra": {"format": f"{CASE_STATE_FORMAT}:{','.join(t.code for t in case_types)}"}}


def types_of(*case_types: CaseType) -> dict[str, Any]:
    """The ``extra_json_schema`` of a field holding the code of one of ``case_types``."""
    return {"extra": {"format": f"{CASE_TYPE_FORMAT}:{','.join(t.code for t in case_types)}"}}


#: A registered case type's code (``oss.request``, ``permits.building`` …).
CaseTypeCode = Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"format": CASE_TYPE_FORMAT}})]
#: A state's code of any registered case type.
CaseStateCode = Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"format": CASE_STATE_FORMAT}})]


def _codes(mark: str, case_types: Mapping[str, CaseType]) -> list[str] | None:
    kind, _, named = mark.partition(":")
    if kind not in (CASE_TYPE_FORMAT, CASE_STATE_FORMAT):
        return None
    types = [case_types[c] for c in named.split(",") if c in case_types] if named else list(case_types.values())
    if kind == CASE_TYPE_FORMAT:
        return sorted(t.code for t in types)
    return list(dict.fromkeys(s.code for t in types for s in t.states))


def declare_case_codes(node: Any, case_types: Mapping[str, CaseType]) -> None:
    """Replace every case-code mark in ``node`` (an OpenAPI document or a part) by its ``enum``; on a
    nullable field (``oneOf`` with ``null``) the enum goes on the string option."""
    if isinstance(node, list):
        for item in node:
            declare_case_codes(item, case_types)
        return
    if not isinstance(node, dict):
        return
    mark = node.get("format")
    codes = _codes(mark, case_types) if isinstance(mark, str) else None
    if codes is not None:
        del node["format"]
        options = [o for o in node.get("oneOf") or node.get("anyOf") or [] if o.get("type") == "string"]
        for target in options or [node]:
            target["enum"] = codes
    for value in node.values():
        declare_case_codes(value, case_types)
