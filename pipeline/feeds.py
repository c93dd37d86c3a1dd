"""Parse stage: feed bytes to entries with feedparser, and canonical URLs and ids for documents.

feedparser is only ever handed bytes our fetch code downloaded: given a string it would read
local files or fetch URLs itself, with no timeout.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from pipeline.errors import GiftsError

# expat 2.4.1 added the billion-laughs amplification limit; older ones expand entity bombs freely.
MIN_EXPAT = (2, 4, 1)

TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|ref_src|igshid|_hsenc|_hsmi)$", re.I)


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, before its page is fetched and its text extracted."""

    id: str
    guid: str | None
    url: str | None
    title: str
    author: str | None
    published: str | None  # ISO date
    summary: str  # plain text from the feed, the fallback when the page cannot be had
    kind: str  # html | pdf


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: tuple[Entry, ...]
    bozo: str | None  # why the feed was ill-formed, when it was (entries are still kept)


def check_xml_parser() -> None:
    """Refuse to parse feeds with an expat that cannot bound entity expansion (checked at start-up).

    Raises:
        GiftsError: naming the expat version found.
    """
    import pyexpat

    if tuple(pyexpat.version_info) < MIN_EXPAT:
        found = ".".join(map(str, pyexpat.version_info))
        raise GiftsError(f"expat {found} cannot bound XML entity expansion; upgrade Python (needs expat >= 2.4.1)")


def canonical_url(url: str) -> str:
    """Drop fragments and tracking parameters, lower-case scheme and host, so one story has one URL."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, urlencode(query), ""))


def document_id(url: str | None, guid: str | None, fallback: str) -> str:
    key = canonical_url(url) if url else (guid or fallback)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def strip_html(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


def _date(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC).date().isoformat()
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _link(entry: Any, base_url: str) -> tuple[str | None, str]:
    """The entry's article URL and its kind; a PDF enclosure or link makes it a white paper."""
    for link in entry.get("links", []) or []:
        href = link.get("href") or ""
        if link.get("type") == "application/pdf" or href.lower().split("?")[0].endswith(".pdf"):
            return urljoin(base_url, href), "pdf"
    href = entry.get("link")
    if not href:
        return None, "html"
    return urljoin(base_url, href), "html"


def parse_feed(body: bytes, base_url: str) -> ParsedFeed:
    """Parse RSS 2.0, Atom or RSS 1.0/RDF bytes into entries (ill-formed feeds keep what parses).

    Args:
        body: the raw bytes as downloaded (never a URL or path).
        base_url: the feed's URL, to resolve relative links.
    """
    if not isinstance(body, bytes):
        raise TypeError("parse_feed takes bytes only")
    # feedparser judges the bytes by the response's media type; without one every feed is "bozo".
    parsed = feedparser.parse(body, response_headers={"content-location": base_url, "content-type": "application/xml"})
    entries: dict[str, Entry] = {}
    for raw in parsed.get("entries", []):
        url, kind = _link(raw, base_url)
        if url and urlsplit(url).scheme.lower() not in ("http", "https"):
            url = None  # only http(s) links are ever followed
        guid = raw.get("id") or None
        title = strip_html(raw.get("title") or "") or (url or "(untitled)")
        summary = ""
        for content in raw.get("content", []) or []:
            summary = strip_html(content.get("value") or "")
            if summary:
                break
        summary = summary or strip_html(raw.get("summary") or "")
        doc_id = document_id(url, guid, fallback=f"{base_url}#{title}")
        entries.setdefault(
            doc_id,
            Entry(
                id=doc_id,
                guid=guid,
                url=canonical_url(url) if url else None,
                title=title[:500],
                author=strip_html(raw.get("author") or "") or None,
                published=_date(raw),
                summary=summary,
                kind=kind,
            ),
        )
    bozo = None
    if parsed.get("bozo"):
        bozo = f"{type(parsed.get('bozo_exception')).__name__}: {parsed.get('bozo_exception')}"[:300]
    title = strip_html(parsed.get("feed", {}).get("title") or "")
    return ParsedFeed(title=title, entries=tuple(entries.values()), bozo=bozo)
