"""The report in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

The page is opened from disk with every network path shut (offline context, every request routed
and aborted, hosts unresolvable); the tests count requests, console errors, dialogs and scripts.
`make test` installs Chromium and sets GIFTS_REQUIRE_BROWSER=1, so there a missing browser fails
instead of skipping.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, NOW, ROOT, FakeEmbedder, playwright_or_skip

from pipeline import runner
from pipeline.config import Config, load
from pipeline.embed import model_key
from pipeline.report import write_report
from pipeline.store import Store

pytestmark = pytest.mark.slow  # drives Chromium: `make test-fast` leaves it out

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root in a container, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # even a request that slipped past the route resolves nowhere
]

sync_api = playwright_or_skip()


@dataclass
class Visit:
    """What one page load did besides drawing."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One persistent Chromium context on a fresh profile, offline, with every request aborted."""
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            offline=True,
            viewport={"width": 1000, "height": 1400},
            service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()


def _open(context: Any, html: Path) -> Visit:
    page = context.new_page()
    visit = Visit(page)
    target = html.resolve().as_uri()

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url == target:
            request_route.continue_()
        else:
            visit.requests.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("request", lambda r: None if r.url == target else visit.requests.append(r.url))
    page.on(
        "console", lambda m: visit.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: visit.console.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (visit.dialogs.append(d.message), d.dismiss()))
    page.goto(target, wait_until="load")
    page.wait_for_timeout(200)  # let late loads (fonts, favicons) show up if the page asked for any
    return visit


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path]:
    target = tmp_path_factory.mktemp("browser") / "sample"
    shutil.copytree(ROOT / "data" / "sample", target, ignore=shutil.ignore_patterns("interim", "processed"))
    config = load(target / "gifts.toml")
    key = model_key("all-MiniLM-L6-v2", ROOT / "models")
    result = runner.run(config, now=NOW, embedder_factory=lambda: FakeEmbedder(name=key))
    assert result.report_dir is not None
    return config, result.report_dir / "index.html"


def _contacts(config: Config) -> dict[str, str]:
    with Store(config.paths.store) as store:
        rows = store.query(
            "SELECT c.id, c.name FROM contacts c JOIN interviews i ON i.id = c.interview_id"
            " WHERE i.status IN ('active', 'offer')"
        )
    return {r["id"]: r["name"] for r in rows}


def test_sample_report_opens_offline_with_every_card_visible(browser: Any, sample: tuple[Config, Path]) -> None:
    config, html = sample
    visit = _open(browser, html)
    page = visit.page
    try:
        assert visit.requests == []
        assert visit.console == []
        assert visit.dialogs == []
        contacts = _contacts(config)
        assert len(contacts) == 5
        for contact_id, name in contacts.items():
            card = page.locator(f"#contact-{contact_id}")
            assert card.is_visible(), name
            assert card.locator("h2").inner_text() == name
            box = card.bounding_box()
            assert box is not None and box["height"] > 80 and box["width"] > 300
        assert page.locator("section.contact").count() == len(contacts)
        assert page.locator("#due").is_visible()
        assert page.locator("#summary svg").is_visible()
        # The first thing on the page after the header is what is due today.
        assert page.evaluate("document.querySelector('main > section').id") == "due"
        assert page.evaluate("document.scripts.length") == 0
        assert page.locator("mark").count() > 0
    finally:
        page.close()


def test_hostile_report_stays_inert_in_the_browser(browser: Any, sample: tuple[Config, Path]) -> None:
    config, _ = sample
    script = "<script>alert(1)</script>"
    with Store(config.paths.store) as store:
        docs = [r["doc_id"] for r in store.query("SELECT DISTINCT doc_id FROM suggestions WHERE active = 1")]
        spellings = [
            "javascript:alert(2)", " JaVaScRiPt:alert(3)", "java\tscript:alert(4)", "&#106;avascript:alert(5)",
            "data:text/html,<script>alert(6)</script>", "vbscript:msgbox(7)", "\x01javascript:alert(8)",
        ]  # fmt: skip
        with store.transaction():
            for i, doc_id in enumerate(docs):
                store.db.execute(
                    "UPDATE documents SET title = ?, author = ?, url = ? WHERE id = ?",
                    (f"{script}<img src=x onerror=alert(9)>", "<svg onload=alert(10)>", spellings[i % 7], doc_id),
                )
            store.db.execute(
                "UPDATE suggestions SET best_passage = ?, matched_interest = ?",
                ("<iframe src=javascript:alert(11)></iframe> lag <style>*{display:none}</style>", "lag"),
            )
            store.db.execute("UPDATE sources SET title = ?", ('<link rel=stylesheet href="https://evil.example/x">',))
        folder = write_report(store, config, NOW.replace(day=27))
    visit = _open(browser, folder / "index.html")
    page = visit.page
    try:
        assert visit.requests == []
        assert visit.console == []
        assert visit.dialogs == []
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.querySelectorAll('img, iframe, link, object, embed').length") == 0
        assert page.evaluate("document.querySelectorAll('style').length") == 1
        handlers = "[...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => /^on/i.test(a.name)))"
        assert page.evaluate(f"{handlers}.length") == 0
        protocols = page.evaluate("[...document.links].map(a => a.protocol)")
        assert set(protocols) <= {"http:", "https:", "file:"}  # file: only for the in-page #contact anchors
        assert page.locator("text=<script>alert(1)</script><img src=x onerror=alert(9)>").count() > 0
        for contact_id in _contacts(config):
            assert page.locator(f"#contact-{contact_id}").is_visible()
    finally:
        page.close()
