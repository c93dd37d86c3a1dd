"""BEIR evaluation: metrics against hand-computed values, loading errors, and the vector cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import FakeEmbedder

from pipeline.config import RetrievalSettings
from pipeline.errors import ConfigError
from pipeline.evaluate import evaluate, load_beir, mrr_at_k, ndcg_at_k, recall_at_k
from pipeline.store import Store


def test_ndcg_matches_a_hand_computation() -> None:
    ranked = ["a", "x", "b"]
    relevant = {"a": 1, "b": 1, "c": 1}
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["x", "y"], relevant, 10) == 0.0
    assert ndcg_at_k(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], {"a": 2, "b": 1}, 1) == 0.0


def test_recall_and_mrr() -> None:
    relevant = {"a": 1, "b": 1, "n": 0}
    assert recall_at_k(["a", "x", "n"], relevant, 100) == 0.5
    assert recall_at_k(["x", "a"], relevant, 1) == 0.0
    assert mrr_at_k(["x", "y", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "n"], relevant, 10) == 0.0


def _write_beir(folder: Path) -> None:
    docs = [
        (
            "d1",
            "Kafka consumer lag",
            "Consumer lag grows when partitions rebalance and consumers fall behind producers.",
        ),
        ("d2", "Battery degradation", "Lithium cells lose capacity with every cycle and with heat in grid storage."),
        ("d3", "Hiring engineers", "Structured interviews with scorecards make hiring decisions fairer and faster."),
    ]
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, title, text in docs:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = [("q1", "why do kafka consumers lag"), ("q2", "battery capacity loss"), ("q3", "unjudged query")]
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for qid, text in queries:
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n", encoding="utf-8")


def test_load_beir_keeps_judged_queries(tmp_path: Path) -> None:
    _write_beir(tmp_path)
    data = load_beir(tmp_path)
    assert data.doc_ids == ["d1", "d2", "d3"]
    assert data.query_ids == ["q1", "q2"]
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_load_beir_errors_name_file_and_line(tmp_path: Path) -> None:
    _write_beir(tmp_path)
    with (tmp_path / "corpus.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    with pytest.raises(ConfigError, match=r"corpus\.jsonl:4: not JSON"):
        load_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"title": "no id"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"corpus\.jsonl:1: .*_id"):
        load_beir(tmp_path)
    fresh = tmp_path / "fresh"
    _write_beir(fresh)
    with pytest.raises(ConfigError, match=r"qrels/dev\.tsv: cannot read"):
        load_beir(fresh, split="dev")


def test_evaluate_ranks_and_caches(tmp_path: Path) -> None:
    folder = tmp_path / "beir"
    _write_beir(folder)
    data = load_beir(folder)
    embedder = FakeEmbedder()
    with Store(tmp_path / "cache.sqlite") as cache:
        first = evaluate(data, embedder, cache)
        calls = embedder.calls
        second = evaluate(data, embedder, cache)
        lexical = evaluate(data, embedder, cache, retrieval=RetrievalSettings(fusion="lexical"))
    assert first.ndcg_at_10 == pytest.approx(1.0)
    assert first.mrr_at_10 == pytest.approx(1.0)
    assert first.queries == 2
    assert first.embedded == 3  # one passage per short document
    assert second.embedded == 0 and embedder.calls == calls  # the cache answered everything
    assert lexical.ndcg_at_10 == pytest.approx(1.0)
    assert set(first.as_json()) >= {"ndcg@10", "recall@100", "mrr@10", "index_s", "rank_s"}


def test_cli_eval_json(tmp_path: Path) -> None:
    """`gifts eval beir --json` with the real model on a three-document corpus."""
    from click.testing import CliRunner

    from pipeline.cli import main

    folder = tmp_path / "beir"
    _write_beir(folder)
    cache = tmp_path / "cache.sqlite"
    result = CliRunner().invoke(main, ["eval", "beir", str(folder), "--json", "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["ndcg@10"] == pytest.approx(1.0)
    assert figures["embedded"] == 3
    again = CliRunner().invoke(main, ["eval", "beir", str(folder), "--json", "--cache", str(cache)])
    assert json.loads(again.stdout)["embedded"] == 0
