"""HTTP endpoints of letters: drafts, revisions, the workflow, issue, received letters, routing,
inboxes. Reads of a letter take the writing session: an access to a secret letter is audited."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody
from litestar.response import Response, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.cases import caller_actor
from localgov.kernel.errors import problem_responses
from localgov.kernel.etags import IfMatch, require_match
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor, encode_cursor, id_cursor
from localgov.kernel.storage import BlobStore, StoredFileRead, download_response, upload_chunks
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.services.saraban import documents, files, issuing, letters, routing
from localgov.services.saraban.errors import NotAllowed, UnitNotFound
from localgov.services.saraban.files import FILE_LIMITS
from localgov.services.saraban.params import (
    DRAFT_POLICY,
    READ_POLICY,
    REGISTRY_POLICY,
    REVIEW_POLICY,
    ROUTE_POLICY,
    SIGN_POLICY,
    STAFF_ERRORS,
    Direction,
    FileId,
    KindFilter,
    LetterId,
    RouteId,
    RouteStatus,
    Search,
    StatusFilter,
    UnitId,
)
from localgov.services.saraban.rules import ROUTE
from localgov.services.saraban.schemas import (
    Inbox,
    InboxItem,
    IncomingCreate,
    LetterAction,
    LetterCreate,
    LetterFilePage,
    LetterList,
    LetterRead,
    LetterUpdate,
    RevisionPage,
    RevisionRead,
    RouteCreate,
    RouteList,
    RoutePage,
    RouteRead,
)
from localgov.settings import Settings

TAG = "e-Saraban: letters"
WORKFLOW = "409 `saraban_version_conflict`, `saraban_wrong_status`."


class LetterController(Controller):
    path = "/letters"
    tags = [TAG]

    @post(
        "/",
        operation_id="createSarabanLetter",
        summary="A new draft letter of one of the six kinds (revision 1)",
        description=(
            "422 `saraban_invalid_letter`, `saraban_invalid_recipient`; 404 `saraban_issuing_unit_not_found`. "
            "An `Idempotency-Key` makes a retried request return the same draft."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(DRAFT_POLICY),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LetterCreate],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[LetterRead]:
        async def work() -> LetterRead:
            viewer = await caller_actor(db_session, principal, permissions)
            letter_id = await letters.create_draft(db_session, data, tenant=tenant, viewer=viewer, origin=origin)
            return await letters.letter_view(db_session, letter_id, viewer, origin)

        return await idempotent(request, db_session, idempotency_key, work)

    @get(
        "/",
        operation_id="listSarabanLetters",
        summary="Letters newest first (secret letters only for members named on them)",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(READ_POLICY),
    )
    async def list_(
        self,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        direction: Direction = None,
        status: StatusFilter = None,
        kind: KindFilter = None,
        q: Search = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> LetterList:
        viewer = await caller_actor(db_session, principal, permissions)
        items, next_after = await letters.list_letters(
            db_session, viewer, direction=direction, status=status, kind=kind, q=q, after=id_cursor(cursor), limit=limit
        )
        for item in items:  # a secret letter shown in a list (or a search) is an access too
            if item.secrecy != "normal":
                await letters.audit_secret_access(db_session, item.id, item.secrecy, viewer, origin, "list")
        return LetterList(items=items, next_cursor=encode_cursor([next_after]) if next_after else None)

    @get(
        "/{letter_id:uuid}",
        operation_id="getSarabanLetter",
        summary="A letter with its addressees and history (a secret one: audited, 404 to others)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def fetch(
        self,
        letter_id: LetterId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        viewer = await caller_actor(db_session, principal, permissions)
        return await letters.letter_view(db_session, letter_id, viewer, origin)

    @patch(
        "/{letter_id:uuid}",
        operation_id="updateSarabanLetter",
        summary="A new revision of a draft (fields left out keep their value)",
        description=WORKFLOW + " 422 `saraban_invalid_letter`, `saraban_invalid_recipient`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(DRAFT_POLICY),
    )
    async def update(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterUpdate],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        if_match: IfMatch = None,
    ) -> LetterRead:
        viewer = await caller_actor(db_session, principal, permissions)
        if if_match is not None:  # the letter as its GET shows it (read only when asked: a secret read is audited)
            require_match(if_match, await letters.letter_view(db_session, letter_id, viewer, origin))
        await letters.update_draft(db_session, letter_id, data, tenant=tenant, viewer=viewer, origin=origin)
        return await letters.letter_view(db_session, letter_id, viewer, origin)

    @get(
        "/{letter_id:uuid}/revisions",
        operation_id="listSarabanLetterRevisions",
        summary="The saved revisions of a letter, oldest first",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def revisions(
        self,
        letter_id: LetterId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> RevisionPage:
        after = decode_cursor(cursor, tuple[int])
        viewer = await caller_actor(db_session, principal, permissions)
        rows = await letters.revisions(
            db_session, letter_id, viewer, origin, after=after[0] if after else None, limit=limit + 1
        )
        page, next_cursor = cut_page(rows, limit, key=lambda r: (r["revision"],))
        return RevisionPage(items=[RevisionRead(**dict(row)) for row in page], next_cursor=next_cursor)

    async def _act(
        self,
        action: str,
        letter_id: LetterId,
        data: LetterAction,
        tenant: TenantInfo,
        principal: Principal,
        permissions: frozenset[str],
        origin: Origin,
        db_session: AsyncSession,
    ) -> LetterRead:
        viewer = await caller_actor(db_session, principal, permissions)
        steps = {
            "submit": letters.submit,
            "review": letters.review,
            "return": letters.return_draft,
            "approve": letters.approve,
            "cancel": letters.cancel,
        }
        await steps[action](db_session, letter_id, data.version, viewer=viewer, origin=origin, note=data.note)
        return await letters.letter_view(db_session, letter_id, viewer, origin)

    @post(
        "/{letter_id:uuid}/submit",
        status_code=200,
        operation_id="submitSarabanLetter",
        summary="Send the draft for review (it names its signer)",
        description=WORKFLOW + " 422 `saraban_invalid_letter`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(DRAFT_POLICY),
    )
    async def submit(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterAction],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        return await self._act("submit", letter_id, data, tenant, principal, permissions, origin, db_session)

    @post(
        "/{letter_id:uuid}/review",
        status_code=200,
        operation_id="reviewSarabanLetter",
        summary="A reviewer's initials (ตรวจทาน) on the way to the signer",
        description=WORKFLOW,
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(REVIEW_POLICY),
    )
    async def review(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterAction],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        return await self._act("review", letter_id, data, tenant, principal, permissions, origin, db_session)

    @post(
        "/{letter_id:uuid}/return",
        status_code=200,
        operation_id="returnSarabanLetter",
        summary="Send back to its author for changes, saying why",
        description=WORKFLOW + " 422 `saraban_invalid_letter` without a note.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(REVIEW_POLICY),
    )
    async def return_(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterAction],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        return await self._act("return", letter_id, data, tenant, principal, permissions, origin, db_session)

    @post(
        "/{letter_id:uuid}/approve",
        status_code=200,
        operation_id="approveSarabanLetter",
        summary="The signer named on the letter approves it",
        description=WORKFLOW + " 403 `saraban_not_the_signer`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(SIGN_POLICY),
    )
    async def approve(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterAction],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        return await self._act("approve", letter_id, data, tenant, principal, permissions, origin, db_session)

    @post(
        "/{letter_id:uuid}/issue",
        status_code=200,
        operation_id="issueSarabanLetter",
        summary="Give the approved letter its number, register it, sign its PDF and send it",
        description=WORKFLOW
        + " 422 `saraban_invalid_letter` (no agency code). The PDF is signed (PAdES) with the LAO's"
        " certificate when it has one (`GET /letters/{id}/pdf`).",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(REGISTRY_POLICY),
    )
    async def issue(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterAction],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        blob_store: NamedDependency[BlobStore],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        viewer = await caller_actor(db_session, principal, permissions)

        async def seal() -> object:  # the signed PDF, before the copies to other LAOs are queued
            return await documents.seal(
                db_session, blob_store, settings.secret_key, tenant, letter_id, actor=actor, origin=origin
            )

        await issuing.issue_letter(
            db_session, letter_id, data.version, tenant=tenant, viewer=viewer, origin=origin, seal=seal
        )
        return await letters.letter_view(db_session, letter_id, viewer, origin)

    @post(
        "/{letter_id:uuid}/cancel",
        status_code=200,
        operation_id="cancelSarabanLetter",
        summary="Cancel a letter that has not been issued",
        description=WORKFLOW,
        responses=problem_responses(*STAFF_ERRORS, 400, 409),
        **guarded(DRAFT_POLICY),
    )
    async def cancel(
        self,
        letter_id: LetterId,
        data: JSONBody[LetterAction],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> LetterRead:
        return await self._act("cancel", letter_id, data, tenant, principal, permissions, origin, db_session)

    @post(
        "/{letter_id:uuid}/routes",
        operation_id="routeSarabanLetter",
        summary="Endorse (เกษียน) and route the letter to a unit or a member, with a due date",
        description="409 `saraban_wrong_status`; 422 `saraban_invalid_letter`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(ROUTE_POLICY),
    )
    async def route(
        self,
        letter_id: LetterId,
        data: JSONBody[RouteCreate],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> RouteList:
        viewer = await caller_actor(db_session, principal, permissions)
        await routing.route(db_session, letter_id, data, viewer=viewer, origin=origin)
        return RouteList(items=await routing.routes_of(db_session, letter_id, viewer, origin))

    @get(
        "/{letter_id:uuid}/routes",
        operation_id="listSarabanLetterRoutes",
        summary="Where the letter was routed, with read receipts",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def routes(
        self,
        letter_id: LetterId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> RoutePage:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        viewer = await caller_actor(db_session, principal, permissions)
        rows = await routing.routes_of(db_session, letter_id, viewer, origin, after=after, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=lambda r: (r.created_at, r.id))
        return RoutePage(items=items, next_cursor=next_cursor)

    @post(
        "/{letter_id:uuid}/files",
        operation_id="uploadSarabanLetterFile",
        summary="Attach a file to a letter being drafted or received (PDF, image, office document by content, 20 MiB)",
        description=(
            "`multipart/form-data` with the file in the part `data`. 413 `file_too_large`, 415 "
            "`file_type_not_allowed`, 409 `saraban_wrong_status` once the letter is approved or issued."
        ),
        request_max_body_size=FILE_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 413, 415, 503),
        **guarded(DRAFT_POLICY),
    )
    async def upload(
        self,
        letter_id: LetterId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: MultipartBody[UploadFile],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
    ) -> StoredFileRead:
        viewer = await caller_actor(db_session, principal, permissions)
        return await files.attach(
            db_session,
            blob_store,
            letter_id,
            data=upload_chunks(data),
            filename=data.filename or "",
            viewer=viewer,
            origin=origin,
        )

    @get(
        "/{letter_id:uuid}/files",
        operation_id="listSarabanLetterFiles",
        summary="The letter's files with their SHA-256",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def files_(
        self,
        letter_id: LetterId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> LetterFilePage:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        viewer = await caller_actor(db_session, principal, permissions)
        rows = await files.files_of(db_session, letter_id, viewer, origin, after=after, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=lambda f: (f.created_at, f.id))
        return LetterFilePage(items=items, next_cursor=next_cursor)

    @get(
        "/{letter_id:uuid}/files/{file_id:uuid}",
        operation_id="downloadSarabanLetterFile",
        summary="Download a file of a letter (a secret letter's: audited, 404 to others)",
        responses=problem_responses(*STAFF_ERRORS, 503),
        **guarded(READ_POLICY),
    )
    async def download(
        self,
        letter_id: LetterId,
        file_id: FileId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        viewer = await caller_actor(db_session, principal, permissions)
        return download_response(await files.opened(db_session, blob_store, letter_id, file_id, viewer, origin))


class IncomingController(Controller):
    path = "/incoming"
    tags = [TAG]

    @post(
        "/",
        operation_id="receiveSarabanLetter",
        summary="Register a letter received on paper or by e-mail (receive number, date and time)",
        description=(
            "422 `saraban_invalid_letter`. An `Idempotency-Key` makes a retried request return the same "
            "letter (registered once)."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(REGISTRY_POLICY),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[IncomingCreate],
        tenant: NamedDependency[TenantInfo],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[LetterRead]:
        async def work() -> LetterRead:
            viewer = await caller_actor(db_session, principal, permissions)
            letter_id = await routing.receive_manual(db_session, data, tenant=tenant, viewer=viewer, origin=origin)
            return await letters.letter_view(db_session, letter_id, viewer, origin)

        return await idempotent(request, db_session, idempotency_key, work)


async def _audit_inbox(session: AsyncSession, items: list[InboxItem], viewer: letters.Viewer, origin: Origin) -> None:
    """A secret letter shown in an inbox is an access: audited."""
    for item in items:
        if item.secrecy != "normal":
            await letters.audit_secret_access(session, item.letter_id, item.secrecy, viewer, origin, "inbox")


class InboxController(Controller):
    path = "/inbox"
    tags = [TAG]

    @get(
        "/",
        operation_id="getSarabanInbox",
        summary="The caller's inbox: letters routed to him, newest first",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(READ_POLICY),
    )
    async def mine(
        self,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        status: RouteStatus = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Inbox:
        viewer = await caller_actor(db_session, principal, permissions)
        items, next_after = await routing.inbox(
            db_session, viewer, unit_id=None, status=status, after=id_cursor(cursor), limit=limit, today=bangkok_today()
        )
        await _audit_inbox(db_session, items, viewer, origin)
        return Inbox(items=items, next_cursor=encode_cursor([next_after]) if next_after else None)

    @get(
        "/units/{unit_id:uuid}",
        operation_id="getSarabanUnitInbox",
        summary="A unit's inbox (its members, or those who route letters)",
        description="404 `saraban_unit_not_found`; 403 `saraban_not_allowed` for a member of another unit.",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(READ_POLICY),
    )
    async def unit(
        self,
        unit_id: UnitId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        status: RouteStatus = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Inbox:
        if await org.unit_ref(db_session, unit_id) is None:
            raise UnitNotFound(data={"unit_id": str(unit_id)})
        viewer = await caller_actor(db_session, principal, permissions)
        if unit_id not in viewer.unit_ids and ROUTE not in viewer.permissions:
            raise NotAllowed(data={"unit_id": str(unit_id)})
        items, next_after = await routing.inbox(
            db_session,
            viewer,
            unit_id=unit_id,
            status=status,
            after=id_cursor(cursor),
            limit=limit,
            today=bangkok_today(),
        )
        await _audit_inbox(db_session, items, viewer, origin)
        return Inbox(items=items, next_cursor=encode_cursor([next_after]) if next_after else None)


class RouteController(Controller):
    path = "/routes"
    tags = [TAG]

    @post(
        "/{route_id:uuid}/read",
        status_code=200,
        operation_id="readSarabanRoute",
        summary="The read receipt of a letter routed to the caller or his unit",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def read(
        self,
        route_id: RouteId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> RouteRead:
        viewer = await caller_actor(db_session, principal, permissions)
        return await routing.mark_read(db_session, route_id, viewer=viewer, origin=origin)

    @post(
        "/{route_id:uuid}/done",
        status_code=200,
        operation_id="completeSarabanRoute",
        summary="Mark a routed letter as dealt with",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def done(
        self,
        route_id: RouteId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> RouteRead:
        viewer = await caller_actor(db_session, principal, permissions)
        return await routing.mark_done(db_session, route_id, viewer=viewer, origin=origin)
