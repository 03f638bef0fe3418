"""A PostgreSQL server of the test's own, to stop, restart, crash and fill (issue 18's faults): the
shared test server serves every other test and must not be touched.

``initdb`` / ``pg_ctl`` from Debian's PostgreSQL 15 (``/usr/lib/postgresql/15/bin``) when installed,
else the binaries bundled with ``pgserver`` (a dependency already). Run as root (containers, CI),
the server runs as the ``postgres`` system user (or pgserver's ``pgserver`` user, created when
missing), as PostgreSQL refuses root. The data directory lives in a temporary folder removed at
the end; the server listens on 127.0.0.1 at a free port, its socket in the data directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")


def _bin_dir() -> Path:
    if (DEBIAN_BIN / "pg_ctl").exists():
        return DEBIAN_BIN
    from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        from pgserver.utils import ensure_user_exists  # type: ignore[import-untyped]

        ensure_user_exists("pgserver")
        return "pgserver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One server: :meth:`start`, :meth:`stop` (``fast``: a clean shutdown, ``immediate``: a crash
    and WAL recovery at the next start), :meth:`destroy`."""

    def __init__(self, *, max_connections: int = 30) -> None:
        self.bin = _bin_dir()
        self.user = _system_user()
        self.root = Path(tempfile.mkdtemp(prefix="localgov-pgcluster-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.max_connections = max_connections
        self._started = False
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.data}'\n"
                f"max_connections = {max_connections}\nsuperuser_reserved_connections = 0\n"
                # Durability as in production (a fast or immediate stop loses nothing committed).
                "fsync = on\nsynchronous_commit = on\nshared_buffers = 32MB\n"
            )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 (our own binaries and arguments)
            [str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            user=self.user,
            cwd=self.root,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr}\n{log[-2000:]}")
        return result.stdout

    def start(self) -> float:
        """Start and wait until it accepts connections (``pg_ctl -w``); returns when that was
        (``time.perf_counter()``).

        The port was free when picked, but another process (a parallel test run's) may bind it
        before the server does: the first start then moves to another free port (later starts keep
        the port, the tests' URLs name it)."""
        attempts = 0
        while True:
            attempts += 1
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
            except RuntimeError as failure:
                if self._started or attempts == 5 or "could not bind" not in str(failure):
                    raise
                self.port = _free_port()
                with (self.data / "postgresql.conf").open("a") as conf:
                    conf.write(f"port = {self.port}\n")  # the last setting of a name wins
                continue
            self._started = True
            return time.perf_counter()

    def stop(self, mode: str = "fast") -> float:
        """Stop (``fast``: connections closed, a checkpoint; ``immediate``: killed, recovery on start);
        returns when it was down."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        return time.perf_counter()

    def running(self) -> bool:
        result = subprocess.run(  # noqa: S603
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            user=self.user,
            cwd=self.root,
            check=False,
        )
        return result.returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
