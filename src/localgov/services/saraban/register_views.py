"""HTTP endpoints of the send and receive registers: pages of lines, CSV and PDF exports, and the
hash-chain verifier."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.response import Response

from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.reads import ReadConnection
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.services.saraban import registers
from localgov.services.saraban.params import (
    CSV,
    MANAGE_POLICY,
    PDF,
    REGISTRY_POLICY,
    STAFF_ERRORS,
    RegisterName,
    Year,
)
from localgov.services.saraban.schemas import ChainReports, RegisterPage

TAG = "e-Saraban: registers"
_NO_STORE = {"Cache-Control": "private, no-store"}


class RegisterController(Controller):
    path = "/registers"
    tags = [TAG]

    @get(
        "/verify",
        operation_id="verifySarabanRegisters",
        summary="Recompute every register's hash chain; each report names the first altered line",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE_POLICY),
    )
    async def verify(self, db_read: NamedDependency[ReadConnection]) -> ChainReports:
        return ChainReports(items=await registers.verify(db_read))

    @get(
        "/{register:str}/{year:int}",
        operation_id="listSarabanRegister",
        summary="A register's lines of a calendar year, in order (pages: ?cursor=<next_cursor>)",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(REGISTRY_POLICY),
    )
    async def lines(
        self,
        register: RegisterName,
        year: Year,
        db_read: NamedDependency[ReadConnection],
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> RegisterPage:
        after = decode_cursor(cursor, tuple[Annotated[int, msgspec.Meta(ge=0, le=2**62)]])
        items = await registers.lines(db_read, register, year, after=after[0] if after else 0, limit=limit + 1)
        page, next_cursor = cut_page(items, limit, key=lambda line: (line.seq,))
        return RegisterPage(items=page, next_cursor=next_cursor)

    @get(
        "/{register:str}/{year:int}/csv",
        operation_id="exportSarabanRegisterCsv",
        summary="The register of a year in CSV (official columns)",
        media_type=CSV,
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(REGISTRY_POLICY),
    )
    async def csv(
        self, register: RegisterName, year: Year, db_read: NamedDependency[ReadConnection]
    ) -> Response[bytes]:
        rows = await registers.chain_rows(db_read, register, year)
        return Response(
            registers.csv_bytes(rows),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="saraban-{register}-{year}.csv"', **_NO_STORE},
        )

    @get(
        "/{register:str}/{year:int}/pdf",
        operation_id="exportSarabanRegisterPdf",
        summary="The register of a year as a printable Thai PDF (official columns)",
        media_type=PDF,
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(REGISTRY_POLICY),
    )
    async def pdf(
        self,
        register: RegisterName,
        year: Year,
        tenant: NamedDependency[TenantInfo],
        db_read: NamedDependency[ReadConnection],
    ) -> Response[bytes]:
        rows = await registers.chain_rows(db_read, register, year)
        settings = await registers.thai_digits(db_read)
        content = await registers.pdf_bytes(
            rows, register=register, year=year, lao=await lao_profile(db_read, tenant), thai_digits=settings
        )
        return Response(
            content,
            media_type=PDF,
            headers={"Content-Disposition": f'inline; filename="saraban-{register}-{year}.pdf"', **_NO_STORE},
        )
