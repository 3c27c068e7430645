"""The SSRF guard: which callback URLs and addresses are refused, and how a delivery
connects (to the checked address, no redirects, bounded time and size, TLS checked)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from queues.destinations import (
    MAX_RESPONSE_BYTES,
    Destination,
    DestinationRefused,
    Target,
    check_destination,
    parse_url,
    post,
    refusal,
)
from tests.receiver import Script, webhook_receiver


def fake_dns(table: dict[str, list[str]]):  # noqa: ANN201
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


@pytest.mark.parametrize("url, why", [
    ("ftp://example.com/hook", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("gopher://example.com/", "http:// or https://"),
    ("//example.com/hook", "http:// or https://"),
    ("http://user:secret@example.com/hook", "user name or password"),
    ("http://user@example.com/hook", "user name or password"),
    ("http:///hook", "no host"),
    ("http://example.com:99999/", "port"),
    ("http://example.com:x/", "port"),
    ("http://exa mple.com/", "ASCII without spaces"),
    ("http://exämple.com/", "ASCII without spaces"),
    ("http://example.com/\r\nX-Injected: 1", "ASCII without spaces"),
    ("http://[fe80::1%25eth0]/", "not a valid host"),
    ("http://exa$mple.com/", "not a valid host"),
    ("http://example.com/" + "a" * 1024, "longer than 1024"),
], ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_url_syntax_refusals(url: str, why: str) -> None:
    with pytest.raises(DestinationRefused, match=why):
        parse_url(url)


def test_url_parts() -> None:
    assert parse_url("HTTPS://Hooks.Example.com/a/b?x=1#frag") == \
        Target(True, "hooks.example.com", 443, "/a/b?x=1")
    assert parse_url("http://[2606:4700::1111]:8080") == Target(False, "2606:4700::1111", 8080, "/")


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("100.64.0.1", "non-public"), ("0.0.0.0", "unspecified"), ("224.0.0.251", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("::1", "loopback"),
    ("::", "unspecified"), ("fe80::1", "link-local"), ("fc00::1", "private"),
    ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"), ("2002:7f00:1::", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link-local"), ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
])
def test_refused_addresses(address: str, kind: str) -> None:
    why = refusal(ipaddress.ip_address(address), allow_private=False)
    assert why is not None and kind in why


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111",
                                     "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_allow_private_opens_private_ranges_only() -> None:
    for address in ("127.0.0.1", "10.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254"):
        assert refusal(ipaddress.ip_address(address), allow_private=True) is None
    for address in ("224.0.0.1", "0.0.0.0", "::", "ff02::1"):  # never an HTTP server
        assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


def test_every_resolved_address_is_checked() -> None:
    dns = fake_dns({"hooks.example": ["93.184.215.14", "10.0.0.7"],
                    "public.example": ["93.184.215.14", "2606:4700::1111", "93.184.215.14"],
                    "rebind.example": ["::ffff:127.0.0.1"]})
    with pytest.raises(DestinationRefused, match="resolves to 10.0.0.7, a private"):
        check_destination("https://hooks.example/x", False, dns)
    with pytest.raises(DestinationRefused, match="loopback"):
        check_destination("https://rebind.example/x", False, dns)
    with pytest.raises(DestinationRefused, match="could not be resolved"):
        check_destination("https://nowhere.invalid/x", False, dns)
    checked = check_destination("https://public.example/x", False, dns)
    assert checked.addresses == ("93.184.215.14", "2606:4700::1111")
    # IP literals are judged by what they resolve to (127.1 is 127.0.0.1 to getaddrinfo)
    with pytest.raises(DestinationRefused, match="loopback"):
        check_destination("http://127.1/", False)
    with pytest.raises(DestinationRefused, match="loopback"):
        check_destination("http://localhost:8000/", False)


def test_the_connection_goes_to_the_checked_address() -> None:
    """Whatever the name resolves to later, the socket goes to the address checked; the
    Host header still names the URL's host (DNS rebinding cannot move the delivery)."""
    with webhook_receiver() as receiver:
        port = receiver.server.server_address[1]
        target = Target(False, "rebind.example", port, "/hook?x=1")
        answer = post(Destination(target, ("127.0.0.1",)), b"{}", {}, timeout=2)
        assert answer.status == 204
        (request,) = receiver.requests
        assert request.path == "/hook?x=1"
        assert request.headers["Host"] == f"rebind.example:{port}"


def test_redirects_are_not_followed() -> None:
    script = Script(statuses=[302], headers={"Location": "/elsewhere"})
    with webhook_receiver(script) as receiver:
        destination = check_destination(receiver.url, allow_private=True)
        assert post(destination, b"{}", {}, timeout=2).status == 302
        time.sleep(0.1)
        assert [r.path for r in receiver.requests] == ["/hook"]


def test_the_answer_is_read_up_to_a_bound() -> None:
    with webhook_receiver(Script(statuses=[200], body=b"x" * (1024 * 1024))) as receiver:
        answer = post(check_destination(receiver.url, True), b"{}", {}, timeout=2)
        assert answer.status == 200 and len(answer.body) == MAX_RESPONSE_BYTES


def test_a_slow_receiver_times_out() -> None:
    with webhook_receiver(Script(delay=2.0)) as receiver:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            post(check_destination(receiver.url, True), b"{}", {}, timeout=0.3)
        assert time.monotonic() - started < 1.0


def test_a_trickling_receiver_is_cut_at_the_timeout() -> None:
    """Each byte comes within the socket timeout; the whole answer does not."""
    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Trickle) as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            post(check_destination(f"http://127.0.0.1:{port}/", True), b"{}", {}, timeout=0.5)
        assert 0.4 < time.monotonic() - started < 1.5


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ConnectionRefusedError):
            post(check_destination(f"http://127.0.0.1:{port}/", True), b"{}", {}, timeout=1)


# --- HTTPS: SNI and the certificate checked for the URL's host, on the checked address ---

def make_certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serving(handler: type[BaseHTTPRequestHandler],
            tls: ssl.SSLContext | None = None):  # noqa: ANN201
    from contextlib import contextmanager

    @contextmanager
    def run() -> Iterator[int]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()

    return run()


def test_https_sends_sni_and_checks_the_certificate_name(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "hooks.example")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    client_tls = ssl.create_default_context(cafile=str(cert))
    with serving(Ok, server_tls) as port:
        good = Destination(Target(True, "hooks.example", port, "/"), ("127.0.0.1",))
        assert post(good, b"{}", {}, timeout=2, context=client_tls).status == 200
        assert names == ["hooks.example"]
        wrong = Destination(Target(True, "other.example", port, "/"), ("127.0.0.1",))
        with pytest.raises(ssl.SSLCertVerificationError):
            post(wrong, b"{}", {}, timeout=2, context=client_tls)
