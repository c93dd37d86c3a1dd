"""What `gifts forget` removes from the store: a contact's rows, their vectors, the forgotten list,
and the old pages of the store file (see `pipeline.forget` for what is redacted and why)."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.store import Store


def erase_contact(store: Store, contact_id: str) -> dict[str, int]:
    """The contact's own rows go; returns how many interests, suggestions and actions went."""
    counts = {}
    for table in ("interests", "suggestions", "actions"):
        counts[table] = store.db.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,)).rowcount
    store.db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
    return counts


def erase_vectors(store: Store, shas: Iterable[str]) -> None:
    """Cached vectors of these texts go, for every model."""
    for sha in shas:
        store.db.execute("DELETE FROM vectors WHERE sha = ?", (sha,))


def rekey_forgotten(store: Store, unkeyed: str, keyed: str) -> None:
    """An entry of the forgotten list written before keyed hashes is rewritten keyed."""
    store.db.execute("UPDATE forgotten SET id_hash = ? WHERE id_hash = ?", (keyed, unkeyed))


def list_forgotten(store: Store, keyed: str, unkeyed: str, at: str) -> None:
    """A person joins the forgotten list under their keyed hash (an old unkeyed entry goes)."""
    store.db.execute("DELETE FROM forgotten WHERE id_hash = ?", (unkeyed,))
    store.upsert("forgotten", {"id_hash": keyed, "at": at}, ("id_hash",))


def vacuum(store: Store) -> bool:
    """Rebuild the store file and empty its write-ahead log; False when a reader kept the log busy."""
    store.db.execute("VACUUM")
    busy = store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    return not busy
