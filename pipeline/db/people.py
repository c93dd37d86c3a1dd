"""Row changes of `interviews`, `contacts` and `interests` outside the profile's upserts."""

from __future__ import annotations

from pipeline.store import Store


def delete_interview(store: Store, interview_id: str) -> None:
    """An interview goes with its contacts and their interests (to be written again, or gone from disk)."""
    for row in store.query("SELECT id FROM contacts WHERE interview_id = ?", (interview_id,)):
        clear_interests(store, row["id"])
    store.db.execute("DELETE FROM contacts WHERE interview_id = ?", (interview_id,))
    store.db.execute("DELETE FROM interviews WHERE id = ?", (interview_id,))


def clear_interests(store: Store, contact_id: str) -> None:
    """A contact's interests go, before the profile writes the ones its interview file gives now."""
    store.db.execute("DELETE FROM interests WHERE contact_id = ?", (contact_id,))


def drop_interest(store: Store, contact_id: str, interest_id: str) -> None:
    """Take one interest out of a contact's profile (`never --topic`).

    The refusal itself is the history's `never` action, which `profile_interviews` reads to keep the
    interest out when the interview file is read again.
    """
    store.db.execute("DELETE FROM interests WHERE id = ? AND contact_id = ?", (interest_id, contact_id))


def set_interview_status(store: Store, interview_id: str, status: str) -> None:
    store.db.execute("UPDATE interviews SET status = ? WHERE id = ?", (status, interview_id))


def read_interview_again(store: Store, interview_id: str) -> None:
    """An empty hash makes the next run read the interview file again (and profile it anew)."""
    store.db.execute("UPDATE interviews SET sha = '' WHERE id = ?", (interview_id,))


def redact_notes(store: Store, interview_id: str, notes: str) -> None:
    """Notes with a forgotten person taken out; the file is read again, so co-interviewers get
    their snippets and inferred interests from what is left of them."""
    store.db.execute("UPDATE interviews SET notes = ?, sha = '' WHERE id = ?", (notes, interview_id))


def redact_interest(
    store: Store, interest_id: str, text: str, snippet: str | None, quote: str | None, why: str | None
) -> None:
    """Another person's interest, less what named a forgotten one."""
    store.db.execute(
        "UPDATE interests SET text = ?, snippet = ?, quote = ?, why = ? WHERE id = ?",
        (text, snippet, quote, why, interest_id),
    )
