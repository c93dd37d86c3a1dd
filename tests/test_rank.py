"""Ranking on hand-built vectors: per-interest coverage, thresholds, filters, duplicates, freshness, explanations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from conftest import NOW

from pipeline.config import RankSettings
from pipeline.interviews import Contact, Interest
from pipeline.rank import (
    DOC_COLUMNS,
    Suggestion,
    combine,
    doc_priors,
    freshness,
    rank_contact,
    rank_contacts,
    suggestion_id,
)
from pipeline.retrieval import HybridIndex

DIM = 64
TODAY = NOW.date()
KAFKA, BATTERY, PRIVACY = 0, 1, 2  # topic axes; every document also gets an axis of its own


def _axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


def _toward(topic: int, cosine: float, own: int) -> np.ndarray:
    """A unit vector with exactly `cosine` to the topic axis, orthogonal to every other document's own axis."""
    return (cosine * _axis(topic) + math.sqrt(1 - cosine**2) * _axis(own)).astype(np.float32)


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    passages: tuple[np.ndarray, ...]
    words: int = 400
    published: str | None = "2026-11-20"
    source_id: str = "src-blog"
    source_title: str = "Engineering Blog"


@dataclass(frozen=True)
class Built:
    index: HybridIndex
    docs: pd.DataFrame
    passage_texts: list[str]
    doc_vectors: np.ndarray


def _build(docs: list[Doc]) -> Built:
    frame = pd.DataFrame(
        [
            {
                "id": d.id,
                "title": d.id.replace("-", " ").title(),
                "url": f"https://example.org/{d.id}",
                "source_id": d.source_id,
                "source_title": d.source_title,
                "published": d.published,
                "words": d.words,
                "text": d.text,
            }
            for d in docs
        ],
        columns=list(DOC_COLUMNS),
    )
    vectors, owner, texts = [], [], []
    for row, doc in enumerate(docs):
        for number, vector in enumerate(doc.passages):
            vectors.append(vector)
            owner.append(row)
            texts.append(f"{doc.id} passage {number}: {doc.text}")
    matrix = np.stack(vectors)
    means = np.zeros((len(docs), DIM), dtype=np.float32)
    np.add.at(means, np.array(owner), matrix)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    index = HybridIndex(frame["id"].tolist(), (frame["title"] + "\n" + frame["text"]).tolist(), matrix, np.array(owner))
    return Built(index, frame, texts, means)


def _interest(contact_id: str, key: str, text: str, snippet: str | None = None) -> Interest:
    return Interest(id=key, contact_id=contact_id, text=text, snippet=snippet, kind="said", weight=1.0)


def _contact(*interests: tuple[str, str]) -> Contact:
    cid = "tom-becker-acme"
    return Contact(
        id=cid,
        interview_id="2026-11-24-acme",
        name="Tom Becker",
        role="Staff Engineer",
        email=None,
        company="Acme",
        interests=tuple(_interest(cid, key, text, snippet=f"Tom said: {text}.") for key, text in interests),
    )


KAFKA_INTEREST = ("i-kafka", "stream processing with Kafka")
BATTERY_INTEREST = ("i-battery", "battery degradation in grid storage")
PRIVACY_INTEREST = ("i-privacy", "patient privacy and de-identification")
VECTORS = {"i-kafka": _axis(KAFKA), "i-battery": _axis(BATTERY), "i-privacy": _axis(PRIVACY)}

# Interest A (Kafka) has eight strong documents; interest B (battery) only two, and weaker ones.
# The Kafka ones are eight stories a week apart (their vectors are as close as one story's).
KAFKA_DOCS = [
    Doc(
        f"kafka-{i}",
        f"Kafka stream processing case study {i}: consumer lag and partitions.",
        (_toward(KAFKA, c, 10 + i),),
        published=(TODAY - dt.timedelta(days=6 + 7 * i)).isoformat(),
    )
    for i, c in enumerate((0.90, 0.89, 0.88, 0.87, 0.86, 0.85, 0.84, 0.83))
]
BATTERY_DOCS = [
    Doc(f"battery-{i}", f"Battery degradation in grid storage, report {i}.", (_toward(BATTERY, c, 30 + i),))
    for i, c in enumerate((0.55, 0.50))
]


def _rank(built: Built, contact: Contact, excluded: set[str] | None = None, **settings: object) -> list[Suggestion]:
    return rank_contact(
        contact,
        VECTORS,
        built.index,
        built.docs,
        built.passage_texts,
        built.doc_vectors,
        excluded or set(),
        dataclasses.replace(RankSettings(), **settings),  # type: ignore[arg-type]
        TODAY,
    )


@pytest.fixture(scope="module")
def library() -> Built:
    return _build(KAFKA_DOCS + BATTERY_DOCS)


def test_two_unrelated_interests_both_get_documents_in_the_top_five(library: Built) -> None:
    contact = _contact(KAFKA_INTEREST, BATTERY_INTEREST)
    # Precondition: on score alone the top five would all be Kafka documents.
    kafka = library.index.score(KAFKA_INTEREST[1], VECTORS["i-kafka"]).fused[:8]
    battery = library.index.score(BATTERY_INTEREST[1], VECTORS["i-battery"]).fused[8:]
    assert battery.max() < np.sort(kafka)[-5]

    suggestions = _rank(library, contact)
    assert len(suggestions) == 5
    assert [s.rank for s in suggestions] == [1, 2, 3, 4, 5]
    matched = {s.matched_interest for s in suggestions}
    assert matched == {KAFKA_INTEREST[1], BATTERY_INTEREST[1]}
    assert suggestions[0].doc_id == "kafka-0"
    assert any(s.doc_id.startswith("battery-") for s in suggestions)
    for s in suggestions:
        assert s.doc_id.split("-")[0] == ("kafka" if s.interest_id == "i-kafka" else "battery")


def test_weak_documents_are_never_suggested(library: Built) -> None:
    weak = Doc("weak-kafka", "Kafka Kafka stream processing with Kafka streams.", (_toward(KAFKA, 0.25, 50),))
    built = _build([*KAFKA_DOCS, weak])
    # Lexically it is the best Kafka match; semantically it is below min_score.
    scores = built.index.score(KAFKA_INTEREST[1], VECTORS["i-kafka"])
    assert scores.lexical[-1] == pytest.approx(1.0)
    suggestions = _rank(built, _contact(KAFKA_INTEREST), top_k=20)
    assert len(suggestions) == 8
    assert "weak-kafka" not in {s.doc_id for s in suggestions}
    assert all(s.parts["dense"] >= 0.30 for s in suggestions)


def test_a_contact_with_only_weak_matches_gets_nothing(library: Built) -> None:
    assert _rank(library, _contact(PRIVACY_INTEREST)) == []


def test_min_score_is_the_threshold(library: Built) -> None:
    suggestions = _rank(library, _contact(BATTERY_INTEREST), min_score=0.52)
    assert [s.doc_id for s in suggestions] == ["battery-0"]


def test_excluded_documents_are_never_suggested(library: Built) -> None:
    contact = _contact(KAFKA_INTEREST, BATTERY_INTEREST)
    assert _rank(library, contact)[0].doc_id == "kafka-0"
    excluded = {"kafka-0", "battery-0"}
    suggestions = _rank(library, contact, excluded, top_k=20)
    assert len(suggestions) == 8
    assert not excluded & {s.doc_id for s in suggestions}


def test_near_duplicates_never_share_a_top_k() -> None:
    copy = dataclasses.replace(KAFKA_DOCS[0], id="kafka-0-syndicated")
    built = _build([KAFKA_DOCS[0], copy, *KAFKA_DOCS[1:]])
    suggestions = _rank(built, _contact(KAFKA_INTEREST), top_k=20)
    ids = [s.doc_id for s in suggestions]
    assert len(ids) == 8
    assert len({"kafka-0", "kafka-0-syndicated"} & set(ids)) == 1


def test_stubs_are_excluded(library: Built) -> None:
    stub = dataclasses.replace(KAFKA_DOCS[0], words=149)
    built = _build([stub, *KAFKA_DOCS[1:]])
    ids = [s.doc_id for s in _rank(built, _contact(KAFKA_INTEREST), top_k=20)]
    assert "kafka-0" not in ids
    assert len(ids) == 7
    assert "kafka-0" in [s.doc_id for s in _rank(built, _contact(KAFKA_INTEREST), top_k=20, min_words=149)]


def test_exclude_terms_are_case_insensitive(library: Built) -> None:
    ids = [s.doc_id for s in _rank(library, _contact(KAFKA_INTEREST), top_k=20, exclude_terms=("STUDY 3",))]
    assert "kafka-3" not in ids
    assert len(ids) == 7


def test_exclude_sources_by_id_or_title() -> None:
    vendor = [dataclasses.replace(d, source_id="src-vendor", source_title="Vendor Whitepapers") for d in KAFKA_DOCS[:3]]
    built = _build(vendor + KAFKA_DOCS[3:])
    contact = _contact(KAFKA_INTEREST)
    for blocked in ("src-vendor", "Vendor Whitepapers"):
        ids = [s.doc_id for s in _rank(built, contact, top_k=20, exclude_sources=(blocked,))]
        assert ids and all(i in {d.id for d in KAFKA_DOCS[3:]} for i in ids)
    assert len(_rank(built, contact, top_k=20)) == 8


def test_freshness_decays_by_half_life() -> None:
    assert freshness(TODAY.isoformat(), TODAY, 60) == 1.0
    assert freshness((TODAY - dt.timedelta(days=60)).isoformat(), TODAY, 60) == pytest.approx(0.5)
    assert freshness((TODAY - dt.timedelta(days=120)).isoformat(), TODAY, 60) == pytest.approx(0.25)
    assert freshness("2026-11-26T05:00:00+00:00", TODAY, 60) == 1.0
    assert freshness("2027-01-01", TODAY, 60) == 1.0  # future dates are not a bonus above 1
    assert freshness("2026-01-01", TODAY, 0) == 1.0


@pytest.mark.parametrize("published", [None, float("nan"), "", "last week", 20261126])
def test_freshness_of_undated_documents_is_one_half_life(published: object) -> None:
    assert freshness(published, TODAY, 60) == 0.5


def test_fresher_documents_rank_higher_at_equal_relevance() -> None:
    old = Doc("old", "Kafka stream processing notes.", (_toward(KAFKA, 0.8, 10),), published="2025-11-26")
    new = Doc("new", "Kafka stream processing notes.", (_toward(KAFKA, 0.8, 11),), published=TODAY.isoformat())
    undated = Doc("undated", "Kafka stream processing notes.", (_toward(KAFKA, 0.8, 12),), published=None)
    suggestions = _rank(_build([old, undated, new]), _contact(KAFKA_INTEREST))
    assert [s.doc_id for s in suggestions] == ["new", "undated", "old"]
    assert [s.parts["freshness"] for s in suggestions] == [1.0, 0.5, pytest.approx(0.5 ** (365 / 60), abs=1e-4)]


def test_suggestion_ids_are_stable_per_contact_and_document(library: Built) -> None:
    assert suggestion_id("a", "doc") == suggestion_id("a", "doc")
    assert len({suggestion_id("a", "doc"), suggestion_id("b", "doc"), suggestion_id("a", "doc2")}) == 3
    contact = _contact(KAFKA_INTEREST, BATTERY_INTEREST)
    first = _rank(library, contact)
    again = _rank(library, contact)
    assert [s.id for s in first] == [s.id for s in again]
    assert all(s.id == suggestion_id(contact.id, s.doc_id) for s in first)
    assert all(len(s.id) == 10 for s in first)


def test_every_suggestion_explains_itself() -> None:
    two_passages = Doc(
        "long-paper",
        "Kafka stream processing white paper.",
        (_toward(KAFKA, 0.1, 10), _toward(KAFKA, 0.9, 11)),
    )
    built = _build([two_passages, *BATTERY_DOCS])
    contact = _contact(KAFKA_INTEREST, BATTERY_INTEREST)
    suggestions = _rank(built, contact)
    assert [s.doc_id for s in suggestions] == ["long-paper", "battery-0", "battery-1"]
    for s in suggestions:
        interest = next(i for i in contact.interests if i.id == s.interest_id)
        assert s.contact_id == contact.id
        assert s.matched_interest == interest.text
        assert s.snippet == interest.snippet
        assert {"dense", "lexical", "freshness"} <= set(s.parts)
        assert s.best_passage
    paper = suggestions[0]
    assert paper.best_passage == "long-paper passage 1: Kafka stream processing white paper."
    assert paper.parts["dense"] == pytest.approx(0.9, abs=1e-4)
    assert paper.parts["lexical"] == pytest.approx(1.0)
    assert paper.score == pytest.approx(
        combine(paper.parts["fused"], paper.parts["freshness"], paper.parts["quality"], RankSettings()), abs=1e-3
    )


def test_empty_library_or_no_interests_gives_nothing(library: Built) -> None:
    assert _rank(library, _contact()) == []
    empty = pd.DataFrame(columns=list(DOC_COLUMNS))
    index = HybridIndex([], [], np.zeros((0, DIM), dtype=np.float32), np.zeros(0, dtype=np.int64))
    result = rank_contact(
        _contact(KAFKA_INTEREST), VECTORS, index, empty, [], np.zeros((0, DIM)), set(), RankSettings(), TODAY
    )
    assert result == []


def test_ranking_a_batch_with_run_priors_equals_one_contact_at_a_time(library: Built) -> None:
    contacts = [_contact(KAFKA_INTEREST, BATTERY_INTEREST), _contact(BATTERY_INTEREST), _contact(PRIVACY_INTEREST)]
    excluded = {contacts[0].id: {"kafka-0"}}
    settings = RankSettings()
    priors = doc_priors(library.docs, settings, TODAY)
    assert priors.excluded_rows({"kafka-0", "battery-1", "unknown"}).tolist() == [0, 9]
    batch = rank_contacts(
        contacts, VECTORS, library.index, library.docs, library.passage_texts, library.doc_vectors,
        excluded, settings, TODAY, priors=priors, block=2,
    )  # fmt: skip
    assert batch == [_rank(library, c, excluded[c.id]) for c in contacts]
    assert batch[0] and "kafka-0" not in {s.doc_id for s in batch[0]}


# -- lists that are honest: one story once, no filler, score order, coverage, the inferred bar ------------


def _scores_fall(suggestions: list[Suggestion]) -> bool:
    return all(a.score >= b.score for a, b in itertools.pairwise(suggestions))


OUTLET_COSINE = math.sqrt(0.85)  # each outlet's cosine to the topic, so that any two are 0.85 apart


def test_one_story_from_three_outlets_is_one_suggestion_naming_the_others() -> None:
    # Three outlets report one Kafka outage within two days: close vectors (0.85 between any two:
    # not one text), different words. A fourth article, on another story, is as close to them (0.83)
    # but was published a month earlier.
    story = [
        Doc("outage-wire", "Kafka outage at a broker vendor: stream processing lag across partitions.",
            (_toward(KAFKA, OUTLET_COSINE, 40),), published="2026-11-24", source_id="src-wire", source_title="Wire"),
        Doc("outage-blog", "Kafka outage explained: what consumer lag did to stream processing.",
            (_toward(KAFKA, OUTLET_COSINE, 41),), published="2026-11-23"),
        Doc("outage-paper", "Kafka outage: stream processing firms count the cost.",
            (_toward(KAFKA, OUTLET_COSINE, 42),), published="2026-11-25", source_id="src-paper", source_title="Paper"),
    ]  # fmt: skip
    other = Doc(
        "partitions-guide", "Kafka stream processing: sizing partitions.", (_toward(KAFKA, 0.9, 43),),
        published="2026-10-20",
    )  # fmt: skip
    built = _build([*story, other])
    apart = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.0, story_cosine=1.0, story_title_overlap=1.0)
    by_score = [s.doc_id for s in apart if s.doc_id != "partitions-guide"]
    assert len(apart) == 4 and _scores_fall(apart)
    suggestions = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.0)
    assert [s.doc_id for s in suggestions] == [by_score[0], "partitions-guide"]
    assert suggestions[0].also == tuple(by_score[1:])  # the best-matching speaks for the story; the rest, best first
    assert suggestions[1].also == ()
    # The same articles a week apart each are separate stories (a follow-up is news of its own).
    spread = [dataclasses.replace(d, published=f"2026-11-{10 + 7 * i}") for i, d in enumerate(story)]
    ids = [s.doc_id for s in _rank(_build([*spread, other]), _contact(KAFKA_INTEREST), relative_floor=0.0)]
    assert set(ids) == {"outage-wire", "outage-blog", "outage-paper", "partitions-guide"}


def test_of_equal_scores_the_more_complete_article_speaks_for_the_story() -> None:
    short = Doc("story-short", "Kafka consumer lag report.", (_toward(KAFKA, 0.9, 40),), words=400)
    long = Doc("story-long", "Kafka consumer lag report.", (_toward(KAFKA, 0.9, 40),), words=2400)
    suggestions = _rank(_build([short, long]), _contact(KAFKA_INTEREST))
    assert suggestions[0].score == _rank(_build([short]), _contact(KAFKA_INTEREST))[0].score
    assert [(s.doc_id, s.also) for s in suggestions] == [("story-long", ("story-short",))]


def test_one_good_match_is_not_padded_with_weak_ones() -> None:
    # The good one shares the interest's words; the weak ones do not, so they score 0.7 x cosine.
    good = Doc("good", "Kafka stream processing.", (_toward(KAFKA, 0.95, 10),))
    weak = [
        Doc(f"weak-{i}", "Notes from the field.", (_toward(KAFKA, c, 11 + i),)) for i, c in enumerate((0.8, 0.76, 0.4))
    ]
    built = _build([good, *weak])
    suggestions = _rank(built, _contact(KAFKA_INTEREST))
    assert [s.doc_id for s in suggestions] == ["good"]
    # Without the floors the semantic threshold alone would have padded the list.
    # (The weak ones share no word with the interest: the coverage rule is off here, to test the floors.)
    padded = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.0, score_floor=0.0, min_coverage=0.0)
    assert len(padded) == 4 and all(s.parts["dense"] >= RankSettings().min_score for s in padded)
    # The relative floor is a share of the best score for the interest; the absolute floor holds too.
    kept = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.5, min_coverage=0.0)
    assert [s.doc_id for s in kept] == ["good", "weak-0", "weak-1"]
    assert all(RankSettings().score_floor <= s.score < 0.75 * kept[0].score for s in kept[1:])
    # Nothing good: no list at all rather than a weak one.
    poor = [Doc(f"poor-{i}", "Notes from the field.", (_toward(KAFKA, c, 20 + i),)) for i, c in enumerate((0.6, 0.4))]
    assert _rank(_build(poor), _contact(KAFKA_INTEREST)) == []


def test_the_list_is_in_the_order_of_the_score_it_shows(library: Built) -> None:
    # Coverage puts the battery document in the list; it no longer jumps ahead of better Kafka ones.
    suggestions = _rank(library, _contact(KAFKA_INTEREST, BATTERY_INTEREST))
    assert _scores_fall(suggestions)
    assert [s.rank for s in suggestions] == [1, 2, 3, 4, 5]
    assert suggestions[-1].doc_id == "battery-0"
    assert suggestions[-1].score < suggestions[-2].score


def test_a_second_interest_with_a_good_match_is_covered_however_far_below_the_first() -> None:
    # Kafka's best scores near 1; battery's best only clears the absolute floor, far below 75% of
    # Kafka's: the relative floor is per interest, so battery keeps its one good match.
    battery = Doc("field-notes", "Notes from the field.", (_toward(BATTERY, 0.75, 30),))  # no shared words
    built = _build([*KAFKA_DOCS, battery])
    suggestions = _rank(built, _contact(KAFKA_INTEREST, BATTERY_INTEREST))
    by_interest = {s.interest_id: s for s in reversed(suggestions)}
    assert by_interest["i-battery"].doc_id == "field-notes"
    assert by_interest["i-battery"].score < RankSettings().relative_floor * suggestions[0].score
    assert by_interest["i-battery"].score >= RankSettings().score_floor
    assert _scores_fall(suggestions)


def _inferred(contact: Contact, key: str, text: str, weight: float = 1.0) -> Contact:
    interest = Interest(id=key, contact_id=contact.id, text=text, snippet=None, kind="inferred", weight=weight)
    return dataclasses.replace(contact, interests=(*contact.interests, interest))


def test_an_inferred_interest_needs_a_higher_bar_than_a_listed_one() -> None:
    settings = RankSettings()
    assert settings.inferred_floor > settings.score_floor
    # No shared words, no freshness or quality nudges: the shown score is 0.7 x the cosine.
    nudges = {"freshness_weight": 0.0, "quality_weight": 0.0, "relative_floor": 0.0}
    between = (settings.score_floor + settings.inferred_floor) / 2 / 0.7
    above = (settings.inferred_floor + 0.05) / 0.7
    built = _build([
        Doc("between", "Unrelated words entirely.", (_toward(PRIVACY, between, 60),)),
        Doc("above", "Other unrelated words.", (_toward(PRIVACY, above, 61),)),
    ])  # fmt: skip
    listed = _rank(built, _contact(PRIVACY_INTEREST), **nudges)
    assert [s.doc_id for s in listed] == ["above", "between"]
    inferred = _rank(built, _inferred(_contact(), "i-privacy", PRIVACY_INTEREST[1]), **nudges)
    assert [s.doc_id for s in inferred] == ["above"]
    assert inferred[0].parts["inferred"] == 1.0
    # A workspace that raises the listed floor above the inferred one raises both.
    assert _rank(built, _inferred(_contact(), "i-privacy", PRIVACY_INTEREST[1]), score_floor=0.9, **nudges) == []


def test_a_listed_interest_wins_ties() -> None:
    vectors = {**VECTORS, "i-privacy-inferred": VECTORS["i-privacy"]}
    built = _build([Doc("privacy", "De-identification of patient records.", (_toward(PRIVACY, 0.9, 60),))])
    contact = _inferred(_contact(), "i-privacy-inferred", PRIVACY_INTEREST[1])
    contact = dataclasses.replace(contact, interests=(*contact.interests, _interest(contact.id, *PRIVACY_INTEREST)))
    # The inferred interest is listed first and matches exactly as well: the listed one gets the credit.
    result = rank_contact(
        contact, vectors, built.index, built.docs, built.passage_texts, built.doc_vectors, set(), RankSettings(), TODAY
    )
    assert [s.interest_id for s in result] == ["i-privacy"]
    # Two documents with equal scores, one per interest, and one slot: the listed interest's.
    twins = _build([
        Doc("for-inferred", "Same words here.", (_toward(BATTERY, 0.9, 60),)),
        Doc("for-listed", "Same words here.", (_toward(PRIVACY, 0.9, 61),)),
    ])  # fmt: skip
    both = _inferred(_contact(PRIVACY_INTEREST), "i-battery", "Same words here about batteries")
    both = dataclasses.replace(both, interests=tuple(reversed(both.interests)))
    vectors = {**VECTORS}
    result = rank_contact(
        both, vectors, twins.index, twins.docs, twins.passage_texts, twins.doc_vectors, set(),
        dataclasses.replace(RankSettings(), top_k=1), TODAY,
    )  # fmt: skip
    assert [s.doc_id for s in result] == ["for-listed"]


def test_of_close_scores_the_most_complete_article_speaks_for_the_story() -> None:
    # A syndicated half-length copy matches a little better (shorter text: BM25's length
    # normalisation, a sharper passage; vectors 0.88 apart: one story) but the full article tells the story.
    full = Doc("story-full", "Kafka stream processing outage report.", (_toward(KAFKA, 0.93, 40),), words=1200)
    copy = Doc("story-copy", "Kafka stream processing outage.", (_toward(KAFKA, 0.95, 41),), words=600)
    built = _build([full, copy])
    apart = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.0, story_cosine=1.0, story_title_overlap=1.0)
    scores = {s.doc_id: s.score for s in apart}
    assert scores["story-copy"] > scores["story-full"] >= (1 - RankSettings().story_margin) * scores["story-copy"]
    suggestions = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.0)
    assert [(s.doc_id, s.also) for s in suggestions] == [("story-full", ("story-copy",))]
    assert suggestions[0].score == scores["story-full"]  # the score shown is its own
    # A clearly better match (beyond the margin) still speaks for the story, however short.
    tight = _rank(built, _contact(KAFKA_INTEREST), relative_floor=0.0, story_margin=0.0)
    assert [(s.doc_id, s.also) for s in tight] == [("story-copy", ("story-full",))]


def test_a_suggestion_must_hold_most_of_its_interests_distinctive_words() -> None:
    # Interest: "multidrug-resistant tuberculosis". Both documents are as close to it in vector space
    # (two stories: 0.72 apart);
    # the ordinary-TB one lacks "multidrug" and "resistant", the rarest of its words here.
    interest = ("i-tb", "multidrug-resistant tuberculosis")
    vectors = {"i-tb": _axis(KAFKA)}
    docs = [
        Doc("mdr-tb", "Multidrug-resistant tuberculosis: a shorter regimen.", (_toward(KAFKA, 0.85, 40),)),
        Doc("tb-regimen", "Tuberculosis treatment: a regimen for tuberculosis in adults.", (_toward(KAFKA, 0.85, 41),)),
        *(Doc(f"tb-{i}", f"Tuberculosis report {i}.", (_toward(BATTERY, 0.9, 50 + i),)) for i in range(4)),
        Doc("resistance", "Drug resistance in bacteria.", (_toward(BATTERY, 0.9, 60),)),
    ]
    built = _build(docs)
    coverage = built.index.lexical.coverage(interest[1])
    assert coverage[0] == pytest.approx(1.0) and coverage[1] < RankSettings().min_coverage < coverage[0]
    assert coverage[-1] > coverage[1]  # "resistant" is rarer here than "tuberculosis": it weighs more

    def ranked(**settings: object) -> list[str]:
        result = rank_contact(
            _contact(interest), vectors, built.index, built.docs, built.passage_texts, built.doc_vectors, set(),
            dataclasses.replace(RankSettings(), relative_floor=0.0, **settings), TODAY,  # type: ignore[arg-type]
        )  # fmt: skip
        return [s.doc_id for s in result]

    assert ranked() == ["mdr-tb"]
    assert set(ranked(min_coverage=0.0)) == {"mdr-tb", "tb-regimen"}  # 0: the rule is off


def test_coverage_weighs_terms_by_idf_and_ignores_words_no_document_has() -> None:
    index = HybridIndex(
        ["a", "b", "c"], ["cats and dogs", "cats alone", "birds"], np.eye(3, dtype=np.float32), np.arange(3)
    )
    assert index.lexical.coverage("the zebra").tolist() == [1.0, 1.0, 1.0]  # nothing to tell them apart by
    dogs = index.lexical.coverage("cats and dogs with zebras")
    assert dogs[0] == pytest.approx(1.0) and 0 < dogs[1] < 0.5 and dogs[2] == 0.0
    assert index.lexical.coverage("cats", np.array([2, 0])).tolist() == [0.0, 1.0]
