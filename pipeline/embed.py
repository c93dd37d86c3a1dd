"""The embedding model: located in a package that ships its weights, verified, then loaded.

Nothing is downloaded: the model directory comes from an installed package (or a path in the
config) and every file is checked against the SHA-256 manifest in `models/` before use.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.config import EmbedSettings
from pipeline.errors import ModelError
from pipeline.manifest import PROJECT_MODELS, files_digest, load_manifest, locate_model, verify_model
from pipeline.offline import keep_offline

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows."""

    @property
    def name(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def offline_and_quiet() -> None:
    """Before any transformers import: never reach a model hub, never draw progress bars in logs."""
    keep_offline()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU, from a verified local folder."""

    def __init__(
        self, folder: Path, model_name: str, weights_sha: str, batch_size: int = 32, device: str = "cpu"
    ) -> None:
        offline_and_quiet()
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        self._name = f"{model_name}@{weights_sha[:12]}"
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self._name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(
    model: str,
    models_dir: Path,
    override: Path | None = None,
    batch_size: int = 32,
    backend: str | None = None,
    device: str = "cpu",
) -> Embedder:
    """Verify then load the configured model (the slow part: imports torch or OpenVINO).

    `backend` is "torch" (sentence-transformers) or one of pipeline.backends.FAST_BACKENDS, which
    export the verified weights to ONNX once (under the project's models/exports/, or beside an
    `override` folder) and run them there; None means the nightly default, `EmbedSettings.backend`.
    `device` is torch's ("cuda" on a Ray GPU worker); the fast backends run on the CPU.
    """
    backend = backend or EmbedSettings().backend
    manifest = load_manifest(models_dir)
    folder = locate_model(model, manifest, override)
    checksums = folder / "checksums.json"
    if override is not None and checksums.is_file():
        # A model adapted here (gifts adapt) carries its own checksums, written when it was saved.
        try:
            files = json.loads(checksums.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"{checksums}: unreadable: {exc}") from None
        weights_sha = verify_model(folder, files)
        model = f"{model}+{folder.name}"
    else:
        weights_sha = verify_model(folder, manifest[model]["files"])
    log.info("embedding model %s verified at %s", model, folder)
    if backend != "torch":
        from pipeline.backends import load_fast_embedder

        # An adapted model's export lives beside it, in the workspace, not in the project.
        exports = override.parent if override is not None else PROJECT_MODELS
        return load_fast_embedder(folder, f"{model}@{weights_sha[:12]}", backend, exports)
    return SentenceTransformerEmbedder(folder, model, weights_sha, batch_size=batch_size, device=device)


def model_key(model: str, models_dir: Path, backend: str | None = None) -> str:
    """The vector-cache key for a model and backend (None: the nightly default), read without loading a model."""
    backend = backend or EmbedSettings().backend
    manifest = load_manifest(models_dir)
    entry = manifest.get(model)
    if entry is None:
        raise ModelError(f"embed.model: {model!r} is not in the model manifest (known: {', '.join(manifest)})")
    key = f"{model}@{files_digest(entry['files'])[:12]}"
    if backend == "torch":
        return key
    from pipeline.backends import backend_key, export_dir

    return backend_key(key, backend, export_dir(PROJECT_MODELS, model, files_digest(entry["files"])))
