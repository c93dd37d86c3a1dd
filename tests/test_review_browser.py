"""A whole review session in headless Chromium (Playwright, Debian's chromium), then the next run.

Every request outside the app's 127.0.0.1 address is aborted and counted; console errors are counted.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, NOW, nightly_fake, playwright_or_skip, uncalibrated
from test_review import CLOCK, Running, start

from pipeline import runner
from pipeline.config import Config, load
from pipeline.interviews import parse_interview
from pipeline.store import Store

pytestmark = pytest.mark.slow  # drives Chromium: `make test-fast` leaves it out

sync_api = playwright_or_skip()

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions"]  # fmt: skip
SCREENSHOT = os.environ.get("GIFTS_REVIEW_SCREENSHOT")  # set to write docs/review.png


@pytest.fixture
def app(workspace: Path) -> Iterator[tuple[Config, Running]]:
    config = load(uncalibrated(workspace))
    assert runner.run(config, now=NOW, embedder_factory=nightly_fake).status == "ok"
    for running in start(config):
        yield config, running


def _picks(config: Config) -> tuple[str, list[dict[str, Any]]]:
    """(the interview to set filled, four suggestions of other interviews' contacts, each another document)."""
    with Store(config.paths.store) as store:
        first = str(store.scalar("SELECT id FROM interviews WHERE status = 'active' ORDER BY date LIMIT 1"))
        rows = [
            dict(r)
            for r in store.query(
                "SELECT s.id, s.contact_id, s.doc_id, d.source_id, c.interview_id FROM suggestions s"
                " JOIN contacts c ON c.id = s.contact_id JOIN documents d ON d.id = s.doc_id"
                " JOIN interviews i ON i.id = c.interview_id"
                " WHERE s.active = 1 AND c.interview_id != ? AND i.status IN ('active', 'offer')"
                " ORDER BY s.contact_id, s.rank",
                (first,),
            )
        ]
    picked: list[dict[str, Any]] = []
    for row in rows:
        if all(row["doc_id"] != p["doc_id"] and row["source_id"] != p["source_id"] for p in picked):
            picked.append(row)
    assert len(picked) >= 4, picked
    return first, picked[:4]


def test_a_whole_review_session_lands_in_the_store_and_the_next_run_respects_it(
    app: tuple[Config, Running], tmp_path: Path
) -> None:
    config, running = app
    filled, (sent, skipped, never, edited) = _picks(config)
    outside: list[str] = []
    console: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=running.base)

        def route(request_route: Any) -> None:
            if request_route.request.url.startswith(running.base + "/"):
                request_route.continue_()
            else:
                outside.append(request_route.request.url)
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(f"{running.base}/?token={running.review.token}")
        assert page.url == running.base + "/"  # the token left the address for a cookie
        assert page.evaluate("document.querySelector('main > section').id") == "due"
        assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it

        def act(selector: str) -> None:
            with page.expect_navigation():
                page.locator(selector).click()

        # Sent, by keyboard: focus the gift, press s.
        page.locator(f"#s-{sent['id']}").focus()
        with page.expect_navigation():
            page.keyboard.press("s")
        assert page.locator(f"#s-{sent['id']} .done").count() == 1
        act(f"#s-{skipped['id']} button[value=skip]")
        act(f"#s-{never['id']} button[value=never-source]")
        # Edit a draft, copy it, and see the mail link follow it.
        draft = page.locator(f"#draft-{edited['id']}")
        draft.fill("Dear reader,\n\nMy own words about this article.\n")
        mail = page.locator(f"#s-{edited['id']} a.mail")
        assert "My%20own%20words" in (mail.get_attribute("href") or "")
        page.locator(f"#s-{edited['id']} button.copy").click()
        assert page.evaluate("navigator.clipboard.readText()").startswith("Dear reader")
        act(f"#s-{edited['id']} form.draft button:not([type])")
        assert "My own words" in page.locator(f"#draft-{edited['id']}").input_value()
        assert (page.locator(f"#s-{edited['id']} a.mail").get_attribute("href") or "").startswith("mailto:")
        # A reply from the contact who was sent a gift.
        page.locator(f"#reply-{sent['contact_id']}").fill("liked the article")
        act(f"#contact-{sent['contact_id']} form.reply button")
        assert page.locator(f"#contact-{sent['contact_id']} details.history").text_content().count("reply") == 1  # type: ignore[union-attr]
        # Filled: the interview's people leave the page at once.
        page.locator(f"#status-{filled}").select_option("filled")
        act(f"#status-{filled} ~ button")
        # A new interview, first with a bad date.
        page.goto(f"{running.base}/new")
        page.fill("#f-company", "Orbit Analytics")
        page.fill("#f-position", "Data Engineer")
        page.fill("#f-date", "2026-11-31")
        page.fill("#f-name0", "Lena Park")
        page.fill("#f-interests0", "streaming data quality\nlakehouse table formats")
        page.fill("#f-notes", "Lena said late data breaks their dashboards every Monday.")
        act("form.interview > button")
        assert page.locator("#error-date").is_visible()
        assert page.locator("#f-date[aria-invalid=true]").count() == 1
        assert page.input_value("#f-company") == "Orbit Analytics"  # what was typed stays
        page.fill("#f-date", "2026-11-25")
        act("form.interview > button")
        assert page.url == running.base + "/"
        assert "created" in page.locator(".flash").first.inner_text()
        if SCREENSHOT:
            page.set_viewport_size({"width": 1100, "height": 1500})
            page.goto(f"{running.base}/")
            page.screenshot(path=SCREENSHOT, full_page=False)
        browser.close()
    assert outside == []
    assert console == []

    with Store(config.paths.store) as store:
        acts = {(r["suggestion_id"], r["action"], r["scope"]) for r in store.query("SELECT * FROM actions")}
        assert (sent["id"], "sent", None) in acts
        assert (skipped["id"], "skip", None) in acts
        assert (never["id"], "never", "source") in acts
        assert (None, "reply", None) in acts
        assert store.scalar("SELECT draft_edit FROM suggestions WHERE id = ?", (edited["id"],)).startswith("Dear")
        assert store.scalar("SELECT status FROM interviews WHERE id = ?", (filled,)) == "filled"
    path = config.paths.interviews
    assert parse_interview(next(path.glob(f"{filled}.md"))).status == "filled"
    new = parse_interview(path / "2026-11-25-orbit-analytics.md")
    assert [c.name for c in new.contacts] == ["Lena Park"]

    # The next night's run respects every decision.
    later = NOW + dt.timedelta(days=1)
    assert runner.run(config, now=later, embedder_factory=nightly_fake).status == "ok"
    with Store(config.paths.store) as store:
        active = {(r["contact_id"], r["doc_id"]) for r in store.query("SELECT * FROM suggestions WHERE active = 1")}
        assert (sent["contact_id"], sent["doc_id"]) not in active
        assert (skipped["contact_id"], skipped["doc_id"]) not in active
        from_source = {
            r["id"] for r in store.query("SELECT id FROM documents WHERE source_id = ?", (never["source_id"],))
        }
        assert not any(c == never["contact_id"] and d in from_source for c, d in active)
        assert store.scalar("SELECT draft_edit FROM suggestions WHERE id = ?", (edited["id"],)).startswith("Dear")
        assert store.scalar("SELECT COUNT(*) FROM contacts WHERE name = 'Lena Park'") == 1
        assert store.scalar("SELECT status FROM interviews WHERE id = ?", (filled,)) == "filled"
    from pipeline import plan

    with Store(config.paths.store) as store:
        due = {f.contact_id: f for f in plan.followups(store, config, later)}
        people = {r["id"]: r["interview_id"] for r in store.query("SELECT id, interview_id FROM contacts")}
    assert all(f.due is None for c, f in due.items() if people[c] == filled)
    assert due[sent["contact_id"]].due is None  # replied: paused
    assert CLOCK.date() == NOW.date()
