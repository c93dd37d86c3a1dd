"""One contact as the user sees it: found by name, described for `gifts profile --show`, banned or pinned.

Ban and pin are written into the interviewer's `ban:` / `pin:` list in the interview file itself (a
minimal edit that keeps comments and layout), so they survive, are visible, and apply at the next run.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.db.states import ActionKind, ActionScope
from pipeline.errors import GiftsError, InputError
from pipeline.interviews import Contact, Interview, parse_interview, read_interviews, split_front_matter
from pipeline.lookup import one_match
from pipeline.store import Store

LISTS = ("ban", "pin")
MAX_PHRASE_CHARS = 200


def match_contact(query: str, people: Sequence[tuple[str, str]]) -> str:
    """The id of the one (id, name) whose id or name is `query`, else the one containing it.

    Case-insensitive; an exact match wins over substrings, so "tom" finds Tom even beside Tomas.

    Raises:
        InputError: when no contact or several match.
    """
    contact_id, _ = one_match(
        query.strip(),
        people,
        lambda person: person,
        none=f"contact {query!r} not found (see `gifts status` for names)",
        several=lambda found: f"contact {query!r} is ambiguous: {', '.join(i for i, _ in found)}",
    )
    return contact_id


def find_contact(store: Store, query: str) -> str:
    """The id of the one contact whose id or name matches `query` (case-insensitive substring).

    Raises:
        InputError: when no contact or several match.
    """
    rows = store.query("SELECT id, name FROM contacts ORDER BY id")
    return match_contact(query, [(str(r["id"]), str(r["name"])) for r in rows])


def describe(store: Store, query: str) -> str:
    """What was understood about one contact and why, as text for `gifts profile --show`."""
    contact_id = find_contact(store, query)
    row = store.query(
        "SELECT c.*, i.date, i.status, i.position, i.path, i.cadence FROM contacts c"
        " JOIN interviews i ON i.id = c.interview_id WHERE c.id = ?",
        (contact_id,),
    )[0]
    lines = [
        f"{row['name']} ({', '.join(x for x in (row['role'], row['company']) if x)}), id {row['id']}",
        f"interview {row['date']} for {row['position'] or 'a role'}, status {row['status']}, file {row['path']}",
    ]
    cadence = json.loads(row["cadence"] or "{}")
    if cadence:
        lines.append("cadence overrides: " + ", ".join(f"{k} {v:g}" for k, v in sorted(cadence.items())))
    lines.append("interests:")
    labels = {"front_matter": "listed in the front matter", "pin": "pinned by you", "notes": "inferred from the notes"}
    for n, r in enumerate(store.query("SELECT * FROM interests WHERE contact_id = ? ORDER BY rowid", (contact_id,)), 1):
        lines.append(
            f"  {n}. {r['text']}  [{r['kind']}, weight {float(r['weight']):.2f}, {labels.get(r['origin'], 'listed')}]"
        )
        if r["why"]:
            lines.append(f"     why: {r['why']}")
        if r["snippet"]:
            lines.append(f'     notes: "{r["snippet"]}"')
        if r["quote"]:
            lines.append(f'     quoted in drafts as: "{r["quote"]}"')
    try:
        person = next(c for c in parse_interview(Path(row["path"])).contacts if c.id == contact_id)
        if person.ban:
            lines.append("banned: " + "; ".join(person.ban))
    except (OSError, StopIteration, GiftsError):
        pass
    refused = store.query(
        "SELECT s.matched_interest FROM actions a JOIN suggestions s ON s.id = a.suggestion_id"
        " WHERE a.contact_id = ? AND a.action = ? AND a.scope = ?"
        " GROUP BY s.matched_interest ORDER BY MIN(a.at)",
        (contact_id, ActionKind.NEVER, ActionScope.TOPIC),
    )
    if refused:
        lines.append("refused with `gifts mark ID never --topic`: " + "; ".join(r[0] for r in refused))
    replies = json.loads(row["replied"] or "[]") + [
        r["at"][:10]
        for r in store.query(
            "SELECT at FROM actions WHERE contact_id = ? AND action = ?", (contact_id, ActionKind.REPLY)
        )
    ]
    if replies:
        lines.append("replies: " + ", ".join(sorted(replies)))
    lines.append(f'drop or add an interest: gifts profile --ban "PHRASE" {row["id"]} (or --pin "PHRASE")')
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ListEdit:
    """What `add_to_list` did to an interview file: the lines it added or replaced, numbered as in the new file."""

    path: Path
    name: str
    key: str  # ban | pin
    phrase: str
    lines: tuple[tuple[int, str, str], ...]  # (line number, "+" added or "-" removed, text)
    note: str = ""  # e.g. a ban that a pin of the same phrase overrides

    @property
    def changed(self) -> bool:
        return bool(self.lines)

    def __str__(self) -> str:
        verb = {"ban": "banned", "pin": "pinned"}[self.key]
        if not self.changed:
            head = f'{self.name}: "{self.phrase}" is already in their {self.key}: list in {self.path}; nothing changed'
        else:
            head = f'{self.name}: {verb} "{self.phrase}" in {self.path}:'
        out = [head, *(f"  line {n} {sign} {text}" for n, sign, text in self.lines)]
        if self.note:
            out.append(f"note: {self.note}")
        if self.changed:
            out.append("it applies at the next `gifts profile` or `gifts run`")
        return "\n".join(out)


def find_in_interviews(folder: Path, query: str) -> tuple[Interview, Contact]:
    """The interview file and interviewer that `query` names (as `find_contact`, over the files).

    When one person sat on two interviews, the later one owns them, as in the profile stage.
    """
    owner: dict[str, tuple[Interview, Contact]] = {}
    for interview in sorted(read_interviews(folder), key=lambda i: (i.date, i.id)):
        for contact in interview.contacts:
            owner[contact.id] = (interview, contact)
    return owner[match_contact(query, [(cid, c.name) for cid, (_, c) in sorted(owner.items())])]


def add_to_list(folder: Path, query: str, key: str, phrase: str) -> ListEdit:
    """Add `phrase` to the `ban:` or `pin:` list of the interviewer `query` names, in their interview file.

    The edit is minimal: one item appended to the list as it is written (a block list, a [flow] list
    or a single string), or a new list after the person's last field; comments and layout stay. The
    result is validated as any interview file is, and must differ from the old one only by that item,
    before it replaces the file.

    Raises:
        InputError: for an unknown list, an empty or multi-line phrase, or an unknown contact.
        ConfigError: when an interview file does not validate (before or after the edit).
    """
    if key not in LISTS:
        raise InputError(f"list {key!r} is not one of {', '.join(LISTS)}")
    phrase = " ".join(phrase.split())
    if not phrase or len(phrase) > MAX_PHRASE_CHARS or not phrase.isprintable():
        raise InputError(f"--{key}: a phrase of 1 to {MAX_PHRASE_CHARS} printable characters, on one line")
    interview, contact = find_in_interviews(folder, query)
    current = getattr(contact, key)
    note = _note(contact, key, phrase)
    if phrase.lower() in (p.lower() for p in current):
        return ListEdit(interview.path, contact.name, key, phrase, (), note)
    raw = interview.path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    new_text = _with_item(text, interview.path, contact.name, key, phrase)
    _replace_checked(interview, contact, key, phrase, new_text, crlf, bom)
    return ListEdit(interview.path, contact.name, key, phrase, _changed_lines(text, new_text), note)


def _note(contact: Contact, key: str, phrase: str) -> str:
    lower = phrase.lower()
    if key == "ban" and any(lower in p.lower() for p in contact.pin):
        return f'"{phrase}" is also pinned, and a pin wins over a ban: remove it from pin: to drop it'
    if key == "pin" and any(b.lower() in lower for b in contact.ban):
        return f'"{phrase}" contains a banned phrase; a pin wins over a ban, so it counts as an interest'
    return ""


def _scalar(phrase: str, flow: bool) -> str:
    """`phrase` as a YAML scalar: plain when it reads back as the same string, else double-quoted."""
    if re.fullmatch(r"[A-Za-z0-9][\w .'/&+()-]*", phrase) and not (flow and re.search(r"[,\[\]{}]", phrase)):
        try:
            if yaml.safe_load(f"[{phrase}]" if flow else f"- {phrase}") == [phrase]:
                return phrase
        except yaml.YAMLError:
            pass
    return json.dumps(phrase, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _last_line(node: Any) -> int:
    """The last line (0-based) that holds any text of `node`."""
    if isinstance(node, yaml.ScalarNode):
        end = node.end_mark
        return int(end.line) if end.column > 0 or end.line == node.start_mark.line else int(end.line) - 1
    children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
    return max([int(node.start_mark.line), *(_last_line(c) for c in children)])


def _with_item(text: str, path: Path, name: str, key: str, phrase: str) -> str:
    """`text` with `phrase` appended to `name`'s `key` list (front matter lines are file lines)."""
    front, _, _ = split_front_matter(text, path)
    root: Any = yaml.compose(front, Loader=yaml.SafeLoader)
    people = next(v for k, v in root.value if k.value == "interviewers")
    person = next(p for p in people.value if any(k.value == "name" and v.value.strip() == name for k, v in p.value))
    offset = 3  # the front matter starts after the opening "---"
    lines = text.split("\n")
    found = [(k, v) for k, v in person.value if k.value == key]
    if not found:
        indent = " " * person.value[0][0].start_mark.column
        at = _last_line(person) + 1
        return "\n".join([*lines[:at], f"{indent}{key}:", f"{indent}  - {_scalar(phrase, False)}", *lines[at:]])
    value = found[0][1]
    if isinstance(value, yaml.SequenceNode) and value.flow_style:
        close = offset + value.end_mark.index - 1  # the closing "]"
        comma = ", " if value.value else ""
        return text[:close] + comma + _scalar(phrase, True) + text[close:]
    if isinstance(value, yaml.SequenceNode) and value.value:
        last = value.value[-1]
        line = lines[last.start_mark.line]
        dash = line.rfind("-", 0, last.start_mark.column)
        at = _last_line(last) + 1
        return "\n".join([*lines[:at], f"{line[:dash]}- {_scalar(phrase, False)}", *lines[at:]])
    # The file validated, so what is left is a single string ("ban: battery"): it becomes a list of two.
    start, end = offset + value.start_mark.index, offset + value.end_mark.index
    return text[:start] + f"[{_scalar(str(value.value), True)}, {_scalar(phrase, True)}]" + text[end:]


def _replace_checked(
    interview: Interview, contact: Contact, key: str, phrase: str, text: str, crlf: bool, bom: bool
) -> None:
    """Validate `text` as an interview whose only change is `phrase` in `key`, then put it in place."""
    path = interview.path
    temp = path.with_name(f".{path.name}.{os.getpid()}.edit")  # not *.md: never read as an interview
    data = (text.replace("\n", "\r\n") if crlf else text).encode("utf-8")
    temp.write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    try:
        try:
            edited = parse_interview(temp)
        except GiftsError as exc:
            raise type(exc)(str(exc).replace(str(temp), str(path))) from None

        def person(c: Contact, add: bool) -> Contact:
            # Interests follow from the lists (a ban drops listed ones, a pin adds one), and the
            # interview id from the file's name: both left out.
            c = replace(c, interests=(), interview_id="")
            if add and c.id == contact.id:
                c = replace(c, ban=(*c.ban, phrase)) if key == "ban" else replace(c, pin=(*c.pin, phrase))
            return c

        def fields(i: Interview, add: bool) -> tuple[Any, ...]:
            people = tuple(person(c, add) for c in i.contacts)
            return (i.company, i.position, i.date, i.status, i.notes, dict(i.cadence), people)

        if fields(edited, add=False) != fields(interview, add=True):
            raise InputError(f"{path}: could not add {phrase!r} to {contact.name}'s {key}: list; the file is unchanged")
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def _changed_lines(old: str, new: str) -> tuple[tuple[int, str, str], ...]:
    """Lines removed ("-", numbered as in the old text) and added ("+", as in the new text)."""
    a, b = old.split("\n"), new.split("\n")
    out: list[tuple[int, str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        out += [(n + 1, "-", a[n]) for n in range(i1, i2)]
        out += [(n + 1, "+", b[n]) for n in range(j1, j2)]
    return tuple(out)
