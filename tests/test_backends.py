"""The fast embedding backends: export verification, cache keys, selection, and the real model's vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from pipeline import backends
from pipeline.backends import (
    backend_key,
    batches,
    ensure_export,
    export_dir,
    load_fast_embedder,
    load_tokenizer,
    verify_export,
)
from pipeline.config import load as load_config
from pipeline.embed import load_embedder, model_key
from pipeline.errors import ConfigError, ModelError
from pipeline.manifest import PROJECT_MODELS, load_manifest, locate_model

MODEL = "all-MiniLM-L6-v2"
WEIGHTS12 = "53aa51172d14"
TEXTS = [
    "Feature-level drift monitoring caught the lab system change within a day.",
    "Data contracts small enough for producing teams to own prevent most downstream breakage.",
    "Grid-scale battery storage smooths the evening demand peak for solar-heavy utilities.",
    "A blameless post-mortem of eleven days of silently undercounted revenue.",
    "Growing junior engineers into team leads takes deliberate delegation and feedback.",
]


@pytest.fixture(scope="module")
def packaged() -> Path:
    return locate_model(MODEL, load_manifest(ROOT / "models"), None)


def _fake_export(folder: Path, body: bytes = b"onnx bytes", listed: bytes | None = None) -> Path:
    """An export folder whose checksums list `listed` (default: the real bytes)."""
    import hashlib

    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(body)
    sha = hashlib.sha256(listed if listed is not None else body).hexdigest()
    (folder / "checksums.json").write_text(json.dumps({"model.onnx": sha}), encoding="utf-8")
    return folder


def test_verify_export_accepts_the_listed_bytes_and_returns_their_hash(tmp_path: Path) -> None:
    folder = _fake_export(tmp_path / "x")
    sha = verify_export(folder, "model.onnx")
    assert backend_key(f"{MODEL}@{WEIGHTS12}", "openvino", folder) == f"{MODEL}@{WEIGHTS12}+openvino-{sha[:12]}"


def test_verify_export_refuses_a_tampered_file_naming_it(tmp_path: Path) -> None:
    folder = _fake_export(tmp_path / "x", body=b"tampered", listed=b"original")
    with pytest.raises(ModelError, match=r"model\.onnx: SHA-256 .* does not match checksums\.json"):
        verify_export(folder, "model.onnx")


def test_verify_export_refuses_a_file_the_checksums_do_not_list(tmp_path: Path) -> None:
    folder = _fake_export(tmp_path / "x")
    (folder / "model-int8.onnx").write_bytes(b"unlisted")
    with pytest.raises(ModelError, match=r"model-int8\.onnx: exported model missing or not in checksums\.json"):
        verify_export(folder, "model-int8.onnx")


def test_a_tampered_export_is_refused_before_loading_not_silently_re_exported(tmp_path: Path, packaged: Path) -> None:
    folder = _fake_export(export_dir(tmp_path, MODEL, WEIGHTS12), body=b"tampered", listed=b"original")
    with pytest.raises(ModelError, match="does not match"):
        load_fast_embedder(packaged, f"{MODEL}@{WEIGHTS12}", "openvino", tmp_path)
    assert (folder / "model.onnx").read_bytes() == b"tampered"  # left for the user to inspect


def test_unreadable_checksums_are_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "checksums.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"checksums\.json: unreadable"):
        verify_export(folder, "model.onnx")


def test_backend_key_names_the_recipe_before_the_first_export(tmp_path: Path) -> None:
    assert backend_key("m@abc", "torch", None) == "m@abc"
    assert backend_key("m@abc", "openvino-int8", tmp_path / "none") == f"m@abc+openvino-int8-{backends.RECIPE}"
    with pytest.raises(ModelError, match=r"embed\.backend: 'tpu'"):
        backend_key("m@abc", "tpu", None)


def test_model_key_differs_per_backend_so_cached_vectors_never_mix() -> None:
    keys = {b: model_key(MODEL, PROJECT_MODELS, b) for b in backends.BACKENDS}
    assert keys["torch"] == f"{MODEL}@{WEIGHTS12}"
    assert len(set(keys.values())) == len(keys)
    assert all(k.startswith(f"{MODEL}@{WEIGHTS12}+{b}-") for b, k in keys.items() if b != "torch")


def test_the_backend_is_selectable_in_the_config_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "gifts.toml"
    path.write_text('[embed]\nbackend = "openvino-int8"\n', encoding="utf-8")
    assert load_config(path).embed.backend == "openvino-int8"
    path.write_text('[embed]\nmodel = "all-MiniLM-L6-v2"\nbackend = "cuda"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gifts\.toml:3: embed\.backend: 'cuda' is not one of torch, openvino"):
        load_config(path)


def test_a_model_that_does_not_mean_pool_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}), encoding="utf-8"
    )
    with pytest.raises(ModelError, match="mean pooling only"):
        backends.export_onnx(tmp_path, tmp_path / "model.onnx")
    # sentence-transformers 6 writes one "pooling_mode" key instead of one flag per mode
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}), encoding="utf-8")
    with pytest.raises(ModelError, match="mean pooling only"):
        backends.export_onnx(tmp_path, tmp_path / "model.onnx")


def test_batches_sort_by_length_pad_only_to_the_longest_and_cover_every_row(packaged: Path) -> None:
    tokenizer = load_tokenizer(packaged)
    texts = ["short", "a much longer text " * 20, "medium length text here", "x " * 400]
    seen = []
    for rows, ids, mask in batches(tokenizer, texts, 2, pad_to=16):
        lengths = mask.sum(axis=1)
        assert ids.shape == mask.shape and ids.shape[1] % 16 == 0
        assert lengths.max() <= ids.shape[1] < lengths.max() + 16  # no more padding than the rounding
        assert (ids[mask == 0] == 0).all()
        assert ids.shape[1] <= 256  # truncated where sentence-transformers truncates
        seen.extend(rows.tolist())
    assert sorted(seen) == [0, 1, 2, 3]
    assert seen[:2] == [0, 2]  # the two short texts share a batch


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return load_embedder(MODEL, PROJECT_MODELS, backend="torch").encode(TEXTS)


@pytest.mark.parametrize("backend", ["openvino", "openvino-int8"])
def test_fast_backend_vectors_match_the_torch_path(backend: str, torch_vectors: np.ndarray) -> None:
    embedder = load_embedder(MODEL, PROJECT_MODELS, backend=backend)
    assert embedder.name == model_key(MODEL, PROJECT_MODELS, backend)
    vectors = embedder.encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    # and the ranking signal survives: each text is still nearest to its own torch vector
    assert (np.argmax(vectors @ torch_vectors.T, axis=1) == np.arange(len(TEXTS))).all()
    assert embedder.encode([]).shape[0] == 0


def test_the_existing_export_is_reused_after_verification(packaged: Path) -> None:
    folder = export_dir(PROJECT_MODELS, MODEL, WEIGHTS12)
    ensure_export(packaged, folder, "openvino")  # created above if it was missing
    before = (folder / "model.onnx").stat().st_mtime_ns
    ensure_export(packaged, folder, "openvino")
    assert (folder / "model.onnx").stat().st_mtime_ns == before


def test_the_eval_command_offers_every_backend_and_defaults_to_the_nightly_one() -> None:
    import click

    from pipeline.cli import main
    from pipeline.config import EmbedSettings

    assert isinstance(main, click.Group)
    eval_group = main.commands["eval"]
    assert isinstance(eval_group, click.Group)
    option = next(p for p in eval_group.commands["beir"].params if p.name == "backend")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == backends.BACKENDS
    assert option.default == EmbedSettings().backend
