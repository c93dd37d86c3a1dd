"""Profile stage: store interviews, contacts and interests (said, pinned, and inferred from the notes).

Inference lives in `pipeline.keyphrases` and the per-contact lookups of the CLI in `pipeline.contacts`;
both are importable from here too, as they were before the split.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pipeline import keyphrases
from pipeline.config import InterestSettings
from pipeline.contacts import describe, find_contact
from pipeline.db import people
from pipeline.embed import Embedder
from pipeline.forget import forgotten_ids, without_forgotten
from pipeline.history import refused_topics
from pipeline.interviews import OPEN_STATUSES, STATUSES, Contact, Interest, Interview, read_interviews
from pipeline.keyphrases import candidate_phrases, infer_interests
from pipeline.scrub import Person
from pipeline.store import Store

__all__ = [
    "candidate_phrases",
    "describe",
    "find_contact",
    "infer_interests",
    "load_contacts",
    "profile_interviews",
]

log = logging.getLogger(__name__)


def profile_interviews(
    store: Store,
    folder: Path,
    settings: InterestSettings | None = None,
    embedder: Callable[[], Embedder] | None = None,
    candidate: str = "",
) -> Counter[str]:
    """Re-read interview files whose content changed; drop ones whose file is gone.

    All files are validated before anything is written, so one bad file changes nothing. A
    forgotten interviewer is skipped, and what the notes say of them never reaches the store.

    Args:
        settings: how interests are inferred from the notes; None infers nothing.
        embedder: called (once) only when an interview must be re-read and inference is on.
        candidate: your name (the drafts' signature): like the interviewers' names, never an interest.
    """
    interviews = read_interviews(folder)
    # The inference method is part of the key: interests inferred another way are inferred again.
    settings_key = f"{keyphrases.METHOD} {settings!r} {candidate!r}"
    known = {r["id"]: r["sha"] for r in store.query("SELECT id, sha FROM interviews")}
    if store.get_meta("profile_settings") != settings_key:
        known = {k: "" for k in known}  # other inference settings: every interview is re-read
    counts: Counter[str] = Counter()
    # Everyone in the room, the forgotten included: no one's name is ever inferred as an interest.
    room = {i.id: [n for c in i.contacts for n in c.name.split()] + candidate.split() for i in interviews}
    forgotten = forgotten_ids(store, (c.id for i in interviews for c in i.contacts))
    if forgotten:
        whom = {c.id: Person(c.id, c.name, c.email) for i in interviews for c in i.contacts if c.id in forgotten}
        for interview in interviews:
            named = sum(c.id in forgotten for c in interview.contacts)
            if named:
                # The path, never the name: logs are not the place to repeat who was forgotten.
                log.warning(
                    "%s still names %d forgotten interviewer(s): skipped; edit it to remove them", interview.path, named
                )
                counts["forgotten_skipped"] += named
        interviews = [without_forgotten(i, whom) for i in interviews]
    # When one person sat on two interviews at the same company, the later interview owns them.
    owner: dict[str, Interview] = {}
    for interview in sorted(interviews, key=lambda i: (i.date, i.id)):
        for contact in interview.contacts:
            owner[contact.id] = interview
    changed = [i for i in interviews if known.get(i.id) != i.sha]
    inferred: dict[str, list[Interest]] = {}
    if settings is not None and settings.infer and embedder is not None and changed:
        model = embedder()
        for interview in changed:
            for contact in interview.contacts:
                inferred[contact.id] = infer_interests(contact, room[interview.id], model, settings)
    refused = refused_topics(store)  # `gifts mark ID never --topic`: the interest stays out of the profile
    with store.transaction():
        present = {i.id for i in interviews}
        for gone in set(known) - present:
            people.delete_interview(store, gone)
            counts["removed"] += 1
        for interview in changed:
            people.delete_interview(store, interview.id)
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
                    "cadence": json.dumps(dict(interview.cadence)),
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
                        "replied": json.dumps([d.isoformat() for d in contact.replied]),
                    },
                )
                people.clear_interests(store, contact.id)
                for interest in (*contact.interests, *inferred.get(contact.id, ())):
                    if (contact.id, interest.id) in refused:
                        continue
                    store.upsert(
                        "interests",
                        {
                            "id": interest.id,
                            "contact_id": contact.id,
                            "text": interest.text,
                            "snippet": interest.snippet,
                            "kind": interest.kind,
                            "weight": interest.weight,
                            "origin": interest.origin,
                            "quote": interest.quote,
                            "why": interest.why,
                        },
                    )
                counts["inferred"] += len(inferred.get(contact.id, ()))
            counts["profiled"] += 1
        store.set_meta("profile_settings", settings_key)
    counts["interviews"] = len(interviews)
    return counts


def load_contacts(store: Store, *, open_only: bool = True) -> list[Contact]:
    """Contacts with their interests; by default only those of interviews still open."""
    statuses = OPEN_STATUSES if open_only else STATUSES
    rows = store.query(
        "SELECT c.* FROM contacts c JOIN interviews i ON i.id = c.interview_id"
        f" WHERE i.status IN ({','.join('?' * len(statuses))}) ORDER BY i.date DESC, c.id",
        statuses,
    )
    interests: dict[str, list[Interest]] = {}
    for r in store.query("SELECT * FROM interests ORDER BY contact_id, rowid"):
        interests.setdefault(r["contact_id"], []).append(
            Interest(
                r["id"], r["contact_id"], r["text"], r["snippet"], r["kind"], float(r["weight"]),
                r["origin"] or "front_matter", r["quote"], r["why"],
            )
        )  # fmt: skip
    return [
        Contact(
            r["id"],
            r["interview_id"],
            r["name"],
            r["role"],
            r["email"],
            r["company"],
            tuple(interests.get(r["id"], [])),
            replied=tuple(dt.date.fromisoformat(d) for d in json.loads(r["replied"] or "[]")),
        )
        for r in rows
    ]
