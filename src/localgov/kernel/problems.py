"""The problem codes, documented: ``type`` of every problem is ``https://<base domain>/problems/<code>``.

:func:`problem_catalog` gathers every :class:`~localgov.kernel.errors.DomainError` subclass loaded
(the kernel's, the platform's, each plugin's) and the framework's own codes; ``GET /problems``
lists them (JSON) and ``GET /problems/<code>`` is the page a problem's ``type`` points to, on every
host. ``docs/problems.md`` is the same list, written by ``python scripts/problems_doc.py``
(a test keeps it current).
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.params import PathParameter

from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.errors import _HTTP_CODES, DomainError, NotFound, problem_responses
from localgov.kernel.pages import PAGE_HEADERS


class ProblemType(msgspec.Struct, kw_only=True):
    """One problem code: its HTTP status and its title (Thai / English where the code has both)."""

    code: str
    status: int
    title: str


class ProblemTypeList(msgspec.Struct, kw_only=True):
    items: list[ProblemType]


#: Codes raised by the framework's handlers rather than by a DomainError class.
_FRAMEWORK = {
    "validation_error": (400, "The request is not valid (the fields are listed in `errors`)"),
    "invalid_input": (400, "A value of the request cannot be stored"),
    "internal_error": (500, "Internal server error"),
}


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    out: list[type[DomainError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def problem_catalog() -> dict[str, ProblemType]:
    """Every documented code (the first class to declare a code gives its title)."""
    found: dict[str, ProblemType] = {}
    for status, (code, title) in _HTTP_CODES.items():
        found.setdefault(code, ProblemType(code=code, status=status, title=title))
    for code, (status, title) in _FRAMEWORK.items():
        found[code] = ProblemType(code=code, status=status, title=title)
    for cls in _subclasses(DomainError):
        if "code" in cls.__dict__:
            found.setdefault(cls.code, ProblemType(code=cls.code, status=cls.status, title=cls.title))
    return dict(sorted(found.items()))


def problems_markdown() -> str:
    """docs/problems.md."""
    lines = [
        "# Problem codes",
        "",
        "Every error is an RFC 9457 problem (`application/problem+json`) with a stable `code` and",
        "`type` = `https://<base domain>/problems/<code>` (this list, served on every host at `/problems`).",
        "Field errors are always in `errors`, each `{key, message, source?, code?, line?, message_th?}`.",
        "A code raised with a custom `code=` argument not listed here is described by its `title` and `detail`.",
        "",
        "| code | status | title |",
        "|---|---|---|",
    ]
    for problem in problem_catalog().values():
        lines.append(f"| `{problem.code}` | {problem.status} | {problem.title.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


ProblemCode = Annotated[str, PathParameter(max_length=80, pattern=r"^[a-z0-9_]+$", description="A problem code")]


class UnknownProblem(NotFound):
    code = "problem_not_found"
    title = "No such problem code"


class ProblemsController(Controller):
    path = "/problems"
    tags = ["Problems"]
    opt = {"surface": "any"}

    @get(
        "/",
        operation_id="listProblemTypes",
        summary="Every problem code the API answers with",
        responses=problem_responses(),
        **guarded(PUBLIC),
    )
    async def list_problems(self) -> ProblemTypeList:
        return ProblemTypeList(items=list(problem_catalog().values()))

    @get(
        "/{code:str}",
        operation_id="getProblemType",
        summary="The page a problem's `type` points to",
        responses=problem_responses(404),
        media_type="text/html",
        **guarded(PUBLIC),
    )
    async def problem_page(self, code: ProblemCode) -> Response[str]:
        if not re.fullmatch(r"[a-z0-9_]+", code):
            raise UnknownProblem(data={"code": code[:80]})
        problem = problem_catalog().get(code)
        if problem is None:
            raise UnknownProblem(data={"code": code})
        body = (
            '<!doctype html><html lang="th"><head><meta charset="utf-8">'
            f"<title>{html.escape(problem.code)}</title></head><body>"
            f"<h1><code>{html.escape(problem.code)}</code></h1>"
            f"<p>HTTP {problem.status}: {html.escape(problem.title)}</p>"
            '<p><a href="/problems">All problem codes (JSON)</a></p></body></html>'
        )
        headers: dict[str, Any] = {**PAGE_HEADERS, "Cache-Control": "public, max-age=3600"}
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)
