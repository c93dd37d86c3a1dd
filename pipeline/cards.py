"""The report's cards: one per contact of an open interview, with its suggestions, read from the store.

Each suggestion row carries what every format shows: a safe link, the local file's path, the
highlighted passage, the score bar, reading time, the same story from other outlets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.display import shown, strip_bidi
from pipeline.escaping import highlight, safe_url
from pipeline.interviews import OPEN_STATUSES
from pipeline.sources import document_path
from pipeline.store import Store

PASSAGE_CHARS = 420
WORDS_PER_MINUTE = 230


@dataclass(frozen=True, slots=True)
class Card:
    """One contact's section of the report."""

    contact_id: str
    name: str
    role: str | None
    company: str
    position: str | None
    interview_date: str
    status: str
    interests: list[dict[str, Any]]
    suggestions: list[dict[str, Any]] = field(default_factory=list)


def clip(text: str, limit: int = PASSAGE_CHARS) -> str:
    """Cut at a word boundary at or before `limit` characters, marking the cut with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " ..."


def score_bar(score: float, parts: Mapping[str, float], dense_weight: float, lexical_weight: float) -> dict[str, float]:
    """Widths in percent of the score bar: the score split between its semantic and keyword shares."""
    semantic = dense_weight * max(float(parts.get("dense", 0.0)), 0.0)
    keywords = lexical_weight * max(float(parts.get("lexical", 0.0)), 0.0)
    total = semantic + keywords
    width = min(max(score, 0.0), 1.0) * 100
    if total <= 0:
        return {"semantic": round(width, 1), "keywords": 0.0}
    return {"semantic": round(width * semantic / total, 1), "keywords": round(width * keywords / total, 1)}


def gather(
    store: Store, weights: tuple[float, float] = (0.7, 0.3)
) -> tuple[list[Card], list[dict[str, Any]], list[dict[str, Any]]]:
    """(cards for open interviews, closed interviews, source health) from the store.

    Args:
        weights: the rank settings' (dense_weight, lexical_weight), to split each score bar.
    """
    interviews = {r["id"]: dict(r) for r in store.query("SELECT * FROM interviews")}
    interests: dict[str, list[dict[str, Any]]] = {}
    for r in store.query("SELECT * FROM interests ORDER BY rowid"):
        interests.setdefault(r["contact_id"], []).append(dict(r))
    suggestions: dict[str, list[dict[str, Any]]] = {}
    for r in store.query(
        "SELECT s.*, d.title, d.url, d.author, d.published, d.words, d.kind, d.guid, src.kind AS source_kind,"
        " src.location AS source_location,"
        " COALESCE(src.title, src.location) AS source, i.snippet AS interest_snippet, i.kind AS interest_kind"
        " FROM suggestions s JOIN documents d ON d.id = s.doc_id JOIN sources src ON src.id = d.source_id"
        " LEFT JOIN interests i ON i.id = s.interest_id WHERE s.active = 1 ORDER BY s.contact_id, s.rank"
    ):
        row = dict(r)
        # Cleaned here as well as by each format's rule, because draft notes are built from these.
        for key in ("title", "source", "author"):
            row[key] = shown(row[key])
        row["parts"] = json.loads(row["parts"] or "{}")
        row["href"] = safe_url(row["url"])
        # A local file is known by where it lies: shown beside its title, empty for a web document.
        row["path"] = shown(document_path(row["source_kind"], row["source_location"], row["guid"]))
        row["reading_minutes"] = max(1, round((row["words"] or 0) / WORDS_PER_MINUTE))
        passage = strip_bidi(clip(row["best_passage"] or ""))
        row["passage_html"] = highlight(passage, row["matched_interest"] or "")
        row["bar"] = score_bar(row["score"] or 0.0, row["parts"], *weights)
        row["draft"] = None  # a draft note, when the planner writes one
        suggestions.setdefault(row["contact_id"], []).append(row)
    _stories_and_order(store, suggestions)
    cards = []
    closed = []
    for r in store.query("SELECT * FROM contacts ORDER BY company, name"):
        interview = interviews[r["interview_id"]]
        if interview["status"] not in OPEN_STATUSES:
            continue
        cards.append(
            Card(
                contact_id=r["id"],
                name=r["name"],
                role=r["role"],
                company=r["company"],
                position=interview["position"],
                interview_date=interview["date"],
                status=interview["status"],
                interests=interests.get(r["id"], []),
                suggestions=suggestions.get(r["id"], []),
            )
        )
    for interview in sorted(interviews.values(), key=lambda i: i["date"], reverse=True):
        if interview["status"] not in OPEN_STATUSES:
            closed.append(interview)
    sources = [
        {key: shown(value) for key, value in r.items()} for r in store.sources_with_counts(include_removed=False)
    ]
    return cards, closed, sources


def _stories_and_order(store: Store, suggestions: Mapping[str, list[dict[str, Any]]]) -> None:
    """Fill each row's "also" (the same story from other outlets) and "moved" (why it sits above a higher score).

    "also" lists {source, title, href} of the story's other articles, one per outlet other than the
    suggestion's own. "moved" is None when the list is in score order at that point, as the rank stage
    leaves it; a feedback re-rank may place an item above a higher score, and then it says so.
    """
    rows = [row for found in suggestions.values() for row in found]
    for row in rows:
        raw = row.get("also")
        row["also_ids"] = [str(d) for d in json.loads(raw)] if isinstance(raw, str) and raw else []
    wanted = sorted({d for row in rows for d in row["also_ids"]})
    docs: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):  # well under SQLite's limit on bound parameters
        batch = wanted[start : start + 500]
        for r in store.query(
            "SELECT d.id, d.title, d.url, COALESCE(src.title, src.location) AS source FROM documents d"
            f" JOIN sources src ON src.id = d.source_id WHERE d.id IN ({','.join('?' * len(batch))})",
            batch,
        ):
            docs[r["id"]] = {"source": shown(r["source"]), "title": shown(r["title"]), "href": safe_url(r["url"])}
    for found in suggestions.values():
        for at, row in enumerate(found):
            outlets: dict[str, dict[str, Any]] = {}
            for doc_id in row["also_ids"]:
                other = docs.get(doc_id)
                if other is not None and other["source"] != row["source"]:
                    outlets.setdefault(other["source"], other)
            row["also"] = list(outlets.values())
            higher = max((float(r["score"] or 0.0) for r in found[at + 1 :]), default=float("-inf"))
            row["moved"] = _why_moved(row) if higher > float(row["score"] or 0.0) else None


def _why_moved(row: Mapping[str, Any]) -> str:
    feedback = row["parts"].get("feedback")
    if feedback is not None:
        return f"placed here by your past sent and skipped decisions (feedback {float(feedback):.2f})"
    return f'placed here as the best match for "{row["matched_interest"]}"'
