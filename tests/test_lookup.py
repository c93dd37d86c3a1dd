"""One lookup for contacts, feeds and sources: a whole name wins over parts, ambiguity is refused."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError
from pipeline.lookup import one_match

SOURCES = [
    {"id": "feed-3fa2", "location": "https://a.example/feed.xml", "title": "Alpha Weekly"},
    {"id": "feed-9c01", "location": "https://b.example/feed.xml", "title": "Alpha"},
]


def _find(query: str) -> str:
    found = one_match(
        query,
        SOURCES,
        lambda s: (s["location"], s["title"]),
        key=lambda s: s["id"],
        none="none",
        several=lambda matches: f"{len(matches)} match",
    )
    return found["id"]


def test_a_whole_name_wins_over_parts_whatever_the_case() -> None:
    assert _find("alpha") == "feed-9c01"
    assert _find("weekly") == "feed-3fa2"
    assert _find("B.EXAMPLE") == "feed-9c01"


def test_an_id_is_matched_whole_only() -> None:
    assert _find("feed-3fa2") == "feed-3fa2"
    with pytest.raises(InputError, match=r"^none$"):
        _find("3fa2")


def test_nothing_several_or_an_empty_query_is_refused() -> None:
    with pytest.raises(InputError, match=r"^none$"):
        _find("gamma")
    with pytest.raises(InputError, match=r"^2 match$"):
        _find("feed.xml")
    with pytest.raises(InputError, match=r"^none$"):
        one_match("", SOURCES[:1], lambda s: (s["title"],), none="none", several=lambda _: "several")
