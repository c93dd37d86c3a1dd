"""Rewriting report folders without a forgotten person, in every format (HTML, Markdown, CSV,
Parquet, any other text): their own section and rows go, other mentions become MARK, and other
people's data stays. Nothing is deleted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARK = "[forgotten]"
MD_MARK = r"\[forgotten\]"  # a bare [forgotten] followed by "(" would read as a Markdown link


@dataclass(frozen=True, slots=True)
class Person:
    """What names a forgotten person in text; held only while redacting, never stored."""

    contact_id: str
    name: str
    email: str | None = None


def rewrite_reports(
    reports: Path, person: Person, pattern: re.Pattern[str], rerender: Callable[[Path], None]
) -> list[str]:
    """Rewrite every report file naming the person without them; never delete one.

    The latest report is written again from the (already redacted) store; in every folder, their
    own section and rows go and any other mention becomes MARK, so other people's data stays.
    """
    if not reports.is_dir():
        return []
    folders = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    # Only a dated folder is the report writer's to write again (a copied `latest` is not).
    dated = [f for f in folders if report_day(f.name) is not None]
    done = []
    for folder in folders:
        files = [f for f in sorted(folder.iterdir()) if f.is_file() and not f.is_symlink()]
        if dated and folder == dated[-1] and any(_rewrite(f, person, pattern, write=False) for f in files):
            rerender(folder)
            files = [f for f in sorted(folder.iterdir()) if f.is_file() and not f.is_symlink()]
            done.append(f"rewrote the latest report {folder} without them")
        outcomes = [(f, _rewrite(f, person, pattern, write=True)) for f in files]
        rewritten = [f for f, outcome in outcomes if outcome == "rewritten"]
        if rewritten:
            done.append(f"rewrote {len(rewritten)} files of the report {folder.name} without them")
        done += [f"{f}: names them but is not a text file; left as it is" for f, o in outcomes if o == "binary"]
    return done


def report_day(name: str) -> dt.date | None:
    """The date a report folder is named after, or None for any other folder."""
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def _rewrite(path: Path, person: Person, pattern: re.Pattern[str], *, write: bool) -> str | None:
    """The outcome: "rewritten" (or would be), "binary" (names them, cannot be rewritten), or None."""
    if path.suffix == ".parquet":
        return _rewrite_parquet(path, person, pattern, write=write)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        needles = [x.encode() for x in (person.name, person.email) if x]
        return "binary" if any(n.lower() in raw.lower() for n in needles) else None
    if path.suffix == ".csv":
        new = _rewrite_csv(text, person, pattern)
    elif path.suffix in (".html", ".htm"):
        new = pattern.sub(MARK, _drop_html_sections(text, person))
    elif path.suffix == ".md":
        new = pattern.sub(MD_MARK, _drop_md_sections(text, person))
    else:
        new = pattern.sub(MARK, text)
    if new is None or new == text:
        return None
    if write:
        _replace(path, new.encode("utf-8"))
    return "rewritten"


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".forget.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _drop_html_sections(text: str, person: Person) -> str:
    """The report page less the person's card and their line in "Due today"."""
    from markupsafe import escape

    anchor = re.escape(str(escape(f"contact-{person.contact_id}")))
    text = re.sub(rf'<section\b[^>]*\bid="{anchor}"[^>]*>.*?</section>\s*', "", text, flags=re.S)
    return re.sub(rf'<li><a href="#{anchor}">.*?</li>\s*', "", text, flags=re.S)


def _drop_md_sections(text: str, person: Person) -> str:
    """report.md less the person's section and their item (with its draft) in "Due today"."""
    from pipeline.escaping import md_text

    header, item = f"## {md_text(person.name)} (", f"- {md_text(person.name)} ("
    out: list[str] = []
    skipping: str | None = None
    blank = False  # the last line skipped was blank: the list or section it closed still needs one
    for line in text.splitlines(keepends=True):
        if skipping == "section" and not line.startswith("## "):
            continue
        if skipping == "item" and (not line.strip() or line[:1].isspace()):
            blank = not line.strip()
            continue
        if skipping == "item" and blank and out and out[-1].strip():
            out.append("\n")
        skipping = "section" if line.startswith(header) else "item" if line.startswith(item) else None
        blank = False
        if skipping is None:
            out.append(line)
    return "".join(out)


def _is_theirs(cell: str, person: Person) -> bool:
    return cell.lstrip("'").strip().casefold() in (person.name.casefold(), person.contact_id)


def _rewrite_csv(text: str, person: Person, pattern: re.Pattern[str]) -> str | None:
    """The CSV less the person's rows (by its `contact` column), other cells redacted; None if unchanged."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return pattern.sub(MARK, text)
    if not rows:
        return None
    header = rows[0]
    column = header.index("contact") if "contact" in header else None
    kept = [
        [pattern.sub(MARK, cell) for cell in row]
        for row in rows[1:]
        if column is None or column >= len(row) or not _is_theirs(row[column], person)
    ]
    out = [[pattern.sub(MARK, cell) for cell in header], *kept]
    if out == rows:
        return None
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(out)
    return buffer.getvalue()


def _rewrite_parquet(path: Path, person: Person, pattern: re.Pattern[str], *, write: bool) -> str | None:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError):
        return "binary"
    theirs = pd.Series(False, index=frame.index)
    for column in ("contact_id", "contact"):
        if column in frame.columns:
            theirs |= frame[column].map(lambda v: isinstance(v, str) and _is_theirs(v, person)).astype(bool)
    out = frame[~theirs].copy()
    redacted = False
    for column in out.columns:
        if not (pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column])):
            continue
        cells = out[column].map(lambda v: pattern.sub(MARK, v) if isinstance(v, str) else v)
        # Compared cell by cell: a str column mapped may come back as object and never .equals itself.
        if any(isinstance(a, str) and a != b for a, b in zip(cells, out[column], strict=True)):
            out[column] = cells.astype(out[column].dtype)
            redacted = True
    if not redacted and len(out) == len(frame):
        return None
    if write:
        tmp = path.with_name(path.name + ".forget.tmp")
        out.to_parquet(tmp, index=False, engine="pyarrow")
        tmp.replace(path)
    return "rewritten"
