"""`gifts status` and the log show no feed URL's credentials and no bidi control characters."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NOW, nightly_fake
from pytest_httpserver import HTTPServer

from pipeline.cli import main
from pipeline.config import load
from pipeline.runner import run
from pipeline.status import collect

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Ada \u202eetyB" reads as "Ada Byte" backwards


@pytest.fixture
def tokened(tmp_path: Path, httpserver: HTTPServer) -> Path:
    """A workspace with two dead feeds whose URLs carry a token, one titled with an RLO by its OPML."""
    with_token = httpserver.url_for("").rstrip("/").replace("http://", "http://reader:TOKEN@")
    httpserver.expect_request("/dead.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/other.xml").respond_with_data("gone", status=404)
    (tmp_path / "feeds.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        f'<outline title="Lag {RLO}ylkeeW" xmlUrl="{with_token}/other.xml"/></body></opml>',
        encoding="utf-8",
    )
    (tmp_path / "interviews").mkdir()
    (tmp_path / "interviews" / "acme.md").write_text(
        f"---\ncompany: Acme {RLO}cnI\ndate: 2026-11-20\nstatus: active\ninterviewers:\n"
        f"  - name: Ada {RLO}etyB\n    interests:\n      - Kafka consumer lag\n---\nAda worries about lag.\n",
        encoding="utf-8",
    )
    config = tmp_path / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = ["{with_token}/dead.xml"]\nopml = ["feeds.opml"]\n'
        "[fetch]\nallow_private_networks = true\ntimeout_s = 5\n",
        encoding="utf-8",
    )
    return config


def _assert_clean(text: str) -> None:
    assert "TOKEN" not in text and "reader:" not in text
    assert RLO not in text


def test_status_redacts_credentials_and_strips_bidi_controls(tokened: Path) -> None:
    run(load(tokened), ("fetch", "profile"), now=NOW, embedder_factory=nightly_fake)
    info = collect(load(tokened))
    _assert_clean(json.dumps(info, ensure_ascii=False))
    assert {s["location"].split("@")[0] for s in info["sources"]} == {"http://***"}
    assert "Lag ylkeeW" in {s["title"] for s in info["sources"]}
    assert [(c["name"], c["company"]) for c in info["contacts"]] == [("Ada etyB", "Acme cnI")]

    for args in (["status"], ["status", "--json"]):
        result = CliRunner().invoke(main, ["--config", str(tokened), *args])
        assert result.exit_code == 0, result.output
        _assert_clean(result.output)
        assert "http://***@" in result.output


def test_log_messages_about_sources_redact_credentials(tokened: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    CliRunner().invoke(main, ["--config", str(tokened), "fetch"])
    failures = [r.getMessage() for r in caplog.records if "dead.xml" in r.getMessage()]
    assert failures and all("http://***@" in message for message in failures)
    _assert_clean(caplog.text)


def test_cli_error_lines_and_enable_redact_credentials(tokened: Path, tmp_path: Path) -> None:
    run(load(tokened), ("fetch",), now=NOW)
    enabled = CliRunner().invoke(main, ["--config", str(tokened), "enable", "dead.xml"])
    assert enabled.exit_code == 0 and "enabled: http://***@" in enabled.output
    _assert_clean(enabled.output)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "feeds.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline xmlUrl="ftp://reader:TOKEN@h.example/f"/></body></opml>',
        encoding="utf-8",
    )
    (bad / "gifts.toml").write_text('[sources]\nopml = ["feeds.opml"]\n', encoding="utf-8")
    failed = CliRunner().invoke(main, ["--config", str(bad / "gifts.toml"), "fetch"])
    assert failed.exit_code == 2 and "ftp://***@h.example/f" in failed.stderr
    _assert_clean(failed.stderr)


@pytest.fixture
def failing(tmp_path: Path, httpserver: HTTPServer) -> Path:
    """A workspace where one feed is gone, one is quarantined, one page is gone, one local file is corrupt."""
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/gone.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/bomb.xml").respond_with_data(
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "xx">]><rss version="2.0"><channel><title>&a;</title>'
        "</channel></rss>",
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/good.xml").respond_with_data(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title>'
        f"<item><title>Lag</title><link>{base}/missing-page</link></item></channel></rss>",
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/missing-page").respond_with_data("gone", status=404)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "bro<ken>.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    config = tmp_path / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = ["{base}/gone.xml", "{base}/bomb.xml", "{base}/good.xml"]\nfolders = ["inbox"]\n'
        "[fetch]\nallow_private_networks = true\ntimeout_s = 5\n",
        encoding="utf-8",
    )
    return config


def test_status_lists_every_failure_by_url_or_path_with_the_reason(failing: Path, httpserver: HTTPServer) -> None:
    run(load(failing), ("fetch", "parse", "extract"), now=NOW)
    base = httpserver.url_for("").rstrip("/")
    failures = {f["where"]: f for f in collect(load(failing))["failures"]}
    pdf = str((failing.parent / "inbox" / "bro<ken>.pdf").resolve())
    assert set(failures) == {f"{base}/gone.xml", f"{base}/bomb.xml", f"{base}/missing-page", pdf}
    assert (failures[f"{base}/gone.xml"]["kind"], failures[f"{base}/gone.xml"]["state"]) == ("feed", "failed")
    assert "404" in failures[f"{base}/gone.xml"]["reason"]
    assert failures[f"{base}/bomb.xml"]["state"] == "quarantined" and failures[f"{base}/bomb.xml"]["reason"]
    page = failures[f"{base}/missing-page"]
    assert (page["kind"], page["url"], page["state"]) == ("page", f"{base}/missing-page", "extract_failed")
    assert "404" in page["reason"] and page["source"] == "Good"
    assert (failures[pdf]["kind"], failures[pdf]["path"]) == ("file", pdf)
    assert failures[pdf]["reason"].startswith("pdf: ")

    result = CliRunner().invoke(main, ["--config", str(failing), "status"])
    assert result.exit_code == 0
    assert f"sources failing:\n  {base}/bomb.xml: quarantined (" in result.output
    assert f"  {base}/gone.xml: failed (" in result.output
    assert f"pages not read:\n  {base}/missing-page: extract_failed (fetch: " in result.output
    assert f"files not read:\n  {pdf}: extract_failed (pdf: " in result.output
    as_json = CliRunner().invoke(main, ["--config", str(failing), "status", "--json"])
    assert {f["where"] for f in json.loads(as_json.output)["failures"]} == set(failures)


def test_the_report_summary_names_what_failed_escaped(failing: Path, httpserver: HTTPServer) -> None:
    result = run(load(failing), ("fetch", "parse", "extract", "report"), now=NOW)
    assert result.report_dir is not None
    base = httpserver.url_for("").rstrip("/")
    html = (result.report_dir / "index.html").read_text(encoding="utf-8")
    markdown = (result.report_dir / "report.md").read_text(encoding="utf-8")
    assert "What failed last night" in html and "What failed last night" in markdown
    for text in (html, markdown):
        assert f"{base}/gone.xml" in text and f"{base}/missing-page" in text and "bomb.xml" in text
    assert "bro&lt;ken&gt;.pdf" in html and "bro<ken>" not in html
    assert "bro\\<ken\\>.pdf" in markdown
