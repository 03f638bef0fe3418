"""``localgov serve`` as a real process: several workers answer keep-alive requests without delay."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

from localgov.cli import listening_socket
from tests.conftest import BASE
from tests.support.tokens import TEST_SECRET


def test_the_shared_socket_is_tcp_so_asyncio_sets_nodelay() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        sock.listen()
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        with client, accepted:
            assert accepted.proto == socket.IPPROTO_TCP  # asyncio's condition for TCP_NODELAY
    finally:
        sock.close()


def test_serve_with_two_workers_answers_keep_alive_requests_quickly(database_url: str) -> None:
    """uvicorn's own socket made every second keep-alive response wait ~40 ms for a delayed ACK."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")},
        "LOCALGOV_DATABASE_URL": database_url,
        "LOCALGOV_ENV": "test",
        "LOCALGOV_SECRET_KEY": TEST_SECRET,
        "LOCALGOV_BASE_DOMAIN": BASE,
        "LOCALGOV_LOG_LEVEL": "WARNING",
        "LOCALGOV_DB_POOL_SIZE": "2",
    }
    # Port 0: serve binds a port the system picks and says which on stderr (no port picked here and
    # bound later, which another process could take in between).
    child = subprocess.Popen(
        [sys.executable, "-m", "localgov", "serve", "--port", "0", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    addresses: queue.Queue[str | None] = queue.Queue()
    lines: list[str] = []

    def watch() -> None:  # the address line; the rest is kept (for a failure's message) so the pipe never fills
        assert child.stderr is not None
        for line in child.stderr:
            lines.append(line)
            if match := re.match(r"localgov: serving on (http://\S+) ", line):
                addresses.put(match.group(1))
        addresses.put(None)  # stderr closed: the child exited

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        try:
            url = addresses.get(timeout=60)
        except queue.Empty:
            url = None
        assert url is not None, f"serve did not say where it listens: {''.join(lines)[-2000:]}"
        with httpx.Client(base_url=url, headers={"Host": BASE}, timeout=5) as http:
            for _ in range(300):
                try:
                    if http.get("/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)  # the socket is bound; the workers are still starting to listen
            timings = []
            for _ in range(40):
                started = time.perf_counter()
                response = http.get("/v1/signup/plans")  # a response in more than one segment
                timings.append(time.perf_counter() - started)
                assert response.status_code == 200
        # Delayed ACKs cost >= 40 ms each; a healthy answer takes a few milliseconds.
        assert statistics.median(timings) < 0.025, timings
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        watcher.join(10)  # the workers are gone with their supervisor: stderr is at its end
        if child.stderr is not None:
            child.stderr.close()
