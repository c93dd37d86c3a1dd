"""Profile stage: store interviews, contacts and interests; read them back for ranking and reports."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from pipeline.interviews import OPEN_STATUSES, Contact, Interest, Interview, read_interviews
from pipeline.store import Store


def profile_interviews(store: Store, folder: Path) -> Counter[str]:
    """Re-read interview files whose content changed; drop ones whose file is gone.

    All files are validated before anything is written, so one bad file changes nothing.
    """
    interviews = read_interviews(folder)
    known = {r["id"]: r["sha"] for r in store.query("SELECT id, sha FROM interviews")}
    counts: Counter[str] = Counter()
    # When one person sat on two interviews at the same company, the later interview owns them.
    owner: dict[str, Interview] = {}
    for interview in sorted(interviews, key=lambda i: (i.date, i.id)):
        for contact in interview.contacts:
            owner[contact.id] = interview
    with store.transaction():
        present = {i.id for i in interviews}
        for gone in set(known) - present:
            _delete_interview(store, gone)
            counts["removed"] += 1
        for interview in interviews:
            if known.get(interview.id) == interview.sha:
                continue
            _delete_interview(store, interview.id)
            store.upsert(
                "interviews",
                {
                    "id": interview.id,
                    "path": str(interview.path),
                    "sha": interview.sha,
                    "company": interview.company,
                    "position": interview.position,
                    "date": interview.date.isoformat(),
                    "status": interview.status,
                    "notes": interview.notes,
                },
            )
            for contact in interview.contacts:
                if owner[contact.id] is not interview:
                    continue
                store.upsert(
                    "contacts",
                    {
                        "id": contact.id,
                        "interview_id": interview.id,
                        "name": contact.name,
                        "role": contact.role,
                        "email": contact.email,
                        "company": contact.company,
                    },
                )
                store.db.execute("DELETE FROM interests WHERE contact_id = ?", (contact.id,))
                for interest in contact.interests:
                    store.upsert(
                        "interests",
                        {
                            "id": interest.id,
                            "contact_id": contact.id,
                            "text": interest.text,
                            "snippet": interest.snippet,
                            "kind": interest.kind,
                            "weight": interest.weight,
                        },
                    )
            counts["profiled"] += 1
    counts["interviews"] = len(interviews)
    return counts


def _delete_interview(store: Store, interview_id: str) -> None:
    contacts = [r["id"] for r in store.query("SELECT id FROM contacts WHERE interview_id = ?", (interview_id,))]
    for contact in contacts:
        store.db.execute("DELETE FROM interests WHERE contact_id = ?", (contact,))
    store.db.execute("DELETE FROM contacts WHERE interview_id = ?", (interview_id,))
    store.db.execute("DELETE FROM interviews WHERE id = ?", (interview_id,))


def load_contacts(store: Store, *, open_only: bool = True) -> list[Contact]:
    """Contacts with their interests; by default only those of interviews still open."""
    statuses = OPEN_STATUSES if open_only else ("active", "offer", "filled", "rejected")
    rows = store.query(
        "SELECT c.* FROM contacts c JOIN interviews i ON i.id = c.interview_id"
        f" WHERE i.status IN ({','.join('?' * len(statuses))}) ORDER BY i.date DESC, c.id",
        statuses,
    )
    interests: dict[str, list[Interest]] = {}
    for r in store.query("SELECT * FROM interests ORDER BY contact_id, rowid"):
        interests.setdefault(r["contact_id"], []).append(
            Interest(r["id"], r["contact_id"], r["text"], r["snippet"], r["kind"], float(r["weight"]))
        )
    return [
        Contact(
            r["id"],
            r["interview_id"],
            r["name"],
            r["role"],
            r["email"],
            r["company"],
            tuple(interests.get(r["id"], [])),
        )
        for r in rows
    ]


def interview_rows(store: Store) -> list[dict[str, object]]:
    return [
        dict(r) for r in store.query("SELECT id, company, position, date, status FROM interviews ORDER BY date DESC")
    ]


def parse_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])
