"""Label-free model adaptation: pairs, a tiny real training run, checksums verified on load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from pipeline.adapt import CHECKSUMS, adapt, title_body_pairs
from pipeline.embed import PROJECT_MODELS, load_embedder, load_manifest, locate_model
from pipeline.errors import ModelError

BODY = " ".join(f"word{i}" for i in range(30))


def test_pairs_need_a_title_and_a_body() -> None:
    pairs = title_body_pairs(["Kafka lag", "", "Short"], [BODY, BODY, "too short"], body_words=5)
    assert pairs == [("Kafka lag", "word0 word1 word2 word3 word4")]


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
