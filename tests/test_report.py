"""Report stage: safe links, defused CSV cells, an escaped HTML template, and a full report folder on the sample."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest
from conftest import NOW, ROOT, FakeEmbedder, nightly_fake, uncalibrated, write_acme_interview
from markupsafe import escape as escape_html
from pytest_httpserver import HTTPServer

from pipeline import runner
from pipeline.cards import Card, clip, score_bar
from pipeline.config import Config, RankSettings, load
from pipeline.embed import model_key
from pipeline.escaping import csv_cell, highlight, md_text, safe_url
from pipeline.rank import combine
from pipeline.report import CSV_COLUMNS, PARQUET_COLUMNS, _write_csv, render, suggestion_rows, write_report
from pipeline.store import Store

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ATTR = '" onmouseover="x'
HOSTILE = f"{SCRIPT} {IMG} {ATTR}"
REQUIRED_COLUMNS = (
    "suggestion_id", "contact", "company", "rank", "score", "title", "url", "source", "matched_interest",
    "best_passage",
)  # fmt: skip
OPEN_CONTACTS = {"Amara Okafor", "Sam Whitfield", "Priya Raman", "Tom Becker", "Grace Liu"}


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def _assert_inert(html: str) -> None:
    tags = _tags(html)
    assert "script" not in {tag for tag, _ in tags}
    assert "img" not in {tag for tag, _ in tags}
    assert not [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on")]
    assert SCRIPT not in html and "<script" not in html.lower()
    assert IMG not in html and "onerror=alert(1)>" not in html
    assert 'onmouseover="x' not in html
    for tag, attrs in tags:
        if tag == "a":
            assert re.match(r"https?://|#[\w-]+$", attrs["href"] or ""), attrs  # the web, or a card on this page
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    assert "default-src 'none'" in (csp[0]["content"] or "")
    assert "script-src" not in (csp[0]["content"] or "")


# -- safe_url and csv_cell -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1#c", "https://example.org/a?b=1#c"),
        ("http://example.org/", "http://example.org/"),
        ("HTTPS://Example.org/", "HTTPS://Example.org/"),
        ("  https://example.org/x  ", "https://example.org/x"),
    ],
)
def test_safe_url_keeps_http_links(url: str, expected: str) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x00javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/x",
        "",
        None,
    ],
)
def test_safe_url_drops_everything_else(url: str | None) -> None:
    assert safe_url(url) is None


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'])
def test_csv_cell_defuses_formulas(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Kafka at scale", "a=b", "", 3, -0.5, None])
def test_csv_cell_leaves_plain_values(value: Any) -> None:
    assert csv_cell(value) == value


# -- the HTML template ---------------------------------------------------------------------------


def _suggestion(**overrides: Any) -> dict[str, Any]:
    """A suggestion row as cards.gather builds it (store columns plus href and reading_minutes)."""
    row: dict[str, Any] = {
        "id": "abc123def0",
        "rank": 1,
        "score": 0.61,
        "title": HOSTILE,
        "url": "https://example.org/a",
        "source": HOSTILE,
        "published": "2026-11-20",
        "kind": "html",
        "words": 900,
        "matched_interest": HOSTILE,
        "best_passage": HOSTILE,
        "interest_snippet": HOSTILE,
        "author": HOSTILE,
        "doc_id": "doc1",
        "parts": {"dense": 0.55, "lexical": 0.8, "freshness": 0.9},
        "draft": None,
    }
    row.update(overrides)
    row["href"] = safe_url(row["url"])
    row["reading_minutes"] = max(1, round((row["words"] or 0) / 230))
    row["passage_html"] = highlight(clip(row["best_passage"]), row["matched_interest"])
    row["bar"] = score_bar(row["score"], row["parts"], 0.7, 0.3)
    return row


def _context(cards: list[Card]) -> dict[str, Any]:
    """The keys write_report passes to the templates."""
    return {
        "workspace": HOSTILE,
        "generated": "2026-11-26 06:00",
        "date": "2026-11-26",
        "cards": cards,
        "closed": [{"company": HOSTILE, "position": HOSTILE, "status": "filled", "date": "2026-10-30"}],
        "sources": [
            {
                "id": "s1",
                "kind": "feed",
                "title": HOSTILE,
                "location": "https://example.org/feed",
                "state": "failed",
                "reason": HOSTILE,
                "consecutive_failures": 3,
                "last_ok_at": None,
                "documents": 4,
            }
        ],
        "totals": {"documents": 73, "new_today": 2, "failed_documents": 1},
        "run": {"id": 7, "status": "ok"},
        "timings": {"fetch": 1.25, "rank": 0.5},
        "chart": "",
        "contacts_with": sum(1 for c in cards if c.suggestions),
        "due": [],
        "next_due": {},
    }


def _card(suggestions: list[dict[str, Any]]) -> Card:
    return Card(
        contact_id="eve-evil",
        name=HOSTILE,
        role=HOSTILE,
        company=HOSTILE,
        position=HOSTILE,
        interview_date="2026-11-20",
        status="active",
        interests=[{"kind": "said", "text": HOSTILE, "snippet": HOSTILE}],
        suggestions=suggestions,
    )


def test_template_escapes_hostile_text_and_links() -> None:
    suggestions = [
        _suggestion(),
        _suggestion(id="bbbbbbbbbb", rank=2, url="javascript:alert(1)"),
        _suggestion(id="cccccccccc", rank=3, url=f"https://example.org/x{ATTR}"),
        _suggestion(id="dddddddddd", rank=4, url="JaVaScRiPt:alert(document.cookie)"),
    ]
    html = render("report.html.j2", **_context([_card(suggestions)]))
    _assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    anchors = [attrs["href"] for tag, attrs in _tags(html) if tag == "a"]
    assert anchors == ["https://example.org/a", "https://example.org/x%22onmouseover=%22x"]
    assert "javascript" not in html.lower()
    assert "gifts mark dddddddddd sent" in html


def test_template_says_so_when_a_contact_has_no_gift() -> None:
    html = render("report.html.j2", **_context([_card([])]))
    _assert_inert(html)
    assert "No gift clears the threshold today" in html
    assert "0 of 1 contacts" in html


# -- end to end on the sample workspace ------------------------------------------------------------


@pytest.fixture
def sample_run(workspace: Path) -> tuple[Config, Path]:
    config = load(uncalibrated(workspace))
    key = model_key("all-MiniLM-L6-v2", ROOT / "models")
    result = runner.run(config, now=NOW, embedder_factory=lambda: FakeEmbedder(name=key))
    assert result.status == "ok"
    assert result.report_dir is not None
    return config, result.report_dir


def _csv_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "suggestions.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_sample_run_writes_a_complete_report_folder(sample_run: tuple[Config, Path]) -> None:
    config, folder = sample_run
    assert folder == config.paths.reports / "2026-11-26"
    assert sorted(p.name for p in folder.iterdir()) == [
        "index.html",
        "report.md",
        "suggestions.csv",
        "suggestions.parquet",
    ]

    latest = config.paths.reports / "latest"
    assert latest.is_symlink()
    assert str(latest.readlink()) == "2026-11-26"  # relative, so the folder can move
    assert latest.resolve() == folder.resolve()

    rows = _csv_rows(folder)
    with (folder / "suggestions.csv").open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert tuple(header) == CSV_COLUMNS
    assert set(REQUIRED_COLUMNS) <= set(header)
    assert {r["contact"] for r in rows} == OPEN_CONTACTS  # the filled Brightline interview gets nothing
    for name in OPEN_CONTACTS:
        ranks = [int(r["rank"]) for r in rows if r["contact"] == name]
        assert ranks == list(range(1, len(ranks) + 1))
        assert 1 <= len(ranks) <= 5
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{10}", row["suggestion_id"])
        assert row["title"] and row["source"] and row["matched_interest"] and row["best_passage"]
        assert row["url"].startswith(("https://", "http://")) or row["url"] == ""
        assert 0 < float(row["score"]) <= 1
    assert len({r["suggestion_id"] for r in rows}) == len(rows)

    html = (folder / "index.html").read_text(encoding="utf-8")
    _assert_inert(html)
    for name in OPEN_CONTACTS:
        assert f"<h2>{name}</h2>" in html
    assert "Jonas Meyer" not in html
    assert "Closed interviews" in html
    for row in rows:
        assert f"gifts mark {row['suggestion_id']} sent" in html

    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Research gifts, 2026-11-26")
    assert "## Tom Becker (Staff Engineer, Platform, Northwind Logistics)" in markdown
    assert all(f"id `{r['suggestion_id']}`" in markdown for r in rows)


def test_report_from_a_store_with_hostile_documents(sample_run: tuple[Config, Path]) -> None:
    config, folder = sample_run
    rows = _csv_rows(folder)
    amara = [r for r in rows if r["contact"] == "Amara Okafor"]
    targets = [r["suggestion_id"] for r in amara[:3]]
    with Store(config.paths.store) as store:
        docs = {
            r["id"]: r["doc_id"]
            for r in store.query(f"SELECT id, doc_id FROM suggestions WHERE id IN ({','.join('?' * 3)})", targets)
        }
        with store.transaction():
            store.db.execute(
                "UPDATE documents SET title = ?, url = ? WHERE id = ?",
                (HOSTILE, "javascript:alert(1)", docs[targets[0]]),
            )
            store.db.execute(
                "UPDATE documents SET title = ? WHERE id = ?", ('=HYPERLINK("http://x")', docs[targets[1]])
            )
            store.db.execute("UPDATE suggestions SET best_passage = ? WHERE id = ?", (IMG, targets[2]))
        again = write_report(store, config, NOW + dt.timedelta(days=1))

    assert again.name == "2026-11-27"
    assert (config.paths.reports / "latest").resolve() == again.resolve()
    assert folder.is_dir()  # yesterday's report stays

    html = (again / "index.html").read_text(encoding="utf-8")
    _assert_inert(html)
    assert "javascript" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    by_id = {r["suggestion_id"]: r for r in _csv_rows(again)}
    assert by_id[targets[0]]["title"] == HOSTILE
    assert by_id[targets[1]]["title"] == '\'=HYPERLINK("http://x")'
    assert by_id[targets[2]]["best_passage"] == IMG


# -- explanations: highlighted passages, score bars, Markdown ------------------------------------


def test_highlight_marks_words_sharing_a_stem_with_the_interest() -> None:
    html = str(highlight("Monitoring drift: the models drifted; a monitor.", "monitoring deployed models for drift"))
    assert re.findall(r"<mark>(\w+)</mark>", html) == ["Monitoring", "drift", "models", "drifted", "monitor"]
    assert "<mark>the</mark>" not in html


def test_highlight_escapes_before_marking() -> None:
    html = str(highlight(f"{SCRIPT} script alert <b>drift</b> &amp;", "script drift b amp"))
    assert "<script" not in html and "<b>" not in html
    assert "&lt;<mark>script</mark>&gt;" in html
    assert "&lt;b&gt;<mark>drift</mark>&lt;/b&gt;" in html
    assert "&amp;<mark>amp</mark>;" in html
    # Only <mark> tags are ever added, whatever the query holds.
    assert {tag for tag, _ in _tags(html)} == {"mark"}
    assert _tags(str(highlight("plain text", '"><script>x</script>'))) == []


def test_clip_cuts_at_a_word_boundary() -> None:
    text = "word " * 200
    clipped = clip(text, 50)
    assert len(clipped) <= 54 and clipped.endswith(" ...") and "wor ..." not in clipped
    assert clip("short  text\nhere", 50) == "short text here"


def test_score_bar_splits_the_score_by_its_weighted_parts() -> None:
    bar = score_bar(0.6, {"dense": 0.5, "lexical": 0.5}, 0.7, 0.3)
    assert bar == {"semantic": 42.0, "keywords": 18.0}
    assert score_bar(1.7, {"dense": 0.2, "lexical": 0.0}, 0.7, 0.3) == {"semantic": 100.0, "keywords": 0.0}
    assert score_bar(0.3, {}, 0.7, 0.3) == {"semantic": 30.0, "keywords": 0.0}


def test_md_text_defuses_markdown_and_html() -> None:
    assert md_text("[click](javascript:alert(1)) <script>*x*_y_`z`") == (
        r"\[click\](javascript:alert(1)) \<script\>\*x\*\_y\_\`z\`"
    )
    assert md_text(None) == ""
    assert md_text("two\nlines") == "two lines"


def test_template_renders_what_is_due_drafts_and_next_dates() -> None:
    draft = f"Dear Eve,\n</textarea>{SCRIPT}\nthanks"
    suggestion = _suggestion(draft=draft)
    context = _context([_card([suggestion])])
    context["due"] = [
        {"contact_id": "eve-evil", "name": HOSTILE, "company": HOSTILE, "kind": "gift",
         "suggestion_id": suggestion["id"], "why": HOSTILE},
        {"contact_id": "eve-evil", "name": "Eve", "company": "Acme", "kind": "thank_you", "suggestion_id": None,
         "why": "interviewed yesterday", "draft": f"Thank you, Eve {IMG}"},
    ]  # fmt: skip
    context["next_due"] = {"eve-evil": "2026-12-03"}
    html = render("report.html.j2", **context)
    _assert_inert(html)
    assert html.index('id="due"') < html.index('id="contact-eve-evil"') < html.index('id="summary"')
    due = html[html.index('id="due"') : html.index('id="contact-eve-evil"')]
    assert due.count("<li>") == 2 and "a thank-you note" in due and "a gift" in due
    assert 'href="#contact-eve-evil"' in due
    assert "next due 2026-12-03" in html
    textareas = [attrs for tag, attrs in _tags(html) if tag == "textarea"]
    assert len(textareas) == 2 and all("readonly" in t for t in textareas)  # the gift's, the plain thank-you's
    details = [attrs for tag, attrs in _tags(html) if tag == "details"]
    assert len(details) == 2 and all("open" in d for d in details)  # both due today, so shown open
    assert "&lt;/textarea&gt;&lt;script&gt;" in html
    assert "fetch" in html and "1.25 s" in html and "1.75 s" in html  # timings and their total

    markdown = render("report.md.j2", **context)
    assert "## Due today" in markdown and "Next follow-up due 2026-12-03" in markdown
    # The draft is quoted, and escaped like every other field.
    assert "   > \\</textarea\\>\\<script\\>alert(1)\\</script\\>" in markdown
    assert "  > Thank you, Eve \\<img src=x onerror=alert(1)\\>" in markdown
    _assert_inert_markdown(markdown)


def test_template_says_when_nothing_is_due() -> None:
    html = render("report.html.j2", **_context([_card([_suggestion()])]))
    assert "Nothing is due today." in html
    assert "next due" not in html
    assert "<textarea" not in html


# -- hostile feeds, end to end -----------------------------------------------------------------------

HOSTILE_URLS = (
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " \t javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "java\rscript:alert(1)",
    "\x00javascript:alert(1)",
    "\x01\x02javascript:alert(1)",
    "\u200bjavascript:alert(1)",
    "\u00a0javascript:alert(1)",
    "javascript&#58;alert(1)",
    "javascript&colon;alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript:alert(1)",
    "&#0000106avascript:alert(1)",
    "jav&#x09;ascript:alert(1)",
    "javascript%3Aalert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    " data:image/svg+xml,<svg onload=alert(1)>",
    "vbscript:msgbox(1)",
    "VbScRiPt:msgbox(1)",
    "livescript:alert(1)",
    "file:///etc/passwd",
    "//evil.example/x",
    '"><script>alert(1)</script>',
)
HOSTILE_TEXTS = (
    SCRIPT,
    IMG,
    ATTR,
    "<svg/onload=alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<body onload=alert(1)>",
    "<style>@import url(https://evil.example/x.css)</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "--><script>alert(1)</script><!--",
    "]]><script>alert(1)</script>",
    "<textarea></textarea><script>alert(1)</script>",
    "${alert(1)} {{ 7*7 }} {% raw %}",
)


def _assert_inert_markdown(markdown: str) -> None:
    """No raw HTML tag and no Markdown link or image: every <, [ and ] from the data is escaped."""
    # Autolinks (<https://...>) are the one raw < allowed: safe_url left no <, > or space inside them.
    prose = re.sub(r"<https?://[^<>\s]*>", "", markdown)
    assert not re.search(r"(?<!\\)<[a-zA-Z/!?]", prose)
    assert not re.search(r"(?<!\\)\]\(", prose)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_safe_url_drops_every_hostile_spelling(url: str) -> None:
    assert safe_url(url) is None


def _assert_no_script_urls(html: str) -> None:
    for tag, attrs in _tags(html):
        for name, value in attrs.items():
            compact = re.sub(r"[\s\x00-\x1f]", "", (value or "")).lower()
            assert not compact.startswith(("javascript:", "vbscript:", "data:", "livescript:")), (tag, name, value)
    assert "{{" not in html or "{{ 7*7 }}" in html  # template syntax in data is text, never evaluated
    assert ">49<" not in html


def test_report_from_a_store_full_of_hostile_values(sample_run: tuple[Config, Path]) -> None:
    config, _ = sample_run
    with Store(config.paths.store) as store:
        docs = [r["doc_id"] for r in store.query("SELECT DISTINCT doc_id FROM suggestions WHERE active = 1")]
        assert len(docs) >= len(HOSTILE_TEXTS)  # every hostile text lands in a rendered title
        with store.transaction():
            for i, doc_id in enumerate(docs):
                text = HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)]
                store.db.execute(
                    "UPDATE documents SET title = ?, author = ?, url = ? WHERE id = ?",
                    (text, HOSTILE_TEXTS[(i + 1) % len(HOSTILE_TEXTS)], HOSTILE_URLS[i % len(HOSTILE_URLS)], doc_id),
                )
                store.db.execute(
                    "UPDATE suggestions SET best_passage = ?, matched_interest = ? WHERE doc_id = ?",
                    (f"{text} drift {text}", f"drift {HOSTILE_TEXTS[(i + 2) % len(HOSTILE_TEXTS)]}", doc_id),
                )
            store.db.execute("UPDATE sources SET title = ?, reason = ?", (IMG, SCRIPT))
            store.db.execute("UPDATE contacts SET name = name || ?, role = ?", (ATTR, SCRIPT))
            store.db.execute("UPDATE interests SET snippet = ?, text = ?", (SCRIPT, IMG))
        folder = write_report(store, config, NOW + dt.timedelta(days=2))

    html = (folder / "index.html").read_text(encoding="utf-8")
    _assert_inert(html)
    _assert_no_script_urls(html)
    tags = [tag for tag, _ in _tags(html)]
    assert not {"iframe", "link", "object", "embed", "form", "base"} & set(tags)
    assert tags.count("style") == 1 and tags.count("body") == 1  # only the report's own
    assert not [a for t, a in _tags(html) if t == "meta" and (a.get("http-equiv") or "").lower() == "refresh"]
    assert not [a for t, a in _tags(html) if t == "a" and a.get("href") and not a["href"].startswith("#")]
    assert "&lt;svg/onload=alert(1)&gt;" in html
    assert "<mark>drift</mark>" in html  # highlighting still works around hostile text

    markdown = (folder / "report.md").read_text(encoding="utf-8")
    _assert_inert_markdown(markdown)
    assert "\\<script\\>alert(1)\\</script\\>" in markdown

    for row in _csv_rows(folder):
        assert not row["title"].startswith(("=", "+", "-", "@"))

    import pandas as pd

    frame = pd.read_parquet(folder / "suggestions.parquet")
    assert set(HOSTILE_TEXTS) >= set(frame["title"])  # kept verbatim for analysis, never rendered


ANGLES = (
    "partitions rebalance too often while producers burst during holiday sales",
    "broker disks fill up and retention settings need careful tuning by operators",
    "schema registry upgrades break deserialisation for older services downstream",
    "exactly once delivery needs idempotent sinks and transactional writes everywhere",
    "autoscaling workers on queue depth keeps dashboards fresh during peak hours",
    "watermarks decide when windowed aggregations may close and emit results",
    "dead letter topics catch poison messages before they stall whole pipelines",
    "tiered storage moves cold segments to object stores and cuts cluster costs",
)


def _hostile_feed(base: str) -> str:
    items = []
    # Script URLs as entry links never become documents (a gift needs an http link); they are
    # recorded as blocked. The entries that reach the report carry markup in an http link's path.
    for i, url in enumerate(HOSTILE_URLS[:4]):
        items.append(f"<item><title>Script link {i}</title><link>{xml_escape(url)}</link></item>")
    for i in range(8):
        url = f'{base}/c/<script>alert(document.cookie)</script>/{i}"onmouseover="alert(1)/page.html'
        title = HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)]
        # Each entry tells its own story, so the near-duplicate filter keeps them all.
        words = " ".join([f"Kafka consumer lag and stream processing: {ANGLES[i]}."] * 8)
        body = f"{HOSTILE_TEXTS[(i + 3) % len(HOSTILE_TEXTS)]} {words}"
        items.append(
            f"<item><title>{xml_escape(title)} Kafka consumer lag {i}</title>"
            f"<link>{xml_escape(url)}</link><guid isPermaLink='false'>hostile-{i}</guid>"
            f"<author>{xml_escape(HOSTILE_TEXTS[(i + 1) % len(HOSTILE_TEXTS)])}</author>"
            f"<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>"
            f"<description>{xml_escape(body)}</description></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>{xml_escape(SCRIPT)} Evil feed</title><link>javascript:alert(1)</link>{''.join(items)}"
        "</channel></rss>"
    )


def test_report_from_a_hostile_feed_stays_inert(tmp_path: Path, httpserver: HTTPServer) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(_hostile_feed(base), content_type="application/rss+xml")
    write_acme_interview(tmp_path)
    (tmp_path / "gifts.toml").write_text(
        f'[sources]\nfeeds = ["{base}/feed.xml"]\n'
        "[fetch]\nallow_private_networks = true\nfetch_articles = false\n[rank]\nmin_score = 0.1\nmin_words = 50\n",
        encoding="utf-8",
    )
    config = load(tmp_path / "gifts.toml")
    key = model_key("all-MiniLM-L6-v2", ROOT / "models")
    result = runner.run(config, now=NOW, embedder_factory=lambda: FakeEmbedder(name=key))
    assert result.report_dir is not None
    assert result.counts["suggestions"] >= 3  # hostile entries really reach the report
    assert result.counts["blocked"] == 4  # the script links

    html = (result.report_dir / "index.html").read_text(encoding="utf-8")
    _assert_inert(html)
    _assert_no_script_urls(html)
    assert "Kafka consumer lag" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Evil feed" in html or "Evil feed" in html
    links = [a["href"] for t, a in _tags(html) if t == "a" and not (a.get("href") or "").startswith("#")]
    assert links and all(href.startswith(base + "/c/%3Cscript%3E") for href in links)
    assert not [href for href in links if set(href) & set('<>" ')]  # percent-encoded when canonicalised
    _assert_inert_markdown((result.report_dir / "report.md").read_text(encoding="utf-8"))


# -- parquet and timings -------------------------------------------------------------------------------


def test_a_local_file_is_shown_by_its_path_and_a_web_article_by_its_link(tmp_path: Path) -> None:
    local = _suggestion(id="eeeeeeeeee", url=None, title="Contract Testing", path="/home/ana/inbox/contracts_v3.pdf")
    web = _suggestion(id="ffffffffff", rank=2, title="Web")
    hostile = _suggestion(id="0000000000", rank=3, url=None, path=f"/home/ana/inbox/{SCRIPT}.html")
    context = _context([_card([local, web, hostile])])
    html = render("report.html.j2", **context)
    markdown = render("report.md.j2", **context)
    assert "file <code>/home/ana/inbox/contracts_v3.pdf</code>" in html
    assert "\n   file /home/ana/inbox/contracts\\_v3.pdf\n" in markdown
    assert "\n   <https://example.org/a>\n" in markdown  # a web article keeps its link, with no path
    _assert_inert(html)
    _assert_inert_markdown(markdown)
    _write_csv(tmp_path / "s.csv", suggestion_rows(context["cards"]))
    rows = _csv_rows_at(tmp_path / "s.csv")
    assert [(r["path"], r["url"]) for r in rows[:2]] == [
        ("/home/ana/inbox/contracts_v3.pdf", ""),
        ("", "https://example.org/a"),
    ]


def test_sample_local_files_have_their_path_and_a_title_from_their_content(sample_run: tuple[Config, Path]) -> None:
    import pandas as pd

    config, folder = sample_run
    rows = _csv_rows(folder)
    local = [r for r in rows if r["path"]]
    assert local, "the sample's inbox files are suggested"
    for row in local:
        path = Path(row["path"])
        assert path.is_file() and path.parent == config.root / "inbox"
        assert row["url"] == "" and row["title"] != path.stem.replace("-", " ")
    assert all(r["url"] for r in rows if not r["path"])
    assert md_text(row["path"]) in (folder / "report.md").read_text(encoding="utf-8")
    assert row["path"] in (folder / "index.html").read_text(encoding="utf-8")
    frame = pd.read_parquet(folder / "suggestions.parquet")
    assert set(frame["path"].dropna()) == {r["path"] for r in local}


def test_parquet_holds_the_score_parts_of_every_csv_row(sample_run: tuple[Config, Path]) -> None:
    import pandas as pd

    _, folder = sample_run
    frame = pd.read_parquet(folder / "suggestions.parquet")
    assert tuple(frame.columns) == PARQUET_COLUMNS
    rows = _csv_rows(folder)
    assert list(frame["suggestion_id"]) == [r["suggestion_id"] for r in rows]
    assert frame["score"].dtype == "float64" and str(frame["rank"].dtype) == "Int64"
    for record, row in zip(frame.to_dict("records"), rows, strict=True):
        assert record["dense"] == pytest.approx(float(row["dense"]))
        assert record["lexical"] == pytest.approx(float(row["lexical"]))
        assert 0 < record["freshness"] <= 1
        # The parts explain the score: fused = weighted parts, score = fused moved by freshness.
        fused = (0.7 * record["dense"] + 0.3 * record["lexical"]) * record["interest_weight"]
        assert record["fused"] == pytest.approx(fused, abs=2e-4)
        assert record["score"] == pytest.approx(
            combine(record["fused"], record["freshness"], record["quality"], RankSettings()), abs=2e-4
        )


def test_report_shows_this_runs_timings_and_a_sanitised_chart(sample_run: tuple[Config, Path]) -> None:
    config, folder = sample_run
    html = (folder / "index.html").read_text(encoding="utf-8")
    summary = html[html.index('id="summary"') :]
    for stage in ("fetch", "parse", "extract", "profile", "embed", "rank"):
        assert f'<th class="num">{stage}</th>' in summary
    assert html.count("<svg") == 1 and html.index("<svg") > html.index('id="summary"')
    svg = summary[summary.index("<svg") : summary.index("</svg>")]
    assert "<script" not in svg and "foreignObject" not in svg and "<image" not in svg
    assert not re.search(r"href=\"(?!#)", svg)
    assert "Amara Okafor" in svg  # a contact's name is drawn as text, escaped by the SVG writer

    # `gifts report` on its own shows the last recorded run's timings.
    with Store(config.paths.store) as store:
        recorded = json.loads(store.scalar("SELECT timings FROM runs ORDER BY id DESC LIMIT 1"))
        again = write_report(store, config, NOW + dt.timedelta(days=3))
    html = (again / "index.html").read_text(encoding="utf-8")
    assert f"{sum(recorded.values()):.2f} s" in html


def test_a_real_latest_folder_is_never_deleted(workspace: Path) -> None:
    """After a copy without symlinks `latest` may be a real folder: the report leaves it alone."""
    config = load(workspace)
    real = config.paths.reports / "latest"
    real.mkdir(parents=True)
    (real / "keep.txt").write_text("mine", encoding="utf-8")
    runner.run(config, now=NOW, embedder_factory=nightly_fake)
    assert (real / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert (config.paths.reports / NOW.date().isoformat() / "index.html").is_file()


# -- one rule per format, on a feed that injects, spoofs and leaks (issue 12) -------------------------

RLO = "\u202e"
SCRIPT_PATH = "/c/<script>alert(document.cookie)</script>/page.html"


def _leaky_feed(base: str) -> str:
    """No feed title, so the source is shown by its URL; links carrying a script and credentials."""
    host = base.removeprefix("http://")
    links = (f"{base}{SCRIPT_PATH}", f"http://me:SECRET@{host}/own", f"{base}/plain")
    items = []
    for i, link in enumerate(links):
        words = " ".join([f"Kafka consumer lag and stream processing: {ANGLES[i]}."] * 8)
        items.append(
            f"<item><title>Kafka consumer lag {i} {RLO}gnp.exe</title><link>{xml_escape(link)}</link>"
            f"<author>Eve {RLO}liveE</author><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>"
            f"<description>{xml_escape(words)}</description></item>"
        )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{"".join(items)}</channel></rss>'


def test_every_format_escapes_links_redacts_credentials_and_strips_bidi(tmp_path: Path, httpserver: HTTPServer) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(_leaky_feed(base), content_type="application/rss+xml")
    write_acme_interview(tmp_path)
    feed = base.replace("http://", "http://reader:TOKEN@") + "/feed.xml"
    (tmp_path / "gifts.toml").write_text(
        f'[sources]\nfeeds = ["{feed}"]\n'
        "[fetch]\nallow_private_networks = true\nfetch_articles = false\n[rank]\nmin_score = 0.1\nmin_words = 50\n",
        encoding="utf-8",
    )
    config = load(tmp_path / "gifts.toml")
    key = model_key("all-MiniLM-L6-v2", ROOT / "models")
    result = runner.run(config, now=NOW, embedder_factory=lambda: FakeEmbedder(name=key))
    assert result.report_dir is not None and result.counts["suggestions"] == 3
    folder = result.report_dir
    encoded = f"{base}/c/%3Cscript%3Ealert(document.cookie)%3C/script%3E/page.html"
    redacted = base.replace("http://", "http://***@") + "/feed.xml"

    html = (folder / "index.html").read_text(encoding="utf-8")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    table = (folder / "suggestions.csv").read_text(encoding="utf-8")
    for text in (html, markdown, table):
        assert "TOKEN" not in text and "SECRET" not in text and "reader:" not in text
        assert RLO not in text
        assert "<script" not in text and "alert(document.cookie)</" not in text
        assert "Kafka consumer lag 0 gnp.exe" in text
    _assert_inert(html)
    assert encoded in [attrs["href"] for tag, attrs in _tags(html) if tag == "a"]
    assert f"{base}/own" in [attrs["href"] for tag, attrs in _tags(html) if tag == "a"]  # sent without its login
    assert html.count(redacted) >= 4 and "by Eve liveE" in html  # the source, shown by its URL; the author
    _assert_inert_markdown(markdown)
    assert f"   <{encoded}>" in markdown and f"({md_text(redacted)}, 2026-11-24" in markdown
    rows = {r["title"]: r for r in _csv_rows(folder)}
    assert rows["Kafka consumer lag 0 gnp.exe"]["url"] == encoded
    assert {r["source"] for r in rows.values()} == {redacted}

    import pandas as pd

    frame = pd.read_parquet(folder / "suggestions.parquet")
    assert set(frame["source"]) == {redacted} and encoded in set(frame["url"])


def test_links_stored_before_canonical_urls_were_encoded_are_still_escaped(tmp_path: Path) -> None:
    """A store written by an older version keeps raw < > and credentials in its URLs: the report's rule holds."""
    raw = f"http://user:TOKEN@host.example{SCRIPT_PATH}"
    encoded = "http://***@host.example/c/%3Cscript%3Ealert(document.cookie)%3C/script%3E/page.html"
    suggestion = _suggestion(url=raw, title=f"T {RLO}1", source=f"{raw} {RLO}", author=f"A {RLO}")
    context = _context([_card([suggestion])])
    html = render("report.html.j2", **context)
    markdown = render("report.md.j2", **context)
    for text in (html, markdown):
        assert "TOKEN" not in text and RLO not in text and "alert(document.cookie)</" not in text
    assert encoded in [attrs["href"] for tag, attrs in _tags(html) if tag == "a"]
    assert f"   <{encoded}>" in markdown
    _assert_inert_markdown(markdown)

    rows = [{**dict.fromkeys(CSV_COLUMNS, ""), "url": raw, "title": f"=T {RLO}", "source": raw, "contact": "-x"}]
    _write_csv(tmp_path / "s.csv", [{**r, "suggestion_id": "s", "dense": 0.1, "lexical": 0.2} for r in rows])
    (row,) = _csv_rows_at(tmp_path / "s.csv")
    assert row["url"] == encoded and row["title"] == "'=T " and row["contact"] == "'-x"
    # A text cell stays verbatim (a spreadsheet renders no markup), credentials and all formulas aside.
    assert row["source"] == "http://***@host.example/c/<script>alert(document.cookie)</script>/page.html"


def _csv_rows_at(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# -- one story once, and lists in score order ------------------------------------------------------------


def test_template_names_the_other_outlets_and_why_an_item_moved() -> None:
    other = {"source": HOSTILE, "title": HOSTILE, "href": "https://example.org/elsewhere"}
    plain = {"source": "Local Paper", "title": "Plague case confirmed", "href": None}
    moved = "placed here by your past sent and skipped decisions (feedback 0.81)"
    suggestions = [
        _suggestion(also=[other, plain], moved=moved, score=0.5),
        _suggestion(id="bbbbbbbbbb", rank=2, score=0.55),
    ]
    context = _context([_card(suggestions)])
    html = render("report.html.j2", **context)
    markdown = render("report.md.j2", **context)
    _assert_inert(html)
    _assert_inert_markdown(markdown)
    assert 'also covered by <a href="https://example.org/elsewhere"' in html
    assert '<span title="Plague case confirmed">Local Paper</span></div>' in html
    assert html.count("also covered by") == 1 and f"&middot; {moved}" in html
    assert "\n   also covered by " in markdown and ", Local Paper\n" in markdown
    assert markdown.count("also covered by") == 1 and f"; {moved}\n" in markdown


def test_report_shows_the_same_story_from_other_outlets_and_explains_a_moved_item(
    sample_run: tuple[Config, Path],
) -> None:
    config, _ = sample_run
    with Store(config.paths.store) as store:
        rows = store.query(
            "SELECT s.id, s.contact_id, s.doc_id, s.score, d.source_id FROM suggestions s"
            " JOIN documents d ON d.id = s.doc_id WHERE s.active = 1 ORDER BY s.contact_id, s.rank"
        )
        first = rows[0]
        mine = [r for r in rows if r["contact_id"] == first["contact_id"]]
        assert len(mine) >= 2 and mine[0]["score"] >= mine[1]["score"]  # the rank stage's lists fall
        others = store.query(
            "SELECT d.id, d.title, COALESCE(s.title, s.location) AS source FROM documents d"
            " JOIN sources s ON s.id = d.source_id WHERE d.state = 'extracted' AND d.source_id != ? LIMIT 2",
            (first["source_id"],),
        )
        # This story was also told by two other outlets (or one outlet twice: named once).
        also = [others[0]["id"], others[0]["id"], others[1]["id"]]
        # A feedback re-rank placed the second item first, above a higher score.
        parts = {"dense": 0.5, "lexical": 0.5, "freshness": 1.0, "feedback": 0.81, "base_rank": 2}
        with store.transaction():
            store.db.execute("UPDATE suggestions SET also = ? WHERE id = ?", (json.dumps(also), first["id"]))
            store.db.execute(
                "UPDATE suggestions SET score = ?, parts = ? WHERE id = ?",
                (mine[1]["score"] - 0.1, json.dumps(parts), first["id"]),
            )
        folder = write_report(store, config, NOW + dt.timedelta(days=4))
    names = list(dict.fromkeys(r["source"] for r in others))
    html = (folder / "index.html").read_text(encoding="utf-8")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    section = html[html.index(f'id="s-{first["id"]}"') :]
    section = section[: section.index("</li>")]
    assert "also covered by" in section and all(str(escape_html(n)) in section for n in names)
    assert "placed here by your past sent and skipped decisions (feedback 0.81)" in section
    assert f"also covered by {', '.join(md_text(n) for n in names)}\n" in markdown
    csv_rows = {r["suggestion_id"]: r for r in _csv_rows(folder)}
    assert "also_covered_by" in CSV_COLUMNS and "also_covered_by" in PARQUET_COLUMNS
    assert csv_rows[first["id"]]["also_covered_by"] == ", ".join(names)
    assert all(r["also_covered_by"] == "" for key, r in csv_rows.items() if key != first["id"])
