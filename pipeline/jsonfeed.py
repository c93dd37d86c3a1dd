"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) read into the entry shape feedparser gives.

feedparser 6 reads only XML feeds, and the PyPI packages for JSON Feed are small and unmaintained;
the format is plain JSON with a handful of fields, so it is read here and handed to the same
entry code as RSS and Atom (links, caps, ids), so every format is held to the same rules.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")


def looks_like_json(body: bytes) -> bool:
    """True when the body is a JSON object (after an optional UTF-8 byte-order mark and whitespace)."""
    head = body[:64].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"{")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(value: Any) -> time.struct_time | None:
    """An RFC 3339 date as the UTC struct_time feedparser gives (`published_parsed`)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).timetuple()


def _authors(item: dict[str, Any], feed: dict[str, Any]) -> str:
    """1.1's `authors` list, 1.0's `author` object, else the feed's own."""
    for source in (item, feed):
        people = source.get("authors")
        if not isinstance(people, list):
            people = [source.get("author")]
        names = [_text(p.get("name")) for p in people if isinstance(p, dict) and _text(p.get("name"))]
        if names:
            return ", ".join(names)
    return ""


def _entry(item: dict[str, Any], feed: dict[str, Any]) -> dict[str, Any]:
    links = [
        {"href": _text(a.get("url")), "type": _text(a.get("mime_type"))}
        for a in item.get("attachments") or []
        if isinstance(a, dict) and _text(a.get("url"))
    ]
    identifier = item.get("id")
    content = _text(item.get("content_html")) or _text(item.get("content_text"))
    return {
        "id": str(identifier) if isinstance(identifier, str | int) and not isinstance(identifier, bool) else "",
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "links": [link for link in links if link["type"] == "application/pdf"],
        "title": _text(item.get("title")),
        "content": [{"value": content}] if content else [],
        "summary": _text(item.get("summary")),
        "author": _authors(item, feed),
        "published_parsed": _time(item.get("date_published")) or _time(item.get("date_modified")),
    }


def parse(body: bytes) -> tuple[str, list[dict[str, Any]], str | None]:
    """(feed title, entries in feedparser's shape, why the feed is ill-formed or None).

    Like feedparser, an ill-formed feed keeps what it can: items that are not objects are skipped
    and named in the reason; a body that is not a JSON Feed yields no entries and says why.
    """
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return "", [], f"JSON Feed: not valid JSON: {type(exc).__name__}: {exc}"[:300]
    return parse_data(data)


def parse_data(data: Any) -> tuple[str, list[dict[str, Any]], str | None]:
    """`parse` for JSON already decoded (the body is sniffed once for the search APIs' shapes first)."""
    if not isinstance(data, dict):
        return "", [], "JSON Feed: the top level is not an object"
    items = data.get("items")
    if not isinstance(items, list):
        return _text(data.get("title")), [], "JSON Feed: no items list"
    entries = [_entry(item, data) for item in items if isinstance(item, dict)]
    problems = []
    if len(entries) < len(items):
        problems.append(f"{len(items) - len(entries)} items are not objects")
    if _text(data.get("version")) not in VERSIONS:
        problems.append(f"unknown version {_text(data.get('version'))[:80]!r}")
    return _text(data.get("title")), entries, ("JSON Feed: " + "; ".join(problems)) if problems else None
