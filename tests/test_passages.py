"""Tests for pipeline.passages: overlapping word windows, the title leading the first one."""

from __future__ import annotations

import itertools

from pipeline.passages import passages


def words(n: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


def test_passages_are_overlapping_windows() -> None:
    out = passages("", words(30), words=10, overlap=3, limit=10)
    assert out == [words(10, 0), words(10, 7), words(10, 14), words(9, 21)]
    for before, after in itertools.pairwise(out):
        assert before.split()[-3:] == after.split()[:3]


def test_title_leads_the_first_passage_only() -> None:
    out = passages("Late Data", words(30), words=10, overlap=3, limit=10)
    assert out[0] == "Late Data. " + words(10)
    assert all("Late Data" not in p for p in out[1:])
    assert len(out) == 4


def test_title_is_not_repeated_when_the_text_opens_with_it() -> None:
    text = "Late Data in Streams " + words(20)
    out = passages("Late data in streams", text, words=10, overlap=2, limit=10)
    assert out[0] == " ".join(text.split()[:10])
    assert out[0].lower().count("late data") == 1


def test_passage_limit_is_respected() -> None:
    out = passages("T", words(1000), words=10, overlap=2, limit=3)
    assert len(out) == 3
    assert out[2] == words(10, 16)


def test_short_text_is_one_passage() -> None:
    assert passages("T", "just a few words", words=180, overlap=40, limit=24) == ["T. just a few words"]


def test_text_exactly_one_window_long_is_one_passage() -> None:
    assert passages("", words(10), words=10, overlap=3, limit=5) == [words(10)]


def test_empty_text() -> None:
    assert passages("A title", "", words=10, overlap=3, limit=5) == ["A title"]
    assert passages("", "   \n ", words=10, overlap=3, limit=5) == []
