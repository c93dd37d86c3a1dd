"""History: what the candidate did (sent, skip, never, a reply), which ranking and the planner respect.

Also `forget`, the entry point; `pipeline.forget` does the erasing.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.db import people
from pipeline.db import suggestions as suggestion_rows
from pipeline.db.states import ActionKind, ActionScope, DocState
from pipeline.display import shown
from pipeline.errors import InputError
from pipeline.sources import document_path
from pipeline.store import Store, WorkspaceLock

DECISIONS = (ActionKind.SENT, ActionKind.SKIP, ActionKind.NEVER)
# What a `never` refuses: the document alone (the default), its whole source (feed or folder), or the
# suggestion's interest. A `never` recorded with no scope dates from when it always meant the source.
SCOPES = (ActionScope.DOCUMENT, ActionScope.SOURCE, ActionScope.TOPIC)
CONTACT_EVENTS = (ActionKind.REPLY, ActionKind.THANKED)
# What a suggestions.csv `decision` cell may say (case-insensitive) -> (decision, never scope).
CSV_DECISIONS = {
    "sent": (ActionKind.SENT, None),
    "skip": (ActionKind.SKIP, None),
    "never": (ActionKind.NEVER, ActionScope.DOCUMENT),
    "never document": (ActionKind.NEVER, ActionScope.DOCUMENT),
    "never source": (ActionKind.NEVER, ActionScope.SOURCE),
    "never topic": (ActionKind.NEVER, ActionScope.TOPIC),
}


@dataclass(frozen=True, slots=True)
class Action:
    contact_id: str
    doc_id: str | None
    action: str  # sent | skip | never | reply | thanked
    at: dt.datetime
    scope: str | None = None
    interest_id: str | None = None


@dataclass(frozen=True, slots=True)
class Exclusions:
    """Per contact: documents never to suggest, and interests (topics) to leave out."""

    docs: dict[str, set[str]] = field(default_factory=dict)
    interests: dict[str, set[str]] = field(default_factory=dict)


def load_actions(store: Store) -> list[Action]:
    return [
        Action(
            r["contact_id"], r["doc_id"], r["action"], dt.datetime.fromisoformat(r["at"]), r["scope"], r["interest_id"]
        )
        for r in store.query("SELECT * FROM actions ORDER BY at, id")
    ]


def exclusions(
    actions: Iterable[Action],
    doc_source: Mapping[str, str],
    company_of: Mapping[str, str],
    today: dt.date,
    colleague_window_days: int,
) -> Exclusions:
    """What each contact must not be offered (pure).

    - documents sent, skipped or refused for this contact, and every document of a refused source
      (`never` with scope source, or with no scope: recorded when `never` meant the source);
    - an interest refused as a topic (`never` with scope topic);
    - documents sent to a colleague (same company) within the window: colleagues talk to each other.

    Args:
        doc_source: document id -> source id.
        company_of: contact id -> company, for every contact still in the store.
    """
    out = Exclusions()
    by_source: dict[str, set[str]] = {}
    for doc, source in doc_source.items():
        by_source.setdefault(source, set()).add(doc)
    colleagues: dict[str, set[str]] = {}
    for contact, company in company_of.items():
        colleagues.setdefault(company.casefold(), set()).add(contact)
    since = today - dt.timedelta(days=colleague_window_days)
    for a in actions:
        docs = out.docs.setdefault(a.contact_id, set())
        if a.action in DECISIONS and a.doc_id:
            docs.add(a.doc_id)
        if a.action == ActionKind.NEVER and a.scope == ActionScope.TOPIC and a.interest_id:
            out.interests.setdefault(a.contact_id, set()).add(a.interest_id)
        elif (
            a.action == ActionKind.NEVER
            and a.scope in (ActionScope.SOURCE, None)
            and a.doc_id
            and a.doc_id in doc_source
        ):
            docs.update(by_source[doc_source[a.doc_id]])
        if a.action == ActionKind.SENT and a.doc_id and a.at.date() >= since and a.contact_id in company_of:
            for other in colleagues[company_of[a.contact_id].casefold()] - {a.contact_id}:
                out.docs.setdefault(other, set()).add(a.doc_id)
    return out


def _suggestion(store: Store, suggestion_id: str) -> Any:
    rows = store.query(
        "SELECT s.id, s.contact_id, s.doc_id, s.interest_id, s.matched_interest, s.rank, s.score, s.parts,"
        " c.name, d.title, d.source_id, d.words, d.kind, d.url, d.guid, i.kind AS interest_kind,"
        " src.kind AS source_kind, src.location AS source_location,"
        " COALESCE(src.title, src.location) AS source FROM suggestions s"
        " JOIN contacts c ON c.id = s.contact_id JOIN documents d ON d.id = s.doc_id"
        " LEFT JOIN sources src ON src.id = d.source_id"
        " LEFT JOIN interests i ON i.id = s.interest_id WHERE s.id = ?",
        (suggestion_id,),
    )
    return rows[0] if rows else None


def _features(row: Any) -> str:
    """Score parts and document facts as they were when the decision was made, for the feedback model."""
    parts = json.loads(row["parts"] or "{}")
    return json.dumps(
        {
            **parts,
            "score": row["score"],
            "rank": row["rank"],
            "words": row["words"] or 0,
            "doc_kind": row["kind"] or "",
            "source_id": row["source_id"] or "",
            "interest_kind": row["interest_kind"] or "said",
        },
        sort_keys=True,
    )


def _insert(store: Store, row: Any, decision: str, scope: str | None, note: str | None, now: dt.datetime) -> None:
    suggestion_rows.insert_decision(
        store,
        suggestion_id=row["id"],
        contact_id=row["contact_id"],
        doc_id=row["doc_id"],
        action=decision,
        at=now.isoformat(timespec="seconds"),
        note=note,
        scope=scope,
        interest_id=row["interest_id"] if scope == ActionScope.TOPIC else None,
        features=_features(row),
    )


def _open_store(config: Config) -> Store:
    if not config.paths.store.exists():
        raise InputError(f"{config.paths.store}: no store yet; run `gifts run` first")
    return Store(config.paths.store)


def record_decision(
    config: Config,
    suggestion_id: str,
    decision: str,
    note: str | None,
    now: dt.datetime,
    scope: str = "document",
) -> str:
    """Store one decision about a suggestion, once; returns a one-line confirmation of what it covers.

    Args:
        scope: for `never`: "document" (this document only), "source" (every document of its feed
            or folder, now and later) or "topic" (the suggestion's interest, dropped from the
            contact's profile; later profile runs keep it out).
    Returns:
        "recorded: ..." naming exactly what was excluded (a document's title and file path or URL,
        a source's name and how many documents it holds, a topic), or "already recorded ..." when
        the same decision was recorded before: nothing is recorded twice.
    Raises:
        InputError: for an unknown decision, scope or suggestion id.
    """
    if decision not in DECISIONS:
        raise InputError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    if scope not in SCOPES:
        raise InputError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    scope_used = scope if decision == ActionKind.NEVER else None
    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        row = _suggestion(store, suggestion_id)
        if row is None:
            raise InputError(f"suggestion {suggestion_id!r} not found (ids are in the report's suggestions.csv)")
        earlier = store.scalar(
            "SELECT MIN(at) FROM actions WHERE suggestion_id = ? AND action = ? AND scope IS ?",
            (suggestion_id, decision, scope_used),
        )
        if earlier is None:
            with store.transaction():
                _insert(store, row, decision, scope_used, note, now)
                if scope_used == ActionScope.TOPIC and row["interest_id"]:
                    people.drop_interest(store, row["contact_id"], row["interest_id"])
        held = int(
            store.scalar(
                "SELECT COUNT(*) FROM documents WHERE source_id = ? AND state = ?",
                (row["source_id"], DocState.EXTRACTED),
            )
            or 0
        )
    what = _decision_text(row, decision, scope_used, held)
    if earlier is not None:
        return f"already recorded on {str(earlier)[:10]}: {what} (nothing changed)"
    return f"recorded: {what}"


def _decision_text(row: Any, decision: str, scope: str | None, held: int) -> str:
    """What a decision covers, in words: the document (title, then file path or URL), source or topic."""
    name = shown(row["name"])
    path = document_path(row["source_kind"], row["source_location"], row["guid"])
    where = f"file {path}" if path else shown(row["url"]) if row["url"] else None
    document = repr(shown(row["title"])) + (f" ({where})" if where else "")
    source = repr(shown(row["source"] or row["source_id"]))
    if decision == ActionKind.SENT:
        return f"{document} sent to {name}"
    if decision == ActionKind.SKIP:
        return f"{document} skipped for {name}"
    if scope == ActionScope.TOPIC:
        return f"never again for {name}: the topic {shown(row['matched_interest'])!r}, dropped from their interests"
    if scope == ActionScope.SOURCE:
        count = f"{held} document{'s' if held != 1 else ''}"
        return f"never again for {name}: everything from the source {source} ({count} now, and any it adds later)"
    return f"never again for {name}: only the document {document}, not the rest of {source}"


def record_event(config: Config, contact: str, event: str, note: str | None, now: dt.datetime) -> str:
    """Record a reply from a contact (pauses their schedule) or a thank-you sent without a gift.

    One of each per contact and day: the same event again that day is "already recorded", not a second one.
    """
    from pipeline.contacts import find_contact

    if event not in CONTACT_EVENTS:
        raise InputError(f"event {event!r} is not one of {', '.join(CONTACT_EVENTS)}")
    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        contact_id = find_contact(store, contact)
        name = store.scalar("SELECT name FROM contacts WHERE id = ?", (contact_id,))
        day = now.date().isoformat()
        already = store.scalar(
            "SELECT COUNT(*) FROM actions WHERE contact_id = ? AND action = ? AND substr(at, 1, 10) = ?",
            (contact_id, event, day),
        )
        if not already:
            with store.transaction():
                suggestion_rows.insert_event(store, contact_id, event, now.isoformat(timespec="seconds"), note)
    what = f"{'a reply from' if event == ActionKind.REPLY else 'a thank-you (no gift) to'} {name} on {day}"
    return f"already recorded: {what} (nothing changed)" if already else f"recorded: {what}"


def refused_topics(store: Store) -> set[tuple[str, str]]:
    """(contact id, interest id) of every interest refused with `never --topic`: kept out of the profile."""
    return {
        (r["contact_id"], r["interest_id"])
        for r in store.query(
            "SELECT contact_id, interest_id FROM actions WHERE action = ? AND scope = ? AND interest_id IS NOT NULL",
            (ActionKind.NEVER, ActionScope.TOPIC),
        )
    }


def import_decisions(config: Config, path: Path, now: dt.datetime) -> dict[str, int]:
    """Record every filled-in `decision` cell of an edited suggestions.csv.

    Every row is checked before anything is written; a row already recorded (same suggestion and
    decision) is not recorded twice, so importing the same file again changes nothing.

    Raises:
        InputError: naming the file, line and column of the first bad cell.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    for column in ("suggestion_id", "decision"):
        if column not in (reader.fieldnames or []):
            raise InputError(f"{path}:1: {column}: column missing (is this a report's suggestions.csv?)")
    wanted: list[tuple[int, str, str, str | None]] = []
    for row in reader:
        cell = (row.get("decision") or "").strip().lstrip("'").strip().lower().replace("-", " ").replace("_", " ")
        if not cell:
            continue
        if cell not in CSV_DECISIONS:
            raise InputError(f"{path}:{reader.line_num}: decision: {cell!r} is not one of {', '.join(CSV_DECISIONS)}")
        decision, scope = CSV_DECISIONS[cell]
        wanted.append((reader.line_num, (row.get("suggestion_id") or "").strip().lstrip("'"), decision, scope))
    counts = {"recorded": 0, "already": 0}
    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        rows = {}
        for line, suggestion_id, _, _ in wanted:
            rows[suggestion_id] = _suggestion(store, suggestion_id)
            if rows[suggestion_id] is None:
                raise InputError(f"{path}:{line}: suggestion_id: {suggestion_id!r} not found in the store")
        with store.transaction():
            for _, suggestion_id, decision, scope in wanted:
                seen = store.scalar(
                    "SELECT COUNT(*) FROM actions WHERE suggestion_id = ? AND action = ? AND scope IS ?",
                    (suggestion_id, decision, scope),
                )
                if seen:
                    counts["already"] += 1
                    continue
                _insert(store, rows[suggestion_id], decision, scope, f"imported from {path.name}", now)
                if scope == ActionScope.TOPIC and rows[suggestion_id]["interest_id"]:
                    people.drop_interest(store, rows[suggestion_id]["contact_id"], rows[suggestion_id]["interest_id"])
                counts["recorded"] += 1
    return counts


def forget(config: Config, contact: str, now: dt.datetime) -> list[str]:
    """Forget a contact: their rows, what the notes and others' rows say of them, every report naming them.

    The interview file is the user's own and is not edited: a keyed hash of the contact id is kept
    so later runs skip them in it. Returns what was done, one line each (see `pipeline.forget.erase`).
    """
    from pipeline.contacts import find_contact
    from pipeline.forget import erase

    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        return erase(store, config, find_contact(store, contact), now)


MAX_DRAFT_CHARS = 20_000


def undo_action(config: Config, action_id: int) -> str:
    """Undo one recorded action (sent, skip, never, reply, thanked) by deleting its row.

    A refused topic comes back into the profile at the next run (the interview file is read again),
    and the next run ranks again: the ranking's fingerprint counts actions by their highest id,
    which a delete can bring back.

    Raises:
        InputError: when no action has this id (already undone).
    """
    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        rows = store.query(
            "SELECT a.action, a.scope, a.at, c.name, c.interview_id, d.title FROM actions a"
            " LEFT JOIN contacts c ON c.id = a.contact_id LEFT JOIN documents d ON d.id = a.doc_id WHERE a.id = ?",
            (action_id,),
        )
        if not rows:
            raise InputError(f"action {action_id} not found (already undone?)")
        row = rows[0]
        with store.transaction():
            suggestion_rows.delete_action(store, action_id)
            if row["action"] == ActionKind.NEVER and row["scope"] == ActionScope.TOPIC:
                people.read_interview_again(store, row["interview_id"])
            suggestion_rows.rank_again(store)
    what = f"{row['action']}" + (f" ({row['scope']})" if row["scope"] else "")
    about = f" of {shown(row['title'])!r}" if row["title"] else ""
    return f"undone: {what}{about} for {shown(row['name'])} on {str(row['at'])[:10]}"


def save_draft(config: Config, suggestion_id: str, text: str) -> str:
    """Keep the user's edit of a suggestion's draft note with the suggestion; empty text restores the generated one.

    Raises:
        InputError: for an unknown suggestion, or a draft longer than MAX_DRAFT_CHARS.
    """
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_DRAFT_CHARS:
        raise InputError(f"draft: at most {MAX_DRAFT_CHARS} characters")
    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        row = _suggestion(store, suggestion_id)
        if row is None:
            raise InputError(f"suggestion {suggestion_id!r} not found")
        with store.transaction():
            suggestion_rows.save_draft(store, suggestion_id, text or None)
    return f"draft {'saved' if text else 'reset to the generated one'} for {shown(row['name'])}"


def contact_history(store: Store, contact_id: str) -> list[dict[str, Any]]:
    """What happened with one contact, newest first: id, action, scope, at, note, title, url."""
    return [
        {key: shown(value) if isinstance(value, str) else value for key, value in dict(r).items()}
        for r in store.query(
            "SELECT a.id, a.suggestion_id, a.action, a.scope, a.at, a.note, d.title, d.url FROM actions a"
            " LEFT JOIN documents d ON d.id = a.doc_id WHERE a.contact_id = ? ORDER BY a.at DESC, a.id DESC",
            (contact_id,),
        )
    ]


def set_interview_status(config: Config, interview_id: str, status: str) -> str:
    """Change an interview's status in its file (a minimal, validated edit) and in the store, at once.

    filled and rejected stop every follow-up of its interviewers from now on; the next run reads
    the file again (its stored hash no longer matches) and finds the same status.

    Raises:
        InputError: for an unknown interview or status, or a file outside the interviews folder.
    """
    from pipeline.interview_files import write_status

    with WorkspaceLock(config.paths.interim), _open_store(config) as store:
        path = store.scalar("SELECT path FROM interviews WHERE id = ?", (interview_id,))
        if path is None:
            raise InputError(f"interview {interview_id!r} not found")
        folder = config.paths.interviews.resolve()
        file = Path(path).resolve()
        if not file.is_relative_to(folder):
            raise InputError(f"{path}: not in the interviews folder {folder}")
        interview = write_status(file, status)
        with store.transaction():
            people.set_interview_status(store, interview_id, status)
    return f"{interview.company}: status {status} written to {file}"
