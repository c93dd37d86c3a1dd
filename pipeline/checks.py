"""Warnings that do not stop a run: an empty interviews folder, an interview dated in the future, a
usable but out-of-range setting, a missing folder source. One line each, naming the file, line and key.

The runner records each run's warnings in the store (`record`), so the report and `gifts status`
show the last run's (`run_warnings`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path

from pipeline.config import Config, file_values, line_of
from pipeline.errors import GiftsError
from pipeline.interviews import parse_interview
from pipeline.store import Store

WARNINGS_META = "run_warnings"

# Shares and weights: a value above 1 loads (negative ones are refused by config.load) but makes
# no sense: a `min_score` above 1 lets nothing through, a weight above 1 swamps the others.
AT_MOST_ONE = {
    "rank": (
        "min_score", "freshness_weight", "quality_weight", "dense_weight", "lexical_weight", "score_floor",
        "inferred_floor", "min_coverage", "story_margin",
    ),
    "interests": ("inferred_weight", "min_similarity", "duplicate_similarity"),
    "cadence": ("min_gift_score",),
}  # fmt: skip


def config_warnings(config: Config) -> list[str]:
    """Out-of-range but usable settings, and folder sources that are not folders, as `file:line: key: why`."""
    try:
        text = config.path.read_text(encoding="utf-8-sig")
    except OSError:
        text = ""
    found: list[str] = []
    for section, keys in AT_MOST_ONE.items():
        values = file_values(getattr(config, section))
        for key in keys:
            value = values[key]
            if value > 1:
                line = line_of(text, section, key) or line_of(text, section, None) or 1
                found.append(f"{config.path}:{line}: {section}.{key} = {value:g} is above 1; {_effect(section, key)}")
    raw_folders = _raw_folders(text)
    for folder in config.sources.folders:
        if folder.is_dir():
            continue
        written = next((r for r in raw_folders if (config.root / r).resolve() == folder), None)
        line = _line_holding(text, written) or line_of(text, "sources", "folders") or 1
        why = "does not exist" if not folder.exists() else "is not a folder"
        found.append(f"{config.path}:{line}: sources.folders: {folder} {why}; it is skipped tonight")
    return found


def _effect(section: str, key: str) -> str:
    if key.endswith("_weight"):
        return "weights lie between 0 and 1"
    if section == "cadence":
        return "scores lie between 0 and 1, so no gift would ever be due"
    if key in ("min_score", "score_floor", "inferred_floor"):
        return "scores lie between 0 and 1, so nothing would be suggested"
    return "it is a share, between 0 and 1"


def _raw_folders(text: str) -> list[str]:
    try:
        sources = tomllib.loads(text).get("sources", {})
    except tomllib.TOMLDecodeError:
        return []
    folders = sources.get("folders", []) if isinstance(sources, dict) else []
    return [f for f in folders if isinstance(f, str)] if isinstance(folders, list) else []


def _line_holding(text: str, value: str | None) -> int | None:
    """The first line holding `value` as a quoted TOML string (a multi-line list names each on its own)."""
    if not value:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if f'"{value}"' in line or f"'{value}'" in line:
            return number
    return None


def interview_warnings(folder: Path, today: dt.date) -> list[str]:
    """An empty (or missing) interviews folder, and interviews dated after `today`.

    A file that does not validate is left to the profile stage, which stops the run with its error.
    """
    files = sorted(p for p in folder.glob("*.md") if not p.name.startswith("_")) if folder.is_dir() else []
    if not files:
        return [f"{folder}: no interview files (*.md); nothing to rank for: add one with `gifts new-interview`"]
    found: list[str] = []
    for path in files:
        try:
            interview = parse_interview(path)
        except (GiftsError, OSError):
            continue
        if interview.date > today:
            line = _date_line(path)
            found.append(
                f"{path}:{line}: date: {interview.date.isoformat()} is in the future (today is {today.isoformat()});"
                " no thank-you is due until then"
            )
    return found


def _date_line(path: Path) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if re.match(r"^date\s*:", line):
            return number
    return 1


def collect_warnings(config: Config, today: dt.date) -> list[str]:
    """Every warning for a run of this workspace on `today`."""
    return [*config_warnings(config), *interview_warnings(config.paths.interviews, today)]


def record(store: Store, warnings: list[str]) -> None:
    """Keep this run's warnings (replacing the last run's) for the report and `gifts status`."""
    with store.transaction():
        store.set_meta(WARNINGS_META, json.dumps(warnings))


def run_warnings(store: Store) -> list[str]:
    """The last run's warnings; none before the first run."""
    raw = store.get_meta(WARNINGS_META)
    return [str(w) for w in json.loads(raw)] if raw else []
