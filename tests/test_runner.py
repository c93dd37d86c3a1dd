"""The runner over a live (loopback) feed: conditional GETs, one state per source, no repeated work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import NOW, nightly_fake, write_acme_interview
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.config import load
from pipeline.runner import run
from pipeline.store import Store

ARTICLE = "<html><body><article><h1>{title}</h1>{body}</article><footer>Subscribe now</footer></body></html>"
WORDS = (
    "Consumer lag grows when partitions are rebalanced too often and the stream processing job cannot keep up "
    "with the producers, so the team tuned session timeouts, batch sizes and backpressure settings. "
)


def _feed(base: str) -> str:
    items = "".join(
        f"<item><title>Kafka note {i}</title><link>{base}/post/{i}?utm_source=rss</link>"
        f"<guid>{base}/post/{i}</guid><pubDate>Tue, 2{i} Nov 2026 08:00:00 GMT</pubDate>"
        "<description>A short summary.</description></item>"
        for i in range(3)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback</title>{items}</channel></rss>'


@pytest.fixture
def live(tmp_path: Path, httpserver: HTTPServer) -> tuple[Path, list[str]]:
    base = httpserver.url_for("").rstrip("/")
    hits: list[str] = []

    def feed(request: Request) -> Response:
        hits.append("feed")
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(_feed(base), headers={"ETag": '"v1"'}, content_type="application/rss+xml")

    def page(request: Request) -> Response:
        hits.append(request.path)
        number = request.path.rsplit("/", 1)[-1]
        body = "".join(f"<p>Step {k} of note {number}. {WORDS}</p>" for k in range(12))
        return Response(ARTICLE.format(title=f"Kafka note {number}", body=body), content_type="text/html")

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    for i in range(3):
        httpserver.expect_request(f"/post/{i}").respond_with_handler(page)
    httpserver.expect_request("/dead.xml").respond_with_data("gone", status=404)
    write_acme_interview(tmp_path)
    config = tmp_path / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = ["{base}/feed.xml", "{base}/dead.xml"]\n'
        "[fetch]\nallow_private_networks = true\n[rank]\nmin_score = 0.1\n",
        encoding="utf-8",
    )
    return config, hits


def test_live_run_then_conditional_rerun(live: tuple[Path, list[str]]) -> None:
    path, hits = live
    config = load(path)
    first = run(config, now=NOW, embedder_factory=nightly_fake)
    assert first.counts["fetched"] == 4  # one feed body and three pages
    assert first.counts["extracted"] == 3
    assert first.counts["sources_failed"] == 1  # the 404 feed
    assert first.status == "partial"
    assert first.counts["suggestions"] >= 1
    pages_before = [h for h in hits if h.startswith("/post/")]
    assert sorted(pages_before) == ["/post/0", "/post/1", "/post/2"]  # tracking params dropped

    embedder = nightly_fake()
    second = run(config, now=NOW, embedder_factory=lambda: embedder)
    assert second.counts.get("fetched", 0) == 0
    assert second.counts["not_modified"] == 1
    assert second.counts.get("extracted", 0) == 0 and second.counts.get("embedded", 0) == 0
    assert embedder.calls == 0
    assert [h for h in hits if h.startswith("/post/")] == pages_before  # no page fetched twice

    with Store(config.paths.store) as store:
        states = {
            r["location"].rsplit("/", 1)[-1]: (r["state"], r["reason"], r["consecutive_failures"])
            for r in store.query("SELECT * FROM sources")
        }
        runs = store.query("SELECT status, counts FROM runs ORDER BY id")
    assert states["feed.xml"][0] == "not_modified"
    # Failed tonight: not asked again until its backoff ends, and skipping it is not a new failure.
    assert states["dead.xml"] == ("backoff_skip", "http 404", 1)
    assert [r["status"] for r in runs] == ["partial", "ok"]
    assert json.loads(runs[0]["counts"])["fetched"] == 4


def test_offline_run_reads_only_the_archive(live: tuple[Path, list[str]]) -> None:
    path, hits = live
    config = load(path)
    run(config, now=NOW, embedder_factory=nightly_fake)
    count = len(hits)
    from pipeline.config import with_overrides

    again = run(with_overrides(config, offline=True), now=NOW, embedder_factory=nightly_fake)
    assert len(hits) == count
    assert again.counts["archive_hits"] >= 1


def test_transient_page_failures_are_retried_a_bounded_number_of_times(tmp_path: Path, httpserver: HTTPServer) -> None:
    base = httpserver.url_for("").rstrip("/")
    answers = {"/post/0": [503, 200], "/post/1": [500, 500, 500, 500, 200]}
    served: list[str] = []

    def feed(_: Request) -> Response:
        items = "".join(
            f"<item><title>Note {i}</title><link>{base}/post/{i}</link><guid>g{i}</guid></item>" for i in range(2)
        )
        return Response(
            f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>', content_type="application/rss+xml"
        )

    def page(request: Request) -> Response:
        served.append(request.path)
        status = answers[request.path].pop(0) if len(answers[request.path]) > 1 else answers[request.path][0]
        body = "".join(f"<p>Step {k}. {WORDS}</p>" for k in range(8))
        return Response(ARTICLE.format(title="Note", body=body), status=status, content_type="text/html")

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    for i in range(2):
        httpserver.expect_request(f"/post/{i}").respond_with_handler(page)
    (tmp_path / "interviews").mkdir()
    path = tmp_path / "gifts.toml"
    path.write_text(
        f'[sources]\nfeeds = ["{base}/feed.xml"]\n[fetch]\nallow_private_networks = true\n', encoding="utf-8"
    )
    config = load(path)

    def states() -> dict[str, tuple[str, int]]:
        with Store(config.paths.store) as store:
            rows = store.query("SELECT url, state, fetch_attempts FROM documents")
        return {r["url"].rsplit("/", 1)[-1]: (r["state"], r["fetch_attempts"]) for r in rows}

    run(config, now=NOW, embedder_factory=nightly_fake)
    assert states() == {"0": ("extract_failed", 1), "1": ("extract_failed", 1)}
    second = run(config, now=NOW, embedder_factory=nightly_fake)
    assert second.counts["retried"] == 2
    assert states() == {"0": ("extracted", 1), "1": ("extract_failed", 2)}
    run(config, now=NOW, embedder_factory=nightly_fake)
    fourth = run(config, now=NOW, embedder_factory=nightly_fake)
    assert states()["1"] == ("extract_failed", 3)  # three strikes: no fourth try
    assert fourth.counts.get("retried", 0) == 0
    assert served.count("/post/1") == 3  # one request a night, three nights
    assert served.count("/post/0") >= 2  # a 503 may also be retried within the night (politeness)


def test_a_killed_run_is_marked_killed_by_the_next(workspace: Path) -> None:
    config = load(workspace)
    with Store(config.paths.store) as store:
        stale = store.start_run("2026-11-25T06:00:00+00:00")
        store.start_run("2026-11-26T06:00:00+00:00")
        assert store.scalar("SELECT status FROM runs WHERE id = ?", (stale,)) == "killed"
