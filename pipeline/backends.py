"""Fast embedding backends: the verified model exported once to ONNX, then run by OpenVINO.

The export (and its int8 variant) is derived from the SHA-verified packaged weights, cached under
the project's `models/exports/`, and checked against its own `checksums.json` before every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import BACKENDS
from pipeline.errors import ModelError
from pipeline.manifest import PROJECT_MODELS, load_manifest, locate_model, verify_model
from pipeline.offline import keep_offline

log = logging.getLogger(__name__)

# "openvino" runs the fp32 export with bf16 arithmetic where the CPU has it (AVX-512 BF16, AMX);
# "openvino-int8" adds static int8 matrix products (VNNI) on top.
FAST_BACKENDS = {"openvino": "model.onnx", "openvino-int8": "model-int8.onnx"}

# Bumped whenever the export or quantisation recipe changes, so old exports are rebuilt.
RECIPE = "r1"
CHECKSUMS = "checksums.json"
EXPORTS = "exports"

# Texts per inference request. Small requests keep padding low and let the two streams (one per
# core) each run their own request without synchronising: measured faster than one 32-text batch
# spread over both cores.
REQUEST_TEXTS = 8
# Requests are padded to a multiple of this many tokens. OpenVINO compiles and caches kernels per
# input shape: with exact lengths, 1,500 passages grew the process to 1.3 GB and ran 60% slower
# than with lengths rounded up to 16 (flat at 450 MB); the extra padding is masked out of the mean.
PAD_TOKENS = 16


def export_dir(models_root: Path, model: str, weights_sha: str) -> Path:
    """Where the exports of one model's weights live (one folder per weights hash and recipe)."""
    return models_root / EXPORTS / f"{model}@{weights_sha[:12]}-{RECIPE}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUMS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        return {}
    except ValueError as exc:
        raise ModelError(f"{path}: unreadable: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ModelError(f"{path}: expected an object of file name -> SHA-256")
    return {str(k): str(v) for k, v in data.items()}


def verify_export(folder: Path, filename: str) -> str:
    """Check one exported file against the folder's checksums; returns its SHA-256.

    Raises:
        ModelError: naming the file when it is missing, unlisted or altered.
    """
    expected = read_checksums(folder).get(filename)
    path = folder / filename
    if expected is None or not path.is_file():
        raise ModelError(f"{path}: exported model missing or not in {CHECKSUMS}")
    actual = _sha256(path)
    if actual != expected:
        raise ModelError(
            f"{path}: SHA-256 {actual[:12]}... does not match {CHECKSUMS} {expected[:12]}... "
            f"(delete {folder} to re-export it from the verified weights)"
        )
    return actual


def backend_key(model_key: str, backend: str, folder: Path | None) -> str:
    """The vector-cache key: the model key plus the backend and its export's hash.

    Reads only `checksums.json`, so it is cheap. Before the first export there are no vectors
    under this backend anyway; the key then names the recipe, and changes once the export exists.
    """
    if backend == "torch":
        return model_key
    if backend not in FAST_BACKENDS:
        raise ModelError(f"embed.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    sha = read_checksums(folder).get(FAST_BACKENDS[backend], "") if folder is not None else ""
    return f"{model_key}+{backend}-{sha[:12] or RECIPE}"


def _pooling_is_mean(source: Path) -> None:
    """The export bakes in mean pooling and L2 normalisation; refuse a model that pools otherwise."""
    config = source / "1_Pooling" / "config.json"
    try:
        pooling = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config}: cannot read the pooling config: {exc}") from None
    # sentence-transformers 6 saves {"pooling_mode": "mean"}; older versions one flag per mode.
    modes = {k.removeprefix("pooling_mode_") for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if isinstance(pooling.get("pooling_mode"), str):
        modes.add(str(pooling["pooling_mode"]) + "_tokens")
    if modes != {"mean_tokens"}:
        raise ModelError(f"{config}: the fast backends support mean pooling only; use embed.backend = 'torch'")


def max_tokens(source: Path) -> int:
    config = source / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", 256))
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{config}: cannot read max_seq_length: {exc}") from None


def export_onnx(source: Path, target: Path) -> None:
    """Trace the transformer plus mean pooling and L2 normalisation into one ONNX graph (imports torch)."""
    keep_offline()  # a local folder only, never a hub
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    _pooling_is_mean(source)
    # Eager attention traces to plain MatMul/Softmax that every ONNX runtime optimises; the
    # fused SDPA path bakes shape checks into the trace.
    encoder = AutoModel.from_pretrained(str(source), attn_implementation="eager", local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    example = torch.ones(2, 16, dtype=torch.long)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected here
        torch.onnx.export(
            Pooled(encoder),
            (example, example),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )


def calibration_texts(limit: int = 64) -> list[str]:
    """Passages of the project's own sample articles: fixed, shipped, and never evaluation data."""
    from pipeline.passages import passages

    root = Path(__file__).resolve().parent.parent / "data" / "sample" / "articles"
    texts: list[str] = []
    for path in sorted(root.rglob("*.md")):
        body = path.read_text(encoding="utf-8").split("---", 2)[-1]
        texts.extend(passages("", body, 180, 40, 24))
    if not texts:
        raise ModelError(f"{root}: no sample articles to calibrate the int8 export with")
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def quantize_int8(fp32: Path, target: Path, tokenizer: Any) -> None:
    """Static int8 (QDQ) for the weight matrix products, calibrated on sample passages.

    The second feed-forward product (after GELU) stays in float: its inputs have outlier channels
    that one int8 scale cannot hold, and quantising it alone drops the cosine to the fp32 vectors
    from 0.995 to about 0.94. Products of two activations (attention scores) also stay in float.
    """
    keep_offline()
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    feed_forward_out = re.compile(r"layer\.\d+/output/dense/")  # not ".../attention/output/dense/"
    excluded = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and (node.input[1] not in weights or feed_forward_out.search(node.name))
    ]
    # Calibrate without rounding the padding up: pad positions would widen the activation ranges.
    # (This exact recipe, RECIPE r1, is the one evaluated on SciFact.)
    calibration = batches(tokenizer, calibration_texts(), 8, pad_to=1)
    feeds = [{"input_ids": ids, "attention_mask": mask} for _, ids, mask in calibration]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    with _quiet_root_logger():
        quantize_static(
            str(fp32),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excluded,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser warns through the root logger, which would configure logging as a side effect."""
    root = logging.getLogger()
    guard, level = logging.NullHandler(), root.level
    root.addHandler(guard)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(guard)
        root.setLevel(level)


def ensure_export(source: Path, folder: Path, backend: str) -> Path:
    """The verified export for `backend`, created from `source` first if it is missing.

    The export is written to a temporary folder beside the target and moved into place, so a
    run killed mid-export leaves no half-written model behind.
    """
    filename = FAST_BACKENDS[backend]
    if (folder / filename).is_file():
        verify_export(folder, filename)
        return folder / filename
    log.info("exporting %s for the %s backend into %s (once)", source.name, backend, folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        sums = read_checksums(folder)
        fp32 = folder / "model.onnx"
        if fp32.is_file():
            verify_export(folder, "model.onnx")  # the int8 model is built from it: it must be intact
        else:
            fp32 = staging / "model.onnx"
            export_onnx(source, fp32)
            sums["model.onnx"] = _sha256(fp32)
        if backend == "openvino-int8":
            quantize_int8(fp32, staging / filename, load_tokenizer(source))
            sums[filename] = _sha256(staging / filename)
        (staging / CHECKSUMS).write_text(json.dumps(sums, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        folder.mkdir(exist_ok=True)
        # Model files first, the checksums last: a reader never sees checksums for missing files.
        for made in sorted(staging.glob("*.onnx")):
            made.replace(folder / made.name)
        (staging / CHECKSUMS).replace(folder / CHECKSUMS)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify_export(folder, filename)
    return folder / filename


def load_tokenizer(source: Path) -> Any:
    """The model's own fast tokenizer, truncating where sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens(source))
    tokenizer.no_padding()
    return tokenizer


def batches(
    tokenizer: Any, texts: Sequence[str], size: int, pad_to: int = PAD_TOKENS
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, input_ids, attention_mask) for length-sorted groups, each padded to its longest text
    rounded up to a multiple of `pad_to`."""
    encoded = tokenizer.encode_batch(list(texts))
    order = np.argsort([len(e.ids) for e in encoded], kind="stable")
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        width = -(-max(len(encoded[r].ids) for r in rows) // pad_to) * pad_to
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            n = len(encoded[r].ids)
            ids[i, :n] = encoded[r].ids
            mask[i, :n] = 1
        yield rows, ids, mask


class OpenVINOEmbedder:
    """The exported model on OpenVINO's CPU plugin: one stream per core, small length-sorted requests."""

    def __init__(self, model_file: Path, source: Path, name: str, *, precision: str = "bf16") -> None:
        # `import openvino` itself imports its model converter (openvino.tools.ovc), which sends an
        # analytics event unless its telemetry package cannot be imported: keep_offline() sees to that.
        keep_offline()
        import openvino as ov

        self._name = name
        self._tokenizer = load_tokenizer(source)
        core = ov.Core()
        # bf16 falls back to f32 on CPUs without it; int8 nodes run in int8 either way.
        supported = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT"}
        if precision.upper() in supported:
            config["INFERENCE_PRECISION_HINT"] = precision
        self._compiled = core.compile_model(core.read_model(str(model_file)), "CPU", config)
        self._queue = ov.AsyncInferQueue(
            self._compiled, int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        )

    @property
    def name(self) -> str:
        return self._name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def done(request: Any, userdata: tuple[int, np.ndarray]) -> None:
            results[userdata[0]] = (userdata[1], request.get_output_tensor(0).data.copy())

        self._queue.set_callback(done)
        for number, (rows, ids, mask) in enumerate(batches(self._tokenizer, texts, REQUEST_TEXTS)):
            self._queue.start_async({"input_ids": ids, "attention_mask": mask}, (number, rows))
        self._queue.wait_all()
        dim = next(iter(results.values()))[1].shape[1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for rows, vectors in results.values():
            out[rows] = vectors
        # Renormalise: bf16 arithmetic leaves norms a hair off 1, and the cache promises unit rows.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def load_fast_embedder(source: Path, model_key: str, backend: str, models_root: Path) -> OpenVINOEmbedder:
    """Export if needed, verify, and load the fast backend for weights already verified at `source`.

    Args:
        source: the verified sentence-transformers folder.
        model_key: the torch path's cache key, `<model>@<weights sha12>`.
        backend: one of FAST_BACKENDS.
        models_root: the project's models folder (exports live in its `exports/`).
    """
    if backend not in FAST_BACKENDS:
        raise ModelError(f"embed.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    model, _, weights = model_key.partition("@")
    folder = export_dir(models_root, model, weights)
    model_file = ensure_export(source, folder, backend)
    return OpenVINOEmbedder(model_file, source, backend_key(model_key, backend, folder))


def export_packaged(model: str = "all-MiniLM-L6-v2", models_root: Path | None = None) -> list[Path]:
    """Verify the packaged weights and build every fast backend's export (`make install` runs this)."""

    root = models_root or PROJECT_MODELS
    manifest = load_manifest(root)
    source = locate_model(model, manifest, None)
    weights = verify_model(source, manifest[model]["files"])
    folder = export_dir(root, model, weights)
    return [ensure_export(source, folder, backend) for backend in FAST_BACKENDS]


if __name__ == "__main__":
    keep_offline()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in export_packaged():
        log.info("verified %s", path)
