"""Domain errors and their one translation into RFC 9457 problem details.

Services raise :class:`DomainError` (never an HTTP exception); the handlers registered by
:func:`exception_handlers` turn every error, including the framework's own, into
``application/problem+json`` with a stable machine ``code`` clients can branch on.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import asyncpg
import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Where each problem code is documented: ``type`` is ``https://<base domain>/problems/<code>``
#: (served by ``kernel.problems``, listed in docs/problems.md).
PROBLEM_TYPE_PATH = "/problems/"
log = structlog.get_logger("localgov.errors")


#: Where a field is: a body member, a query, path, header or cookie parameter, or a CSV column.
FieldSource = Literal["body", "query", "path", "header", "cookie", "csv"]
FIELD_SOURCES: tuple[FieldSource, ...] = get_args(FieldSource)


class FieldError(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One problem with one input value: the only shape of ``errors`` in any problem."""

    #: The field: a body member (``address.postcode``, ``lines[2].amount``), a query, path or header
    #: parameter's name, or a CSV column.
    key: str
    message: str
    #: Where the field is: ``body``, ``query``, ``path``, ``header``, ``cookie`` or ``csv``.
    source: FieldSource | None = None
    #: A stable machine code for this field's problem, when there is one.
    code: str | None = None
    #: The line of a CSV file or of a JSON array of rows (1 = the CSV header; JSON rows count from 1).
    line: int | None = None
    #: The Thai message, when the service has one.
    message_th: str | None = None


class ProblemDetails(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, extended with a stable machine-readable ``code``."""

    title: str
    status: int
    code: str
    #: A URI per code, documenting it: ``https://<base domain>/problems/<code>``.
    type: str = "about:blank"
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    #: Field errors, one shape everywhere (:class:`FieldError`).
    errors: list[FieldError] | None = None
    #: Structured data specific to the code.
    data: dict[str, Any] | None = None


class RefusalAudit(msgspec.Struct, frozen=True, kw_only=True):
    """An audit event to keep although the request that raised it fails (see :meth:`DomainError.audited`)."""

    action: str
    actor_kind: str
    actor_id: str | None = None
    target: str | None = None
    data: dict[str, Any] | None = None


class DomainError(Exception):
    """An expected failure with a stable code, an HTTP status and structured data."""

    #: Written to the audit log by the request's session provider, in a transaction of its own
    #: after the request's transaction is rolled back (refused logins, signatures, credentials).
    audit: RefusalAudit | None = None
    #: The request's writes stand although it answers with this error (a failed login counts
    #: towards the lockout; a reused refresh token's family stays revoked). See :meth:`keeping_changes`.
    keep_changes: bool = False

    code: str = "error"
    status: int = 400
    title: str = "Request failed"
    #: Response headers the error implies (``WWW-Authenticate`` on a 401, for example).
    headers: dict[str, str] | None = None
    #: Field errors (the problem's top-level ``errors``).
    errors: list[FieldError] | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        data: dict[str, Any] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        if errors is not None:
            self.errors = errors
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.data = data

    def audited(
        self,
        action: str,
        *,
        actor_kind: str,
        actor_id: str | None = None,
        target: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> DomainError:
        """Mark this refusal to be audited however the request ends; returns the error to raise.

        The handler does not commit anything: ``kernel.web.provide_db_session`` rolls the
        request's work back, then records the event in the tenant's log (the operator's log on
        the operator host) with the request's origin.
        """
        self.audit = RefusalAudit(action=action, actor_kind=actor_kind, actor_id=actor_id, target=target, data=data)
        return self

    def keeping_changes(self) -> DomainError:
        """Commit the request's transaction although it answers with this error; returns the error.

        For refusals whose bookkeeping is the point (failed-login counters, revocations): the
        handler never commits in the middle of a request, the session provider decides.
        """
        self.keep_changes = True
        return self


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class TenantNotFound(NotFound):
    code = "tenant_not_found"
    title = "No local administrative organisation is served at this host"


class TenantSuspended(DomainError):
    code = "tenant_suspended"
    status = 403
    title = "This local administrative organisation is suspended"


class TenantClosed(DomainError):
    code = "tenant_closed"
    status = 410
    title = "This local administrative organisation has left the platform"


class ServiceNotEnabled(NotFound):
    code = "service_not_enabled"
    title = "This service is not enabled for this local administrative organisation"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class Unavailable(DomainError):
    code = "unavailable"
    status = 503
    title = "Service unavailable"
    headers = {"Retry-After": "5"}


#: Seconds a client is asked to wait after a database fault (``Retry-After``).
RETRY_AFTER_S = 2


class DatabaseUnavailable(Unavailable):
    """The database could not do the request's work now (down, connection lost, timed out, busy).

    Nothing of the request was committed (a 2xx is only sent after its commit): the client may
    send it again after ``Retry-After`` seconds, with the same ``Idempotency-Key`` where it has one.
    """

    code = "database_unavailable"
    title = "The database is unavailable; try again shortly"
    headers = {"Retry-After": str(RETRY_AFTER_S)}


#: SQLSTATEs (or their class, two characters) of faults that pass: the server or the connection,
#: a timeout, a lock not granted in time, a conflict between transactions. Never the request's fault.
_TRANSIENT_SQLSTATES: dict[str, str] = {
    "08": "connection_lost",  # connection exception
    "53": "server_busy",  # insufficient resources: too many connections, out of memory, disk full
    "57P01": "server_shutdown",  # admin shutdown: pg_terminate_backend, a fast shutdown
    "57P02": "server_shutdown",  # crash shutdown
    "57P03": "server_starting",  # cannot connect now
    "57P05": "connection_lost",  # idle session timeout
    "57014": "statement_timeout",  # query canceled: statement_timeout
    "55P03": "lock_timeout",  # lock not available: lock_timeout
    "40001": "serialization_failure",
    "40P01": "deadlock",
    "25006": "read_only",  # read-only transaction: a standby took over and the primary is not back yet
}


#: Reasons after which the request's connection is dead: invalidated, never pooled again.
CONNECTION_GONE = frozenset({"connection_lost", "server_shutdown"})


def database_fault(exc: BaseException) -> str | None:
    """Why ``exc`` is a passing database fault (a short reason), or None when it is not one.

    Looks through SQLAlchemy's wrapper (``orig``) and the causes: the raw asyncpg read path
    (:mod:`localgov.kernel.reads`) raises asyncpg's own exceptions, the ORM path raises
    SQLAlchemy's, and a pool that gave no connection in time raises SQLAlchemy's ``TimeoutError``.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PoolTimeout):
            return "pool_exhausted"
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state:
            reason = _TRANSIENT_SQLSTATES.get(state) or _TRANSIENT_SQLSTATES.get(state[:2])
            if reason is not None:
                return reason
        if isinstance(current, asyncpg.exceptions.ConnectionDoesNotExistError) or (
            # "connection is closed"; not the other interface errors ("another operation is in
            # progress" is a bug of ours: a 500)
            isinstance(current, asyncpg.InterfaceError) and "closed" in str(current)
        ):
            return "connection_lost"
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return "connection_lost"
        if isinstance(current, ConnectionError | TimeoutError):
            return "connection_lost"  # refused, reset, or connecting timed out
        pending.extend((getattr(current, "orig", None), current.__cause__, current.__context__))
    return None


_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable content"),
    423: ("locked", "Locked"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


def problem_response(problem: ProblemDetails, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


def problem_type(base_domain: str | None, code: str) -> str:
    """The documentation URI of a problem code."""
    if not base_domain:
        return "about:blank"
    return f"https://{base_domain}{PROBLEM_TYPE_PATH}{code}"


def _base_domain(request: Request[Any, Any, Any]) -> str | None:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "base_domain", None)


def domain_error_to_problem(
    exc: DomainError, request_id: str | None, instance: str | None, base_domain: str | None = None
) -> ProblemDetails:
    return ProblemDetails(
        title=exc.title,
        status=exc.status,
        code=exc.code,
        type=problem_type(base_domain, exc.code),
        detail=exc.detail,
        data=exc.data,
        errors=exc.errors,
        instance=instance,
        request_id=request_id,
    )


def _handle_domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    return problem_response(
        domain_error_to_problem(exc, _request_id(request), request.scope.get("path"), _base_domain(request)),
        headers=exc.headers,
    )


def _field_errors(extra: Any) -> list[FieldError] | None:
    """Litestar's validation details (``key``, ``message``, ``source``) as :class:`FieldError`."""
    if not isinstance(extra, list):
        return None
    out: list[FieldError] = []
    for item in extra:
        if isinstance(item, dict):
            source = str(getattr(item.get("source"), "value", item.get("source")))
            out.append(
                FieldError(
                    key=str(item.get("key") or ""),
                    message=str(item.get("message") or ""),
                    # Litestar names the body, a parameter's kind or (never for a caller's input) a
                    # dependency: anything but a parameter's kind is the body.
                    source=next((s for s in FIELD_SOURCES if s == source), "body"),
                )
            )
    return out or None


def _handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    errors = _field_errors(exc.extra)
    return problem_response(
        ProblemDetails(
            title="The request is not valid",
            status=400,
            code="validation_error",
            type=problem_type(_base_domain(request), "validation_error"),
            detail=exc.detail,
            errors=errors,
            instance=request.scope.get("path"),
            request_id=_request_id(request),
        )
    )


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 400 and exc.detail == "Invalid host header":
        # Litestar's router rejects a syntactically invalid Host before routing. For us that is
        # simply a host we do not serve: the same 404 as any other unknown host.
        return _handle_domain(request, TenantNotFound())
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "Request failed"))
    detail = exc.detail if exc.detail and exc.detail != title else None
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code in (429, 503) and "retry-after" not in {k.lower() for k in headers}:
        headers["Retry-After"] = "5"
    return problem_response(
        ProblemDetails(
            title=title,
            status=exc.status_code,
            code=code,
            type=problem_type(_base_domain(request), code),
            detail=detail,
            instance=request.scope.get("path"),
            request_id=_request_id(request),
        ),
        headers=headers,
    )


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


def _handle_database(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[bytes]:
    """A value PostgreSQL refused to store (SQLSTATE class 22: a NUL in text, a number out of range,
    an impossible date) is the caller's input, not our failure: 400, the transaction rolled back.
    A passing fault (:func:`database_fault`) is a 503 with ``Retry-After``."""
    state = _sqlstate(exc)
    if not state.startswith("22"):
        return _handle_unexpected(request, exc)
    log.warning("database_refused_input", sqlstate=state, error=str(getattr(exc, "orig", exc)).splitlines()[0][:300])
    return problem_response(
        ProblemDetails(
            title="A value of the request cannot be stored",
            status=400,
            code="invalid_input",
            type=problem_type(_base_domain(request), "invalid_input"),
            detail="A value is out of range or contains characters that cannot be stored (e.g. NUL).",
            data={"sqlstate": state},
            instance=request.scope.get("path"),
            request_id=_request_id(request),
        )
    )


def _handle_overflow(request: Request[Any, Any, Any], exc: OverflowError) -> Response[bytes]:
    """A date or number of the request beyond what the computation handles (a report from year 1:
    its start in UTC is before ``datetime.min``): the caller's input, a 400, not our failure."""
    log.warning("input_overflow", error=str(exc)[:300])
    return problem_response(
        ProblemDetails(
            title="A value of the request is out of range",
            status=400,
            code="invalid_input",
            type=problem_type(_base_domain(request), "invalid_input"),
            detail="A date or number is outside the range this operation handles.",
            instance=request.scope.get("path"),
            request_id=_request_id(request),
        )
    )


def _missing_upload(exc: Exception) -> bool:
    """Litestar's multipart extractor on a form without a file: ``StopIteration`` turned into a
    ``RuntimeError`` by the coroutine (found by schemathesis). The caller's input, not a 500."""
    cause = exc.__cause__
    if not isinstance(exc, RuntimeError) or not isinstance(cause, StopIteration):
        return False
    frame = cause.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "_extract_multipart":
            return True
        frame = frame.tb_next
    return False


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if _missing_upload(exc):
        return problem_response(
            ProblemDetails(
                title="The request is not valid",
                status=400,
                code="validation_error",
                type=problem_type(_base_domain(request), "validation_error"),
                detail="This endpoint takes a multipart form with a file.",
                errors=[FieldError(key="file", message="a file part is required", source="body")],
                instance=request.scope.get("path"),
                request_id=_request_id(request),
            )
        )
    reason = database_fault(exc)
    if reason is not None:
        log.warning(
            "database_unavailable",
            reason=reason,
            error_type=type(exc).__name__,
            error=str(exc).splitlines()[0][:300] if str(exc) else "",
        )
        error = DatabaseUnavailable(
            "The database could not complete the request in time; nothing was saved. Try again shortly.",
            data={"reason": reason},
        )
        return _handle_domain(request, error)
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return problem_response(
        ProblemDetails(
            title="Internal server error",
            status=500,
            code="internal_error",
            type=problem_type(_base_domain(request), "internal_error"),
            detail="An unexpected error occurred; it has been logged with the request id.",
            instance=request.scope.get("path"),
            request_id=_request_id(request),
        )
    )


def exception_handlers() -> ExceptionHandlersMap:
    """The app-wide mapping; the most specific class wins."""
    return {
        DomainError: _handle_domain,
        ValidationException: _handle_validation,
        HTTPException: _handle_http,
        DBAPIError: _handle_database,
        OverflowError: _handle_overflow,
        Exception: _handle_unexpected,
    }


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI response entries for the given error statuses, all as the named ``ProblemDetails``."""
    out: dict[int, ResponseSpec] = {}
    for status in sorted({400, 500, *statuses}):
        _, title = _HTTP_CODES.get(status, ("http_error", "Request failed"))
        out[status] = ResponseSpec(
            data_container=ProblemDetails,
            description=f"{title} (RFC 9457 problem details)",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
    return out
