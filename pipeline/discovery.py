"""Finding a site's feed (`gifts sources add`): the URL itself, the page's `<link rel="alternate">`
feeds, then the usual paths; every candidate fetched through the guarded fetcher and kept only
when it parses as a feed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from pipeline import jsonfeed
from pipeline.errors import FetchError, InputError
from pipeline.feeds import FeedRefused, parse_feed
from pipeline.fetch import Fetcher, check_scheme

log = logging.getLogger(__name__)

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
)
USUAL_PATHS = ("feed", "rss", "atom.xml", "feed.xml", "rss.xml", "index.xml", "feed.json")
MAX_CANDIDATES = 12  # links a page may offer that are tried; a hostile page cannot make us fetch more
_FEED_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(rss|feed|RDF)[\s>/]")
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")


@dataclass(frozen=True, slots=True)
class Found:
    """A feed found for what the user typed: its URL, its title, and how it was found."""

    url: str
    title: str
    entries: int
    how: str  # "the URL itself" | "<link rel=alternate> on URL" | "usual path"


class _AlternateLinks(HTMLParser):
    """Collects `<base href>` and `<link rel="alternate" type=feed href>` in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "base" and values.get("href") and self.base is None:
            self.base = values["href"]
        if tag != "link" or not values.get("href"):
            return
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and len(self.links) < MAX_CANDIDATES:
            self.links.append(values["href"])


def alternate_links(html: bytes, page_url: str) -> list[str]:
    """The feed URLs a page announces, resolved against its `<base>` or its own URL, without duplicates."""
    parser = _AlternateLinks()
    parser.feed(html.decode("utf-8", errors="replace"))
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    return list(dict.fromkeys(urljoin(base, href) for href in parser.links))


def looks_like_feed(body: bytes) -> bool:
    """True for an RSS, Atom or RDF root element, or a JSON Feed; an HTML page is not a feed."""
    if jsonfeed.looks_like_json(body):
        return b"jsonfeed.org/version" in body[:4096]
    head = body[:4096].removeprefix(b"\xef\xbb\xbf")
    first = _FIRST_TAG.search(head)
    return bool(first and _FEED_ROOT.match(head, first.start()))


def _as_feed(url: str, final_url: str, body: bytes, how: str) -> Found | None:
    if not looks_like_feed(body):
        return None
    try:
        parsed = parse_feed(body, final_url)
    except FeedRefused as exc:
        raise InputError(f"{url}: refused: {exc}") from None
    return Found(url=final_url, title=parsed.title, entries=len(parsed.entries), how=how)


def _usual_candidates(page_url: str) -> list[str]:
    """The usual feed paths beside the page (a blog under /blog/), then at the site's root."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}/"
    folder = urljoin(page_url, ".")
    bases = [folder, root] if folder != root else [root]
    return list(dict.fromkeys(urljoin(base, path) for base in bases for path in USUAL_PATHS))


def discover(url: str, fetcher: Fetcher) -> Found:
    """The feed for `url`: the URL itself when it is a feed, else the first announced or usual feed that parses.

    Args:
        url: a feed's URL or a site's (http or https).
        fetcher: the guarded fetcher, with the workspace's fetch settings.
    Returns:
        The feed's URL (after redirects), title and entry count.
    Raises:
        InputError: one line naming the URL: not fetchable, or no feed found (with what was tried).
    """
    try:
        check_scheme(url)
        first = fetcher.get(url)
    except FetchError as exc:
        raise InputError(f"{url}: cannot fetch: {exc.reason}") from None
    body = first.body or b""
    found = _as_feed(url, first.final_url, body, "the URL itself")
    if found:
        return found
    announced = alternate_links(body, first.final_url)
    tried: list[str] = []
    for candidate in [*announced, *_usual_candidates(first.final_url)]:
        if candidate in tried or candidate == first.final_url:
            continue
        tried.append(candidate)
        try:
            result = fetcher.get(candidate)
        except FetchError as exc:
            log.info("%s: not a feed here: %s", candidate, exc.reason)
            continue
        how = f"<link rel=alternate> on {first.final_url}" if candidate in announced else "usual path"
        found = _as_feed(candidate, result.final_url, result.body or b"", how)
        if found:
            return found
    announced_text = f"{len(announced)} announced feed{'s' if len(announced) != 1 else ''} not usable"
    what = announced_text if announced else "it announces no <link rel=alternate> feed"
    raise InputError(
        f"{url}: no feed found (the page is not a feed; {what}; none at the usual paths such as "
        f"{', '.join(USUAL_PATHS[:3])}; {len(tried)} URLs tried); give the feed's URL"
    )
