"""Print the tenant API's OpenAPI document (what a live server serves at ``/schema/openapi.json``).

``python -m tests.clients.openapi_dump > openapi.json``: the application is built, never started
(no database is contacted), so a client generator can run before anything is served.
"""

from __future__ import annotations

import sys

import msgspec

from localgov.app import create_app
from localgov.settings import Settings


def document() -> dict[str, object]:
    settings = Settings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        env="test",
        base_domain="localgov.test",
        secret_key="openapi-dump-only-" + "x" * 32,
    )
    app = create_app(settings)
    # The tenant surface's document, as the tenant host serves it (kernel.openapi), with the host's server.
    document = dict(app.state.surface_documents.document(app, "tenant"))
    document["servers"] = [{"url": "https://maehia.localgov.test", "description": "This host"}]
    return document


def main() -> None:
    sys.stdout.write(msgspec.json.encode(document()).decode() + "\n")


if __name__ == "__main__":
    main()
