"""The model manifest: which files make a model, where its package keeps them, and their checksums.

`models/manifest.json` lists every file of every model the project loads (the embedding model, the
language pipeline) with its SHA-256; a model is only ever loaded from a folder that matched.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.errors import ModelError

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"


def load_manifest(models_dir: Path) -> dict[str, Any]:
    """The workspace's `models/manifest.json` if it has one, else the project's."""
    for candidate in (models_dir / "manifest.json", PROJECT_MODELS / "manifest.json"):
        if candidate.is_file():
            try:
                data: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(f"{candidate}: unreadable model manifest: {exc}") from None
            return data
    raise ModelError(f"{models_dir / 'manifest.json'}: no model manifest found")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate_model(name: str, manifest: dict[str, Any], override: Path | None) -> Path:
    """The model folder: the config's `embed.model_path`, else the package named in the manifest."""
    entry = manifest.get(name)
    if entry is None:
        raise ModelError(f"embed.model: {name!r} is not in the model manifest (known: {', '.join(manifest)})")
    if override is not None:
        return override
    package = entry.get("package")
    try:
        module = __import__(package)
    except ImportError:
        raise ModelError(
            f"embed.model: package {package!r} that ships {name} is not installed (run `make install`)"
        ) from None
    return Path(str(module.__file__)).resolve().parent / str(entry.get("subdir", ""))


def verify_model(folder: Path, files: dict[str, str]) -> str:
    """Check every listed file's SHA-256; returns the weights' hash, which keys the vector cache."""
    for relative, expected in files.items():
        path = folder / relative
        if not path.is_file():
            raise ModelError(f"{path}: model file missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelError(f"{path}: SHA-256 {actual[:12]}... does not match the manifest {expected[:12]}...")
    return files_digest(files)


def files_digest(files: dict[str, str]) -> str:
    """The weights file's hash (or a hash of all hashes when there is no safetensors file)."""
    weights = [v for k, v in files.items() if k.endswith(".safetensors")]
    return weights[0] if weights else hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
