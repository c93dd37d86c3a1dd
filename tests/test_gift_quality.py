"""The gift-quality evaluation (benchmarks/gift_quality.py): its interviews, judgments, workspace and scoring.

The benchmark itself runs the whole pipeline with the real model for minutes; these tests check the
parts it stands on in seconds: the judgments cover every pooled abstract and were made for the
interviews as written, the workspace it builds from SciFact runs offline through the real fetch,
parse and extract stages, and the figures come out right on a hand-made store state.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SHARED

from pipeline import runner
from pipeline.config import load
from pipeline.interviews import read_interviews
from pipeline.store import Store

SCIFACT = SHARED / "eval" / "scifact"
EVAL = ROOT / "benchmarks" / "gift_eval"
needs_scifact = pytest.mark.skipif(not SCIFACT.is_dir(), reason="needs ../shared/eval/scifact")


def _benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("gift_quality", ROOT / "benchmarks" / "gift_quality.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gq = _benchmark()
JUDGMENTS = json.loads((EVAL / "judgments.json").read_text(encoding="utf-8"))


def test_the_interviews_are_valid_and_cover_the_cases_the_issue_asks_for() -> None:
    interviews = read_interviews(EVAL / "interviews")
    assert 5 <= len(interviews) <= 6
    assert sum(i.status == "filled" for i in interviews) == 1
    people = [c for i in interviews for c in i.contacts]
    assert all(1 <= len(c.interests) <= 3 for c in people)
    assert any(len(c.interests) == 2 for c in people)  # one person with two unrelated interests
    for interview in interviews:  # notes speak about the people, in the third person
        assert re.search(r"\b(?:she|he|her|his)\b", interview.notes, flags=re.I)


EVAL_SETS = sorted(p.parent for p in (ROOT / "benchmarks").glob("gift_eval*/judgments.json"))


@pytest.mark.parametrize("folder", EVAL_SETS, ids=lambda p: p.name)
def test_every_listed_interest_of_an_open_interview_is_judged_and_every_pooled_abstract_has_a_label(
    folder: Path,
) -> None:
    interviews = read_interviews(folder / "interviews")
    judgments = json.loads((folder / "judgments.json").read_text(encoding="utf-8"))
    listed = {
        (c.name, i.text)
        for iv in interviews
        if iv.status in ("active", "offer")
        for c in iv.contacts
        for i in c.interests
    }
    judged = {(i["person"], i["interest"]) for i in judgments["interests"]}
    assert judged == listed  # a filled interview is not judged: nothing may be suggested for it
    for interest in judgments["interests"]:
        labels = {j["doc"] for j in interest["judgments"]}
        assert set(interest["pooled"]) <= labels
        assert all(j["reason"].strip() and isinstance(j["useful"], bool) for j in interest["judgments"])
        assert any(j["useful"] for j in interest["judgments"])  # every judged interest can be served
    assert "before" in judgments["when"]


def test_scoring_counts_useful_unjudged_repeats_and_the_filled_interview() -> None:
    contacts = {
        "a": {"name": "Nina Patel", "status": "active"},
        "b": {"name": "Elena Volkova", "status": "filled"},
    }
    rows = [
        ("a", "https://abstracts-000.example/articles/7454794", 1, "statins for preventing heart attacks and strokes"),
        ("a", "https://health-wire.example/stories/7454794", 2, "statins for preventing heart attacks and strokes"),
        ("a", "https://abstracts-000.example/articles/21495419", 3, "statins for preventing heart attacks and strokes"),
        ("a", "https://abstracts-000.example/articles/1", 4, "shift work"),
        ("b", "https://abstracts-000.example/articles/2", 1, "telomere length as a biomarker of ageing"),
    ]
    state = {
        "contacts": contacts,
        "suggestions": [
            {
                "contact_id": c,
                "doc_id": u,
                "rank": r,
                "score": 0.5,
                "matched_interest": m,
                "interest_kind": "said",
                "url": u,
                "title": u,
            }
            for c, u, r, m in rows
        ],
    }
    scores = gq.score(state, JUDGMENTS, ["7454794"])
    assert scores["verdicts"] == {"useful": 2, "not useful": 1, "unjudged": 1}
    assert scores["useful"] == round(2 / 3, 3)
    assert scores["useful_counting_unjudged_as_not"] == 0.5
    assert scores["repeats"] == 1  # the syndicated copy beside its original
    assert scores["filled"] == 1
    served = {i["interest"]: i["served"] for i in scores["interests"]}
    assert served["statins for preventing heart attacks and strokes"] is True
    assert served["sleep and circadian rhythm disorders"] is False


@needs_scifact
def test_the_workspace_runs_offline_through_the_real_fetch_parse_and_extract(tmp_path: Path) -> None:
    corpus = gq.load_corpus(SCIFACT)
    by_id = {d["_id"]: d for d in corpus}
    syndicate = gq.syndicated_ids(JUDGMENTS, by_id)[:2]
    subset = corpus[:60] + [by_id[s] for s in syndicate]
    config = load(gq.build_workspace(tmp_path / "ws", subset, syndicate))
    result = runner.run(config, stages=("fetch", "parse", "extract"), now=gq.NOW)
    assert result.status == "ok"
    assert result.summary()["fetched"] == 0 < result.summary()["archive_hits"]  # offline: all from data/raw
    with Store(config.paths.store) as store:
        docs = [dict(r) for r in store.query("SELECT url, published, state FROM documents")]
    assert len(docs) == len(subset) + len(syndicate)
    assert all(d["state"] == "extracted" for d in docs)
    days = [(gq.NOW.date() - gq.dt.date.fromisoformat(d["published"][:10])).days for d in docs]
    assert all(0 <= d <= 60 for d in days)
    assert {gq.scifact_id(d["url"]) for d in docs} >= {(s, True) for s in syndicate}
    written = (config.paths.interviews / "2026-10-28-arbor-longevity.md").read_text(encoding="utf-8")
    assert "status: filled" in written
