"""Each output format's rule for untrusted text: HTML, Markdown and CSV fields, links, highlighted passages.

Every value that came from a feed or page is untrusted, and each format has one rule applied to
every field it writes: HTML is autoescaped by Jinja2, Markdown is backslash-escaped (the md
environment's finalize, so no field can be forgotten), CSV cells a spreadsheet would run as
formulas are defused. Before any of them, `display.shown` strips bidi controls and redacts URL
credentials. Links are kept only when they are http(s), with unsafe characters percent-encoded;
highlighted passages are escaped before any markup is added.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from pipeline.display import quote_unsafe, redact_url, shown

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: javascript:, data: and friends never become links.

    What is kept has its credentials redacted and unsafe characters (`<`, `>`, `"` ...) percent-
    encoded, so it is inert as an HTML attribute, a Markdown autolink, a CSV cell or a draft's line.
    """
    if not url:
        return None
    cleaned = "".join(ch for ch in url.strip() if ch.isprintable() and not ch.isspace())
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:  # an unbalanced [ in the host
        return None
    return quote_unsafe(redact_url(cleaned)) if scheme in ("http", "https") else None


def csv_cell(value: Any) -> Any:
    """Prefix text a spreadsheet would evaluate (=, +, -, @ ...) with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_field(value: Any) -> Any:
    """The CSV rule, for every cell: shown as anywhere else, then defused."""
    return csv_cell(shown(value))


def highlight(text: str, query: str) -> Markup:
    """`text` escaped, with the words that share a stem with `query`'s words wrapped in <mark>.

    Stems and stop words are the lexical ranking's own (`retrieval.stems`), so what is marked is
    what BM25 matched. Escaping comes first, piece by piece, and only the fixed <mark> tags are
    added as markup.
    """
    from pipeline.retrieval import WORD, content_stem, stems

    wanted = stems(query)
    pieces: list[Markup] = []
    position = 0
    for match in WORD.finditer(text):
        pieces.append(escape(text[position : match.start()]))
        word = match.group()
        if content_stem(word) in wanted:
            pieces.append(Markup("<mark>%s</mark>") % word)
        else:
            pieces.append(escape(word))
        position = match.end()
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def md_text(value: Any) -> str:
    """Backslash-escape Markdown and HTML syntax, so pasted notes cannot grow links, tags or code."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split())) if value is not None else ""


class _MarkdownLink(str):
    """An autolink the md_link filter built; md_field writes it as it is."""

    __slots__ = ()


def md_link(url: str | None) -> str:
    """`<url>`, a CommonMark autolink: nothing inside one is markup, and safe_url leaves no `<`, `>` or space.

    Anything but an http(s) URL is written as "(no web link)".
    """
    href = safe_url(url)
    return _MarkdownLink(f"<{href}>") if href else md_field("(no web link)")


def md_field(value: Any) -> str:
    """The Markdown rule, for every field a template writes: shown as anywhere else, then escaped."""
    if isinstance(value, _MarkdownLink):
        return value
    return md_text(shown(value))


def html_field(value: Any) -> Any:
    """The HTML rule's first half, for every field (autoescape is the second): shown as anywhere else.

    Markup is already escaped piece by piece (highlighted passages, the sanitised chart) and passes.
    """
    return value if isinstance(value, Markup) else shown(value)
