"""A throwaway Citus cluster for tests and benchmarks: a coordinator and workers on this machine.

Citus is not in any package registry these machines reach; ``../shared/citus`` (next to the
repository, or ``LOCALGOV_TEST_CITUS_DIR``) holds Citus 13.2.2 built for Debian's PostgreSQL 15
and an ``install.sh`` that unpacks it (root; idempotent). :func:`ensure_citus` runs it when the
extension is missing and fails with a clear message when it cannot.

Each node is its own ``initdb`` under one temporary folder, started by ``pg_ctl -w`` (which polls
the server until it accepts connections: no sleep-based waits) on a free port of its own, with
``shared_preload_libraries=citus`` and settings for a small shared machine (small buffers, no
fsync: the data is thrown away). :meth:`CitusCluster.stop` stops every node and deletes the folder.
As root the servers run as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CITUS_SO = Path("/usr/lib/postgresql/15/lib/citus.so")
CITUS_CONTROL = Path("/usr/share/postgresql/15/extension/citus.control")
ENV_DIR = "LOCALGOV_TEST_CITUS_DIR"
DATABASE = "localgov"

#: Settings of every node: a small footprint on a 2-core machine shared with other work.
NODE_SETTINGS: dict[str, str] = {
    "shared_preload_libraries": "citus",
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_locks_per_transaction": "256",
    "citus.enable_statistics_collection": "off",
    # No background rebalancing or deferred-drop work competing with the test.
    "citus.background_task_queue_interval": "-1",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class CitusUnavailable(RuntimeError):
    """Citus cannot be installed or started here (the message says why)."""


def shared_dir() -> Path:
    """``../shared/citus`` next to the repository (or ``$LOCALGOV_TEST_CITUS_DIR``)."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "citus"


def ensure_citus() -> None:
    """Install the Citus extension files unless they are there already."""
    if not (PG_BIN / "initdb").exists():
        raise CitusUnavailable(f"Debian's PostgreSQL 15 is not installed ({PG_BIN / 'initdb'} missing)")
    if CITUS_SO.exists() and CITUS_CONTROL.exists():
        return
    script = shared_dir() / "install.sh"
    if not script.exists():
        raise CitusUnavailable(
            f"Citus is not installed and {script} is absent: put ../shared/citus next to the repository"
            f" or set {ENV_DIR} to the folder holding install.sh"
        )
    if os.geteuid() != 0:
        raise CitusUnavailable(f"Citus is not installed and installing it needs root: sudo bash {script}")
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if done.returncode != 0 or not CITUS_SO.exists():
        raise CitusUnavailable(f"{script} failed: {done.stdout}{done.stderr}")


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_port(taken: Sequence[int]) -> int:
    """A port free now and not one of ``taken`` (the other nodes', started or not yet)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in taken:
            return port


@dataclass
class CitusCluster:
    """A coordinator (``ports[0]``) and workers (``ports[1:]``), each a ``localgov`` database with Citus."""

    root: Path
    ports: list[int]
    user: str | None  # run the servers as this user (when started as root)
    started: list[Path] = field(default_factory=list)

    @property
    def coordinator_url(self) -> str:
        return self.url(self.ports[0])

    @property
    def worker_ports(self) -> list[int]:
        return self.ports[1:]

    def url(self, port: int, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def _run(self, args: Sequence[str]) -> None:
        cmd = list(args)
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.root)  # noqa: S603
        if done.returncode != 0:
            raise CitusUnavailable(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")

    def start_node(self, index: int) -> None:
        """``initdb`` and start one node; returns once it accepts connections (``pg_ctl -w``).

        Its port was free when picked, but another process (a parallel test run's) may bind it
        before the server does: the server then fails to bind, says so in its log and exits (``pg_ctl
        -w`` fails at once), and the node starts again on another free port (``self.ports`` is read
        only once the nodes run)."""
        data = self.root / f"node{index}"
        log = self.root / f"node{index}.log"
        self._run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
        for attempt in range(1, 6):
            logged = log.stat().st_size if log.exists() else 0
            options = " ".join(f"-c {k}={v}" for k, v in {**NODE_SETTINGS, "port": str(self.ports[index])}.items())
            options += f" -c unix_socket_directories={self.root}"
            try:
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log),
                           "-o", options, "-w", "-t", "60", "start"])  # fmt: skip
            except CitusUnavailable:
                this_start = log.read_bytes()[logged:].decode(errors="replace") if log.exists() else ""
                if attempt == 5 or "could not bind" not in this_start:
                    raise
                self.ports[index] = _free_port(self.ports)
                continue
            break
        self.started.append(data)

    def stop_node(self, index: int) -> None:
        """Stop one node (it stays stopped; :meth:`stop` skips it)."""
        data = self.root / f"node{index}"
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        self.started.remove(data)

    def stop(self) -> None:
        """Stop every node (fast shutdown) and delete the folder."""
        for data in reversed(self.started):
            with contextlib.suppress(CitusUnavailable):
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    async def setup(self) -> None:
        """The ``localgov`` database with Citus on every node; the workers added to the coordinator."""
        for port in self.ports:
            conn = await asyncpg.connect(self.url(port, "postgres"))
            try:
                await conn.execute(
                    f"CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8'"
                    " LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
                )
            finally:
                await conn.close()
        await make_citus_database(self.coordinator_url, [self.url(p) for p in self.worker_ports])

    async def shard_rows(self, port: int, table: str) -> dict[str, int]:
        """On one node: tenant schema -> rows in its local shard of ``table`` (schemas without one: absent)."""
        conn = await asyncpg.connect(self.url(port), server_settings={"citus.override_table_visibility": "off"})
        try:
            shards = await conn.fetch(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname LIKE 'lao\\_%' AND c.relkind = 'r' AND c.relname ~ ('^' || $1 || '_[0-9]+$')",
                table,
            )
            out = {}
            for row in shards:
                # Names come from the node's own catalog.
                out[row["nspname"]] = await conn.fetchval(f'SELECT count(*) FROM "{row["nspname"]}"."{row["relname"]}"')
            return out
        finally:
            await conn.close()

    async def shard_tables(self, port: int, schema: str) -> set[str]:
        """On one node: the tables of ``schema``'s local shards, by table name (shard id removed)."""
        conn = await asyncpg.connect(self.url(port), server_settings={"citus.override_table_visibility": "off"})
        try:
            names = await conn.fetch(
                "SELECT regexp_replace(c.relname, '_[0-9]+$', '') AS name FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname ~ '_[0-9]+$'",
                schema,
            )
            return {str(r["name"]) for r in names}
        finally:
            await conn.close()


async def make_citus_database(coordinator: str, workers: Sequence[str]) -> None:
    """Citus in a database that exists on every node; the workers added to the coordinator's."""
    for url in [coordinator, *workers]:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE EXTENSION citus")
        finally:
            await conn.close()
    conn = await asyncpg.connect(coordinator)
    try:
        coordinator_port = make_url(coordinator).port
        await conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', $1)", coordinator_port)
        ports = [make_url(w).port for w in workers]
        for port in ports:
            await conn.execute("SELECT citus_add_node('127.0.0.1', $1)", port)
        # As docs/operations/citus.md recommends: everything goes through the coordinator, so the
        # workers keep the node list (for shard moves) but get no new metadata.
        for port in ports:
            await conn.execute("SELECT stop_metadata_sync_to_node('127.0.0.1', $1, clear_metadata := false)", port)
        # The hostile default the issue met: every new schema distributed unless told otherwise.
        database = make_url(coordinator).database
        await conn.execute(f'ALTER DATABASE "{database}" SET citus.enable_schema_based_sharding = on')
    finally:
        await conn.close()


def start_cluster(workers: int = 2) -> CitusCluster:
    """Install Citus if needed and start a coordinator with ``workers`` workers (call ``stop``)."""
    ensure_citus()
    root = Path(tempfile.mkdtemp(prefix="localgov-citus-"))
    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = CitusCluster(root=root, ports=_free_ports(workers + 1), user=user)
    try:
        for index in range(workers + 1):
            cluster.start_node(index)
    except BaseException:
        cluster.stop()
        raise
    return cluster
