"""The feedback re-ranker: a simulated user with a hidden rule; time-ordered checks; JSON, never pickle."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ModelError
from pipeline.feedback import Example, examples_from_actions, features, load, rerank_order, save, train

START = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
SOURCES = ("s-trade-press", "s-vendor-blog", "s-journal", "s-newsletter")


def _candidate(rng: random.Random) -> dict[str, Any]:
    dense = rng.uniform(0.3, 0.8)
    lexical = rng.uniform(0.0, 1.0)
    fresh = rng.uniform(0.3, 1.0)
    fused = 0.7 * dense + 0.3 * lexical
    parts = {"dense": dense, "lexical": lexical, "fused": fused, "freshness": fresh, "interest_weight": 1.0}
    parts["score"] = fused * (0.9 + 0.1 * fresh)
    return features(
        parts,
        words=rng.choice((400, 900, 2500, 6000)),
        doc_kind=rng.choice(("html", "pdf")),
        source_id=rng.choice(SOURCES),
        interest_kind="said",
    )


def hidden_rule(row: dict[str, Any]) -> bool:
    """The simulated user: sends long reads (a white paper or 2,000+ words) and never the vendor blog."""
    return (row["doc_kind"] == "pdf" or row["log_words"] > 7.6) and row["source_id"] != "s-vendor-blog"


def _day(rng: random.Random) -> list[dict[str, Any]]:
    return sorted((_candidate(rng) for _ in range(10)), key=lambda r: -r["score"])


def _precision_at_3(days: list[list[dict[str, Any]]], order: Any) -> float:
    hits = [hidden_rule(day[i]) for day in days for i in order(day)[:3]]
    return sum(hits) / len(hits)


def _decisions(rng: random.Random, count: int) -> list[Example]:
    """The user sees the base top 3 each morning and sends or skips each, by the hidden rule."""
    out: list[Example] = []
    day = 0
    while len(out) < count:
        for k, row in enumerate(_day(rng)[:3]):
            at = START + dt.timedelta(days=day, minutes=k)
            out.append(Example(at, row, int(hidden_rule(row))))
        day += 1
    return out[:count]


def test_after_50_decisions_precision_at_3_rises_over_the_base_ranking() -> None:
    rng = random.Random(7)
    model = train(_decisions(rng, 50), holdout=0.3, now=START + dt.timedelta(days=20))
    assert model is not None and model.size == 50
    assert model.used, (model.metric, model.base_metric)
    unseen = [_day(rng) for _ in range(300)]
    base = _precision_at_3(unseen, lambda day: list(range(len(day))))
    learned = _precision_at_3(unseen, lambda day: rerank_order(model, day))
    print(f"precision@3 base {base:.3f} -> feedback {learned:.3f} (held-out AUC {model.metric} vs {model.base_metric})")
    assert learned > base + 0.1


def test_a_model_no_better_than_the_base_score_is_not_used() -> None:
    """A user who simply sends the higher-scored half: the base score already ranks them perfectly."""
    rng = random.Random(3)
    examples = []
    for n in range(60):
        row = _candidate(rng)
        examples.append(Example(START + dt.timedelta(hours=n), row, int(row["score"] > 0.45)))
    model = train(examples, holdout=0.3, now=START)
    assert model is not None
    assert model.base_metric == 1.0
    assert not model.used


def test_the_split_is_by_time_not_by_position() -> None:
    """Shuffled input: the held-out part must still be the newest decisions."""
    rng = random.Random(5)
    examples = _decisions(rng, 40)
    # The newest 30% are all "sent": the held-out part then has one class and no comparison is possible,
    # whatever order the examples arrive in.
    newest = sorted(examples, key=lambda e: e.at)[28:]
    relabelled = [Example(e.at, e.features, 1) if e in newest else e for e in examples]
    rng.shuffle(relabelled)
    assert train(relabelled, holdout=0.3, now=START) is None


def test_saved_as_json_with_date_size_and_metric(tmp_path: Path) -> None:
    rng = random.Random(11)
    model = train(_decisions(rng, 60), holdout=0.3, now=START)
    assert model is not None
    path = save(model, tmp_path / "models")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["trained_at"] == START.isoformat(timespec="seconds")
    assert data["size"] == 60
    assert 0.0 <= data["metric"] <= 1.0 and 0.0 <= data["base_metric"] <= 1.0
    again = load(tmp_path / "models")
    assert again == model
    rows = _day(rng)
    assert rerank_order(again, rows) == rerank_order(model, rows)
    assert load(tmp_path / "nothing-here") is None
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"feedback\.json"):
        load(tmp_path / "models")


def test_examples_from_actions_label_sent_one_and_skip_never_zero() -> None:
    row = {"dense": 0.5, "score": 0.4, "words": 1200, "doc_kind": "pdf", "source_id": "s1", "interest_kind": "said"}
    rows = [
        {"action": "sent", "at": "2026-11-02T06:00:00+00:00", "features": json.dumps(row)},
        {"action": "skip", "at": "2026-11-03T06:00:00+00:00", "features": json.dumps(row)},
        {"action": "never", "at": "2026-11-04T06:00:00+00:00", "features": json.dumps(row)},
        {"action": "reply", "at": "2026-11-05T06:00:00+00:00", "features": None},
        {"action": "sent", "at": "2026-11-05T06:00:00+00:00", "features": None},
    ]
    examples = examples_from_actions(rows)
    assert [e.label for e in examples] == [1, 0, 0]
    assert examples[0].features["doc_kind"] == "pdf"
    assert examples[0].features["log_words"] == pytest.approx(7.09, abs=0.01)
