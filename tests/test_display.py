"""Tests for pipeline.display: credentials redacted, bidi controls stripped, unsafe URL characters encoded."""

from __future__ import annotations

import logging

import pytest

from pipeline.display import BIDI_CONTROLS, RedactCredentials, quote_unsafe, redact_logs, redact_url, shown, strip_bidi


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:TOKEN@host.example/feed", "http://***@host.example/feed"),
        ("https://TOKEN@host.example", "https://***@host.example"),
        ("HTTPS://u:p@Host.example:8443/a?b=c@d", "HTTPS://***@Host.example:8443/a?b=c@d"),
        ("http://user:p@ss@host.example/x", "http://***@host.example/x"),  # the host is after the last @
        ("http://u%3Ax:t%40k@host.example/", "http://***@host.example/"),
        ("feed failed: http://u:T@a.example/f: http 401; see https://v:S@b.example/", "feed failed: "
         "http://***@a.example/f: http 401; see https://***@b.example/"),
    ],
)  # fmt: skip
def test_redact_url_hides_every_credential(text: str, expected: str) -> None:
    assert redact_url(text) == expected
    assert redact_url(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://host.example/a?email=someone@example.org",
        "https://host.example/@handle/post",
        "write to someone@example.org",
        "mailto:someone@example.org",
        "",
    ],
)
def test_redact_url_leaves_text_without_credentials(text: str) -> None:
    assert redact_url(text) == text


def test_strip_bidi_removes_every_direction_control() -> None:
    assert strip_bidi("Invoice \u202egpj.exe") == "Invoice gpj.exe"
    assert strip_bidi("a" + BIDI_CONTROLS + "b") == "ab"
    assert strip_bidi("שלום and عربي stay") == "שלום and عربي stay"  # right-to-left letters are text


def test_shown_strips_before_redacting() -> None:
    # A control inside the scheme would otherwise hide the URL from the redaction, then vanish.
    assert shown("ht\u202etp://user:TOKEN@host.example/") == "http://***@host.example/"
    assert shown(3) == 3 and shown(None) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/<x> y", "https://a.example/%3Cx%3E%20y"),
        ('https://a.example/"`{}', "https://a.example/%22%60%7B%7D"),
        ("https://a.example/\x00\x1f\x7f", "https://a.example/%00%1F%7F"),
        ("https://a.example/\u202e\u200b\u00a0\u2028", "https://a.example/%E2%80%AE%E2%80%8B%C2%A0%E2%80%A8"),
        ("https://a.example/Müller?q=1#frag", "https://a.example/Müller?q=1#frag"),
        ("https://a.example/%3C", "https://a.example/%3C"),
    ],
)
def test_quote_unsafe(url: str, expected: str) -> None:
    assert quote_unsafe(url) == expected
    assert quote_unsafe(expected) == expected


def test_redact_logs_adds_one_filter_per_handler() -> None:
    logger = logging.getLogger("test_display.owner")
    logger.propagate = False
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    logger.addHandler(handler)
    try:
        redact_logs(logger)
        redact_logs(logger)
        assert sum(isinstance(f, RedactCredentials) for f in handler.filters) == 1
        logger.warning("feed failed: %s", "http://user:TOKEN@host.example/feed: http 500")
        logger.warning("plain %d", 3)
    finally:
        logger.removeHandler(handler)
    assert records == ["feed failed: http://***@host.example/feed: http 500", "plain 3"]
