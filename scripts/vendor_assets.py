"""Vendor the API reference's browser assets into the package (no CDN at run time; re-run to upgrade).

Swagger UI (Apache-2.0, https://github.com/swagger-api/swagger-ui) from the npm registry's
``swagger-ui-dist`` tarball, pinned by version and SHA-512 integrity: its bundle, stylesheet and
licence go to ``src/localgov/static/vendor/swagger-ui/`` (committed: a fresh clone serves the
reference page with no download). ``python scripts/vendor_assets.py [tarball]`` uses a local
tarball instead of downloading (offline builds).
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.35.0"
URL = f"https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-{VERSION}.tgz"
INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE")
TARGET = Path(__file__).resolve().parent.parent / "src" / "localgov" / "static" / "vendor" / "swagger-ui"


def main(argv: list[str]) -> int:
    if all((TARGET / name).is_file() for name in FILES) and (TARGET / "VERSION").read_text().strip() == VERSION:
        return 0
    if len(argv) > 1:
        data = Path(argv[1]).read_bytes()
    else:
        with urllib.request.urlopen(URL, timeout=60) as response:
            data = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != INTEGRITY:
        print(f"swagger-ui-dist {VERSION}: integrity mismatch ({digest})", file=sys.stderr)
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for name in FILES:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                print(f"swagger-ui-dist {VERSION}: {name} missing", file=sys.stderr)
                return 1
            (TARGET / name).write_bytes(member.read())
    (TARGET / "VERSION").write_text(VERSION + "\n")
    print(f"vendored swagger-ui-dist {VERSION} into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
