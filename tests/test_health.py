"""Source health: backoff nights after consecutive failures, disabling, `gifts enable`, and `gifts status`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NOW
from pytest_httpserver import HTTPServer

from pipeline import health
from pipeline.cli import main
from pipeline.config import load
from pipeline.runner import run
from pipeline.store import Store


def test_skip_nights_follow_the_schedule() -> None:
    assert [health.skip_nights(n) for n in range(7)] == [0, 1, 2, 4, 7, 7, 7]


def test_a_second_failure_the_same_night_is_the_same_outage() -> None:
    today = dt.date(2026, 11, 26)
    first = health.after_failure(0, None, today)
    assert (first.failures, first.next_attempt_on, first.disabled) == (1, "2026-11-28", False)
    again = health.after_failure(1, "2026-11-26", today)
    assert again.failures == 1
    assert health.after_failure(health.DISABLE_AFTER - 1, "2026-11-01", today).disabled


def test_verdict() -> None:
    today = dt.date(2026, 11, 26)
    assert health.verdict(None, None, today) == "due"
    assert health.verdict(None, "2026-11-26", today) == "due"
    assert health.verdict(None, "2026-11-27", today) == "backoff_skip"
    assert health.verdict("2026-11-01T05:00:00", None, today) == "disabled"


@pytest.fixture
def flaky(tmp_path: Path, httpserver: HTTPServer) -> Path:
    httpserver.expect_request("/dead.xml").respond_with_data("down", status=503)
    config = tmp_path / "gifts.toml"
    url = httpserver.url_for("/dead.xml")
    config.write_text(f'[sources]\nfeeds = ["{url}"]\n[fetch]\nallow_private_networks = true\n', encoding="utf-8")
    return config


def _cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout or result.stderr


def test_nightly_backoff_then_disabled_then_enabled(flaky: Path, httpserver: HTTPServer) -> None:
    config = load(flaky)
    states = []
    for night in range(30):
        result = run(config, ("fetch",), now=NOW + dt.timedelta(days=night))
        [state] = [k.removeprefix("sources_") for k, v in result.counts.items() if k.startswith("sources_") and v]
        states.append(state)
    # Attempts on nights 0, 2, 5, 10, 18, 26; skipped 1, 2, 4, 7, 7 nights between; disabled after the 6th.
    attempts = [n for n, s in enumerate(states) if s == "failed"]
    assert attempts == [0, 2, 5, 10, 18, 26]
    assert set(states[27:]) == {"disabled"}
    assert len(httpserver.log) == 6
    code, out = _cli(flaky, "status")
    assert code == 0
    assert "disabled since" in out and "http 503" in out and "6 failures in a row" in out
    code, out = _cli(flaky, "status", "--json")
    [source] = json.loads(out)["sources"]
    assert source["disabled_at"] and source["consecutive_failures"] == 6

    code, out = _cli(flaky, "enable", "dead.xml")
    assert code == 0 and "enabled" in out
    again = run(config, ("fetch",), now=NOW + dt.timedelta(days=31))
    assert again.counts["sources_failed"] == 1
    assert len(httpserver.log) == 7
    with Store(config.paths.store) as store:
        assert store.scalar("SELECT consecutive_failures FROM sources") == 1


def test_enable_unknown_source_is_one_line_exit_2(flaky: Path) -> None:
    run(load(flaky), ("fetch",), now=NOW)
    code, out = _cli(flaky, "enable", "no-such-feed")
    assert code == 2
    assert out.strip().count("\n") == 0 and "no-such-feed" in out


def test_a_configuration_refusal_is_always_due() -> None:
    today = dt.date(2026, 11, 26)
    refused = "blocked: 127.0.0.1 is the non-public address 127.0.0.1"
    assert health.refused_by_configuration(refused) and not health.refused_by_configuration("http 404")
    # Backoff and disabling recorded before the rule do not hold a refused source back either.
    assert health.verdict("2026-11-01T05:00:00", "2026-12-01", today, refused) == "due"
    assert health.verdict(None, "2026-11-27", today, "http 404") == "backoff_skip"


def _source_row(config: Path) -> dict[str, object]:
    with Store(load(config).paths.store) as store:
        (row,) = store.query("SELECT * FROM sources")
        return dict(row)


def test_a_feed_refused_by_configuration_is_fetched_once_the_configuration_allows_it(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Backoff follows the cause: a private address refused by the settings is not the feed failing."""
    url = httpserver.url_for("/feed.xml")
    httpserver.expect_request("/feed.xml").respond_with_data(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title></channel></rss>',
        content_type="application/rss+xml",
    )
    config = tmp_path / "gifts.toml"
    config.write_text(f'[sources]\nfeeds = ["{url}"]\n', encoding="utf-8")
    for night in range(3):  # refused night after night: no backoff, no disabling
        result = run(load(config), ("fetch",), now=NOW + dt.timedelta(days=night))
        assert result.counts["sources_failed"] == 1 and not result.counts.get("sources_backoff_skip")
    row = _source_row(config)
    assert str(row["reason"]).startswith("blocked:") and row["next_attempt_on"] is None
    assert row["disabled_at"] is None and not row["consecutive_failures"]

    config.write_text(f'[sources]\nfeeds = ["{url}"]\n[fetch]\nallow_private_networks = true\n', encoding="utf-8")
    result = run(load(config), ("fetch",), now=NOW + dt.timedelta(days=3))
    assert result.counts["fetched"] == 1 and result.counts["sources_new"] == 1
    assert not result.counts.get("sources_backoff_skip") and not result.counts.get("sources_failed")


def test_a_404_still_backs_off(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone.xml").respond_with_data("gone", status=404)
    config = tmp_path / "gifts.toml"
    url = httpserver.url_for("/gone.xml")
    config.write_text(f'[sources]\nfeeds = ["{url}"]\n[fetch]\nallow_private_networks = true\n', encoding="utf-8")
    run(load(config), ("fetch",), now=NOW)
    result = run(load(config), ("fetch",), now=NOW + dt.timedelta(days=1))
    assert result.counts["sources_backoff_skip"] == 1
    assert _source_row(config)["consecutive_failures"] == 1
