"""Sources: feed URLs from the config, feeds listed in OPML files, and local folders of files."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.config import Config
from pipeline.errors import ConfigError

FOLDER_SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}


@dataclass(frozen=True, slots=True)
class Source:
    """A place documents come from: a feed URL or a local folder."""

    id: str
    kind: str  # feed | folder
    location: str
    title: str
    origin: str


def source_id(kind: str, location: str) -> str:
    return f"{kind}-{hashlib.sha256(location.encode()).hexdigest()[:12]}"


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(feed URL, title) pairs from an OPML file; nested outlines (folders) are walked.

    Raises:
        ConfigError: naming the file and line when it is not well-formed OPML or a URL is bad.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read OPML file: {exc.strerror}") from None
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise ConfigError(f"{path}:1: OPML with a DOCTYPE or entities is refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 -- DOCTYPE/entities refused above; expat >= 2.4 bounds the rest
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else 1
        raise ConfigError(f"{path}:{line}: not well-formed OPML ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if root.tag.lower() != "opml":
        raise ConfigError(f"{path}:1: root element is <{root.tag}>, expected <opml>")
    feeds: list[tuple[str, str]] = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url:
            continue
        if not _is_http(url):
            raise ConfigError(f"{path}: outline xmlUrl {url!r} is not an http(s) URL")
        title = outline.get("title") or outline.get("text") or url
        feeds.append((url, title.strip()))
    return feeds


def configured_sources(config: Config) -> list[Source]:
    """Every source the workspace names, de-duplicated by location, in a stable order."""
    found: dict[str, Source] = {}
    for url in config.sources.feeds:
        found.setdefault(url, Source(source_id("feed", url), "feed", url, url, "config"))
    for opml in config.sources.opml:
        for url, title in read_opml(opml):
            origin = str(opml.relative_to(config.root)) if opml.is_relative_to(config.root) else str(opml)
            found.setdefault(url, Source(source_id("feed", url), "feed", url, title, origin))
    for folder in config.sources.folders:
        if not folder.is_dir():
            raise ConfigError(f"{config.path}: sources.folders: {folder} is not a folder")
        location = str(folder)
        name = str(folder.relative_to(config.root)) if folder.is_relative_to(config.root) else location
        found.setdefault(location, Source(source_id("folder", name), "folder", location, name, "config"))
    return list(found.values())


def folder_files(folder: Path) -> list[tuple[Path, str]]:
    """(file, kind) for every supported file under `folder`, sorted for stable ids."""
    files = []
    for path in sorted(folder.rglob("*")):
        kind = FOLDER_SUFFIXES.get(path.suffix.lower())
        if kind and path.is_file() and not path.name.startswith("."):
            files.append((path, kind))
    return files
