"""Writing interview files: the `gifts new-interview` scaffold, a filled-in interview from the review
app's form, and a status change. Every file written is read back with the same validator as a
file the user wrote (`interviews.parse_interview`), and none is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError, InputError
from pipeline.interviews import (
    SCAFFOLD,
    STATUSES,
    Interview,
    _value_node,
    parse_interview,
    slug,
    split_front_matter,
)

SCAFFOLD_PERSON = """\
  - name: {name}{name_pad}# required
    role:                     # optional, e.g. VP Engineering
    email:                    # optional, never used to send anything
    interests:                # what they care about, in your words or theirs; one per line:
    #   - {interest}
    # pin:                    # optional: phrases that must count as interests
    #   - data contracts
    # ban:                    # optional: phrases no interest may contain (inferred ones included)
    #   - hiring
    # replied: 2026-12-01     # optional: dates they replied (or use `gifts log reply`)
"""


def _pad(value: str, width: int = 24) -> str:
    return " " * max(1, width - len(value))


def scaffold(company: str, date: dt.date, position: str | None, names: list[str]) -> str:
    """The text of a new interview file with every field commented; it validates once its placeholders
    (PLACEHOLDER_NAME without --interviewer, the notes instructions) are replaced."""

    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar

    people = "".join(
        SCAFFOLD_PERSON.format(name=quoted(n), name_pad=_pad(quoted(n), 20), interest="what they want to achieve")
        for n in (names or ["Interviewer Name"])
    )
    position_text = quoted(position) if position else "''"
    return SCAFFOLD.format(
        company=quoted(company),
        company_pad=_pad(quoted(company)),
        position=position_text,
        position_pad=_pad(position_text, 22),
        date=date.isoformat(),
        people=people,
    )


def write_scaffold(folder: Path, company: str, date: dt.date, position: str | None, names: list[str]) -> Path:
    """Create `folder/<date>-<company>.md` from `scaffold`; never overwrites.

    Raises:
        InputError: when the file already exists.
    """
    if not company.strip():
        raise InputError("--company: must not be empty")
    path = folder / f"{date.isoformat()}-{slug(company)}.md"
    if path.exists():
        raise InputError(f"{path}: already exists; edit it, or pass another --date")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(
        scaffold(company.strip(), date, position, [n.strip() for n in names if n.strip()]), encoding="utf-8"
    )
    return path


def write_interview(
    folder: Path,
    company: str,
    date: dt.date,
    position: str | None,
    people: list[dict[str, Any]],
    notes: str,
) -> Path:
    """Create `folder/<date>-<company>.md` as `write_scaffold` does, filled in: a file that validates.

    The text is `scaffold`'s (the same commented fields), with each person's role, email and interests
    filled and the notes in place of the instructions; it is checked by `parse_interview` before it
    lands, and never overwrites a file.

    Args:
        people: dicts of name, role, email (strings or None) and interests (a list of strings).
    Raises:
        InputError: an empty company, or the file already exists.
        ConfigError: the filled-in file does not validate (naming the field, as for any interview file).
    """
    if not company.strip():
        raise InputError("company: must not be empty")
    path = folder / f"{date.isoformat()}-{slug(company)}.md"
    if path.exists():
        raise InputError(f"{path}: already exists; edit it, or pick another date")
    named = [p for p in people if str(p.get("name") or "").strip()]
    text = scaffold(company.strip(), date, position, [str(p["name"]).strip() for p in named])
    head, _ = text.rsplit("---\n", 1)
    blocks = head.split("  - name: ")
    filled = [blocks[0]]
    for index, block in enumerate(blocks[1:]):
        # No interviewer named: the scaffold's placeholder stays, and validation names the field.
        filled.append(_filled_person(block, named[index]) if index < len(named) else block)
    text = "  - name: ".join(filled) + "---\n" + notes.strip().replace("\r\n", "\n") + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{path.name}.{os.getpid()}.new"  # not *.md: never read as an interview
    temp.write_text(text, encoding="utf-8")
    try:
        try:
            parse_interview(temp)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(temp), str(path))) from None
        try:
            os.link(temp, path)  # fails when the file appeared meanwhile: never overwrite
        except FileExistsError:
            raise InputError(f"{path}: already exists; edit it, or pick another date") from None
    finally:
        temp.unlink(missing_ok=True)
    return path


def _filled_person(block: str, person: dict[str, Any]) -> str:
    """One SCAFFOLD_PERSON block with role, email and interests written in (comments kept)."""

    def quoted(text: str) -> str:
        return json.dumps(" ".join(text.split()), ensure_ascii=False)

    for key in ("role", "email"):
        value = str(person.get(key) or "").strip()
        if value:
            filled = f"    {key}: {quoted(value)}  #"
            block = re.sub(rf"^    {key}:\s+#", filled.replace("\\", "\\\\"), block, count=1, flags=re.M)
    interests = [" ".join(str(i).split()) for i in person.get("interests") or [] if str(i).strip()]
    if interests:
        items = "".join(f"      - {quoted(i)}\n" for i in interests)
        block = re.sub(r"^(    interests:.*\n)    #   - .*\n", lambda m: m.group(1) + items, block, count=1, flags=re.M)
    return block


def write_status(path: Path, status: str) -> Interview:
    """Set an interview file's `status:` with a minimal edit (comments and layout kept), validated.

    The edited text must parse as an interview equal to the old one but for its status before it
    replaces the file. Returns the interview as now written.

    Raises:
        InputError: for an unknown status, or an edit that would change anything else.
        ConfigError: when the file does not validate.
    """
    if status not in STATUSES:
        raise InputError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    before = parse_interview(path)
    if before.status == status:
        return before
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    front, _, _ = split_front_matter(text, path)
    value = _value_node(yaml.compose(front, Loader=yaml.SafeLoader), "status")
    if isinstance(value, yaml.ScalarNode):
        start, end = 3 + value.start_mark.index, 3 + value.end_mark.index  # the front matter starts after "---"
        text = text[:start] + status + text[end:]
    else:  # no status: line (active by default): one added after the date
        text = re.sub(r"^(date:.*)$", lambda m: f"{m.group(1)}\nstatus: {status}", text, count=1, flags=re.M)
    temp = path.with_name(f".{path.name}.{os.getpid()}.edit")
    data = (text.replace("\n", "\r\n") if crlf else text).encode("utf-8")
    temp.write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    try:
        try:
            after = parse_interview(temp)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(temp), str(path))) from None

        def fields(i: Interview) -> tuple[Any, ...]:
            # The interview id comes from the file's name, which the temporary copy does not share.
            people = tuple(replace(c, interview_id="") for c in i.contacts)
            return (i.company, i.position, i.date, i.notes, dict(i.cadence), people)

        if after.status != status or fields(after) != fields(before):
            raise InputError(f"{path}: could not set status: {status} alone; the file is unchanged")
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
    return parse_interview(path)
