"""Address checks and pinned connections: the SSRF guard under every fetch.

A host name is resolved once, inside the connection itself; every address it resolves to must be
public, and the socket connects to the address that was checked. A DNS answer that changes between
a check and a connect (rebinding) therefore never reaches a private address. Every read and write
is also clamped to the request's deadline, so a server trickling bytes cannot hold a run.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import certifi
import httpcore
import httpx
from httpcore._backends.sync import SyncStream  # httpcore's own socket stream (not re-exported)

# ::ffff:0:0/96 is IPv4-mapped, judged as its IPv4 address; 64:ff9b::/96 (NAT64) likewise.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

Resolver = Callable[[str, int], list[str]]

# The absolute monotonic deadline of the request in flight on this thread (None: no deadline).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("fetch_deadline", default=None)


class BlockedAddress(Exception):
    """A connection was refused before it was made: the host is, or resolves to, a non-public address."""


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal means, in every spelling a C resolver accepts, or None for a name.

    Besides dotted quads this reads what `inet_aton` reads: decimal (2130706433), hex (0x7f000001),
    octal (0177.0.0.1) and short forms (127.1), and IPv6 with or without brackets and zone.
    """
    literal = host.strip().strip("[]").split("%", 1)[0].rstrip(".")
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(literal))
    except (OSError, ValueError):
        return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address; IPv4-mapped and NAT64 IPv6 are judged as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    if ip.is_private or ip.is_reserved or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
        return False
    return ip.is_global


def is_public_address(address: str) -> bool:
    """`is_public` for an address string (a zone suffix such as %eth0 is ignored)."""
    ip = parse_ip(address)
    return ip is not None and is_public(ip)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_checked(host: str, port: int, resolver: Resolver, allow_private: bool) -> list[str]:
    """The addresses to connect to; raises BlockedAddress if any of them is not public.

    Refusing when *any* answer is private (not only the first) closes the trick of a name with one
    public and one private record.
    """
    literal = parse_ip(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        name = host.strip().rstrip(".").lower()
        if not allow_private and (name == "localhost" or name.endswith(".localhost")):
            raise BlockedAddress(f"{host} is a loopback name")
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"dns: {host}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"dns: {host}: no addresses")
    if not allow_private:
        for address in addresses:
            ip = parse_ip(address)
            if ip is None or not is_public(ip):
                shown = host if literal is None else "host"
                raise BlockedAddress(f"{shown} resolves to non-public address {address}")
    return addresses


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Clamp every socket operation of the requests made inside to the monotonic time `at`."""
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


def _clamp(timeout: float | None, exc: type[Exception]) -> float | None:
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise exc("deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The certificate is checked against the URL's host name, not the pinned address.
        inner = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects in one step, so the checked address is the connected one."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.connected: list[tuple[str, int]] = []  # (address, port) of every connection, for tests

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve_checked(host, port, self.resolver, self.allow_private)
        last: Exception | None = None
        for address in addresses:
            ip = parse_ip(address)
            family = socket.AF_INET6 if ip is not None and ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(_clamp(timeout, httpcore.ConnectTimeout))
                sock.connect((address, port))
            except TimeoutError as exc:
                sock.close()
                last = httpcore.ConnectTimeout(f"{address}: {exc}")
                continue
            except OSError as exc:
                sock.close()
                last = httpcore.ConnectError(f"{address}: {exc}")
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connected.append((address, port))
            return _DeadlineStream(SyncStream(sock))
        assert last is not None  # noqa: S101 -- resolve_checked never returns an empty list
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("unix sockets are never used")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a GuardedBackend: TLS always verified, no environment proxies."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(verify=True, trust_env=False, limits=limits)
        # httpx has no public hook for the network backend; the pool is rebuilt with ours, with
        # the same TLS context httpx would use (certifi's roots, verification on).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
