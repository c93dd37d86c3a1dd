"""Sources: feed URLs from the config, feeds listed in OPML files, and local folders of files.

A folder source reads only what is in it: symbolic links are never followed, and a file over the
fetch cap is refused from its size alone, never read.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pyexpat
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.config import Config, FetchSettings
from pipeline.db.states import DocState, SourceKind
from pipeline.errors import ConfigError
from pipeline.search import search_queries

FOLDER_SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}


@dataclass(frozen=True, slots=True)
class Source:
    """A place documents come from: a feed URL or a local folder."""

    id: str
    kind: str  # SourceKind: feed | folder
    location: str
    title: str
    origin: str


def source_id(kind: str, location: str) -> str:
    return f"{kind}-{hashlib.sha256(location.encode()).hexdigest()[:12]}"


def document_path(source_kind: str | None, location: str | None, guid: str | None) -> str | None:
    """Where a local file lies on disk: its folder source's location joined with its guid (the file's
    path inside the folder); None for a web document."""
    if source_kind != SourceKind.FOLDER or not location or not guid:
        return None
    return f"{location.rstrip('/')}/{guid}"


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
    """Every source the workspace names, de-duplicated by location, in a stable order: feeds, OPML
    feeds, folders, then the search sources when `[search] enabled` (pipeline/search.py)."""
    found: dict[str, Source] = {}
    for url in config.sources.feeds:
        found.setdefault(url, Source(source_id(SourceKind.FEED, url), SourceKind.FEED, url, url, "config"))
    for opml in config.sources.opml:
        for url, title in read_opml(opml):
            origin = str(opml.relative_to(config.root)) if opml.is_relative_to(config.root) else str(opml)
            found.setdefault(url, Source(source_id(SourceKind.FEED, url), SourceKind.FEED, url, title, origin))
    for folder in config.sources.folders:
        # A missing folder does not stop the run: its source fails with "folder missing", and the
        # run's warnings name the config line (pipeline.checks).
        location = str(folder)
        name = str(folder.relative_to(config.root)) if folder.is_relative_to(config.root) else location
        source = Source(source_id(SourceKind.FOLDER, name), SourceKind.FOLDER, location, name, "config")
        found.setdefault(location, source)
    # Opt-in search sources ([search] enabled): feeds like the others, found from the open interviews.
    for query in search_queries(config):
        source = Source(source_id(SourceKind.FEED, query.url), SourceKind.FEED, query.url, query.title, query.origin)
        found.setdefault(query.url, source)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class FolderFile:
    """A regular file of a supported kind in a folder source, as it was when the folder was listed."""

    path: Path
    relative: str  # POSIX path inside the folder: the document's guid
    kind: str  # pdf | html | text
    size: int
    device: int
    inode: int

    def read(self, max_bytes: int) -> bytes:
        """The file's bytes, opened without following a link and checked to be the file listed.

        Raises:
            FolderRefused: it became a link, another file or larger than `max_bytes` since it was listed.
            OSError: it cannot be read.
        """
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a link
                raise FolderRefused(
                    self.relative, DocState.BLOCKED, f"{self.relative}: a symbolic link, not followed"
                ) from None
            raise
        with os.fdopen(fd, "rb") as handle:
            now = os.fstat(handle.fileno())
            # Swapped for a link, a pipe or another file (through a renamed parent folder too) since it
            # was listed: the identity check catches what O_NOFOLLOW alone would not.
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (self.device, self.inode):
                raise FolderRefused(
                    self.relative, DocState.BLOCKED, f"{self.relative}: changed while being read, not read"
                )
            if now.st_size > max_bytes:
                raise FolderRefused(
                    self.relative, DocState.TOO_LARGE, too_large_reason(self.relative, now.st_size, max_bytes)
                )
            data = handle.read(max_bytes + 1)  # a file still growing stops at the cap + 1
        if len(data) > max_bytes:
            raise FolderRefused(
                self.relative, DocState.TOO_LARGE, too_large_reason(self.relative, len(data), max_bytes)
            )
        return data


class FolderRefused(Exception):
    """A folder file that is not read: `state` is the document state to record, `reason` names its path."""

    def __init__(self, relative: str, state: str, reason: str) -> None:
        super().__init__(reason)
        self.relative = relative
        self.state = state
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FolderListing:
    """What a folder source holds: files to read, files too large to read, and what was not looked at."""

    files: tuple[FolderFile, ...]
    too_large: tuple[FolderFile, ...]
    skipped: tuple[str, ...]  # one reason per link or special file, naming its path inside the folder
    max_bytes: int  # the cap the listing applied, for FolderFile.read


def too_large_reason(relative: str, size: int, max_bytes: int) -> str:
    return f"too_large: {relative} is {size} bytes, over fetch.max_bytes ({max_bytes}); not read"


def folder_files(folder: Path, max_bytes: int | None = None) -> FolderListing:
    """Every supported file under `folder`, sorted for stable ids, checked with lstat before any read.

    Links (to files or folders, inside or outside) are never followed, and neither are pipes,
    sockets or devices: each is skipped with a reason. Hidden files and other suffixes are ignored.

    Args:
        max_bytes: the cap on one file, as on fetched bodies (None: fetch.max_bytes' default).
    """
    cap = FetchSettings().max_bytes if max_bytes is None else max_bytes
    files: list[FolderFile] = []
    too_large: list[FolderFile] = []
    skipped: list[str] = []
    folders = [folder]
    while folders:
        current = folders.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError as exc:
            skipped.append(f"{_inside(current, folder)}: cannot be listed ({exc.strerror})")
            continue
        for entry in entries:
            path = Path(entry.path)
            relative = _inside(path, folder)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                skipped.append(f"{relative}: cannot be read ({exc.strerror})")
                continue
            if stat.S_ISLNK(info.st_mode):
                skipped.append(f"{relative}: a symbolic link, not followed")
            elif stat.S_ISDIR(info.st_mode):
                folders.append(path)
            elif (kind := FOLDER_SUFFIXES.get(path.suffix.lower())) and not entry.name.startswith("."):
                if not stat.S_ISREG(info.st_mode):
                    skipped.append(f"{relative}: not a regular file, not read")
                    continue
                found = FolderFile(path, relative, kind, info.st_size, info.st_dev, info.st_ino)
                (too_large if info.st_size > cap else files).append(found)
    return FolderListing(
        files=tuple(sorted(files, key=lambda f: f.path)),
        too_large=tuple(sorted(too_large, key=lambda f: f.path)),
        skipped=tuple(sorted(skipped)),
        max_bytes=cap,
    )


def _inside(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()
