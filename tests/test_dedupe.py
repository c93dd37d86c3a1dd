"""Near-duplicate collapse: SimHash distances and which copy of a story is kept."""

from __future__ import annotations

from pathlib import Path

from pipeline.dedupe import MAX_DISTANCE, Index, collapse, distance, simhash
from pipeline.store import Store

STORY = " ".join(f"Paragraph {i} shows how the nightly pipeline recovered after schema drift." for i in range(40))
OTHER = " ".join(f"Item {i}: a mentor meets the junior engineer weekly to review design choices." for i in range(40))


def test_light_edits_stay_close_and_different_stories_are_far() -> None:
    edited = "Originally published on another blog. " + STORY.replace("Paragraph 7", "Para 7")
    assert distance(simhash(STORY), simhash(edited)) <= MAX_DISTANCE
    assert distance(simhash(STORY), simhash(OTHER)) > 12


def test_simhash_fits_sqlite_integers() -> None:
    for text in (STORY, OTHER, "", "a"):
        assert -(2**63) <= simhash(text) < 2**63


def test_index_finds_only_close_fingerprints() -> None:
    index = Index()
    index.add(simhash(STORY), "a")
    assert index.find(simhash(STORY + " One more sentence at the end.")) == "a"
    assert index.find(simhash(OTHER)) is None


def _add(store: Store, doc_id: str, text: str, first_seen: str) -> None:
    store.upsert(
        "documents",
        {"id": doc_id, "source_id": "s", "title": doc_id, "state": "extracted", "text": text,
         "words": len(text.split()), "first_seen": first_seen},
    )  # fmt: skip


def test_collapse_keeps_the_earliest_copy_whatever_the_order(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store, store.transaction():
        _add(store, "b-late", STORY + " Syndicated.", "2026-11-25T06:00:00")
        _add(store, "z-early", STORY, "2026-11-24T06:00:00")
        _add(store, "other", OTHER, "2026-11-25T06:00:00")
        _add(store, "stub", "too short to compare", "2026-11-25T06:00:00")
    with Store(tmp_path / "s.sqlite") as store:
        assert collapse(store)["duplicate"] == 1
        rows = {r["id"]: (r["state"], r["duplicate_of"]) for r in store.query("SELECT * FROM documents")}
        assert rows["b-late"] == ("duplicate", "z-early")
        assert rows["z-early"][0] == rows["other"][0] == rows["stub"][0] == "extracted"
        assert collapse(store)["duplicate"] == 0  # idempotent: fingerprinted documents are not revisited
