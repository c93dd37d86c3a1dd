"""Tests for pipeline.fetch against a real server on 127.0.0.1: caps, redirects, timeouts, SSRF guard."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.config import FetchSettings
from pipeline.errors import FetchError
from pipeline.fetch import Fetcher, check_scheme, is_public_address

LOCAL = FetchSettings(allow_private_networks=True, timeout_s=5)


def fetch_error(settings: FetchSettings, url: str, **kwargs: str) -> FetchError:
    with Fetcher(settings) as fetcher, pytest.raises(FetchError) as info:
        fetcher.get(url, **kwargs)
    return info.value


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    """A private threaded server, so slow handlers never hold up the shared `httpserver`."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_200_returns_body_and_validators(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        b"<rss/>",
        content_type="application/rss+xml; charset=utf-8",
        headers={"ETag": '"abc"', "Last-Modified": "Wed, 25 Nov 2026 06:00:00 GMT"},
    )
    url = httpserver.url_for("/feed.xml")
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.get(url)
    assert result.status == 200
    assert result.body == b"<rss/>"
    assert result.url == url
    assert result.final_url == url
    assert result.content_type == "application/rss+xml"
    assert result.etag == '"abc"'
    assert result.last_modified == "Wed, 25 Nov 2026 06:00:00 GMT"


def test_user_agent_names_the_project(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(b"ok")
    with Fetcher(LOCAL) as fetcher:
        fetcher.get(httpserver.url_for("/"))
    request, _ = httpserver.log[0]
    assert "research-gifts" in request.headers["User-Agent"]
    assert "gzip" in request.headers["Accept-Encoding"]


def conditional_server(server: HTTPServer) -> str:
    server.expect_request(
        "/feed.xml",
        headers={"If-None-Match": '"abc"', "If-Modified-Since": "Wed, 25 Nov 2026 06:00:00 GMT"},
    ).respond_with_data(b"", status=304)
    server.expect_request("/feed.xml").respond_with_data(b"full body")
    return server.url_for("/feed.xml")


def test_conditional_get_sends_validators_and_gets_304(httpserver: HTTPServer) -> None:
    url = conditional_server(httpserver)
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.get(url, etag='"abc"', last_modified="Wed, 25 Nov 2026 06:00:00 GMT")
    assert result.status == 304
    assert result.body is None
    assert result.etag == '"abc"'
    assert result.last_modified == "Wed, 25 Nov 2026 06:00:00 GMT"
    assert result.final_url == url
    request, response = httpserver.log[0]
    assert request.headers["If-None-Match"] == '"abc"'
    assert request.headers["If-Modified-Since"] == "Wed, 25 Nov 2026 06:00:00 GMT"
    assert response.status_code == 304
    assert len(httpserver.log) == 1


def test_300_is_an_http_error_not_a_redirect(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/choices").respond_with_data(b"", status=300, headers={"Location": "/elsewhere"})
    assert fetch_error(LOCAL, httpserver.url_for("/choices")).reason == "http 300"
    assert len(httpserver.log) == 1


def test_plain_get_sends_no_validators(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(b"ok")
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.get(httpserver.url_for("/")).body == b"ok"
    request, _ = httpserver.log[0]
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


def test_body_over_max_bytes_is_too_large(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 2500)
    error = fetch_error(FetchSettings(allow_private_networks=True, max_bytes=1000), httpserver.url_for("/big"))
    assert error.reason == "too_large: more than 1000 bytes"


def test_body_at_max_bytes_is_kept(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/exact").respond_with_data(b"x" * 1000)
    with Fetcher(FetchSettings(allow_private_networks=True, max_bytes=1000)) as fetcher:
        assert fetcher.get(httpserver.url_for("/exact")).body == b"x" * 1000


def test_declared_length_far_over_the_cap_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/huge").respond_with_data(b"x" * 5000)
    error = fetch_error(FetchSettings(allow_private_networks=True, max_bytes=1000), httpserver.url_for("/huge"))
    assert error.reason.startswith("too_large")
    assert "5000" in error.reason


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)


def test_gzip_bomb_is_cut_as_too_large(httpserver: HTTPServer) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 100_000
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    error = fetch_error(FetchSettings(allow_private_networks=True, max_bytes=1024 * 1024), httpserver.url_for("/bomb"))
    assert error.reason == f"too_large: more than {1024 * 1024} bytes"


def test_gzip_body_is_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(b"hello " * 100), headers={"Content-Encoding": "gzip"}
    )
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.get(httpserver.url_for("/gz")).body == b"hello " * 100


def test_gzip_bomb_does_not_inflate_fully(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/bomb").respond_with_data(
        gzip_bomb(), content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    settings = FetchSettings(allow_private_networks=True, max_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        with Fetcher(settings) as fetcher, pytest.raises(FetchError, match="too_large"):
            fetcher.get(httpserver.url_for("/bomb"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # a few times the cap, far below the 50 MB the bomb holds


def redirect_chain(server: HTTPServer, hops: int) -> str:
    """/r0 -> /r1 -> ... -> /r{hops} which answers 200; returns the first URL."""
    for i in range(hops):
        server.expect_request(f"/r{i}").respond_with_data(b"", status=302, headers={"Location": f"/r{i + 1}"})
    server.expect_request(f"/r{hops}").respond_with_data(b"arrived")
    return server.url_for("/r0")


def test_redirects_are_followed_up_to_the_limit(httpserver: HTTPServer) -> None:
    url = redirect_chain(httpserver, 3)
    with Fetcher(FetchSettings(allow_private_networks=True, max_redirects=3)) as fetcher:
        result = fetcher.get(url)
    assert result.body == b"arrived"
    assert result.url == url
    assert result.final_url == httpserver.url_for("/r3")
    assert len(httpserver.log) == 4


def test_one_redirect_too_many(httpserver: HTTPServer) -> None:
    url = redirect_chain(httpserver, 3)
    error = fetch_error(FetchSettings(allow_private_networks=True, max_redirects=2), url)
    assert error.reason == "too many redirects (more than 2)"
    assert error.url == url
    assert len(httpserver.log) == 3  # /r3 is never requested


def test_zero_redirects_allowed(httpserver: HTTPServer) -> None:
    url = redirect_chain(httpserver, 1)
    error = fetch_error(FetchSettings(allow_private_networks=True, max_redirects=0), url)
    assert error.reason.startswith("too many redirects")


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/_x"])
def test_redirect_to_a_non_http_scheme_is_blocked(httpserver: HTTPServer, target: str) -> None:
    httpserver.expect_request("/go").respond_with_data(b"", status=301, headers={"Location": target})
    error = fetch_error(LOCAL, httpserver.url_for("/go"))
    assert error.reason.startswith("blocked")
    assert len(httpserver.log) == 1


def test_redirect_without_location(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/go").respond_with_data(b"", status=302)
    assert fetch_error(LOCAL, httpserver.url_for("/go")).reason == "http 302 without Location"


@pytest.mark.parametrize("status", [404, 500, 403])
def test_non_200_is_an_http_error(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/gone").respond_with_data(b"nope", status=status)
    assert fetch_error(LOCAL, httpserver.url_for("/gone")).reason == f"http {status}"


def test_slow_response_times_out(threaded_server: HTTPServer) -> None:
    # The server answers only when the test lets it: the client's timeout is the only way out.
    release, answered = threading.Event(), threading.Event()

    def slow(_request: Request) -> Response:
        release.wait(30)
        answered.set()
        return Response(b"late")

    threaded_server.expect_request("/slow").respond_with_handler(slow)
    error = fetch_error(FetchSettings(allow_private_networks=True, timeout_s=1), threaded_server.url_for("/slow"))
    assert error.reason.startswith("timeout")
    assert not answered.is_set()  # the client gave up while the server was still holding the answer
    release.set()


def test_trickling_body_times_out_at_the_deadline(threaded_server: HTTPServer) -> None:
    # Each chunk comes well inside any per-read timeout, but the whole body would take 4 s.
    sent: list[int] = []

    def trickle(_request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for number in range(16):
                sent.append(number)
                yield b"x" * 10
                time.sleep(0.25)

        return Response(chunks(), content_type="text/plain")

    threaded_server.expect_request("/trickle").respond_with_handler(trickle)
    error = fetch_error(FetchSettings(allow_private_networks=True, timeout_s=1), threaded_server.url_for("/trickle"))
    assert error.reason.startswith("timeout")
    assert len(sent) < 16  # cut off at the one deadline, not read to the end


def test_connection_refused_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = fetch_error(LOCAL, f"http://127.0.0.1:{port}/")
    assert error.reason.startswith("network: ConnectError")


def test_private_address_is_blocked_by_default(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(b"secret")
    url = f"http://127.0.0.1:{httpserver.port}/"
    error = fetch_error(FetchSettings(), url)
    assert error.reason.startswith("blocked")
    assert "127.0.0.1" in error.reason
    assert len(httpserver.log) == 0


def test_localhost_name_is_blocked_by_default(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(b"secret")
    error = fetch_error(FetchSettings(), f"http://localhost:{httpserver.port}/")
    assert error.reason.startswith("blocked")
    assert len(httpserver.log) == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "http:///no-host", "javascript:alert(1)"])
def test_check_scheme_refuses_non_http(url: str) -> None:
    with pytest.raises(FetchError, match="blocked"):
        check_scheme(url)


def test_check_scheme_accepts_http_and_https() -> None:
    check_scheme("http://example.org/feed")
    check_scheme("HTTPS://example.org/feed")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 -- an address under test, nothing binds to it
        "224.0.0.1",
        "fe80::1%eth0",
        "fc00::1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "::ffff:93.184.216.34"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address) is True


def test_injected_transport_is_used_without_network() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"mocked", headers={"Content-Type": "text/plain; charset=utf-8"})

    with Fetcher(FetchSettings(), transport=httpx.MockTransport(handler)) as fetcher:
        result = fetcher.get("https://feeds.example/rss")
    assert result.body == b"mocked"
    assert result.content_type == "text/plain"
    assert [str(r.url) for r in seen] == ["https://feeds.example/rss"]


def test_tls_is_verified_a_self_signed_server_is_refused(tmp_path: Path) -> None:
    """An HTTPS server with a self-signed certificate is refused, and sees no request for the page."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="localhost", ssl_context=context)
    server.expect_request("/feed.xml").respond_with_data("<rss/>")
    server.start()
    try:
        error = fetch_error(LOCAL, server.url_for("/feed.xml"))
        assert server.url_for("/feed.xml").startswith("https://")
        assert "CERTIFICATE_VERIFY_FAILED" in error.reason or "certificate" in error.reason.lower()
        assert len(server.log) == 0  # the handshake failed before any request was sent
    finally:
        server.clear()
        server.stop()
