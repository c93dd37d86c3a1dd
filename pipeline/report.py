"""Report stage: one dated folder per run with index.html, report.md, suggestions.csv and .parquet.

What the templates show comes from the cards (pipeline.cards) and the follow-ups (pipeline.followups);
every field any format writes goes through that format's rule (pipeline.escaping).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pipeline.cards import Card, gather
from pipeline.charts import scores_by_contact_svg
from pipeline.checks import run_warnings
from pipeline.config import Config
from pipeline.db.states import DocState
from pipeline.display import shown
from pipeline.escaping import csv_field, html_field, md_field, md_link, safe_url
from pipeline.failures import failures
from pipeline.followups import follow_ups
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
FAILURES_SHOWN = 20  # the summary's list of what failed; `gifts status` has them all


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
    cards, closed, sources = gather(store, (config.rank.retrieval.dense_weight, config.rank.retrieval.lexical_weight))
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
