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

from pipeline import jsonfeed, searchjson
from pipeline.db.states import SourceState
from pipeline.display import quote_unsafe, redact_url
from pipeline.errors import GiftsError

# expat 2.4.1 added the billion-laughs amplification limit; older ones expand entity bombs freely.
MIN_EXPAT = (2, 4, 1)

# A feed body's outcome in the parse workers; a failed one leaves its source quarantined.
FEED_PARSED, FEED_FAILED = "parsed", SourceState.QUARANTINED

# Caps on what one entry may store: generous for real feeds (a full article in content:encoded is
# rarely over 60,000 characters), small enough that a hostile feed cannot fill the store.
MAX_TITLE_CHARS = 500
MAX_AUTHOR_CHARS = 200
MAX_GUID_CHARS = 2_000
MAX_URL_CHARS = 4_000
MAX_SUMMARY_CHARS = 200_000

# An entity declaration in the DTD, which feedparser's loose parser expands even where expat refused
# it (quadratic blow-up). Strict readers refuse them; so do we, before any parser sees the bytes.
_ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")

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
    reason: str | None = None  # why the entry can never be fetched (no link, or one we refuse)


class FeedRefused(GiftsError):
    """A feed body no strict reader would parse (an entity declaration in its DTD)."""


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
    """Drop fragments and tracking parameters, lower-case scheme and host, so one story has one URL.

    Credentials are dropped (an entry link's user:password@ is never sent, stored or shown) and
    characters no URL may carry raw (`<`, `>`, `"`, spaces, controls) are percent-encoded, so the
    URL is inert wherever it is written. A URL with none of those canonicalises as it always did,
    which keeps document ids stable.
    """
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    host = parts.netloc.rpartition("@")[2]  # the last @ ends the userinfo, as every parser reads it
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), quote_unsafe(host.lower()), quote_unsafe(path), urlencode(query), ""))


LINK_SHOWN_CHARS = 200


def link_refusal(url: str | None) -> str | None:
    """Why an entry's link will never be fetched, or None when it can be (or there is no link).

    The reason names the link (credentials redacted, cut to LINK_SHOWN_CHARS), so a document that
    cannot be had is recorded as failed with it instead of waiting for a fetch that never comes.
    """
    if not url:
        return None
    shown = quote_unsafe(redact_url(url))
    if len(shown) > LINK_SHOWN_CHARS:
        shown = shown[:LINK_SHOWN_CHARS] + "..."
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced [ in the host, a bad port
        return f"link is not a valid URL: {shown}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"link is not http(s): {shown}"
    if not host:
        return f"link has no host: {shown}"
    return None


def document_id(url: str | None, guid: str | None, fallback: str) -> str:
    key = canonical_url(url) if url else (guid or fallback)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _ascii_view(body: bytes) -> bytes:
    """The body's prolog in an ASCII-compatible encoding, so markup can be found in UTF-16/32 feeds too."""
    head = body[:4]
    for bom, codec in (
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00<", "utf-16-be"),
        (b"<\x00", "utf-16-le"),
    ):
        if head.startswith(bom):
            return body.decode(codec, errors="replace").encode("utf-8")
    if head == b"\x4c\x6f\xa7\x94":  # "<?xm" in EBCDIC, which feedparser also reads
        return body.decode("cp037", errors="replace").encode("utf-8")
    return body


def refuse_entity_declarations(body: bytes) -> None:
    """Raise FeedRefused when the prolog (everything before the root element) declares an entity.

    That is where feedparser looks for them; a declaration after the root element is plain text.
    """
    view = _ascii_view(body)
    first = _FIRST_ELEMENT.search(view)
    prolog = view[: first.start()] if first else view
    if _ENTITY_DECLARATION.search(prolog):
        raise FeedRefused("feed declares XML entities in its DTD (refused, as a strict XML reader would)")


def strip_html(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


def _head(value: Any, limit: int) -> str:
    """At most about `limit` characters of a field, cut before HTML is stripped (markup shrinks; it never grows)."""
    text = value if isinstance(value, str) else ""
    # Twice the cap: markup in the cut-off part would have been stripped anyway.
    return text[: 2 * limit]


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


def parse_feed(body: bytes, base_url: str, max_entries: int | None = None) -> ParsedFeed:
    """Parse RSS 2.0, Atom, RSS 1.0/RDF, JSON Feed 1.0/1.1 or a search API's JSON (Hacker News, Crossref) into
    entries (ill-formed feeds keep what parses).

    Run it in a worker with time and memory limits (`workers.ExtractPool`): feedparser has none.
    Every stored field is capped (MAX_*_CHARS).

    Args:
        body: the raw bytes as downloaded (never a URL or path).
        base_url: the feed's URL, to resolve relative links.
        max_entries: keep at most this many entries, in feed order (None: all).

    Raises:
        FeedRefused: the prolog declares entities.
    """
    if not isinstance(body, bytes):
        raise TypeError("parse_feed takes bytes only")
    if jsonfeed.looks_like_json(body):
        # JSON Feed, or a search API's JSON answer (Hacker News, Crossref): told apart by shape.
        feed_title, raw_entries, bozo = searchjson.parse(body)
    else:
        refuse_entity_declarations(body)
        # feedparser judges the bytes by the response's media type; without one every feed is "bozo".
        headers = {"content-location": base_url, "content-type": "application/xml"}
        parsed = feedparser.parse(body, response_headers=headers)
        raw_entries = parsed.get("entries", [])
        feed_title = parsed.get("feed", {}).get("title")
        bozo = None
        if parsed.get("bozo"):
            bozo = f"{type(parsed.get('bozo_exception')).__name__}: {parsed.get('bozo_exception')}"[:300]
    entries: dict[str, Entry] = {}
    for raw in raw_entries:
        if max_entries is not None and len(entries) >= max_entries:
            break
        url, kind = _link(raw, base_url)
        if url and len(url) > MAX_URL_CHARS:
            url = None  # no real article has such a URL; its summary is still kept
        # Only http(s) links are ever followed; an entry without one is recorded with the reason,
        # since a gift the candidate cannot link to is no gift.
        refused = link_refusal(url) if url else "entry has no link"
        if refused:
            url = None
        guid = (raw.get("id") or "")[:MAX_GUID_CHARS] or None
        title = strip_html(_head(raw.get("title"), MAX_TITLE_CHARS)) or (url or "(untitled)")
        summary = ""
        for content in raw.get("content", []) or []:
            summary = strip_html(_head(content.get("value"), MAX_SUMMARY_CHARS))
            if summary:
                break
        summary = summary or strip_html(_head(raw.get("summary"), MAX_SUMMARY_CHARS))
        doc_id = document_id(url, guid, fallback=f"{base_url}#{title}")
        entries.setdefault(
            doc_id,
            Entry(
                id=doc_id,
                guid=guid,
                url=canonical_url(url) if url else None,
                title=title[:MAX_TITLE_CHARS],
                author=strip_html(_head(raw.get("author"), MAX_AUTHOR_CHARS))[:MAX_AUTHOR_CHARS] or None,
                published=_date(raw),
                summary=summary[:MAX_SUMMARY_CHARS],
                kind=kind,
                reason=refused,
            ),
        )
    title = strip_html(_head(feed_title, MAX_TITLE_CHARS))[:MAX_TITLE_CHARS]
    return ParsedFeed(title=title, entries=tuple(entries.values()), bozo=bozo)
