"""The review app on a real 127.0.0.1 socket: refusals (token, Host, cross-site), binding, library writes."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import NOW, nightly_fake, uncalibrated

from pipeline import runner
from pipeline.config import Config, load
from pipeline.errors import InputError
from pipeline.review import Review, bind, server_for
from pipeline.store import Store, WorkspaceLock

CLOCK = NOW + dt.timedelta(hours=3)


@dataclass
class Running:
    review: Review
    base: str

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base, follow_redirects=False, trust_env=False, **kwargs)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def signed_in(self) -> Iterator[httpx.Client]:
        with self.client() as client:
            first = client.get(f"/?token={self.review.token}")
            assert first.status_code == 303 and first.headers["location"] == "/"
            yield client


def start(config: Config) -> Iterator[Running]:
    sock = bind("127.0.0.1", 0)
    review = Review(config, sock.getsockname()[1], clock=lambda: CLOCK)
    server = server_for(review)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Running(review, f"http://127.0.0.1:{review.port}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Config:
    target = tmp_path_factory.mktemp("review") / "sample"
    shutil.copytree(
        Path(__file__).parent.parent / "data" / "sample", target, ignore=shutil.ignore_patterns("interim", "processed")
    )
    config = load(uncalibrated(target / "gifts.toml"))
    assert runner.run(config, now=NOW, embedder_factory=nightly_fake).status == "ok"
    return config


@pytest.fixture
def app(ran: Config) -> Iterator[Running]:
    yield from start(ran)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _suggestion(config: Config) -> str:
    with Store(config.paths.store) as store:
        return str(store.scalar("SELECT id FROM suggestions WHERE active = 1 ORDER BY contact_id, rank LIMIT 1"))


def test_no_token_wrong_token_and_foreign_host_are_refused(app: Running) -> None:
    with app.client() as client:
        assert client.get("/").status_code == 403
        assert client.get("/static/review.js").status_code == 403
        assert client.get("/?token=wrong").status_code == 403
    with app.client(cookies={app.review.cookie: "wrong"}) as client:
        assert client.get("/").status_code == 403
    with app.client() as client:
        # DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends its own Host.
        rebound = client.get(f"/?token={app.review.token}", headers={"host": f"evil.example:{app.review.port}"})
        assert rebound.status_code == 421
        assert "set-cookie" not in rebound.headers
    with app.signed_in() as client:
        assert client.get("/", headers={"host": "evil.example"}).status_code == 421
        page = client.get("/")
        assert page.status_code == 200
        assert "Due today" in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
        cookie = page.request.headers["cookie"]
        assert cookie.startswith(app.review.cookie)
        assert client.get("/static/review.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/static/..%2Fstore.py").status_code == 404
        assert client.request("PUT", "/act").status_code == 405


def test_token_cookie_is_httponly_and_strict(app: Running) -> None:
    with app.client() as client:
        first = client.get(f"/?token={app.review.token}")
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_cross_site_posts_are_refused_and_nothing_is_written(app: Running, ran: Config) -> None:
    sid = _suggestion(ran)
    origin = app.base
    with app.signed_in() as client:
        csrf = _csrf(client.get("/").text)
        form = {"csrf": csrf, "suggestion_id": sid, "op": "skip"}
        assert client.post("/act", data=form, headers={"origin": "https://evil.example"}).status_code == 403
        assert client.post("/act", data=form, headers={"origin": "null"}).status_code == 403
        assert client.post("/act", data=form).status_code == 403  # neither Origin nor Referer
        missing = {k: v for k, v in form.items() if k != "csrf"}
        assert client.post("/act", data=missing, headers={"origin": origin}).status_code == 403
        wrong = {**form, "csrf": "x" * len(csrf)}
        assert client.post("/act", data=wrong, headers={"origin": origin}).status_code == 403
        assert client.post("/act", data=form, headers={"referer": "https://evil.example/"}).status_code == 403
        # A token in a POST's address does not sign it in.
        bare = app.client()
        assert bare.post(f"/act?token={app.review.token}", data=form, headers={"origin": origin}).status_code == 403
    with Store(ran.paths.store) as store:
        assert store.scalar("SELECT COUNT(*) FROM actions WHERE suggestion_id = ?", (sid,)) == 0


def test_same_origin_post_records_through_the_library_and_undo_deletes(app: Running, ran: Config) -> None:
    sid = _suggestion(ran)
    with app.signed_in() as client:
        csrf = _csrf(client.get("/").text)
        done = client.post("/act", data={"csrf": csrf, "suggestion_id": sid, "op": "skip", "back": f"s-{sid}"},
                           headers={"origin": app.base})  # fmt: skip
        assert done.status_code == 303 and done.headers["location"] == f"/#s-{sid}"
        with Store(ran.paths.store) as store:
            action = store.scalar("SELECT id FROM actions WHERE suggestion_id = ? AND action = 'skip'", (sid,))
        assert action is not None
        assert "recorded:" in client.get("/").text
        client.post("/undo", data={"csrf": csrf, "action_id": str(action)}, headers={"origin": app.base})
    with Store(ran.paths.store) as store:
        assert store.scalar("SELECT COUNT(*) FROM actions WHERE suggestion_id = ?", (sid,)) == 0


def test_writes_wait_in_a_queue_while_a_run_holds_the_workspace(app: Running, ran: Config) -> None:
    sid = _suggestion(ran)
    with app.signed_in() as client:
        csrf = _csrf(client.get("/").text)
        with WorkspaceLock(ran.paths.interim):
            client.post("/act", data={"csrf": csrf, "suggestion_id": sid, "op": "skip"}, headers={"origin": app.base})
            page = client.get("/").text
            assert "Waiting for the nightly run" in page
            assert (ran.paths.interim / "review-queue.json").is_file()
            with Store(ran.paths.store) as store:
                assert store.scalar("SELECT COUNT(*) FROM actions WHERE suggestion_id = ?", (sid,)) == 0
        page = client.get("/").text  # the lock is free: the queue is written, in order
        assert "Waiting for the nightly run" not in page
        assert not (ran.paths.interim / "review-queue.json").exists()
        with Store(ran.paths.store) as store:
            action = store.scalar("SELECT id FROM actions WHERE suggestion_id = ?", (sid,))
        assert action is not None
        client.post("/undo", data={"csrf": csrf, "action_id": str(action)}, headers={"origin": app.base})


def test_only_loopback_unless_asked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"only 127\.0\.0\.1"):
        bind("0.0.0.0", 0)  # noqa: S104 -- the point: refused
    with pytest.raises(InputError, match=r"only 127\.0\.0\.1"):
        bind("192.0.2.1", 0)
    bind("127.0.0.1", 0).close()
    bind("localhost", 0).close()
    anyhost = bind("0.0.0.0", 0, allow_remote=True)  # noqa: S104 -- asked for explicitly
    anyhost.close()


def test_cli_refuses_a_remote_host_without_the_flag_only(workspace: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["--config", str(workspace), "review", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output
