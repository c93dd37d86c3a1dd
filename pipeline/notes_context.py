"""What the notes say about each person: the context a listed interest is read in.

An interest as written ("artemisinin resistance in malaria parasites") names a field; the notes say
what the person cares about within it ("spreads from the Mekong to Africa", "counterfeit and
substandard drugs"). The rank stage reads a listed interest as a blend of the two vectors
(`rank.notes_weight`; README: how it was measured), so that of two articles on the field the one
on their concern ranks first. The text never leaves the store: it is embedded, not shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.interviews import attribute
from pipeline.passages import text_sha
from pipeline.store import Store


def notes_about(store: Store, contact_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Contact id -> the sentences of their interview's notes about them, as one text (none: absent).

    The same attribution as the interview file's parse (`interviews.attribute`) over the notes as
    stored, so a forgotten person's sentences, redacted there, are in no one's context.
    """
    wanted = None if contact_ids is None else set(contact_ids)
    rows = store.query(
        "SELECT c.id, c.name, c.interview_id, i.notes FROM contacts c JOIN interviews i ON i.id = c.interview_id"
        " ORDER BY c.interview_id, c.id"
    )
    names: dict[str, list[str]] = {}
    for r in rows:
        names.setdefault(r["interview_id"], []).append(str(r["name"]).split()[0])
    out: dict[str, str] = {}
    attributed: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if wanted is not None and r["id"] not in wanted:
            continue
        interview = r["interview_id"]
        if interview not in attributed:
            attributed[interview] = attribute(r["notes"] or "", names[interview])
        about = attributed[interview].get(str(r["name"]).split()[0], [])
        if about:
            out[r["id"]] = " ".join(about)
    return out


def query_texts(store: Store) -> dict[str, str]:
    """Every text the rank stage reads as a query, by SHA-256: the interests and the notes about each person.

    The embed stage embeds those the vector cache lacks; both engines call this, so what is embedded
    is what the rank stage looks up.
    """
    texts = [r["text"] for r in store.query("SELECT text FROM interests")]
    texts += list(notes_about(store).values())
    return {text_sha(t): t for t in texts}
