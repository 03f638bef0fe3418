"""``ETag`` on every JSON read, ``If-Match`` on every update (optimistic concurrency).

Every ``200`` JSON answer to a ``GET``, ``PUT`` or ``PATCH`` carries a strong ``ETag``: a digest of
its body, set by the request middleware (``kernel.web``), so a read handler does nothing. An update
route takes the header and checks it against the resource as its ``GET`` shows it now::

    async def update(self, payer_id, data, db_session, if_match: IfMatch = None) -> PayerRead:
        require_match(if_match, await svc.read_payer(db_session, payer_id))   # 412 when stale
        return await svc.update_payer(db_session, payer_id, data)

``require_match`` encodes the current representation exactly as the response would be encoded, so
the ETag a client got from ``GET`` matches. Without the header the update applies (``required=True``
makes it a 428 ``precondition_required``); ``If-Match: *`` matches any current representation; a
stale or unknown tag is 412 ``etag_mismatch`` with the current tag in ``data.current_etag``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from litestar.params import HeaderParameter
from litestar.serialization import encode_json

from localgov.kernel.errors import DomainError

IF_MATCH = "If-Match"
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name=IF_MATCH,
        min_length=1,
        max_length=1000,
        description=(
            "The `ETag` of the resource as last read: the update applies only if it is still current "
            "(412 `etag_mismatch` otherwise). `*` matches any version."
        ),
    ),
]


class PreconditionFailed(DomainError):
    code = "etag_mismatch"
    status = 412
    title = "The resource changed since it was read (If-Match)"


class PreconditionRequired(DomainError):
    code = "precondition_required"
    status = 428
    title = "This update needs an If-Match header"


def etag_of_body(body: bytes) -> str:
    """The strong entity tag of a response body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_of(representation: Any) -> str:
    """The entity tag of a resource's representation (a struct as its ``GET`` returns it)."""
    return etag_of_body(encode_json(representation))


def _tags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def require_match(if_match: str | None, current: Any, *, required: bool = False) -> None:
    """Refuse an update whose ``If-Match`` does not name the current representation."""
    if if_match is None:
        if required:
            raise PreconditionRequired("Read the resource first and send its ETag as If-Match.")
        return
    tags = _tags(if_match)
    if "*" in tags:
        return
    etag = etag_of(current)
    if etag not in tags:
        raise PreconditionFailed(
            "Another change was saved since this version was read; read it again and retry.",
            data={"current_etag": etag},
        )
