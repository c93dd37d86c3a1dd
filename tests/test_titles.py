"""Titles from content: what counts as no title, headings, and the largest text of a PDF page."""

from __future__ import annotations

import pytest

from pipeline.titles import first_heading, largest_text, markdown_title, meaningful


@pytest.mark.parametrize(
    "junk",
    [
        "", "   ", None, "Untitled", "untitled-1", "Untitled document", "Microsoft Word - Q3 report.docx",
        "Microsoft PowerPoint - deck", "contracts-final.pdf", "C:\\Users\\ana\\Desktop\\paper.pdf",
        "draft_v3_final", "Document1", "Presentation 2", "12345", "Abstract¶", "1. Introduction",
        "Table of Contents", "CONTENTS:", "¶",
    ],
)  # fmt: skip
def test_junk_is_no_title(junk: str | None) -> None:
    assert meaningful(junk) is None


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("Contract Testing for Event Streams", "Contract Testing for Event Streams"),
        ("  Path¶  ", "Path"),
        ("Why I Write C#", "Why I Write C#"),
        ("Abstract Algebra for Engineers¶", "Abstract Algebra for Engineers"),
        ("Node.js v20.20.2 documentation", "Node.js v20.20.2 documentation"),
        ("COVID-19 and Hospital Data", "COVID-19 and Hospital Data"),
    ],
)
def test_a_real_title_is_kept_cleaned(raw: str, title: str) -> None:
    assert meaningful(raw) == title


def test_first_heading_skips_furniture_and_joins_a_broken_title() -> None:
    text = "Page 1 of 12\nhttps://example.org/papers\nAbstract\nStructured Mentoring for Junior Engineers:\n"
    text += "Design Principles and Early Results\nA body sentence that goes on for a while, as bodies do."
    assert first_heading(text) == "Structured Mentoring for Junior Engineers: Design Principles and Early Results"
    assert first_heading("This is a long sentence of the body that ends with a full stop, as sentences do.") is None


def test_markdown_title_prefers_the_first_real_heading() -> None:
    assert markdown_title("intro line\n## Contents\n# Consumer Lag, Measured\ntext") == "Consumer Lag, Measured"
    assert markdown_title("Notes on On-Call\n\nbody") == "Notes on On-Call"
    assert markdown_title("## Consumer Lag ##\ntext") == "Consumer Lag"
    assert markdown_title("# Why I Write C#\ntext") == "Why I Write C#"


def test_largest_text_is_the_biggest_meaningful_block() -> None:
    runs = [(9.0, "Research Digest"), (20.0, "Consumer Lag,\n"), (20.0, " Measured\n"), (13.0, "Abstract")]
    runs += [(10.0, "body text " * 20)] * 5
    assert largest_text(runs) == "Consumer Lag, Measured"
    assert largest_text([(10.0, "all one size " * 20)]) is None
    assert largest_text([(10.0, "body " * 40), (24.0, "Untitled")]) is None
