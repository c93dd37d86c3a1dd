"""A new workspace (`gifts init`): a commented `gifts.toml` generated from the code's defaults,
an interviews folder with a worked example, an inbox, and a `.gitignore` for personal data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from pipeline import config as config_module
from pipeline.config import CONFIG_NAME, Sources
from pipeline.errors import InputError
from pipeline.interview_files import scaffold

# Keys a new workspace sets: the ones a user is expected to change. Every other key is written
# commented out with its default, so a default improved in a later release still reaches this
# workspace (a key set in the file would pin the old value).
ACTIVE = {"workspace.name", "sources.feeds", "sources.opml", "sources.folders", "fetch.offline"}
ACTIVE |= {"fetch.allow_private_networks", "drafts.tone", "drafts.signature"}

SECTION_NOTES = {
    "workspace": "",
    "paths": "Every path is relative to this file's folder, so a copied workspace is self-contained.",
    "sources": "Add feeds with `gifts sources add URL` (a site's address is enough: its feed is found).",
    "fetch": "The only network traffic: fetching your own sources.",
    "embed": "",
    "rank": "",
    "interests": "Interests inferred from your notes (key phrases scored by the model).",
    "cadence": "When a follow-up is due; an interview's `cadence:` front matter overrides these.",
    "history": "",
    "feedback": "",
    "drafts": "",
    "notify": "The morning digest by email: off unless enabled (then it leaves the machine).",
    "search": "Search sources from your interviews' interests: off unless enabled (then the terms leave the machine).",
    "ray": 'Only `gifts run --engine ray` reads this section (pip install "research-gifts[ray]").',
}

COMMENTS = {
    "workspace.name": "shown in reports and `gifts status`",
    "paths.interviews": "one Markdown file per interview (`gifts new-interview`)",
    "paths.raw": "fetched bytes, content-addressed, never edited",
    "paths.interim": "the SQLite store and the lock",
    "paths.processed": "reports and exports",
    "paths.models": "fitted models for this workspace; the model manifest falls back to the project's",
    "paths.templates": "Jinja2 templates you can edit (draft notes)",
    "sources.feeds": 'feed URLs (RSS, Atom, RSS 1.0/RDF, JSON Feed), e.g. ["https://example.org/feed.xml"]',
    "sources.opml": 'OPML exports from a feed reader, e.g. ["sources.opml"]',
    "sources.folders": "local folders of PDF, HTML and text files you drop in",
    "fetch.offline": "true: read the raw archive only, never the network",
    "fetch.timeout_s": "one deadline per request, slow bodies included",
    "fetch.max_bytes": "body cap after decompression",
    "fetch.max_redirects": "redirects followed, each hop re-checked",
    "fetch.allow_private_networks": "true only for tests and local mirrors on 127.0.0.1 or a LAN",
    "fetch.fetch_articles": "fetch each entry's page or PDF (false: use the feed's own text)",
    "fetch.max_entries_per_feed": "entries taken from one feed body",
    "fetch.page_workers": "pages fetched at once (at most 2 at once from one host)",
    "fetch.source_budget_s": "seconds of page fetching one source may use per night; the rest waits",
    "fetch.run_budget_s": "wall-time budget of all page fetching per night; the rest waits",
    "fetch.user_agent": "the User-Agent sent",
    "embed.model": "a model listed in models/manifest.json",
    "embed.model_path": "a folder holding the model's files (still checked against the manifest)",
    "embed.batch_size": "passages encoded per batch (torch backend)",
    "embed.passage_words": "passage length in words; long documents are cut into passages",
    "embed.passage_overlap": "words shared by consecutive passages",
    "embed.max_passages": "passages kept per document",
    "embed.backend": "openvino-int8 (fastest), openvino (bf16) or torch (sentence-transformers)",
    "rank.top_k": "suggestions per contact",
    "rank.min_score": "best-passage cosine below this: no suggestion rather than a weak one",
    "rank.half_life_days": "freshness: a document loses half its freshness bonus in this many days",
    "rank.freshness_weight": "share of the score that freshness can move",
    "rank.quality_weight": "share of the score a thin page (under 400 words) can lose",
    "rank.dense_weight": "weight of passage-level cosine in the fused score",
    "rank.lexical_weight": "weight of BM25 (scaled to 0..1 per interest)",
    "rank.min_words": "shorter documents are stubs, never suggested",
    "rank.exclude_sources": "source ids or titles never to suggest from",
    "rank.exclude_terms": "documents containing any of these terms are never suggested",
    "rank.ann_threshold": "above this many documents, score only approximate-index (faiss) and BM25 candidates",
    "rank.ann_nprobe": "inverted lists the approximate index scans per interest",
    "rank.ann_candidates": "nearest passages, and best BM25 documents, taken per interest above the threshold",
    "rank.score_floor": "the shown score a suggestion needs: better no gift than filler",
    "rank.relative_floor": "... and this share of the best score for the same interest",
    "rank.inferred_floor": "the shown score a suggestion for an inferred interest needs (a higher bar)",
    "rank.story_cosine": "articles this close (document vectors), published within story_days, are one story",
    "rank.story_title_overlap": "... or whose headlines share this much of their words",
    "rank.story_days": "articles published further apart are never one story",
    "rank.min_coverage": "share of an interest's words (IDF-weighted) a suggestion must hold (0: off)",
    "rank.story_margin": "of one story's articles this close to its best score, the longest stands for it",
    "rank.notes_weight": "share of what the notes say about a person in a listed interest's query (0: interest alone)",
    "interests.infer": "also infer interests from the notes",
    "interests.max_inferred": "inferred interests kept per person",
    "interests.inferred_weight": "an inferred interest's score counts this much (a listed one counts 1)",
    "interests.min_similarity": "a phrase must be at least this close to what the notes say about the person",
    "interests.duplicate_similarity": "a phrase this close to a listed interest only repeats it: dropped",
    "cadence.thank_you_hours": "the thank-you is due within this many hours of the interview",
    "cadence.min_gap_days": "days between two follow-ups to one person",
    "cadence.max_per_month": "follow-ups to one person in any 30 days (the thank-you counts)",
    "cadence.reply_pause_days": "after a reply (`gifts log reply`), nothing is due for this many days",
    "cadence.min_gift_score": "a gift must score this much to be due; else the thank-you goes alone",
    "history.colleague_window_days": "a document sent to one person is not suggested to their colleagues for this long",
    "feedback.enabled": "learn from your sent/skip decisions once there are enough",
    "feedback.min_decisions": "decisions needed before a re-ranker is trained",
    "feedback.holdout": "newest share of decisions held out to check it beats the base ranking",
    "feedback.pool": "the re-ranker picks the top k from top_k x pool candidates",
    "drafts.tone": "warm | formal | brief: the draft notes' register",
    "drafts.signature": "how drafts are signed (empty: a [your name] placeholder to fill in)",
    "ray.address": 'a running cluster, e.g. "ray://head:10001"; empty: start a local one for the run',
    "ray.dataset": "Parquet datasets: a folder or URI; empty: <paths.processed>/dataset",
    "ray.workers": "actors per pool (embedding, ranking); each loads the model once",
    "ray.batch_size": "rows per Ray Data block",
    "ray.num_cpus": "CPUs of a local cluster; 0: all of this machine's",
    "notify.enabled": "true: email what is due today after each nightly run",
    "notify.smtp_host": 'your mail provider\'s SMTP server, e.g. "smtp.example.org"',
    "notify.smtp_port": "587 for starttls, 465 for ssl",
    "notify.security": "starttls | ssl | none (none: only a relay on this machine)",
    "notify.user": "the SMTP login; empty: no login",
    "notify.password_env": "the NAME of the environment variable holding the password (never the password)",
    "notify.sender": "the From address",
    "notify.to": "where the digest goes",
    "notify.review_url": "a link to the review app in the digest; empty: none",
    "notify.timeout_s": "seconds to connect and for each reply of the server",
    "search.enabled": "true: send each active interview's interests and company to the services below",
    "search.services": "which of arxiv, hackernews, crossref, googlenews to ask",
    "search.items_per_query": "items asked of each service per query (1-100)",
    "search.every_days": "ask each query at most once in this many days",
    "search.company_news": "also one Google News query per active interview's company",
    "search.min_interval_s": "at most one request to a service's host per this many seconds",
    "search.arxiv_url": "the arXiv API (Atom)",
    "search.hackernews_url": "the Hacker News search API (Algolia, JSON)",
    "search.crossref_url": "the Crossref works API (JSON)",
    "search.googlenews_url": "Google News RSS search",
}

# Written for keys whose default has no TOML spelling (None).
EXAMPLE_VALUES = {"embed.model_path": "path/to/model-folder"}

COMMENT_COLUMN = 31


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML spelling for {value!r}")


def _line(key: str, value: Any, comment: str, active: bool) -> str:
    assignment = f"{'' if active else '# '}{key} = {_toml_value(value)}"
    return f"{assignment.ljust(COMMENT_COLUMN - 1)} # {comment}" if comment else assignment


def _defaults(name: str) -> dict[str, dict[str, Any]]:
    """Every section's keys with the value a new workspace shows, in the order COMMENTS lists them."""
    sections: dict[str, dict[str, Any]] = {"workspace": {"name": name}, "paths": dict(config_module._PATH_DEFAULTS)}
    sources = {f.name: getattr(Sources(), f.name) for f in dataclasses.fields(Sources)}
    sources["folders"] = ("inbox",)  # `gifts init` creates it
    sections["sources"] = sources
    for section, cls in config_module._SECTIONS.items():
        values = config_module.file_values(cls())
        # Not the dataclasses' order: the [rank] keys RankSettings holds in `retrieval` sit among the others.
        listed = [key.split(".", 1)[1] for key in COMMENTS if key.startswith(f"{section}.")]
        keys = [key for key in listed if key in values] + [key for key in values if key not in listed]
        sections[section] = {key: values[key] for key in keys}
    return sections


def config_text(name: str) -> str:
    """A `gifts.toml` for a new workspace: every key with a comment, most commented out at their defaults.

    Generated from the configuration's dataclasses, so it never names a key the code lacks or shows
    a default the code no longer has.
    """
    lines = [
        "# research gifts workspace. Every key is listed with what it does; a key left commented out keeps",
        "# the default shown (defaults live in the code, so improvements to them reach this workspace).",
        "# Remove the '# ' before a key to set it. Check the file with `gifts status`.",
    ]
    for section, keys in _defaults(name).items():
        lines += ["", f"[{section}]"]
        if SECTION_NOTES.get(section):
            lines.append(f"# {SECTION_NOTES[section]}")
        for key, value in keys.items():
            dotted = f"{section}.{key}"
            comment = COMMENTS.get(dotted, "see README: Configuration")
            if value is None:
                lines.append(_line(key, EXAMPLE_VALUES.get(dotted, ""), f"{comment} (default: none)", False))
            else:
                lines.append(_line(key, value, comment, dotted in ACTIVE))
    return "\n".join(lines) + "\n"


GITIGNORE = """\
# research gifts: keep personal data out of version control.
# Interview notes are about real people and what they told you in confidence: never commit them.
interviews/*
!interviews/_example.md
# Fetched bodies, the store (derived from your notes: contacts, interests, history) and reports.
data/raw/
data/interim/
data/processed/
# Models fitted on your decisions (feedback.json) and exported model files.
models/
# Files you drop in may be licensed or private; delete these lines to version them.
inbox/*
!inbox/.gitkeep
"""

EXAMPLE_HEADER = """\
# AN EXAMPLE, NOT AN INTERVIEW: files whose name starts with "_" are skipped by every run.
# It shows a filled-in interview; start your own with
#   gifts new-interview --company "ACME" --interviewer "Their Name"
# which writes interviews/<date>-<company>.md with every field commented, like this one.
"""

EXAMPLE_NOTES = """\
Jordan said the team's biggest worry is that the new routing model drifts when a warehouse
changes its scanning process, and nobody notices for weeks. They want data quality checks that
run before every nightly training job.
Sam asked how I would grow junior analysts into leads, and said the team writes a short design
note before any model goes to production.
"""


def example_interview() -> str:
    """A valid interview for a fictional company, in the file `gifts new-interview` writes, marked as an example."""
    text = scaffold(
        "Example Freight (fictional)", dt.date(2026, 1, 15), "Data Scientist", ["Jordan Example", "Sam Sample"]
    )
    head, _instructions = text.rsplit("---\n", 1)
    interests = iter(
        [
            ["model drift after upstream process changes", "data quality checks before training"],
            ["growing junior analysts into team leads", "design notes before production"],
        ]
    )

    def listed(block: str) -> str:
        lines = [f"      - {item}" for item in next(interests)]
        return block.replace("    #   - what they want to achieve\n", "\n".join(lines) + "\n", 1)

    parts = head.split("  - name: ")
    head = parts[0] + "".join("  - name: " + listed(part) for part in parts[1:])
    front = head.split("\n", 1)  # "---" then the fields
    return f"{front[0]}\n{EXAMPLE_HEADER}{front[1]}---\n{EXAMPLE_NOTES}"


def init_workspace(folder: Path) -> list[Path]:
    """Create a workspace in `folder` (made if missing); returns the paths created.

    Raises:
        InputError: when `folder` already holds a gifts.toml (never overwritten) or is a file.
    """
    config_path = folder / CONFIG_NAME
    if config_path.exists():
        raise InputError(f"{config_path}: already exists; edit it, or run `gifts init` in another folder")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    created: list[Path] = []
    for sub in (folder, folder / "interviews", folder / "inbox"):
        if not sub.is_dir():
            sub.mkdir(parents=True)
            created.append(sub)
    name = folder.resolve().name or "gifts"
    files = {
        config_path: config_text(name),
        folder / "interviews" / "_example.md": example_interview(),
        folder / "inbox" / ".gitkeep": "",
        folder / ".gitignore": GITIGNORE,
    }
    for path, text in files.items():
        if path.exists():
            continue  # a user's own .gitignore or example is left alone
        path.write_text(text, encoding="utf-8")
        created.append(path)
    return created
