"""Development mode: an embedded PostgreSQL (PyPI ``pgserver``) under the data folder."""

from __future__ import annotations

import asyncio
import os
import secrets
import warnings
from pathlib import Path

import asyncpg

DEV_DATABASE = "localgov"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server and return the URL of the ``localgov`` database."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver does not need it.
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]  # untyped package without __all__

    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = get_server(str(data_dir / "pgdata"), cleanup_mode="stop")
    admin_uri: str = server.get_uri()
    asyncio.run(_ensure_database(admin_uri, DEV_DATABASE))
    return server.get_uri(DEV_DATABASE).replace("postgresql://postgres:@", "postgresql://postgres@")


def development_secret(data_dir: Path) -> str:
    """A secret key kept in the data folder (mode 0600), made on first use. Development only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


async def _ensure_database(admin_uri: str, name: str) -> None:
    conn = await asyncpg.connect(admin_uri)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # The name is a constant of this module, never input.
            await conn.execute(
                f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            )
    finally:
        await conn.close()
