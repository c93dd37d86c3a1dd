"""Tests for pipeline.feeds: the sample feeds, canonical URLs and ids, hostile links, a feed corpus."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from conftest import SAMPLE, SHARED

from pipeline.archive import Archive
from pipeline.feeds import FeedRefused, canonical_url, document_id, link_refusal, parse_feed, strip_html
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


# -- unsafe characters, credentials and non-http links (issue 12) -----------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.com/story",
        "https://news.example.com/a/b.html?id=7&q=x+y",
        "https://de.wikipedia.example/wiki/M%C3%BCller_(Physiker)",
        "https://de.wikipedia.example/wiki/Müller",  # a letter of another script is safe as it is
        "https://a.example/p;param/x~y!$&'()*+,=:@z",
        "https://[2001:db8::1]:8443/x",
        "http://a.example:8080/%3Calready%3E",
    ],
)
def test_canonical_url_of_a_safe_url_is_unchanged_so_ids_stay(url: str) -> None:
    assert canonical_url(url) == url
    assert canonical_url(canonical_url(url)) == canonical_url(url)


def test_canonical_url_percent_encodes_what_no_url_may_carry_raw() -> None:
    hostile = "http://host/c/<script>alert(document.cookie)</script>/page.html"
    assert canonical_url(hostile) == "http://host/c/%3Cscript%3Ealert(document.cookie)%3C/script%3E/page.html"
    assert canonical_url('https://a.example/x" onmouseover="y') == "https://a.example/x%22%20onmouseover=%22y"
    assert canonical_url("https://a.example/a`b{c}") == "https://a.example/a%60b%7Bc%7D"
    assert canonical_url("https://a.example/\u202etxt.exe") == "https://a.example/%E2%80%AEtxt.exe"
    assert canonical_url("https://a.example/a\u00a0b\x7f") == "https://a.example/a%C2%A0b%7F"
    assert canonical_url("https://a.example/s?q=<b>") == "https://a.example/s?q=%3Cb%3E"
    assert canonical_url("https://a<b>.example/") == "https://a%3Cb%3E.example/"
    for url in (hostile, "https://a.example/a`b{c}"):
        assert canonical_url(canonical_url(url)) == canonical_url(url)


def test_canonical_url_drops_credentials() -> None:
    assert canonical_url("https://user:TOKEN@News.example.com/a") == "https://news.example.com/a"
    assert canonical_url("https://user:p@ss@host.example:8443/a") == "https://host.example:8443/a"
    assert document_id("https://user:TOKEN@news.example.com/a", None, "f") == document_id(
        "https://news.example.com/a", None, "f"
    )


def test_an_entry_link_never_keeps_credentials_even_from_the_feed_url() -> None:
    body = rss(
        "<item><title>Own</title><link>https://me:SECRET@site.example/own</link></item>"
        "<item><title>Relative</title><link>/relative</link></item>"
    )
    parsed = parse_feed(body, "https://reader:TOKEN@site.example/feed")
    assert [e.url for e in parsed.entries] == ["https://site.example/own", "https://site.example/relative"]
    assert "SECRET" not in repr(parsed) and "TOKEN" not in repr(parsed)


def test_a_script_in_an_entry_link_is_percent_encoded() -> None:
    body = rss("<item><title>T</title><link>http://host/c/&lt;script&gt;alert(1)&lt;/script&gt;/p.html</link></item>")
    (entry,) = parse_feed(body, "https://site.example/feed").entries
    assert entry.url == "http://host/c/%3Cscript%3Ealert(1)%3C/script%3E/p.html"


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("ftp://files.example/paper.pdf", "link is not http(s): ftp://files.example/paper.pdf"),
        ("mailto:editor@site.example", "link is not http(s): mailto:editor@site.example"),
        ("javascript:alert(1)", "link is not http(s): javascript:alert(1)"),
        ("ftp://me:SECRET@files.example/x", "link is not http(s): ftp://***@files.example/x"),
        ("gopher://h/<x>", "link is not http(s): gopher://h/%3Cx%3E"),
        ("http:///no-host", "link has no host: http:///no-host"),
        ("http://[::1/x", "link is not a valid URL: http://[::1/x"),
    ],
)
def test_link_refusal_says_why_a_link_is_never_fetched(link: str, reason: str) -> None:
    assert link_refusal(link) == reason


def test_link_refusal_passes_http_links_and_no_link() -> None:
    assert link_refusal("https://site.example/a") is None
    assert link_refusal("HTTP://site.example/a") is None
    assert link_refusal(None) is None
    assert link_refusal("") is None
    long = link_refusal("ftp://h/" + "x" * 5000)
    assert long is not None and len(long) < 300 and long.endswith("...")


def test_strip_html() -> None:
    assert strip_html("<p>Fish &amp; <b>chips</b></p>\n\n<br/>today") == "Fish & chips today"


def test_every_feedparser_fixture_parses_without_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    files = sorted(p for p in FEED_CORPUS.rglob("*") if p.is_file())
    assert len(files) > 250  # the corpus is there (304 XML files plus its notes)
    failures: list[str] = []
    refused: list[str] = []
    entries = 0
    for path in files:
        try:
            entries += len(parse_feed(path.read_bytes(), f"https://corpus.example/{path.name}").entries)
        except FeedRefused:
            refused.append(path.name)
        except Exception as exc:  # the point is to count every kind of escape
            failures.append(f"{path.relative_to(FEED_CORPUS)}: {type(exc).__name__}: {exc}")
    assert failures == []
    # Only the two fixtures that exist to declare entities in their DTD are refused.
    assert sorted(refused) == ["doctype_contains_entity_decl.xml", "entity_in_doctype.xml"]
    assert entries > 100


def test_entity_bomb_is_refused_before_parsing() -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&j;</title>'
        "<item><title>&j;</title><link>https://site.example/1</link></item></channel></rss>"
    ).encode()
    with pytest.raises(FeedRefused, match="declares XML entities"):
        parse_feed(body, "https://site.example/feed")


def test_external_entity_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]><rss version="2.0"><channel>'
        "<title>T</title><item><title>&x;</title><description>&x;</description>"
        "<link>https://site.example/1</link></item></channel></rss>"
    ).encode()
    with pytest.raises(FeedRefused):
        parse_feed(body, "https://site.example/feed")


def test_an_old_expat_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyexpat

    from pipeline.errors import GiftsError
    from pipeline.feeds import check_xml_parser

    check_xml_parser()  # this Python's expat bounds entity expansion
    monkeypatch.setattr(pyexpat, "version_info", (2, 2, 10))
    with pytest.raises(GiftsError, match=r"expat 2\.2\.10"):
        check_xml_parser()


def _quadratic_entity_feed(value_chars: int, uses: int) -> bytes:
    """The audit's feed: one large entity, used many times in an item's title and description."""
    refs = "&a;" * uses
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"x" * value_chars}">]><rss version="2.0"><channel>'
        f"<title>T</title><item><title>{refs}</title><description>{refs}</description>"
        "<link>https://site.example/1</link></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("codec", ["utf-8", "utf-16", "utf-16-be", "utf-32"])
def test_entity_declarations_are_refused_in_any_encoding(codec: str) -> None:
    body = _quadratic_entity_feed(100_000, 2_000).decode().replace('version="1.0"?>', 'version="1.0"?>', 1)
    with pytest.raises(FeedRefused):
        parse_feed(body.encode(codec), "https://site.example/feed")


def test_an_entity_declaration_after_the_root_element_is_only_text() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>On DTDs</title>'
        b"<description><![CDATA[Write <!ENTITY a 'b'> in the DTD.]]></description>"
        b"<link>https://site.example/1</link></item></channel></rss>"
    )
    (entry,) = parse_feed(body, "https://site.example/feed").entries
    assert "ENTITY" in entry.summary


def test_every_stored_field_is_capped() -> None:
    from pipeline import feeds

    long = "y" * 1_000_000
    body = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{long}</title><item><title>{long}</title><dc:creator>{'z' * 5_000}</dc:creator>"
        f"<guid>{long}</guid><description>{long}</description><link>https://site.example/{long}</link></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, "https://site.example/feed")
    (entry,) = parsed.entries
    assert len(parsed.title) <= feeds.MAX_TITLE_CHARS
    assert len(entry.title) <= feeds.MAX_TITLE_CHARS
    assert entry.author is not None and len(entry.author) <= feeds.MAX_AUTHOR_CHARS
    assert entry.guid is not None and len(entry.guid) <= feeds.MAX_GUID_CHARS
    assert len(entry.summary) == feeds.MAX_SUMMARY_CHARS
    assert entry.url is None  # a megabyte-long link is no article's


def test_max_entries_stops_early() -> None:
    items = "".join(f"<item><title>t{i}</title><link>https://site.example/{i}</link></item>" for i in range(500))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()
    parsed = parse_feed(body, "https://site.example/feed", max_entries=50)
    assert [e.title for e in parsed.entries] == [f"t{i}" for i in range(50)]
