"""Tests for pipeline.feeds: the sample feeds, canonical URLs and ids, hostile links, a feed corpus."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from conftest import SAMPLE, SHARED

from pipeline.archive import Archive
from pipeline.feeds import canonical_url, document_id, parse_feed, strip_html
from pipeline.sources import read_opml

FEED_CORPUS = SHARED / "fixtures" / "feedparser-tests"
WHITE_PAPERS = "https://papers.research-digest.example/feed.atom"


def sample_feed_urls() -> list[str]:
    return [url for url, _title in read_opml(SAMPLE / "sources.opml")]


def sample_feed_body(url: str) -> bytes:
    archive = Archive(SAMPLE / "data" / "raw")
    entry = archive.get(url)
    assert entry is not None, f"{url} is not in the sample archive"
    return archive.read(entry.sha256)


def rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://site.example/</link>{items}</channel></rss>"
    ).encode()


def test_sample_opml_lists_five_feeds() -> None:
    assert len(sample_feed_urls()) == 5


@pytest.mark.parametrize("url", sample_feed_urls())
def test_sample_feed_parses(url: str) -> None:
    parsed = parse_feed(sample_feed_body(url), url)
    assert parsed.title
    assert len(parsed.entries) >= 10
    assert len({e.id for e in parsed.entries}) == len(parsed.entries)
    host = url.split("/")[2]
    for entry in parsed.entries:
        assert entry.title and not entry.title.startswith("http")
        assert entry.url is not None and entry.url.startswith(f"https://{host}/")
        assert entry.published is not None
        assert dt.date.fromisoformat(entry.published).year == 2026
        assert len(entry.id) == 16
        assert entry.id == document_id(entry.url, entry.guid, "unused")
        assert "<" not in entry.summary  # markup stripped
    assert {e.kind for e in parsed.entries} == ({"pdf"} if url == WHITE_PAPERS else {"html"})


def test_sample_feed_first_entry_details() -> None:
    url = "https://pipeline-post.example/feed.xml"
    first = parse_feed(sample_feed_body(url), url).entries[0]
    assert first.title.startswith("Watermarks and Late Data")
    assert first.url == "https://pipeline-post.example/2026/10/watermarks-and-late-data/"
    assert first.published == "2026-10-27"
    assert first.author == "Tariq Holmgren"


def test_white_paper_entries_are_pdfs() -> None:
    parsed = parse_feed(sample_feed_body(WHITE_PAPERS), WHITE_PAPERS)
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.kind == "pdf"
        assert entry.url is not None and entry.url.endswith(".pdf")


def test_well_formed_feed_is_not_bozo() -> None:
    url = "https://pipeline-post.example/feed.xml"
    assert parse_feed(sample_feed_body(url), url).bozo is None


def test_ill_formed_feed_keeps_entries_and_says_why() -> None:
    body = rss("<item><title>One &amp; only</title><link>https://site.example/1</link></item><item><title>Two")
    parsed = parse_feed(body, "https://site.example/feed")
    assert parsed.bozo
    assert [e.title for e in parsed.entries][:1] == ["One & only"]


def test_parse_feed_refuses_a_string() -> None:
    with pytest.raises(TypeError):
        parse_feed("https://site.example/feed.xml", "https://site.example/feed.xml")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_feed(str(SAMPLE / "sources.opml"), "https://site.example/")  # type: ignore[arg-type]


def test_javascript_link_is_dropped() -> None:
    body = rss(
        "<item><title>Evil</title><link>javascript:alert(document.cookie)</link></item>"
        "<item><title>Data</title><link>data:text/html,&lt;script&gt;x&lt;/script&gt;</link></item>"
        "<item><title>Fine</title><link>https://site.example/fine</link></item>"
    )
    entries = {e.title: e for e in parse_feed(body, "https://site.example/feed").entries}
    assert entries["Evil"].url is None
    assert entries["Data"].url is None
    assert entries["Fine"].url == "https://site.example/fine"


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = rss("<item><title>Rel</title><link>/posts/1?utm_source=rss</link></item>")
    (entry,) = parse_feed(body, "https://site.example/blog/feed.xml").entries
    assert entry.url == "https://site.example/posts/1"


def test_pdf_enclosure_makes_a_white_paper() -> None:
    body = rss(
        "<item><title>Paper</title><link>https://site.example/paper</link>"
        '<enclosure url="https://site.example/files/paper" type="application/pdf" length="10"/></item>'
    )
    (entry,) = parse_feed(body, "https://site.example/feed").entries
    assert entry.kind == "pdf"
    assert entry.url == "https://site.example/files/paper"


def test_duplicate_links_give_one_entry() -> None:
    body = rss(
        "<item><title>First</title><link>https://site.example/a?utm_medium=x</link></item>"
        "<item><title>Again</title><link>https://SITE.example/a#comments</link></item>"
    )
    entries = parse_feed(body, "https://site.example/feed").entries
    assert [e.title for e in entries] == ["First"]


def test_entry_without_link_uses_guid_for_its_id() -> None:
    body = rss('<item><title>No link</title><guid isPermaLink="false">tag:site,2026:1</guid></item>')
    (entry,) = parse_feed(body, "https://site.example/feed").entries
    assert entry.url is None
    assert entry.guid == "tag:site,2026:1"
    assert entry.id == document_id(None, "tag:site,2026:1", "x")


def test_canonical_url_drops_tracking_and_fragment_and_lowers_host() -> None:
    url = "HTTPS://News.Example.COM/Path/Story?utm_source=rss&id=7&utm_campaign=fall&fbclid=abc#comments"
    assert canonical_url(url) == "https://news.example.com/Path/Story?id=7"


def test_canonical_url_keeps_other_params_in_order() -> None:
    assert canonical_url("https://a.example/s?b=2&a=1&UTM_Medium=x") == "https://a.example/s?b=2&a=1"
    assert canonical_url("https://a.example") == "https://a.example/"
    assert canonical_url("  https://a.example/x#top  ") == "https://a.example/x"


def test_document_id_is_stable_for_one_canonical_url() -> None:
    plain = document_id("https://news.example.com/story", None, "f")
    assert len(plain) == 16
    assert set(plain) <= set("0123456789abcdef")
    assert document_id("https://NEWS.example.com/story?utm_source=x#c", "guid-1", "g") == plain
    assert document_id("https://news.example.com/story", None, "f") == plain
    assert document_id("https://news.example.com/other", None, "f") != plain
    assert document_id(None, "guid-1", "f") == document_id(None, "guid-1", "other")
    assert document_id(None, None, "f1") != document_id(None, None, "f2")


def test_strip_html() -> None:
    assert strip_html("<p>Fish &amp; <b>chips</b></p>\n\n<br/>today") == "Fish & chips today"


def test_every_feedparser_fixture_parses_without_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    files = sorted(p for p in FEED_CORPUS.rglob("*") if p.is_file())
    assert len(files) > 250  # the corpus is there (304 XML files plus its notes)
    failures: list[str] = []
    entries = 0
    for path in files:
        try:
            entries += len(parse_feed(path.read_bytes(), f"https://corpus.example/{path.name}").entries)
        except Exception as exc:  # the point is to count every kind of escape
            failures.append(f"{path.relative_to(FEED_CORPUS)}: {type(exc).__name__}: {exc}")
    assert failures == []
    assert entries > 100


def test_entity_bomb_is_bounded() -> None:
    import time

    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&j;</title>'
        "<item><title>&j;</title><link>https://site.example/1</link></item></channel></rss>"
    ).encode()
    started = time.perf_counter()
    parsed = parse_feed(body, "https://site.example/feed")
    assert time.perf_counter() - started < 5
    assert len(parsed.title) < 10_000 and all(len(e.title) < 10_000 for e in parsed.entries)


def test_external_entity_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]><rss version="2.0"><channel>'
        "<title>T</title><item><title>&x;</title><description>&x;</description>"
        "<link>https://site.example/1</link></item></channel></rss>"
    ).encode()
    parsed = parse_feed(body, "https://site.example/feed")
    assert "TOP-SECRET" not in repr(parsed)


def test_an_old_expat_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyexpat

    from pipeline.errors import GiftsError
    from pipeline.feeds import check_xml_parser

    check_xml_parser()  # this Python's expat bounds entity expansion
    monkeypatch.setattr(pyexpat, "version_info", (2, 2, 10))
    with pytest.raises(GiftsError, match=r"expat 2\.2\.10"):
        check_xml_parser()
