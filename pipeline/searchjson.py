"""The JSON answers of the search APIs (Hacker News on Algolia, Crossref works) read into the entry
shape feedparser gives, beside JSON Feed, so parse_feed holds every entry to the same caps and link checks.

A JSON body is told apart by its shape: Algolia's `hits` list, Crossref's `message.items`; anything
else is read as JSON Feed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from typing import Any

from pipeline import jsonfeed

HN_ITEM_URL = "https://news.ycombinator.com/item?id="


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _iso_time(value: Any) -> time.struct_time | None:
    """Algolia's `created_at` ("2026-11-25T08:12:33.000Z") as the UTC struct_time feedparser gives."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).timetuple()


def _hn_entry(hit: dict[str, Any]) -> dict[str, Any]:
    """One Algolia hit; an Ask HN story (no url) links to its discussion page."""
    identifier = hit.get("objectID")
    object_id = str(identifier) if isinstance(identifier, str | int) and not isinstance(identifier, bool) else ""
    link = _text(hit.get("url")) or (HN_ITEM_URL + object_id if object_id.isdigit() else "")
    text = _text(hit.get("story_text"))
    return {
        "id": f"hn:{object_id}" if object_id else "",
        "link": link,
        "links": [],
        "title": _text(hit.get("title")) or _text(hit.get("story_title")),
        "content": [{"value": text}] if text else [],
        "summary": "",
        "author": _text(hit.get("author")),
        "published_parsed": _iso_time(hit.get("created_at")),
    }


def _date_parts(work: dict[str, Any]) -> time.struct_time | None:
    """The first of published-print, published-online, issued whose date-parts hold a valid date."""
    for key in ("published-print", "published-online", "published", "issued"):
        field = work.get(key)
        parts = field.get("date-parts") if isinstance(field, dict) else None
        first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
        numbers = [n for n in first[:3] if isinstance(n, int) and not isinstance(n, bool)]
        if not numbers or len(numbers) != len(first[:3]):
            continue
        year, month, day = (*numbers, 1, 1)[:3]  # a year or a month alone: its first day
        try:
            return datetime.combine(date(year, month, day), datetime.min.time(), tzinfo=UTC).timetuple()
        except ValueError:
            continue
    return None


def _people(work: dict[str, Any]) -> str:
    names = []
    for person in work.get("author") or []:
        if isinstance(person, dict):
            name = " ".join(p for p in (_text(person.get("given")), _text(person.get("family"))) if p)
            names.append(name or _text(person.get("name")))
    return ", ".join(n for n in names if n)


def _crossref_entry(work: dict[str, Any]) -> dict[str, Any]:
    titles = work.get("title")
    title = _text(titles[0]) if isinstance(titles, list) and titles else _text(titles)
    doi = _text(work.get("DOI"))
    abstract = _text(work.get("abstract"))  # JATS XML; its tags are stripped like HTML
    return {
        "id": f"doi:{doi}" if doi else "",
        "link": _text(work.get("URL")) or (f"https://doi.org/{doi}" if doi else ""),
        "links": [],
        "title": title,
        "content": [{"value": abstract}] if abstract else [],
        "summary": "",
        "author": _people(work),
        "published_parsed": _date_parts(work),
    }


def parse(body: bytes) -> tuple[str, list[dict[str, Any]], str | None]:
    """(feed title, entries in feedparser's shape, why the body is ill-formed or None) for a JSON body:
    a Hacker News (Algolia) search answer, a Crossref works list, or else a JSON Feed."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return jsonfeed.parse(body)  # says why, as it always did
    if isinstance(data, dict) and isinstance(data.get("hits"), list) and "version" not in data:
        hits = data["hits"]
        entries = [_hn_entry(hit) for hit in hits if isinstance(hit, dict)]
        bozo = (
            f"Hacker News search: {len(hits) - len(entries)} hits are not objects" if len(entries) < len(hits) else None
        )
        return f"Hacker News: {_text(data.get('query'))}", entries, bozo
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, dict) and isinstance(message.get("items"), list):
        items = message["items"]
        entries = [_crossref_entry(item) for item in items if isinstance(item, dict)]
        bozo = f"Crossref: {len(items) - len(entries)} items are not objects" if len(entries) < len(items) else None
        return "Crossref works", entries, bozo
    return jsonfeed.parse_data(data)
