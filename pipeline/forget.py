"""Forgetting a person: what `gifts forget` erases and redacts in the store (the reports are
`pipeline.scrub`'s), and how later runs recognise them in an interview file (by a keyed hash,
never by name) and skip them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.db import erasure, people
from pipeline.db import suggestions as suggestion_rows
from pipeline.errors import ConfigError, GiftsError
from pipeline.interviews import (
    Interest,
    Interview,
    attribute,
    best_snippet,
    paragraph_sentences,
    parse_interview,
    quote_for,
    sentences,
)
from pipeline.notes_context import notes_about
from pipeline.scrub import MARK, Person
from pipeline.store import Store

KEY_FILE = "forget.key"
KEY_CHECK = "forget_key_check"
MIN_PHRASE_WORDS = 3  # a shorter notes sentence ("He agreed.") would also erase other people's text

_ENTITY_NAMES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
# CommonMark lets a backslash escape any ASCII punctuation; a report may escape more than it does today.
_MD_SPECIAL = frozenset(string.punctuation)


@dataclass(frozen=True, slots=True)
class Redacted:
    """Notes without a forgotten person, and every notes sentence that went (as sentences() cuts them)."""

    notes: str
    sentences: frozenset[str]


# -- the forgotten list: a keyed hash per person ---------------------------------------------------
def workspace_key(store: Store) -> bytes:
    """The workspace's secret for forgotten keys, created (mode 0600) beside the store on first use.

    A file, not a row: a copy of the store alone (attached to a bug report, opened in a notebook)
    must not let anyone confirm a guessed name and company by hashing them. The store keeps a check
    value, so a lost or swapped file stops the run instead of forgotten people silently coming back
    from their interview files. No commit: callers hold a transaction.

    Raises:
        ConfigError: when the file is missing, unreadable, or not the one the store's list was made with.
    """
    path = store.path.parent / KEY_FILE
    check = store.get_meta(KEY_CHECK)
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        if check is not None:
            raise ConfigError(
                f"{path}: missing; without it the people you forgot would be read back from their interview"
                f" files. Restore it from a backup of {path.parent}"
            ) from None
        key = _new_key(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); restore it from a backup of {path.parent}") from None
    if len(key) < 32:
        raise ConfigError(f"{path}: not a key (too short); restore it from a backup of {path.parent}")
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    digest = hmac.new(key, b"check", hashlib.sha256).hexdigest()
    if check is None:
        store.set_meta(KEY_CHECK, digest)
    elif not hmac.compare_digest(check, digest):
        raise ConfigError(f"{path}: not the key this store's forgotten list was made with; restore the right one")
    return key


def _new_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        # On disk before the forgotten row that needs it commits: a crash must not orphan the row.
        os.fsync(handle.fileno())
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def forgotten_hash(contact_id: str, key: bytes) -> str:
    """The forgotten list's entry for a contact: HMAC-SHA-256 under the workspace's key."""
    return hmac.new(key, f"forgotten|{contact_id}".encode(), hashlib.sha256).hexdigest()


def _unkeyed_hash(contact_id: str) -> str:
    """How entries were written before keyed hashes; only read, to rewrite them keyed."""
    return hashlib.sha256(f"forgotten|{contact_id}".encode()).hexdigest()


def forgotten_ids(store: Store, contact_ids: Iterable[str]) -> set[str]:
    """Which of these contacts are forgotten (no commit: the caller's transaction holds any change).

    An entry still under the old unkeyed hash is rewritten keyed the first time its person is met.
    """
    rows = {str(r["id_hash"]) for r in store.query("SELECT id_hash FROM forgotten")}
    if not rows:
        return set()
    key = workspace_key(store)
    found = set()
    for contact_id in sorted(set(contact_ids)):
        keyed, unkeyed = forgotten_hash(contact_id, key), _unkeyed_hash(contact_id)
        if keyed in rows:
            found.add(contact_id)
        elif unkeyed in rows:
            erasure.rekey_forgotten(store, unkeyed, keyed)
            found.add(contact_id)
    return found


# -- finding and redacting them in text ------------------------------------------------------------
def _flexible(text: str) -> str:
    """A regex for `text` as any report format may hold it: HTML entities, Markdown escapes, re-wrapped."""
    out = []
    for part in re.split(r"(\s+)", text.strip()):
        if not part:
            continue
        if part.isspace():
            out.append(r"\s+")
            continue
        for ch in part:
            alternatives = [re.escape(ch)]
            if ch in _ENTITY_NAMES:
                code = ord(ch)
                alternatives += [f"&{_ENTITY_NAMES[ch]};", f"&#0*{code};", f"&#[xX]0*{code:x};"]
            piece = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
            out.append(("\\\\?" if ch in _MD_SPECIAL else "") + piece)
    return "".join(out)


def mention_pattern(
    phrases: Iterable[str | None] = (), names: Iterable[str | None] = (), tokens: Iterable[str] = ()
) -> re.Pattern[str]:
    """One regex for every way a person shows in text (one that never matches when there is nothing).

    Args:
        phrases: notes sentences and quotes, matched anywhere, ignoring case (short ones are left out).
        names: full names, emails, contact ids: whole words, ignoring case.
        tokens: parts of a name: whole words, case kept ("Will" the person, not "will" the verb).
    """
    wanted = {p.strip() for p in phrases if p and len(p.split()) >= MIN_PHRASE_WORDS}
    alternatives = [f"(?i:{_flexible(p)})" for p in sorted(wanted, key=len, reverse=True)]
    whole = {n.strip() for n in names if n and n.strip()}
    alternatives += [rf"(?<!\w)(?i:{_flexible(n)})(?!\w)" for n in sorted(whole, key=len, reverse=True)]
    alternatives += [rf"(?<!\w){_flexible(t)}(?!\w)" for t in sorted(set(tokens), key=len, reverse=True)]
    # Longest first: at one position a whole sentence wins over the name inside it.
    return re.compile("|".join(alternatives) if alternatives else "(?!)")


def redact_notes(
    notes: str, names: Sequence[str], gone: Sequence[Person], elsewhere: Sequence[Person] = ()
) -> Redacted:
    """`notes` without the sentences about or naming the forgotten people, each replaced by MARK.

    Args:
        names: every interviewer of this interview, the forgotten ones too (attribution needs them all).
        gone: forgotten people who sat on this interview: the sentences attributed to them go, and
            so does any sentence with their full name, email, or a part of their name no one else has.
        elsewhere: forgotten people of other interviews: sentences with their full name or email go.
    """
    gone_names = {p.name for p in gone}
    kept_tokens = {t for n in names if n not in gone_names for t in n.split()}
    tokens = {t for p in gone for t in p.name.split() if len(t) > 1} - kept_tokens
    everyone = [*gone, *elsewhere]
    if not everyone:
        return Redacted(notes, frozenset())
    mention = mention_pattern(names=[x for p in everyone for x in (p.name, p.email)], tokens=tokens)
    if not gone and not mention.search(notes):
        return Redacted(notes, frozenset())  # the common case, for every other interview in the store
    about = attribute(notes, [n.split()[0] for n in names if n.split()])
    in_paragraphs = {s for paragraph in paragraph_sentences(notes) for s in paragraph}
    drop = {s for p in gone for s in about.get(p.name.split()[0], ())}
    drop |= {s for s in in_paragraphs if mention.search(s)}
    # Snippets are cut from the notes as one text, so a sentence can run across a paragraph end.
    for s in sentences(notes):
        if s not in in_paragraphs and (mention.search(s) or any(d in s for d in drop)):
            drop.add(s)
    text = notes
    if drop:
        pieces = []
        for piece in re.split(r"(\n\s*\n)", notes):
            found = sentences(piece)
            if not any(s in drop for s in found):
                pieces.append(piece)
                continue
            kept: list[str] = []
            for s in found:
                shown = MARK if s in drop else s
                if not (shown == MARK and kept and kept[-1] == MARK):
                    kept.append(shown)
            pieces.append(" ".join(kept))
        text = "".join(pieces)
    return Redacted(mention.sub(MARK, text), frozenset(drop))


def _resnippet(interest: Interest, first_name: str, allowed: Sequence[str]) -> Interest:
    """The interest with its notes snippet chosen again from the sentences that are left."""
    if interest.origin == "notes":
        return dataclasses.replace(interest, snippet=None, quote=None)
    snippet = best_snippet(interest.text, first_name, list(allowed))
    return dataclasses.replace(interest, snippet=snippet, quote=quote_for(interest.text, snippet) if snippet else None)


def without_forgotten(interview: Interview, forgotten: Mapping[str, Person]) -> Interview:
    """The interview as read from its file, less the forgotten people and what the notes say of them.

    Args:
        forgotten: contact id -> person, for every forgotten person named in any interview file.
    """
    gone = [forgotten[c.id] for c in interview.contacts if c.id in forgotten]
    gone_ids = {p.contact_id for p in gone}
    elsewhere = [p for p in forgotten.values() if p.contact_id not in gone_ids]
    redacted = redact_notes(interview.notes, [c.name for c in interview.contacts], gone, elsewhere)
    if not gone and redacted.notes == interview.notes:
        return interview
    allowed = [s for s in sentences(interview.notes) if s not in redacted.sentences]
    contacts = tuple(
        dataclasses.replace(
            c,
            said=tuple(s for s in c.said if s not in redacted.sentences),
            interests=tuple(
                _resnippet(i, c.first_name, allowed) if i.snippet in redacted.sentences else i for i in c.interests
            ),
        )
        for c in interview.contacts
        if c.id not in forgotten
    )
    return dataclasses.replace(interview, notes=redacted.notes, contacts=contacts)


# -- forget: the store ---------------------------------------------------------------------------------
def erase(store: Store, config: Config, contact_id: str, now: dt.datetime) -> list[str]:
    """Forget one contact everywhere; the caller holds the workspace lock.

    Their rows go; what the notes and other people's rows say of them is redacted; the store file
    is vacuumed; every report naming them is rewritten; the forgotten list gets their keyed hash.
    Returns what was done, one line each.
    """
    from pipeline import report, scrub
    from pipeline.passages import text_sha

    row = store.query("SELECT * FROM contacts WHERE id = ?", (contact_id,))[0]
    person = Person(contact_id, str(row["name"]), row["email"])
    names: dict[str, list[str]] = {}
    for r in store.query("SELECT interview_id, name FROM contacts ORDER BY rowid"):
        names.setdefault(str(r["interview_id"]), []).append(str(r["name"]))
    notes: dict[str, str] = {}
    redacted: dict[str, Redacted] = {}
    for r in store.query("SELECT id, notes FROM interviews"):
        notes[r["id"]] = text = r["notes"] or ""
        own = r["id"] == row["interview_id"]
        found = redact_notes(text, names.get(r["id"], []), [person] if own else [], [] if own else [person])
        if own or found.notes != text:
            redacted[r["id"]] = found
    dropped: set[str] = set()
    for found in redacted.values():
        dropped |= found.sentences
    theirs = store.query("SELECT text, snippet, quote FROM interests WHERE contact_id = ?", (contact_id,))
    # The vector of what the notes said about them (the rank stage's context) goes with their interests'.
    their_notes = {text_sha(t) for t in notes_about(store, [contact_id]).values()}
    others = store.query(
        "SELECT i.*, c.name, c.interview_id FROM interests i JOIN contacts c ON c.id = i.contact_id"
        " WHERE i.contact_id != ?",
        (contact_id,),
    )
    phrases = {*dropped, *(x for r in theirs for x in (r["snippet"], r["quote"]))}
    phrases |= {r["quote"] for r in others if r["snippet"] in dropped and r["quote"]}
    in_store = mention_pattern(phrases, [person.name, person.email])
    in_reports = mention_pattern(phrases, [person.name, person.email, contact_id])
    with store.transaction():
        counts = erasure.erase_contact(store, contact_id)
        still_used = {text_sha(r["text"]) for r in store.query("SELECT text FROM interests")}
        erasure.erase_vectors(store, ({text_sha(r["text"]) for r in theirs} | their_notes) - still_used)
        for interview_id, found in redacted.items():
            people.redact_notes(store, interview_id, found.notes)
        changed = _redact_rows(store, others, redacted, notes, in_store)
        key = workspace_key(store)
        erasure.list_forgotten(
            store, forgotten_hash(contact_id, key), _unkeyed_hash(contact_id), now.isoformat(timespec="seconds")
        )
        suggestion_rows.rank_again(store)
    done = [
        f"forgot {person.name}: {counts['interests']} interests, {counts['suggestions']} suggestions,"
        f" {counts['actions']} history entries"
    ]
    done.append(
        f"redacted what the stored notes of {len(redacted)} interview(s) say about them"
        f" ({len(dropped)} sentences) and {changed} of other people's stored entries"
    )
    done.append(_vacuum(store))

    def rerender(folder: Path) -> None:
        report.write_report(
            store, config, dt.datetime.combine(scrub.report_day(folder.name) or now.date(), now.timetz())
        )

    done += scrub.rewrite_reports(config.paths.reports, person, in_reports, rerender)
    files = files_naming(config.paths.interviews, person)
    done += [
        f"{path} still names them: later runs skip them while it does; edit it to remove them for good"
        for path in files
    ] or ["no interview file names them any more"]
    return done


def _redact_rows(
    store: Store,
    others: Sequence[Any],
    redacted: Mapping[str, Redacted],
    notes: Mapping[str, str],
    pattern: re.Pattern[str],
) -> int:
    """Other people's interests and history notes, less what named the forgotten person; returns rows changed."""
    changed = 0
    allowed = {
        interview_id: [s for s in sentences(notes[interview_id]) if s not in found.sentences]
        for interview_id, found in redacted.items()
    }
    for r in others:
        interest = Interest(
            str(r["id"]), str(r["contact_id"]), str(r["text"]), _text(r["snippet"]), str(r["kind"]),
            float(r["weight"]), str(r["origin"] or "front_matter"), _text(r["quote"]), _text(r["why"]),
        )  # fmt: skip
        found = redacted.get(str(r["interview_id"]))
        new = interest
        if found is not None and interest.snippet in found.sentences:
            new = _resnippet(interest, str(r["name"]).split()[0], allowed[str(r["interview_id"])])
        new = dataclasses.replace(
            new,
            text=pattern.sub(MARK, new.text),
            snippet=_sub(pattern, new.snippet),
            quote=_sub(pattern, new.quote),
            why=_sub(pattern, new.why),
        )
        if new != interest:
            people.redact_interest(store, new.id, new.text, new.snippet, new.quote, new.why)
            changed += 1
    for r in store.query("SELECT id, note FROM actions WHERE note IS NOT NULL"):
        if (note := pattern.sub(MARK, r["note"])) != r["note"]:
            suggestion_rows.redact_action_note(store, r["id"], note)
            changed += 1
    return changed


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _sub(pattern: re.Pattern[str], value: str | None) -> str | None:
    return None if value is None else pattern.sub(MARK, value)


def _vacuum(store: Store) -> str:
    """Rebuild the store file and empty its write-ahead log, so no old page still holds them."""
    if not erasure.vacuum(store):
        return (
            "erased them from the store file (secure delete, vacuumed), but a program reading the store kept"
            " its write-ahead log: close it (a notebook?) so SQLite can empty the log"
        )
    return "erased them from the store file (secure delete on, vacuumed, write-ahead log emptied)"


def files_naming(folder: Path, person: Person) -> list[Path]:
    """Interview files that still name the person (by name, email, or as an interviewer)."""
    if not folder.is_dir():
        return []
    pattern = mention_pattern(names=[person.name, person.email])
    found = []
    for path in sorted(folder.glob("*.md")):
        named = False
        try:
            named = bool(pattern.search(path.read_text(encoding="utf-8", errors="replace")))
            named = named or any(c.id == person.contact_id for c in parse_interview(path).contacts)
        except (OSError, GiftsError):
            pass
        if named:
            found.append(path)
    return found
