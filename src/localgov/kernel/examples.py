"""Request-body examples of operations, declared in one table per service and applied by the kernel.

An operation's example is what an integrator copies into a first call, and what the reference's
"try it" sends: it must be accepted by the server (``tests/test_api_contract.py`` sends every one
and expects a 2xx) and valid against the operation's own schema. Examples are declared by
``operationId``, not on the structs: a struct is shared by several operations and its field types
change (enums), an operation's example is realistic data for that one call::

    EXAMPLES: ExampleTable = {
        "createPayer": RequestExample("บุคคลธรรมดา — a person", {"kind": "person", "name": "นางสาวสมศรี ใจดี"}),
    }
    PLUGIN = ServicePlugin(..., examples=EXAMPLES)

The kernel's OpenAPI post-processing (:mod:`localgov.kernel.openapi`) writes them into
``requestBody.content["application/json"].examples`` of the operation on its surface's document;
an ``operationId`` that names no JSON-body operation is refused when the document is built.

An example that names another object by id uses :func:`example_id`: one stable UUID per kind of
object (``example_id("payments.payer")``), documented as a placeholder for the caller's own id (the
contract test swaps each for an object it created first). Dates are written as of
:data:`EXAMPLE_TODAY`. Text is Thai first, with the English
field filled too where the body is bilingual.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

#: The day examples are written as of: their dates are that day or relative to it (a bill due at the
#: end of its month, a tariff from next fiscal year). The contract test moves them to its own day.
EXAMPLE_TODAY = dt.date(2026, 12, 7)

#: The namespace of :func:`example_id` (a UUID of its own: the ids look like any other and never
#: collide with a real object's, which are random UUIDv4s).
EXAMPLE_NAMESPACE = uuid.UUID("6c6f6361-6c67-4f76-8578-616d706c6573")


def example_id(kind: str) -> str:
    """The placeholder UUID that examples use for an object of ``kind`` (``"payments.payer"``)."""
    return str(uuid.uuid5(EXAMPLE_NAMESPACE, kind))


class RequestExample(msgspec.Struct, frozen=True):
    """One example of a request body: a short summary (Thai — English) and the JSON value."""

    summary: str
    value: Any
    #: A longer note shown under the example (what the caller must replace, what the call does).
    description: str = ""
    #: The path parameters of the call (``{"payer_id": example_id("payments.payer")}``): every one
    #: the operation has, written into each parameter's ``examples`` under the same name.
    path: Mapping[str, str | int] = msgspec.field(default_factory=dict)


#: ``operationId`` → its example (or several, shown in order; the first is the default).
ExampleTable = Mapping[str, RequestExample | tuple[RequestExample, ...]]


def merge_tables(*tables: ExampleTable) -> dict[str, tuple[RequestExample, ...]]:
    """One table from several (the core's and each plugin's); an ``operationId`` in two is refused."""
    out: dict[str, tuple[RequestExample, ...]] = {}
    for table in tables:
        for operation_id, examples in table.items():
            if operation_id in out:
                raise ValueError(f"two example tables declare {operation_id}")
            out[operation_id] = examples if isinstance(examples, tuple) else (examples,)
    return out


def openapi_examples(examples: tuple[RequestExample, ...]) -> dict[str, dict[str, Any]]:
    """The OpenAPI ``examples`` map of a media type: ``example1``, ``example2``… in order (the names
    a path parameter's ``examples`` use for the same call)."""
    out: dict[str, dict[str, Any]] = {}
    for number, example in enumerate(examples, start=1):
        entry: dict[str, Any] = {"summary": example.summary, "value": example.value}
        if example.description:
            entry["description"] = example.description
        out[f"example{number}"] = entry
    return out
