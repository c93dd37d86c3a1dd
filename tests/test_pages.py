"""Pages are fetched concurrently within the per-host limit, and nights are bounded by budgets.

Concurrency is read from the servers' own count of requests in flight, and budgets run on an
injected clock: no assertion here depends on how fast this machine is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pipeline import pages
from pipeline.archive import Archive
from pipeline.config import FetchSettings
from pipeline.fetch import Fetcher
from pipeline.politeness import MAX_CONNECTIONS_PER_HOST
from pipeline.store import Store

PAGE = b"<html><body><article><p>" + b"A sentence about consumer lag. " * 40 + b"</p></article></body></html>"


class _Counting(BaseHTTPRequestHandler):
    """Holds each page until `hold_for` requests are in flight (or 3 s pass), so overlap is certain."""

    hold_for: ClassVar[int] = MAX_CONNECTIONS_PER_HOST
    in_flight: ClassVar[int]
    peak: ClassVar[int]
    full: ClassVar[threading.Condition]
    served: ClassVar[list[str]]

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            self.send_response(404)
            self.end_headers()
            return
        cls = type(self)
        with cls.full:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
            cls.served.append(self.path)
            cls.full.notify_all()
            cls.full.wait_for(lambda: cls.in_flight >= cls.hold_for, timeout=3)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)
        with cls.full:
            cls.in_flight -= 1

    def log_message(self, *args: Any) -> None:
        return None


def _server() -> tuple[ThreadingHTTPServer, type[_Counting]]:
    handler = type("Handler", (_Counting,), {"in_flight": 0, "peak": 0, "served": []})
    handler.full = threading.Condition()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


@pytest.fixture
def two_hosts() -> Iterator[list[tuple[str, type[_Counting]]]]:
    servers = [_server(), _server()]
    yield [(f"http://127.0.0.1:{s.server_address[1]}", h) for s, h in servers]
    for server, _ in servers:
        server.shutdown()
        server.server_close()


def _store_with_pages(tmp_path: Path, urls: dict[str, list[str]]) -> Store:
    """A store holding one pending document per URL, `urls` keyed by source id."""
    store = Store(tmp_path / "gifts.sqlite")
    with store.transaction():
        for source, links in urls.items():
            for n, url in enumerate(links):
                store.db.execute(
                    "INSERT INTO documents (id, source_id, url, title, state, first_seen) VALUES (?, ?, ?, ?, ?, ?)",
                    (f"{source}-{n:02d}", source, url, f"page {n}", "pending", f"2026-11-26T00:00:{n:02d}"),
                )
    return store


def _fetcher() -> Fetcher:
    return Fetcher(FetchSettings(allow_private_networks=True, timeout_s=10))


def test_pages_are_fetched_concurrently_never_more_than_the_host_limit(
    tmp_path: Path, two_hosts: list[tuple[str, type[_Counting]]]
) -> None:
    (a, host_a), (b, host_b) = two_hosts
    store = _store_with_pages(tmp_path, {"s1": [f"{a}/p{i}" for i in range(6)], "s2": [f"{b}/p{i}" for i in range(6)]})
    with _fetcher() as fetcher:
        counts = pages.fetch_documents(store, Archive(tmp_path / "raw"), fetcher, "2026-11-26T06:00:00", workers=8)
    assert counts["fetched"] == 12
    assert host_a.peak == host_b.peak == MAX_CONNECTIONS_PER_HOST  # in parallel, and never more per host
    assert int(store.scalar("SELECT COUNT(*) FROM documents WHERE raw_sha IS NOT NULL")) == 12
    store.close()


def test_one_worker_fetches_one_page_at_a_time(tmp_path: Path, two_hosts: list[tuple[str, type[_Counting]]]) -> None:
    (a, host_a), _ = two_hosts
    host_a.hold_for = 1
    store = _store_with_pages(tmp_path, {"s1": [f"{a}/p{i}" for i in range(3)]})
    with _fetcher() as fetcher:
        counts = pages.fetch_documents(store, Archive(tmp_path / "raw"), fetcher, "2026-11-26T06:00:00", workers=1)
    assert counts["fetched"] == 3 and host_a.peak == 1
    store.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_spent_source_budget_defers_that_source_alone(tmp_path: Path) -> None:
    clock = _Clock()
    budget = pages.PageBudget(run_s=0, source_s=30, clock=clock)
    assert budget.refusal("slow") is None
    budget.spend("slow", 20)
    assert budget.refusal("slow") is None
    budget.spend("slow", 20)  # six trickling pages of 20 s each would have held the night for 120 s
    assert budget.refusal("slow") == "its source's page budget of 30 s is spent"
    assert budget.refusal("other") is None


def test_a_spent_run_budget_defers_everything_left(tmp_path: Path) -> None:
    clock = _Clock()
    budget = pages.PageBudget(run_s=600, source_s=0, clock=clock)
    clock.now = 599.0
    assert budget.refusal("any") is None
    clock.now = 600.0
    assert budget.refusal("any") == "the run's page budget of 600 s is spent"


def test_deferred_pages_stay_pending_for_the_next_night(
    tmp_path: Path, two_hosts: list[tuple[str, type[_Counting]]]
) -> None:
    (a, host_a), (b, host_b) = two_hosts
    host_a.hold_for = host_b.hold_for = 1
    store = _store_with_pages(
        tmp_path, {"slow": [f"{a}/p{i}" for i in range(4)], "fast": [f"{b}/q{i}" for i in range(2)]}
    )
    clock = _Clock()

    class Spender(pages.PageBudget):
        """Charges every page of `slow` a full budget, as a trickling page would."""

        def spend(self, source: str, seconds: float) -> None:
            super().spend(source, 100.0 if source == "slow" else seconds)

    archive = Archive(tmp_path / "raw")
    with _fetcher() as fetcher:
        first = pages.fetch_documents(
            store, archive, fetcher, "2026-11-26T06:00:00", workers=1, budget=Spender(source_s=100, clock=clock)
        )
        assert first["fetched"] == 3 and first["pages_deferred"] == 3
        left = store.query("SELECT id, state, fetch_attempts, raw_sha FROM documents WHERE raw_sha IS NULL")
        assert [(r["id"], r["state"], r["fetch_attempts"]) for r in left] == [
            ("slow-01", "pending", 0),
            ("slow-02", "pending", 0),
            ("slow-03", "pending", 0),
        ]
        second = pages.fetch_documents(store, archive, fetcher, "2026-11-27T06:00:00", workers=1, budget=None)
    assert second["fetched"] == 3 and "pages_deferred" not in second
    assert int(store.scalar("SELECT COUNT(*) FROM documents WHERE raw_sha IS NULL")) == 0
    store.close()
