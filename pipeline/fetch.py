"""The only network code: bounded, polite HTTP GETs with conditional requests and address checks.

Redirects are followed by hand so that every hop is re-checked (scheme and address); connections
go through netguard, which resolves once and connects to the checked address. Bodies are read raw
and inflated here with a bound on every step, so a gzip bomb is cut at the cap, never inflated.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline import netguard, politeness
from pipeline.config import FetchSettings
from pipeline.errors import FetchError
from pipeline.netguard import BlockedAddress, is_public_address

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_CODES = (301, 302, 303, 307, 308)
RETRY_CODES = (429, 503)

__all__ = ["FetchResult", "Fetcher", "check_scheme", "check_url", "is_public_address"]


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
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise FetchError(url, "blocked: not a valid URL") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        raise FetchError(url, "blocked: only http and https URLs are fetched")


def check_url(url: str, allow_private: bool = False) -> None:
    """Scheme check plus, unless allowed, refusal of a non-public address literal in any spelling.

    The authoritative check happens at connect time (netguard); this one gives an early, clear
    reason for URLs such as http://2130706433/ or http://[::ffff:127.0.0.1]/.
    """
    check_scheme(url)
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    ip = netguard.parse_ip(host)
    if ip is not None and not netguard.is_public(ip):
        raise FetchError(url, f"blocked: {host} is the non-public address {ip}")
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise FetchError(url, f"blocked: {host} is a loopback name")


class _Inflater:
    """Content-Encoding decoding with a hard bound on output: never more than `limit` bytes exist."""

    def __init__(self, encoding: str, url: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(url, f"unsupported content-encoding {encoding!r}")
        self.coding = codings[0] if codings else ""
        self.url = url
        self._d: zlib._Decompress | None = None
        self._first = True

    def _new(self, head: bytes) -> zlib._Decompress:
        if self.coding == "deflate":
            # "deflate" is zlib-wrapped by the RFC, raw deflate by many servers: tell by the header.
            zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0
            return zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, limit: int) -> bytes:
        """Inflate `data`, returning at most `limit` + 1 bytes (one more than allowed means too large)."""
        if not self.coding:
            return data
        out = bytearray()
        try:
            while data and len(out) <= limit:
                if self._d is None:
                    self._d = self._new(data)
                out += self._d.decompress(data, limit + 1 - len(out))
                if self._d.eof:  # a gzip body may hold several members
                    data = self._d.unused_data
                    self._d = None if data else self._d
                else:
                    data = self._d.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(self.url, f"bad {self.coding} body: {exc}") from None
        return bytes(out)


class Fetcher:
    """A polite, bounded HTTP client. Inject `transport` in tests; production uses the network.

    Args:
        settings: limits, User-Agent and whether private networks may be reached.
        transport: an httpx transport (tests); None uses the guarded network transport.
        resolver: the DNS resolver netguard uses (tests); None uses the system's.
    """

    def __init__(
        self,
        settings: FetchSettings,
        transport: httpx.BaseTransport | None = None,
        resolver: netguard.Resolver | None = None,
    ) -> None:
        self.settings = settings
        self.backend: netguard.GuardedBackend | None = None
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=4)
        if transport is None:
            self.backend = netguard.GuardedBackend(
                allow_private=settings.allow_private_networks, resolver=resolver or netguard.system_resolver
            )
            transport = netguard.GuardedTransport(self.backend, limits)
        self.hosts = politeness.HostLimits()
        self._robots: dict[str, politeness.RobotsRules] = {}
        self.client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
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
        try:
            with netguard.deadline(deadline):
                return self._get(url, etag, last_modified, deadline)
        except BlockedAddress as exc:
            raise FetchError(url, f"blocked: {exc}") from None
        except httpx.TimeoutException:
            raise FetchError(url, "timeout") from None
        except httpx.InvalidURL as exc:
            raise FetchError(url, f"blocked: invalid URL: {exc}") from None
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BlockedAddress):
                raise FetchError(url, f"blocked: {cause}") from None
            if "location header" in str(exc).lower():
                raise FetchError(url, f"blocked: invalid redirect: {exc}") from None
            raise FetchError(url, f"network: {type(exc).__name__}: {exc}") from None

    def _get(self, url: str, etag: str | None, last_modified: str | None, deadline: float) -> FetchResult:
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        hops = 0
        retried = False
        while True:
            try:
                check_url(current, self.settings.allow_private_networks or self.backend is None)
            except FetchError as exc:
                raise FetchError(
                    url, exc.reason if current == url else f"{exc.reason} (redirected to {current})"
                ) from None
            self._wait_for_host(url, current, deadline)
            pause = self.hosts.next_turn(current)  # a paced host (search APIs) is asked at its rate
            if pause > 0:
                if time.monotonic() + pause >= deadline:
                    raise FetchError(url, f"timeout: {urlsplit(current).hostname} is paced and the deadline came first")
                time.sleep(pause)
            if time.monotonic() >= deadline:
                raise FetchError(url, "timeout: deadline passed")
            with (
                self.hosts.slot(current),
                self.client.stream(
                    "GET", current, headers=headers, timeout=httpx.Timeout(deadline - time.monotonic())
                ) as response,
            ):
                status = response.status_code
                if status == 304:
                    return FetchResult(url, current, 304, None, "", etag, last_modified)
                if status in REDIRECT_CODES:
                    location = response.headers.get("location", "")
                    if not location:
                        raise FetchError(url, f"http {status} without Location")
                    hops += 1
                    if hops > self.settings.max_redirects:
                        raise FetchError(url, f"too many redirects (more than {self.settings.max_redirects})")
                    current = urljoin(current, location)
                    continue
                if status in RETRY_CODES:
                    wait = politeness.parse_retry_after(response.headers.get("retry-after"))
                    if wait is not None:
                        self.hosts.defer(current, wait)
                        fits = time.monotonic() + wait < deadline - 1.0
                        if not retried and wait <= politeness.MAX_INLINE_WAIT_S and fits:
                            retried = True
                            continue  # waited out by _wait_for_host on the next pass
                        raise FetchError(url, f"http {status}: retry after {wait:.0f} s")
                if status != 200:
                    raise FetchError(url, f"http {status}")
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

    def _wait_for_host(self, url: str, current: str, deadline: float) -> None:
        """Honour a Retry-After the host gave earlier: wait briefly, or fail without asking it."""
        wait = self.hosts.wait_needed(current)
        if wait <= 0:
            return
        if wait > politeness.MAX_INLINE_WAIT_S or time.monotonic() + wait >= deadline:
            raise FetchError(url, f"deferred: {urlsplit(current).hostname} asked for no requests for {wait:.0f} s")
        time.sleep(wait)

    def _read_capped(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        cap = self.settings.max_bytes
        declared = response.headers.get("content-length")
        # Far over the cap is refused unread; near it, the count of inflated bytes decides.
        if declared and declared.isdigit() and int(declared) > cap * 4:
            raise FetchError(url, f"too_large: declared {declared} bytes")
        inflater = _Inflater(response.headers.get("content-encoding", ""), url)
        chunks: list[bytes] = []
        size = 0
        # Raw network reads, inflated here with a bound, so the cap applies to inflated bytes
        # without ever holding more than the cap; each read is also clamped to the deadline.
        if response.is_stream_consumed:
            # An injected (mock) transport may hand over a body it already read and decoded.
            if len(response.content) > cap:
                raise FetchError(url, f"too_large: more than {cap} bytes")
            return response.content
        for raw in response.iter_raw():
            chunk = inflater.feed(raw, cap - size)
            size += len(chunk)
            if size > cap:
                raise FetchError(url, f"too_large: more than {cap} bytes")
            if time.monotonic() > deadline:
                raise FetchError(url, "timeout: body too slow")
            chunks.append(chunk)
        return b"".join(chunks)

    def robots_block(self, url: str) -> str | None:
        """Why robots.txt forbids fetching this page, or None when it may be fetched (cached per host)."""
        key = politeness.host_key(url)
        rules = self._robots.get(key)
        if rules is None:
            try:
                result = self.get(politeness.robots_url(url))
                rules = politeness.robots_from_response(result.status, result.body)
            except FetchError as exc:
                if exc.reason.startswith("blocked"):
                    return exc.reason
                rules = politeness.robots_from_response(None, None)
            self._robots[key] = rules
        if rules.allows(politeness.agent_token(self.settings.user_agent), url):
            return None
        return "blocked: disallowed by robots.txt"
