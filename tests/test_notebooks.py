"""The notebooks run top to bottom on a copy of the sample workspace, and are committed without outputs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest
from conftest import NOW, ROOT, SHARED, FakeEmbedder
from nbclient import NotebookClient

from pipeline import runner
from pipeline.config import load
from pipeline.embed import model_key

pytestmark = pytest.mark.slow  # runs the notebooks top to bottom: `make test-fast` leaves it out

NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT_S = 240  # one cell; the whole run is timed and printed, never asserted (see benchmarks)


@pytest.fixture(scope="module")
def sample_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample after one nightly run with the fake embedder; returns its gifts.toml."""
    target = tmp_path_factory.mktemp("notebooks") / "sample"
    shutil.copytree(ROOT / "data" / "sample", target, ignore=shutil.ignore_patterns("interim", "processed"))
    config = load(target / "gifts.toml")
    key = model_key("all-MiniLM-L6-v2", ROOT / "models")
    result = runner.run(config, now=NOW, embedder_factory=lambda: FakeEmbedder(name=key))
    assert result.status == "ok"
    return target / "gifts.toml"


def _execute(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, so figures become outputs
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        book, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    started = time.perf_counter()
    client.execute()
    print(f"{name}: {time.perf_counter() - started:.1f} s")
    return book


def _outputs(book: nbformat.NotebookNode) -> str:
    texts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            texts.append(str(output.get("text", "")))
            texts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(texts)


def test_explore_corpus_runs_on_the_sample(
    sample_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _execute("1.0-explore-corpus.ipynb", {"GIFTS_CONFIG": str(sample_workspace)}, monkeypatch)
    text = _outputs(book)
    assert "workspace sample" in text
    assert "Clinical AI Review" in text  # the sources table
    assert "pairs at cosine >=" in text
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    assert images == 3  # documents over time, length and language, the map


@pytest.mark.skipif(not (SHARED / "eval" / "scifact").is_dir(), reason="needs ../shared/eval/scifact")
def test_tune_ranking_runs_on_a_scifact_subset(
    sample_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "GIFTS_CONFIG": str(sample_workspace),
        "GIFTS_EVAL_DIR": str(SHARED / "eval" / "scifact"),
        "GIFTS_EVAL_QUERIES": "6",
        "GIFTS_EVAL_DOCS": "12",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # the evaluation's vector cache, away from $HOME
    }
    book = _execute("2.0-tune-ranking.ipynb", env, monkeypatch)
    text = _outputs(book)
    assert "6 queries over" in text
    assert "best weighted dense_weight here" in text
    assert "ndcg@10" in text
    assert (tmp_path / "cache" / "research-gifts" / "eval.sqlite").exists()
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    assert images == 2  # the fusion sweep, the freshness sweep
    assert "<mark>" in text  # the explained suggestion's passage, highlighted


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"
    assert book.metadata.get("kernelspec", {}).get("name") == "python3"
