"""Politeness: connections per host, Retry-After, robots.txt, and the User-Agent's product token."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.config import FetchSettings
from pipeline.errors import FetchError
from pipeline.fetch import Fetcher
from pipeline.politeness import agent_token, parse_retry_after, robots_from_response

LOCAL = FetchSettings(allow_private_networks=True, timeout_s=10)


@pytest.fixture
def threaded() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_at_most_two_requests_in_flight_per_host(threaded: HTTPServer) -> None:
    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(_request: Request) -> Response:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return Response(b"ok")

    threaded.expect_request("/p").respond_with_handler(slow)
    with Fetcher(LOCAL) as fetcher:
        threads = [threading.Thread(target=fetcher.get, args=(threaded.url_for("/p"),)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(threaded.log) == 6
    assert peak[0] == 2


def test_short_retry_after_is_waited_out_then_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/feed").respond_with_data("busy", status=429, headers={"Retry-After": "1"})
    httpserver.expect_ordered_request("/feed").respond_with_data("fresh")
    started = time.monotonic()
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.get(httpserver.url_for("/feed")).body == b"fresh"
    assert time.monotonic() - started >= 1.0
    assert len(httpserver.log) == 2


def test_long_retry_after_fails_and_defers_the_host(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("later", status=503, headers={"Retry-After": "3600"})
    httpserver.expect_request("/b").respond_with_data("fine")
    with Fetcher(LOCAL) as fetcher:
        with pytest.raises(FetchError, match=r"http 503: retry after 3600 s"):
            fetcher.get(httpserver.url_for("/a"))
        with pytest.raises(FetchError, match="deferred"):
            fetcher.get(httpserver.url_for("/b"))
    assert len(httpserver.log) == 1  # the host was not asked again


def test_robots_txt_is_honoured_for_our_token(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: research-gifts\nDisallow: /members/\n\nUser-agent: *\nDisallow: /\n"
    )
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.robots_block(httpserver.url_for("/members/post")) == "blocked: disallowed by robots.txt"
        assert fetcher.robots_block(httpserver.url_for("/articles/post")) is None
        assert fetcher.robots_block(httpserver.url_for("/articles/other")) is None
    assert len(httpserver.log) == 1  # fetched once per host


def test_missing_or_broken_robots_txt_allows() -> None:
    assert robots_from_response(404, None).allows("research-gifts", "https://a.example/x")
    assert robots_from_response(None, None).allows("research-gifts", "https://a.example/x")


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0) == 0.0  # 07:28:00 exactly
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_agent_token() -> None:
    assert agent_token(FetchSettings().user_agent) == "research-gifts"
