"""Sources: feed URLs from the config, feeds listed in OPML files, and local folders of files."""

from __future__ import annotations

import hashlib
import pyexpat
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
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced [ in the host
        return False


class _Refused(Exception):
    pass


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(feed URL, title) pairs from an OPML file; nested outlines (folders) are walked.

    Parsed with expat directly, so a DOCTYPE or entity declaration is refused in any encoding the
    file declares (UTF-16 included) before anything is expanded, and every error has its line.

    Raises:
        ConfigError: naming the file and line when it is not well-formed OPML or a URL is bad.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read OPML file: {exc.strerror}") from None
    parser = pyexpat.ParserCreate()
    feeds: list[tuple[str, str]] = []
    seen_root: list[str] = []

    def refuse(*_args: object) -> None:
        raise _Refused("OPML with a DOCTYPE or entities is refused")

    def start(name: str, attrs: dict[str, str]) -> None:
        if not seen_root:
            seen_root.append(name)
            if name.lower() != "opml":
                raise _Refused(f"root element is <{name}>, expected <opml>")
        if name != "outline":
            return
        url = (attrs.get("xmlUrl") or attrs.get("xmlurl") or "").strip()
        if not url:
            return
        if not _is_http(url):
            raise _Refused(f"outline xmlUrl {url!r} is not an http(s) URL")
        title = (attrs.get("title") or attrs.get("text") or url).strip()
        feeds.append((url, title or url))

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise ConfigError(f"{path}:{parser.CurrentLineNumber}: {exc}") from None
    except pyexpat.ExpatError as exc:
        if b"<!doctype" in data[:65536].replace(b"\0", b"").lower():  # a lower-case one is not even XML
            raise ConfigError(f"{path}:{exc.lineno}: OPML with a DOCTYPE or entities is refused") from None
        raise ConfigError(f"{path}:{exc.lineno}: not well-formed OPML ({pyexpat.ErrorString(exc.code)})") from None
    if not seen_root:
        raise ConfigError(f"{path}:1: not an OPML file (no root element)")
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
