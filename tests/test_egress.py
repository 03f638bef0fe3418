"""kernel.egress: the SSRF-safe outbound client, against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from localgov.kernel import egress
from localgov.kernel.egress import EgressFailed, EgressPolicy, EgressRefused, IPAddress
from localgov.settings import Settings, SettingsError

PROD = egress.policy_for("production")
DEV = egress.policy_for("development")
TEST = egress.policy_for("test", allow_loopback=True, timeout_s=3)


@dataclass
class Server:
    port: int
    requests: list[tuple[bytes, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b'{"ok": true}'
    stall: asyncio.Event | None = None


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        state.requests.append((lines[0].encode(), headers, body))
        if state.stall is not None:
            await state.stall.wait()
        extra = "".join(f"{k}: {v}\r\n" for k, v in state.extra_headers)
        writer.write(
            f"HTTP/1.1 {state.status} X\r\nContent-Length: {len(state.body)}\r\n{extra}\r\n".encode() + state.body
        )
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        if state.stall is not None:
            state.stall.set()
        srv.close()


def fixed(*answers: Sequence[str]) -> tuple[egress.Resolver, list[str]]:
    """A resolver that gives each answer in turn (the last one again), recording the names asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        answer = answers[min(len(asked) - 1, len(answers) - 1)]
        return [ipaddress.ip_address(a) for a in answer]

    return resolve, asked


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "scheme_not_allowed"),
        ("http://example.com/x", "scheme_not_allowed"),
        ("https://user:pw@example.com/x", "credentials_in_url"),
        ("https://user@example.com/x", "credentials_in_url"),
        ("https://example.com:22/x", "port_not_allowed"),
        ("https://example.com:8443/x#frag", "invalid_url"),
        ("https://127.0.0.1/x", "loopback_address"),
        ("https://localhost/x", "loopback_address"),
        ("https://a.localhost/x", "loopback_address"),
        ("https://10.1.2.3/x", "private_address"),
        ("https://172.16.0.1/x", "private_address"),
        ("https://192.168.1.1/x", "private_address"),
        ("https://100.64.0.1/x", "cgnat_address"),
        ("https://169.254.169.254/latest/meta-data", "metadata_address"),
        ("https://169.254.1.1/x", "link_local_address"),
        ("https://[fd00:ec2::254]/x", "metadata_address"),
        ("https://[fe80::1]/x", "link_local_address"),
        ("https://[fe80::1%25eth0]/x", "invalid_host"),
        ("https://[::1]/x", "loopback_address"),
        ("https://[::ffff:127.0.0.1]/x", "loopback_address"),
        ("https://[::ffff:169.254.169.254]/x", "metadata_address"),
        ("https://[::ffff:10.0.0.1]/x", "private_address"),
        ("https://[2002:7f00:1::]/x", "loopback_address"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "metadata_address"),
        ("https://[fc00::1]/x", "private_address"),
        ("https://224.0.0.1/x", "multicast_address"),
        ("https://[ff02::1]/x", "multicast_address"),
        ("https://0.0.0.0/x", "unspecified_address"),
        ("https://240.0.0.1/x", "reserved_address"),
        ("https://2130706433/x", "ambiguous_ip_literal"),
        ("https://0177.0.0.1/x", "ambiguous_ip_literal"),
        ("https://0x7f.0.0.1/x", "ambiguous_ip_literal"),
        ("https://127.1/x", "ambiguous_ip_literal"),
        ("https://017700000001/x", "ambiguous_ip_literal"),
        ("https://exa mple.com/x", "invalid_url"),
        ("https://exa\u0e01mple.com/x", "invalid_url"),
        ("https:///x", "invalid_url"),
        ("https://example..com/x", "invalid_host"),
    ],
)
def test_check_url_refuses_in_production(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused) as caught:
        egress.check_url(url, PROD)
    assert caught.value.reason == reason
    assert caught.value.code == "egress_refused"
    assert caught.value.status == 422


def test_check_url_accepts_public_https() -> None:
    target = egress.check_url("https://Hooks.Example.COM./in?a=1", PROD)
    assert (target.scheme, target.host, target.port, target.target) == ("https", "hooks.example.com", 443, "/in?a=1")
    assert target.host_header == "hooks.example.com"
    assert egress.check_url("https://example.com:8443", PROD).host_header == "example.com:8443"
    assert egress.check_url("https://93.184.216.34/", PROD).literal == ipaddress.ip_address("93.184.216.34")
    assert egress.check_url("https://[2606:4700::1111]/", PROD).host_header == "[2606:4700::1111]"


def test_development_allows_http_and_any_port_but_not_loopback_by_default() -> None:
    assert egress.check_url("http://example.com:8080/x", DEV).port == 8080
    with pytest.raises(EgressRefused) as caught:
        egress.check_url("http://127.0.0.1:8080/x", DEV)
    assert caught.value.reason == "loopback_address"


def test_loopback_escape_is_loopback_only() -> None:
    assert egress.check_url("http://127.0.0.1:9/x", TEST).port == 9
    for url, reason in [
        ("http://10.0.0.1/x", "private_address"),
        ("http://169.254.169.254/x", "metadata_address"),
        ("http://[::ffff:127.0.0.1]/x", "loopback_address"),
    ]:
        with pytest.raises(EgressRefused) as caught:
            egress.check_url(url, TEST)
        assert caught.value.reason == reason


def test_loopback_escape_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="never allowed in production"):
        egress.policy_for("production", allow_loopback=True)
    with pytest.raises(SettingsError):
        Settings(env="production", secret_key="x" * 32, egress_allow_loopback=True)
    policy = egress.policy_from_settings(Settings(env="test", egress_allow_loopback=True, egress_timeout_s=2))
    assert policy.allow_loopback
    assert policy.allow_http
    assert policy.total_timeout_s == 2


async def test_registration_resolves_and_refuses_private_names() -> None:
    resolver, asked = fixed(["93.184.216.34"])
    target = await egress.check_destination("https://hooks.example.com/in", PROD, resolver)
    assert target.host == "hooks.example.com"
    assert asked == ["hooks.example.com"]
    for answer, reason in [
        (["10.0.0.5"], "private_address"),
        (["93.184.216.34", "127.0.0.1"], "loopback_address"),  # any bad address refuses the name
        (["169.254.169.254"], "metadata_address"),
        (["::ffff:192.168.0.1"], "private_address"),
    ]:
        resolver, _ = fixed(answer)
        with pytest.raises(EgressRefused) as caught:
            await egress.check_destination("https://internal.example.com/in", PROD, resolver)
        assert caught.value.reason == reason


async def test_registration_refuses_a_name_that_does_not_resolve() -> None:
    async def nothing(host: str, port: int) -> list[IPAddress]:
        raise OSError("Name or service not known")

    with pytest.raises(EgressRefused) as caught:
        await egress.check_destination("https://nowhere.example.com/in", PROD, nothing)
    assert caught.value.reason == "dns_failed"


async def test_request_reaches_the_checked_address_with_the_original_host(server: Server) -> None:
    resolver, asked = fixed(["127.0.0.1"])
    resp = await egress.request(
        "POST",
        f"http://hooks.example.com:{server.port}/in?x=1",
        headers={"Content-Type": "application/json", "Host": "evil.example", "webhook-id": "msg_1"},
        body=b'{"a": 1}',
        policy=TEST,
        resolver=resolver,
    )
    assert resp.status == 200
    assert resp.body == b'{"ok": true}'
    assert not resp.truncated
    assert resp.address == "127.0.0.1"
    assert resp.duration_s > 0
    line, headers, body = server.requests[0]
    assert line == b"POST /in?x=1 HTTP/1.1"
    assert headers["host"] == f"hooks.example.com:{server.port}"  # the caller cannot override Host
    assert headers["webhook-id"] == "msg_1"
    assert body == b'{"a": 1}'
    assert asked == ["hooks.example.com"]


async def test_dns_rebinding_is_refused_at_connect_time(server: Server) -> None:
    """Public when registered, loopback when called: the connection is never opened."""
    policy = egress.policy_for("test", timeout_s=3)  # loopback not allowed
    resolver, asked = fixed(["93.184.216.34"], ["127.0.0.1"])
    url = f"http://rebind.example.com:{server.port}/in"
    await egress.check_destination(url, policy, resolver)
    with pytest.raises(EgressRefused) as caught:
        await egress.request("POST", url, body=b"{}", policy=policy, resolver=resolver)
    assert caught.value.reason == "loopback_address"
    assert asked == ["rebind.example.com", "rebind.example.com"]
    assert server.requests == []


async def test_redirects_are_not_followed(server: Server) -> None:
    server.status = 302
    server.extra_headers = [("Location", "http://169.254.169.254/latest/meta-data")]
    resp = await egress.request("POST", f"http://127.0.0.1:{server.port}/in", body=b"{}", policy=TEST)
    assert resp.status == 302
    assert len(server.requests) == 1


async def test_response_body_is_bounded(server: Server) -> None:
    server.body = b"x" * 100_000
    policy = EgressPolicy(allow_http=True, allow_loopback=True, ports=None, max_response_bytes=1000)
    resp = await egress.request("GET", f"http://127.0.0.1:{server.port}/", policy=policy)
    assert resp.status == 200
    assert resp.truncated
    assert resp.body == b"x" * 1000


async def test_a_slow_destination_times_out(server: Server) -> None:
    server.stall = asyncio.Event()
    policy = EgressPolicy(allow_http=True, allow_loopback=True, ports=None, total_timeout_s=0.3)
    with pytest.raises(EgressFailed) as caught:
        await egress.request("POST", f"http://127.0.0.1:{server.port}/", body=b"{}", policy=policy)
    assert caught.value.reason == "timeout"


async def test_a_closed_port_fails_to_connect(server: Server) -> None:
    # A port bound and not listening refuses connections, and while it is bound here no other
    # process can take it (a port closed again could be another process's listener by the request).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(EgressFailed) as caught:
            await egress.request("POST", f"http://127.0.0.1:{port}/", body=b"{}", policy=TEST)
    assert caught.value.reason == "connect_failed"


async def test_production_refuses_http_before_any_resolution() -> None:
    resolver, asked = fixed(["93.184.216.34"])
    with pytest.raises(EgressRefused):
        await egress.request("POST", "http://hooks.example.com/in", body=b"{}", policy=PROD, resolver=resolver)
    assert asked == []


def _self_signed(name: str) -> tuple[bytes, bytes]:
    """A certificate for ``name`` (its own CA) and its key, PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def test_https_connects_to_the_checked_address_with_the_original_name(tmp_path: Path) -> None:
    """TLS to 127.0.0.1 with SNI and certificate check for the URL's name, not the address."""
    cert_pem, key_pem = _self_signed("hooks.test")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)  # type: ignore[assignment,func-returns-value]
    hosts: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        hosts.extend(line[5:].strip() for line in head.decode().split("\r\n") if line.lower().startswith("host:"))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = srv.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    resolver, asked = fixed(["127.0.0.1"])
    try:
        resp = await egress.request(
            "POST", f"https://hooks.test:{port}/in", body=b"{}", policy=TEST, resolver=resolver, ssl_context=client_ctx
        )
        assert resp.status == 204
        assert resp.address == "127.0.0.1"
        assert seen_sni == ["hooks.test"]
        assert hosts == [f"hooks.test:{port}"]
        # A name the certificate does not carry fails, although it is the same address.
        with pytest.raises(EgressFailed) as caught:
            await egress.request(
                "POST",
                f"https://other.test:{port}/in",
                body=b"{}",
                policy=TEST,
                resolver=resolver,
                ssl_context=client_ctx,
            )
        assert caught.value.reason == "connect_failed"
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value).lower()
        assert asked == ["hooks.test", "other.test"]
    finally:
        srv.close()
