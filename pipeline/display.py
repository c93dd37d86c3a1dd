"""What the user is shown: URLs without credentials or raw unsafe characters, text without bidi controls.

Every report format, `gifts status` and the log go through these, so a feed URL's token or a
title's right-to-left override never reaches a screen, a file or a terminal.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any
from urllib.parse import quote

# Explicit embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the LRM/RLM marks
# and the Arabic letter mark: invisible, yet they reorder what follows (a title reading "txt.exe").
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
# scheme://userinfo@ up to the last @ before the path: parsers take the host after the last one,
# so "user:p@ss@host" must lose "user:p@ss" whole.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s]*@")
REDACTED = "***"
# WHATWG's path percent-encode set without its delimiters (# and ?): what a browser encodes itself.
_UNSAFE_ASCII = frozenset(' "<>`{}\x7f') | frozenset(map(chr, range(0x20)))
# Invisible or control characters of any script; letters of other scripts stay as they are, so an
# internationalised URL that was safe canonicalises (and keeps its document id) exactly as before.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def strip_bidi(text: str) -> str:
    """`text` without bidirectional embedding, override, isolate and mark characters."""
    return _BIDI.sub("", text)


def redact_url(text: str) -> str:
    """`text` (one URL, or a message holding URLs) with every URL's `user:password@` shown as `***@`."""
    return _USERINFO.sub(rf"\1{REDACTED}@", text)


def shown(value: Any) -> Any:
    """A text value as it may be shown anywhere: bidi controls stripped, then credentials redacted.

    Stripping comes first, so a control hidden inside a URL's scheme cannot hide its credentials.
    Anything that is not a str is returned as it is.
    """
    return redact_url(strip_bidi(value)) if isinstance(value, str) else value


def _url_safe(ch: str) -> bool:
    if ch.isascii():
        return ch not in _UNSAFE_ASCII
    return unicodedata.category(ch) not in _UNSAFE_CATEGORIES


def quote_unsafe(url: str) -> str:
    """`url` with controls, spaces, `"`, `<`, `>`, backquotes, braces and invisible characters percent-encoded.

    Existing escapes (`%3C`) and delimiters are kept, so quoting twice changes nothing.
    """
    if all(_url_safe(ch) for ch in url):
        return url
    return "".join(ch if _url_safe(ch) else quote(ch, safe="", errors="replace") for ch in url)


class RedactCredentials(logging.Filter):
    """Rewrites each record's message with URL credentials redacted (messages about sources name URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = shown(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Add RedactCredentials to every handler of `logger` (the root logger by default), once each.

    A filter on a handler sees records from every module's logger, which a logger's own filter does not.
    """
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactCredentials) for f in handler.filters):
            handler.addFilter(RedactCredentials())
