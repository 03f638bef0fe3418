"""Outbound HTTP that cannot be turned against the platform's own network (SSRF-safe egress).

Every request the platform makes to an address someone else chose (an integrator's webhook
endpoint) goes through :func:`request`, never through a general HTTP client:

- the URL is checked by :func:`check_url` (also called when the address is registered): ``https``
  only in production (``http`` elsewhere), no user name or password in it, a port the policy
  allows, a host that is a DNS name or a canonical IP literal. Decimal, octal, hexadecimal or
  shortened IPv4 forms (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``) and IPv6 zone
  identifiers are refused outright: resolvers disagree on what they mean;
- the host is resolved **here** and every address it resolves to must be public
  (:func:`address_refusal`): loopback, private (RFC 1918, ULA), link-local, CGNAT (100.64/10),
  multicast, reserved, unspecified, documentation, benchmarking and the cloud metadata addresses
  (169.254.169.254, fd00:ec2::254) are refused, and so is an IPv6 address that embeds one of those
  (IPv4-mapped ``::ffff:127.0.0.1``, IPv4-compatible, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``,
  Teredo);
- the connection is opened to the **checked address itself**, with the original name as TLS SNI,
  certificate name and ``Host`` header: a DNS answer that changes between the check and the
  connection (DNS rebinding) cannot redirect it;
- redirects are never followed (a 3xx is returned as it is); connecting, sending and reading are
  bounded in time, the response body is read up to a bound and the connection closed.

Development and tests: :attr:`EgressPolicy.allow_loopback` (``LOCALGOV_EGRESS_ALLOW_LOOPBACK``,
refused in production) lets loopback addresses through, so tests can run a receiver on
127.0.0.1; nothing else is relaxed (private and metadata addresses stay refused). A test controls
name resolution by passing its own ``resolver``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import h11
import msgspec

from localgov.kernel.errors import DomainError
from localgov.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)`` -> the addresses to connect to (the default asks the system's resolver).
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

#: Ports a destination may use in production (any port 1-65535 elsewhere).
PRODUCTION_PORTS = frozenset({443, 8443})
MAX_URL_LENGTH = 2048

_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$"
)
_NUMERIC_LABEL_RE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class EgressRefused(DomainError):
    """A destination the platform will not call; ``data.reason`` says why (stable codes)."""

    code = "egress_refused"
    status = 422
    title = "ปลายทางนี้ไม่อนุญาต (The destination is not allowed)"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, data={"reason": reason})
        self.reason = reason


class EgressFailed(Exception):
    """The destination was allowed but the exchange failed (DNS, connection, TLS, timeout, HTTP)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class EgressPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What outbound calls may reach and how long they may take."""

    #: ``http://`` destinations (never in production).
    allow_http: bool = False
    #: Loopback destinations (127.0.0.0/8, ::1): the development and test escape; never in production.
    allow_loopback: bool = False
    #: Allowed ports; None: any port 1-65535.
    ports: frozenset[int] | None = PRODUCTION_PORTS
    connect_timeout_s: float = 5.0
    #: The whole exchange (resolution, connection, request, response) ends within this.
    total_timeout_s: float = 10.0
    #: At most this much of the response body is read (the rest is not read; ``truncated``).
    max_response_bytes: int = 64 * 1024
    max_request_bytes: int = 1024 * 1024


def policy_for(env: str, *, allow_loopback: bool = False, timeout_s: float = 10.0) -> EgressPolicy:
    """The policy of an environment: production is https on 443/8443 and public addresses only."""
    if env == "production":
        if allow_loopback:
            raise ValueError("loopback egress is never allowed in production")
        return EgressPolicy(total_timeout_s=timeout_s)
    return EgressPolicy(allow_http=True, allow_loopback=allow_loopback, ports=None, total_timeout_s=timeout_s)


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """A checked URL: scheme, host (lower case, IPv6 without brackets), port and request target."""

    scheme: str
    host: str
    port: int
    target: str
    #: The host when it is an IP literal.
    literal: IPAddress | None = None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


class Response(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    headers: list[tuple[str, str]]
    #: At most ``max_response_bytes`` of the body.
    body: bytes
    truncated: bool
    duration_s: float
    #: The address actually connected to.
    address: str


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo), else itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_refusal(ip: IPAddress, policy: EgressPolicy) -> str | None:
    """Why ``ip`` may not be called (a reason code), or None when it may."""
    inner = _unwrap(ip)
    for candidate in {ip, inner}:
        if candidate in _METADATA:
            return "metadata_address"
    if inner.is_loopback or ip.is_loopback:
        return None if policy.allow_loopback and inner == ip else "loopback_address"
    if inner.is_link_local or ip.is_link_local:
        return "link_local_address"
    if inner.is_multicast or ip.is_multicast:
        return "multicast_address"
    if inner.is_unspecified or ip.is_unspecified:
        return "unspecified_address"
    if inner in ipaddress.ip_network("100.64.0.0/10"):
        return "cgnat_address"
    if inner.is_reserved:
        return "reserved_address"
    if inner.is_private or ip.is_private:
        return "private_address"
    if ip.is_reserved:
        return "reserved_address"
    for candidate in {ip, inner}:
        if any(candidate.version == net.version and candidate in net for net in _BLOCKED_NETWORKS):
            return "reserved_address"
    if not inner.is_global or not ip.is_global:
        return "non_global_address"
    return None


def check_url(url: str, policy: EgressPolicy) -> Target:
    """Check a destination's syntax and policy (no network); raises :class:`EgressRefused`.

    Called when a destination is registered and again before each call.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise EgressRefused("invalid_url", f"A URL of at most {MAX_URL_LENGTH} characters is required.")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or not url.isascii():
        raise EgressRefused("invalid_url", "The URL must be ASCII without spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("invalid_url", "The URL cannot be parsed.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise EgressRefused("scheme_not_allowed", "Only https URLs are allowed.")
    if scheme == "http" and not policy.allow_http:
        raise EgressRefused("scheme_not_allowed", "Only https URLs are allowed.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise EgressRefused("credentials_in_url", "A URL must not carry a user name or password.")
    if parts.fragment:
        raise EgressRefused("invalid_url", "A URL must not have a fragment.")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise EgressRefused("invalid_url", "The URL has no host.")
    if port is None:
        port = 443 if scheme == "https" else 80
    if not 1 <= port <= 65535 or (policy.ports is not None and port not in policy.ports):
        allowed = "any" if policy.ports is None else ", ".join(str(p) for p in sorted(policy.ports))
        raise EgressRefused("port_not_allowed", f"Port {port} is not allowed (allowed: {allowed}).")
    literal: IPAddress | None = None
    host = raw_host.lower().rstrip(".")
    if parts.netloc.rsplit("@", 1)[-1].startswith("["):
        if "%" in host:
            raise EgressRefused("invalid_host", "IPv6 zone identifiers are not allowed.")
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise EgressRefused("invalid_host", "The IPv6 address is not valid.") from None
    else:
        if not _HOSTNAME_RE.fullmatch(host):
            raise EgressRefused("invalid_host", "The host is not a valid DNS name or IP address.")
        if _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
            # Only the canonical dotted quad is an IP literal; 2130706433, 0177.0.0.1, 0x7f.1 and
            # 127.1 mean 127.0.0.1 to some resolvers and a name to others.
            try:
                literal = ipaddress.IPv4Address(host)
            except ValueError:
                raise EgressRefused(
                    "ambiguous_ip_literal", "Only a canonical dotted-quad IPv4 address is allowed."
                ) from None
    if literal is not None:
        reason = address_refusal(literal, policy)
        if reason is not None:
            raise EgressRefused(reason, f"The address {literal} is not a public address.")
    if (host == "localhost" or host.endswith(".localhost")) and not policy.allow_loopback:
        raise EgressRefused("loopback_address", "localhost is not allowed.")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, target=target, literal=literal)


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The system resolver's addresses for ``host`` (TCP), in its order, without duplicates."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    out: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


async def resolve_checked(target: Target, policy: EgressPolicy, resolver: Resolver | None = None) -> list[IPAddress]:
    """The addresses to connect to; refused when **any** address of the name is not allowed."""
    if target.literal is not None:
        return [target.literal]
    try:
        addresses = list(await (resolver or system_resolver)(target.host, target.port))
    except (OSError, UnicodeError) as exc:
        raise EgressFailed("dns_failed", f"{target.host}: {exc}") from None
    if not addresses:
        raise EgressFailed("dns_failed", f"{target.host} has no address")
    for ip in addresses:
        reason = address_refusal(ip, policy)
        if reason is not None:
            raise EgressRefused(reason, f"{target.host} resolves to {ip}, which is not a public address.")
    return addresses


async def check_destination(url: str, policy: EgressPolicy, resolver: Resolver | None = None) -> Target:
    """:func:`check_url`, then resolve the name and check its addresses (at registration).

    A name that does not resolve is refused too (``dns_failed``).
    """
    target = check_url(url, policy)
    try:
        await asyncio.wait_for(resolve_checked(target, policy, resolver), policy.connect_timeout_s)
    except EgressFailed as exc:
        raise EgressRefused("dns_failed", f"{target.host} does not resolve.") from exc
    except TimeoutError:
        raise EgressRefused("dns_failed", f"{target.host} did not resolve in time.") from None
    return target


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


async def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    policy: EgressPolicy,
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """One HTTP/1.1 exchange with a checked destination (see the module's doc).

    Raises :class:`EgressRefused` (a destination that is not allowed, now) or
    :class:`EgressFailed` (DNS, connection, TLS, timeout, malformed response). Any status,
    including 3xx, is returned: nothing is followed.
    """
    if len(body) > policy.max_request_bytes:
        raise ValueError("request body larger than the policy allows")
    target = check_url(url, policy)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(policy.total_timeout_s):
            addresses = await resolve_checked(target, policy, resolver)
            return await _exchange(method, target, addresses, headers or {}, body, policy, ssl_context, started)
    except TimeoutError:
        raise EgressFailed("timeout", f"no complete answer within {policy.total_timeout_s:g} s") from None


async def _connect(
    target: Target, addresses: Sequence[IPAddress], policy: EgressPolicy, ssl_context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, IPAddress]:
    last: Exception | None = None
    for ip in addresses:
        try:
            if target.scheme == "https":
                opened = asyncio.open_connection(
                    str(ip),
                    target.port,
                    ssl=ssl_context or _tls_context(),
                    server_hostname=target.host,
                    ssl_handshake_timeout=policy.connect_timeout_s,
                )
            else:
                opened = asyncio.open_connection(str(ip), target.port)
            reader, writer = await asyncio.wait_for(opened, policy.connect_timeout_s)
            return reader, writer, ip
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            last = exc
    raise EgressFailed("connect_failed", f"{target.host}:{target.port}: {type(last).__name__}: {last}")


async def _exchange(
    method: str,
    target: Target,
    addresses: Sequence[IPAddress],
    headers: Mapping[str, str],
    body: bytes,
    policy: EgressPolicy,
    ssl_context: ssl.SSLContext | None,
    started: float,
) -> Response:
    reader, writer, ip = await _connect(target, addresses, policy, ssl_context)
    conn = h11.Connection(our_role=h11.CLIENT)
    out_headers = [("Host", target.host_header), ("Connection", "close"), ("Content-Length", str(len(body)))]
    reserved = {"host", "connection", "content-length", "transfer-encoding"}
    out_headers += [(name, value) for name, value in headers.items() if name.lower() not in reserved]
    try:
        try:
            writer.write(conn.send(h11.Request(method=method, target=target.target, headers=out_headers)) or b"")
            if body:
                writer.write(conn.send(h11.Data(data=body)) or b"")
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            status = 0
            got_headers: list[tuple[str, str]] = []
            chunks: list[bytes] = []
            size = 0
            truncated = False
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    got_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
                    continue
                if isinstance(event, h11.Data):
                    room = policy.max_response_bytes - size
                    if len(event.data) > room:
                        chunks.append(bytes(event.data[:room]))
                        truncated = True
                        break
                    chunks.append(bytes(event.data))
                    size += len(event.data)
                    continue
                if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
        except h11.ProtocolError as exc:
            raise EgressFailed("bad_response", str(exc)) from None
        except (OSError, ssl.SSLError) as exc:
            raise EgressFailed("connection_error", f"{type(exc).__name__}: {exc}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    return Response(
        status=status,
        headers=got_headers,
        body=b"".join(chunks),
        truncated=truncated,
        duration_s=time.perf_counter() - started,
        address=str(ip),
    )


def policy_from_settings(settings: Settings) -> EgressPolicy:
    """The policy of the running configuration (``LOCALGOV_ENV``, ``LOCALGOV_EGRESS_*``)."""
    return policy_for(settings.env, allow_loopback=settings.egress_allow_loopback, timeout_s=settings.egress_timeout_s)
