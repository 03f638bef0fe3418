"""A real DNS server on loopback for the tests (dnslib's UDP and TCP servers in threads): it answers
TXT records the test sets, NXDOMAIN for any other name, and SERVFAIL for the names told to fail.

The platform's resolver (``kernel.dns.DnsPythonResolver``) talks to it over the wire like to any
name server: ``LOCALGOV_DNS_NAMESERVERS=127.0.0.1:<port>``.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Zone(BaseResolver):  # type: ignore[misc]
    """The records served; changed by the test between look-ups (no cache anywhere: TTL 0)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._txt: dict[str, list[str]] = {}
        self._failing: set[str] = set()
        self.queries: list[str] = []

    def set_txt(self, name: str, *values: str) -> None:
        with self._lock:
            self._txt[name.rstrip(".").lower()] = list(values)

    def remove(self, name: str) -> None:
        with self._lock:
            self._txt.pop(name.rstrip(".").lower(), None)

    def fail(self, name: str, failing: bool = True) -> None:
        with self._lock:
            (self._failing.add if failing else self._failing.discard)(name.rstrip(".").lower())

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self._lock:
            self.queries.append(name)
            failing = name in self._failing
            values = list(self._txt.get(name, ())) if name in self._txt else None
        if failing:
            reply.header.rcode = RCODE.SERVFAIL
        elif values is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for value in values:
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(value), ttl=0))
        return reply


def _bind(zone: Zone, logger: DNSLogger) -> list[DNSServer]:
    """dnslib's UDP and TCP servers on one port of 127.0.0.1, bound as they are made: UDP on a port
    the system picks, then TCP on the same number; when another process holds that one for TCP
    (the bind fails at once), both again on another port."""
    for _ in range(50):
        udp = DNSServer(zone, address="127.0.0.1", port=0, logger=logger)
        port = int(udp.server.server_address[1])
        try:
            tcp = DNSServer(zone, address="127.0.0.1", port=port, tcp=True, logger=logger)
        except OSError as exc:
            udp.server.server_close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return [udp, tcp]
    raise RuntimeError("no port free for both UDP and TCP for the test DNS server")


class DnsServer:
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        self._servers = _bind(zone, quiet)
        self.port = int(self._servers[0].server.server_address[1])

    @property
    def nameservers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        for server in self._servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer(Zone())
    server.start()
    try:
        yield server
    finally:
        server.stop()
