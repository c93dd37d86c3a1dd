"""Profile stage: interview Markdown files (YAML front matter + notes) to contacts and interests.

Interview notes are personal data: they are read here and stored only in the local store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import CadenceSettings
from pipeline.db.states import InterviewStatus
from pipeline.errors import ConfigError

STATUSES = (InterviewStatus.ACTIVE, InterviewStatus.OFFER, InterviewStatus.FILLED, InterviewStatus.REJECTED)
OPEN_STATUSES = (InterviewStatus.ACTIVE, InterviewStatus.OFFER)  # filled and rejected stop every follow-up
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Interest:
    id: str
    contact_id: str
    text: str
    snippet: str | None  # the sentence of the notes it came from, when one matches
    kind: str  # said | inferred
    weight: float
    origin: str = "front_matter"  # front_matter | notes | pin
    quote: str | None = None  # the interviewer's words, as the notes give them
    why: str | None = None  # how an inferred interest was found


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    interview_id: str
    name: str
    role: str | None
    email: str | None
    company: str
    interests: tuple[Interest, ...]
    pin: tuple[str, ...] = ()  # phrases the user insists are interests
    ban: tuple[str, ...] = ()  # phrases no interest of this contact may contain
    replied: tuple[dt.date, ...] = ()  # replies written in the interview file
    said: tuple[str, ...] = ()  # the notes sentences about this person

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
    cadence: Mapping[str, float] = field(default_factory=dict)  # per-interview overrides of [cadence]


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses YAML aliases, which is how alias ("billion laughs") bombs work."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # One pass over a set: a front matter of 100,000 keys must fail in seconds, not minutes.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: SafeLoader's own construct_mapping names it below
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Dates stay strings so that an impossible one (2026-02-30) is reported by field and line, not
# raised from inside yaml's constructor.
_NoAliasLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


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


def paragraph_sentences(notes: str) -> list[list[str]]:
    """The notes as paragraphs of sentences (a blank line ends a paragraph)."""
    return [found for block in re.split(r"\n\s*\n", notes) if (found := sentences(block))]


def attribute(notes: str, first_names: list[str]) -> dict[str, list[str]]:
    """Sentences about each person: those naming them, and the ones after, up to the next name.

    A sentence naming two people belongs to neither, and attribution never crosses a paragraph.
    """
    out: dict[str, list[str]] = {name: [] for name in first_names}
    for paragraph in paragraph_sentences(notes):
        current: str | None = None
        for sentence in paragraph:
            named = [n for n in first_names if re.search(rf"\b{re.escape(n)}\b", sentence)]
            if named:
                current = named[0] if len(named) == 1 else None
            if current is not None:
                out[current].append(sentence)
    return out


_REPORTING = re.compile(
    r"^(?:and |but |so |then )?(?:that )?(?:[A-Z][a-z]+|she|he|they|we|I)?\s*"
    r"(?:also |then |later |mostly |really )?"
    r"(?:said|says|mentioned|asked|explained|noted|added|told me|wants|wanted|worries|worried|complained"
    r"|opened by saying|is|was|are|were|spent [^,]*? on)\s+(?:that |about |how |is |was )?",
    flags=re.I,
)


def quote_for(phrase: str, sentence: str) -> str:
    """The clause of `sentence` that best carries `phrase`, without its "she said that" lead-in."""
    clauses = [c.strip() for c in re.split(r"[,;:]\s+|\s+(?:and|but) that\s+", sentence.rstrip(".!?")) if c.strip()]
    wanted = _words(phrase)
    best = max(clauses, key=lambda c: len(wanted & _words(c)), default=sentence)
    stripped = _REPORTING.sub("", best, count=1).strip()
    return stripped if len(stripped.split()) >= 3 else best


def _key_line(node: Any, key: str) -> int | None:
    """File line of `key` in a YAML mapping node (front matter line 0 is the opening --- line)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return int(key_node.start_mark.line) + 1
    return None


def _value_node(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value
    return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _load_front(front: str, path: Path) -> tuple[Any, Any]:
    """(data, root node) of the front matter; YAML errors name the file and line."""
    loader = _NoAliasLoader(front)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line}: front matter: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}:2: front matter nested too deeply") from None
    finally:
        loader.dispose()
    return data, node


PERSON_FIELDS = ("name", "role", "email", "interests", "pin", "ban", "replied")
CADENCE_FIELDS = tuple(f.name for f in fields(CadenceSettings))


def parse_interview(path: Path) -> Interview:
    """Read and validate one interview file.

    Raises:
        ConfigError: naming the file, line and field of the first problem.
    """
    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        line = raw[:MAX_FILE_BYTES].count(b"\n") + 1  # where the file goes past the limit
        raise ConfigError(f"{path}:{line}: larger than {MAX_FILE_BYTES} bytes; is this an interview file?")
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: contains NUL bytes; not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    front, notes, notes_line = split_front_matter(text, path)
    data, root = _load_front(front, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:2: front matter must be a mapping of fields")

    def fail(field_name: str, message: str, node: Any = root) -> ConfigError:
        line = _key_line(node, field_name) or (int(node.start_mark.line) + 1 if node is not None else 1)
        return ConfigError(f"{path}:{line}: {field_name}: {message}")

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
    position = (position or "").strip() or None
    date = _date(data.get("date"))
    if date is None:
        given = data.get("date")
        raise fail(
            "date", f"{given!r} is not a YYYY-MM-DD date" if given is not None else "required, a YYYY-MM-DD date"
        )
    status = data.get("status", InterviewStatus.ACTIVE)
    if status not in STATUSES:
        raise fail("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    cadence = _cadence(data.get("cadence"), lambda message: fail("cadence", message))
    people = data.get("interviewers")
    if not isinstance(people, list) or not people:
        raise fail("interviewers", "required, a list of people (name, role, email, interests)")
    people_nodes = getattr(_value_node(root, "interviewers"), "value", [])

    interview_id = slug(path.stem)
    note_sentences = sentences(notes)
    contacts = []
    for index, person in enumerate(people):
        node = people_nodes[index] if index < len(people_nodes) else root
        contacts.append(_person(person, node, index, company.strip(), interview_id, note_sentences, fail))
    _refuse_placeholder_notes(text, notes_line, path)
    about = attribute(notes, [c.first_name for c in contacts])
    contacts = [
        Contact(
            c.id, c.interview_id, c.name, c.role, c.email, c.company, c.interests, c.pin, c.ban, c.replied,
            tuple(about.get(c.first_name, ())),
        )
        for c in contacts
    ]  # fmt: skip
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
        cadence=cadence,
    )


# What `gifts new-interview` writes for the user to replace. An interview still holding one is
# refused: no draft may greet "Interviewer", and the instructions are not notes about anyone.
PLACEHOLDER_NAME = "Interviewer Name"
PLACEHOLDER_INTEREST = "what they want to achieve"


# The file `gifts new-interview` writes (pipeline/interview_files.py); validation refuses its untouched instructions.
SCAFFOLD = """\
---
company: {company}{company_pad}# required
position: {position}{position_pad}# optional: the role you interviewed for
date: {date}              # required, YYYY-MM-DD: the thank-you is due within a day of it
status: active                # active | offer | filled | rejected (filled/rejected: nothing more is due)
# cadence:                    # optional: this interview's own follow-up rhythm (defaults: gifts.toml [cadence])
#   min_gap_days: 10          #   days between two follow-ups
#   max_per_month: 2          #   follow-ups in any 30 days
#   reply_pause_days: 21      #   quiet days after a reply
#   min_gift_score: 0.4       #   a gift must score this much to be worth sending
#   thank_you_hours: 24       #   the thank-you's deadline after the interview
interviewers:                 # required, one or more
{people}---
Notes: what did each person say they want to achieve? Write it as you heard it: name the person
("Priya said ..."), then the sentences after are about them until another name comes up.
Interests are also inferred from these notes; pin or ban them above.
"""


def _refuse_placeholder_notes(text: str, notes_line: int, path: Path) -> None:
    """Raise when the notes still hold the instructions SCAFFOLD wrote, naming their line."""
    instructions = SCAFFOLD.rsplit("---\n", 1)[1]
    first = re.split(r"(?<=[?.])\s", instructions, maxsplit=1)[0]  # "Notes: what did each person say ...?"
    for number, line in enumerate(text.splitlines()[notes_line - 1 :], start=notes_line):
        if first in line:
            raise ConfigError(
                f"{path}:{number}: notes: still the instructions `gifts new-interview` wrote; "
                "replace them with your notes (or delete them)"
            )


def _cadence(value: Any, fail: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"a mapping of {', '.join(CADENCE_FIELDS)}")
    out: dict[str, float] = {}
    for key, number in value.items():
        if key not in CADENCE_FIELDS:
            raise fail(f"unknown key {key!r} (known: {', '.join(CADENCE_FIELDS)})")
        if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
            raise fail(f"{key} must be a non-negative number")
        out[str(key)] = float(number)
    return out


def _strings(value: Any) -> list[str] | None:
    """A string or a list of non-empty strings as a list; None when it is neither."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return [v.strip() for v in value]


def _person(
    person: Any, node: Any, index: int, company: str, interview_id: str, note_sentences: list[str], fail: Any
) -> Contact:
    if not isinstance(person, dict):
        raise fail("interviewers", "each interviewer must be a mapping with name, role, email, interests", node)
    for key in person:
        if key not in PERSON_FIELDS:
            raise fail(str(key), f"unknown interviewer field (known: {', '.join(sorted(PERSON_FIELDS))})", node)
    name = person.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", f"each interviewer needs a non-empty name (interviewer {index + 1})", node)
    if name.split()[0].lower() == PLACEHOLDER_NAME.split()[0].lower():
        raise fail("name", f"{name.strip()!r} is the placeholder `gifts new-interview` wrote: write their name", node)
    for key in ("role", "email"):
        if person.get(key) is not None and not isinstance(person.get(key), str):
            raise fail(key, "must be a string", node)
    said = _strings(person.get("interests") or [])
    if said is None:
        raise fail("interests", f"{name}: must be a list of non-empty strings", node)
    if any(text.lower() == PLACEHOLDER_INTEREST for text in said):
        raise fail("interests", f"{name}: {PLACEHOLDER_INTEREST!r} is the example `gifts new-interview` wrote", node)
    lists = {}
    for key in ("pin", "ban"):
        found = _strings(person.get(key, []))
        if found is None:
            raise fail(key, f"{name}: must be a list of non-empty strings", node)
        lists[key] = found
    replied_raw = person.get("replied", [])
    replied_list = replied_raw if isinstance(replied_raw, list) else [replied_raw]
    replied = [_date(v) for v in replied_list]
    if any(d is None for d in replied):
        raise fail("replied", f"{name}: reply dates must be YYYY-MM-DD", node)
    contact_id = f"{slug(name)}-{slug(company)}"
    first = name.split()[0]
    banned = [b.lower() for b in lists["ban"]]
    interests = []
    for text, origin in [*((t, "front_matter") for t in said), *((t, "pin") for t in lists["pin"])]:
        if any(b in text.lower() for b in banned) and origin != "pin":
            continue
        snippet = best_snippet(text, first, note_sentences)
        interests.append(
            Interest(
                id=interest_id(contact_id, text),
                contact_id=contact_id,
                text=text,
                snippet=snippet,
                kind="said",
                weight=1.0,
                origin=origin,
                quote=quote_for(text, snippet) if snippet else None,
            )
        )
    unique = list({i.text.lower(): i for i in reversed(interests)}.values())[::-1]
    return Contact(
        id=contact_id,
        interview_id=interview_id,
        name=name.strip(),
        role=person.get("role"),
        email=person.get("email"),
        company=company,
        interests=tuple(unique),
        pin=tuple(lists["pin"]),
        ban=tuple(lists["ban"]),
        replied=tuple(d for d in replied if d is not None),
    )


def interest_id(contact_id: str, text: str) -> str:
    return hashlib.sha256(f"{contact_id}|{text.strip()}".encode()).hexdigest()[:12]


def read_interviews(folder: Path) -> list[Interview]:
    """Every `*.md` interview under `folder`, validated; the first bad file raises."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: interviews folder does not exist")
    return [parse_interview(p) for p in sorted(folder.glob("*.md")) if not p.name.startswith("_")]
