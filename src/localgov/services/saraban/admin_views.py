"""HTTP endpoints of the LAO's e-Saraban administration (settings, issuing units, retention,
destruction lists), the directory of addressees, and the operator's outside agencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.etags import IfMatch, require_match
from localgov.kernel.pagination import Cursor, Limit, after_key, cut_page, decode_cursor
from localgov.kernel.reads import ReadConnection, fetch_all
from localgov.kernel.thai import bangkok_today
from localgov.services.saraban import agencies, letters, retention
from localgov.services.saraban.errors import InvalidLetter
from localgov.services.saraban.models import IssuingUnit
from localgov.services.saraban.params import (
    MANAGE_POLICY,
    OPERATOR_POLICY,
    READ_POLICY,
    STAFF_ERRORS,
    AgencyId,
    ListId,
)
from localgov.services.saraban.schemas import (
    AgencyList,
    DestructionListCreate,
    DestructionListPage,
    DestructionListRead,
    IssuingUnitCreate,
    IssuingUnitPage,
    IssuingUnitRead,
    OutsideAgencyCreate,
    OutsideAgencyPage,
    OutsideAgencyRead,
    OutsideAgencyUpdate,
    RetentionRules,
    SettingsRead,
    SettingsUpdate,
)

TAG = "e-Saraban: administration"
IU = IssuingUnit.__table__.c
#: By code (unique index), then id.
_UNITS = select(IU.id, IU.code, IU.name_th, IU.unit_id, IU.active).order_by(IU.code, IU.id)


class SettingsController(Controller):
    path = "/settings"
    tags = [TAG]

    @get(
        "/",
        operation_id="getSarabanSettings",
        summary="The LAO's agency code, Thai digits, secret-letter officers",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE_POLICY),
    )
    async def fetch(self, db_session: NamedDependency[AsyncSession]) -> SettingsRead:
        row = await letters.settings_row(db_session)
        return SettingsRead(
            agency_code=row.agency_code, thai_digits=row.thai_digits, secret_officer_ids=list(row.secret_officer_ids)
        )

    @put(
        "/",
        operation_id="putSarabanSettings",
        summary="Change the LAO's settings of e-Saraban",
        description="422 `saraban_invalid_letter` for an unknown secret-letter officer.",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(MANAGE_POLICY),
    )
    async def put_(
        self,
        data: JSONBody[SettingsUpdate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        if_match: IfMatch = None,
    ) -> SettingsRead:
        row = await letters.settings_row(db_session)
        require_match(
            if_match,
            SettingsRead(
                agency_code=row.agency_code,
                thai_digits=row.thai_digits,
                secret_officer_ids=list(row.secret_officer_ids),
            ),
        )
        if data.agency_code is not None:
            row.agency_code = data.agency_code
        if data.thai_digits is not None:
            row.thai_digits = data.thai_digits
        if data.secret_officer_ids is not None:
            await letters.check_named(db_session, data.secret_officer_ids)
            row.secret_officer_ids = list(dict.fromkeys(data.secret_officer_ids))
        row.updated_by = letters.label(actor)
        await record_audit(db_session, "saraban.settings_changed", actor=actor, origin=origin)
        await db_session.flush()
        return SettingsRead(
            agency_code=row.agency_code, thai_digits=row.thai_digits, secret_officer_ids=list(row.secret_officer_ids)
        )


class IssuingUnitController(Controller):
    path = "/issuing-units"
    tags = [TAG]

    @get(
        "/",
        operation_id="listSarabanIssuingUnits",
        summary="The units that issue letters under their own code",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def list_(
        self, db_read: NamedDependency[ReadConnection], limit: Limit = 50, cursor: Cursor = None
    ) -> IssuingUnitPage:
        after = decode_cursor(cursor, tuple[str, uuid.UUID])
        query = _UNITS.limit(limit + 1)
        if after is not None:
            query = query.where(after_key([IU.code, IU.id], after))
        rows = await fetch_all(db_read, query)
        page, next_cursor = cut_page(rows, limit, key=lambda r: (r["code"], r["id"]))
        return IssuingUnitPage(items=[IssuingUnitRead(**dict(row)) for row in page], next_cursor=next_cursor)

    @post(
        "/",
        operation_id="createSarabanIssuingUnit",
        summary="A unit that issues letters under its code (ที่ <code>/<n>)",
        description="422 `saraban_invalid_letter` (unknown unit, code taken).",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(MANAGE_POLICY),
    )
    async def create(
        self,
        data: JSONBody[IssuingUnitCreate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> IssuingUnitRead:
        if data.unit_id is not None and await org.unit_ref(db_session, data.unit_id) is None:
            raise InvalidLetter("no such unit", data={"field": "unit_id"})
        if (await db_session.execute(select(IU.id).where(IU.code == data.code))).first() is not None:
            raise InvalidLetter("this code is taken", data={"field": "code"})
        unit = IssuingUnit(code=data.code, name_th=data.name_th, unit_id=data.unit_id)
        db_session.add(unit)
        await db_session.flush()
        await record_audit(
            db_session,
            "saraban.issuing_unit_created",
            actor=actor,
            origin=origin,
            target=f"saraban_issuing_unit:{unit.id}",
            data={"code": data.code},
        )
        return IssuingUnitRead(id=unit.id, code=unit.code, name_th=unit.name_th, unit_id=unit.unit_id, active=True)


class RetentionController(Controller):
    path = "/retention"
    tags = [TAG]

    @get(
        "/",
        operation_id="getSarabanRetention",
        summary="How many years letters of each kind are kept (null: permanently)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE_POLICY),
    )
    async def fetch(self, db_read: NamedDependency[ReadConnection]) -> RetentionRules:
        return RetentionRules(items=await retention.rules_of(db_read))

    @put(
        "/",
        operation_id="putSarabanRetention",
        summary="Change the retention of some kinds",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(MANAGE_POLICY),
    )
    async def put_(
        self,
        data: JSONBody[RetentionRules],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> RetentionRules:
        await retention.put_rules(db_session, data.items, actor=actor, origin=origin)
        return RetentionRules(items=await retention.rules_of(db_session))


class DestructionListController(Controller):
    path = "/destruction-lists"
    tags = [TAG]

    @get(
        "/",
        operation_id="listSarabanDestructionLists",
        summary="The yearly destruction lists, newest year first",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE_POLICY),
    )
    async def list_(
        self, db_read: NamedDependency[ReadConnection], limit: Limit = 50, cursor: Cursor = None
    ) -> DestructionListPage:
        after = decode_cursor(cursor, tuple[int, uuid.UUID])
        rows = await retention.lists(db_read, after=after, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=lambda d: (d.year, d.id))
        return DestructionListPage(items=items, next_cursor=next_cursor)

    @post(
        "/",
        operation_id="prepareSarabanDestructionList",
        summary="Prepare the destruction list of a calendar year that has ended",
        description="422 `saraban_destruction_list_year_open`; 409 `saraban_destruction_list_exists`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(MANAGE_POLICY),
    )
    async def prepare(
        self,
        data: JSONBody[DestructionListCreate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> DestructionListRead:
        return await retention.prepare(db_session, data.year, today=bangkok_today(), actor=actor, origin=origin)

    @get(
        "/{list_id:uuid}",
        operation_id="getSarabanDestructionList",
        summary="A destruction list",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE_POLICY),
    )
    async def fetch(self, list_id: ListId, db_read: NamedDependency[ReadConnection]) -> DestructionListRead:
        return await retention.get_list(db_read, list_id)

    @post(
        "/{list_id:uuid}/approve",
        status_code=200,
        operation_id="approveSarabanDestructionList",
        summary="Approve a destruction list",
        description="409 `saraban_wrong_status`.",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(MANAGE_POLICY),
    )
    async def approve(
        self,
        list_id: ListId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> DestructionListRead:
        return await retention.approve(db_session, list_id, actor=actor, origin=origin)


Query = Annotated[str | None, QueryParameter(min_length=1, max_length=100, description="Words of the name or code")]
DirectoryLimit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size (1-200)")]


class DirectoryController(Controller):
    path = "/agencies"
    tags = [TAG]

    @get(
        "/",
        operation_id="listSarabanAgencies",
        summary="Addressees: the LAOs on the platform (electronic: running e-Saraban), then the outside agencies",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(READ_POLICY),
    )
    async def list_(
        self,
        db_read: NamedDependency[ReadConnection],
        q: Query = None,
        limit: DirectoryLimit = 50,
        cursor: Cursor = None,
    ) -> AgencyList:
        after = decode_cursor(cursor, tuple[str, str, str])
        rows = await agencies.directory(db_read, q, limit + 1, after)
        items, next_cursor = cut_page(rows, limit, key=agencies.directory_key)
        return AgencyList(items=items, next_cursor=next_cursor)


class OutsideAgencyController(Controller):
    """The operator keeps the directory of agencies outside the platform (operator host). Mounted
    by the application beside the operator's other routes (a plugin's router serves tenant hosts)."""

    path = "/v1/outside-agencies"
    tags = ["e-Saraban: outside agencies (operator)"]
    opt = {"surface": "operator"}

    @get(
        "/",
        operation_id="listSarabanOutsideAgencies",
        summary="The outside agencies",
        responses=problem_responses(401, 403, 404),
        **guarded(OPERATOR_POLICY),
    )
    async def list_(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> OutsideAgencyPage:
        after = decode_cursor(cursor, tuple[str, int])
        rows = await agencies.list_outside(db_session, after=after, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=lambda a: (a.code, a.id))
        return OutsideAgencyPage(items=items, next_cursor=next_cursor)

    @post(
        "/",
        operation_id="createSarabanOutsideAgency",
        summary="Add an outside agency",
        description="409 `saraban_agency_exists`.",
        responses=problem_responses(401, 403, 400, 409),
        **guarded(OPERATOR_POLICY),
    )
    async def create(
        self,
        data: JSONBody[OutsideAgencyCreate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> OutsideAgencyRead:
        return await agencies.create_outside(db_session, data, actor=actor, origin=origin)

    @patch(
        "/{agency_id:int}",
        operation_id="updateSarabanOutsideAgency",
        summary="Change an outside agency (name, endpoint, active)",
        responses=problem_responses(401, 403, 404, 400),
        **guarded(OPERATOR_POLICY),
    )
    async def update(
        self,
        agency_id: AgencyId,
        data: JSONBody[OutsideAgencyUpdate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> OutsideAgencyRead:
        return await agencies.update_outside(db_session, agency_id, data, actor=actor, origin=origin)
