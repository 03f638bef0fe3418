"""Run the tenant migration runner on a history folder of one's choice; used by ``bench/scale.py``.

    .venv/bin/python bench/scale_migrate.py --database-url URL --location DIR [--target REV] [--down]
                                            [--processes N]

``localgov migrate`` has no option for another history folder (the throw-away revision lives in
a temporary copy of ``migrations/tenant``), so this calls
:func:`localgov.platform.migrate.migrate_tenants`, the function behind the command, in a process
of its own and prints one JSON object: wall time, per-schema seconds and failures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from localgov.kernel.db import create_engine
    from localgov.platform.migrate import migrate_tenants
    from localgov.settings import Settings

    started = time.perf_counter()
    engine = create_engine(Settings(database_url=args.database_url, env="test"))
    try:
        report = await migrate_tenants(
            engine,
            args.database_url,
            processes=args.processes,
            location=args.location,
            target=args.target,
            down=args.down,
        )
    finally:
        await engine.dispose()
    wall = time.perf_counter() - started
    seconds = sorted(r.seconds for r in report.results)
    return {
        "goal": report.head,
        "schemas": report.total,
        "behind": len(report.behind),
        "migrated": len(report.results) - len(report.failed),
        "failed": len(report.failed),
        "failures": [f"{r.schema}: {r.error}"[:300] for r in report.failed[:5]],
        "runner_s": report.seconds,
        "wall_in_process_s": wall,
        "per_schema_ms": {
            "p50": _percentile(seconds, 50) * 1000,
            "p95": _percentile(seconds, 95) * 1000,
            "p99": _percentile(seconds, 99) * 1000,
            "max": (seconds[-1] if seconds else float("nan")) * 1000,
        },
    }


def main() -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--location", required=True, help="a tenant history folder")
    parser.add_argument("--target", default=None, help="revision (default: head of --location)")
    parser.add_argument("--down", action="store_true", help="downgrade to --target")
    parser.add_argument("--processes", type=int, default=0, help="worker processes (0: one per CPU)")
    result = asyncio.run(_run(parser.parse_args()))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":  # the runner's worker processes are spawned: they re-import this file
    sys.exit(main())
