"""History: what the candidate did with suggestions (sent, skip, never), which ranking respects."""

from __future__ import annotations

import datetime as dt

from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.store import Store, WorkspaceLock

DECISIONS = ("sent", "skip", "never")


def record_decision(config: Config, suggestion_id: str, decision: str, note: str | None, now: dt.datetime) -> str:
    """Store one decision about a suggestion; returns a one-line confirmation.

    Raises:
        InputError: for an unknown decision or suggestion id.
    """
    if decision not in DECISIONS:
        raise InputError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    if not config.paths.store.exists():
        raise InputError(f"{config.paths.store}: no store yet; run `gifts run` first")
    with WorkspaceLock(config.paths.interim), Store(config.paths.store) as store:
        rows = store.query(
            "SELECT s.id, s.contact_id, s.doc_id, c.name, d.title FROM suggestions s"
            " JOIN contacts c ON c.id = s.contact_id JOIN documents d ON d.id = s.doc_id WHERE s.id = ?",
            (suggestion_id,),
        )
        if not rows:
            raise InputError(f"suggestion {suggestion_id!r} not found (ids are in the report's suggestions.csv)")
        row = rows[0]
        with store.transaction():
            store.db.execute(
                "INSERT INTO actions (suggestion_id, contact_id, doc_id, action, at, note) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["contact_id"],
                    row["doc_id"],
                    decision,
                    now.isoformat(timespec="seconds"),
                    note,
                ),
            )
    verb = {"sent": "sent to", "skip": "skipped for", "never": "never again (this source) for"}[decision]
    return f"recorded: {row['title']!r} {verb} {row['name']}"
