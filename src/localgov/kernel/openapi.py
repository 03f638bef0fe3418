"""The API contract: one OpenAPI document per surface, and what every document guarantees.

Litestar builds one document for the whole application; :class:`SurfaceDocuments` derives from it,
once per process, the document of each surface (``kernel.web``): the **tenant** document (served on
every LAO's host) lists the operations of ``surface="tenant"`` and ``"any"`` routes, the
**operator** document (the bare base domain) those of ``"operator"`` and ``"any"`` routes. Each
answer's ``servers`` is the host the document was fetched from, with its port: "try it" and
generated clients call the LAO's own host.

On the way every document is made strict, so generators and fuzzers learn what the server enforces:

* every schema reachable from a request body says ``additionalProperties: false`` (request structs
  are ``forbid_unknown_fields``; the server refuses an unknown member);
* decimals (money, quantities) are strings with a decimal ``pattern`` (:data:`DECIMAL_PATTERN`);
* every tag an operation uses is declared, with a description (the application's and the plugins');
* each operation says who may call it (``x-localgov-access``, the route's policy);
* each operation's request-body examples are those of the services' tables (:mod:`localgov.kernel.examples`).

The interactive reference (Swagger UI, served from the package: ``/schema/reference``) reads the
document of the host it is opened on.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.serialization import encode_json

from localgov.kernel.auth.guards import AUTH_OPT, AuthPolicy
from localgov.kernel.cases.codes import declare_case_codes
from localgov.kernel.cases.registry import registered_case_types
from localgov.kernel.csv import import_schemas
from localgov.kernel.examples import RequestExample, openapi_examples

#: A decimal number as the API writes it: digits, optionally a sign and a fraction (``"1250.00"``).
DECIMAL_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$"
#: Baht and satang: what a money field accepts (``kernel.validation.parse_money`` checks the range).
MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
#: A money field typed as text (when a service keeps money as ``str``).
Money = Annotated[str, msgspec.Meta(pattern=MONEY_PATTERN, examples=["1250.00"])]

#: Schema names that clash with classes of generated clients (openapi-generator python: ``ApiClient``,
#: ``Configuration``, ``ApiResponse``, ``ApiException``, ``RESTResponse``; typescript-fetch: ``BaseAPI``).
GENERATOR_RESERVED = frozenset(
    {"ApiClient", "Configuration", "ApiResponse", "ApiException", "RESTResponse", "BaseAPI", "Response", "Request"}
)
SURFACES = ("tenant", "operator")
_PATH_PARAM = re.compile(r"\{(\w+):[^}]+\}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def configure_schema_types() -> None:
    """Decimals are documented as strings with :data:`DECIMAL_PATTERN` (Litestar: a bare string)."""
    from litestar._openapi.schema_generation import schema as litestar_schema

    litestar_schema.TYPE_MAP[Decimal] = Schema(
        type=OpenAPIType.STRING, pattern=DECIMAL_PATTERN, description="A decimal number, as text"
    )


def openapi_path(route_path: str) -> str:
    """``/v1/bills/{bill_id:uuid}`` → ``/v1/bills/{bill_id}``."""
    return _PATH_PARAM.sub(r"{\1}", route_path)


def route_surfaces(app: Litestar) -> dict[tuple[str, str], tuple[str, AuthPolicy | None]]:
    """``(path, method)`` → (surface, policy) of every route handler of ``app``."""
    out: dict[tuple[str, str], tuple[str, AuthPolicy | None]] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            handler.resolve_opts()
            surface = handler.opt.get("surface", "tenant")
            policy = handler.opt.get(AUTH_OPT)
            for method in getattr(handler, "http_methods", ()):
                out[(openapi_path(route.path), method.lower())] = (surface, policy)
    return out


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.removeprefix("#/components/schemas/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(schemas: Mapping[str, Any], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        pending.extend(_refs(schemas[name]))
    return seen


def _close_objects(schema: Any) -> None:
    """``additionalProperties: false`` on every object schema with declared properties in ``schema``."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for key, value in schema.items():
            if key != "additionalProperties":
                _close_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_objects(value)


def open_request_structs(app: Litestar) -> frozenset[str]:
    """Names of request structs that accept unknown members on purpose (the OAuth token request, a
    bank's notification: their senders may add fields): their schemas stay open."""
    names: set[str] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            data = handler.parsed_fn_signature.parameters.get("data")
            for candidate in (
                getattr(data, "annotation", None),
                *getattr(getattr(data, "annotation", None), "__args__", ()),
            ):
                config = getattr(candidate, "__struct_config__", None)
                if config is not None and not config.forbid_unknown_fields:
                    names.add(candidate.__name__)
    return frozenset(names)


_CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "enum",
    "minProperties",
    "maxProperties",
    "propertyNames",
)


def request_struct_constraints(app: Litestar) -> dict[str, dict[str, dict[str, Any]]]:
    """Per request struct (and the structs inside it), each property's constraints as msgspec states
    them: ``{"items": {...}}`` for an array's items, and the bounds themselves. Litestar drops two
    kinds: the items of ``list[Annotated[str, Meta(pattern=...)]]`` (a bare ``{"type": "string"}``)
    and a zero bound (``Meta(ge=0)`` has no ``minimum``), so a fuzzer or a generated client would
    send what the server refuses."""
    types: list[Any] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            data = handler.parsed_fn_signature.parameters.get("data")
            annotation = getattr(data, "annotation", None)
            for candidate in (annotation, *getattr(annotation, "__args__", ())):
                if getattr(candidate, "__struct_config__", None) is not None and candidate not in types:
                    types.append(candidate)
    if not types:
        return {}
    try:
        _, components = msgspec.json.schema_components(types)
    except (TypeError, ValueError):  # a type msgspec cannot describe: Litestar's document stays as it is
        return {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, component in components.items():
        for prop, schema in component.get("properties", {}).items():
            found: dict[str, Any] = {}
            for option in schema.get("anyOf", [schema]):
                items = option.get("items") if option.get("type") == "array" else None
                if isinstance(items, dict) and "$ref" not in items and set(items) - {"type", "title"}:
                    found["items"] = items
                found.update({k: option[k] for k in _CONSTRAINTS if k in option})
            if found:
                out.setdefault(name, {})[prop] = found
    return out


def _constrain(schemas: dict[str, Any], constraints: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
    for struct_name, properties in constraints.items():
        for key, schema in schemas.items():
            if key != struct_name and not key.endswith("_" + struct_name):
                continue
            for prop, found in properties.items():
                documented = schema.get("properties", {}).get(prop)
                if not isinstance(documented, dict) or "$ref" in documented:
                    continue
                for constraint, value in found.items():
                    if constraint != "items":
                        documented.setdefault(constraint, value)
                for option in documented.get("oneOf", [documented]):
                    target = option.get("items") if option.get("type") == "array" else None
                    if isinstance(target, dict) and "$ref" not in target:
                        for constraint, value in found.get("items", {}).items():
                            target.setdefault(constraint, value)


def surface_document(
    document: Mapping[str, Any],
    surfaces: Mapping[tuple[str, str], tuple[str, AuthPolicy | None]],
    surface: str,
    tags: Mapping[str, str],
    open_structs: frozenset[str] = frozenset(),
    constraints: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
    examples: Mapping[str, tuple[RequestExample, ...]] | None = None,
) -> dict[str, Any]:
    """The document of one surface (without ``servers``: those are per request)."""
    out = copy.deepcopy(dict(document))
    _apply_examples(out, examples or {})
    _constrain(out.get("components", {}).get("schemas", {}), constraints or {})
    paths: dict[str, Any] = {}
    for path, item in out.get("paths", {}).items():
        kept: dict[str, Any] = {}
        for key, value in item.items():
            if key not in _METHODS:
                kept[key] = value
                continue
            where, policy = surfaces.get((path, key), ("tenant", None))
            if where not in (surface, "any"):
                continue
            if policy is not None:
                value["x-localgov-access"] = policy.describe()
            kept[key] = value
        if any(k in _METHODS for k in kept):
            paths[path] = kept
    out["paths"] = paths
    schemas: dict[str, Any] = out.get("components", {}).get("schemas", {})
    request_roots: set[str] = set()
    used_tags: set[str] = set()
    for item in paths.values():
        for key, operation in item.items():
            if key not in _METHODS:
                continue
            used_tags.update(operation.get("tags", ()))
            body = operation.get("requestBody")
            if body is not None:
                request_roots.update(_refs(body))
    for name in _reachable(schemas, request_roots):
        if not any(name == open_name or name.endswith("_" + open_name) for open_name in open_structs):
            _close_objects(schemas[name])
    for item in paths.values():
        for key, operation in item.items():
            if key in _METHODS:
                _bound_integers(operation.get("parameters", ()))
                _declare_preconditions(key, operation, surface)
                _http_date_headers(operation)
                _require_file_parts(operation)
    # Only the schemas this surface's operations use.
    roots = set(_refs(paths)) | {"ProblemDetails", "FieldError"}
    keep = _reachable(schemas, roots)
    if "components" in out:
        out["components"]["schemas"] = {k: v for k, v in schemas.items() if k in keep}
    declared = {t["name"]: t for t in out.get("tags", [])}
    out["tags"] = [
        declared.get(name) or {"name": name, "description": tags.get(name, name)} for name in sorted(used_tags)
    ]
    for tag in out["tags"]:
        if not tag.get("description"):
            tag["description"] = tags.get(tag["name"], tag["name"])
    out.pop("servers", None)
    return _plain_names(out)


def _apply_examples(document: dict[str, Any], examples: Mapping[str, tuple[RequestExample, ...]]) -> None:
    """Each table's examples on its operation's JSON body (every surface: the operation decides
    where it is listed). An ``operationId`` without a JSON body in the document is an error."""
    remaining = dict(examples)
    for item in document.get("paths", {}).values():
        for key, operation in item.items():
            if key not in _METHODS or operation.get("operationId") not in remaining:
                continue
            operation_id = operation["operationId"]
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                raise ValueError(f"example for {operation_id}: the operation takes no JSON body")
            declared = remaining.pop(operation_id)
            content["examples"] = openapi_examples(declared)
            parameters = [p for p in operation.get("parameters", ()) if p.get("in") == "path"]
            for name, example in zip(content["examples"], declared, strict=True):
                if set(example.path) != {p["name"] for p in parameters}:
                    raise ValueError(f"example for {operation_id}: path parameters {sorted(example.path)}")
                for parameter in parameters:
                    parameter.setdefault("examples", {})[name] = {"value": example.path[parameter["name"]]}
    if remaining:
        raise ValueError(f"examples for operations that do not exist: {', '.join(sorted(remaining))}")


def plain_name(key: str) -> str:
    """Litestar names two structs of the same name by their module path (``food_schemas_FileRead``);
    generators turn that into odd class names. ``FoodFileRead``, ``TenantServiceList`` instead."""
    if "_" not in key:
        return key
    parts = key.split("_")
    cls = parts[-1]
    modules = [p for p in parts[:-1] if p not in ("services", "views", "schemas", "localgov", "admin")]
    prefix = modules[0] if modules else parts[0]
    return prefix[:1].upper() + prefix[1:] + cls


def _plain_names(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renames = {key: plain_name(key) for key in schemas if "_" in key}
    taken = set(schemas) - set(renames)
    for key, name in list(renames.items()):
        while name in taken:
            name += "X"
        renames[key] = name
        taken.add(name)
    if not renames:
        return document
    raw = encode_json(document).decode()
    for key, name in renames.items():
        raw = raw.replace(f'"#/components/schemas/{key}"', f'"#/components/schemas/{name}"')
    renamed: dict[str, Any] = msgspec.json.decode(raw)
    renamed["components"]["schemas"] = {renames.get(k, k): v for k, v in renamed["components"]["schemas"].items()}
    for name in renames.values():  # generators name classes by title: two "FileRead" would clash
        schema = renamed["components"]["schemas"][name]
        if isinstance(schema, dict) and "title" in schema:
            schema["title"] = name
    return renamed


#: The largest id a path or query parameter may name (ids are PostgreSQL ``integer`` or ``bigint``).
MAX_INT_PARAMETER = 2_147_483_647


def _bound_integers(parameters: Iterable[Any]) -> None:
    """Integer parameters without a range get ``0 .. 2^31-1``: a larger id can name nothing, and the
    database would refuse it (400) rather than answer 404."""
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if schema.get("type") == "integer":
            schema.setdefault("minimum", 0)
            schema.setdefault("maximum", MAX_INT_PARAMETER)


def _require_file_parts(operation: dict[str, Any]) -> None:
    """An upload form (``multipart/form-data`` of file parts only) needs its file: without one the
    server answers 400 (the handler's ``UploadFile``); Litestar leaves the part optional."""
    content = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
    schema = content.get("schema", {}) if content else {}
    properties = schema.get("properties", {})
    if properties and "required" not in schema and all(p.get("format") == "binary" for p in properties.values()):
        schema["required"] = sorted(properties)


def _http_date_headers(operation: dict[str, Any]) -> None:
    """Litestar documents a file's ``Last-Modified`` as an RFC 3339 ``date-time``; it is an HTTP-date
    (RFC 9110: ``Mon, 07 Dec 2026 06:00:00 GMT``), which no JSON Schema format names."""
    for response in operation.get("responses", {}).values():
        for name, header in response.get("headers", {}).items():
            if name.lower() == "last-modified" and header.get("schema", {}).get("format") == "date-time":
                header["schema"] = {"type": "string", "pattern": HTTP_DATE_PATTERN}
                header["description"] = "When the file last changed, an HTTP-date (RFC 9110)"


#: An IMF-fixdate (RFC 9110 section 5.6.7), the form every HTTP-date header is sent in.
HTTP_DATE_PATTERN = r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$"


_PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": (
        "The `ETag` of the resource as last read: the update applies only if it is still current "
        "(412 `etag_mismatch` otherwise). `*` matches any current version."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A unique key per operation (e.g. a UUID): a retry with the same key and body replays the first "
        "answer (`Idempotent-Replayed: true`); another body is 422, a request still running 409. Kept 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[!-~]+$"},
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _declare_preconditions(method: str, operation: dict[str, Any], surface: str) -> None:
    """What the request middleware adds to every update and create, in the operation's contract:
    ``If-Match`` and its 412 on ``PUT``/``PATCH``; ``Idempotency-Key`` and its 409/422 on a tenant
    host's JSON create (``kernel.web``)."""
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    names = {(p.get("in"), str(p.get("name", "")).lower()) for p in parameters}
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if method in ("put", "patch"):
        if ("header", "if-match") not in names:
            parameters.append(dict(_IF_MATCH))
        responses.setdefault("412", _problem("The resource changed since it was read (If-Match)"))
    content = operation.get("requestBody", {}).get("content", {})
    if method == "post" and "201" in responses and surface == "tenant" and "application/json" in content:
        if ("header", "idempotency-key") not in names:
            parameters.append(dict(_IDEMPOTENCY_KEY))
        responses.setdefault("409", _problem("A request with this Idempotency-Key is still running"))
        responses.setdefault("422", _problem("This Idempotency-Key was used for another request"))
    if not parameters:
        operation.pop("parameters")


class SurfaceDocuments:
    """The documents of the two surfaces, derived once from the application's document."""

    def __init__(
        self, tags: Mapping[str, str], examples: Mapping[str, tuple[RequestExample, ...]] | None = None
    ) -> None:
        self._tags = dict(tags)
        self._examples = dict(examples or {})
        self._documents: dict[str, dict[str, Any]] = {}

    def document(self, app: Litestar, surface: str) -> dict[str, Any]:
        if surface not in self._documents:
            base = app.openapi_schema.to_schema()
            # The JSON bodies of CSV imports (kernel.csv.ImportBody): components Litestar cannot know of.
            schemas = base.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in import_schemas().items():
                schemas.setdefault(name, schema.to_schema())
            self._documents[surface] = surface_document(
                base,
                route_surfaces(app),
                surface,
                self._tags,
                open_request_structs(app),
                request_struct_constraints(app),
                self._examples,
            )
            # Case types and states: the codes of the case types this process registered.
            declare_case_codes(self._documents[surface], registered_case_types())
        return self._documents[surface]


def request_surface(request: Request[Any, Any, Any]) -> str:
    """``operator`` on the operator host, else ``tenant`` (an unknown host gets the tenant document)."""
    from localgov.kernel.tenancy import OperatorHost

    match = request.app.state.catalog.resolve(request.headers.get("host"))
    return "operator" if isinstance(match, OperatorHost) else "tenant"


def request_server(request: Request[Any, Any, Any]) -> str:
    """``scheme://host[:port]`` of the request, as the client addressed it."""
    host = request.headers.get("host") or request.url.netloc
    scheme = request.url.scheme
    forwarded = request.headers.get("x-forwarded-proto")
    if forwarded in ("http", "https"):
        scheme = forwarded
    return f"{scheme}://{host}"


class SurfaceJsonRenderPlugin(JsonRenderPlugin):
    """``/schema/openapi.json``: the document of the request's surface, ``servers`` = its host."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        documents: SurfaceDocuments = request.app.state.surface_documents
        surface = request_surface(request)
        document = dict(documents.document(request.app, surface))
        title = "LAO API (tenant host)" if surface == "tenant" else "Operator API (operator host)"
        document["info"] = {**document.get("info", {}), "title": f"localgov {title}"}
        document["servers"] = [{"url": request_server(request), "description": "This host"}]
        return encode_json(document)
