"""One story once: when two documents from different outlets tell the same story."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import SHARED

from pipeline.stories import StoryRule, day_numbers, same_story, title_similarity, title_words

RULE = StoryRule()


def _unit(*values: float) -> np.ndarray:
    vector = np.zeros(8, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def _cosine(c: float) -> np.ndarray:
    """A unit vector at exactly cosine `c` to the first axis."""
    return _unit(c, math.sqrt(1 - c * c))


def test_day_numbers_read_iso_dates_and_leave_the_rest_undated() -> None:
    days = day_numbers(["2026-11-20", "2026-11-23T09:00:00+00:00", None, "", "last week", float("nan")])
    assert days[1] - days[0] == 3
    assert np.isnan(days[2:]).all()


def test_headlines_compare_by_their_stemmed_content_words() -> None:
    assert title_words("The plague cases confirmed in Oregon") == {"plagu", "case", "confirm", "oregon"}
    assert title_similarity("Plague case confirmed in Oregon", "Oregon confirms a case of plague") == 1.0
    assert title_similarity("Oregon resident contracts bubonic plague", "Plague case confirmed in Oregon") == 2 / 7
    assert title_similarity("Kafka tips", "Kafka tips") == 0.0  # two words are too few to tell a story by
    assert title_similarity("", "Plague case confirmed in Oregon") == 0.0


def test_close_vectors_published_together_are_one_story() -> None:
    vectors = np.stack([_unit(1), _cosine(0.85), _cosine(0.85), _cosine(0.85), _cosine(0.70)])
    days = day_numbers(["2026-11-20", "2026-11-22", "2026-12-01", None, "2026-11-20"])
    titles = ["Alpha beta gamma"] + ["Delta epsilon zeta"] * 4
    same = same_story(0, np.arange(1, 5), vectors, days, titles, RULE)
    # Two days apart: one story; eleven days apart: a new development; undated: not ruled out;
    # cosine 0.70 with unrelated headlines: another story on the same topic.
    assert same.tolist() == [True, False, True, False]


def test_matching_headlines_join_a_story_only_when_the_vectors_agree_too() -> None:
    vectors = np.stack([_unit(1), _cosine(0.7), _cosine(0.5)])
    days = day_numbers(["2026-11-20", "2026-11-21", "2026-11-21"])
    titles = ["Plague case confirmed in Oregon", "Oregon confirms a case of plague", "Oregon plague case confirmed"]
    assert same_story(0, np.array([1, 2]), vectors, days, titles, RULE).tolist() == [True, False]
    assert not same_story(0, np.array([], dtype=np.int64), vectors, days, titles, RULE).size


def test_the_rule_follows_its_settings() -> None:
    vectors = np.stack([_unit(1), _cosine(0.85)])
    days = day_numbers(["2026-11-20", "2026-11-26"])
    titles = ["a b c", "d e f"]
    assert not same_story(0, np.array([1]), vectors, days, titles, RULE).any()
    assert same_story(0, np.array([1]), vectors, days, titles, StoryRule(days=7)).all()
    assert not same_story(0, np.array([1]), vectors, days, titles, StoryRule(days=7, cosine=0.9)).any()


@pytest.mark.skipif(not (SHARED / "eval" / "scifact").is_dir(), reason="needs ../shared/eval/scifact")
def test_real_vectors_keep_studies_on_one_topic_apart(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """Six SciFact abstracts on vitamin D, each told twice as benchmarks/calibrate_rank.py tells it.

    One report is the title over the first half of the sentences, the other the second half: one
    study, no sentence in common. Different studies on the one topic are never merged; one study's
    two reports are far closer than two studies are (the share merged is the README's split rate).
    """
    from pipeline.language import sentences

    corpus = {}
    with (SHARED / "eval" / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[row["_id"]] = row
    studies = [r for r in corpus.values() if "vitamin d" in r["title"].lower()][:6]
    assert len(studies) == 6
    texts = []
    for study in studies:
        parts = sentences(study["text"])
        half = len(parts) // 2
        texts += [f"{study['title']}. {' '.join(parts[:half])}", " ".join(parts[half:])]
    vectors = np.asarray(real_embedder.encode(texts), dtype=np.float32)
    days = day_numbers(["2026-11-20"] * len(texts))
    titles = [t.split(". ")[0] for t in texts]
    study = np.arange(len(texts)) // 2
    for row in range(len(texts)):
        others = np.flatnonzero(study != study[row])
        assert not same_story(row, others, vectors, days, titles, RULE).any(), texts[row][:80]
    cosine = vectors @ vectors.T
    together = np.mean([cosine[2 * i, 2 * i + 1] for i in range(6)])
    apart = np.mean(cosine[study[:, None] != study[None, :]])
    assert together - apart > 0.2, (together, apart)
