"""SSRF guard: a loopback canary that every spelling of a private address, direct or via a redirect, must miss."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from pipeline.config import FetchSettings
from pipeline.errors import FetchError
from pipeline.fetch import Fetcher, check_url
from pipeline.netguard import is_public_address, parse_ip

GUARDED = FetchSettings(timeout_s=3)  # allow_private_networks is false by default

# Every form names 127.0.0.1 (the canary's address), the whole host, or another non-public address.
FORMS = [
    "http://127.0.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7F.0.0.1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0177.0000.0000.0001:{port}/",
    "http://127.1:{port}/",
    "http://127.0.1:{port}/",
    "http://127.000.000.001:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
    "http://[::1]:{port}/",
    "http://[::]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST:{port}/",
    "http://localhost.:{port}/",
    "http://app.localhost:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://user:pass@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}/?u=https://example.org/",
    "https://127.0.0.1:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
]


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    # Started once per module: stopping a server takes about half a second.
    canary = HTTPServer(host="127.0.0.1")
    public = HTTPServer(host="127.0.0.2")  # the tests' resolver presents this one as a public host
    canary.start()
    public.start()
    yield canary, public
    canary.stop()
    public.stop()


@pytest.fixture
def canary(_servers: tuple[HTTPServer, HTTPServer]) -> HTTPServer:
    server = _servers[0]
    server.clear()
    server.expect_request("/").respond_with_data(b"secret")
    return server


@pytest.fixture
def public_site(_servers: tuple[HTTPServer, HTTPServer]) -> HTTPServer:
    server = _servers[1]
    server.clear()
    return server


def test_at_least_twenty_forms_are_tested() -> None:
    assert len(FORMS) >= 20


def test_no_form_reaches_the_canary(canary: HTTPServer) -> None:
    reasons = {}
    with Fetcher(GUARDED) as fetcher:
        for form in FORMS:
            url = form.format(port=canary.port)
            with pytest.raises(FetchError) as info:
                fetcher.get(url)
            reasons[url] = info.value.reason
    assert len(canary.log) == 0
    assert all(r.startswith("blocked") for r in reasons.values()), reasons
    assert fetcher.backend is not None and fetcher.backend.connected == []


def test_allow_private_networks_reaches_the_canary(canary: HTTPServer) -> None:
    with Fetcher(FetchSettings(allow_private_networks=True)) as fetcher:
        assert fetcher.get(f"http://127.0.0.1:{canary.port}/").body == b"secret"
    assert len(canary.log) == 1


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def _treat_127_0_0_2_as_public(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.netguard as netguard

    real = netguard.is_public
    monkeypatch.setattr(netguard, "is_public", lambda ip: str(ip) == "127.0.0.2" or real(ip))


def test_a_name_resolving_to_loopback_is_blocked(canary: HTTPServer) -> None:
    resolve = _resolver({"intranet.example": ["127.0.0.1"]})
    with Fetcher(GUARDED, resolver=resolve) as fetcher, pytest.raises(FetchError, match="blocked") as info:
        fetcher.get(f"http://intranet.example:{canary.port}/")
    assert "127.0.0.1" in info.value.reason
    assert len(canary.log) == 0


def test_one_private_record_among_public_ones_is_blocked(canary: HTTPServer) -> None:
    resolve = _resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with Fetcher(GUARDED, resolver=resolve) as fetcher, pytest.raises(FetchError, match="blocked"):
        fetcher.get(f"http://mixed.example:{canary.port}/")


@pytest.mark.parametrize("form", [*FORMS[:12], "http://evil.example:{port}/"])
def test_redirect_to_a_private_address_is_blocked_on_that_hop(
    canary: HTTPServer, public_site: HTTPServer, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    _treat_127_0_0_2_as_public(monkeypatch)
    target = form.format(port=canary.port)
    public_site.expect_request("/go").respond_with_data(b"", status=302, headers={"Location": target})
    resolve = _resolver({"site.example": ["127.0.0.2"], "evil.example": ["127.0.0.1"]})
    with Fetcher(GUARDED, resolver=resolve) as fetcher, pytest.raises(FetchError, match="blocked"):
        fetcher.get(f"http://site.example:{public_site.port}/go")
    assert len(public_site.log) == 1
    assert len(canary.log) == 0


def test_dns_rebinding_cannot_swap_the_checked_address(
    canary: HTTPServer, public_site: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once per connection and the checked address is the one connected to."""
    _treat_127_0_0_2_as_public(monkeypatch)
    public_site.expect_request("/").respond_with_data(b"public")
    answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])
    seen: list[str] = []

    def rebinding(host: str, _port: int) -> list[str]:
        seen.append(host)
        return next(answers)

    with Fetcher(GUARDED, resolver=rebinding) as fetcher:
        # Same port on both servers is impossible, so point the name at the site's port.
        assert fetcher.get(f"http://rebind.example:{public_site.port}/").body == b"public"
        assert fetcher.backend is not None
        assert fetcher.backend.connected == [("127.0.0.2", public_site.port)]
    assert seen == ["rebind.example"]  # resolved once, by the connection itself
    assert len(canary.log) == 0


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("10.1", "10.0.0.1"),
        ("example.org", None),
    ],
)
def test_parse_ip_reads_every_spelling(host: str, expected: str | None) -> None:
    ip = parse_ip(host)
    assert (str(ip) if ip else None) == expected


@pytest.mark.parametrize(
    "address", ["100.64.0.1", "100.127.255.254", "64:ff9b::a00:1", "2002:7f00:1::", "198.18.0.1", "240.0.0.1"]
)
def test_more_non_public_addresses(address: str) -> None:
    assert is_public_address(address) is False


def test_check_url_blocks_literals_only_when_private_is_not_allowed() -> None:
    with pytest.raises(FetchError, match="blocked"):
        check_url("http://0x7f000001/feed")
    check_url("http://0x7f000001/feed", allow_private=True)
    check_url("https://example.org/feed")
