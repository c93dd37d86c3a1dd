"""Profile stage: interview Markdown files (YAML front matter + notes) to contacts and interests.

Interview notes are personal data: they are read here and stored only in the local store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError

STATUSES = ("active", "offer", "filled", "rejected")
OPEN_STATUSES = ("active", "offer")
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Interest:
    id: str
    contact_id: str
    text: str
    snippet: str | None  # the sentence of the notes it came from, when one matches
    kind: str  # said | inferred
    weight: float


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    interview_id: str
    name: str
    role: str | None
    email: str | None
    company: str
    interests: tuple[Interest, ...]

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True, slots=True)
class Interview:
    id: str
    path: Path
    sha: str
    company: str
    position: str | None
    date: dt.date
    status: str
    notes: str
    contacts: tuple[Contact, ...]


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses YAML aliases, which is how alias ("billion laughs") bombs work."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        for (key_node, _), key in zip(node.value, keys, strict=True):
            if keys.count(key) > 1:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """(front matter, notes, line where notes start)."""
    if not text.startswith("---"):
        raise ConfigError(f"{path}:1: missing YAML front matter (the file must start with ---)")
    match = re.search(r"^---\s*$", text[3:], flags=re.M)
    if match is None:
        raise ConfigError(f"{path}:1: front matter is not closed with a --- line")
    front = text[3 : 3 + match.start()]
    notes = text[3 + match.end() :]
    return front, notes.strip(), front.count("\n") + 2


def _field_line(front: str, name: str) -> int:
    for number, line in enumerate(front.splitlines(), start=1):
        if re.match(rf"^\s*-?\s*{re.escape(name)}\s*:", line):
            return number + 1  # +1 for the opening ---
    return 1


def sentences(notes: str) -> list[str]:
    flat = re.sub(r"\s+", " ", re.sub(r"^\s*[-*#]+\s*", "", notes, flags=re.M))
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", flat) if len(s.strip()) > 3]


def _words(text: str) -> set[str]:
    return {w[:6] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def best_snippet(interest: str, first_name: str, notes: list[str]) -> str | None:
    """The notes sentence that shares most words with the interest, preferring ones naming the person."""
    wanted = _words(interest)
    best: tuple[float, str] | None = None
    for sentence in notes:
        overlap = len(wanted & _words(sentence))
        if overlap == 0:
            continue
        score = overlap + (0.5 if first_name.lower() in sentence.lower() else 0.0)
        if best is None or score > best[0]:
            best = (score, sentence)
    return best[1] if best else None


def parse_interview(path: Path) -> Interview:
    """Read and validate one interview file.

    Raises:
        ConfigError: naming the file, line and field of the first problem.
    """
    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes; is this an interview file?")
    if b"\x00" in raw:
        raise ConfigError(f"{path}: contains NUL bytes; not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    front, notes, _ = split_front_matter(text, path)
    try:
        data = yaml.load(front, Loader=_NoAliasLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line}: front matter: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: front matter nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:2: front matter must be a mapping of fields")

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError(f"{path}:{_field_line(front, field)}: {field}: {message}")

    known = {"company", "position", "date", "status", "interviewers", "cadence"}
    for key in data:
        if key not in known:
            raise fail(str(key), f"unknown field (known: {', '.join(sorted(known))})")
    company = data.get("company")
    if not isinstance(company, str) or not company.strip():
        raise fail("company", "required, a non-empty string")
    position = data.get("position")
    if position is not None and not isinstance(position, str):
        raise fail("position", "must be a string")
    date = data.get("date")
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise fail("date", f"{date!r} is not a YYYY-MM-DD date") from None
    if isinstance(date, dt.datetime):
        date = date.date()
    if not isinstance(date, dt.date):
        raise fail("date", "required, a YYYY-MM-DD date")
    status = data.get("status", "active")
    if status not in STATUSES:
        raise fail("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    people = data.get("interviewers")
    if not isinstance(people, list) or not people:
        raise fail("interviewers", "required, a list of people (name, role, email, interests)")

    interview_id = slug(path.stem)
    note_sentences = sentences(notes)
    contacts = []
    for person in people:
        if not isinstance(person, dict):
            raise fail(
                "interviewers",
                "each interviewer must be a mapping with name, role, email, interests",
            )
        for key in person:
            if key not in ("name", "role", "email", "interests"):
                raise fail(str(key), "unknown interviewer field (known: email, interests, name, role)")
        name = person.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail("name", "each interviewer needs a non-empty name")
        for key in ("role", "email"):
            if person.get(key) is not None and not isinstance(person.get(key), str):
                raise fail(key, "must be a string")
        interests_raw = person.get("interests", [])
        if isinstance(interests_raw, str):
            interests_raw = [interests_raw]
        if not isinstance(interests_raw, list) or not all(isinstance(i, str) and i.strip() for i in interests_raw):
            raise fail("interests", f"{name}: must be a list of non-empty strings")
        contact_id = f"{slug(name)}-{slug(company)}"
        first = name.split()[0]
        interests = tuple(
            Interest(
                id=hashlib.sha256(f"{contact_id}|{text.strip()}".encode()).hexdigest()[:12],
                contact_id=contact_id,
                text=text.strip(),
                snippet=best_snippet(text, first, note_sentences),
                kind="said",
                weight=1.0,
            )
            for text in dict.fromkeys(interests_raw)
        )
        contacts.append(
            Contact(
                id=contact_id,
                interview_id=interview_id,
                name=name.strip(),
                role=person.get("role"),
                email=person.get("email"),
                company=company.strip(),
                interests=interests,
            )
        )
    return Interview(
        id=interview_id,
        path=path,
        sha=hashlib.sha256(raw).hexdigest(),
        company=company.strip(),
        position=position,
        date=date,
        status=status,
        notes=notes,
        contacts=tuple(contacts),
    )


def read_interviews(folder: Path) -> list[Interview]:
    """Every `*.md` interview under `folder`, validated; the first bad file raises."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: interviews folder does not exist")
    return [parse_interview(p) for p in sorted(folder.glob("*.md")) if not p.name.startswith("_")]
