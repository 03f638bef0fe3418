"""HTTP endpoints of the letter as a document: its PDF (signed on issue), the LAO's emblem, and
the Thai search over letters (a letter's files: ``letter_views``, ``files.py``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import MultipartBody, PathParameter, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.cases import caller_actor
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, cut_page, decode_cursor
from localgov.kernel.storage import BlobStore, download_response, open_file
from localgov.kernel.storage.web import store_upload_file
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK
from localgov.services.saraban import documents, letters, search_index
from localgov.services.saraban.params import MANAGE_POLICY, PDF, READ_POLICY, STAFF_ERRORS, LetterId

TAG = "e-Saraban: documents and search"
FileId = Annotated[uuid.UUID, PathParameter(description="The attachment's id")]
Query = Annotated[
    str, QueryParameter(min_length=1, max_length=200, description="Thai words (found inside running text)")
]
SearchLimit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size (1-100)")]
CreatedBefore = Annotated[
    dt.date | None,
    QueryParameter(
        description=(
            "Only letters created before this day (Bangkok time): the newest matches before it, which is"
            " how older matches of a common word are reached"
        )
    ),
]


class EmblemRead(msgspec.Struct, kw_only=True):
    file_id: str
    sha256: str
    size_bytes: int


class LetterDocumentController(Controller):
    path = "/letters"
    tags = [TAG]

    @get(
        "/{letter_id:uuid}/pdf",
        operation_id="getSarabanLetterPdf",
        summary="The letter as a PDF in the official layout; an issued letter as signed (PAdES) on issue",
        description=(
            "`X-Localgov-Signed: true` when the PDF is the one signed with the LAO's certificate when"
            " the letter was issued; a draft, or a letter of an LAO without a certificate, is rendered"
            " unsigned. A secret letter: only for the members named on it (404 to others), audited."
        ),
        media_type=PDF,
        responses=problem_responses(*STAFF_ERRORS, 503),
        **guarded(READ_POLICY),
    )
    async def pdf(
        self,
        letter_id: LetterId,
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        blob_store: NamedDependency[BlobStore],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes] | Stream:
        viewer = await caller_actor(db_session, principal, permissions)
        await letters.letter_view(db_session, letter_id, viewer, origin)  # 404 unless visible; audited
        file_id = await documents.sealed_file_id(db_session, letter_id)
        if file_id is not None:
            opened = await open_file(db_session, blob_store, file_id, owner=documents.pdf_owner(letter_id))
            stream = download_response(opened, inline=True)
            stream.headers["X-Localgov-Signed"] = "true"
            return stream
        rendered = await documents.render(
            db_session, blob_store, await documents.issuer_of(db_session, tenant), letter_id
        )
        return Response(
            rendered.pdf,
            media_type=PDF,
            headers={
                "Content-Disposition": f'inline; filename="letter-{letter_id}.pdf"',
                "X-Localgov-Signed": "false",
                "Cache-Control": "no-store",
            },
        )


class SearchController(Controller):
    path = "/search"
    tags = [TAG]

    @get(
        "/",
        operation_id="searchSarabanLetters",
        summary="Thai search over subjects, numbers, bodies and attachments' text, best first",
        description=(
            "The words of `q` are cut as Thai is read (PyThaiNLP) and every one must occur; a word"
            " inside a longer one (`ถนน` in `ซ่อมแซมถนนลาดยาง`) is found. Ranked among the newest 500"
            " matches (pages walk those; `created_before` moves the window back). Secret letters only for"
            " the members named on them, and each"
            " one shown is audited. docs/kernel/search.md, docs/services/saraban.md."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(READ_POLICY),
    )
    async def search(
        self,
        q: Query,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        limit: SearchLimit = 20,
        cursor: Cursor = None,
        created_before: CreatedBefore = None,
    ) -> search_index.SearchResult:
        after = decode_cursor(cursor, tuple[float, dt.datetime, uuid.UUID])
        viewer = await caller_actor(db_session, principal, permissions)
        words, rows = await search_index.search_letters(
            db_session,
            q,
            letters.visible_clause(viewer),
            letters.visible_search_rows(viewer),
            limit=limit + 1,
            after=after,
            before=dt.datetime.combine(created_before, dt.time(), tzinfo=BANGKOK) if created_before else None,
        )
        hits, next_cursor = cut_page(rows, limit, key=lambda hit: (hit.rank, hit.created_at, hit.id))
        for hit in hits:
            if hit.secrecy != "normal":
                await letters.audit_secret_access(db_session, hit.id, hit.secrecy, viewer, origin, "search")
        return search_index.SearchResult(q=q, words=words, items=hits, next_cursor=next_cursor)


class EmblemController(Controller):
    path = "/emblem"
    tags = [TAG]

    @put(
        "/",
        operation_id="uploadSarabanEmblem",
        summary="The emblem (ครุฑ or the LAO's seal) printed on its letters: PNG or JPEG, up to 2 MB",
        description="415 `file_type_not_allowed` for anything but PNG or JPEG (by content); 413 `file_too_large`.",
        request_max_body_size=documents.EMBLEM_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 413, 415, 503),
        **guarded(MANAGE_POLICY),
    )
    async def upload(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: MultipartBody[UploadFile],
        blob_store: NamedDependency[BlobStore],
        db_session: NamedDependency[AsyncSession],
    ) -> EmblemRead:
        stored = await store_upload_file(
            db_session,
            blob_store,
            data,
            owner=documents.EMBLEM_OWNER,
            uploaded_by=actor,
            limits=documents.EMBLEM_LIMITS,
        )
        await record_audit(
            db_session, "saraban.emblem_uploaded", actor=actor, origin=origin, target=f"file:{stored.id}",
            data={"sha256": stored.sha256},
        )  # fmt: skip
        return EmblemRead(file_id=str(stored.id), sha256=stored.sha256, size_bytes=stored.size_bytes)
