"""The only network code: bounded HTTP GETs with conditional requests and address checks.

Redirects are followed by hand so that every hop is re-checked (scheme and address); bodies are
streamed and cut at a size cap measured after decompression, so a gzip bomb never inflates.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline.config import FetchSettings
from pipeline.errors import FetchError

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One finished GET: 200 with a body, or 304 without one."""

    url: str
    final_url: str
    status: int
    body: bytes | None
    content_type: str
    etag: str | None
    last_modified: str | None


def check_scheme(url: str) -> None:
    """Raise FetchError unless `url` is an absolute http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise FetchError(url, "blocked: only http and https URLs are fetched")


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    if ip.is_private or ip.is_reserved:
        return False
    return ip.is_global


def check_host(url: str) -> None:
    """Resolve the URL's host and refuse it if any address is not public (SSRF guard)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"dns: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if not is_public_address(address):
            raise FetchError(url, f"blocked: {host} resolves to non-public address {address}")


class Fetcher:
    """A polite, bounded HTTP client. Inject `transport` in tests; production uses the network."""

    def __init__(self, settings: FetchSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        # Address checks resolve names themselves; an injected transport never touches the
        # network, so the check would only resolve fake test hosts.
        self._check_addresses = transport is None and not settings.allow_private_networks
        self.client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            verify=True,
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """GET `url`, following at most `max_redirects` redirects, within one deadline.

        Raises:
            FetchError: with a short reason (blocked, http status, timeout, too_large, ...).
        """
        deadline = time.monotonic() + self.settings.timeout_s
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            check_scheme(current)
            if self._check_addresses:
                check_host(current)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(url, "timeout: deadline passed")
            try:
                with self.client.stream("GET", current, headers=headers, timeout=httpx.Timeout(remaining)) as response:
                    if response.status_code == 304:
                        return FetchResult(url, current, 304, None, "", etag, last_modified)
                    if response.status_code in REDIRECT_CODES:
                        location = response.headers.get("location", "")
                        if not location:
                            raise FetchError(url, f"http {response.status_code} without Location")
                        current = urljoin(current, location)
                        continue
                    if response.status_code != 200:
                        raise FetchError(url, f"http {response.status_code}")
                    body = self._read_capped(url, response, deadline)
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=200,
                        body=body,
                        content_type=response.headers.get("content-type", "").split(";")[0].strip().lower(),
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
            except httpx.TimeoutException:
                raise FetchError(url, "timeout") from None
            except httpx.HTTPError as exc:
                raise FetchError(url, f"network: {type(exc).__name__}: {exc}") from None
        raise FetchError(url, f"too many redirects (more than {self.settings.max_redirects})")

    def _read_capped(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_bytes * 4:
            raise FetchError(url, f"too_large: declared {declared} bytes")
        chunks: list[bytes] = []
        size = 0
        # iter_bytes decodes gzip/deflate incrementally, so the cap applies to inflated bytes.
        for chunk in response.iter_bytes(chunk_size=64 * 1024):
            size += len(chunk)
            if size > self.settings.max_bytes:
                raise FetchError(url, f"too_large: more than {self.settings.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError(url, "timeout: body too slow")
            chunks.append(chunk)
        return b"".join(chunks)
