"""Report stage: one dated folder per run with index.html, report.md and suggestions.csv.

Every value that came from a feed or page is untrusted: Jinja2 autoescapes the HTML, links are
kept only when they are http(s), and CSV cells that a spreadsheet would run as formulas are
defused.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from pipeline.config import Config
from pipeline.store import Store

CSV_COLUMNS = (
    "suggestion_id", "contact", "company", "rank", "score", "title", "url", "source",
    "matched_interest", "best_passage", "published", "interest_snippet", "dense", "lexical", "freshness",
    "decision",
)  # fmt: skip
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
    """The URL if it is http(s), else None: javascript:, data: and friends never become links."""
    if not url:
        return None
    cleaned = "".join(ch for ch in url.strip() if ch.isprintable() and not ch.isspace())
    return cleaned if urlsplit(cleaned).scheme.lower() in ("http", "https") else None


def csv_cell(value: Any) -> Any:
    """Prefix text a spreadsheet would evaluate (=, +, -, @ ...) with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def gather(store: Store) -> tuple[list[Card], list[dict[str, Any]], list[dict[str, Any]]]:
    """(cards for open interviews, closed interviews, source health) from the store."""
    interviews = {r["id"]: dict(r) for r in store.query("SELECT * FROM interviews")}
    interests: dict[str, list[dict[str, Any]]] = {}
    for r in store.query("SELECT * FROM interests ORDER BY rowid"):
        interests.setdefault(r["contact_id"], []).append(dict(r))
    suggestions: dict[str, list[dict[str, Any]]] = {}
    for r in store.query(
        "SELECT s.*, d.title, d.url, d.published, d.words, d.kind, COALESCE(src.title, src.location) AS source,"
        " i.snippet AS interest_snippet, i.kind AS interest_kind"
        " FROM suggestions s JOIN documents d ON d.id = s.doc_id JOIN sources src ON src.id = d.source_id"
        " LEFT JOIN interests i ON i.id = s.interest_id WHERE s.active = 1 ORDER BY s.contact_id, s.rank"
    ):
        row = dict(r)
        row["parts"] = json.loads(row["parts"] or "{}")
        row["href"] = safe_url(row["url"])
        row["reading_minutes"] = max(1, round((row["words"] or 0) / 230))
        suggestions.setdefault(row["contact_id"], []).append(row)
    cards = []
    closed = []
    for r in store.query("SELECT * FROM contacts ORDER BY company, name"):
        interview = interviews[r["interview_id"]]
        if interview["status"] not in ("active", "offer"):
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
        if interview["status"] not in ("active", "offer"):
            closed.append(interview)
    sources = [
        dict(r)
        for r in store.query(
            "SELECT s.id, s.kind, COALESCE(s.title, s.location) AS title, s.location, s.state, s.reason,"
            " s.consecutive_failures, s.last_ok_at,"
            " (SELECT COUNT(*) FROM documents d WHERE d.source_id = s.id AND d.state = 'extracted') AS documents"
            " FROM sources s WHERE COALESCE(s.state, '') != 'removed' ORDER BY s.kind, title"
        )
    ]
    return cards, closed, sources


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def write_report(store: Store, config: Config, now: dt.datetime) -> Path:
    """Write this run's report folder and point `latest` at it; returns the folder."""
    cards, closed, sources = gather(store)
    last_run = store.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
    totals = {
        "documents": int(store.scalar("SELECT COUNT(*) FROM documents WHERE state = 'extracted'") or 0),
        "new_today": int(
            store.scalar(
                "SELECT COUNT(*) FROM documents WHERE state = 'extracted' AND first_seen >= ?",
                (now.date().isoformat(),),
            )
            or 0
        ),
        "failed_documents": int(
            store.scalar("SELECT COUNT(*) FROM documents WHERE state NOT IN ('extracted', 'pending')") or 0
        ),
    }
    context = {
        "workspace": config.name,
        "generated": now.strftime("%Y-%m-%d %H:%M"),
        "date": now.date().isoformat(),
        "cards": cards,
        "closed": closed,
        "sources": sources,
        "totals": totals,
        "run": dict(last_run[0]) if last_run else {},
        "contacts_with": sum(1 for c in cards if c.suggestions),
    }
    folder = config.paths.reports / now.date().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "index.html", render("report.html.j2", **context))
    _write(folder / "report.md", render("report.md.j2", **context))
    _write_csv(folder / "suggestions.csv", cards)
    _point_latest(config.paths.reports, folder)
    return folder


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_csv(path: Path, cards: list[Card]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for card in cards:
            for s in card.suggestions:
                row = (
                    s["id"], card.name, card.company, s["rank"], s["score"], s["title"], s["url"] or "",
                    s["source"], s["matched_interest"], s["best_passage"], s["published"] or "",
                    s["interest_snippet"] or "", s["parts"].get("dense"), s["parts"].get("lexical"),
                    s["parts"].get("freshness"), "",
                )  # fmt: skip
                writer.writerow([csv_cell(v) for v in row])
    tmp.replace(path)


def _point_latest(reports: Path, folder: Path) -> None:
    """`latest` is a relative symlink swapped atomically, so readers never see it missing."""
    link = reports / "latest"
    tmp = reports / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.name, target_is_directory=True)
    tmp.replace(link)
