"""Tests for pipeline.extract: HTML, PDF and text bodies, failures recorded not raised, the rows they become."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from conftest import SAMPLE

from pipeline import dedupe
from pipeline.archive import Archive
from pipeline.extract import EXTRACTED, MAX_HTML_BYTES, extract, extracted_fields, extracted_frame, sniff_kind
from pipeline.passages import text_sha

ARTICLE = "https://pipeline-post.example/2026/10/watermarks-and-late-data/"
INBOX = SAMPLE / "inbox"


def archived(url: str) -> bytes:
    archive = Archive(SAMPLE / "data" / "raw")
    entry = archive.get(url)
    assert entry is not None
    return archive.read(entry.sha256)


def test_html_article_text_without_boilerplate() -> None:
    body = archived(ARTICLE)
    assert b"Get the Post every Thursday" in body  # the footer is in the page ...
    result = extract(body, "html")
    assert result.state == "extracted"
    assert result.reason is None
    assert result.title == "Watermarks and Late Data: A Hands-On Guide to Windowed Aggregations"
    assert result.text.startswith("Windowed aggregations look simple on a whiteboard")
    assert "Idle partition timeout of one minute." in result.text
    assert len(result.text.split()) > 500
    for boilerplate in ("Get the Post every Thursday", "We use cookies", "All rights reserved", "Subscribe"):
        assert boilerplate not in result.text  # ... but not in the article text


def test_inbox_html_file() -> None:
    result = extract((INBOX / "accessibility-audits-internal-tools.html").read_bytes(), "html")
    assert result.state == "extracted"
    assert result.title
    assert len(result.text.split()) > 100


def test_inbox_pdf_extracts_with_its_title() -> None:
    body = (INBOX / "mentoring-programs-junior-data-engineers.pdf").read_bytes()
    result = extract(body, "pdf")
    assert result.state == "extracted"
    assert result.title == "Structured Mentoring for Junior Data Engineers: Design Principles and Early Results"
    assert "Junior data engineers face a steep learning curve" in result.text.replace("\n", " ")
    assert "Callum Ngata-Reyes" in result.text
    assert "\x00" not in result.text


def test_text_file_title_is_its_first_line() -> None:
    body = (INBOX / "on-call-practices-data-teams-notes.txt").read_bytes()
    result = extract(body, "text")
    assert result.state == "extracted"
    assert result.title == "Notes on On-Call for Data Teams: What Works and What Burns People Out"
    assert "Ravi Castellanos" in result.text


def test_markdown_heading_is_stripped_from_the_title() -> None:
    result = extract(b"# My notes\n\n\n\n\nbody   text\there\n", "text")
    assert result.state == "extracted"
    assert result.title == "My notes"
    assert result.text == "# My notes\n\nbody text here"


# -- titles of local files: from the content, never "Untitled", a site's name or "Abstract¶" ------------
BODY = (
    "Teams that adopt data contracts agree on the shape of every event before it ships, and the producers"
    " test against that agreement in their own pipelines. "
) * 4


def _pdf(lines: list[tuple[str, int]], title: str | None = None) -> bytes:
    """A one-page PDF drawn with reportlab: (text, font size) lines; `title` the /Title (None: reportlab's
    own default, "untitled")."""
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=1)
    if title is not None:
        pdf.setTitle(title)
    y = 760.0
    for text, size in lines:
        pdf.setFont("Helvetica", size)
        pdf.drawString(72, y, text)
        y -= size + 8
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


PAPER = [
    ("Research Digest: White Papers", 9),
    ("Contract Testing for Event", 20),
    ("Streams in Practice", 20),
    ("Abstract", 13),
    *[(BODY[i : i + 90], 10) for i in range(0, 900, 90)],
]


@pytest.mark.parametrize(
    "junk",
    [None, "Untitled", "Microsoft Word - contracts_v3.docx", "contracts-final.pdf", "report_final_v3", "  ", "1234"],
    ids=["reportlab-default", "untitled", "word", "file-name", "file-stem", "blank", "digits"],
)
def test_pdf_with_a_junk_title_is_titled_by_its_largest_heading(junk: str | None) -> None:
    result = extract(_pdf(PAPER, junk), "pdf")
    assert result.state == "extracted"
    assert result.title == "Contract Testing for Event Streams in Practice"


def test_pdf_with_a_meaningful_title_keeps_it() -> None:
    result = extract(_pdf(PAPER, "Contract Testing for Event Streams: A Field Report"), "pdf")
    assert result.title == "Contract Testing for Event Streams: A Field Report"


def test_pdf_in_one_size_is_titled_by_its_first_title_like_line() -> None:
    lines = [("Abstract", 10), ("Contract Testing for Event Streams", 10)]
    lines += [(BODY[i : i + 90] + ".", 10) for i in range(0, 900, 90)]
    result = extract(_pdf(lines), "pdf")
    assert result.title == "Contract Testing for Event Streams"


def test_pdf_with_no_title_at_all_has_none_and_keeps_its_file_name() -> None:
    lines = [(BODY[i : i + 90] + ".", 10) for i in range(0, 900, 90)]
    result = extract(_pdf(lines), "pdf")
    assert result.state == "extracted" and result.title is None
    assert extracted_fields(result, "pdf", "contracts final", None)["title"] == "contracts final"


def _doc_page(name: str, version: str = "v20.20.2") -> bytes:
    """A Node.js documentation page as the site writes it: the site's name in the banner's lone h1 and
    in the <title>, the page's own heading an h2 with a "#" permalink."""
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{name} | Node.js {version} Documentation</title></head><body>
<div id="content"><div id="column2" class="interior" role="navigation"><ul><li>About this documentation</li>
<li>Assertion testing</li></ul></div>
<div id="column1" data-id="{name.lower()}" class="interior">
<header class="header"><div class="header-container"><h1>Node.js {version} documentation</h1></div></header>
<details id="toc"><summary>Table of contents</summary><ul><li>{name}</li></ul></details>
<div id="apicontent"><h2>{name}<span><a class="mark" href="#{name.lower()}" id="{name.lower()}">#</a></span></h2>
<p>The {name.lower()} module provides utilities. {BODY}</p><p>{BODY}</p></div></div></div></body></html>""".encode()


NODE_PAGES = ("Path", "File system", "Events", "Streams", "HTTP", "Buffer", "Child process")


def test_documentation_pages_sharing_the_site_title_get_their_own_headings() -> None:
    titles = [extract(_doc_page(name), "html").title for name in NODE_PAGES]
    assert titles == list(NODE_PAGES)  # not seven times "Node.js v20.20.2 documentation"


def test_a_site_wide_title_yields_to_the_page_h1() -> None:
    page = f"""<html><head><title>Field Notes on Accessible Software</title></head><body>
<header class="masthead"><h1>Field Notes on Accessible Software</h1></header>
<main><h1>Keyboard Traps in Admin Panels</h1><p>{BODY}</p><p>{BODY}</p></main></body></html>"""
    assert extract(page.encode(), "html").title == "Keyboard Traps in Admin Panels"


def test_the_site_name_is_dropped_from_the_page_title() -> None:
    page = f"""<html><head><title>Keyboard Traps in Admin Panels | Field Notes</title></head><body>
<article><header><h1>Keyboard Traps in Admin Panels</h1></header><p>{BODY}</p><p>{BODY}</p></article>
</body></html>"""
    assert extract(page.encode(), "html").title == "Keyboard Traps in Admin Panels"


def test_a_pilcrow_and_a_section_heading_are_never_the_title() -> None:
    sphinx = f"""<html><head><title>Abstract¶</title></head><body><div class="body" role="main">
<section id="abstract"><h1>Abstract<a class="headerlink" href="#abstract">¶</a></h1><p>{BODY}</p></section>
<section><h2>Contract Testing for Event Streams<a class="headerlink" href="#c">¶</a></h2><p>{BODY}</p></section>
</div></body></html>"""
    assert extract(sphinx.encode(), "html").title == "Contract Testing for Event Streams"
    text = extract("Abstract¶\n\nContract Testing for Event Streams\n\n".encode() + BODY.encode(), "text")
    assert text.title == "Contract Testing for Event Streams"


def test_text_with_invalid_utf8_is_replaced_not_raised() -> None:
    result = extract(b"caf\xe9 \xff notes", "text")
    assert result.state == "extracted"
    assert result.text == "caf\ufffd \ufffd notes"


@pytest.mark.parametrize(
    "body",
    [b"%PDF-1.4 this is not really a pdf", b"\x00\x01\x02garbage" * 50, b"", b"%PDF-1.7\n%%EOF\n"],
    ids=["fake-header", "binary", "empty", "header-only"],
)
def test_garbage_pdf_is_extract_failed_with_a_reason(body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    result = extract(body, "pdf")
    assert result.state == "extract_failed"
    assert result.reason
    assert result.text == ""


def test_truncated_pdf_is_extract_failed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    body = (INBOX / "mentoring-programs-junior-data-engineers.pdf").read_bytes()
    result = extract(body[: len(body) // 3], "pdf")
    assert result.state == "extract_failed"
    assert result.reason is not None and result.reason.startswith("pdf")


def test_pdf_with_unknown_stream_filter_is_extract_failed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    body = (INBOX / "mentoring-programs-junior-data-engineers.pdf").read_bytes()
    corrupt = body.replace(b"/FlateDecode", b"/FlateDecodX")  # same length: offsets stay valid
    assert corrupt != body
    result = extract(corrupt, "pdf")
    assert result.state == "extract_failed"
    assert result.reason


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body></body></html>", b"<html><head><title>Only a title</title></head><body>  </body></html>"],
    ids=["empty", "empty-body", "title-only"],
)
def test_empty_html_is_extract_failed(body: bytes) -> None:
    result = extract(body, "html")
    assert result.state == "extract_failed"
    assert result.reason == "trafilatura found no main text"


def test_oversized_html_is_too_large() -> None:
    result = extract(b"<html><body>" + b"a" * MAX_HTML_BYTES + b"</body></html>", "html")
    assert result.state == "too_large"
    assert result.reason


def test_empty_text_is_extract_failed() -> None:
    result = extract(b" \n\t\n", "text")
    assert result.state == "extract_failed"
    assert result.reason == "empty text file"


def test_sniff_kind_prefers_magic_bytes_over_content_type() -> None:
    assert sniff_kind(b"%PDF-1.7\n...", "text/html", "html") == "pdf"
    assert sniff_kind(b"\n  %PDF-1.4", "application/octet-stream", "text") == "pdf"
    assert sniff_kind(b"<!DOCTYPE html><html><body>x</body></html>", "application/pdf", "pdf") == "html"
    assert sniff_kind(b"<HTML><p>x</p>", "text/plain", "text") == "html"
    assert sniff_kind(b"<div>x</div><body>", "application/pdf", "pdf") == "html"


def test_sniff_kind_falls_back_to_content_type_then_hint() -> None:
    assert sniff_kind(b"plain words", "application/pdf", "html") == "pdf"
    assert sniff_kind(b"plain words", "text/html; charset=utf-8", "pdf") == "html"
    assert sniff_kind(b"plain words", "", "pdf") == "pdf"
    assert sniff_kind(b"plain words", "", "html") == "html"
    assert sniff_kind(b"plain words", "", "feed") == "text"
    assert sniff_kind(b"plain words", "text/plain", "text") == "text"


def test_extracted_frame_handles_html_pdf_text_and_junk() -> None:
    batch = pd.DataFrame(
        [
            ("h", (INBOX / "accessibility-audits-internal-tools.html").read_bytes(), "html", None, None),
            ("p", (INBOX / "mentoring-programs-junior-data-engineers.pdf").read_bytes(), "text", "a.pdf", None),
            ("t", (INBOX / "on-call-practices-data-teams-notes.txt").read_bytes(), "text", None, None),
            ("j", b"%PDF-1.7 truncated \x00\x01", "pdf", None, "https://example.org/broken.pdf"),
        ],
        columns=["id", "body", "kind", "title", "url"],
    )
    # As either engine does: sniff each body (the bytes beat the hint), extract it, shape the rows.
    kinds = {r["id"]: sniff_kind(r["body"][:4096], "", r["kind"]) for r in batch.to_dict("records")}
    results = {r["id"]: extract(r["body"], kinds[r["id"]]) for r in batch.to_dict("records")}
    out = extracted_frame(batch.assign(kind=batch["id"].map(kinds)), results).set_index("id")
    assert list(out.reset_index().columns) == list(EXTRACTED)
    assert out.loc[["h", "p", "t"], "state"].tolist() == ["extracted"] * 3
    assert out.loc["p", "kind"] == "pdf"
    assert out.loc["j", "state"] == "extract_failed" and out.loc["j", "reason"]
    assert pd.isna(out.loc["j", "text"]) and pd.isna(out.loc["j", "simhash"])
    text = out.loc["t", "text"]
    assert out.loc["t", "words"] == len(text.split())
    assert out.loc["t", "text_sha"] == text_sha(text)
    assert out.loc["t", "simhash"] == dedupe.simhash(text)
    assert out.loc["t", "title"]  # a local file's title comes from the document itself
