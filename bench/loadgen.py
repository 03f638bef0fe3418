"""A lean closed-loop HTTP/1.1 load generator, run as its own process by ``bench/core.py``.

Reads one JSON object on stdin and writes one JSON object on stdout::

    {"port": 8123, "path": "/v1/tenant", "hosts": ["a.localhost", ...], "pick": "first" | "uniform",
     "requests": 6000, "warmup": 1000, "concurrency": 16, "seed": 1, "server_pid": 1234,
     "postgres_pid": 99, "timeout_s": 30, "deadline_s": 300}

``concurrency`` keep-alive connections are opened first; each runs requests back to back
(closed loop) until ``warmup`` and then ``requests`` requests have been sent. Only the second
part is timed. Each request's Host is ``hosts[0]`` (``pick: first``) or drawn uniformly at random
from ``hosts`` (``pick: uniform``, seeded). Raw asyncio streams instead of an HTTP library keep
the generator's own CPU use small, which matters on a 2-core machine where it shares the CPUs
with the server and PostgreSQL. Around the timed part it reads the CPU time of itself, of the
server process, of the PostgreSQL postmaster with all its backends (when on this machine) and
of the whole machine, so that every phase says where its CPU went.

Every loop is bounded: a fixed request count, a per-request timeout and an overall deadline.
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


def _proc_cpu_s(pid: int | None) -> float | None:
    """utime + stime of a process, from /proc (None where unavailable)."""
    fields = _stat_fields(pid) if pid else None
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _process_tree_cpu_s(root: int | None) -> float | None:
    """CPU of a PostgreSQL postmaster and all its backends, those that exited included.

    The postmaster reaps its backends, so their CPU time moves into its cutime/cstime when they
    exit; the live ones are summed from /proc. (Backends have no children of their own.)
    """
    own = _stat_fields(root) if root else None
    if own is None:
        return None
    ticks = sum(int(v) for v in own[11:15])  # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and fields[1] == str(root):
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy_cpu_s() -> float | None:
    """CPU seconds spent not idle by the whole machine (all cores), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ResponseError(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ResponseError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = False
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
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
    elif status not in (204, 304) and status >= 200:
        raise ResponseError("response without Content-Length")
    return status, close


def _percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def _run(cfg: dict[str, Any]) -> dict[str, Any]:
    port = int(cfg["port"])
    hosts: list[str] = cfg["hosts"]
    path: str = cfg.get("path", "/v1/tenant")
    concurrency = int(cfg["concurrency"])
    timeout = float(cfg.get("timeout_s", 30))
    deadline = float(cfg.get("deadline_s", 300))
    rng = random.Random(cfg.get("seed", 1))
    payloads = [
        (f"GET {path} HTTP/1.1\r\nHost: {h}\r\nAccept: application/json\r\nUser-Agent: localgov-bench\r\n\r\n").encode(
            "ascii"
        )
        for h in hosts
    ]

    def plan(count: int) -> list[int]:
        if cfg["pick"] == "first":
            return [0] * count
        return [rng.randrange(len(hosts)) for _ in range(count)]

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)

    conns = [await connect() for _ in range(concurrency)]
    statuses: dict[str, int] = {}
    errors: list[str] = []

    async def drive(order: list[int], latencies: list[float]) -> None:
        work = iter(range(len(order)))

        async def worker(slot: int) -> None:
            reader, writer = conns[slot]
            for i in work:  # the iterator is shared: each request is sent exactly once
                started = time.perf_counter()
                try:
                    writer.write(payloads[order[i]])
                    status, close = await asyncio.wait_for(_read_response(reader), timeout)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ResponseError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    writer.close()
                    if len(errors) > _MAX_ERRORS:
                        raise RuntimeError("too many connection errors; giving up") from exc
                    reader, writer = conns[slot] = await connect()
                    continue
                latencies[i] = time.perf_counter() - started
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if close:
                    writer.close()
                    reader, writer = conns[slot] = await connect()

        await asyncio.wait_for(asyncio.gather(*(worker(s) for s in range(concurrency))), deadline)

    warm_order = plan(int(cfg.get("warmup", 0)))
    await drive(warm_order, [0.0] * len(warm_order))
    warm_statuses = dict(statuses)
    statuses.clear()
    warm_errors = len(errors)
    errors.clear()

    order = plan(int(cfg["requests"]))
    latencies = [-1.0] * len(order)
    server_pid, postgres_pid = cfg.get("server_pid"), cfg.get("postgres_pid")
    cpu_pg0 = _process_tree_cpu_s(postgres_pid)
    cpu_self0, cpu_server0, cpu_all0 = _self_cpu_s(), _proc_cpu_s(server_pid), _machine_busy_cpu_s()
    started = time.perf_counter()
    await drive(order, latencies)
    elapsed = time.perf_counter() - started
    cpu_self1, cpu_server1, cpu_all1 = _self_cpu_s(), _proc_cpu_s(server_pid), _machine_busy_cpu_s()
    cpu_pg1 = _process_tree_cpu_s(postgres_pid)
    for _, writer in conns:
        writer.close()

    done = sorted(x for x in latencies if x >= 0)
    ok = statuses.get("200", 0)
    return {
        "requests": len(order),
        "completed": len(done),
        "distinct_hosts": len(set(order)),
        "elapsed_s": elapsed,
        "requests_per_s": len(done) / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": _percentile(done, 50) * 1000,
            "p90": _percentile(done, 90) * 1000,
            "p99": _percentile(done, 99) * 1000,
            "max": (done[-1] if done else float("nan")) * 1000,
            "mean": (sum(done) / len(done) if done else float("nan")) * 1000,
        },
        "statuses": statuses,
        "non_200": len(order) - ok,
        "errors": errors[:10],
        "error_count": len(errors),
        "warmup": {"requests": len(warm_order), "statuses": warm_statuses, "error_count": warm_errors},
        "cpu_s": {
            "loadgen": cpu_self1 - cpu_self0,
            "server": None if cpu_server0 is None or cpu_server1 is None else cpu_server1 - cpu_server0,
            "postgres": None if cpu_pg0 is None or cpu_pg1 is None else cpu_pg1 - cpu_pg0,
            "machine": None if cpu_all0 is None or cpu_all1 is None else cpu_all1 - cpu_all0,
        },
    }


def main() -> int:
    cfg = json.load(sys.stdin)
    result = asyncio.run(_run(cfg))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
