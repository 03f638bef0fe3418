"""DNS look-ups behind an interface: what the platform asks of DNS (TXT records, for now: the
custom-domain challenge) and one implementation on dnspython's asyncio resolver.

``DomainResolver`` is the whole contract; tests and deployments choose the server through
``LOCALGOV_DNS_NAMESERVERS`` (``host`` or ``host:port``, comma-separated; empty: the system's
``/etc/resolv.conf``). Nothing is cached here: a challenge must see the record as it is now.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver


class DnsUnavailable(Exception):
    """The name servers did not answer (time-out, SERVFAIL, refused): nothing is known of the name."""


class DomainResolver(Protocol):
    async def txt(self, name: str) -> list[str]:
        """The TXT strings at ``name`` (each record's strings joined); empty when the name or its TXT
        records do not exist (NXDOMAIN, no answer). Raises :class:`DnsUnavailable` otherwise."""
        ...


def parse_nameservers(value: str) -> list[tuple[str, int]]:
    """``"10.0.0.2, 127.0.0.1:5353, [::1]:53"`` → ``[("10.0.0.2", 53), ("127.0.0.1", 5353), ("::1", 53)]``."""
    servers: list[tuple[str, int]] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, _, raw_port = item.partition(":")
            port = int(raw_port)
        if not host or not 0 < port < 65536:
            raise ValueError(f"not a name server: {item!r}")
        servers.append((host, port))
    return servers


class DnsPythonResolver:
    """:class:`DomainResolver` on dnspython (UDP, TCP on truncation), bounded by ``timeout_s``."""

    def __init__(self, nameservers: Sequence[tuple[str, int]] = (), *, timeout_s: float = 3.0) -> None:
        self.timeout_s = timeout_s
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers]
        self._resolver.cache = None

    async def txt(self, name: str) -> list[str]:
        try:
            answer = await self._resolver.resolve(
                name, dns.rdatatype.TXT, search=False, lifetime=self.timeout_s, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.YXDOMAIN) as exc:
            raise DnsUnavailable(str(exc)) from exc
        if answer.rrset is None:
            return []
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset]
