"""The DLA registry of all 7,849 LAOs, shipped as package data (``data/lao_registry.csv``)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import msgspec

from localgov.kernel.csv import read_csv

#: The kinds of LAO in the DLA registry (the CSV's ``type``).
LaoType = Literal[
    "provincial_admin_org",
    "city_municipality",
    "town_municipality",
    "subdistrict_municipality",
    "subdistrict_admin_org",
    "special_admin_area",
]
LAO_TYPES: dict[LaoType, str] = {
    "provincial_admin_org": "Provincial Administrative Organisation",
    "city_municipality": "City Municipality",
    "town_municipality": "Town Municipality",
    "subdistrict_municipality": "Subdistrict Municipality",
    "subdistrict_admin_org": "Subdistrict Administrative Organisation",
    "special_admin_area": "Special Local Administration (Pattaya City)",
}


class RegistryEntry(msgspec.Struct, frozen=True):
    """One row of the DLA registry (ทะเบียน อปท.)."""

    dla_code: str
    name_th: str
    type: LaoType
    type_th: str
    province_code: str
    province_th: str
    province_en: str
    district_th: str


@cache
def registry() -> dict[str, RegistryEntry]:
    """All LAOs by DLA code, read once per process."""
    content = resources.files("localgov").joinpath("data/lao_registry.csv").read_bytes()
    table = read_csv(content, required=RegistryEntry.__struct_fields__)
    return {row.values["dla_code"]: msgspec.convert(row.values, RegistryEntry) for row in table.rows}


def lookup(dla_code: str) -> RegistryEntry | None:
    return registry().get(dla_code)
