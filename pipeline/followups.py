"""The report's follow-ups: the planner's due list (pipeline.plan) and each suggestion's draft note.

Draft notes are written by pipeline.drafts, from the article's text and the interest it matched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pipeline.cards import Card
from pipeline.config import Config
from pipeline.db.states import SourceKind
from pipeline.display import strip_bidi
from pipeline.store import Store


def follow_ups(
    store: Store, config: Config, now: dt.datetime, cards: Sequence[Card]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(due today, next due date per other contact); fills each suggestion row's "draft" in place.

    A contact whose thank-you is still due gets thank-you drafts, everyone else follow-up drafts;
    a thank-you with no gift good enough gets a draft of its own in its due entry.
    """
    from pipeline import drafts, plan

    planned = {f.contact_id: f for f in plan.followups(store, config, now)}
    env = drafts.environment(config.paths.templates)
    due: list[dict[str, Any]] = []
    next_due: dict[str, str] = {}
    rows = [s for card in cards for s in card.suggestions]
    texts, local = _document_texts(store, {s["doc_id"] for s in rows})
    # One complete sentence of each article's body, the one closest to the interest ("" if none is).
    quotes = drafts.article_quotes(
        [(texts.get(s["doc_id"], ""), s["matched_interest"] or "", s["best_passage"]) for s in rows],
        cache=store,
        titles=[s["title"] or "" for s in rows],
    )
    why_of = {s["id"]: quote for s, quote in zip(rows, quotes, strict=True)}
    for card in cards:
        follow = planned.get(card.contact_id)
        kind = "thank_you" if follow is not None and follow.due == "thank_you" else "follow_up"
        interests = {i["id"]: i for i in card.interests}
        common: dict[str, Any] = {
            "tone": config.drafts.tone, "signature": config.drafts.signature, "name": card.name,
            "company": card.company, "position": card.position, "interview_date": card.interview_date,
            "today": now.date(),
        }  # fmt: skip
        for s in card.suggestions:
            interest = interests.get(s["interest_id"]) or {"text": s["matched_interest"]}
            source = "" if s["doc_id"] in local else s["source"]  # a folder's name is not a publisher
            gift = drafts.Gift(s["title"], source, s["href"], why_of[s["id"]])
            article = texts.get(s["doc_id"], "")
            s["draft"] = drafts.note(env, kind, interest=interest, gift=gift, article=article, **common)
            s["draft_generated"] = s["draft"]
            if s.get("draft_edit"):  # the user's own edit (gifts review) is the note they will send
                s["draft"] = s["draft_edit"]
        if follow is None:
            continue
        if follow.due is None:
            if follow.next_due is not None:
                next_due[card.contact_id] = follow.next_due.isoformat()
            continue
        chosen = next((s for s in card.suggestions if s["id"] == follow.suggestion_id), None)
        if chosen is not None:
            draft = chosen["draft"]
        else:
            listed = [i for i in card.interests if i.get("kind") == "said"] or card.interests
            draft = drafts.note(env, "thank_you", interest=listed[0] if listed else None, gift=None, **common)
        due.append(
            {
                "contact_id": card.contact_id, "name": card.name, "company": card.company, "kind": follow.due,
                "suggestion_id": follow.suggestion_id, "why": follow.why, "draft": draft,
                "title": chosen["title"] if chosen else None,
            }
        )  # fmt: skip
    return due, next_due


def _document_texts(store: Store, ids: set[str]) -> tuple[dict[str, str], set[str]]:
    """(extracted text by document id, bidi controls stripped; ids of the user's own local files)."""
    texts: dict[str, str] = {}
    local: set[str] = set()
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):  # well under SQLite's limit on bound parameters
        batch = ordered[start : start + 500]
        sql = "SELECT d.id, d.text, s.kind FROM documents d JOIN sources s ON s.id = d.source_id WHERE d.id IN ({})"
        for r in store.query(sql.format(",".join("?" * len(batch))), batch):
            texts[r["id"]] = strip_bidi(r["text"] or "")
            if r["kind"] == SourceKind.FOLDER:
                local.add(r["id"])
    return texts, local
