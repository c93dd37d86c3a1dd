"""Politeness towards the sites we read: connections per host, Retry-After, and robots.txt.

Pure bookkeeping; the HTTP itself stays in fetch. robots.txt is honoured for article pages (a
feed is published to be polled): its rules for our product token, or for `*`, decide.
"""

from __future__ import annotations

import email.utils
import threading
import time
import urllib.robotparser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

MAX_CONNECTIONS_PER_HOST = 2
# A Retry-After this short is waited out in place; a longer one fails the request and defers the host.
MAX_INLINE_WAIT_S = 5.0
MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB


def host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"


class HostLimits:
    """At most `per_host` requests in flight to one host, and Retry-After deferrals per host."""

    def __init__(self, per_host: int = MAX_CONNECTIONS_PER_HOST, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_host = per_host
        self.clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._not_before: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._next_turn: dict[str, float] = {}

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        key = host_key(url)
        with self._lock:
            semaphore = self._slots.setdefault(key, threading.BoundedSemaphore(self.per_host))
        with semaphore:
            yield

    def defer(self, url: str, seconds: float) -> None:
        """Remember that the host asked for no request before `seconds` from now."""
        with self._lock:
            key = host_key(url)
            self._not_before[key] = max(self._not_before.get(key, 0.0), self.clock() + seconds)

    def pace(self, url: str, seconds: float) -> None:
        """Start requests to this URL's host at least `seconds` apart (a search API's rate limit)."""
        with self._lock:
            key = host_key(url)
            self._interval[key] = max(self._interval.get(key, 0.0), seconds)

    def next_turn(self, url: str) -> float:
        """Reserve the next request to a paced host: seconds to wait before sending it (0: now)."""
        with self._lock:
            key = host_key(url)
            interval = self._interval.get(key, 0.0)
            if interval <= 0:
                return 0.0
            now = self.clock()
            turn = max(now, self._next_turn.get(key, 0.0))
            self._next_turn[key] = turn + interval
            return turn - now

    def wait_needed(self, url: str) -> float:
        """Seconds to wait before this host may be asked again (0 when it may be asked now)."""
        with self._lock:
            return max(0.0, self._not_before.get(host_key(url), 0.0) - self.clock())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RobotsRules:
    """One host's parsed robots.txt (or the lack of one)."""

    def __init__(self, allow_all: bool = False, text: str = "") -> None:
        self._allow_all = allow_all
        self._parser = urllib.robotparser.RobotFileParser()
        if text:
            self._parser.parse(text.splitlines())

    def allows(self, agent: str, url: str) -> bool:
        if self._allow_all:
            return True
        return self._parser.can_fetch(agent, url)


def robots_from_response(status: int | None, body: bytes | None) -> RobotsRules:
    """Rules from fetching /robots.txt: a 2xx body is parsed; anything else allows all.

    RFC 9309 would disallow everything on a 5xx; we read one page per feed entry, a page its
    publisher put in the feed for readers, so a broken robots.txt does not cost the reader the article.
    """
    if status is not None and 200 <= status < 300 and body is not None:
        return RobotsRules(text=body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace"))
    return RobotsRules(allow_all=True)


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: `research-gifts` of `research-gifts/0.1 (...)`."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"
