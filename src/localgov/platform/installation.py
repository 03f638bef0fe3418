"""What this deployment is made of, as the composition root tells the platform at start.

The platform provisions and migrates tenant schemas, so it needs the core tenant tables (kernel,
identity and platform models) and the service plugins (their tables, histories and seeds). It
must not import them: identity is its sibling and the services sit above it (the import contracts
in ``pyproject.toml``). The composition root — ``localgov.cli``, ``localgov.app``, the tests —
names a factory (``"localgov.metadata:installation"``) and calls :func:`install` once per process;
processes the platform spawns (parallel migrations) are given the same name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import msgspec
from sqlalchemy import MetaData, Table

from localgov.kernel.plugins import ServicePlugin, register_plugin_case_types


class Installation(msgspec.Struct, frozen=True, kw_only=True):
    """The tenant metadata, its core tables, and the service plugins this deployment runs."""

    metadata: MetaData
    core_tables: tuple[Table, ...]
    plugins: tuple[ServicePlugin, ...]
    #: ``module:function`` that built it, for child processes.
    factory: str


_current: list[Installation] = []


def install(factory: str) -> Installation:
    """Build the installation with ``factory`` (``"module:function"``) and make it this process's;
    its plugins' case types become known to the case engine."""
    module, _, name = factory.partition(":")
    build: Callable[[str], Installation] = getattr(importlib.import_module(module), name)
    installation = build(factory)
    register_plugin_case_types(installation.plugins)
    _current[:] = [installation]
    return installation


def installed() -> Installation:
    """This process's installation (an error when the composition root has not installed one)."""
    if not _current:
        raise RuntimeError("no installation: call localgov.platform.installation.install() at start")
    return _current[0]
