"""Extract stage: readable text from HTML (trafilatura), PDF (pypdf) and plain-text bodies, and the
document row each result becomes (the same rows from both engines).

trafilatura is given the HTML we downloaded, never a URL, so it never fetches on its own.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline import dedupe, titles
from pipeline.db.states import DocState
from pipeline.passages import text_sha

log = logging.getLogger(__name__)

MAX_HTML_BYTES = 3 * 1024 * 1024  # beyond this a page is boilerplate or an attack, not an article
MAX_PDF_PAGES = 80
# Columns of the extracted-documents frame, in order: the Ray engine writes exactly these to Parquet.
EXTRACTED = ("id", "state", "reason", "title", "text", "text_sha", "words", "kind", "simhash")


@dataclass(frozen=True, slots=True)
class Extracted:
    """The outcome of extracting one body: `state` is extracted, extract_failed or too_large."""

    state: str
    text: str = ""
    title: str | None = None
    reason: str | None = None


def sniff_kind(body: bytes, content_type: str, hint: str) -> str:
    """html | pdf | text, trusting the bytes over the server's Content-Type."""
    head = body[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return "pdf"
    lowered = head.lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<body" in body[:4096].lower():
        return "html"
    if "pdf" in content_type:
        return "pdf"
    if "html" in content_type:
        return "html"
    return hint if hint in ("html", "pdf", "text") else "text"


def _clean(text: str) -> str:
    text = text.replace("\x00", "")
    # PDF bullets often come out as private-use glyphs (Symbol font); show them as dashes.
    text = re.sub("[\ue000-\uf8ff]", "-", text)
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extract_html(body: bytes) -> Extracted:
    if len(body) > MAX_HTML_BYTES:
        return Extracted(DocState.TOO_LARGE, reason=f"html larger than {MAX_HTML_BYTES} bytes")
    import trafilatura  # heavy import kept out of `gifts --help`

    try:
        result = trafilatura.bare_extraction(body, include_comments=False, include_tables=False, with_metadata=True)
    except Exception as exc:  # trafilatura raises many types on hostile markup; record and go on
        return Extracted(DocState.EXTRACT_FAILED, reason=f"trafilatura: {type(exc).__name__}: {exc}"[:300])
    if result is None:
        return Extracted(DocState.EXTRACT_FAILED, reason="trafilatura found no main text")
    text = _clean(getattr(result, "text", None) or "")
    if not text:
        return Extracted(DocState.EXTRACT_FAILED, reason="trafilatura found no main text")
    return Extracted(DocState.EXTRACTED, text=text, title=_html_title(body, getattr(result, "title", None)))


def _html_title(body: bytes, fallback: str | None) -> str | None:
    """The page's own heading (see `titles.html_title`); trafilatura's title when the page cannot be parsed.

    trafilatura takes a lone h1 as the title, which on a documentation site is the site's banner
    ("Node.js v20.20.2 documentation" on every page), so the page's headings are read here.
    """
    from trafilatura.utils import load_html

    try:
        tree = load_html(body)
    except (ValueError, TypeError, RecursionError):  # hostile markup: keep what trafilatura found
        tree = None
    return titles.html_title(tree, fallback) if tree is not None else titles.meaningful(fallback)


def extract_pdf(body: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(body))
        pages = reader.pages[:MAX_PDF_PAGES]
        runs: list[tuple[float, str]] = []
        text = "\n\n".join(
            (page.extract_text(visitor_text=_sized(runs) if n == 0 else None) or "") for n, page in enumerate(pages)
        )
        title = titles.meaningful(str(reader.metadata.title or "")) if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, NotImplementedError, RecursionError) as exc:
        return Extracted(DocState.EXTRACT_FAILED, reason=f"pdf: {type(exc).__name__}: {exc}"[:300])
    text = _clean(text)
    if not text:
        return Extracted(DocState.EXTRACT_FAILED, reason="pdf has no extractable text (scanned?)")
    # A meaningful /Title, else the first page's largest heading, else its first title-like line:
    # the metadata of many PDFs says "Untitled" or "Microsoft Word - draft3.docx".
    title = title or titles.largest_text(runs) or titles.first_heading(text)
    return Extracted(DocState.EXTRACTED, text=text, title=title)


def _sized(runs: list[tuple[float, str]]) -> Callable[..., None]:
    """A pypdf text visitor appending (font size as drawn, text) to `runs`."""

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: object, size: float) -> None:
        if text.strip():
            # The size as drawn: the font size scaled by the text and page matrices' vertical factor.
            scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
            runs.append((float(size) * (scale or 1.0), text))

    return visit


def extract_text(body: bytes) -> Extracted:
    text = _clean(body.decode("utf-8", errors="replace"))
    if not text:
        return Extracted(DocState.EXTRACT_FAILED, reason="empty text file")
    return Extracted(DocState.EXTRACTED, text=text, title=titles.markdown_title(text))


def extract(body: bytes, kind: str) -> Extracted:
    """Dispatch on the sniffed kind; never raises for bad input, records a reason instead."""
    if kind == "pdf":
        return extract_pdf(body)
    if kind == "html":
        return extract_html(body)
    return extract_text(body)


def extracted_fields(result: Extracted, kind: str, title: str | None, url: str | None) -> dict[str, Any]:
    """What a document row becomes after extraction (the store's columns, minus bookkeeping)."""
    text = result.text
    if result.title and (url is None or not title):
        title = result.title  # local files have only a file name; the document knows better
    return {
        "state": result.state,
        "reason": result.reason,
        "title": title,
        "text": text or None,
        "text_sha": text_sha(text) if text else None,
        "words": len(text.split()),
        "kind": kind,
    }


def extracted_frame(batch: pd.DataFrame, results: Mapping[str, Extracted]) -> pd.DataFrame:
    """(id, kind, title, url) rows and each one's extraction result -> EXTRACTED rows.

    Bad input yields a state and a reason, never an exception: `results` holds one for every id.
    """
    rows = []
    for record in batch.to_dict("records"):
        fields = extracted_fields(results[record["id"]], record["kind"], record["title"], record["url"])
        fields["simhash"] = dedupe.simhash(fields["text"]) if fields["text"] else None
        rows.append({"id": record["id"], **fields})
    return pd.DataFrame(rows, columns=list(EXTRACTED))
