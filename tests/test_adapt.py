"""Label-free model adaptation: pairs, a tiny real training run, checksums verified on load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from pipeline.adapt import (
    CHECKSUMS,
    adapt,
    average_weights,
    build_pairs,
    hard_negative_source,
    ict_pairs,
    mine_negatives,
    mixed_pairs,
    sentences,
    title_body_pairs,
)
from pipeline.embed import load_embedder
from pipeline.errors import InputError, ModelError
from pipeline.manifest import PROJECT_MODELS, load_manifest, locate_model

pytestmark = pytest.mark.slow  # trains the embedding model: `make test-fast` leaves it out

BODY = " ".join(f"word{i}" for i in range(30))


def test_pairs_need_a_title_and_a_body() -> None:
    pairs = title_body_pairs(["Kafka lag", "", "Short"], [BODY, BODY, "too short"], body_words=5)
    assert pairs == [("Kafka lag", "word0 word1 word2 word3 word4")]


ABSTRACT = (
    "Statins lower LDL cholesterol in adults. The effect was seen at 12 weeks, e.g. in the older group. "
    "Muscle pain was reported by 3 patients in the trial arm. [Ref] Adherence fell after one year of treatment."
)


def test_sentences_split_at_sentence_ends_but_not_inside_abbreviations() -> None:
    assert sentences(ABSTRACT) == [
        "Statins lower LDL cholesterol in adults.",
        "The effect was seen at 12 weeks, e.g. in the older group.",
        "Muscle pain was reported by 3 patients in the trial arm.",
        "[Ref] Adherence fell after one year of treatment.",
    ]


def test_ict_pairs_take_a_sentence_out_of_its_context() -> None:
    pairs = ict_pairs(["Statins", "One liner"], [ABSTRACT, "Only one sentence here, long enough."], keep_probability=0)
    assert len(pairs) == 1  # a single sentence leaves no context
    query, context = pairs[0]
    assert query in sentences(ABSTRACT)
    assert query not in context and context.startswith("Statins. ")
    assert all(s in context for s in sentences(ABSTRACT) if s != query)


def test_ict_pairs_are_drawn_afresh_per_seed_but_repeatable() -> None:
    titles, texts = ["Statins"] * 20, [ABSTRACT] * 20
    first, second = ict_pairs(titles, texts, seed=1), ict_pairs(titles, texts, seed=2)
    assert first == ict_pairs(titles, texts, seed=1)
    assert first != second and len({q for q, _ in first}) > 1
    # With keep_probability=1 the sentence stays in its context.
    assert all(q in c for q, c in ict_pairs(titles, texts, keep_probability=1.0))


def test_mixed_pairs_give_one_pair_per_document_of_both_kinds() -> None:
    titles, texts = [f"Title {i}" for i in range(40)], [ABSTRACT] * 40
    pairs = mixed_pairs(titles, texts, seed=3)
    assert len(pairs) == 40
    title_queries = sum(q.startswith("Title ") for q, _ in pairs)
    assert 0 < title_queries < 40


def test_build_pairs_refuses_an_unknown_kind() -> None:
    assert build_pairs("title", ["Statins"], [ABSTRACT]) == title_body_pairs(["Statins"], [ABSTRACT])
    with pytest.raises(InputError, match="pairs: 'cloze'"):
        build_pairs("cloze", ["Statins"], [ABSTRACT])


def test_average_weights_blends_floats_and_keeps_integer_buffers() -> None:
    base = {"w": np.array([0.0, 2.0]), "ids": np.array([1, 2])}
    tuned = {"w": np.array([4.0, 4.0]), "ids": np.array([1, 2])}
    out = average_weights(base, tuned, 0.25)
    np.testing.assert_allclose(out["w"], [1.0, 2.5])
    assert out["ids"] is tuned["ids"]
    with pytest.raises(ModelError, match="different tensors"):
        average_weights(base, {"w": tuned["w"]}, 0.5)
    with pytest.raises(InputError, match="between 0 and 1"):
        average_weights(base, tuned, 1.5)


def test_mine_negatives_skips_itself_and_the_nearest() -> None:
    angles = np.linspace(0, np.pi / 2, 6)
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    mined = mine_negatives(vectors, skip=1, take=2, block=4)
    # Row 0's neighbours by angle are 1, 2, 3...: skip 1, take 2 and 3.
    assert mined[0].tolist() == [2, 3]
    assert mined[5].tolist() == [3, 2]
    assert all(i not in row for i, row in enumerate(mined.tolist()))
    np.testing.assert_array_equal(mined, mine_negatives(vectors, skip=1, take=2, block=100))


def test_hard_negative_source_draws_triples_from_allowed_documents() -> None:
    titles, texts = [f"Doc {i}" for i in range(5)], [ABSTRACT.replace("Statins", f"Drug{i}") for i in range(5)]
    mined = np.array([[1, 2, 3, 4], [0, 2, 3, 4], [0, 1, 3, 4], [0, 1, 2, 4], [0, 1, 2, 3]])
    source = hard_negative_source(titles, texts, mined, docs=[0, 1, 2], seed=5)
    triples = source(0)
    assert len(triples) == 3 and all(len(t) == 3 for t in triples)
    for (query, positive, negative), i in zip(triples, [0, 1, 2], strict=True):
        assert positive.startswith(f"Doc {i}. ") and f"Drug{i}" in query + positive
        assert negative.startswith(("Doc 0. ", "Doc 1. ", "Doc 2. ")) and not negative.startswith(f"Doc {i}. ")
    assert source(0) == triples


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = locate_model("all-MiniLM-L6-v2", load_manifest(PROJECT_MODELS), None)
    pairs = [
        ("Consumer lag in Kafka", "Consumers fall behind producers when partitions rebalance too often."),
        ("Battery fade", "Lithium cells lose capacity with cycling and heat."),
        ("Structured interviews", "Scorecards make hiring decisions fairer."),
        ("Cloud tagging", "Tag every resource with an owner so spend can be allocated."),
    ]
    out = tmp_path_factory.mktemp("adapted") / "minilm-test"
    result = adapt(base, pairs, out, epochs=1, batch_size=4, learning_rate=1e-4, max_seq_length=32)
    assert result.steps == 1 and result.pairs == 4
    assert np.isfinite(result.final_loss)
    return out


def test_adapted_model_loads_verified_and_differs_from_the_base(adapted: Path) -> None:
    assert (adapted / CHECKSUMS).is_file()
    tuned = load_embedder("all-MiniLM-L6-v2", ROOT / "models", adapted)
    base = load_embedder("all-MiniLM-L6-v2", ROOT / "models")
    assert tuned.name != base.name and tuned.name.startswith("all-MiniLM-L6-v2+minilm-test@")
    text = ["Kafka consumer lag"]
    a, b = tuned.encode(text)[0], base.encode(text)[0]
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)
    assert float(a @ b) < 0.99999  # one step of training moved the weights


def test_tampered_adapted_model_is_refused(adapted: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(adapted, copy)
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ", encoding="utf-8")
    with pytest.raises(ModelError, match=r"config\.json"):
        load_embedder("all-MiniLM-L6-v2", ROOT / "models", copy)


def test_cli_adapt_needs_a_store(workspace: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["--config", str(workspace), "adapt"])
    assert result.exit_code == 2
    assert "no store yet" in result.stderr


def test_adapt_trains_on_triples_and_average_zero_gives_back_the_base(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    base = locate_model("all-MiniLM-L6-v2", load_manifest(PROJECT_MODELS), None)
    triples = [
        ("Consumer lag", "Consumers fall behind producers.", "Lithium cells lose capacity."),
        ("Battery fade", "Lithium cells lose capacity.", "Scorecards make hiring fairer."),
        ("Interviews", "Scorecards make hiring fairer.", "Tag every resource with an owner."),
    ]
    # One step on triples runs for real; averaging all the way back must then restore the base exactly.
    none = adapt(base, triples, tmp_path / "none", batch_size=3, learning_rate=1e-3, max_seq_length=16, average=0.0)
    assert none.steps == 1 and np.isfinite(none.final_loss) and none.final_loss > 0
    original = load_file(str(base / "model.safetensors"))
    restored = load_file(str(none.folder / "model.safetensors"))
    for name in ("encoder.layer.0.attention.self.query.weight", "embeddings.word_embeddings.weight"):
        np.testing.assert_allclose(restored[name], original[name], atol=1e-7)
