"""Row changes of `suggestions` and `actions` (what the user did with them), and the ranking's fingerprint.

A run ranks again only when the ranking's inputs changed (`runner`), and a change the
fingerprint cannot see (an undone action, a forgotten person) asks for it with `rank_again`.
"""

from __future__ import annotations

from pipeline.store import Store

RANK_FINGERPRINT = "rank_fingerprint"  # meta key: the inputs the active suggestions were ranked from


def rank_again(store: Store) -> None:
    """The next run ranks again, whatever its inputs."""
    store.db.execute("DELETE FROM meta WHERE key = ?", (RANK_FINGERPRINT,))


def deactivate_all(store: Store) -> None:
    """Every suggestion leaves the current ranking (the new one is upserted active in the same transaction)."""
    store.db.execute("UPDATE suggestions SET active = 0")


def save_draft(store: Store, suggestion_id: str, text: str | None) -> None:
    """The user's own draft note for a suggestion; None restores the generated one."""
    store.db.execute("UPDATE suggestions SET draft_edit = ? WHERE id = ?", (text, suggestion_id))


def insert_decision(
    store: Store,
    *,
    suggestion_id: str,
    contact_id: str,
    doc_id: str,
    action: str,
    at: str,
    note: str | None,
    scope: str | None,
    interest_id: str | None,
    features: str,
) -> None:
    """A decision on a suggestion (sent, skip, never), with the score parts it was made on."""
    store.db.execute(
        "INSERT INTO actions (suggestion_id, contact_id, doc_id, action, at, note, scope, interest_id, features)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (suggestion_id, contact_id, doc_id, action, at, note, scope, interest_id, features),
    )


def insert_event(store: Store, contact_id: str, action: str, at: str, note: str | None) -> None:
    """An event with a contact and no suggestion (reply, thanked)."""
    store.db.execute(
        "INSERT INTO actions (contact_id, action, at, note) VALUES (?, ?, ?, ?)", (contact_id, action, at, note)
    )


def delete_action(store: Store, action_id: int) -> None:
    store.db.execute("DELETE FROM actions WHERE id = ?", (action_id,))


def redact_action_note(store: Store, action_id: int, note: str) -> None:
    """A history note, less what named a forgotten person."""
    store.db.execute("UPDATE actions SET note = ? WHERE id = ?", (note, action_id))
