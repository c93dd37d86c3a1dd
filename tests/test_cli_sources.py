"""`gifts init` and `gifts sources ...` through the CLI, and a new user's first hour end to end."""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import re
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from click.testing import CliRunner
from conftest import ROOT
from pytest_httpserver import HTTPServer

from pipeline.cli import main
from pipeline.sources import read_opml

ARTICLES = ROOT / "data" / "sample" / "articles" / "data-reliability"


def gifts(*args: str) -> tuple[int, str]:
    """Run `gifts ARGS` in the current folder: (exit code, stdout, or stderr when stdout is empty)."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout or result.stderr


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh `gifts init` workspace as the current folder, allowed to fetch from 127.0.0.1."""
    monkeypatch.delenv("GIFTS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out = gifts("init", "ws")
    assert code == 0, out
    monkeypatch.chdir(tmp_path / "ws")
    allow_loopback(tmp_path / "ws" / "gifts.toml")
    return tmp_path / "ws"


def allow_loopback(config: Path) -> None:
    """What a user does in an editor to read a mirror on this machine: one value changed, nothing else."""
    text = config.read_text(encoding="utf-8")
    edited = text.replace("allow_private_networks = false", "allow_private_networks = true ", 1)
    assert edited != text
    config.write_text(edited, encoding="utf-8")


def comment_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("#")]


def rss(items: list[tuple[str, str, str]], title: str = "Pipeline Post") -> bytes:
    body = "".join(
        f"<item><title>{html.escape(t)}</title><link>{html.escape(link)}</link><guid>{html.escape(link)}</guid>"
        f"<pubDate>{date}</pubDate></item>"
        for t, link, date in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def test_init_writes_the_workspace_and_refuses_a_second_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIFTS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out = gifts("init", "ws")
    assert code == 0, out
    assert "created ws/gifts.toml" in out and "gifts sources add" in out
    code, out = gifts("init", "ws")
    assert code == 2 and out.strip().endswith("already exists; edit it, or run `gifts init` in another folder")
    assert len(out.strip().splitlines()) == 1
    code, out = gifts("--config", "ws/gifts.toml", "status")
    assert code == 0, out  # a fresh workspace is a valid one


def test_add_list_remove_import_export_round_trip_keeps_comments(workspace: Path, httpserver: HTTPServer) -> None:
    config = workspace / "gifts.toml"
    comments = comment_lines(config)
    feed = rss([("One", "http://x.example/1", "Mon, 02 Nov 2026 10:00:00 GMT")])
    link = '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
    httpserver.expect_request("/").respond_with_data(f"<html><head>{link}</head></html>", content_type="text/html")
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    httpserver.expect_request("/other.xml").respond_with_data(
        rss([], title="Other &amp; Co"), content_type="application/rss+xml"
    )
    site, feed_url, other = httpserver.url_for("/"), httpserver.url_for("/feed.xml"), httpserver.url_for("/other.xml")

    code, out = gifts("sources", "add", site)
    assert code == 0, out
    assert out.strip() == f"added {feed_url} (Pipeline Post): 1 entries, found as <link rel=alternate> on {site}"
    code, out = gifts("sources", "add", other, "--name", 'Other "quoted" <name>')
    assert code == 0, out
    code, out = gifts("sources", "add", feed_url)
    assert (code, out.strip()) == (0, f"already listed: {feed_url}")

    opml = workspace / "reader.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="Folder">'
        '<outline text="A &amp; B" xmlUrl="https://a.example/feed?x=1&amp;y=2"/>'
        f'<outline text="dup" xmlUrl="{feed_url}"/></outline></body></opml>',
        encoding="utf-8",
    )
    code, out = gifts("sources", "import-opml", str(opml))
    assert (code, out.strip()) == (0, f"imported 1 feeds from {opml} (1 already listed)")

    code, out = gifts("sources", "list")
    assert code == 0, out
    assert out.splitlines() == [
        f"{feed_url}  Pipeline Post  (gifts.toml)",
        f'{other}  Other "quoted" <name>  (gifts.toml)',
        "https://a.example/feed?x=1&y=2  A & B  (gifts.toml)",
    ]
    code, out = gifts("sources", "remove", "pipeline post")
    assert (code, out.strip()) == (0, f"removed {feed_url} (Pipeline Post)")

    code, out = gifts("sources", "export-opml", "out.opml")
    assert (code, out.strip()) == (0, "wrote 2 feeds to out.opml")
    assert read_opml(workspace / "out.opml") == [
        (other, 'Other "quoted" <name>'),
        ("https://a.example/feed?x=1&y=2", "A & B"),
    ]
    code, printed = gifts("sources", "export-opml")
    assert printed == (workspace / "out.opml").read_text(encoding="utf-8")

    assert set(comments) <= set(comment_lines(config)), "a comment of gifts.toml was lost"
    assert '# Other "quoted" <name>' in config.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("sources", "add", "ftp://example.org/feed"), r"^gifts: error: ftp://example.org/feed: .*only http and https"),
        (("sources", "add", "URL/gone"), r"^gifts: error: http://[^/]+/gone: cannot fetch: http 404$"),
        (("sources", "add", "URL/"), r"^gifts: error: http://[^/]+/: no feed found .*give the feed's URL$"),
        (("sources", "remove", "nothing-like-it"), r"^gifts: error: nothing-like-it: no feed matches"),
        (("sources", "import-opml", "missing.opml"), r"^gifts: error: missing\.opml: cannot read OPML file"),
        (("sources", "import-opml", "bad.opml"), r"^gifts: error: bad\.opml:1: not well-formed OPML"),
    ],
)
def test_bad_input_is_one_line_naming_the_url_or_file(
    workspace: Path, httpserver: HTTPServer, args: tuple[str, ...], expected: str
) -> None:
    httpserver.expect_request("/gone").respond_with_data("gone", status=404)
    httpserver.expect_request("/").respond_with_data("<html><p>no feed</p></html>", content_type="text/html")
    (workspace / "bad.opml").write_text("<opml><body>", encoding="utf-8")
    before = (workspace / "gifts.toml").read_text(encoding="utf-8")
    args = tuple(a.replace("URL", httpserver.url_for("").rstrip("/")) for a in args)
    code, out = gifts(*args)
    assert code == 2
    assert len(out.strip().splitlines()) == 1 and re.match(expected, out.strip()), out
    assert (workspace / "gifts.toml").read_text(encoding="utf-8") == before


def _article_page(path: Path) -> tuple[str, str]:
    """(title, an HTML page) for one of the sample's Markdown articles."""
    front, body = path.read_text(encoding="utf-8").split("---\n", 2)[1:]
    title = re.search(r'^title: "(.*)"$', front, re.M).group(1)  # type: ignore[union-attr]
    paragraphs = "".join(
        f"<h2>{html.escape(p[3:])}</h2>" if p.startswith("## ") else f"<p>{html.escape(p)}</p>"
        for p in body.split("\n\n")
        if p.strip()
    )
    shown = html.escape(title)
    page = (
        f"<html><head><title>{shown}</title></head><body><article><h1>{shown}</h1>{paragraphs}</article></body></html>"
    )
    return title, page


def test_a_new_users_first_hour_from_an_empty_folder_to_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    """The README's walk-through, command by command, against a blog served on 127.0.0.1 (real model)."""
    # A blog: a home page announcing its feed, the feed, and the articles it lists (published this week).
    now = dt.datetime.now(dt.UTC)
    items = []
    for day, path in enumerate(sorted(ARTICLES.glob("*.md"))[:6], start=1):
        title, page = _article_page(path)
        link = httpserver.url_for(f"/posts/{path.stem}.html")
        httpserver.expect_request(f"/posts/{path.stem}.html").respond_with_data(page, content_type="text/html")
        items.append((title, link, format_datetime(now - dt.timedelta(days=day), usegmt=True)))
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(rss(items), content_type="application/rss+xml")
    link = '<link rel="alternate" type="application/rss+xml" title="Pipeline Post" href="feed.xml">'
    httpserver.expect_request("/").respond_with_data(
        f"<html><head>{link}</head><body>Welcome</body></html>", content_type="text/html"
    )

    monkeypatch.delenv("GIFTS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    # 1. gifts init ~/gifts && cd ~/gifts
    code, out = gifts("init", "gifts")
    assert code == 0, out
    monkeypatch.chdir(tmp_path / "gifts")
    allow_loopback(tmp_path / "gifts" / "gifts.toml")  # only because the "blog" is on this machine
    # 2. gifts sources add https://example.org/blog
    code, out = gifts("sources", "add", httpserver.url_for("/"))
    assert code == 0 and out.startswith(f"added {httpserver.url_for('/feed.xml')}"), out
    # 3. gifts new-interview --company ... --interviewer ..., then fill the file in
    code, out = gifts(
        "new-interview",
        "--company",
        "Northwind Logistics",
        "--position",
        "Data Engineer",
        "--interviewer",
        "Priya Raman",
    )
    assert code == 0, out
    interview = Path(out.strip().removeprefix("created "))
    text = interview.read_text(encoding="utf-8")
    text = text.replace(
        "    #   - what they want to achieve\n",
        "      - data quality checks that catch silent errors before dashboards break\n",
    )
    text = text.split("---\nNotes:", 1)[0] + (
        "---\nPriya said the nightly revenue dashboards were wrong for days last quarter because a null "
        "field slipped past every row-count check, and nobody noticed until finance reconciled.\n"
    )
    interview.write_text(text, encoding="utf-8")
    # 4. gifts run
    code, out = gifts("run")
    assert code == 0, out
    assert "report: " in out
    # 5. open data/processed/reports/latest/index.html
    latest = tmp_path / "gifts" / "data" / "processed" / "reports" / "latest"
    assert (latest / "index.html").is_file()
    with (latest / "suggestions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["contact"] for r in rows} == {"Priya Raman"}
    assert all(r["url"].startswith(httpserver.url_for("/posts/")) for r in rows)


SEARCH = ROOT / "tests" / "fixtures" / "search"
SAMPLE_ARTICLES = ROOT / "data" / "sample" / "articles"
# Each recorded answer, in its service's real format, at the path its base URL is set to; the item
# links of the recordings, served from 127.0.0.1 as sample articles on the same topic.
RECORDINGS = json.loads((SEARCH / "recordings.json").read_text(encoding="utf-8"))
SEARCH_PATHS: dict[str, list[str]] = RECORDINGS["services"]
SEARCH_PAGES: dict[str, str] = RECORDINGS["pages"]
ITEM_LINK = re.compile(RECORDINGS["item_link"])


def serve_search_recordings(httpserver: HTTPServer) -> None:
    """Every service answers with its recording, its item links rewritten to pages on this server."""
    web = httpserver.url_for("/web/")
    for service, (path, name, content_type) in SEARCH_PATHS.items():
        body = ITEM_LINK.sub(lambda m: f"{web}{m.group(1)}/", (SEARCH / name).read_text(encoding="utf-8"))
        if service == "hackernews":  # without its Ask HN story, whose link is news.ycombinator.com's
            answer = json.loads(body)
            answer["hits"] = [hit for hit in answer["hits"] if hit["url"]]
            body = json.dumps(answer)
        httpserver.expect_request(path).respond_with_data(body, content_type=content_type)
    for link, article in SEARCH_PAGES.items():
        _, page = _article_page(SAMPLE_ARTICLES / article)
        httpserver.expect_request(f"/web/{link}").respond_with_data(page, content_type="text/html")
    # The other items (a paper with no sample article on its topic, news stories): a short page.
    short = "<html><head><title>News</title></head><body><p>A short news item.</p></body></html>"
    httpserver.expect_request(re.compile(r"^/web/.*")).respond_with_data(short, content_type="text/html")


def test_the_first_hour_with_search_sources_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    """The walk-through with `[search] enabled`: a suggestion comes from a search source, and the
    queries carry the interview's interest (services and item pages on 127.0.0.1, real model)."""
    now = dt.datetime.now(dt.UTC)
    items = []
    # The blog lists other data-reliability articles than the ones the search items link to.
    for day, path in enumerate(sorted(ARTICLES.glob("*.md"))[5:9], start=1):
        title, page = _article_page(path)
        httpserver.expect_request(f"/posts/{path.stem}.html").respond_with_data(page, content_type="text/html")
        link = httpserver.url_for(f"/posts/{path.stem}.html")
        items.append((title, link, format_datetime(now - dt.timedelta(days=day), usegmt=True)))
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(rss(items), content_type="application/rss+xml")
    link = '<link rel="alternate" type="application/rss+xml" title="Pipeline Post" href="feed.xml">'
    httpserver.expect_request("/").respond_with_data(f"<html><head>{link}</head></html>", content_type="text/html")
    serve_search_recordings(httpserver)

    monkeypatch.delenv("GIFTS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out = gifts("init", "gifts")
    assert code == 0, out
    monkeypatch.chdir(tmp_path / "gifts")
    config = tmp_path / "gifts" / "gifts.toml"
    allow_loopback(config)
    # Search on, each service's base URL pointed at this machine: keys uncommented in an editor.
    head, search = config.read_text(encoding="utf-8").split("\n[search]\n", 1)
    base = httpserver.url_for("").rstrip("/")
    settings = {"enabled": "true", "min_interval_s": "0"}
    settings |= {f"{service}_url": f'"{base}{path}"' for service, (path, _, _) in SEARCH_PATHS.items()}
    for key, value in settings.items():
        search, found = re.subn(rf"^# {key} = [^#\n]*", f"{key} = {value} ", search, count=1, flags=re.M)
        assert found == 1, key
    config.write_text(f"{head}\n[search]\n{search}", encoding="utf-8")
    code, out = gifts("sources", "add", httpserver.url_for("/"))
    assert code == 0 and out.startswith(f"added {httpserver.url_for('/feed.xml')}"), out
    code, out = gifts("new-interview", "--company", "Northwind Logistics", "--interviewer", "Priya Raman")
    assert code == 0, out
    interview = Path(out.strip().removeprefix("created "))
    interest = "data quality checks that catch silent errors before dashboards break"
    text = interview.read_text(encoding="utf-8").replace(
        "    #   - what they want to achieve\n", f"      - {interest}\n"
    )
    text = text.split("---\nNotes:", 1)[0] + (
        "---\nPriya said the nightly revenue dashboards were wrong for days last quarter because a null "
        "field slipped past every row-count check, and nobody noticed until finance reconciled.\n"
    )
    interview.write_text(text, encoding="utf-8")
    code, out = gifts("run")
    assert code == 0, out

    # What was asked: the interest's words of every service, the company of Google News.
    asked = sorted(
        (req.path, sorted(parse_qsl(req.query_string.decode())))
        for req, _ in httpserver.log
        if req.args and not req.path.startswith("/web/")
    )
    paths = {service: path for service, (path, _, _) in SEARCH_PATHS.items()}
    news = [("ceid", "US:en"), ("gl", "US"), ("hl", "en-US")]
    assert asked == sorted(
        [
            (
                paths["arxiv"],
                [("max_results", "10"), ("search_query", f'all:"{interest}"'), ("sortBy", "submittedDate")],
            ),
            (paths["crossref"], [("order", "desc"), ("query", interest), ("rows", "10"), ("sort", "published")]),
            (paths["hackernews"], [("hitsPerPage", "10"), ("query", interest), ("tags", "story")]),
            (paths["googlenews"], sorted([*news, ("q", interest)])),
            (paths["googlenews"], sorted([*news, ("q", '"Northwind Logistics"')])),
        ]
    )
    assert any(req.path.startswith("/web/") for req, _ in httpserver.log)  # item pages were fetched
    latest = tmp_path / "gifts" / "data" / "processed" / "reports" / "latest"
    with (latest / "suggestions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["contact"] for r in rows} == {"Priya Raman"}
    # The source's title is the service's answer's own title, which names the service.
    searched = [r for r in rows if r["source"].startswith(("Hacker News", "ArXiv", "arXiv", "Crossref", "Google News"))]
    assert searched, [(r["title"], r["source"]) for r in rows]
    assert all(r["url"].startswith(httpserver.url_for("/web/")) for r in searched)
    assert (latest / "index.html").is_file()
