"""Finding a site's feed from its address, against a real server on 127.0.0.1."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from pipeline.config import FetchSettings
from pipeline.discovery import alternate_links, discover, looks_like_feed
from pipeline.errors import InputError
from pipeline.fetch import Fetcher

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Pipeline Post</title><link>http://x/</link>
<item><title>One</title><link>http://x/1</link><guid>1</guid></item>
<item><title>Two</title><link>http://x/2</link><guid>2</guid></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Site</title><id>urn:x</id><updated>2026-01-01T00:00:00Z</updated>
<entry><title>A</title><id>urn:a</id><link href="http://x/a"/><updated>2026-01-01T00:00:00Z</updated></entry>
</feed>"""
JSONFEED = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "JSON Site",
 "items": [{"id": "1", "url": "http://x/j1", "title": "J1"}]}"""


def page(head: str = "", body: str = "<p>Hello</p>") -> str:
    return f"<!doctype html><html><head><title>A site</title>{head}</head><body>{body}</body></html>"


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher(FetchSettings(allow_private_networks=True, timeout_s=5))


def test_a_feed_url_is_taken_as_it_is(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(RSS, content_type="application/rss+xml")
    found = discover(httpserver.url_for("/feed.xml"), fetcher)
    assert (found.url, found.title, found.entries, found.how) == (
        httpserver.url_for("/feed.xml"),
        "Pipeline Post",
        2,
        "the URL itself",
    )


def test_link_rel_alternate_with_a_relative_href(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    link = '<link rel="alternate" type="application/atom+xml" title="Posts" href="posts/atom.xml">'
    httpserver.expect_request("/blog/").respond_with_data(page(link), content_type="text/html")
    httpserver.expect_request("/blog/posts/atom.xml").respond_with_data(ATOM, content_type="application/atom+xml")
    found = discover(httpserver.url_for("/blog/"), fetcher)
    assert found.url == httpserver.url_for("/blog/posts/atom.xml")
    assert found.title == "Atom Site" and found.how.startswith("<link rel=alternate>")


def test_a_json_feed_link_and_a_base_href(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    head = '<base href="/static/"><link rel="alternate" type="application/feed+json" href="feed.json">'
    httpserver.expect_request("/").respond_with_data(page(head), content_type="text/html")
    httpserver.expect_request("/static/feed.json").respond_with_data(JSONFEED, content_type="application/feed+json")
    found = discover(httpserver.url_for("/"), fetcher)
    assert found.url == httpserver.url_for("/static/feed.json") and found.title == "JSON Site"


def test_a_usual_path_when_the_page_announces_nothing(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/").respond_with_data(page(), content_type="text/html")
    httpserver.expect_request("/feed").respond_with_data("not found", status=404)
    httpserver.expect_request("/rss").respond_with_data(page(), content_type="text/html")  # an HTML page: skipped
    httpserver.expect_request("/atom.xml").respond_with_data("not found", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(RSS, content_type="application/xml")
    found = discover(httpserver.url_for("/"), fetcher)
    assert found.url == httpserver.url_for("/feed.xml") and found.how == "usual path"


def test_redirects_are_followed_and_links_resolved_against_the_final_page(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new/"})
    link = '<link rel="alternate" type="application/rss+xml" href="feed.xml">'
    httpserver.expect_request("/new/").respond_with_data(page(link), content_type="text/html")
    httpserver.expect_request("/new/feed.xml").respond_with_data("", status=302, headers={"Location": "/final/rss.xml"})
    httpserver.expect_request("/final/rss.xml").respond_with_data(RSS, content_type="application/rss+xml")
    found = discover(httpserver.url_for("/old"), fetcher)
    assert found.url == httpserver.url_for("/final/rss.xml")


def test_a_site_with_no_feed_is_one_clear_error(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/").respond_with_data(page(), content_type="text/html")
    url = httpserver.url_for("/")
    with pytest.raises(InputError) as caught:
        discover(url, fetcher)
    message = str(caught.value)
    assert message.startswith(f"{url}: no feed found") and "\n" not in message
    assert "give the feed's URL" in message


def test_an_announced_link_to_a_non_feed_page_is_not_taken(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    link = '<link rel="alternate" type="application/rss+xml" href="/comments">'
    httpserver.expect_request("/").respond_with_data(page(link), content_type="text/html")
    httpserver.expect_request("/comments").respond_with_data(page(), content_type="text/html")
    with pytest.raises(InputError, match=r"no feed found.*1 announced feed"):
        discover(httpserver.url_for("/"), fetcher)


def test_an_unreachable_url_names_it(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/gone").respond_with_data("gone", status=404)
    url = httpserver.url_for("/gone")
    with pytest.raises(InputError, match=rf"^{url}: cannot fetch: http 404$"):
        discover(url, fetcher)


def test_the_guard_applies_private_addresses_refused_by_default(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(RSS)
    with Fetcher(FetchSettings()) as guarded, pytest.raises(InputError, match="cannot fetch: blocked"):
        discover(httpserver.url_for("/feed.xml"), guarded)
    assert not httpserver.log  # refused before any connection


def test_only_http_urls(fetcher: Fetcher) -> None:
    with pytest.raises(InputError, match=r"^file:///etc/passwd: cannot fetch: blocked"):
        discover("file:///etc/passwd", fetcher)


def test_looks_like_feed_and_alternate_links() -> None:
    assert looks_like_feed(RSS) and looks_like_feed(ATOM) and looks_like_feed(JSONFEED)
    assert looks_like_feed(b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="x"><channel/></rdf:RDF>')
    assert not looks_like_feed(page().encode()) and not looks_like_feed(b'{"a": 1}')
    html = page(
        '<link rel="stylesheet" href="a.css"><link rel="alternate" type="text/html" href="/fr/">'
        '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
        '<LINK REL="Alternate" TYPE="application/atom+xml; charset=utf-8" HREF="https://other.example/atom">'
    ).encode()
    assert alternate_links(html, "https://site.example/blog/post") == [
        "https://site.example/rss.xml",
        "https://other.example/atom",
    ]
