"""The outbound client against a real local HTTP server and the system's resolver: every
form of an internal address is refused before anything is sent; the operator's allow-list
opens what it names; redirects are checked again and keep credentials to their origin;
answers are capped in size and time."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.kit.outbound import Allowlist, OutboundClient, OutboundRefused, refusal

# Each refused with an empty allow-list, before any connection.
SSRF_FORMS = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST:8080/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[fe80::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://user:secret@example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "ftp://example.com/",
    "not a url",
]


@pytest.mark.parametrize("url", SSRF_FORMS)
def test_every_form_of_an_internal_address_is_refused(url: str) -> None:
    async def attempt() -> None:
        async with OutboundClient(Allowlist()) as client:
            await client.request("GET", url)

    with pytest.raises(OutboundRefused):
        asyncio.run(attempt())


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records what reaches it."""

    port: int
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(0)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            state.seen.append(
                (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            path, _, query = self.path.partition("?")
            if path == "/redirect":
                self.send_response(
                    int(query.split("=")[0]) if query.split("=")[0].isdigit() else 302
                )
                self.send_header("Location", query.partition("=")[2] or "/ok")
                self.end_headers()
                return
            if path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.end_headers()
                return
            if path == "/big":
                body = b"x" * (2 * 1024 * 1024)
            elif path == "/slow":
                time.sleep(2)
                body = b"late"
            else:
                body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def call(allowlist: str, method: str, url: str, **options: object) -> httpx.Response:
    limits = {k: v for k, v in options.items() if k in ("max_response_bytes", "total_seconds")}
    request = {k: v for k, v in options.items() if k not in limits}

    async def go() -> httpx.Response:
        async with OutboundClient(Allowlist.parse(allowlist), **limits) as client:  # type: ignore[arg-type]
            return await client.request(method, url, **request)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_a_local_receiver_is_reached_only_when_the_operator_allows_it(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused) as refused:
        call("", "GET", receiver.url("/ok"))
    assert "TESSERA_OUTBOUND_ALLOWLIST" in refused.value.message
    assert receiver.seen == []

    assert call("127.0.0.0/8", "GET", receiver.url("/ok")).text == "ok"
    # By name: the connection goes to the address checked, the name only in Host.
    answer = call("localhost", "GET", receiver.url("/ok", host="localhost"))
    assert answer.status_code == 200
    assert receiver.seen[-1][2]["host"] == f"localhost:{receiver.port}"


def test_a_redirect_is_checked_again(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused):
        call("127.0.0.1", "GET", receiver.url("/redirect?302=http://169.254.169.254/latest/"))
    # The operator allowed the name, not the address: a redirect to the address itself
    # is refused.
    elsewhere = f"/redirect?302=http://127.0.0.1:{receiver.port}/ok"
    with pytest.raises(OutboundRefused):
        call("localhost", "GET", receiver.url(elsewhere, host="localhost"))
    assert [path for _, path, _ in receiver.seen] == [
        "/redirect?302=http://169.254.169.254/latest/",
        elsewhere,
    ]
    with pytest.raises(OutboundRefused):
        call("127.0.0.1", "GET", receiver.url("/loop"))


def test_credentials_stay_with_their_origin_and_a_303_becomes_a_get(receiver: Receiver) -> None:
    secret = {"Authorization": "Bearer s3cret", "X-Trace": "kept"}
    same = call("127.0.0.1,localhost", "GET", receiver.url("/redirect?302=/ok"), headers=secret)
    assert same.text == "ok"
    assert receiver.seen[-1][2]["authorization"] == "Bearer s3cret"

    other = receiver.url("/ok", host="localhost")
    moved = call(
        "127.0.0.1,localhost",
        "POST",
        receiver.url(f"/redirect?303={other}"),
        headers=secret,
        content=b"{}",
    )
    assert moved.text == "ok"
    method, _, seen = receiver.seen[-1]
    assert method == "GET"
    assert "authorization" not in seen
    assert seen["x-trace"] == "kept"


def test_answers_are_capped_in_size_and_time(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused):
        call("127.0.0.1", "GET", receiver.url("/big"), max_response_bytes=1024 * 1024)
    assert len(call("127.0.0.1", "GET", receiver.url("/big")).content) == 2 * 1024 * 1024
    with pytest.raises(httpx.TimeoutException):
        call("127.0.0.1", "GET", receiver.url("/slow"), total_seconds=0.5)


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize(("served_as", "reached"), [("localhost", True), ("other.example", False)])
def test_tls_is_checked_against_the_name_though_the_address_is_pinned(
    tmp_path: Path, served_as: str, reached: bool
) -> None:
    cert_file, key_file = self_signed(tmp_path, served_as)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_file, key_file)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trusted = ssl.create_default_context(cafile=str(cert_file))

    async def go() -> httpx.Response:
        async with OutboundClient(Allowlist.parse("localhost"), verify=trusted) as client:
            return await client.request("GET", f"https://localhost:{server.server_address[1]}/")

    try:
        if reached:
            assert asyncio.run(go()).text == "ok"
        else:
            with pytest.raises(httpx.ConnectError):
                asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
