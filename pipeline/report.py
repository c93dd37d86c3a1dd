"""Report stage: one dated folder per run with index.html, report.md, suggestions.csv and .parquet.

Every value that came from a feed or page is untrusted, and each format has one rule applied to
every field it writes: HTML is autoescaped by Jinja2, Markdown is backslash-escaped (the md
environment's finalize, so no field can be forgotten), CSV cells a spreadsheet would run as
formulas are defused. Before any of them, `display.shown` strips bidi controls and redacts URL
credentials. Links are kept only when they are http(s), with unsafe characters percent-encoded;
highlighted passages are escaped before any markup is added.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from pipeline.charts import scores_by_contact_svg
from pipeline.checks import run_warnings
from pipeline.config import Config
from pipeline.db.states import DocState, SourceKind
from pipeline.display import quote_unsafe, redact_url, shown, strip_bidi
from pipeline.failures import failures
from pipeline.interviews import OPEN_STATUSES
from pipeline.sources import document_path
from pipeline.store import Store

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "suggestion_id", "contact", "company", "rank", "score", "title", "url", "path", "source",
    "matched_interest", "best_passage", "published", "interest_snippet", "dense", "lexical", "freshness",
    "also_covered_by", "decision",
)  # fmt: skip
PARQUET_COLUMNS = (
    "suggestion_id", "contact_id", "contact", "company", "doc_id", "rank", "score", "dense", "lexical", "fused",
    "freshness", "quality", "interest_weight", "title", "url", "path", "source", "author", "published", "words",
    "matched_interest",
    "interest_snippet", "best_passage", "also_covered_by",
)  # fmt: skip
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PASSAGE_CHARS = 420
FAILURES_SHOWN = 20  # the summary's list of what failed; `gifts status` has them all
WORDS_PER_MINUTE = 230
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


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


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: javascript:, data: and friends never become links.

    What is kept has its credentials redacted and unsafe characters (`<`, `>`, `"` ...) percent-
    encoded, so it is inert as an HTML attribute, a Markdown autolink, a CSV cell or a draft's line.
    """
    if not url:
        return None
    cleaned = "".join(ch for ch in url.strip() if ch.isprintable() and not ch.isspace())
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:  # an unbalanced [ in the host
        return None
    return quote_unsafe(redact_url(cleaned)) if scheme in ("http", "https") else None


def csv_cell(value: Any) -> Any:
    """Prefix text a spreadsheet would evaluate (=, +, -, @ ...) with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_field(value: Any) -> Any:
    """The CSV rule, for every cell: shown as anywhere else, then defused."""
    return csv_cell(shown(value))


def clip(text: str, limit: int = PASSAGE_CHARS) -> str:
    """Cut at a word boundary at or before `limit` characters, marking the cut with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " ..."


def highlight(text: str, query: str) -> Markup:
    """`text` escaped, with the words that share a stem with `query`'s words wrapped in <mark>.

    Stems and stop words are the lexical ranking's own (`retrieval.stems`), so what is marked is
    what BM25 matched. Escaping comes first, piece by piece, and only the fixed <mark> tags are
    added as markup.
    """
    from pipeline.retrieval import WORD, content_stem, stems

    wanted = stems(query)
    pieces: list[Markup] = []
    position = 0
    for match in WORD.finditer(text):
        pieces.append(escape(text[position : match.start()]))
        word = match.group()
        if content_stem(word) in wanted:
            pieces.append(Markup("<mark>%s</mark>") % word)
        else:
            pieces.append(escape(word))
        position = match.end()
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def md_text(value: Any) -> str:
    """Backslash-escape Markdown and HTML syntax, so pasted notes cannot grow links, tags or code."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split())) if value is not None else ""


class _MarkdownLink(str):
    """An autolink the md_link filter built; md_field writes it as it is."""

    __slots__ = ()


def md_link(url: str | None) -> str:
    """`<url>`, a CommonMark autolink: nothing inside one is markup, and safe_url leaves no `<`, `>` or space.

    Anything but an http(s) URL is written as "(no web link)".
    """
    href = safe_url(url)
    return _MarkdownLink(f"<{href}>") if href else md_field("(no web link)")


def md_field(value: Any) -> str:
    """The Markdown rule, for every field a template writes: shown as anywhere else, then escaped."""
    if isinstance(value, _MarkdownLink):
        return value
    return md_text(shown(value))


def html_field(value: Any) -> Any:
    """The HTML rule's first half, for every field (autoescape is the second): shown as anywhere else.

    Markup is already escaped piece by piece (highlighted passages, the sanitised chart) and passes.
    """
    return value if isinstance(value, Markup) else shown(value)


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


def _environment(markdown: bool) -> jinja2.Environment:
    """The HTML environment autoescapes; the Markdown one escapes every field through md_field."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=not markdown,  # noqa: S701 -- Markdown escapes every field in md_field (finalize)
        finalize=md_field if markdown else html_field,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if markdown:
        env.filters["link"] = md_link
    return env


def render(template: str, **context: Any) -> str:
    """Render a packaged template; `*.md.j2` gets the Markdown rule, everything else the HTML one."""
    return _environment(template.endswith(".md.j2")).get_template(template).render(**context)


def _last_timings(store: Store) -> dict[str, float]:
    """Stage timings of the latest run that recorded them (for `gifts report` on its own)."""
    raw = store.scalar("SELECT timings FROM runs WHERE timings IS NOT NULL ORDER BY id DESC LIMIT 1")
    return {str(k): float(v) for k, v in json.loads(raw).items()} if raw else {}


def report_context(
    store: Store, config: Config, now: dt.datetime, timings: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Everything the templates need, read from the store.

    Args:
        timings: seconds per stage of the run writing this report; None takes the last recorded run's.
    """
    cards, closed, sources = gather(store, (config.rank.dense_weight, config.rank.lexical_weight))
    last_run = store.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
    totals = {
        "documents": int(store.scalar("SELECT COUNT(*) FROM documents WHERE state = ?", (DocState.EXTRACTED,)) or 0),
        "new_today": int(
            store.scalar(
                "SELECT COUNT(*) FROM documents WHERE state = ? AND first_seen >= ?",
                (DocState.EXTRACTED, now.date().isoformat()),
            )
            or 0
        ),
        "failed_documents": int(
            store.scalar(
                "SELECT COUNT(*) FROM documents WHERE state NOT IN (?, ?)", (DocState.EXTRACTED, DocState.PENDING)
            )
            or 0
        ),
    }
    stage_timings = dict(timings) if timings is not None else _last_timings(store)
    failed = failures(store)
    chart = scores_by_contact_svg([(card.name, [float(s["score"]) for s in card.suggestions]) for card in cards])
    due, next_due = follow_ups(store, config, now, cards)
    return {
        "workspace": config.name,
        "generated": now.strftime("%Y-%m-%d %H:%M"),
        "date": now.date().isoformat(),
        "cards": cards,
        "closed": closed,
        "sources": sources,
        "totals": totals,
        "run": dict(last_run[0]) if last_run else {},
        "timings": stage_timings,
        # What failed, by URL or file path with the reason (pipeline.failures): a short list.
        "failures": failed[:FAILURES_SHOWN],
        "failures_more": max(0, len(failed) - FAILURES_SHOWN),
        "warnings": run_warnings(store),  # the last run's warnings (pipeline.checks), one line each
        "chart": Markup(chart),  # noqa: S704 -- rebuilt from an allowlist by charts.sanitize_svg
        "contacts_with": sum(1 for c in cards if c.suggestions),
        # From the follow-up planner: what is due today, and when each other contact is next due.
        # Each suggestion row also carries a "draft" note.
        "due": due,  # dicts: contact_id, name, company, kind ("thank_you" | "gift"), suggestion_id or None, why
        "next_due": next_due,  # contact_id -> ISO date of the next follow-up
    }


# -- follow-ups: the planner's due list and draft notes (pipeline.plan, pipeline.drafts) ----------------
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


def write_report(store: Store, config: Config, now: dt.datetime, timings: Mapping[str, float] | None = None) -> Path:
    """Write this run's report folder and point `latest` at it; returns the folder.

    Args:
        timings: seconds per stage of the run writing this report; None takes the last recorded run's.
    """
    context = report_context(store, config, now, timings)
    folder = config.paths.reports / now.date().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "index.html", render("report.html.j2", **context))
    _write(folder / "report.md", render("report.md.j2", **context))
    rows = suggestion_rows(context["cards"])
    _write_csv(folder / "suggestions.csv", rows)
    _write_parquet(folder / "suggestions.parquet", rows)
    _point_latest(config.paths.reports, folder)
    return folder


def suggestion_rows(cards: Sequence[Card]) -> list[dict[str, Any]]:
    """One flat record per suggestion with its score parts (PARQUET_COLUMNS), best first per contact.

    Text is kept verbatim for analysis, as gather shows it: without URL credentials or bidi controls.
    """
    rows = []
    for card in cards:
        for s in card.suggestions:
            parts = s["parts"]
            rows.append(
                {
                    "suggestion_id": s["id"], "contact_id": card.contact_id, "contact": card.name,
                    "company": card.company, "doc_id": s["doc_id"], "rank": s["rank"], "score": s["score"],
                    "dense": parts.get("dense"), "lexical": parts.get("lexical"), "fused": parts.get("fused"),
                    "freshness": parts.get("freshness"), "quality": parts.get("quality"),
                    "interest_weight": parts.get("interest_weight"),
                    "title": s["title"], "url": shown(s["url"]), "path": s.get("path"), "source": s["source"],
                    "author": s.get("author"),
                    "published": s["published"], "words": s.get("words"), "matched_interest": s["matched_interest"],
                    "interest_snippet": s["interest_snippet"], "best_passage": s["best_passage"],
                    "also_covered_by": ", ".join(a["source"] for a in s.get("also", [])),
                }
            )  # fmt: skip
    return rows


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            row = (
                r["suggestion_id"], r["contact"], r["company"], r["rank"], r["score"], r["title"],
                safe_url(r["url"]) or "", r.get("path") or "", r["source"], r["matched_interest"], r["best_passage"],
                r["published"] or "", r["interest_snippet"] or "", r["dense"], r["lexical"], r["freshness"],
                r.get("also_covered_by") or "", "",
            )  # fmt: skip
            writer.writerow([csv_field(v) for v in row])
    tmp.replace(path)


def _write_parquet(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(PARQUET_COLUMNS))
    for column in ("score", "dense", "lexical", "fused", "freshness", "quality", "interest_weight"):
        frame[column] = frame[column].astype("float64")
    for column in ("rank", "words"):
        frame[column] = frame[column].astype("Int64")
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False, engine="pyarrow")
    tmp.replace(path)


def _point_latest(reports: Path, folder: Path) -> None:
    """`latest` is a relative symlink swapped atomically, so readers never see it missing."""
    link = reports / "latest"
    if link.is_dir() and not link.is_symlink():
        # Someone copied the reports without symlinks: never delete a real folder to make room.
        log.warning("%s is a real folder, not a link; leaving it as it is", link)
        return
    tmp = reports / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.name, target_is_directory=True)
    tmp.replace(link)
