"""Profile stage: store interviews, contacts and interests (said, pinned, and inferred from the notes).

Inferred interests are key phrases of the notes about one person, scored KeyBERT-style with the
project's own embedder: candidate n-grams, cosine to that person's notes, diversity by MMR.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from pipeline.config import InterestSettings
from pipeline.embed import Embedder
from pipeline.errors import GiftsError, InputError
from pipeline.forget import Person, forgotten_ids, without_forgotten
from pipeline.interviews import (
    OPEN_STATUSES,
    Contact,
    Interest,
    Interview,
    interest_id,
    parse_interview,
    quote_for,
    read_interviews,
)
from pipeline.store import Store

log = logging.getLogger(__name__)

# Words that never start, end or sit inside a key phrase: function words and the verbs notes use
# to report speech, which say nothing about what a person cares about.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers him his how i if in into is it its itself just me more most my no nor not now of off on
    once only or other our out over own same she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which while who whom why
    will with would you your yours one two half every nobody anyone someone something thing things way lot
    said says say asked ask told tell mentioned mention wants want wanted need needs worried worry worries
    opened spent went got get gets getting find finds found make makes made think thinks thought know knew
    like looking look looked still later next last year years day days week weeks month months quarter time
    well really much many how handle would could""".split()
)
MMR_DIVERSITY = 0.5
MAX_CANDIDATES = 400


def candidate_phrases(sentences: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """Two- and three-word phrases free of stop words and names -> the first sentence holding each."""
    banned = {n.lower() for n in names}
    out: dict[str, str] = {}
    for sentence in sentences:
        tokens = re.findall(r"[A-Za-z][A-Za-z0-9'-]*[A-Za-z0-9]|[A-Za-z]", sentence)
        words = [t if t.isupper() and len(t) > 1 else t.lower() for t in tokens]
        for n in (2, 3):
            for start in range(len(words) - n + 1):
                gram = words[start : start + n]
                if any(w.lower() in STOP_WORDS or w.lower() in banned or len(w) < 3 for w in gram):
                    continue
                if _verb_like(gram[-1]):
                    continue  # "juniors hired", "cloud bill grew": a phrase should end on its topic
                out.setdefault(" ".join(gram), sentence)
                if len(out) >= MAX_CANDIDATES:
                    return out
    return out


VERB_ENDINGS = frozenset("grew grow grows struggle struggles scores broke breaks runs run shows".split())


def _verb_like(word: str) -> bool:
    lower = word.lower()
    return lower in VERB_ENDINGS or (lower.endswith("ed") and len(lower) > 4)


def infer_interests(
    contact: Contact, names: Sequence[str], embedder: Embedder, settings: InterestSettings
) -> list[Interest]:
    """Key phrases of the notes about `contact`, best and most varied first (at most `max_inferred`).

    A phrase is kept when it is close to what the notes say about the person (`min_similarity`),
    not a restatement of an interest already listed (`duplicate_similarity`), and not banned.
    """
    if not contact.said or settings.max_inferred == 0:
        return []
    candidates = candidate_phrases(contact.said, names)
    banned = [b.lower() for b in contact.ban]
    phrases = [p for p in candidates if not any(b in p.lower() or p.lower() in b for b in banned)]
    if not phrases:
        return []
    listed = [i.text for i in contact.interests]
    vectors = embedder.encode([" ".join(contact.said), *listed, *phrases])
    about, known, cands = vectors[0], vectors[1 : 1 + len(listed)], vectors[1 + len(listed) :]
    relevance = cands @ about
    duplicate = (cands @ known.T).max(axis=1) if len(listed) else np.zeros(len(phrases))
    pool = [i for i in np.argsort(-relevance, kind="stable") if relevance[i] >= settings.min_similarity]
    pool = [i for i in pool if duplicate[i] < settings.duplicate_similarity]
    chosen: list[int] = []
    while pool and len(chosen) < settings.max_inferred:
        # MMR as in KeyBERT: relevant to the person, unlike what is already chosen.
        def value(i: int) -> float:
            overlap = max((float(cands[i] @ cands[c]) for c in chosen), default=0.0)
            return float((1 - MMR_DIVERSITY) * relevance[i] - MMR_DIVERSITY * overlap)

        best = max(pool, key=value)
        pool.remove(best)
        words = set(phrases[best].lower().split())
        if any(words <= set(phrases[c].lower().split()) or words >= set(phrases[c].lower().split()) for c in chosen):
            continue  # "cloud bill" once "cloud bill spend" is in: the same phrase, shorter or longer
        chosen.append(int(best))
    out = []
    for i in chosen:
        phrase = phrases[i]
        sentence = candidates[phrase]
        out.append(
            Interest(
                id=interest_id(contact.id, phrase),
                contact_id=contact.id,
                text=phrase,
                snippet=sentence,
                kind="inferred",
                weight=settings.inferred_weight,
                origin="notes",
                quote=quote_for(phrase, sentence),
                why=f"key phrase of the notes about {contact.first_name}: similarity {float(relevance[i]):.2f}"
                f" to what they said, {float(duplicate[i]):.2f} to the listed interests",
            )
        )
    return out


def profile_interviews(
    store: Store,
    folder: Path,
    settings: InterestSettings | None = None,
    embedder: Callable[[], Embedder] | None = None,
) -> Counter[str]:
    """Re-read interview files whose content changed; drop ones whose file is gone.

    All files are validated before anything is written, so one bad file changes nothing. A
    forgotten interviewer is skipped, and what the notes say of them never reaches the store.

    Args:
        settings: how interests are inferred from the notes; None infers nothing.
        embedder: called (once) only when an interview must be re-read and inference is on.
    """
    interviews = read_interviews(folder)
    settings_key = repr(settings)
    known = {r["id"]: r["sha"] for r in store.query("SELECT id, sha FROM interviews")}
    if store.get_meta("profile_settings") != settings_key:
        known = {k: "" for k in known}  # other inference settings: every interview is re-read
    counts: Counter[str] = Counter()
    forgotten = forgotten_ids(store, (c.id for i in interviews for c in i.contacts))
    if forgotten:
        people = {c.id: Person(c.id, c.name, c.email) for i in interviews for c in i.contacts if c.id in forgotten}
        for interview in interviews:
            named = sum(c.id in forgotten for c in interview.contacts)
            if named:
                # The path, never the name: logs are not the place to repeat who was forgotten.
                log.warning(
                    "%s still names %d forgotten interviewer(s): skipped; edit it to remove them", interview.path, named
                )
                counts["forgotten_skipped"] += named
        interviews = [without_forgotten(i, people) for i in interviews]
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
            names = [n for c in interview.contacts for n in c.name.split()]
            for contact in interview.contacts:
                inferred[contact.id] = infer_interests(contact, names, model, settings)
    with store.transaction():
        present = {i.id for i in interviews}
        for gone in set(known) - present:
            _delete_interview(store, gone)
            counts["removed"] += 1
        for interview in changed:
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
                store.db.execute("DELETE FROM interests WHERE contact_id = ?", (contact.id,))
                for interest in (*contact.interests, *inferred.get(contact.id, ())):
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


def find_contact(store: Store, query: str) -> str:
    """The id of the one contact whose id or name matches `query` (case-insensitive substring).

    Raises:
        InputError: when no contact or several match.
    """
    wanted = query.strip().lower()
    rows = store.query("SELECT id, name FROM contacts ORDER BY id")
    exact = [r["id"] for r in rows if wanted in (r["id"], r["name"].lower())]
    found = exact or [r["id"] for r in rows if wanted and (wanted in r["id"] or wanted in r["name"].lower())]
    if not found:
        raise InputError(f"contact {query!r} not found (see `gifts status` for names)")
    if len(found) > 1:
        raise InputError(f"contact {query!r} is ambiguous: {', '.join(found)}")
    return str(found[0])


def describe(store: Store, query: str) -> str:
    """What was understood about one contact and why, as text for `gifts profile --show`."""
    contact_id = find_contact(store, query)
    row = store.query(
        "SELECT c.*, i.date, i.status, i.position, i.path, i.cadence FROM contacts c"
        " JOIN interviews i ON i.id = c.interview_id WHERE c.id = ?",
        (contact_id,),
    )[0]
    lines = [
        f"{row['name']} ({', '.join(x for x in (row['role'], row['company']) if x)}), id {row['id']}",
        f"interview {row['date']} for {row['position'] or 'a role'}, status {row['status']}, file {row['path']}",
    ]
    cadence = json.loads(row["cadence"] or "{}")
    if cadence:
        lines.append("cadence overrides: " + ", ".join(f"{k} {v:g}" for k, v in sorted(cadence.items())))
    lines.append("interests:")
    labels = {"front_matter": "listed in the front matter", "pin": "pinned by you", "notes": "inferred from the notes"}
    for n, r in enumerate(store.query("SELECT * FROM interests WHERE contact_id = ? ORDER BY rowid", (contact_id,)), 1):
        lines.append(
            f"  {n}. {r['text']}  [{r['kind']}, weight {float(r['weight']):.2f}, {labels.get(r['origin'], 'listed')}]"
        )
        if r["why"]:
            lines.append(f"     why: {r['why']}")
        if r["snippet"]:
            lines.append(f'     notes: "{r["snippet"]}"')
        if r["quote"]:
            lines.append(f'     quoted in drafts as: "{r["quote"]}"')
    try:
        person = next(c for c in parse_interview(Path(row["path"])).contacts if c.id == contact_id)
        if person.ban:
            lines.append("banned: " + "; ".join(person.ban))
    except (OSError, StopIteration, GiftsError):
        pass
    replies = json.loads(row["replied"] or "[]") + [
        r["at"][:10]
        for r in store.query("SELECT at FROM actions WHERE contact_id = ? AND action = 'reply'", (contact_id,))
    ]
    if replies:
        lines.append("replies: " + ", ".join(sorted(replies)))
    return "\n".join(lines)
