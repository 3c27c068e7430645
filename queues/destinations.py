"""Where a webhook may go, and how it gets there (the SSRF guard): public http(s) hosts
only, every address the name resolves to checked, the connection made to a checked
address (a DNS answer that changes between check and connect cannot redirect it), no
redirects followed, bounded time and response size."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 1024  # the contract's bound on callback_url
MAX_RESPONSE_BYTES = 64 * 1024  # what we read of a receiver's answer; the rest is dropped
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # a v4 address behind a NAT64 prefix

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class DestinationRefused(ValueError):
    """A callback URL we will not send to; the message says why (clients see it)."""


@dataclass(frozen=True)
class Target:
    """A callback URL taken apart."""

    https: bool
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    path: str  # path and query, as sent in the request line


@dataclass(frozen=True)
class Destination:
    """A target whose addresses were all checked; deliveries connect to these only."""

    target: Target
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most MAX_RESPONSE_BYTES


def parse_url(url: str) -> Target:
    """Syntax only (no DNS): an absolute http(s) URL with a host and no user info."""
    if len(url) > MAX_URL_CHARS:
        raise DestinationRefused(f"The URL is longer than {MAX_URL_CHARS} characters.")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise DestinationRefused("The URL must be ASCII without spaces (write an international "
                                 "host name in punycode and other characters as %XX).")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise DestinationRefused("The URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise DestinationRefused("The URL must not contain a user name or password.")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise DestinationRefused("The URL's port is not a number from 1 to 65535.") from None
    if not host:
        raise DestinationRefused("The URL has no host.")
    if not (HOST_NAME.fullmatch(host) or _ip_literal(host)):
        raise DestinationRefused(f"The URL's host {host!r} is not a valid host name.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme.lower() == "https", host, port, path)


def _ip_literal(host: str) -> bool:
    if "%" in host:  # a zone id ("fe80::1%eth0") names an interface of ours
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why we will not connect to ``address`` (None: we will). Addresses embedding an IPv4
    one (::ffff:a.b.c.d, 6to4, Teredo, NAT64) are judged by it as well."""
    inner = _embedded_v4(address)
    if inner is not None and (why := refusal(inner, allow_private)) is not None:
        return why
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if not allow_private:
        for kind in ("loopback", "link_local", "reserved", "private"):
            if getattr(address, f"is_{kind}"):
                return f"a {kind.replace('_', '-')} address"
        if not address.is_global:
            return "a non-public address"
    return None


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's; the server part is a relay
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (blocking: call it in a thread from async code)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def check_destination(url: str, allow_private: bool,
                      resolver: Resolver | None = None) -> Destination:
    """Parse ``url`` and resolve its host; refused if any address is not allowed (a name
    with one public and one private address is refused: it would be a coin toss)."""
    target = parse_url(url)
    try:
        found = (resolver or resolve)(target.host, target.port)
    except (OSError, UnicodeError):
        raise DestinationRefused(f"The host {target.host} could not be resolved.") from None
    addresses = tuple(dict.fromkeys(found))  # in the resolver's order, once each
    if not addresses:
        raise DestinationRefused(f"The host {target.host} could not be resolved.")
    for text in addresses:
        why = refusal(ipaddress.ip_address(text.partition("%")[0]), allow_private)
        if why is not None:
            raise DestinationRefused(f"The host {target.host} resolves to {text}, {why}; "
                                     "webhooks only go to public addresses.")
    return Destination(target, addresses)


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to one checked address; Host is still the URL's host."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to one checked address, with SNI and the certificate checked for the URL's host."""

    def __init__(self, target: Target, address: str, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def post(destination: Destination, body: bytes, headers: dict[str, str], timeout: float,
         context: ssl.SSLContext | None = None) -> Answer:
    """POST ``body``: connect within ``timeout`` (trying each checked address), then the
    whole answer within ``timeout`` more. Redirects are answers like any other (never
    followed). Raises OSError (timeouts included) or http.client.HTTPException."""
    target = destination.target
    error: OSError = ConnectionError("no address to connect to")
    for address in destination.addresses:
        conn: http.client.HTTPConnection = \
            _PinnedHTTPS(target, address, timeout, context or ssl.create_default_context()) \
            if target.https else _PinnedHTTP(target, address, timeout)
        try:
            conn.connect()
        except OSError as failed:
            conn.close()
            error = failed
            continue
        try:
            return _exchange(conn, target.path, body, headers, timeout)
        finally:
            conn.close()
    raise error


def _exchange(conn: http.client.HTTPConnection, path: str, body: bytes,
              headers: dict[str, str], timeout: float) -> Answer:
    # The socket timeout bounds each read; this timer bounds the whole answer, so a
    # receiver that trickles a byte at a time cannot hold a worker for long.
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        return Answer(response.status, response.read(MAX_RESPONSE_BYTES))
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout:g} s") from None
        raise
    finally:
        timer.cancel()
