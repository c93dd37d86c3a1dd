"""Shared fixtures: a private copy of the sample workspace, a fake and the real embedder."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


def _find_shared() -> Path:
    """The read-only evaluation data beside the checkout (CI lays a copy of shared/ there).

    `GIFTS_SHARED` names it explicitly; a clone made from a local checkout (a throwaway CI
    rehearsal in a temp folder) finds it beside the checkout it was cloned from.
    """
    candidates = [Path(os.environ["GIFTS_SHARED"])] if os.environ.get("GIFTS_SHARED") else []
    candidates.append(ROOT.parent / "shared")
    origin = subprocess.run(
        ["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        candidates.append(Path(origin).resolve().parent / "shared")
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED = _find_shared()
NOW = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC)


class FakeEmbedder:
    """Deterministic bag-of-stems vectors: fast, and similar wording gives similar vectors."""

    def __init__(self, name: str = "fake@000000000000", dim: int = 256) -> None:
        self._name = name
        self.dim = dim
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                bucket = int(hashlib.md5(word[:5].encode()).hexdigest(), 16) % self.dim  # noqa: S324 -- not security
                out[row, bucket] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


UNCALIBRATED = {"score_floor": 0.0, "relative_floor": 0.0}


def uncalibrated(config: Path) -> Path:
    """Set a workspace's no-filler floors for listed interests to 0 for the FakeEmbedder; returns the file.

    The floors were measured on the real model's scores (benchmarks/calibrate_rank.py); the fake
    vectors score on another scale, as the tests that lower `min_score` for them know. An inferred
    interest keeps its own, higher bar.
    """
    text = config.read_text(encoding="utf-8")
    for key, value in UNCALIBRATED.items():
        text, found = re.subn(rf"^{key} = [^#\n]*", f"{key} = {value} ", text, flags=re.M)
        if not found:
            text = re.sub(r"^\[rank\]\n", f"[rank]\n{key} = {value}\n", text, count=1, flags=re.M)
            if f"{key} =" not in text:
                text += f"\n[rank]\n{key} = {value}\n"
    config.write_text(text, encoding="utf-8")
    return config


def nightly_fake() -> FakeEmbedder:
    """A FakeEmbedder keyed like the nightly model, so the runner accepts its vectors."""
    from pipeline.embed import model_key

    return FakeEmbedder(name=model_key("all-MiniLM-L6-v2", ROOT / "models"))


def write_acme_interview(folder: Path) -> None:
    """One active interview with one interviewer who cares about Kafka consumer lag."""
    (folder / "interviews").mkdir()
    (folder / "interviews" / "acme.md").write_text(
        "---\ncompany: Acme\ndate: 2026-11-20\nstatus: active\ninterviewers:\n"
        "  - name: Ada Byte\n    interests:\n      - Kafka consumer lag and stream processing\n---\n"
        "Ada worries about consumer lag.\n",
        encoding="utf-8",
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the sample workspace without any derived state; returns its gifts.toml."""
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("interim", "processed"))
    return target / "gifts.toml"


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The packaged all-MiniLM-L6-v2, verified against the manifest (loaded once per session)."""
    from pipeline.embed import load_embedder

    return load_embedder("all-MiniLM-L6-v2", ROOT / "models")


CHROMIUM = os.environ.get("GIFTS_CHROMIUM", "/usr/bin/chromium")


def playwright_or_skip() -> Any:
    """Playwright's sync API for driving Debian's Chromium; call at a browser test module's top.

    Skips the module when either is missing, except under GIFTS_REQUIRE_BROWSER (`make test`),
    where a missing browser fails instead of silently skipping.
    """
    required = bool(os.environ.get("GIFTS_REQUIRE_BROWSER"))
    if required:
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if required:
            raise RuntimeError(f"{CHROMIUM} not found: `apt-get install -y chromium` (make test does)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)", allow_module_level=True)
    return sync_api
