"""The workspace's list of feeds in `gifts.toml` (`gifts sources ...`): list, add, remove, OPML in and out.

Edits go through tomlkit, so the user's comments and layout survive; a feed's name is kept as the
comment on its line. Every edit is validated as a whole config before it replaces the file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import tomlkit
from tomlkit.items import Array, Table

from pipeline.config import Config, load
from pipeline.errors import ConfigError, InputError
from pipeline.lookup import one_match
from pipeline.sources import read_opml

MAX_NAME_CHARS = 200


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed the workspace reads: its URL, its name, and where it is listed (gifts.toml or an OPML file)."""

    url: str
    name: str
    origin: str


def _clean_name(name: str) -> str:
    return " ".join(name.split())[:MAX_NAME_CHARS]


def _names(text: str, urls: Iterable[str]) -> dict[str, str]:
    """Each URL's name: the comment on the line that lists it, if any."""
    names = {}
    for url in urls:
        quoted = rf"""(?:"{re.escape(json.dumps(url, ensure_ascii=False)[1:-1])}"|'{re.escape(url)}')"""
        found = re.search(rf"^\s*{quoted}\s*,?\s*#\s?(.*?)\s*$", text, re.M)
        names[url] = found.group(1) if found else ""
    return names


def list_feeds(config: Config) -> list[Feed]:
    """Every feed: those of `[sources] feeds` (named by their comment), then each OPML file's."""
    text = config.path.read_text(encoding="utf-8-sig")
    names = _names(text, config.sources.feeds)
    feeds = [Feed(url, names[url], config.path.name) for url in config.sources.feeds]
    seen = set(config.sources.feeds)
    for opml in config.sources.opml:
        origin = str(opml.relative_to(config.root)) if opml.is_relative_to(config.root) else str(opml)
        for url, title in read_opml(opml):
            if url not in seen:
                seen.add(url)
                feeds.append(Feed(url, title if title != url else "", origin))
    return feeds


def _feeds_array(doc: tomlkit.TOMLDocument) -> Array:
    sources = doc.get("sources")
    if sources is None:
        sources = tomlkit.table()
        doc["sources"] = sources
    if not isinstance(sources, Table):
        raise ConfigError("[sources] is not a table")
    feeds = sources.get("feeds")
    if feeds is None:
        sources["feeds"] = tomlkit.array()
        feeds = sources["feeds"]
    if not isinstance(feeds, Array):
        raise ConfigError("sources.feeds is not a list")
    return feeds


def _write(config: Config, doc: tomlkit.TOMLDocument) -> Config:
    """Validate the edited document as a config, then replace the file atomically; returns the new config."""
    text = tomlkit.dumps(doc)
    handle, temporary = tempfile.mkstemp(prefix=".gifts-", suffix=".toml", dir=config.root)
    tmp = Path(temporary)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            load(tmp)
        except ConfigError as exc:  # name the real file, not the temporary one
            raise ConfigError(str(exc).replace(str(tmp.resolve()), str(config.path))) from None
        tmp.replace(config.path)
    finally:
        tmp.unlink(missing_ok=True)
    return load(config.path)


def _edit(config: Config) -> tuple[tomlkit.TOMLDocument, Array]:
    try:
        doc = tomlkit.parse(config.path.read_text(encoding="utf-8-sig"))
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"{config.path}: {exc}") from None
    return doc, _feeds_array(doc)


def add_feeds(config: Config, feeds: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Append (url, name) pairs to `[sources] feeds`, the name as the line's comment.

    Returns:
        (URLs added, URLs already listed in gifts.toml or an OPML file, left alone).
    Raises:
        ConfigError: when the edited file would not validate (the file is left as it was).
    """
    listed = list_feeds(config)
    known = {f.url for f in listed}
    rows = [(f.url, f.name) for f in listed if f.origin == config.path.name]
    added, present = [], []
    for url, name in feeds:
        if url in known:
            present.append(url)
            continue
        known.add(url)
        rows.append((url, _clean_name(name)))
        added.append(url)
    if added:
        doc, old = _edit(config)
        # Rebuilt one feed a line, each with its name as the comment; the comment after the list stays.
        array = tomlkit.array()
        for url, name in rows:
            array.add_line(url, comment=name or None)
        array.add_line(indent="")  # the closing bracket on its own line
        array.trivia.comment_ws, array.trivia.comment = old.trivia.comment_ws, old.trivia.comment
        table = doc["sources"]
        if not isinstance(table, Table):  # _edit checked it; this tells mypy
            raise ConfigError(f"{config.path}: [sources] is not a table")
        table["feeds"] = array
        _write(config, doc)
    return added, present


def find_feed(config: Config, query: str) -> Feed:
    """The one feed `query` names: its URL, its name, or a unique part of either.

    Raises:
        InputError: none or several match (naming them).
    """
    return one_match(
        query,
        list_feeds(config),
        lambda f: (f.url, f.name),
        none=f"{query}: no feed matches (see `gifts sources list`)",
        several=lambda matches: (
            f"{query}: {len(matches)} feeds match ({', '.join(f.url for f in matches[:5])}); give the URL"
        ),
    )


def remove_feed(config: Config, query: str) -> Feed:
    """Remove the feed `query` names from `[sources] feeds`; returns it.

    Raises:
        InputError: no single feed matches, or it is listed in an OPML file (edit that file).
    """
    feed = find_feed(config, query)
    if feed.origin != config.path.name:
        raise InputError(f"{feed.url}: listed in {feed.origin}, not in gifts.toml; remove it from that file")
    doc, array = _edit(config)
    for index, value in enumerate(list(array)):
        if value == feed.url:
            del array[index]
            break
    _write(config, doc)
    return feed


def import_opml(config: Config, path: Path) -> tuple[list[str], list[str]]:
    """Copy an OPML file's feeds into `[sources] feeds` (names from their titles); nothing is fetched.

    Returns:
        (URLs added, URLs already listed).
    Raises:
        ConfigError: the OPML file is unreadable or not well-formed (naming its line).
    """
    return add_feeds(config, [(url, "" if title == url else title) for url, title in read_opml(path)])


def export_opml(config: Config, title: str | None = None) -> str:
    """OPML 2.0 listing every feed the workspace reads, every value XML-escaped."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{escape(title or f'research gifts: {config.name}')}</title></head>",
        "  <body>",
    ]
    for feed in list_feeds(config):
        name = feed.name or feed.url
        attrs: dict[str, Any] = {"type": "rss", "text": name, "title": name, "xmlUrl": feed.url}
        rendered = " ".join(
            f"{key}={quoteattr(str(value), {chr(10): '&#10;', chr(13): '&#13;'})}" for key, value in attrs.items()
        )
        lines.append(f"    <outline {rendered}/>")
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n"
