"""Workspace configuration: a `gifts.toml` overrides only the keys it sets (pipeline/settings.py holds
the defaults), read and validated here once, each error naming the file, line and key.

Every path in the file is relative to the file's folder, so a copied workspace is self-contained.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.settings import (
    BACKENDS,
    SEARCH_SERVICES,
    SECURITIES,
    TONES,
    CadenceSettings,
    Config,
    DraftSettings,
    EmbedSettings,
    FeedbackSettings,
    FetchSettings,
    HistorySettings,
    InterestSettings,
    NotifySettings,
    Paths,
    RankSettings,
    RaySettings,
    RetrievalSettings,
    SearchSettings,
    Sources,
)

# The settings are re-exported: the package imports them from `pipeline.config`, beside `load`.
__all__ = [
    "BACKENDS",
    "CONFIG_NAME",
    "RETRIEVAL_KEYS",
    "SEARCH_SERVICES",
    "SECURITIES",
    "TONES",
    "CadenceSettings",
    "Config",
    "DraftSettings",
    "EmbedSettings",
    "FeedbackSettings",
    "FetchSettings",
    "HistorySettings",
    "InterestSettings",
    "NotifySettings",
    "Paths",
    "RankSettings",
    "RaySettings",
    "RetrievalSettings",
    "SearchSettings",
    "Sources",
    "file_fields",
    "file_values",
    "line_of",
    "load",
    "with_overrides",
]

CONFIG_NAME = "gifts.toml"

_PATH_DEFAULTS = {
    "interviews": "interviews",
    "raw": "data/raw",
    "interim": "data/interim",
    "processed": "data/processed",
    "models": "models",
    "templates": "templates",
}

_SECTIONS: dict[str, type[Any]] = {
    "fetch": FetchSettings,
    "embed": EmbedSettings,
    "rank": RankSettings,
    "interests": InterestSettings,
    "cadence": CadenceSettings,
    "history": HistorySettings,
    "feedback": FeedbackSettings,
    "drafts": DraftSettings,
    "ray": RaySettings,
    "notify": NotifySettings,
    "search": SearchSettings,
}


# The [rank] keys kept in `RankSettings.retrieval`: a file writes them under [rank] beside the others.
# Retrieval's other settings (the fusion, BM25's parameters, ...) are not keys: `gifts eval` alone varies them.
RETRIEVAL_KEYS = ("dense_weight", "lexical_weight", "ann_threshold", "ann_nprobe", "ann_candidates")


def file_fields(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """A section's keys as a workspace file writes them, each with the settings field it sets."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if cls is RankSettings:
        del fields["retrieval"]
        fields |= {f.name: f for f in dataclasses.fields(RetrievalSettings) if f.name in RETRIEVAL_KEYS}
    return fields


def file_values(settings: Any) -> dict[str, Any]:
    """A section's settings as a workspace file writes them: key -> value."""
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    if isinstance(settings, RankSettings):
        retrieval = values.pop("retrieval")
        values |= {key: getattr(retrieval, key) for key in RETRIEVAL_KEYS}
    return values


def line_of(text: str, section: str | None, key: str | None) -> int | None:
    """Best-effort 1-based line of `key` inside `[section]` (tomllib keeps no positions)."""
    current: str | None = None
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            current = match.group(1)
            if key is None and current == section:
                return number
            continue
        if key is not None and current == section and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _fail(path: Path, text: str, section: str | None, key: str | None, message: str) -> ConfigError:
    # The key's line, else its section's; a value tomllib accepted has one of them, 1 as a last resort.
    line = line_of(text, section, key) or (line_of(text, section, None) if section else None) or 1
    where = f"{path}:{line}"
    name = ".".join(p for p in (section, key) if p)
    return ConfigError(f"{where}: {name}: {message}" if name else f"{where}: {message}")


def _coerce(value: Any, target: Any, *, base: Path) -> Any:
    """Convert a TOML value to the dataclass field's type, or raise TypeError."""
    if target in ("bool", bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if target in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an integer")
        return value
    if target in ("float", float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("expected a number")
        return float(value)
    if target in ("str", str):
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return value
    if target in ("Path | None",):
        if not isinstance(value, str):
            raise TypeError("expected a path string")
        return (base / value).resolve() if value else None
    if target in ("tuple[str, ...]",):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError("expected a list of strings")
        return tuple(value)
    raise TypeError(f"unsupported setting type {target}")


def _section(raw: dict[str, Any], name: str, cls: type[Any], path: Path, text: str) -> Any:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise _fail(path, text, None, name, "expected a table")
    fields = file_fields(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise _fail(path, text, name, key, f"unknown key (known: {', '.join(sorted(fields))})")
        try:
            values[key] = _coerce(value, fields[key].type, base=path.parent)
        except TypeError as exc:
            raise _fail(path, text, name, key, str(exc)) from None
        number = values[key]
        if isinstance(number, int | float) and not isinstance(number, bool):
            if not math.isfinite(number):
                raise _fail(path, text, name, key, "must be a finite number")
            if number < 0:
                raise _fail(path, text, name, key, "must not be negative")
    if cls is RankSettings:
        values["retrieval"] = RetrievalSettings(**{k: values.pop(k) for k in RETRIEVAL_KEYS if k in values})
    return cls(**values)


def load(path: Path) -> Config:
    """Read and validate a workspace's `gifts.toml`.

    Args:
        path: the file, or a workspace folder holding one.
    Returns:
        The validated configuration with absolute paths.
    Raises:
        ConfigError: naming the file, line and key of the first problem.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (create one with `gifts init` or pass --config)")
    path = path.resolve()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib keeps the position only in its message: "... (at line 3, column 5)".
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(found.group(1)) if found else text.count("\n") + 1
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise ConfigError(f"{path}:{line}: {message}") from None
    except RecursionError:
        raise ConfigError(f"{path}:1: nested too deeply") from None
    known = {"workspace", "paths", "sources", *_SECTIONS}
    for key in raw:
        if key not in known:
            raise _fail(path, text, key, None, f"unknown section (known: {', '.join(sorted(known))})")
    base = path.parent

    workspace = raw.get("workspace", {})
    if not isinstance(workspace, dict):
        raise _fail(path, text, None, "workspace", "expected a table")
    for key in workspace:
        if key != "name":
            raise _fail(path, text, "workspace", key, "unknown key (known: name)")
    name = workspace.get("name", base.name)
    if not isinstance(name, str):
        raise _fail(path, text, "workspace", "name", "expected a string")

    paths_raw = raw.get("paths", {})
    if not isinstance(paths_raw, dict):
        raise _fail(path, text, None, "paths", "expected a table")
    merged = dict(_PATH_DEFAULTS)
    for key, value in paths_raw.items():
        if key not in _PATH_DEFAULTS:
            raise _fail(path, text, "paths", key, f"unknown key (known: {', '.join(_PATH_DEFAULTS)})")
        if not isinstance(value, str) or not value:
            raise _fail(path, text, "paths", key, "expected a non-empty path string")
        merged[key] = value
    paths = Paths(**{k: (base / v).resolve() for k, v in merged.items()})

    sources_raw = raw.get("sources", {})
    if not isinstance(sources_raw, dict):
        raise _fail(path, text, None, "sources", "expected a table")
    lists: dict[str, tuple[str, ...]] = {}
    for key in sources_raw:
        if key not in ("feeds", "opml", "folders"):
            raise _fail(path, text, "sources", key, "unknown key (known: feeds, folders, opml)")
    for key in ("feeds", "opml", "folders"):
        value = sources_raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _fail(path, text, "sources", key, "expected a list of non-empty strings")
        lists[key] = tuple(value)
    for url in lists["feeds"]:
        if not re.match(r"^https?://[^/\s]+", url, flags=re.IGNORECASE):
            raise _fail(path, text, "sources", "feeds", f"{url!r} is not an http(s) URL")
    sources = Sources(
        feeds=lists["feeds"],
        opml=tuple((base / p).resolve() for p in lists["opml"]),
        folders=tuple((base / p).resolve() for p in lists["folders"]),
    )
    notify_raw = raw.get("notify")
    if isinstance(notify_raw, dict) and "password" in notify_raw:
        raise _fail(
            path, text, "notify", "password",
            "never put a password in this file: set password_env to the name of an environment variable holding it",
        )  # fmt: skip
    sections = {name: _section(raw, name, cls, path, text) for name, cls in _SECTIONS.items()}
    rank: RankSettings = sections["rank"]
    if rank.top_k < 1:
        raise _fail(path, text, "rank", "top_k", "must be at least 1")
    for key in ("ann_nprobe", "ann_candidates"):
        if getattr(rank.retrieval, key) < 1:
            raise _fail(path, text, "rank", key, "must be at least 1")
    for key in ("relative_floor", "story_cosine", "story_title_overlap", "notes_weight"):
        if not 0 <= getattr(rank, key) <= 1:
            raise _fail(path, text, "rank", key, "must be between 0 and 1")
    if rank.story_days < 0:
        raise _fail(path, text, "rank", "story_days", "must be 0 or more")
    embed: EmbedSettings = sections["embed"]
    if embed.passage_overlap >= embed.passage_words:
        raise _fail(path, text, "embed", "passage_overlap", "must be smaller than passage_words")

    if embed.backend not in BACKENDS:
        raise _fail(path, text, "embed", "backend", f"{embed.backend!r} is not one of {', '.join(BACKENDS)}")
    drafts: DraftSettings = sections["drafts"]
    if drafts.tone not in TONES:
        raise _fail(path, text, "drafts", "tone", f"{drafts.tone!r} is not one of {', '.join(TONES)}")
    feedback: FeedbackSettings = sections["feedback"]
    if not 0 < feedback.holdout < 1:
        raise _fail(path, text, "feedback", "holdout", "must be between 0 and 1")
    if feedback.pool < 1:
        raise _fail(path, text, "feedback", "pool", "must be at least 1")
    ray: RaySettings = sections["ray"]
    for key in ("workers", "batch_size"):
        if getattr(ray, key) < 1:
            raise _fail(path, text, "ray", key, "must be at least 1")
    _check_notify(sections["notify"], path, text)
    _check_search(sections["search"], path, text)
    return Config(path=path, root=base, name=name, paths=paths, sources=sources, **sections)


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _check_notify(notify: NotifySettings, path: Path, text: str) -> None:
    """The digest's settings: a well-formed address set, and no login sent in the clear off this machine."""
    if notify.security not in SECURITIES:
        raise _fail(path, text, "notify", "security", f"{notify.security!r} is not one of {', '.join(SECURITIES)}")
    if not 0 < notify.smtp_port < 65536:
        raise _fail(path, text, "notify", "smtp_port", "must be between 1 and 65535")
    if notify.timeout_s <= 0:
        raise _fail(path, text, "notify", "timeout_s", "must be more than 0")
    if notify.password_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", notify.password_env):
        raise _fail(path, text, "notify", "password_env", "must be the name of an environment variable, not a password")
    for key, values in (("sender", (notify.sender,) if notify.sender else ()), ("to", notify.to)):
        for value in values:
            # One plain address each: a line break would let a value write headers of its own.
            if not re.fullmatch(r"[^\s@<>,]+@[^\s@<>,]+", value):
                raise _fail(path, text, "notify", key, f"{value!r} is not an email address (name@example.org)")
    if notify.review_url and not re.fullmatch(r"https?://[^\s]+", notify.review_url, flags=re.IGNORECASE):
        raise _fail(path, text, "notify", "review_url", f"{notify.review_url!r} is not an http(s) URL")
    if notify.user and not notify.password_env:
        raise _fail(path, text, "notify", "password_env", "a login (user) needs the variable holding its password")
    if notify.user and notify.security == "none" and notify.smtp_host.lower() not in _LOOPBACK_HOSTS:
        raise _fail(
            path, text, "notify", "security", "a login over an unencrypted connection is allowed only to this machine"
        )
    if notify.enabled:
        for key in ("smtp_host", "sender", "to"):
            if not getattr(notify, key):
                raise _fail(path, text, "notify", key, "must be set when notify.enabled is true")


def _check_search(search: SearchSettings, path: Path, text: str) -> None:
    """Known services, at least one item and one day, and http(s) base URLs."""
    for service in search.services:
        if service not in SEARCH_SERVICES:
            raise _fail(path, text, "search", "services", f"{service!r} is not one of {', '.join(SEARCH_SERVICES)}")
    if not 1 <= search.items_per_query <= 100:  # each service pages its answers; 100 is a night's worth
        raise _fail(path, text, "search", "items_per_query", "must be between 1 and 100")
    if search.every_days < 1:
        raise _fail(path, text, "search", "every_days", "must be at least 1")
    for service in SEARCH_SERVICES:
        url = getattr(search, f"{service}_url")
        if not re.fullmatch(r"https?://[^/\s]+[^\s]*", url, flags=re.IGNORECASE):
            raise _fail(path, text, "search", f"{service}_url", f"{url!r} is not an http(s) URL")


def with_overrides(config: Config, *, offline: bool | None = None) -> Config:
    """Return a copy with command-line flags applied (flags beat the file)."""
    if offline is None:
        return config
    return dataclasses.replace(config, fetch=dataclasses.replace(config.fetch, offline=offline))
