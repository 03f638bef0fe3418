"""The closed-loop HTTP/1.1 load generator of ``bench/scale.py``, run as a process of its own.

Reads one JSON object on stdin, writes one JSON object on stdout::

    {"ports": [8123], "path": "/v1/tenant",
     "targets": [["lao-0101011.localhost", {"Authorization": "Bearer ..."}], ...],
     "pick": "first" | "uniform", "requests": 20000, "warmup": 4000, "concurrency": 16,
     "seed": 1, "server_pids": [1234, 1240], "timeout_s": 30, "deadline_s": 300}

``concurrency`` keep-alive connections (spread round-robin over ``ports``: several server processes
behind a client-side balancer) each send requests back to back until ``warmup`` and then
``requests`` requests have been sent; only the second part is timed. Each request goes to
``targets[0]`` (``pick: first``) or to a target drawn uniformly at random (``pick: uniform``,
seeded), with that target's Host and extra headers (a per-tenant bearer token, say). Raw asyncio
streams keep the generator's own CPU small: on a 2-core machine it shares the CPUs with the server
and PostgreSQL. Around the timed part it reads the CPU time of itself, of the server processes and
of the whole machine. Every loop is bounded: a request count, a per-request timeout, a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
from typing import Any

_MAX_ERRORS = 50


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def processes_cpu_s(pids: list[int]) -> float | None:
    """utime + stime of these processes (None when /proc cannot tell)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            return None
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_cpu_s() -> float | None:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ResponseError(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One response: its status, and whether the server closes the connection after it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ResponseError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    elif status >= 200 and status not in (204, 304):
        raise ResponseError("response without Content-Length")
    return status, close


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    ports = [int(p) for p in cfg["ports"]]
    path: str = cfg["path"]
    targets: list[tuple[str, dict[str, str]]] = [(h, dict(extra)) for h, extra in cfg["targets"]]
    concurrency = int(cfg["concurrency"])
    timeout = float(cfg.get("timeout_s", 30))
    deadline = float(cfg.get("deadline_s", 300))
    server_pids = [int(p) for p in cfg.get("server_pids", [])]
    rng = random.Random(cfg.get("seed", 1))
    payloads = [
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: localgov-scale\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            + "\r\n"
        ).encode("ascii")
        for host, extra in targets
    ]

    def plan(count: int) -> list[int]:
        if cfg["pick"] == "first":
            return [0] * count
        return [rng.randrange(len(targets)) for _ in range(count)]

    async def connect(slot: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", ports[slot % len(ports)]), timeout)

    conns = [await connect(slot) for slot in range(concurrency)]
    statuses: dict[str, int] = {}
    errors: list[str] = []

    async def drive(order: list[int], latencies: list[float]) -> None:
        work = iter(range(len(order)))

        async def worker(slot: int) -> None:
            reader, writer = conns[slot]
            for i in work:  # shared iterator: every request is sent exactly once
                started = time.perf_counter()
                try:
                    writer.write(payloads[order[i]])
                    status, close = await asyncio.wait_for(_read_response(reader), timeout)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ResponseError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    writer.close()
                    if len(errors) > _MAX_ERRORS:
                        raise RuntimeError("too many connection errors; giving up") from exc
                    reader, writer = conns[slot] = await connect(slot)
                    continue
                latencies[i] = time.perf_counter() - started
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if close:
                    writer.close()
                    reader, writer = conns[slot] = await connect(slot)

        await asyncio.wait_for(asyncio.gather(*(worker(s) for s in range(concurrency))), deadline)

    warm = plan(int(cfg.get("warmup", 0)))
    await drive(warm, [0.0] * len(warm))
    warm_statuses, warm_errors = dict(statuses), len(errors)
    statuses.clear()
    errors.clear()

    order = plan(int(cfg["requests"]))
    latencies = [-1.0] * len(order)
    cpu_self0, cpu_server0, cpu_all0 = _self_cpu_s(), processes_cpu_s(server_pids), machine_busy_cpu_s()
    started = time.perf_counter()
    await drive(order, latencies)
    elapsed = time.perf_counter() - started
    cpu_self1, cpu_server1, cpu_all1 = _self_cpu_s(), processes_cpu_s(server_pids), machine_busy_cpu_s()
    for _, writer in conns:
        writer.close()

    done = sorted(x for x in latencies if x >= 0)
    return {
        "requests": len(order),
        "completed": len(done),
        "distinct_targets": len(set(order)),
        "elapsed_s": elapsed,
        "requests_per_s": len(done) / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": percentile(done, 50) * 1000,
            "p90": percentile(done, 90) * 1000,
            "p99": percentile(done, 99) * 1000,
            "max": (done[-1] if done else float("nan")) * 1000,
        },
        "statuses": statuses,
        "non_200": len(order) - statuses.get("200", 0),
        "errors": errors[:10],
        "error_count": len(errors),
        "warmup": {"requests": len(warm), "statuses": warm_statuses, "error_count": warm_errors},
        "cpu_s": {
            "loadgen": cpu_self1 - cpu_self0,
            "server": None if cpu_server0 is None or cpu_server1 is None else cpu_server1 - cpu_server0,
            "machine": None if cpu_all0 is None or cpu_all1 is None else cpu_all1 - cpu_all0,
        },
    }


def main() -> int:
    cfg = json.load(sys.stdin)
    json.dump(asyncio.run(run(cfg)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
